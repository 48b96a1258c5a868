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
//! 4. the requests go to [`Llm::generate_batch`] together, each with the agent's cache key and a
//!    JSON Schema, and the replies are applied (a failed reply falls back to the routine);
//! 5. agents walk one tile along their shortest paths and actions advance.

use std::collections::{BTreeSet, VecDeque};

use hamlet_core::town::{
    AgentInfo, EventRecord, Learned, PlanItem, PlanLevel, SimTime, Tile, TownEvent,
};
use hamlet_core::{GenerateRequest, Llm, MemoryKind, MemoryStream, Message, Sampling, TokenUsage};
use serde_json::{json, Value};

use crate::memory::{self, recall};
use crate::prompts::Prompts;
use crate::spec::{Block, Persona, Scenario};
use crate::state::{pair, Action, AgentState, Conversation, Counters, WorldState};
use crate::world::World;
use crate::Result;

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
        let mut ev = vec![self.rec(
            &st,
            TownEvent::RunStarted {
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
            },
        )];
        if let Some(sc) = &self.scenario {
            for k in &sc.knowledge {
                if let Some(i) = st.agent_index(&k.agent) {
                    self.remember(
                        &mut st,
                        i,
                        MemoryKind::Observation,
                        k.text.clone(),
                        k.importance,
                        vec![],
                    );
                    if let Some(t) = &k.topic {
                        self.learn(&mut st, &mut ev, i, t, None, None);
                    }
                }
            }
        }
        memory::flush(&mut st, &mut ev, mem)?;
        Ok((st, ev))
    }

    fn rec(&self, st: &WorldState, event: TownEvent) -> EventRecord {
        EventRecord {
            step: st.step,
            time: st.time,
            event,
        }
    }

    /// Queues a memory for agent `i`; it is written (and logged) at the next flush of the step.
    fn remember(
        &self,
        st: &mut WorldState,
        i: usize,
        kind: MemoryKind,
        text: String,
        importance: u8,
        evidence: Vec<i64>,
    ) {
        memory::queue(st, i, kind, text, importance, evidence);
    }

    fn learn(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        topic: &str,
        from: Option<String>,
        conversation: Option<u64>,
    ) {
        if !st.agents[i].knows.insert(topic.to_string()) {
            return;
        }
        let agent = st.agents[i].name.clone();
        st.diffusion
            .entry(topic.to_string())
            .or_default()
            .push(Learned {
                agent: agent.clone(),
                time: st.time,
                from: from.clone(),
            });
        ev.push(self.rec(
            st,
            TownEvent::TopicLearned {
                agent,
                topic: topic.to_string(),
                from,
                conversation,
            },
        ));
    }

    /// Advances the world by one step. All model requests of the step go to `llm` as one batch;
    /// memories go to `mem` in two batches (after perception, and at the end).
    pub fn step(
        &self,
        st: &mut WorldState,
        llm: &dyn Llm,
        mem: &dyn MemoryStream,
    ) -> Result<Vec<EventRecord>> {
        st.step += 1;
        st.time = SimTime(st.time.0 + u64::from(self.world.step_secs));
        st.counters.steps += 1;
        let span = tracing::info_span!("tick", step = st.step, time = %st.time);
        let _enter = span.enter();
        let mut ev = vec![self.rec(st, TownEvent::Tick)];
        self.inject(st, &mut ev);
        let mut needs: Vec<(usize, Need)> = Vec::new();
        for i in 0..st.agents.len() {
            if let Some(n) = self.perceive_and_need(st, &mut ev, i) {
                needs.push((i, n));
            }
        }
        memory::flush(st, &mut ev, mem)?;
        // Conversation turns are needed by whoever speaks next.
        for conv in st.conversations.values() {
            if let Some(i) = st.agent_index(&conv.agents[conv.next]) {
                needs.retain(|(j, _)| *j != i);
                needs.push((i, Need::Converse(conv.id)));
            }
        }
        needs.sort_by_key(|(i, _)| *i);
        for (i, need) in &needs {
            if let Need::Converse(id) = need {
                self.recall_for_conversation(st, mem, *i, *id)?;
            }
        }
        if !needs.is_empty() {
            let requests: Vec<GenerateRequest> = needs
                .iter()
                .map(|(i, n)| self.request(st, mem, *i, n))
                .collect::<Result<_>>()?;
            let replies = llm.generate_batch(&requests);
            let (mut usage, mut failed) = (TokenUsage::default(), 0u32);
            for ((i, need), reply) in needs.into_iter().zip(replies) {
                let json = match reply {
                    Ok(c) => {
                        usage += c.usage;
                        c.json
                    }
                    Err(e) => {
                        tracing::warn!(agent = %st.agents[i].name, error = %e, "model reply failed; falling back");
                        None
                    }
                };
                if json.is_none() {
                    failed += 1;
                }
                self.apply(st, &mut ev, i, need, json.unwrap_or(Value::Null));
            }
            let n = requests.len() as u32;
            st.counters.calls += u64::from(n);
            st.counters.failed += u64::from(failed);
            st.counters.tokens += usage;
            ev.push(self.rec(
                st,
                TownEvent::ModelBatch {
                    requests: n,
                    usage,
                    failed,
                },
            ));
        }
        for i in 0..st.agents.len() {
            self.advance(st, &mut ev, i);
        }
        self.attend(st);
        memory::flush(st, &mut ev, mem)?;
        Ok(ev)
    }

    fn inject(&self, st: &mut WorldState, ev: &mut Vec<EventRecord>) {
        let Some(sc) = &self.scenario else { return };
        while let Some(e) = sc.events.get(st.next_event) {
            if e.at > st.time {
                break;
            }
            st.next_event += 1;
            let mut who: Vec<usize> = e.agents.iter().filter_map(|n| st.agent_index(n)).collect();
            if let Some(place) = &e.place {
                for (i, a) in st.agents.iter().enumerate() {
                    if self.world.tile_in(a.tile, place) && !who.contains(&i) {
                        who.push(i);
                    }
                }
            }
            who.sort();
            ev.push(self.rec(
                st,
                TownEvent::EventInjected {
                    description: e.description.clone(),
                    place: e.place.clone(),
                    agents: who.iter().map(|i| st.agents[*i].name.clone()).collect(),
                },
            ));
            for i in who {
                self.remember(
                    st,
                    i,
                    MemoryKind::Observation,
                    e.description.clone(),
                    8,
                    vec![],
                );
                if let Some(t) = &e.topic {
                    self.learn(st, ev, i, t, None, None);
                }
                // Big news re-plans the day (Generative Agents' reaction re-plans the window).
                st.agents[i].planned_day = 0;
            }
        }
    }

    fn minute(&self, st: &WorldState) -> u32 {
        (st.time.of_day() / 60) as u32
    }

    fn awake(&self, p: &Persona, minute: u32) -> bool {
        if p.wake <= p.sleep {
            minute >= p.wake && minute < p.sleep
        } else {
            minute >= p.wake || minute < p.sleep
        }
    }

    /// The block of today's schedule that holds `minute` (before the first: at home).
    fn block_at(&self, a: &AgentState, p: &Persona, minute: u32) -> (Block, u32) {
        let mut cur = Block {
            start: p.wake,
            place: p.home.clone(),
            activity: "get ready for the day at home".into(),
        };
        let mut end = 24 * 60;
        for b in &a.schedule {
            if b.start <= minute {
                cur = b.clone();
            } else {
                end = b.start;
                break;
            }
        }
        (cur, end.min(p.sleep.max(p.wake)))
    }

    fn perceive_and_need(
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
    fn perceive_objects(&self, st: &mut WorldState, i: usize) -> Option<String> {
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
    fn recall_for_conversation(
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

    fn place_enum(&self) -> Vec<String> {
        self.world.arenas.keys().cloned().collect()
    }

    fn request(
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

    fn apply(
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

    fn converse(
        &self,
        st: &mut WorldState,
        ev: &mut Vec<EventRecord>,
        i: usize,
        id: u64,
        reply: Value,
    ) {
        let Some(conv) = st.conversations.get(&id).cloned() else {
            return;
        };
        let speaker = conv.agents[conv.next].clone();
        let listener = conv.agents[1 - conv.next].clone();
        let text = reply
            .get("utterance")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
            .to_string();
        let mut end = reply.get("end").and_then(Value::as_bool).unwrap_or(true);
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

    fn start_action(
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
    fn next_action(&self, st: &mut WorldState, ev: &mut Vec<EventRecord>, i: usize) {
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
    fn advance(&self, st: &mut WorldState, ev: &mut Vec<EventRecord>, i: usize) {
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

    fn attend(&self, st: &mut WorldState) {
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

    /// The tile of agent `name` (for tests).
    pub fn tile_of(st: &WorldState, name: &str) -> Option<Tile> {
        st.agents.iter().find(|a| a.name == name).map(|a| a.tile)
    }
}
