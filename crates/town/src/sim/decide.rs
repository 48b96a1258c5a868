//! Phases 3 and 4 of a step: the model request for each agent's need (prompt, JSON Schema,
//! cache key) and how its reply is applied to the world (a failed reply falls back to the
//! routine).

use super::*;

impl Town {
    pub(super) fn place_enum(&self) -> Vec<String> {
        self.world.arenas.keys().cloned().collect()
    }

    pub(super) fn request(
        &self,
        st: &WorldState,
        mem: &dyn MemoryStream,
        i: usize,
        need: &Need,
    ) -> Result<GenerateRequest> {
        let p = &self.personas[i];
        let time = st.time.to_string();
        let here = self
            .world
            .arena_at(st.agents[i].tile)
            .unwrap_or("the street")
            .to_string();
        let (template, ctx, schema, max_tokens) = match need {
            Need::PlanDay => {
                // Retrieved for the day ahead, plus what is on the agent's mind (an invitation
                // heard yesterday is among its most important memories).
                let mut mems = recall(
                    st,
                    mem,
                    i,
                    &format!("what I plan to do today as {}", p.occupation),
                    4,
                )?;
                for m in st.agents[i].salient.iter().take(3) {
                    if !mems.contains(&m.text) {
                        mems.push(m.text.clone());
                    }
                }
                let hours: Vec<String> = (p.wake / 60 + 1..=p.sleep.saturating_sub(1) / 60)
                    .map(|h| format!("{h:02}:00"))
                    .collect();
                let routine: Vec<Value> = p
                    .routine
                    .iter()
                    .map(|b| json!({"at": hhmm(b.start), "place": b.place, "activity": b.activity}))
                    .collect();
                let hours = if hours.is_empty() {
                    vec!["12:00".to_string()]
                } else {
                    hours
                };
                (
                    "plan_day",
                    json!({"time": time, "routine": routine, "memories": mems}),
                    json!({"title": "town.plan_day", "type": "object", "properties": {"plan": {"type": "array", "maxItems": 4, "items": {"type": "object", "properties": {
                        "activity": {"type": "string", "minLength": 3, "maxLength": 60}, "place": {"enum": self.place_enum()}, "time": {"enum": hours}},
                        "required": ["activity", "place", "time"]}}}, "required": ["plan"]}),
                    220,
                )
            }
            Need::Decompose(block, end) => {
                let mems = recall(st, mem, i, &block.activity, 3)?;
                (
                    "decompose",
                    json!({"time": time, "here": here, "block_start": hhmm(block.start), "block_end": hhmm(*end), "activity": block.activity, "place": block.place, "memories": mems}),
                    json!({"title": "town.decompose", "type": "object", "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "properties": {
                        "action": {"type": "string", "minLength": 3, "maxLength": 50}, "minutes": {"enum": [5, 10, 15]}}, "required": ["action", "minutes"]}}}, "required": ["steps"]}),
                    200,
                )
            }
            Need::React(other) => {
                let j = st.agent_index(other).unwrap_or(i);
                let other_action = st.agents[j]
                    .action
                    .as_ref()
                    .map(|a| a.description.clone())
                    .unwrap_or_else(|| "idle".into());
                let action = st.agents[i]
                    .action
                    .as_ref()
                    .map(|a| a.description.clone())
                    .unwrap_or_else(|| "idle".into());
                let mems = recall(st, mem, i, &format!("{other} {other_action}"), 3)?;
                (
                    "react",
                    json!({"time": time, "here": here, "action": action, "other": other, "other_action": other_action, "memories": mems}),
                    json!({"title": "town.react", "type": "object", "properties": {"talk": {"type": "boolean"}}, "required": ["talk"]}),
                    12,
                )
            }
            Need::Notice(what) => {
                let action = st.agents[i]
                    .action
                    .as_ref()
                    .map(|a| a.description.clone())
                    .unwrap_or_else(|| "idle".into());
                let mems = recall(st, mem, i, what, 3)?;
                (
                    "notice",
                    json!({"time": time, "here": here, "action": action, "noticed": what, "memories": mems}),
                    json!({"title": "town.notice", "type": "object", "properties": {"react": {"type": "boolean"}, "activity": {"type": "string", "minLength": 3, "maxLength": 50}}, "required": ["react", "activity"]}),
                    40,
                )
            }
            Need::Converse(id) => {
                let conv = st.conversations.get(id).cloned();
                let other = conv
                    .as_ref()
                    .map(|c| c.agents[1 - c.next].clone())
                    .unwrap_or_default();
                let mems = conv
                    .as_ref()
                    .and_then(|c| c.recalled.get(&st.agents[i].name))
                    .cloned()
                    .unwrap_or_default();
                let lines: Vec<Value> = conv
                    .as_ref()
                    .map(|c| {
                        c.lines
                            .iter()
                            .map(|(s, t)| json!({"speaker": s, "text": t}))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    "converse",
                    json!({"time": time, "here": here, "other": other, "memories": mems, "lines": lines}),
                    json!({"title": "town.converse", "type": "object", "properties": {"utterance": {"type": "string", "minLength": 2, "maxLength": 120}, "end": {"type": "boolean"}}, "required": ["utterance", "end"]}),
                    120,
                )
            }
            Need::Reflect(ids) => {
                let mems: Vec<Value> = st.agents[i]
                    .recent
                    .iter()
                    .filter(|m| ids.contains(&m.id))
                    .map(|m| json!({"id": m.id, "text": m.text}))
                    .collect();
                (
                    "reflect",
                    json!({"time": time, "memories": mems}),
                    json!({"title": "town.reflect", "type": "object", "properties": {"insights": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string", "minLength": 3, "maxLength": 120}}}, "required": ["insights"]}),
                    120,
                )
            }
        };
        let user = self.prompts.render(template, ctx)?;
        Ok(GenerateRequest::chat(vec![
            Message::system(self.systems[i].clone()),
            Message::user(user),
        ])
        .with_schema(schema)
        .with_max_tokens(max_tokens)
        .with_sampling(self.config.sampling.clone())
        .with_cache_key(format!("town:{}", p.name)))
    }

    pub(super) fn apply(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        need: Need,
        reply: Value,
    ) {
        let p = &self.personas[i];
        let day = st.time.day();
        match need {
            Need::PlanDay => {
                let mut schedule = p.routine.clone();
                let mut items = Vec::new();
                for it in reply
                    .get("plan")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (Some(t), Some(place), Some(act)) = (
                        it.get("time")
                            .and_then(Value::as_str)
                            .and_then(hamlet_core::town::parse_clock),
                        it.get("place")
                            .and_then(Value::as_str)
                            .and_then(|s| self.world.resolve_place(s)),
                        it.get("activity").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
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
                let mut queue: VecDeque<(u32, String)> = reply
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| {
                        Some((
                            s.get("minutes")?.as_u64()?.clamp(5, 15) as u32,
                            s.get("action")?.as_str()?.trim().to_string(),
                        ))
                    })
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
                let talk = reply.get("talk").and_then(Value::as_bool).unwrap_or(false);
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
                let react = reply.get("react").and_then(Value::as_bool).unwrap_or(false);
                let activity = reply
                    .get("activity")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or("");
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
            Need::Converse(id) => self.converse(st, ev, i, id, reply),
            Need::Reflect(ids) => {
                st.agents[i].since_reflect = 0;
                let insights: Vec<String> = reply
                    .get("insights")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
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
