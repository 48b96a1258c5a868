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
//! How it fits: [`AsyncMemoryStore`] is the store, async on the caller's tokio runtime (blocking
//! work such as embedding and index fsyncs goes to tokio's blocking pool). [`MemoryStore`] is a
//! thin blocking facade over it with a private runtime, and implements
//! [`hamlet_core::MemoryStream`], the trait the agent loop's `remember`/`recall` tools and the
//! town speak to. What the store shares with every other stream lives in `hamlet-core`: the
//! filter ([`RecallQuery::matches`](hamlet_core::RecallQuery::matches)), validation, fusion and
//! scoring ([`hamlet_core::score`]), the error ([`hamlet_core::MemoryError`]) and the
//! conformance suite ([`hamlet_core::testing::memory_stream_suite`]), so a second backend
//! (PostgreSQL) and the test double rank exactly as this one does.
//!
//! The layers, each behind its own seam: rows behind [`RecordStore`] ([`SqliteRecords`]); the
//! indexes derived from them behind [`DerivedIndex`] (tantivy and every [`VectorIndex`]), with
//! one repair loop and one rebuild loop for all. The store never calls a model: importance is
//! rated before a write by [`ImportanceRater`] (one batched call per write), or by wrapping a
//! stream in [`Rated`]; [`WorkingMemory`] summarises a full short-term buffer into any stream.
//! Reflection is the town's (it batches every agent's reflection into one decode).
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

mod blocking;
mod db;
mod error;
mod index;
mod ingest;
pub mod pg;
mod prompts;
mod rate;
mod recall;
mod records;
mod rt;
mod scores;
mod sqlite;
mod stats;
mod store;
mod text;
pub mod vector;
mod working;

pub use blocking::MemoryStore;
pub use db::{Db, Store};
pub use error::{Error, Result};
pub use hamlet_core::score::{self, Fusion, Scoring, Weights};
pub use index::DerivedIndex;
pub use ingest::abort_after_sqlite_commit_for_tests;
pub use pg::{PgStore, PgUrl};
pub use prompts::Prompts;
pub use rate::{ImportanceRater, Rated};
pub use recall::SearchMode;
pub use records::{NewRow, RecordStore, ScoreRow};
pub use sqlite::SqliteRecords;
pub use stats::Stats;
pub use store::{AsyncMemoryStore, MemoryConfig, VectorBackend};
pub use vector::{FlatIndex, QdrantIndex, VectorIndex, VectorPoint};
pub use working::WorkingMemory;
