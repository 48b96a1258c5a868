//! Hamlet's town simulator: generative agents living a day in a tile world.
//!
//! Why this crate exists: Generative Agents ("Smallville") showed believable agents who plan,
//! talk, remember and spread news, at the price of thousands of sequential API calls. Here the
//! same cognition runs on a local model: every agent's request in a step goes to the backend as
//! one [`hamlet_core::Llm::generate_batch`], each agent's prompt keeps a stable prefix (its
//! persona, with its own `cache_key`) so its KV cache is reused, an agent busy with an action and
//! seeing nothing new costs no call, and every decision is grammar-constrained JSON so a 135M
//! model never breaks the format.
//!
//! How it fits: [`World`] (map, place tree, paths), [`Persona`] and [`Scenario`] are loaded and
//! validated from files; [`Town::step`] is a seeded step function over a plain [`WorldState`];
//! [`Run`] makes a run durable (event log in `hamlet_core::town`'s types, checkpoints, resume,
//! replay, with the agents' memory stream in the run directory and snapshotted with each
//! checkpoint); [`metrics`] computes diffusion, density, attendance and cost. The CLI (`hamlet sim`)
//! picks the backend; the TUI reads the event log through `hamlet_core::town` only.

pub mod decision;
mod error;
mod memory;
pub mod metrics;
mod prompts;
mod run;
mod sim;
mod spec;
mod state;
pub mod testing;
mod world;

pub use decision::{LlmTownModel, TownModel};
pub use error::{Error, Result};
pub use prompts::{Prompts, TEMPLATES};
pub use run::{
    load_town, replay, OpenMemory, Replay, Run, RunConfig, CHECKPOINT_FILE, MEMORY_DIR,
    METRICS_FILE, SVG_FILE,
};
pub use sim::{visible, SimConfig, Town};
pub use spec::{Block, Check, CheckKind, Gathering, Injected, Knowledge, Persona, Scenario, Topic};
pub use state::{Action, AgentState, Conversation, Counters, Note, WorldState, RECENT, SALIENT};
pub use world::{Object, World, STREET_ARENA, WORLD_FILE};
