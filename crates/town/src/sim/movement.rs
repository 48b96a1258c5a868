//! Moving: when an action ends the agent starts its next one, and every agent walks one tile
//! along its shortest path to where its action is; then who is at a scenario gathering is
//! recorded.

use super::*;

impl Tick<'_> {
    /// Agent `id` moves on to its next action when this one has ended, and walks one tile toward
    /// where its action is (a random tile of that arena, by the shortest path).
    pub(super) fn advance(&mut self, id: AgentId) {
        let a = self.agent(id);
        if a.conversation.is_some() {
            return;
        }
        let now = self.st.time;
        if !a.asleep && a.block.is_some() && a.action.as_ref().is_none_or(|a| a.until <= now) {
            self.next_action(id);
        }
        let Some(target) = self.agent(id).action.as_ref().map(|a| a.place.clone()) else {
            return;
        };
        let world = self.world();
        let here = self.agent(id).tile;
        if self.agent(id).path.is_empty() && !world.tile_in(here, &target) {
            if let Some(tiles) = world.arenas.get(&target) {
                if !tiles.is_empty() {
                    let goal = tiles[(self.st.next_u64() % tiles.len() as u64) as usize];
                    if let Some(path) = world.path(here, goal) {
                        self.agent_mut(id).path = path.into_iter().skip(1).collect();
                    }
                }
            }
        }
        if let Some(next) = self.agent_mut(id).path.pop_front() {
            self.agent_mut(id).tile = next;
            let agent = self.name(id);
            self.log(TownEvent::AgentMoved {
                agent,
                from: here,
                to: next,
            });
        }
    }

    /// Records who is at each scenario gathering under way.
    pub(super) fn attend(&mut self) {
        let Some(sc) = self.scenario() else {
            return;
        };
        let world = self.world();
        let st = &mut *self.st;
        for g in &sc.gatherings {
            if st.time >= g.from && st.time < g.to {
                for a in &st.agents {
                    if world.tile_in(a.tile, &g.place) {
                        st.attendance
                            .entry(g.name.clone())
                            .or_default()
                            .insert(a.name.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    /// Agent `name` sets off for an hour's coffee at the cafe.
    fn coffee_at_the_cafe(t: &mut Tick<'_>, name: &str) -> AgentId {
        let who = id(t.st, name);
        let until = SimTime(t.st.time.0 + 3600);
        t.start_action(who, "have coffee".into(), "Cafe:room".into(), until);
        who
    }

    #[test]
    fn an_agent_walks_one_tile_a_step_to_its_action_and_stops_there() {
        let mut f = Fixture::new(false, 7, 0);
        let mut t = f.tick();
        let ann = coffee_at_the_cafe(&mut t, "Ann");
        let mut steps = 0;
        loop {
            let before = t.agent(ann).tile;
            t.advance(ann);
            let after = t.agent(ann).tile;
            if after == before {
                break;
            }
            assert_eq!(before.dist(after), 1, "one tile a step");
            steps += 1;
            assert!(steps < 30, "never arrived");
        }
        let here = t.agent(ann).tile;
        assert!(t.world().tile_in(here, "Cafe:room"), "stopped at {here:?}");
        assert!(t.agent(ann).path.is_empty());
        t.advance(ann);
        assert_eq!(t.agent(ann).tile, here, "arrived: stays");
        let moves =
            t.ev.iter()
                .filter(|e| matches!(e.event, TownEvent::AgentMoved { .. }))
                .count();
        assert_eq!(moves, steps);
    }

    #[test]
    fn an_agent_in_a_conversation_stays_put() {
        let mut f = Fixture::new(false, 7, 0);
        let mut t = f.tick();
        let ann = coffee_at_the_cafe(&mut t, "Ann");
        t.agent_mut(ann).conversation = Some(1);
        let here = t.agent(ann).tile;
        t.advance(ann);
        assert_eq!(t.agent(ann).tile, here);
    }

    #[test]
    fn who_is_at_a_gathering_while_it_lasts_is_recorded() {
        let mut f = Fixture::new(true, 8, 30);
        let mut t = f.tick();
        t.attend();
        let coffee = &t.st.attendance["coffee"];
        assert_eq!(
            coffee.iter().collect::<Vec<_>>(),
            ["Cal"],
            "only Cal is at the cafe"
        );
        t.st.time = SimTime::at(1, 9, 0);
        t.st.attendance.clear();
        t.attend();
        assert!(t.st.attendance.is_empty(), "the gathering is over");
    }
}
