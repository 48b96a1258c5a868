//! Phase 2 of a step: what each agent perceives (agents and objects in its vision radius,
//! cut to its attention bandwidth), what it writes down as observations, and which one model
//! decision, if any, it needs now.

use super::*;

impl Town {
    pub(super) fn perceive_and_need(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
    ) -> Option<Need> {
        let p = &self.personas[i];
        let minute = self.minute(st);
        let day = st.time.day();
        if !self.awake(p, minute) {
            if !st.agents[i].asleep {
                st.agents[i].asleep = true;
                st.agents[i].queue.clear();
                self.start_action(
                    st,
                    ev,
                    i,
                    "sleeping".into(),
                    p.home.clone(),
                    SimTime(st.time.0 + 60),
                );
            } else if st.agents[i]
                .action
                .as_ref()
                .is_none_or(|a| a.until <= st.time)
            {
                let until = SimTime(st.time.0 + 3600);
                st.agents[i].action = Some(Action {
                    description: "sleeping".into(),
                    place: p.home.clone(),
                    until,
                });
            }
            return None;
        }
        st.agents[i].asleep = false;
        if st.agents[i].conversation.is_some() {
            return None;
        }
        // Perception: nearest agents within the vision radius, up to the attention bandwidth.
        let tiles: Vec<(String, Tile)> =
            st.agents.iter().map(|a| (a.name.clone(), a.tile)).collect();
        let now_view: BTreeSet<String> = visible(&self.world, i, &tiles).into_iter().collect();
        let new: Vec<String> = now_view
            .difference(&st.agents[i].in_view)
            .cloned()
            .collect();
        st.agents[i].in_view = now_view;
        for other in new {
            let Some(j) = st.agent_index(&other) else {
                continue;
            };
            let desc = st.agents[j]
                .action
                .as_ref()
                .map(|a| a.description.clone())
                .unwrap_or_else(|| "idle".into());
            let place = self
                .world
                .arena_at(st.agents[j].tile)
                .unwrap_or("the street")
                .to_string();
            self.remember(
                st,
                i,
                MemoryKind::Observation,
                format!("{other} is {desc} at {place}"),
                2,
                vec![],
            );
            if st.agents[i].to_greet.is_none() {
                st.agents[i].to_greet = Some(other);
            }
        }
        let noticed = self.perceive_objects(st, i);
        // Whom to consider talking to: someone in view, awake, free, not talked to lately.
        let react = st.agents[i].to_greet.clone().filter(|other| {
            let Some(j) = st.agent_index(other) else {
                return false;
            };
            let cooled = st.agents[i].last_talk.get(other).is_none_or(|t| {
                st.time.0.saturating_sub(t.0) >= self.config.talk_cooldown_mins * 60
            });
            st.agents[i].in_view.contains(other)
                && cooled
                && !st.agents[j].asleep
                && st.agents[j].conversation.is_none()
        });
        if react.is_none() {
            st.agents[i].to_greet = None;
        }
        let a = &st.agents[i];
        if a.planned_day != day {
            return Some(Need::PlanDay);
        }
        let (block, end) = self.block_at(a, p, minute);
        if a.block != Some((day, block.start)) {
            return Some(Need::Decompose(block, end));
        }
        if let Some(o) = react {
            st.agents[i].to_greet = None;
            return Some(Need::React(o));
        }
        if let Some(text) = noticed {
            st.agents[i].last_notice = Some(st.time);
            return Some(Need::Notice(text));
        }
        if a.since_reflect >= self.config.reflect_threshold {
            let ids: Vec<i64> = a.recent.iter().rev().map(|m| m.id).collect();
            return Some(Need::Reflect(ids));
        }
        None
    }

    /// Perceives the objects in the agent's arena within its vision radius: a state someone else
    /// set, that the agent has not seen yet, becomes an observation. Returns the first such
    /// observation when the agent may react to it (at most once per `notice_cooldown_mins`).
    pub(super) fn perceive_objects(&self, st: &mut WorldState, i: usize) -> Option<String> {
        let at = st.agents[i].tile;
        let arena = self.world.arena_at(at)?.to_string();
        let own = st.agents[i].action.as_ref().map(|a| a.description.clone());
        let mut noticed = None;
        for o in self.world.objects.iter().filter(|o| o.arena == arena) {
            if o.tile.dist(at) > self.world.vision {
                continue;
            }
            let state = st.objects.get(&o.path).cloned().unwrap_or_default();
            if st.agents[i].seen_objects.get(&o.path) == Some(&state) {
                continue;
            }
            st.agents[i]
                .seen_objects
                .insert(o.path.clone(), state.clone());
            if state == o.state || own.as_ref() == Some(&state) {
                continue;
            }
            let name = o.path.rsplit(':').next().unwrap_or(&o.path);
            let text = format!("the {name} at {arena} is in use: {state}");
            let news = self.scenario.as_ref().is_some_and(|sc| {
                let lower = state.to_lowercase();
                sc.topics
                    .iter()
                    .flat_map(|t| &t.keywords)
                    .any(|k| !k.is_empty() && lower.contains(&k.to_lowercase()))
            });
            self.remember(
                st,
                i,
                MemoryKind::Observation,
                text.clone(),
                if news { 6 } else { 3 },
                vec![],
            );
            let cooled = st.agents[i].last_notice.is_none_or(|t| {
                st.time.0.saturating_sub(t.0) >= self.config.notice_cooldown_mins * 60
            });
            if noticed.is_none() && cooled {
                noticed = Some(text);
            }
        }
        noticed
    }

    /// At a speaker's first turn, what it remembers of the other (Generative Agents' focal
    /// point) and what is on its mind (its most important memories), kept in the conversation.
    pub(super) fn recall_for_conversation(
        &self,
        st: &mut WorldState,
        mem: &dyn MemoryStream,
        i: usize,
        id: u64,
    ) -> Result<()> {
        let name = st.agents[i].name.clone();
        let Some(conv) = st.conversations.get(&id) else {
            return Ok(());
        };
        if conv.recalled.contains_key(&name) {
            return Ok(());
        }
        let other = conv.agents[1 - conv.next].clone();
        let mut mems = recall(
            st,
            mem,
            i,
            &format!("{other} and what I know about them"),
            3,
        )?;
        for m in st.agents[i].salient.iter().take(3) {
            if !mems.contains(&m.text) {
                mems.push(m.text.clone());
            }
        }
        if let Some(c) = st.conversations.get_mut(&id) {
            c.recalled.insert(name, mems);
        }
        Ok(())
    }
}
