//! Long-term memory for Hamlet's agents: a durable memory stream with vector and full-text
//! retrieval.
//!
//! Why this crate exists: an agent that lives for days of simulated time accumulates tens of
//! thousands of observations, and each step it must recall the few that matter. Generative Agents
//! keeps them in JSON files and rescans all of them per query (6.8 s at 100k memories on our
//! machine); here they live in SQLite (the source of truth, WAL, migrations) with two derived
//! indexes beside it: a vector index (embedded exact scan by default, or a Qdrant server) and a
//! tantivy BM25 index. Retrieval over-fetches candidates from both, fuses their relevance and
//! scores with recency and importance, in about a millisecond at 100k.
//!
//! How it fits: [`MemoryStore`] implements [`hamlet_core::MemoryStream`], the trait the agent
//! loop's `remember`/`recall` tools and the town speak to. It takes an
//! [`Embedder`](hamlet_core::Embedder) for vectors and optionally an [`Llm`](hamlet_core::Llm)
//! to rate importance, reflect ([`MemoryStore::reflect`]) and summarise a full working buffer
//! ([`WorkingMemory`]). The API is synchronous like those traits; the tokio runtime that sqlx
//! and qdrant-client need is hidden inside.
//!
//! Durability: a memory is committed to SQLite before `add` returns. Each index records a
//! watermark (the highest id it holds) in the same commit as its data; on open, rows above an
//! index's watermark are re-applied, so a crash between the commits loses nothing.
//! `MemoryStore::rebuild` rebuilds both indexes from SQLite.
//!
//! ```no_run
//! use std::sync::Arc;
//! use hamlet_core::{testing::HashEmbedder, MemoryKind, MemoryStream, NewMemory, RecallQuery};
//! use hamlet_memory::MemoryStore;
//!
//! let store = MemoryStore::open("memory-db", Arc::new(HashEmbedder::new(64)))?;
//! store.add(NewMemory::new("ada", MemoryKind::Observation, "The cafe opens at seven", 0).importance(3))?;
//! let hits = store.recall(&RecallQuery::new("when does the cafe open?", 5, 60_000).agent("ada"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod db;
mod error;
mod ingest;
mod prompts;
mod recall;
mod reflect;
mod rt;
pub mod score;
mod stats;
mod store;
mod text;
pub mod vector;
mod working;

pub use error::{Error, Result};
pub use ingest::abort_after_sqlite_commit_for_tests;
pub use prompts::Prompts;
pub use recall::SearchMode;
pub use reflect::{Reflection, ReflectionConfig};
pub use score::{Fusion, Scoring, Weights};
pub use stats::Stats;
pub use store::{MemoryConfig, MemoryStore, VectorBackend};
pub use vector::{FlatIndex, QdrantIndex, VectorFilter, VectorIndex, VectorPoint};
pub use working::WorkingMemory;
