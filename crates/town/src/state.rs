//! The world state: a plain, serialisable value that [`crate::Town::step`] advances. A checkpoint
//! is this value as JSON plus a snapshot of the memory stream; nothing else is needed to continue
//! a run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hamlet_core::town::{Learned, SimTime, Tile};
use hamlet_core::{MemoryId, NewMemory, TokenUsage};
use serde::{Deserialize, Serialize};

use crate::spec::Block;

/// A memory an agent keeps at hand: its id in the memory stream, importance and text. The stream
/// itself (`RUN_DIR/memory`, searched by embeddings, BM25, recency and importance) holds every
/// memory; the world state keeps only these short lists, so a checkpoint stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: MemoryId,
    pub importance: u8,
    pub text: String,
}

/// How many of an agent's newest memories stay at hand (the evidence a reflection draws on).
pub const RECENT: usize = 12;
/// How many of an agent's most important memories stay on its mind.
pub const SALIENT: usize = 4;

/// What an agent is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub description: String,
    /// Arena path.
    pub place: String,
    pub until: SimTime,
}

/// One agent's mutable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub name: String,
    pub tile: Tile,
    /// Tiles still to walk, next first.
    pub path: VecDeque<Tile>,
    pub asleep: bool,
    /// The day the current schedule was planned for (0: never).
    pub planned_day: u32,
    /// Today's hourly schedule (routine merged with the day plan), sorted by start.
    pub schedule: Vec<Block>,
    /// (day, block start) of the block whose actions are queued.
    pub block: Option<(u32, u32)>,
    /// Actions of the current block still to do: (minutes, description).
    pub queue: VecDeque<(u32, String)>,
    pub action: Option<Action>,
    pub conversation: Option<u64>,
    /// When this agent last talked with each other agent.
    pub last_talk: BTreeMap<String, SimTime>,
    /// Agents perceived in the previous step.
    pub in_view: BTreeSet<String>,
    /// Someone newly seen whom the agent has not yet decided whether to talk to (kept while a
    /// more urgent decision, like planning, takes the agent's turn).
    #[serde(default)]
    pub to_greet: Option<String>,
    /// Importance perceived since the last reflection.
    pub since_reflect: u32,
    /// Scenario topics this agent knows.
    pub knows: BTreeSet<String>,
    /// The newest memories, oldest first (at most [`RECENT`]).
    pub recent: VecDeque<Note>,
    /// The most important memories (importance 6 and up), most important first (at most
    /// [`SALIENT`]): what is on the agent's mind when it talks.
    pub salient: Vec<Note>,
    /// What the agent last saw of each object in view, so only changes become observations.
    #[serde(default)]
    pub seen_objects: BTreeMap<String, String>,
    /// When the agent last reacted to something it noticed (reactions are rate-limited).
    #[serde(default)]
    pub last_notice: Option<SimTime>,
}

/// An open conversation between two agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: u64,
    pub agents: [String; 2],
    pub place: String,
    /// Index into `agents` of who speaks next.
    pub next: usize,
    pub lines: Vec<(String, String)>,
    /// What each speaker recalled at its first turn, kept for the whole conversation: its later
    /// prompts then extend the earlier ones, and the backend reuses their KV cache.
    #[serde(default)]
    pub recalled: BTreeMap<String, Vec<String>>,
}

/// Totals kept through a run (and through resumes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub calls: u64,
    pub failed: u64,
    #[serde(flatten)]
    pub tokens: TokenUsage,
    pub conversations: u64,
    pub utterances: u64,
    pub memories: u64,
    pub reflections: u64,
    /// Steps taken (agent-steps = steps × agents).
    pub steps: u64,
}

/// The whole mutable world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldState {
    pub step: u64,
    pub time: SimTime,
    pub start: SimTime,
    pub seed: u64,
    /// SplitMix64 state: every random choice comes from here.
    pub rng: u64,
    /// Sorted by name.
    pub agents: Vec<AgentState>,
    pub objects: BTreeMap<String, String>,
    pub conversations: BTreeMap<u64, Conversation>,
    pub next_conversation: u64,
    /// Index of the next scenario event to inject.
    pub next_event: usize,
    pub counters: Counters,
    /// Pairs (sorted) related at the start (persona relationships).
    pub related_before: BTreeSet<(String, String)>,
    /// Pairs related now (before ∪ having talked).
    pub related: BTreeSet<(String, String)>,
    pub diffusion: BTreeMap<String, Vec<Learned>>,
    pub attendance: BTreeMap<String, BTreeSet<String>>,
    /// Memories decided this step and not yet written to the stream (always empty between
    /// steps, so never part of a checkpoint).
    #[serde(skip)]
    pub pending: Vec<(AgentId, NewMemory)>,
}

/// An agent of a run: its place in [`WorldState::agents`] and [`crate::Town::personas`], which
/// are both sorted by name. Only a [`WorldState`] hands them out (by name or in order), so an id
/// always names an agent of the run it came from; a name is for the log and the prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(usize);

impl AgentId {
    /// The position in the run's name-sorted agent lists.
    pub fn index(self) -> usize {
        self.0
    }
}

impl WorldState {
    /// The next random number (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The agent named `name`, if it is in this run.
    pub fn id_of(&self, name: &str) -> Option<AgentId> {
        self.agents.iter().position(|a| a.name == name).map(AgentId)
    }

    /// Every agent of the run, in name order (the order a step visits them in).
    pub fn ids(&self) -> impl Iterator<Item = AgentId> {
        (0..self.agents.len()).map(AgentId)
    }

    pub fn agent(&self, id: AgentId) -> &AgentState {
        &self.agents[id.0]
    }

    pub fn agent_mut(&mut self, id: AgentId) -> &mut AgentState {
        &mut self.agents[id.0]
    }
}

/// A sorted pair, so (a, b) and (b, a) are the same relationship.
pub fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}
