//! What a viewer keeps beside the [`TownSnapshot`]: plans, recent memories, reflections with
//! their evidence, the conversation feed, who talked with whom and who learned what. The TUI and
//! the web viewer fold the same records through [`Extra::fold`], so the two cannot disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{EventRecord, Learned, PlanItem, PlanLevel, RunMetrics, SimTime, TownEvent};
use crate::memory::{MemoryId, MemoryKind};

/// How many talk lines and events are kept for the panes.
pub const KEEP: usize = 300;
/// How many memories per agent are kept.
pub const KEEP_MEMORIES: usize = 20;
/// How many reflections per agent are kept.
pub const KEEP_REFLECTIONS: usize = 10;

/// A memory as a detail pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryLine {
    pub time: SimTime,
    pub kind: MemoryKind,
    pub importance: u8,
    pub text: String,
    #[serde(default)]
    pub id: MemoryId,
}

/// One reflection: the insights and the memories they were drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReflectionLine {
    pub time: SimTime,
    pub insights: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<MemoryId>,
}

/// One line of conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TalkLine {
    pub time: SimTime,
    pub conversation: u64,
    pub speaker: String,
    pub listener: String,
    pub text: String,
}

/// What a viewer keeps beside the core snapshot, folded from the same records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Extra {
    /// The broad strokes of each agent's day.
    pub day_plan: BTreeMap<String, Vec<PlanItem>>,
    /// The actions of each agent's current hour.
    pub now_plan: BTreeMap<String, Vec<PlanItem>>,
    /// The newest memories of each agent ([`KEEP_MEMORIES`]).
    pub memories: BTreeMap<String, Vec<MemoryLine>>,
    /// The newest reflections of each agent ([`KEEP_REFLECTIONS`]), oldest first.
    pub reflections: BTreeMap<String, Vec<ReflectionLine>>,
    pub talk: Vec<TalkLine>,
    pub events: Vec<(SimTime, String)>,
    /// Scenario topics in the order they were first learned.
    pub topics: Vec<String>,
    /// Per topic, who learned it, when and from whom, in order.
    pub learned: BTreeMap<String, Vec<Learned>>,
    /// Conversations held: agent → other agent → how many (both directions are recorded).
    pub talked: BTreeMap<String, BTreeMap<String, u32>>,
    pub metrics: Option<RunMetrics>,
}

fn keep_last<T>(v: &mut Vec<T>, n: usize) {
    if v.len() > n {
        v.drain(..v.len() - n);
    }
}

/// `prefix` and the value, or nothing when there is none (" at the cafe", "").
fn phrase(prefix: &str, value: &Option<String>) -> String {
    value
        .as_deref()
        .map(|v| format!("{prefix}{v}"))
        .unwrap_or_default()
}

impl Extra {
    /// The latest reflection of `agent`.
    pub fn reflection(&self, agent: &str) -> Option<&ReflectionLine> {
        self.reflections.get(agent).and_then(|r| r.last())
    }

    /// Folds one record in.
    pub fn fold(&mut self, rec: &EventRecord) {
        let t = rec.time;
        let mut event = |s: String| self.events.push((t, s));
        match &rec.event {
            TownEvent::RunStarted {
                world, scenario, ..
            } => {
                *self = Extra::default();
                let s = scenario
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                self.events.push((t, format!("run started: {world}{s}")));
            }
            TownEvent::PlanSet {
                agent,
                level,
                items,
            } => match level {
                PlanLevel::Day => {
                    self.day_plan.insert(agent.clone(), items.clone());
                }
                PlanLevel::Current => {
                    self.now_plan.insert(agent.clone(), items.clone());
                }
                PlanLevel::Hourly => {}
            },
            TownEvent::MemoryWritten {
                agent,
                kind,
                text,
                importance,
                id,
            } => {
                let list = self.memories.entry(agent.clone()).or_default();
                list.push(MemoryLine {
                    time: t,
                    kind: *kind,
                    importance: *importance,
                    text: text.clone(),
                    id: *id,
                });
                keep_last(list, KEEP_MEMORIES);
            }
            TownEvent::Reflection {
                agent,
                insights,
                evidence,
            } => {
                event(format!(
                    "{agent} reflected: {}",
                    insights.first().map(String::as_str).unwrap_or("")
                ));
                let list = self.reflections.entry(agent.clone()).or_default();
                list.push(ReflectionLine {
                    time: t,
                    insights: insights.clone(),
                    evidence: evidence.clone(),
                });
                keep_last(list, KEEP_REFLECTIONS);
            }
            TownEvent::ConversationStarted {
                agents,
                place,
                topic,
                ..
            } => {
                let about = phrase(" about ", topic);
                event(format!("{} talk at {place}{about}", agents.join(" & ")));
                for a in agents {
                    for b in agents.iter().filter(|b| *b != a) {
                        *self
                            .talked
                            .entry(a.clone())
                            .or_default()
                            .entry(b.clone())
                            .or_default() += 1;
                    }
                }
            }
            TownEvent::Utterance {
                conversation,
                speaker,
                listener,
                text,
            } => self.talk.push(TalkLine {
                time: t,
                conversation: *conversation,
                speaker: speaker.clone(),
                listener: listener.clone(),
                text: text.clone(),
            }),
            TownEvent::ConversationEnded { id, turns, reason } => event(format!(
                "conversation {id} ended after {turns} turns ({reason})"
            )),
            TownEvent::EventInjected {
                description, place, ..
            } => {
                let at = phrase(" at ", place);
                event(format!("event: {description}{at}"));
            }
            TownEvent::TopicLearned {
                agent, topic, from, ..
            } => {
                let by = phrase(" from ", from);
                event(format!("{agent} learned {topic}{by}"));
                if !self.topics.contains(topic) {
                    self.topics.push(topic.clone());
                }
                let who = self.learned.entry(topic.clone()).or_default();
                if !who.iter().any(|l| &l.agent == agent) {
                    who.push(Learned {
                        agent: agent.clone(),
                        time: t,
                        from: from.clone(),
                    });
                }
            }
            TownEvent::ObjectState { object, state } => event(format!("{object} is {state}")),
            TownEvent::CheckResult { name, passed, .. } => event(format!(
                "check {name}: {}",
                if *passed { "passed" } else { "failed" }
            )),
            TownEvent::Metrics { metrics } => {
                event(format!(
                    "run ended: {} steps, {} conversations, {} model calls",
                    metrics.steps, metrics.conversations, metrics.model_calls
                ));
                self.metrics = Some(metrics.clone());
            }
            TownEvent::Tick
            | TownEvent::AgentMoved { .. }
            | TownEvent::ActionStarted { .. }
            | TownEvent::ModelBatch { .. } => {}
        }
        keep_last(&mut self.talk, KEEP);
        keep_last(&mut self.events, KEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u64, event: TownEvent) -> EventRecord {
        EventRecord {
            step,
            time: SimTime(step * 10),
            event,
        }
    }

    #[test]
    fn conversations_relate_both_agents_and_learning_counts_once() {
        let mut x = Extra::default();
        x.fold(&rec(
            1,
            TownEvent::ConversationStarted {
                id: 1,
                agents: vec!["Ada".into(), "Bo".into()],
                place: "Cafe:hall".into(),
                topic: None,
            },
        ));
        for step in [2, 3] {
            x.fold(&rec(
                step,
                TownEvent::TopicLearned {
                    agent: "Bo".into(),
                    topic: "party".into(),
                    from: Some("Ada".into()),
                    conversation: Some(1),
                },
            ));
        }
        x.fold(&rec(
            4,
            TownEvent::Reflection {
                agent: "Bo".into(),
                insights: vec!["Ada plans a party".into()],
                evidence: vec![7],
            },
        ));
        assert_eq!(x.talked["Ada"]["Bo"], 1);
        assert_eq!(x.talked["Bo"]["Ada"], 1);
        assert_eq!(x.learned["party"].len(), 1);
        assert_eq!(x.learned["party"][0].time, SimTime(20));
        assert_eq!(
            x.reflection("Bo").map(|r| r.evidence.clone()),
            Some(vec![7])
        );
        let json = serde_json::to_string(&x).expect("serialize");
        let back: Extra = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, x);
    }
}
