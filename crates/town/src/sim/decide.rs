//! Phases 3 and 4 of a step: the decision each agent's need puts to the model (a typed
//! [`Ask`], rendered into a prompt with its reply's JSON Schema and the agent's cache key), and
//! how its typed [`Reply`] is applied to the world (a failed reply falls back to the routine).

use super::*;
use crate::decision::{
    Ask, Converse, Decompose, Evidence, Line, Notice, NoticeReply, PlanDay, Posed, React,
    ReactReply, Reflect, Reply, RoutineLine, Scene,
};

impl Tick<'_> {
    /// Phases 3 and 4: the needs of the step (conversation turns first claim whoever speaks
    /// next) go to `model` as one batch, in agent order, and each reply is applied.
    pub(super) fn decide(
        &mut self,
        mut needs: Vec<(AgentId, Need)>,
        model: &dyn TownModel,
        mem: &dyn MemoryStream,
    ) -> Result<()> {
        let turns: Vec<(AgentId, u64)> = self
            .st
            .conversations
            .values()
            .filter_map(|c| Some((self.st.id_of(&c.agents[c.next])?, c.id)))
            .collect();
        for (id, conv) in turns {
            needs.retain(|(other, _)| *other != id);
            needs.push((id, Need::Converse(conv)));
        }
        needs.sort_by_key(|(id, _)| *id);
        for (id, need) in &needs {
            if let Need::Converse(conv) = need {
                self.recall_for_conversation(mem, *id, *conv)?;
            }
        }
        if needs.is_empty() {
            return Ok(());
        }
        let posed: Vec<Posed> = needs
            .iter()
            .map(|(id, need)| self.pose(mem, *id, need))
            .collect::<Result<_>>()?;
        let answers = model.decide(&posed);
        let (mut usage, mut failed) = (TokenUsage::default(), 0u32);
        for ((id, need), answer) in needs.into_iter().zip(answers) {
            let reply = match answer {
                Ok(a) => {
                    usage += a.usage;
                    Some(a.reply)
                }
                Err(e) => {
                    tracing::warn!(agent = %self.agent(id).name, error = %e, "model reply failed; falling back");
                    failed += 1;
                    None
                }
            };
            self.apply(id, need, reply);
        }
        let n = posed.len() as u32;
        self.st.counters.calls += u64::from(n);
        self.st.counters.failed += u64::from(failed);
        self.st.counters.tokens += usage;
        self.log(TownEvent::ModelBatch {
            requests: n,
            usage,
            failed,
        });
        Ok(())
    }

    /// At a speaker's first turn, what it remembers of the other (Generative Agents' focal
    /// point) and what is on its mind (its most important memories), kept in the conversation.
    fn recall_for_conversation(
        &mut self,
        mem: &dyn MemoryStream,
        id: AgentId,
        conv: u64,
    ) -> Result<()> {
        let name = self.name(id);
        let Some(c) = self.st.conversations.get(&conv) else {
            return Ok(());
        };
        if c.recalled.contains_key(&name) {
            return Ok(());
        }
        let other = c.agents[1 - c.next].clone();
        let query = format!("{other} and what I know about them");
        let mut mems = recall(self.st, mem, id, &query, 3)?;
        for m in self.agent(id).salient.iter().take(3) {
            if !mems.contains(&m.text) {
                mems.push(m.text.clone());
            }
        }
        if let Some(c) = self.st.conversations.get_mut(&conv) {
            c.recalled.insert(name, mems);
        }
        Ok(())
    }

    fn place_enum(&self) -> Vec<String> {
        self.world().arenas.keys().cloned().collect()
    }

    /// The decision `need` puts to the model for agent `id`, with the memories its prompt shows.
    fn pose(&self, mem: &dyn MemoryStream, id: AgentId, need: &Need) -> Result<Posed> {
        let p = self.persona(id);
        let st = &*self.st;
        let time = st.time.to_string();
        let here = self.place_of(id);
        let ask = match need {
            Need::PlanDay => {
                // Retrieved for the day ahead, plus what is on the agent's mind (an invitation
                // heard yesterday is among its most important memories).
                let mut memories = recall(
                    st,
                    mem,
                    id,
                    &format!("what I plan to do today as {}", p.occupation),
                    4,
                )?;
                for m in st.agent(id).salient.iter().take(3) {
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
                    memories: recall(st, mem, id, &block.activity, 3)?,
                    time,
                    here,
                },
                block_start: hhmm(block.start),
                block_end: hhmm(*end),
                activity: block.activity.clone(),
                place: block.place.clone(),
            }),
            Need::React(other) => {
                let other_action = self.doing(st.id_of(other).unwrap_or(id));
                Ask::React(React {
                    scene: Scene {
                        memories: recall(st, mem, id, &format!("{other} {other_action}"), 3)?,
                        time,
                        here,
                    },
                    action: self.doing(id),
                    other: other.clone(),
                    other_action,
                })
            }
            Need::Notice(what) => Ask::Notice(Notice {
                scene: Scene {
                    memories: recall(st, mem, id, what, 3)?,
                    time,
                    here,
                },
                action: self.doing(id),
                noticed: what.clone(),
            }),
            Need::Converse(c) => {
                let conv = st.conversations.get(c);
                Ask::Converse(Converse {
                    scene: Scene {
                        time,
                        here,
                        memories: conv
                            .and_then(|c| c.recalled.get(&st.agent(id).name))
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
                memories: st
                    .agent(id)
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
        let user = ask.render(&self.town.prompts)?;
        let request = GenerateRequest::chat(vec![
            Message::system(self.town.systems[id.index()].clone()),
            Message::user(user),
        ])
        .with_schema(ask.schema())
        .with_max_tokens(ask.max_tokens())
        .with_sampling(self.config().sampling.clone())
        .with_cache_key(format!("town:{}", p.name));
        Ok(Posed { ask, request })
    }

    /// Folds agent `id`'s reply to `need` into the world (`None`: the reply failed, and the
    /// routine stands).
    pub(super) fn apply(&mut self, id: AgentId, need: Need, reply: Option<Reply>) {
        let p = self.persona(id);
        let now = self.st.time;
        let day = now.day();
        let day0 = now.0 - now.of_day();
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
                        self.world().resolve_place(&it.place),
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
                        start: SimTime(day0 + u64::from(t) * 60),
                        minutes: 60,
                        place: Some(place),
                        description: act.to_string(),
                    });
                }
                schedule.sort_by_key(|b| b.start);
                let a = self.agent_mut(id);
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
                    id,
                    MemoryKind::Plan,
                    format!("My plan for {now}: {summary}"),
                    3,
                    vec![],
                );
                self.log(TownEvent::PlanSet {
                    agent: name.clone(),
                    level: PlanLevel::Day,
                    items,
                });
                let hourly = schedule
                    .iter()
                    .map(|b| PlanItem {
                        start: SimTime(day0 + u64::from(b.start) * 60),
                        minutes: 0,
                        place: Some(b.place.clone()),
                        description: b.activity.clone(),
                    })
                    .collect();
                self.log(TownEvent::PlanSet {
                    agent: name,
                    level: PlanLevel::Hourly,
                    items: hourly,
                });
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
                        end.saturating_sub(self.minute()).max(5),
                        block.activity.clone(),
                    ));
                }
                let mut t = now;
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
                let a = self.agent_mut(id);
                a.block = Some((day, block.start));
                a.queue = queue;
                a.action = None;
                let name = a.name.clone();
                self.log(TownEvent::PlanSet {
                    agent: name,
                    level: PlanLevel::Current,
                    items,
                });
                self.next_action(id);
            }
            Need::React(other) => {
                let talk = matches!(reply, Some(Reply::React(ReactReply { talk: true })));
                let Some(them) = self.st.id_of(&other) else {
                    return;
                };
                let free = |a: &AgentState| a.conversation.is_none() && !a.asleep;
                if talk && free(self.agent(id)) && free(self.agent(them)) {
                    let conv = self.st.next_conversation;
                    self.st.next_conversation += 1;
                    self.st.counters.conversations += 1;
                    let place = self.place_of(id);
                    let me = self.name(id);
                    self.st.conversations.insert(
                        conv,
                        Conversation {
                            id: conv,
                            agents: [me.clone(), other.clone()],
                            place: place.clone(),
                            next: 0,
                            lines: Vec::new(),
                            recalled: Default::default(),
                        },
                    );
                    for k in [id, them] {
                        self.agent_mut(k).conversation = Some(conv);
                        self.agent_mut(k).path.clear();
                    }
                    self.log(TownEvent::ConversationStarted {
                        id: conv,
                        agents: vec![me, other],
                        place,
                        topic: None,
                    });
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
                let Some(here) = self
                    .world()
                    .arena_at(self.agent(id).tile)
                    .map(str::to_string)
                else {
                    return;
                };
                let until = SimTime(now.0 + 10 * 60);
                let name = self.name(id);
                self.log(TownEvent::PlanSet {
                    agent: name,
                    level: PlanLevel::Current,
                    items: vec![PlanItem {
                        start: now,
                        minutes: 10,
                        place: Some(here.clone()),
                        description: activity.to_string(),
                    }],
                });
                self.remember(
                    id,
                    MemoryKind::Plan,
                    format!("I decided to {activity} at {here}"),
                    4,
                    vec![],
                );
                self.start_action(id, activity.to_string(), here, until);
            }
            Need::Converse(conv) => {
                let reply = match reply {
                    Some(Reply::Converse(r)) => Some(r),
                    _ => None,
                };
                self.converse(id, conv, reply)
            }
            Need::Reflect(ids) => {
                self.agent_mut(id).since_reflect = 0;
                let insights = match reply {
                    Some(Reply::Reflect(r)) => r.insights,
                    _ => Vec::new(),
                };
                if insights.is_empty() {
                    return;
                }
                self.st.counters.reflections += 1;
                for s in &insights {
                    self.remember(id, MemoryKind::Reflection, s.clone(), 7, ids.clone());
                }
                // A reflection's importance does not count toward the next one.
                self.agent_mut(id).since_reflect = 0;
                let agent = self.name(id);
                self.log(TownEvent::Reflection {
                    agent,
                    insights,
                    evidence: ids,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::decision::{DecomposeReply, PlanDayReply, PlanEntry, PlanStep};
    use crate::testing::TownFake;

    #[test]
    fn a_conversation_turn_takes_the_speakers_need_and_the_batch_is_logged() {
        let mut f = Fixture::new(false, 7, 0);
        let (ann, ben) = (f.id("Ann"), f.id("Ben"));
        let mut t = Tick::new(&f.town, &mut f.st);
        settled(&mut t, "Ann");
        settled(&mut t, "Ben");
        let conv = start_talk(&mut t, ann, "Ben");
        assert_eq!(t.agent(ben).conversation, Some(conv));
        let model = TownFake::new();
        t.decide(vec![(ann, Need::Reflect(vec![]))], &model, &f.mem)
            .expect("decide");
        assert_eq!(model.calls(), 1, "the turn replaced the reflection");
        let lines = &t.st.conversations[&conv].lines;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, "Ann");
        assert!(t.st.conversations[&conv].recalled.contains_key("Ann"));
        assert!(matches!(
            t.ev.last().map(|e| &e.event),
            Some(TownEvent::ModelBatch {
                requests: 1,
                failed: 0,
                ..
            })
        ));
    }

    #[test]
    fn a_failed_day_plan_keeps_the_routine() {
        let mut f = Fixture::new(false, 7, 0);
        let ben = f.id("Ben");
        let mut t = f.tick();
        t.apply(ben, Need::PlanDay, None);
        assert_eq!(t.agent(ben).planned_day, 1);
        assert_eq!(t.agent(ben).schedule, t.persona(ben).routine);
        let (_, m) = t.st.pending.last().expect("the plan is remembered");
        assert!(
            m.text.ends_with("an ordinary day, following my routine"),
            "{}",
            m.text
        );
    }

    #[test]
    fn a_day_plan_keeps_only_items_at_known_places_that_say_something() {
        let mut f = Fixture::new(false, 7, 0);
        let ann = f.id("Ann");
        let mut t = f.tick();
        let item = |time: &str, place: &str, activity: &str| PlanEntry {
            time: time.into(),
            place: place.into(),
            activity: activity.into(),
        };
        let plan = vec![
            item("09:00", "Cafe:room", "bake bread for the party"),
            item("10:00", "Moon:base", "fly to the moon"),
            item("11:00", "Home:room", "12"),
        ];
        t.apply(ann, Need::PlanDay, Some(PlanDayReply { plan }.into()));
        let schedule = &t.agent(ann).schedule;
        assert_eq!(schedule.len(), 1, "{schedule:?}");
        assert_eq!(
            (schedule[0].start, schedule[0].place.as_str()),
            (9 * 60, "Cafe:room")
        );
        assert_eq!(schedule[0].activity, "bake bread for the party");
    }

    #[test]
    fn a_block_becomes_steps_of_five_to_fifteen_minutes_and_the_first_starts() {
        let mut f = Fixture::new(false, 7, 30);
        let ben = f.id("Ben");
        let block = t_block(&f.town, "have coffee");
        let mut t = f.tick();
        let steps = vec![
            PlanStep {
                action: "order a latte".into(),
                minutes: 1,
            },
            PlanStep {
                action: "!!".into(),
                minutes: 10,
            },
            PlanStep {
                action: "read the paper".into(),
                minutes: 90,
            },
        ];
        t.apply(
            ben,
            Need::Decompose(block, 8 * 60),
            Some(DecomposeReply { steps }.into()),
        );
        let a = t.agent(ben);
        assert_eq!(a.block, Some((1, 7 * 60 + 30)));
        let action = a.action.as_ref().expect("the first step started");
        assert_eq!(action.description, "order a latte");
        assert_eq!(action.until.0 - t.st.time.0, 5 * 60, "clamped to 5 minutes");
        let queued: Vec<(u32, &str)> = a.queue.iter().map(|(m, d)| (*m, d.as_str())).collect();
        assert_eq!(queued, [(15, "read the paper")]);
    }

    fn t_block(town: &Town, activity: &str) -> Block {
        town.personas
            .iter()
            .flat_map(|p| &p.routine)
            .find(|b| b.activity == activity)
            .cloned()
            .expect("a routine block")
    }

    #[test]
    fn declining_to_talk_starts_no_conversation() {
        let mut f = Fixture::new(false, 7, 0);
        let ann = f.id("Ann");
        let mut t = f.tick();
        react(&mut t, ann, "Ben", false);
        assert!(t.st.conversations.is_empty());
        t.apply(ann, Need::React("Ben".into()), None);
        assert!(
            t.st.conversations.is_empty(),
            "a failed reply does not talk"
        );
    }
}
