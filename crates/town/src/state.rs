//! The world state: a plain, serialisable value that [`crate::Town::step`] advances. A checkpoint
//! is this value as JSON; nothing else is needed to continue a run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hamlet_core::town::{Learned, SimTime, Tile};
use hamlet_core::{MemoryId, MemoryKind};
use serde::{Deserialize, Serialize};

use crate::spec::Block;

/// One memory of an agent. The town keeps each agent's memory stream inside the world state, so a
/// checkpoint holds it and a resumed run continues from exactly the same memories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mem {
    pub id: MemoryId,
    pub kind: MemoryKind,
    pub text: String,
    pub created: SimTime,
    pub last_access: SimTime,
    pub importance: u8,
    #[serde(default)]
    pub evidence: Vec<MemoryId>,
}

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
    pub memories: Vec<Mem>,
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
}

/// Totals kept through a run (and through resumes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub calls: u64,
    pub failed: u64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub completion_tokens: u64,
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
    pub next_memory: MemoryId,
    /// Index of the next scenario event to inject.
    pub next_event: usize,
    pub counters: Counters,
    /// Pairs (sorted) related at the start (persona relationships).
    pub related_before: BTreeSet<(String, String)>,
    /// Pairs related now (before ∪ having talked).
    pub related: BTreeSet<(String, String)>,
    pub diffusion: BTreeMap<String, Vec<Learned>>,
    pub attendance: BTreeMap<String, BTreeSet<String>>,
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

    pub fn agent_index(&self, name: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.name == name)
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
