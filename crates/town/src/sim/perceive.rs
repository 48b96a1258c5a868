//! Phase 2 of a step: what each agent perceives (agents and objects in its vision radius,
//! cut to its attention bandwidth), what it writes down as observations, and which one model
//! decision, if any, it needs now.

use super::*;

impl Tick<'_> {
    /// Agent `id` wakes or sleeps, perceives what is new around it, and says which one model
    /// decision it needs now, if any.
    pub(super) fn perceive(&mut self, id: AgentId) -> Option<Need> {
        let p = self.persona(id);
        let minute = self.minute();
        let now = self.st.time;
        let day = now.day();
        if !self.awake(p, minute) {
            if !self.agent(id).asleep {
                self.agent_mut(id).asleep = true;
                self.agent_mut(id).queue.clear();
                self.start_action(id, "sleeping".into(), p.home.clone(), SimTime(now.0 + 60));
            } else if self
                .agent(id)
                .action
                .as_ref()
                .is_none_or(|a| a.until <= now)
            {
                self.agent_mut(id).action = Some(Action {
                    description: "sleeping".into(),
                    place: p.home.clone(),
                    until: SimTime(now.0 + 3600),
                });
            }
            return None;
        }
        self.agent_mut(id).asleep = false;
        if self.agent(id).conversation.is_some() {
            return None;
        }
        // Perception: nearest agents within the vision radius, up to the attention bandwidth.
        let tiles: Vec<(String, Tile)> = self
            .st
            .agents
            .iter()
            .map(|a| (a.name.clone(), a.tile))
            .collect();
        let now_view: BTreeSet<String> = visible(self.world(), id.index(), &tiles)
            .into_iter()
            .collect();
        let new: Vec<String> = now_view
            .difference(&self.agent(id).in_view)
            .cloned()
            .collect();
        self.agent_mut(id).in_view = now_view;
        for other in new {
            let Some(seen) = self.st.id_of(&other) else {
                continue;
            };
            let desc = self.doing(seen);
            let place = self.place_of(seen);
            self.remember(
                id,
                MemoryKind::Observation,
                format!("{other} is {desc} at {place}"),
                2,
                vec![],
            );
            if self.agent(id).to_greet.is_none() {
                self.agent_mut(id).to_greet = Some(other);
            }
        }
        let noticed = self.perceive_objects(id);
        // Whom to consider talking to: someone in view, awake, free, not talked to lately.
        let cooldown = self.config().talk_cooldown_mins * 60;
        let react = self.agent(id).to_greet.clone().filter(|other| {
            let Some(them) = self.st.id_of(other) else {
                return false;
            };
            let me = self.agent(id);
            let cooled = me
                .last_talk
                .get(other)
                .is_none_or(|t| now.0.saturating_sub(t.0) >= cooldown);
            let them = self.agent(them);
            me.in_view.contains(other) && cooled && !them.asleep && them.conversation.is_none()
        });
        if react.is_none() {
            self.agent_mut(id).to_greet = None;
        }
        if self.agent(id).planned_day != day {
            return Some(Need::PlanDay);
        }
        let (block, end) = self.block_at(id, minute);
        if self.agent(id).block != Some((day, block.start)) {
            return Some(Need::Decompose(block, end));
        }
        if let Some(o) = react {
            self.agent_mut(id).to_greet = None;
            return Some(Need::React(o));
        }
        if let Some(text) = noticed {
            self.agent_mut(id).last_notice = Some(now);
            return Some(Need::Notice(text));
        }
        let a = self.agent(id);
        if a.since_reflect >= self.config().reflect_threshold {
            let ids: Vec<i64> = a.recent.iter().rev().map(|m| m.id).collect();
            return Some(Need::Reflect(ids));
        }
        None
    }

    /// What agent `id` is doing, as others see it.
    pub(super) fn doing(&self, id: AgentId) -> String {
        self.agent(id)
            .action
            .as_ref()
            .map(|a| a.description.clone())
            .unwrap_or_else(|| "idle".into())
    }

    /// The arena agent `id` stands in ("the street" between places).
    pub(super) fn place_of(&self, id: AgentId) -> String {
        self.world()
            .arena_at(self.agent(id).tile)
            .unwrap_or("the street")
            .to_string()
    }

    /// Perceives the objects in the agent's arena within its vision radius: a state someone else
    /// set, that the agent has not seen yet, becomes an observation. Returns the first such
    /// observation when the agent may react to it (at most once per `notice_cooldown_mins`).
    fn perceive_objects(&mut self, id: AgentId) -> Option<String> {
        let world = self.world();
        let at = self.agent(id).tile;
        let arena = world.arena_at(at)?.to_string();
        let own = self
            .agent(id)
            .action
            .as_ref()
            .map(|a| a.description.clone());
        let mut noticed = None;
        for o in world.objects.iter().filter(|o| o.arena == arena) {
            if o.tile.dist(at) > world.vision {
                continue;
            }
            let state = self.st.objects.get(&o.path).cloned().unwrap_or_default();
            if self.agent(id).seen_objects.get(&o.path) == Some(&state) {
                continue;
            }
            self.agent_mut(id)
                .seen_objects
                .insert(o.path.clone(), state.clone());
            if state == o.state || own.as_ref() == Some(&state) {
                continue;
            }
            let name = o.path.rsplit(':').next().unwrap_or(&o.path);
            let text = format!("the {name} at {arena} is in use: {state}");
            let news = self.scenario().is_some_and(|sc| {
                let lower = state.to_lowercase();
                sc.topics
                    .iter()
                    .flat_map(|t| &t.keywords)
                    .any(|k| !k.is_empty() && lower.contains(&k.to_lowercase()))
            });
            self.remember(
                id,
                MemoryKind::Observation,
                text.clone(),
                if news { 6 } else { 3 },
                vec![],
            );
            let now = self.st.time;
            let cooldown = self.config().notice_cooldown_mins * 60;
            let cooled = self
                .agent(id)
                .last_notice
                .is_none_or(|t| now.0.saturating_sub(t.0) >= cooldown);
            if noticed.is_none() && cooled {
                noticed = Some(text);
            }
        }
        noticed
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    #[test]
    fn before_waking_an_agent_sleeps_at_home_and_needs_nothing() {
        let mut f = Fixture::new(false, 3, 0);
        let ann = f.id("Ann");
        let mut t = f.tick();
        assert!(t.perceive(ann).is_none());
        let a = t.agent(ann);
        assert!(a.asleep);
        let action = a.action.as_ref().expect("an action");
        assert_eq!(
            (action.description.as_str(), action.place.as_str()),
            ("sleeping", "Home:room")
        );
        assert!(t.st.pending.is_empty(), "a sleeper perceives nothing");
    }

    #[test]
    fn an_agent_awake_plans_its_day_first_then_its_current_block() {
        let mut f = Fixture::new(false, 7, 40);
        let ben = f.id("Ben");
        let mut t = f.tick();
        assert!(matches!(t.perceive(ben), Some(Need::PlanDay)));
        assert!(!t.agent(ben).asleep);
        t.agent_mut(ben).planned_day = 1;
        t.agent_mut(ben).schedule = t.persona(ben).routine.clone();
        match t.perceive(ben) {
            Some(Need::Decompose(block, end)) => {
                assert_eq!(block.activity, "have coffee");
                assert_eq!(block.place, "Cafe:room");
                assert_eq!(end, 22 * 60, "the last block lasts until bedtime");
            }
            other => panic!("expected the block to decompose, got {other:?}"),
        }
    }

    #[test]
    fn someone_newly_seen_is_remembered_once_and_considered_for_a_talk() {
        let mut f = Fixture::new(false, 7, 0);
        let ann = f.id("Ann");
        let mut t = f.tick();
        settled(&mut t, "Ann");
        match t.perceive(ann) {
            Some(Need::React(other)) => assert_eq!(other, "Ben"),
            other => panic!("expected a talk decision about Ben, got {other:?}"),
        }
        let seen: Vec<&str> = t.st.pending.iter().map(|(_, m)| m.text.as_str()).collect();
        assert_eq!(seen, ["Ben is idle at Home:room"], "Cal is out of sight");
        // Still in view next step: nothing new, nothing to decide.
        assert!(t.perceive(ann).is_none());
        assert_eq!(t.st.pending.len(), 1);
    }

    #[test]
    fn no_talk_is_considered_with_someone_talked_to_lately() {
        let mut f = Fixture::new(false, 7, 0);
        let ann = f.id("Ann");
        let now = f.st.time;
        f.st.agent_mut(ann).last_talk.insert("Ben".into(), now);
        let mut t = f.tick();
        settled(&mut t, "Ann");
        assert!(t.perceive(ann).is_none());
        assert!(t.agent(ann).to_greet.is_none());
    }

    #[test]
    fn an_object_someone_else_put_to_use_is_noticed() {
        let mut f = Fixture::new(true, 7, 0);
        let cal = f.id("Cal");
        f.st.objects
            .insert("Cafe:room:stove".into(), "cook for the party".into());
        let mut t = f.tick();
        settled(&mut t, "Cal");
        match t.perceive(cal) {
            Some(Need::Notice(text)) => {
                assert_eq!(text, "the stove at Cafe:room is in use: cook for the party")
            }
            other => panic!("expected the stove to be noticed, got {other:?}"),
        }
        let (_, m) = t.st.pending.last().expect("an observation");
        assert_eq!(m.importance, Some(6), "a topic's keyword makes it news");
        // Seen once: the same state is not noticed again.
        assert!(t.perceive(cal).is_none());
    }
}
