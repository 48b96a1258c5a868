//! Phase 5 of a step: conversations, starting and advancing actions, walking one tile along
//! the shortest path, and gathering attendance.

use super::*;
use crate::decision::ConverseReply;

impl Town {
    pub(super) fn converse(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        id: u64,
        reply: Option<ConverseReply>,
    ) {
        let Some(conv) = st.conversations.get(&id).cloned() else {
            return;
        };
        let speaker = conv.agents[conv.next].clone();
        let listener = conv.agents[1 - conv.next].clone();
        let (text, mut end) = match reply {
            Some(r) => (r.utterance.trim().to_string(), r.end),
            None => (String::new(), true),
        };
        if !text.is_empty() {
            st.counters.utterances += 1;
            ev.push(self.rec(
                st,
                TownEvent::Utterance {
                    conversation: id,
                    speaker: speaker.clone(),
                    listener: listener.clone(),
                    text: text.clone(),
                },
            ));
            let Some(j) = st.agent_index(&listener) else {
                return;
            };
            // Diffusion: the listener learns a topic when someone who knows it says one of its
            // keywords to them.
            let lower = text.to_lowercase();
            let mut heard_topic = false;
            if let Some(sc) = &self.scenario {
                for t in &sc.topics {
                    if t.keywords
                        .iter()
                        .any(|k| !k.is_empty() && lower.contains(&k.to_lowercase()))
                        && st.agents[i].knows.contains(&t.name)
                    {
                        heard_topic = true;
                        self.learn(st, ev, j, &t.name, Some(speaker.clone()), Some(id));
                    }
                }
            }
            self.remember(
                st,
                j,
                MemoryKind::Chat,
                format!("{speaker} told me: {text}"),
                if heard_topic { 7 } else { 3 },
                vec![],
            );
            if let Some(c) = st.conversations.get_mut(&id) {
                c.lines.push((speaker.clone(), text.clone()));
                c.next = 1 - c.next;
            }
        } else {
            end = true;
        }
        let turns = st
            .conversations
            .get(&id)
            .map(|c| c.lines.len())
            .unwrap_or(0);
        if turns < 2 && !text.is_empty() {
            end = false;
        }
        if end || turns >= self.config.max_turns {
            let Some(c) = st.conversations.remove(&id) else {
                return;
            };
            let transcript: Vec<String> =
                c.lines.iter().map(|(s, t)| format!("{s}: {t}")).collect();
            for (k, name) in c.agents.iter().enumerate() {
                let other = &c.agents[1 - k];
                if let Some(x) = st.agent_index(name) {
                    st.agents[x].conversation = None;
                    st.agents[x].last_talk.insert(other.clone(), st.time);
                    let mut summary = format!(
                        "I talked with {other} at {}: {}",
                        c.place,
                        transcript.join(" / ")
                    );
                    if summary.len() > 600 {
                        let cut = (0..=600)
                            .rev()
                            .find(|n| summary.is_char_boundary(*n))
                            .unwrap_or(0);
                        summary.truncate(cut);
                    }
                    self.remember(st, x, MemoryKind::Chat, summary, 4, vec![]);
                }
            }
            st.related.insert(pair(&c.agents[0], &c.agents[1]));
            let reason = if turns >= self.config.max_turns {
                "turn cap"
            } else {
                "ended by speaker"
            };
            ev.push(self.rec(
                st,
                TownEvent::ConversationEnded {
                    id,
                    turns: turns as u32,
                    reason: reason.into(),
                },
            ));
        }
    }

    pub(super) fn start_action(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        description: String,
        place: String,
        until: SimTime,
    ) {
        // Release objects the previous action used.
        if let Some(prev) = &st.agents[i].action {
            for o in self.world.objects.iter().filter(|o| o.arena == prev.place) {
                if st
                    .objects
                    .get(&o.path)
                    .is_some_and(|s| s == &prev.description)
                {
                    st.objects.insert(o.path.clone(), o.state.clone());
                    ev.push(self.rec(
                        st,
                        TownEvent::ObjectState {
                            object: o.path.clone(),
                            state: o.state.clone(),
                        },
                    ));
                }
            }
        }
        let lower = description.to_lowercase();
        for o in self.world.objects.iter().filter(|o| o.arena == place) {
            if o.verbs.iter().any(|v| lower.contains(&v.to_lowercase())) {
                st.objects.insert(o.path.clone(), description.clone());
                ev.push(self.rec(
                    st,
                    TownEvent::ObjectState {
                        object: o.path.clone(),
                        state: description.clone(),
                    },
                ));
                break;
            }
        }
        let minutes = (until.0.saturating_sub(st.time.0) / 60) as u32;
        st.agents[i].action = Some(Action {
            description: description.clone(),
            place: place.clone(),
            until,
        });
        st.agents[i].path.clear();
        let agent = st.agents[i].name.clone();
        ev.push(self.rec(
            st,
            TownEvent::ActionStarted {
                agent,
                emoji: emoji_for(&description),
                description,
                place,
                minutes,
            },
        ));
    }

    /// Starts the next queued action, or carries on with the block's activity until the block ends.
    pub(super) fn next_action(&self, st: &mut WorldState, ev: &mut Vec<EventRecord>, i: usize) {
        let p = &self.personas[i];
        let minute = self.minute(st);
        let (block, end) = self.block_at(&st.agents[i], p, minute);
        let (desc, until) = match st.agents[i].queue.pop_front() {
            Some((m, d)) => (d, SimTime(st.time.0 + u64::from(m) * 60)),
            None => {
                let left = u64::from(end.saturating_sub(minute).max(1)) * 60;
                (block.activity.clone(), SimTime(st.time.0 + left))
            }
        };
        self.start_action(st, ev, i, desc, block.place, until);
    }

    /// Phase 5: actions advance and agents walk one tile.
    pub(super) fn advance(&self, st: &mut WorldState, ev: &mut Vec<EventRecord>, i: usize) {
        if st.agents[i].conversation.is_some() {
            return;
        }
        let awake = !st.agents[i].asleep;
        if awake
            && st.agents[i].block.is_some()
            && st.agents[i]
                .action
                .as_ref()
                .is_none_or(|a| a.until <= st.time)
        {
            self.next_action(st, ev, i);
        }
        let Some(target) = st.agents[i].action.as_ref().map(|a| a.place.clone()) else {
            return;
        };
        let here = st.agents[i].tile;
        if st.agents[i].path.is_empty() && !self.world.tile_in(here, &target) {
            if let Some(tiles) = self.world.arenas.get(&target) {
                if !tiles.is_empty() {
                    let goal = tiles[(st.next_u64() % tiles.len() as u64) as usize];
                    if let Some(path) = self.world.path(here, goal) {
                        st.agents[i].path = path.into_iter().skip(1).collect();
                    }
                }
            }
        }
        if let Some(next) = st.agents[i].path.pop_front() {
            st.agents[i].tile = next;
            let agent = st.agents[i].name.clone();
            ev.push(self.rec(
                st,
                TownEvent::AgentMoved {
                    agent,
                    from: here,
                    to: next,
                },
            ));
        }
    }

    pub(super) fn attend(&self, st: &mut WorldState) {
        let Some(sc) = &self.scenario else { return };
        for g in &sc.gatherings {
            if st.time >= g.from && st.time < g.to {
                for a in &st.agents {
                    if self.world.tile_in(a.tile, &g.place) {
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
