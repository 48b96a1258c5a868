//! The seam between the store and where its rows live: [`RecordStore`], implemented on SQLite by
//! [`crate::SqliteRecords`].
//!
//! Why a trait: the rows are the source of truth, and the scale-out plan keeps them in PostgreSQL
//! (many processes on one database). Everything above this trait (validation, embedding, the
//! derived indexes, fusion and scoring, touching) is shared; a backend supplies transactional
//! inserts and the few reads retrieval needs. The methods are async: a store on the caller's
//! runtime never blocks a worker thread on the database.

use std::future::Future;

use hamlet_core::score::Candidate;
use hamlet_core::{MemoryId, MemoryRecord, NewMemory, RecallQuery, TimeMs};

use crate::Result;

/// A memory ready to be written: validated, importance decided, embedding computed.
#[derive(Debug, Clone)]
pub struct NewRow {
    /// The memory as the caller gave it (validated).
    pub memory: NewMemory,
    /// Its own importance, or the store's default.
    pub importance: u8,
    /// Unit length.
    pub embedding: Vec<f32>,
}

impl NewRow {
    /// The record this row becomes once stored as `id` (last accessed when created).
    pub fn into_record(self, id: MemoryId) -> MemoryRecord {
        self.memory.into_record(id, self.importance, self.embedding)
    }
}

/// The columns retrieval scores on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRow {
    pub id: MemoryId,
    pub importance: u8,
    pub last_accessed: TimeMs,
}

impl ScoreRow {
    /// The row as a candidate to rank with this raw relevance.
    pub fn candidate(self, relevance: f32) -> Candidate {
        Candidate {
            id: self.id,
            importance: self.importance,
            last_accessed: self.last_accessed,
            relevance,
        }
    }
}

/// Durable rows of the memory stream. Implementations are thread-safe; every method is one
/// round trip (or one transaction) to the backend.
pub trait RecordStore: Send + Sync + 'static {
    /// Writes `rows` in one transaction, durable when the future completes, and returns their
    /// ids (increasing, in order).
    fn insert(&self, rows: &[NewRow]) -> impl Future<Output = Result<Vec<MemoryId>>> + Send;

    /// Full records for `ids` (any order; missing ids are skipped).
    fn records(&self, ids: &[MemoryId]) -> impl Future<Output = Result<Vec<MemoryRecord>>> + Send;

    /// Records with ids above `after`, in id order, at most `limit` (index repair and rebuild).
    fn records_after(
        &self,
        after: MemoryId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MemoryRecord>>> + Send;

    /// The scoring columns of `ids`.
    fn score_rows(&self, ids: &[MemoryId]) -> impl Future<Output = Result<Vec<ScoreRow>>> + Send;

    /// Sets `last_accessed` of `ids` to `now`, never moving it backwards. May be less durable
    /// than `insert` (a crash may lose the newest access times, never a memory), and may be
    /// written back later: see [`RecordStore::write_access_times`].
    fn touch(&self, ids: &[MemoryId], now: TimeMs) -> impl Future<Output = Result<()>> + Send;

    /// Writes access times that [`RecordStore::touch`] holds back.
    fn write_access_times(&self) -> impl Future<Output = Result<()>> + Send;

    /// Ids of the newest memories passing `q`'s filter ([`RecallQuery::matches`]), newest first:
    /// the candidates of a query with no text.
    fn newest(
        &self,
        q: &RecallQuery,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MemoryId>>> + Send;

    /// The highest id stored (0 when empty).
    fn max_id(&self) -> impl Future<Output = Result<MemoryId>> + Send;

    /// Memories per (agent, kind), ordered by agent then kind.
    fn counts(&self) -> impl Future<Output = Result<Vec<(String, String, u64)>>> + Send;

    /// A fact about the store (`dim`, `embedder`).
    fn meta(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    fn set_meta(&self, key: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
}
