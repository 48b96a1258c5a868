//! Shared types and traits of Hamlet.
//!
//! Every other crate speaks through these: a [`GenerateRequest`] goes into an [`Llm`] and a
//! [`Completion`] comes out; texts go into an [`Embedder`] and vectors come out. The crate holds no
//! runtime and no model, so the agent loop, the town and the tools can be tested against the
//! deterministic doubles in [`testing`] while the real backends live in `hamlet-llm`. Its one piece
//! of I/O is [`journal`]: the JSONL format every run log is written and read in, kept here so the
//! agent, the town, the TUI and the trainer read a torn or broken file by the same rule.
//!
//! The traits are synchronous on purpose: an in-process model is CPU-bound and owns its thread, so
//! an async caller wraps a call in `spawn_blocking`; batching (many agents in one decode) is an
//! explicit [`Llm::generate_batch`] rather than something hidden behind concurrency.

pub mod chatml;
mod error;
pub mod journal;
mod llm;
pub mod memory;
mod schema;
pub mod score;
pub mod testing;
pub mod town;
pub mod trace;
mod usage;

pub use error::{Error, IoError, Result};
pub use llm::{
    l2_normalize, Completion, Embedder, FinishReason, GenerateRequest, Llm, Message, ModelInfo,
    Prompt, Role, Sampling, Timings,
};
pub use memory::{
    MemoryError, MemoryId, MemoryKind, MemoryRecord, MemoryResult, MemoryStream, NewMemory,
    RecallQuery, Recalled, SnapshotStream, TimeMs,
};
pub use schema::schema_of;
pub use usage::{line_of, now_ms, TokenUsage};
