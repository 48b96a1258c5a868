//! Phases 3 and 4 of a step: the decision each agent's need puts to the model (a typed
//! [`Ask`], rendered into a prompt with its reply's JSON Schema and the agent's cache key), and
//! how its typed [`Reply`] is applied to the world (a failed reply falls back to the routine).

use super::*;
use crate::decision::{
    Ask, Converse, Decompose, Evidence, Line, Notice, NoticeReply, PlanDay, Posed, React,
    ReactReply, Reflect, Reply, RoutineLine, Scene,
};

impl Town {
    pub(super) fn place_enum(&self) -> Vec<String> {
        self.world.arenas.keys().cloned().collect()
    }

    /// The decision `need` puts to the model for agent `i`, with the memories its prompt shows.
    pub(super) fn pose(
        &self,
        st: &WorldState,
        mem: &dyn MemoryStream,
        i: usize,
        need: &Need,
    ) -> Result<Posed> {
        let p = &self.personas[i];
        let time = st.time.to_string();
        let here = self
            .world
            .arena_at(st.agents[i].tile)
            .unwrap_or("the street")
            .to_string();
        let doing = |k: usize| {
            st.agents[k]
                .action
                .as_ref()
                .map(|a| a.description.clone())
                .unwrap_or_else(|| "idle".into())
        };
        let ask = match need {
            Need::PlanDay => {
                // Retrieved for the day ahead, plus what is on the agent's mind (an invitation
                // heard yesterday is among its most important memories).
                let mut memories = recall(
                    st,
                    mem,
                    i,
                    &format!("what I plan to do today as {}", p.occupation),
                    4,
                )?;
                for m in st.agents[i].salient.iter().take(3) {
                    if !memories.contains(&m.text) {
                        memories.push(m.text.clone());
                    }
                }
                let mut hours: Vec<String> = (p.wake / 60 + 1..=p.sleep.saturating_sub(1) / 60)
                    .map(|h| format!("{h:02}:00"))
                    .collect();
                if hours.is_empty() {
                    hours.push("12:00".to_string());
                }
                let routine = p
                    .routine
                    .iter()
                    .map(|b| RoutineLine {
                        at: hhmm(b.start),
                        place: b.place.clone(),
                        activity: b.activity.clone(),
                    })
                    .collect();
                Ask::PlanDay(PlanDay {
                    time,
                    routine,
                    memories,
                    places: self.place_enum(),
                    hours,
                })
            }
            Need::Decompose(block, end) => Ask::Decompose(Decompose {
                scene: Scene {
                    memories: recall(st, mem, i, &block.activity, 3)?,
                    time,
                    here,
                },
                block_start: hhmm(block.start),
                block_end: hhmm(*end),
                activity: block.activity.clone(),
                place: block.place.clone(),
            }),
            Need::React(other) => {
                let other_action = doing(st.agent_index(other).unwrap_or(i));
                Ask::React(React {
                    scene: Scene {
                        memories: recall(st, mem, i, &format!("{other} {other_action}"), 3)?,
                        time,
                        here,
                    },
                    action: doing(i),
                    other: other.clone(),
                    other_action,
                })
            }
            Need::Notice(what) => Ask::Notice(Notice {
                scene: Scene {
                    memories: recall(st, mem, i, what, 3)?,
                    time,
                    here,
                },
                action: doing(i),
                noticed: what.clone(),
            }),
            Need::Converse(id) => {
                let conv = st.conversations.get(id);
                Ask::Converse(Converse {
                    scene: Scene {
                        time,
                        here,
                        memories: conv
                            .and_then(|c| c.recalled.get(&st.agents[i].name))
                            .cloned()
                            .unwrap_or_default(),
                    },
                    other: conv
                        .map(|c| c.agents[1 - c.next].clone())
                        .unwrap_or_default(),
                    lines: conv
                        .map(|c| {
                            c.lines
                                .iter()
                                .map(|(s, t)| Line {
                                    speaker: s.clone(),
                                    text: t.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            }
            Need::Reflect(ids) => Ask::Reflect(Reflect {
                time,
                memories: st.agents[i]
                    .recent
                    .iter()
                    .filter(|m| ids.contains(&m.id))
                    .map(|m| Evidence {
                        id: m.id,
                        text: m.text.clone(),
                    })
                    .collect(),
            }),
        };
        let user = ask.render(&self.prompts)?;
        let request = GenerateRequest::chat(vec![
            Message::system(self.systems[i].clone()),
            Message::user(user),
        ])
        .with_schema(ask.schema())
        .with_max_tokens(ask.max_tokens())
        .with_sampling(self.config.sampling.clone())
        .with_cache_key(format!("town:{}", p.name));
        Ok(Posed { ask, request })
    }

    pub(super) fn apply(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        need: Need,
        reply: Option<Reply>,
    ) {
        let p = &self.personas[i];
        let day = st.time.day();
        match need {
            Need::PlanDay => {
                let mut schedule = p.routine.clone();
                let mut items = Vec::new();
                let plan = match reply {
                    Some(Reply::PlanDay(r)) => r.plan,
                    _ => Vec::new(),
                };
                for it in &plan {
                    let (Some(t), Some(place)) = (
                        hamlet_core::town::parse_clock(&it.time),
                        self.world.resolve_place(&it.place),
                    ) else {
                        continue;
                    };
                    let act = it.activity.as_str();
                    if act.chars().filter(|c| c.is_alphabetic()).count() < 3 {
                        continue;
                    }
                    schedule.retain(|b| b.start != t);
                    schedule.push(Block {
                        start: t,
                        place: place.clone(),
                        activity: act.to_string(),
                    });
                    items.push(PlanItem {
                        start: SimTime(st.time.0 - st.time.of_day() + u64::from(t) * 60),
                        minutes: 60,
                        place: Some(place),
                        description: act.to_string(),
                    });
                }
                schedule.sort_by_key(|b| b.start);
                let a = &mut st.agents[i];
                a.planned_day = day;
                a.schedule = schedule.clone();
                a.block = None;
                let name = a.name.clone();
                let summary = if items.is_empty() {
                    "an ordinary day, following my routine".to_string()
                } else {
                    items
                        .iter()
                        .map(|it| {
                            format!(
                                "{} {}",
                                hhmm((it.start.of_day() / 60) as u32),
                                it.description
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                self.remember(
                    st,
                    i,
                    MemoryKind::Plan,
                    format!("My plan for {}: {summary}", st.time),
                    3,
                    vec![],
                );
                let day0 = st.time.0 - st.time.of_day();
                ev.push(self.rec(
                    st,
                    TownEvent::PlanSet {
                        agent: name.clone(),
                        level: PlanLevel::Day,
                        items,
                    },
                ));
                let hourly = schedule
                    .iter()
                    .map(|b| PlanItem {
                        start: SimTime(day0 + u64::from(b.start) * 60),
                        minutes: 0,
                        place: Some(b.place.clone()),
                        description: b.activity.clone(),
                    })
                    .collect();
                ev.push(self.rec(
                    st,
                    TownEvent::PlanSet {
                        agent: name,
                        level: PlanLevel::Hourly,
                        items: hourly,
                    },
                ));
            }
            Need::Decompose(block, end) => {
                let steps = match reply {
                    Some(Reply::Decompose(r)) => r.steps,
                    _ => Vec::new(),
                };
                let mut queue: VecDeque<(u32, String)> = steps
                    .into_iter()
                    .map(|s| (s.minutes.clamp(5, 15), s.action.trim().to_string()))
                    // A step the model filled with digits or punctuation says nothing: drop it.
                    .filter(|(_, a)| a.chars().filter(|c| c.is_alphabetic()).count() >= 3)
                    .collect();
                if queue.is_empty() {
                    queue.push_back((
                        end.saturating_sub(self.minute(st)).max(5),
                        block.activity.clone(),
                    ));
                }
                let mut t = st.time;
                let items = queue
                    .iter()
                    .map(|(m, d)| {
                        let it = PlanItem {
                            start: t,
                            minutes: *m,
                            place: Some(block.place.clone()),
                            description: d.clone(),
                        };
                        t = SimTime(t.0 + u64::from(*m) * 60);
                        it
                    })
                    .collect();
                let a = &mut st.agents[i];
                a.block = Some((day, block.start));
                a.queue = queue;
                a.action = None;
                let name = a.name.clone();
                ev.push(self.rec(
                    st,
                    TownEvent::PlanSet {
                        agent: name,
                        level: PlanLevel::Current,
                        items,
                    },
                ));
                self.next_action(st, ev, i);
            }
            Need::React(other) => {
                let talk = matches!(reply, Some(Reply::React(ReactReply { talk: true })));
                let Some(j) = st.agent_index(&other) else {
                    return;
                };
                let free = |a: &AgentState| a.conversation.is_none() && !a.asleep;
                if talk && free(&st.agents[i]) && free(&st.agents[j]) {
                    let id = st.next_conversation;
                    st.next_conversation += 1;
                    st.counters.conversations += 1;
                    let place = self
                        .world
                        .arena_at(st.agents[i].tile)
                        .unwrap_or("the street")
                        .to_string();
                    st.conversations.insert(
                        id,
                        Conversation {
                            id,
                            agents: [st.agents[i].name.clone(), other.clone()],
                            place: place.clone(),
                            next: 0,
                            lines: Vec::new(),
                            recalled: Default::default(),
                        },
                    );
                    for k in [i, j] {
                        st.agents[k].conversation = Some(id);
                        st.agents[k].path.clear();
                    }
                    ev.push(self.rec(
                        st,
                        TownEvent::ConversationStarted {
                            id,
                            agents: vec![st.agents[i].name.clone(), other],
                            place,
                            topic: None,
                        },
                    ));
                }
            }
            Need::Notice(_) => {
                let Some(Reply::Notice(NoticeReply { react, activity })) = reply else {
                    return;
                };
                let activity = activity.trim();
                if !react || activity.chars().filter(|c| c.is_alphabetic()).count() < 3 {
                    return;
                }
                // Reacting re-plans the next minutes: the new action comes first, here, and the
                // rest of the block's queue follows it.
                let Some(here) = self.world.arena_at(st.agents[i].tile).map(str::to_string) else {
                    return;
                };
                let until = SimTime(st.time.0 + 10 * 60);
                let name = st.agents[i].name.clone();
                ev.push(self.rec(
                    st,
                    TownEvent::PlanSet {
                        agent: name,
                        level: PlanLevel::Current,
                        items: vec![PlanItem {
                            start: st.time,
                            minutes: 10,
                            place: Some(here.clone()),
                            description: activity.to_string(),
                        }],
                    },
                ));
                self.remember(
                    st,
                    i,
                    MemoryKind::Plan,
                    format!("I decided to {activity} at {here}"),
                    4,
                    vec![],
                );
                self.start_action(st, ev, i, activity.to_string(), here, until);
            }
            Need::Converse(id) => {
                let reply = match reply {
                    Some(Reply::Converse(r)) => Some(r),
                    _ => None,
                };
                self.converse(st, ev, i, id, reply)
            }
            Need::Reflect(ids) => {
                st.agents[i].since_reflect = 0;
                let insights = match reply {
                    Some(Reply::Reflect(r)) => r.insights,
                    _ => Vec::new(),
                };
                if insights.is_empty() {
                    return;
                }
                st.counters.reflections += 1;
                for s in &insights {
                    self.remember(st, i, MemoryKind::Reflection, s.clone(), 7, ids.clone());
                }
                // A reflection's importance does not count toward the next one.
                st.agents[i].since_reflect = 0;
                let agent = st.agents[i].name.clone();
                ev.push(self.rec(
                    st,
                    TownEvent::Reflection {
                        agent,
                        insights,
                        evidence: ids,
                    },
                ));
            }
        }
    }
}
