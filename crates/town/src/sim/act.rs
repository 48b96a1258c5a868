//! Acting: a conversation turn (what the listener hears and learns, and how a conversation
//! ends), and starting an agent's next action (the objects it puts to use follow the action's
//! verbs). Decisions act through these (`decide.rs`), and so does moving on when an action ends
//! (`movement.rs`).

use super::*;
use crate::decision::ConverseReply;

impl Tick<'_> {
    /// Agent `id`'s turn in conversation `conv` (`None`: the reply failed, which ends it).
    pub(super) fn converse(&mut self, id: AgentId, conv: u64, reply: Option<ConverseReply>) {
        let Some(c) = self.st.conversations.get(&conv).cloned() else {
            return;
        };
        let speaker = c.agents[c.next].clone();
        let listener = c.agents[1 - c.next].clone();
        let (text, mut end) = match reply {
            Some(r) => (r.utterance.trim().to_string(), r.end),
            None => (String::new(), true),
        };
        if !text.is_empty() {
            self.st.counters.utterances += 1;
            self.log(TownEvent::Utterance {
                conversation: conv,
                speaker: speaker.clone(),
                listener: listener.clone(),
                text: text.clone(),
            });
            let Some(hearer) = self.st.id_of(&listener) else {
                return;
            };
            // Diffusion: the listener learns a topic when someone who knows it says one of its
            // keywords to them.
            let lower = text.to_lowercase();
            let mut heard_topic = false;
            if let Some(sc) = self.scenario() {
                for t in &sc.topics {
                    if t.keywords
                        .iter()
                        .any(|k| !k.is_empty() && lower.contains(&k.to_lowercase()))
                        && self.agent(id).knows.contains(&t.name)
                    {
                        heard_topic = true;
                        self.learn(hearer, &t.name, Some(speaker.clone()), Some(conv));
                    }
                }
            }
            self.remember(
                hearer,
                MemoryKind::Chat,
                format!("{speaker} told me: {text}"),
                if heard_topic { 7 } else { 3 },
                vec![],
            );
            if let Some(c) = self.st.conversations.get_mut(&conv) {
                c.lines.push((speaker.clone(), text.clone()));
                c.next = 1 - c.next;
            }
        } else {
            end = true;
        }
        let turns = self
            .st
            .conversations
            .get(&conv)
            .map(|c| c.lines.len())
            .unwrap_or(0);
        if turns < 2 && !text.is_empty() {
            end = false;
        }
        let max_turns = self.config().max_turns;
        if end || turns >= max_turns {
            let Some(c) = self.st.conversations.remove(&conv) else {
                return;
            };
            let transcript: Vec<String> =
                c.lines.iter().map(|(s, t)| format!("{s}: {t}")).collect();
            let now = self.st.time;
            for (k, name) in c.agents.iter().enumerate() {
                let other = &c.agents[1 - k];
                if let Some(x) = self.st.id_of(name) {
                    self.agent_mut(x).conversation = None;
                    self.agent_mut(x).last_talk.insert(other.clone(), now);
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
                    self.remember(x, MemoryKind::Chat, summary, 4, vec![]);
                }
            }
            self.st.related.insert(pair(&c.agents[0], &c.agents[1]));
            let reason = if turns >= max_turns {
                "turn cap"
            } else {
                "ended by speaker"
            };
            self.log(TownEvent::ConversationEnded {
                id: conv,
                turns: turns as u32,
                reason: reason.into(),
            });
        }
    }

    /// Agent `id` starts doing `description` at `place` until `until`: the objects its last
    /// action used are released, and one its new action names a verb of is put to use.
    pub(super) fn start_action(
        &mut self,
        id: AgentId,
        description: String,
        place: String,
        until: SimTime,
    ) {
        let world = self.world();
        // Release objects the previous action used.
        if let Some(prev) = self.agent(id).action.clone() {
            for o in world.objects.iter().filter(|o| o.arena == prev.place) {
                if self
                    .st
                    .objects
                    .get(&o.path)
                    .is_some_and(|s| s == &prev.description)
                {
                    self.st.objects.insert(o.path.clone(), o.state.clone());
                    self.log(TownEvent::ObjectState {
                        object: o.path.clone(),
                        state: o.state.clone(),
                    });
                }
            }
        }
        let lower = description.to_lowercase();
        for o in world.objects.iter().filter(|o| o.arena == place) {
            if o.verbs.iter().any(|v| lower.contains(&v.to_lowercase())) {
                self.st.objects.insert(o.path.clone(), description.clone());
                self.log(TownEvent::ObjectState {
                    object: o.path.clone(),
                    state: description.clone(),
                });
                break;
            }
        }
        let minutes = (until.0.saturating_sub(self.st.time.0) / 60) as u32;
        let a = self.agent_mut(id);
        a.action = Some(Action {
            description: description.clone(),
            place: place.clone(),
            until,
        });
        a.path.clear();
        let agent = a.name.clone();
        self.log(TownEvent::ActionStarted {
            agent,
            emoji: emoji_for(&description),
            description,
            place,
            minutes,
        });
    }

    /// Starts the next queued action, or carries on with the block's activity until the block ends.
    pub(super) fn next_action(&mut self, id: AgentId) {
        let minute = self.minute();
        let now = self.st.time;
        let (block, end) = self.block_at(id, minute);
        let (desc, until) = match self.agent_mut(id).queue.pop_front() {
            Some((m, d)) => (d, SimTime(now.0 + u64::from(m) * 60)),
            None => {
                let left = u64::from(end.saturating_sub(minute).max(1)) * 60;
                (block.activity.clone(), SimTime(now.0 + left))
            }
        };
        self.start_action(id, desc, block.place, until);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;

    fn say(text: &str, end: bool) -> Option<ConverseReply> {
        Some(ConverseReply {
            utterance: text.into(),
            end,
        })
    }

    #[test]
    fn a_listener_learns_news_from_a_speaker_who_knows_it() {
        let mut f = Fixture::new(true, 7, 0);
        let (ann, ben) = (f.id("Ann"), f.id("Ben"));
        assert!(f.st.agent(ann).knows.contains("party"), "seeded knowledge");
        let mut t = f.tick();
        let conv = start_talk(&mut t, ann, "Ben");
        t.converse(ann, conv, say("Come to my party tonight!", true));
        assert!(t.agent(ben).knows.contains("party"));
        assert!(t.ev.iter().any(|e| matches!(
            &e.event,
            TownEvent::TopicLearned { agent, from: Some(from), .. } if agent == "Ben" && from == "Ann"
        )));
        let (who, m) = t.st.pending.last().expect("the listener remembers");
        assert_eq!((*who, m.importance), (ben, Some(7)));
        // One line is too short a conversation: it goes on despite `end`.
        assert_eq!(t.st.conversations[&conv].next, 1);
        // Ben does not know the topic, so his saying the word teaches nobody anything new.
        t.converse(ben, conv, say("A party? Lovely.", true));
        assert!(
            !t.st.conversations.contains_key(&conv),
            "ended after two lines"
        );
        assert_eq!(t.agent(ann).conversation, None);
        assert!(t.agent(ann).last_talk.contains_key("Ben"));
        assert!(t.st.related.contains(&pair("Ann", "Ben")));
        let summaries =
            t.st.pending
                .iter()
                .filter(|(_, m)| m.text.starts_with("I talked with"))
                .count();
        assert_eq!(summaries, 2, "both remember the conversation");
    }

    #[test]
    fn an_empty_or_failed_turn_ends_the_conversation() {
        let mut f = Fixture::new(false, 7, 0);
        let ann = f.id("Ann");
        let mut t = f.tick();
        let conv = start_talk(&mut t, ann, "Ben");
        t.converse(ann, conv, None);
        assert!(t.st.conversations.is_empty());
        assert!(matches!(
            t.ev.last().map(|e| &e.event),
            Some(TownEvent::ConversationEnded { turns: 0, .. })
        ));
    }

    #[test]
    fn an_action_puts_an_object_to_use_and_the_next_releases_it() {
        let mut f = Fixture::new(false, 7, 0);
        let cal = f.id("Cal");
        let later = SimTime(f.st.time.0 + 600);
        let mut t = f.tick();
        t.start_action(cal, "cook pancakes".into(), "Cafe:room".into(), later);
        assert_eq!(t.st.objects["Cafe:room:stove"], "cook pancakes");
        assert!(matches!(
            t.ev.last().map(|e| &e.event),
            Some(TownEvent::ActionStarted { minutes: 10, .. })
        ));
        t.start_action(cal, "wipe the tables".into(), "Cafe:room".into(), later);
        assert_eq!(t.st.objects["Cafe:room:stove"], "idle");
    }
}
