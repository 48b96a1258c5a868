//! The town simulation's event log and the plain state a viewer draws.
//!
//! `hamlet-town` appends one [`EventRecord`] per line to `RUN_DIR/events.jsonl` as a run goes;
//! `hamlet sim --replay` and the TUI read the same lines back. A viewer that depends only on this
//! crate rebuilds what it draws by folding records into a [`TownSnapshot`] with
//! [`TownSnapshot::apply`]: the first record is always [`TownEvent::RunStarted`] (the map, the
//! places and the agents), then every change is an event. [`Extra::fold`] keeps what a viewer
//! shows beside it (plans, memories, reflections, talk, diffusion, relationships).
//!
//! Compatibility: fields are only ever added, with `#[serde(default)]`, so old logs keep reading.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::memory::{MemoryId, MemoryKind};
use crate::TokenUsage;

mod extra;
pub use extra::{Extra, MemoryLine, ReflectionLine, TalkLine};

/// File name of the event log inside a run directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// Simulated time: seconds since day 1, 00:00.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const MINUTE: u64 = 60;
    pub const HOUR: u64 = 3_600;
    pub const DAY: u64 = 86_400;

    /// Day `day` (1-based) at `hour:minute`.
    pub fn at(day: u32, hour: u32, minute: u32) -> Self {
        SimTime(
            u64::from(day.saturating_sub(1)) * Self::DAY
                + u64::from(hour) * Self::HOUR
                + u64::from(minute) * Self::MINUTE,
        )
    }
    /// The day number, from 1.
    pub fn day(self) -> u32 {
        (self.0 / Self::DAY) as u32 + 1
    }
    pub fn hour(self) -> u32 {
        ((self.0 % Self::DAY) / Self::HOUR) as u32
    }
    pub fn minute(self) -> u32 {
        ((self.0 % Self::HOUR) / Self::MINUTE) as u32
    }
    /// Seconds since midnight of the current day.
    pub fn of_day(self) -> u64 {
        self.0 % Self::DAY
    }
    /// Milliseconds, the unit memories are stamped in.
    pub fn as_ms(self) -> crate::memory::TimeMs {
        (self.0 as i64).saturating_mul(1000)
    }
    /// "HH:MM" of the day.
    pub fn clock(self) -> String {
        format!("{:02}:{:02}", self.hour(), self.minute())
    }

    /// Parses `"day 2 20:00"`, `"2 20:00"` or `"20:00"` (day 1). The error says what was expected.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("malformed time {s:?}: expected \"HH:MM\" or \"day N HH:MM\" (e.g. \"day 2 20:00\")")
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        let (day, clock) = match words.as_slice() {
            [clock] => (1, *clock),
            [d, clock] => (d.parse::<u32>().map_err(|_| bad())?, *clock),
            [word, d, clock] if word.eq_ignore_ascii_case("day") => {
                (d.parse::<u32>().map_err(|_| bad())?, *clock)
            }
            _ => return Err(bad()),
        };
        let minutes = parse_clock(clock).ok_or_else(bad)?;
        if day == 0 {
            return Err(format!("malformed time {s:?}: days count from 1"));
        }
        Ok(SimTime::at(day, minutes / 60, minutes % 60))
    }
}

/// Parses `"HH:MM"` (00:00..=23:59) into minutes since midnight.
pub fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "day {} {:02}:{:02}",
            self.day(),
            self.hour(),
            self.minute()
        )
    }
}

/// A tile of the map: `x` is the column, `y` the row (0,0 top-left).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Tile {
    pub x: u16,
    pub y: u16,
}

impl Tile {
    pub fn new(x: u16, y: u16) -> Self {
        Tile { x, y }
    }
    /// Chebyshev distance (king moves), the vision metric.
    pub fn dist(self, o: Tile) -> u16 {
        self.x.abs_diff(o.x).max(self.y.abs_diff(o.y))
    }
}

/// What a place is in the tree town › sector › arena › object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    Sector,
    Arena,
    Object,
}

/// A place as a viewer needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceInfo {
    /// "Sector:arena" or "Sector:arena:object".
    pub path: String,
    pub kind: PlaceKind,
    /// An object's tile, or an arena's centre tile.
    #[serde(default)]
    pub tile: Option<Tile>,
    /// An object's state at the start ("idle").
    #[serde(default)]
    pub state: Option<String>,
}

/// An agent as a viewer needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub name: String,
    /// Two letters to draw on the map.
    pub initials: String,
    #[serde(default)]
    pub age: u32,
    #[serde(default)]
    pub occupation: String,
    /// Home arena path.
    #[serde(default)]
    pub home: String,
    pub tile: Tile,
}

/// Which level of the plan a [`TownEvent::PlanSet`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanLevel {
    /// The broad strokes of the day, made at wake-up.
    Day,
    /// The hour-by-hour schedule.
    Hourly,
    /// The 5–15 minute actions of the current hour.
    Current,
}

/// One plan entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItem {
    pub start: SimTime,
    #[serde(default)]
    pub minutes: u32,
    /// Arena path, when the item says where.
    #[serde(default)]
    pub place: Option<String>,
    pub description: String,
}

/// One line of the event log: when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Step number (0 before the first step).
    pub step: u64,
    pub time: SimTime,
    #[serde(flatten)]
    pub event: TownEvent,
}

/// Everything that happens in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TownEvent {
    /// Always first: the world as it starts.
    RunStarted {
        world: String,
        #[serde(default)]
        scenario: Option<String>,
        seed: u64,
        step_secs: u32,
        start: SimTime,
        until: SimTime,
        /// The ASCII map, one string per row.
        map: Vec<String>,
        /// Map character → arena path.
        #[serde(default)]
        legend: BTreeMap<String, String>,
        places: Vec<PlaceInfo>,
        agents: Vec<AgentInfo>,
    },
    /// The clock advanced by one step.
    Tick,
    AgentMoved {
        agent: String,
        from: Tile,
        to: Tile,
    },
    ActionStarted {
        agent: String,
        description: String,
        /// Arena (or object) path where it happens.
        place: String,
        #[serde(default)]
        emoji: Option<String>,
        #[serde(default)]
        minutes: u32,
    },
    PlanSet {
        agent: String,
        level: PlanLevel,
        items: Vec<PlanItem>,
    },
    ConversationStarted {
        id: u64,
        agents: Vec<String>,
        place: String,
        #[serde(default)]
        topic: Option<String>,
    },
    Utterance {
        conversation: u64,
        speaker: String,
        listener: String,
        text: String,
    },
    ConversationEnded {
        id: u64,
        turns: u32,
        reason: String,
    },
    MemoryWritten {
        agent: String,
        kind: MemoryKind,
        text: String,
        importance: u8,
        id: MemoryId,
    },
    Reflection {
        agent: String,
        insights: Vec<String>,
        #[serde(default)]
        evidence: Vec<MemoryId>,
    },
    /// A scenario event: someone was told something, or something happened at a place.
    EventInjected {
        description: String,
        #[serde(default)]
        place: Option<String>,
        #[serde(default)]
        agents: Vec<String>,
    },
    /// An agent came to know a scenario topic (diffusion).
    TopicLearned {
        agent: String,
        topic: String,
        /// Who told them (`None`: seeded by the scenario).
        #[serde(default)]
        from: Option<String>,
        #[serde(default)]
        conversation: Option<u64>,
    },
    ObjectState {
        object: String,
        state: String,
    },
    /// The model requests of one step (sent as one batch).
    ModelBatch {
        requests: u32,
        #[serde(flatten)]
        usage: TokenUsage,
        #[serde(default)]
        failed: u32,
    },
    CheckResult {
        name: String,
        passed: bool,
        detail: String,
    },
    /// Written once at the end of a run.
    Metrics {
        metrics: RunMetrics,
    },
}

/// Figures of a whole run (also written as `metrics.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunMetrics {
    pub agents: u32,
    pub steps: u64,
    pub simulated_hours: f64,
    pub model_calls: u64,
    pub failed_calls: u64,
    pub calls_per_agent_step: f64,
    #[serde(flatten)]
    pub tokens: TokenUsage,
    pub tokens_per_sim_hour: f64,
    pub wall_secs: f64,
    pub wall_secs_per_sim_hour: f64,
    /// Of `wall_secs`, the time inside the model backend (`generate_batch`).
    pub model_secs: f64,
    /// Of `wall_secs`, the time inside the memory stream (writes, embeddings, recalls).
    pub memory_secs: f64,
    pub conversations: u64,
    pub utterances: u64,
    pub memories: u64,
    pub reflections: u64,
    /// Pairs of agents related (persona relationships, or having talked) / all pairs.
    pub density_before: f64,
    pub density_after: f64,
    /// Per topic, who learned it, when and from whom, in order.
    pub diffusion: BTreeMap<String, Vec<Learned>>,
    /// Per scenario event with a place and a window: who was there.
    pub attendance: BTreeMap<String, Vec<String>>,
}

/// One agent learning a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub agent: String,
    pub time: SimTime,
    #[serde(default)]
    pub from: Option<String>,
}

/// One agent in a [`TownSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentView {
    pub initials: String,
    pub occupation: String,
    pub tile: Tile,
    pub action: String,
    pub place: String,
    pub emoji: Option<String>,
    pub conversation: Option<u64>,
    pub last_utterance: Option<String>,
    pub plan: Vec<PlanItem>,
    /// Topics this agent knows.
    pub knows: Vec<String>,
}

/// Everything a viewer draws at one moment, rebuilt from the event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TownSnapshot {
    pub world: String,
    pub scenario: Option<String>,
    pub step: u64,
    pub time: SimTime,
    pub until: SimTime,
    pub map: Vec<String>,
    pub legend: BTreeMap<String, String>,
    pub places: Vec<PlaceInfo>,
    pub agents: BTreeMap<String, AgentView>,
    pub objects: BTreeMap<String, String>,
    /// Open conversations: id → the agents in it.
    pub conversations: BTreeMap<u64, Vec<String>>,
    pub model_calls: u64,
    pub checks: Vec<(String, bool, String)>,
}

impl TownSnapshot {
    /// Folds one record into the snapshot.
    pub fn apply(&mut self, rec: &EventRecord) {
        self.step = rec.step;
        self.time = rec.time;
        match &rec.event {
            TownEvent::RunStarted {
                world,
                scenario,
                until,
                map,
                legend,
                places,
                agents,
                ..
            } => {
                *self = TownSnapshot {
                    world: world.clone(),
                    scenario: scenario.clone(),
                    step: rec.step,
                    time: rec.time,
                    until: *until,
                    map: map.clone(),
                    legend: legend.clone(),
                    places: places.clone(),
                    objects: places
                        .iter()
                        .filter_map(|p| Some((p.path.clone(), p.state.clone()?)))
                        .collect(),
                    agents: agents
                        .iter()
                        .map(|a| {
                            (
                                a.name.clone(),
                                AgentView {
                                    initials: a.initials.clone(),
                                    occupation: a.occupation.clone(),
                                    tile: a.tile,
                                    place: a.home.clone(),
                                    ..AgentView::default()
                                },
                            )
                        })
                        .collect(),
                    ..TownSnapshot::default()
                };
            }
            TownEvent::Tick => {}
            TownEvent::AgentMoved { agent, to, .. } => {
                if let Some(a) = self.agents.get_mut(agent) {
                    a.tile = *to;
                }
            }
            TownEvent::ActionStarted {
                agent,
                description,
                place,
                emoji,
                ..
            } => {
                if let Some(a) = self.agents.get_mut(agent) {
                    a.action = description.clone();
                    a.place = place.clone();
                    a.emoji = emoji.clone();
                }
            }
            TownEvent::PlanSet {
                agent,
                level,
                items,
            } => {
                if let (Some(a), PlanLevel::Hourly) = (self.agents.get_mut(agent), level) {
                    a.plan = items.clone();
                }
            }
            TownEvent::ConversationStarted { id, agents, .. } => {
                for name in agents {
                    if let Some(a) = self.agents.get_mut(name) {
                        a.conversation = Some(*id);
                        a.last_utterance = None;
                    }
                }
                self.conversations.insert(*id, agents.clone());
            }
            TownEvent::Utterance { speaker, text, .. } => {
                if let Some(a) = self.agents.get_mut(speaker) {
                    a.last_utterance = Some(text.clone());
                }
            }
            TownEvent::ConversationEnded { id, .. } => {
                for name in self.conversations.remove(id).unwrap_or_default() {
                    if let Some(a) = self.agents.get_mut(&name) {
                        a.conversation = None;
                    }
                }
            }
            TownEvent::TopicLearned { agent, topic, .. } => {
                if let Some(a) = self.agents.get_mut(agent) {
                    if !a.knows.contains(topic) {
                        a.knows.push(topic.clone());
                    }
                }
            }
            TownEvent::ObjectState { object, state } => {
                self.objects.insert(object.clone(), state.clone());
            }
            TownEvent::ModelBatch { requests, .. } => self.model_calls += u64::from(*requests),
            TownEvent::CheckResult {
                name,
                passed,
                detail,
            } => self.checks.push((name.clone(), *passed, detail.clone())),
            TownEvent::MemoryWritten { .. }
            | TownEvent::Reflection { .. }
            | TownEvent::EventInjected { .. }
            | TownEvent::Metrics { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_print() {
        assert_eq!(SimTime::parse("day 2 20:00"), Ok(SimTime::at(2, 20, 0)));
        assert_eq!(SimTime::parse("07:05"), Ok(SimTime::at(1, 7, 5)));
        assert_eq!(SimTime::at(2, 20, 0).to_string(), "day 2 20:00");
        for bad in ["25:00", "day x 10:00", "7", "day 0 10:00", "10:5"] {
            assert!(SimTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_round_trip_and_fold() {
        let recs = vec![
            crate::testing::town_started(SimTime::at(1, 7, 0), SimTime::at(1, 8, 0), 2),
            EventRecord {
                step: 1,
                time: SimTime::at(1, 7, 0),
                event: TownEvent::AgentMoved {
                    agent: "Ada".into(),
                    from: Tile::new(0, 0),
                    to: Tile::new(1, 0),
                },
            },
        ];
        let mut snap = TownSnapshot::default();
        for r in &recs {
            let line = serde_json::to_string(r).expect("serialize");
            let back: EventRecord = serde_json::from_str(&line).expect("parse");
            assert_eq!(&back, r);
            snap.apply(&back);
        }
        assert_eq!(snap.agents["Ada"].tile, Tile::new(1, 0));
    }
}
