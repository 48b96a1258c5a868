//! The step function: one slice of game time for every agent, with all model requests of the
//! step sent as one batch.
//!
//! A step runs in five phases, always in agent-name order so a seed fixes the result:
//! 1. the clock advances and due scenario events are injected;
//! 2. each agent wakes or sleeps, perceives (vision radius, attention bandwidth) and writes what
//!    is new as observations;
//! 3. each agent needs at most one model decision: a conversation turn, a day plan at wake-up, the
//!    5–15 minute steps of a new hourly block, whether to talk to someone newly seen, whether
//!    something it noticed changes what it is doing (reaction re-plans the next minutes), or a
//!    reflection; an agent in the middle of an action with nothing new costs nothing;
//! 4. the decisions (typed [`crate::decision::Ask`]s, each rendered with the agent's cache key and
//!    its reply's JSON Schema) go to the [`TownModel`] together, and the typed replies are applied
//!    (a failed reply falls back to the routine);
//! 5. agents walk one tile along their shortest paths and actions advance.
//!
//! [`Town::step`] here runs the phases in that order over a [`Tick`] (the step in progress), each
//! phase a method taking the [`AgentId`] it acts for: phase 2 is in `perceive.rs`, phases 3–4
//! (requests and replies) in `decide.rs`, acting out a reply (a conversation turn, a new action)
//! in `act.rs`, phase 5 in `movement.rs`.

use std::collections::{BTreeSet, VecDeque};

use hamlet_core::town::{
    AgentInfo, EventRecord, Learned, PlanItem, PlanLevel, SimTime, Tile, TownEvent,
};
use hamlet_core::{GenerateRequest, MemoryKind, MemoryStream, Message, Sampling, TokenUsage};
use serde_json::{json, Value};

use crate::decision::TownModel;
use crate::memory::{self, recall};
use crate::prompts::Prompts;
use crate::spec::{Block, Persona, Scenario};
use crate::state::{pair, Action, AgentId, AgentState, Conversation, Counters, WorldState};
use crate::world::World;
use crate::Result;

mod act;
mod decide;
#[cfg(test)]
mod fixture;
mod movement;
mod perceive;

/// Tunables of the simulation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Utterances after which a conversation ends (Generative Agents: about 8).
    pub max_turns: usize,
    /// Minutes before two agents who talked may start another conversation.
    pub talk_cooldown_mins: u64,
    /// Summed importance that triggers a reflection (Generative Agents: 150).
    pub reflect_threshold: u32,
    /// Minutes after reacting to something noticed before an agent considers reacting again.
    pub notice_cooldown_mins: u64,
    pub sampling: Sampling,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            max_turns: 8,
            talk_cooldown_mins: 120,
            reflect_threshold: 150,
            notice_cooldown_mins: 60,
            // Greedy (so a seed fixes the run), with a mild repetition penalty: the 135M model
            // otherwise fills strings with repeated numbers.
            sampling: Sampling {
                repeat_penalty: 1.1,
                ..Sampling::greedy()
            },
        }
    }
}

/// Everything that does not change during a run: the world, the chosen personas (sorted by name,
/// the same order as [`WorldState::agents`]), the scenario and the prompts.
pub struct Town {
    pub world: World,
    pub personas: Vec<Persona>,
    pub scenario: Option<Scenario>,
    pub prompts: Prompts,
    pub config: SimConfig,
    systems: Vec<String>,
}

/// What one agent asks the model this step.
#[derive(Debug, Clone)]
enum Need {
    Converse(u64),
    PlanDay,
    Decompose(Block, u32),
    React(String),
    /// Something the agent noticed (an object someone else put to use): does it change what the
    /// agent is doing?
    Notice(String),
    Reflect(Vec<i64>),
}

fn emoji_for(desc: &str) -> Option<String> {
    let d = desc.to_lowercase();
    let table = [
        ("sleep", "😴"),
        ("party", "🎉"),
        ("eat", "🍽"),
        ("breakfast", "🍳"),
        ("lunch", "🍽"),
        ("dinner", "🍽"),
        ("cook", "🍳"),
        ("coffee", "☕"),
        ("talk", "💬"),
        ("read", "📚"),
        ("study", "📚"),
        ("write", "✏"),
        ("paint", "🎨"),
        ("walk", "🚶"),
        ("work", "💼"),
    ];
    table
        .iter()
        .find(|(k, _)| d.contains(k))
        .map(|(_, e)| e.to_string())
}

/// Perception: the agents agent `me` sees, nearest first (ties by name), within the world's vision
/// radius and up to its attention bandwidth.
pub fn visible(world: &World, me: usize, agents: &[(String, Tile)]) -> Vec<String> {
    let Some((_, at)) = agents.get(me) else {
        return Vec::new();
    };
    let mut seen: Vec<(u16, &str)> = agents
        .iter()
        .enumerate()
        .filter(|(j, (_, t))| *j != me && t.dist(*at) <= world.vision)
        .map(|(_, (n, t))| (t.dist(*at), n.as_str()))
        .collect();
    seen.sort();
    seen.truncate(world.attention);
    seen.into_iter().map(|(_, n)| n.to_string()).collect()
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

impl Town {
    pub fn new(
        world: World,
        mut personas: Vec<Persona>,
        scenario: Option<Scenario>,
        prompts: Prompts,
        config: SimConfig,
    ) -> Result<Town> {
        personas.sort_by(|a, b| a.name.cmp(&b.name));
        let mut systems = Vec::new();
        for p in &personas {
            let rel: Vec<Value> = p
                .relationships
                .iter()
                .filter(|(n, _)| personas.iter().any(|q| &q.name == *n))
                .map(|(n, about)| json!({"name": n, "about": about}))
                .collect();
            systems.push(prompts.render(
                "system",
                json!({
                    "name": p.name, "age": p.age, "occupation": p.occupation, "town": world.name,
                    "traits": p.traits.join(", "), "description": p.description, "relationships": rel,
                }),
            )?);
        }
        Ok(Town {
            world,
            personas,
            scenario,
            prompts,
            config,
            systems,
        })
    }

    /// The state at `start`, and the events that open the log. The scenario's starting knowledge
    /// is written to `mem`.
    pub fn init(
        &self,
        seed: u64,
        start: SimTime,
        until: SimTime,
        mem: &dyn MemoryStream,
    ) -> Result<(WorldState, Vec<EventRecord>)> {
        let mut st = WorldState {
            step: 0,
            time: start,
            start,
            seed,
            rng: seed ^ 0x005E_ED0F_7057,
            agents: self
                .personas
                .iter()
                .map(|p| AgentState {
                    name: p.name.clone(),
                    tile: p.spawn,
                    path: VecDeque::new(),
                    asleep: true,
                    planned_day: 0,
                    schedule: Vec::new(),
                    block: None,
                    queue: VecDeque::new(),
                    action: None,
                    conversation: None,
                    last_talk: Default::default(),
                    in_view: BTreeSet::new(),
                    to_greet: None,
                    since_reflect: 0,
                    knows: BTreeSet::new(),
                    recent: VecDeque::new(),
                    salient: Vec::new(),
                    seen_objects: Default::default(),
                    last_notice: None,
                })
                .collect(),
            objects: self
                .world
                .objects
                .iter()
                .map(|o| (o.path.clone(), o.state.clone()))
                .collect(),
            conversations: Default::default(),
            next_conversation: 1,
            next_event: 0,
            counters: Counters::default(),
            related_before: BTreeSet::new(),
            related: BTreeSet::new(),
            diffusion: Default::default(),
            attendance: Default::default(),
            pending: Vec::new(),
        };
        for p in &self.personas {
            for other in p.relationships.keys() {
                if self.personas.iter().any(|q| &q.name == other) {
                    st.related_before.insert(pair(&p.name, other));
                }
            }
        }
        st.related = st.related_before.clone();
        let mut tick = Tick::new(self, &mut st);
        tick.log(TownEvent::RunStarted {
            world: self.world.name.clone(),
            scenario: self.scenario.as_ref().map(|s| s.name.clone()),
            seed,
            step_secs: self.world.step_secs,
            start,
            until,
            map: self.world.rows.clone(),
            legend: self.world.legend.clone(),
            places: self.world.places(),
            agents: self
                .personas
                .iter()
                .map(|p| AgentInfo {
                    name: p.name.clone(),
                    initials: p.initials(),
                    age: p.age,
                    occupation: p.occupation.clone(),
                    home: p.home.clone(),
                    tile: p.spawn,
                })
                .collect(),
        });
        if let Some(sc) = &self.scenario {
            for k in &sc.knowledge {
                if let Some(id) = tick.st.id_of(&k.agent) {
                    tick.remember(
                        id,
                        MemoryKind::Observation,
                        k.text.clone(),
                        k.importance,
                        vec![],
                    );
                    if let Some(t) = &k.topic {
                        tick.learn(id, t, None, None);
                    }
                }
            }
        }
        tick.flush(mem)?;
        let ev = tick.ev;
        Ok((st, ev))
    }

    /// Advances the world by one step. All decisions of the step go to `model` as one batch;
    /// memories go to `mem` in two batches (after perception, and at the end).
    pub fn step(
        &self,
        st: &mut WorldState,
        model: &dyn TownModel,
        mem: &dyn MemoryStream,
    ) -> Result<Vec<EventRecord>> {
        st.step += 1;
        st.time = SimTime(st.time.0 + u64::from(self.world.step_secs));
        st.counters.steps += 1;
        let span = tracing::info_span!("tick", step = st.step, time = %st.time);
        let _enter = span.enter();
        let mut tick = Tick::new(self, st);
        tick.log(TownEvent::Tick);
        tick.inject();
        // Perceive (perceive.rs): what each agent sees, and the one decision it needs, if any.
        let mut needs = Vec::new();
        for id in tick.st.ids() {
            if let Some(need) = tick.perceive(id) {
                needs.push((id, need));
            }
        }
        tick.flush(mem)?;
        // Decide (decide.rs): every need of the step goes to the model as one batch, and each
        // typed reply is applied; a conversation turn is acted out there (act.rs).
        tick.decide(needs, model, mem)?;
        // Move (movement.rs): actions advance and agents walk one tile.
        for id in tick.st.ids() {
            tick.advance(id);
        }
        tick.attend();
        tick.flush(mem)?;
        Ok(tick.ev)
    }

    /// The tile of agent `name` (for tests).
    pub fn tile_of(st: &WorldState, name: &str) -> Option<Tile> {
        st.agents.iter().find(|a| a.name == name).map(|a| a.tile)
    }
}

/// One step in progress: the town (what does not change), the world state it advances and the
/// events it has logged so far. Every phase is a method of this, taking the [`AgentId`] it acts
/// for, so the step reads as the sequence of phases in [`Town::step`].
struct Tick<'a> {
    town: &'a Town,
    st: &'a mut WorldState,
    ev: Vec<EventRecord>,
}

impl<'a> Tick<'a> {
    fn new(town: &'a Town, st: &'a mut WorldState) -> Tick<'a> {
        Tick {
            town,
            st,
            ev: Vec::new(),
        }
    }

    fn world(&self) -> &'a World {
        &self.town.world
    }

    fn scenario(&self) -> Option<&'a Scenario> {
        self.town.scenario.as_ref()
    }

    fn config(&self) -> &'a SimConfig {
        &self.town.config
    }

    fn persona(&self, id: AgentId) -> &'a Persona {
        &self.town.personas[id.index()]
    }

    fn agent(&self, id: AgentId) -> &AgentState {
        self.st.agent(id)
    }

    fn agent_mut(&mut self, id: AgentId) -> &mut AgentState {
        self.st.agent_mut(id)
    }

    fn name(&self, id: AgentId) -> String {
        self.agent(id).name.clone()
    }

    /// Appends an event, stamped with the step and the time.
    fn log(&mut self, event: TownEvent) {
        self.ev.push(EventRecord {
            step: self.st.step,
            time: self.st.time,
            event,
        });
    }

    /// Queues a memory for agent `id`; it is written (and logged) at the next flush of the step.
    fn remember(
        &mut self,
        id: AgentId,
        kind: MemoryKind,
        text: String,
        importance: u8,
        evidence: Vec<i64>,
    ) {
        memory::queue(self.st, id, kind, text, importance, evidence);
    }

    /// Writes the memories queued so far (see [`memory::flush`]).
    fn flush(&mut self, mem: &dyn MemoryStream) -> Result<()> {
        memory::flush(self.st, &mut self.ev, mem)
    }

    fn learn(&mut self, id: AgentId, topic: &str, from: Option<String>, conversation: Option<u64>) {
        if !self.agent_mut(id).knows.insert(topic.to_string()) {
            return;
        }
        let agent = self.name(id);
        let time = self.st.time;
        self.st
            .diffusion
            .entry(topic.to_string())
            .or_default()
            .push(Learned {
                agent: agent.clone(),
                time,
                from: from.clone(),
            });
        self.log(TownEvent::TopicLearned {
            agent,
            topic: topic.to_string(),
            from,
            conversation,
        });
    }

    /// Phase 1: the scenario events that are due become memories of the agents they reach.
    fn inject(&mut self) {
        let Some(sc) = self.scenario() else {
            return;
        };
        while let Some(e) = sc.events.get(self.st.next_event) {
            if e.at > self.st.time {
                break;
            }
            self.st.next_event += 1;
            let mut who: Vec<AgentId> = e.agents.iter().filter_map(|n| self.st.id_of(n)).collect();
            if let Some(place) = &e.place {
                for id in self.st.ids() {
                    if self.world().tile_in(self.agent(id).tile, place) && !who.contains(&id) {
                        who.push(id);
                    }
                }
            }
            who.sort();
            let agents = who.iter().map(|id| self.name(*id)).collect();
            self.log(TownEvent::EventInjected {
                description: e.description.clone(),
                place: e.place.clone(),
                agents,
            });
            for id in who {
                self.remember(
                    id,
                    MemoryKind::Observation,
                    e.description.clone(),
                    8,
                    vec![],
                );
                if let Some(t) = &e.topic {
                    self.learn(id, t, None, None);
                }
                // Big news re-plans the day (Generative Agents' reaction re-plans the window).
                self.agent_mut(id).planned_day = 0;
            }
        }
    }

    fn minute(&self) -> u32 {
        (self.st.time.of_day() / 60) as u32
    }

    fn awake(&self, p: &Persona, minute: u32) -> bool {
        if p.wake <= p.sleep {
            minute >= p.wake && minute < p.sleep
        } else {
            minute >= p.wake || minute < p.sleep
        }
    }

    /// The block of today's schedule that holds `minute` (before the first: at home).
    fn block_at(&self, id: AgentId, minute: u32) -> (Block, u32) {
        let p = self.persona(id);
        let mut cur = Block {
            start: p.wake,
            place: p.home.clone(),
            activity: "get ready for the day at home".into(),
        };
        let mut end = 24 * 60;
        for b in &self.agent(id).schedule {
            if b.start <= minute {
                cur = b.clone();
            } else {
                end = b.start;
                break;
            }
        }
        (cur, end.min(p.sleep.max(p.wake)))
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;
    use crate::testing::TownFake;

    #[test]
    fn a_due_event_reaches_those_at_its_place_and_replans_their_day() {
        let mut f = Fixture::new(true, 8, 0);
        let cal = f.id("Cal");
        f.st.agent_mut(cal).planned_day = 1;
        let mut t = f.tick();
        t.inject();
        assert_eq!(t.st.next_event, 1);
        let reached: Vec<_> =
            t.st.pending
                .iter()
                .map(|(who, m)| (*who, m.importance))
                .collect();
        assert_eq!(reached, [(cal, Some(8))], "only Cal is at the cafe");
        assert_eq!(t.agent(cal).planned_day, 0);
        t.inject();
        assert_eq!(t.st.pending.len(), 1, "an event is injected once");
    }

    #[test]
    fn a_step_runs_the_phases_and_leaves_nothing_pending() {
        let mut f = Fixture::new(true, 7, 0);
        let model = TownFake::new();
        let ev = f.town.step(&mut f.st, &model, &f.mem).expect("step");
        assert!(matches!(
            ev.first().map(|e| &e.event),
            Some(TownEvent::Tick)
        ));
        assert_eq!(model.batches(), 1, "one batch for the step");
        assert_eq!(model.calls(), 3, "everyone plans the day");
        assert!(f.st.pending.is_empty());
        assert!(f.st.agents.iter().all(|a| a.planned_day == 1));
    }
}
