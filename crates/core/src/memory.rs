//! Memory records and the long-term memory interface.
//!
//! `hamlet-memory` implements [`MemoryStream`] durably (SQLite + vector index + BM25); the agent
//! loop's `remember`/`recall` tools and the town's agents speak only to this trait, so they can be
//! tested against [`crate::testing::VecMemory`] and run on the real store unchanged.
//!
//! Times are milliseconds since the Unix epoch. The town passes its simulated clock (converted to
//! the same unit), the agent loop passes wall time; recency decays per hour of whichever is given.

use std::error::Error as StdError;

use serde::{Deserialize, Serialize};

/// Identifier of a stored memory (assigned by the store, increasing).
pub type MemoryId = i64;

/// Milliseconds since the Unix epoch (wall or simulated time).
pub type TimeMs = i64;

/// What a memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Something perceived (an event, an object state, another agent's action).
    Observation,
    /// An insight derived from other memories (see [`MemoryRecord::evidence`]).
    Reflection,
    /// A plan or schedule item.
    Plan,
    /// A conversation (or a summary of one).
    Chat,
    /// The result of a tool call, or a fact the agent chose to remember.
    ToolResult,
}

impl MemoryKind {
    pub const ALL: [MemoryKind; 5] = [
        MemoryKind::Observation,
        MemoryKind::Reflection,
        MemoryKind::Plan,
        MemoryKind::Chat,
        MemoryKind::ToolResult,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Observation => "observation",
            MemoryKind::Reflection => "reflection",
            MemoryKind::Plan => "plan",
            MemoryKind::Chat => "chat",
            MemoryKind::ToolResult => "tool_result",
        }
    }

    /// Parses the snake_case name; the error lists the valid names.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        MemoryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = MemoryKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown memory kind {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    pub id: MemoryId,
    /// The agent whose memory this is.
    pub agent: String,
    pub kind: MemoryKind,
    pub text: String,
    pub created: TimeMs,
    pub last_accessed: TimeMs,
    /// 1 (mundane) to 10 (poignant).
    pub importance: u8,
    /// Unit-length embedding of `text` (empty when the store keeps vectors elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embedding: Vec<f32>,
    /// The memories a reflection rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<MemoryId>,
    /// After this time the memory is no longer recalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<TimeMs>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A memory to store. The store fills in the id, the embedding and (when `importance` is `None`)
/// the importance rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    pub agent: String,
    pub kind: MemoryKind,
    pub text: String,
    pub created: TimeMs,
    #[serde(default)]
    pub importance: Option<u8>,
    #[serde(default)]
    pub evidence: Vec<MemoryId>,
    #[serde(default)]
    pub expires: Option<TimeMs>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl NewMemory {
    /// The record this memory becomes once stored as `id`, with its importance decided and its
    /// embedding computed (last accessed when created).
    pub fn into_record(self, id: MemoryId, importance: u8, embedding: Vec<f32>) -> MemoryRecord {
        MemoryRecord {
            id,
            agent: self.agent,
            kind: self.kind,
            text: self.text,
            created: self.created,
            last_accessed: self.created,
            importance,
            embedding,
            evidence: self.evidence,
            expires: self.expires,
            metadata: self.metadata,
        }
    }

    pub fn new(
        agent: impl Into<String>,
        kind: MemoryKind,
        text: impl Into<String>,
        created: TimeMs,
    ) -> Self {
        NewMemory {
            agent: agent.into(),
            kind,
            text: text.into(),
            created,
            importance: None,
            evidence: Vec::new(),
            expires: None,
            metadata: serde_json::Map::new(),
        }
    }

    pub fn importance(mut self, importance: u8) -> Self {
        self.importance = Some(importance);
        self
    }

    pub fn evidence(mut self, ids: impl IntoIterator<Item = MemoryId>) -> Self {
        self.evidence = ids.into_iter().collect();
        self
    }

    /// Refuses what no store may keep: empty text, no agent, importance outside 1–10. Every
    /// [`MemoryStream`] calls this before writing, so all of them refuse the same memories with
    /// the same words.
    pub fn validate(&self) -> MemoryResult<()> {
        if self.text.trim().is_empty() {
            return Err(MemoryError::Invalid("memory text is empty".into()));
        }
        if self.agent.trim().is_empty() {
            return Err(MemoryError::Invalid(format!(
                "memory {:?} has no agent: every memory belongs to an agent",
                self.text
            )));
        }
        if let Some(i) = self.importance {
            if !(1..=10).contains(&i) {
                return Err(MemoryError::Invalid(format!(
                    "importance {i} is out of range: use 1 (mundane) to 10 (poignant)"
                )));
            }
        }
        Ok(())
    }
}

/// What to recall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallQuery {
    /// Free text; relevance is measured against it.
    pub text: String,
    /// Only this agent's memories (`None`: everyone's).
    pub agent: Option<String>,
    /// Only these kinds (empty: all kinds).
    pub kinds: Vec<MemoryKind>,
    /// Only memories created at or after this time.
    pub after: Option<TimeMs>,
    /// Only memories created before this time.
    pub before: Option<TimeMs>,
    /// How many to return.
    pub k: usize,
    /// "Now" for recency and expiry; retrieval sets `last_accessed` to it.
    pub now: TimeMs,
}

impl RecallQuery {
    pub fn new(text: impl Into<String>, k: usize, now: TimeMs) -> Self {
        RecallQuery {
            text: text.into(),
            agent: None,
            kinds: Vec::new(),
            after: None,
            before: None,
            k,
            now,
        }
    }

    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    pub fn kinds(mut self, kinds: impl IntoIterator<Item = MemoryKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Only memories created in `after..before` (either end open when `None`).
    pub fn window(mut self, after: Option<TimeMs>, before: Option<TimeMs>) -> Self {
        self.after = after;
        self.before = before;
        self
    }

    /// Whether a memory with these fields passes the query's filter: its agent, its kinds, the
    /// creation window, and not expired at `now`. This is the one definition of the filter: the
    /// test double and the stores' final checks call it, and each index that filters inside
    /// itself (SQL, tantivy, Qdrant) translates exactly these conditions, which the conformance
    /// suites check against this function.
    pub fn matches(
        &self,
        agent: &str,
        kind: MemoryKind,
        created: TimeMs,
        expires: Option<TimeMs>,
    ) -> bool {
        self.agent.as_deref().is_none_or(|a| a == agent)
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.after.is_none_or(|t| created >= t)
            && self.before.is_none_or(|t| created < t)
            && expires.is_none_or(|e| e > self.now)
    }

    /// [`RecallQuery::matches`] on a record.
    pub fn matches_record(&self, r: &MemoryRecord) -> bool {
        self.matches(&r.agent, r.kind, r.created, r.expires)
    }
}

/// A recalled memory with its score and the score's parts (each normalised to 0..=1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recalled {
    pub record: MemoryRecord,
    pub score: f32,
    pub recency: f32,
    pub importance: f32,
    pub relevance: f32,
}

/// What can go wrong in a memory stream. Its own type, not the model backends' [`crate::Error`]:
/// a caller can tell a request the store refused from a model that failed from a database that
/// failed, and a store's own error (SQLite, tantivy, PostgreSQL) is boxed into `Store` rather than
/// leaking its type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The request is wrong (empty text, no agent, importance out of range); nothing was stored.
    #[error("invalid memory request: {0}")]
    Invalid(String),
    /// The embedder or the LLM the store uses failed (the cause is printed, not chained, as
    /// the model errors themselves do).
    #[error("{context}: {cause}")]
    Model {
        context: String,
        cause: crate::Error,
    },
    /// The store's storage or an index failed. The message says what and how to fix it; the
    /// store's own error is kept in `detail`, not chained, so it is not printed twice.
    #[error("{detail}")]
    Store {
        detail: Box<dyn StdError + Send + Sync>,
    },
}

impl MemoryError {
    /// Wraps a store's own error.
    pub fn store(detail: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        MemoryError::Store {
            detail: detail.into(),
        }
    }
}

/// Result alias of [`MemoryStream`].
pub type MemoryResult<T, E = MemoryError> = std::result::Result<T, E>;

/// A long-term memory stream. Implementations are durable and thread-safe; calls block.
pub trait MemoryStream: Send + Sync {
    /// Stores a memory and returns its id. Once this returns, the memory survives a crash.
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId>;

    /// The best `k` memories for the query, best first, and marks them accessed at `query.now`.
    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>>;

    /// A memory by id.
    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>>;

    /// Stores several memories and returns their ids in order. Stores override this to write
    /// them together (one transaction, one index commit), e.g. every agent's observations of a
    /// town tick; the default adds them one by one.
    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        memories.into_iter().map(|m| self.add(m)).collect()
    }
}

/// A memory stream whose whole state can be copied out, so that a simulation checkpoint holds it.
///
/// The contract: after `snapshot(to)`, a store of the same kind opened on a copy of the directory
/// `to` holds the same memories with the same access times, and answers every recall the same as
/// this one does now. The town writes a snapshot with each checkpoint and, on resume, restores it
/// before opening the store, so the steps computed again see exactly the memories they saw the
/// first time.
pub trait SnapshotStream: MemoryStream {
    /// Writes the snapshot into `to`, a directory that does not exist yet.
    fn snapshot(&self, to: &std::path::Path) -> MemoryResult<()>;
}

impl<T: MemoryStream + ?Sized> MemoryStream for std::sync::Arc<T> {
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId> {
        (**self).add(memory)
    }
    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        (**self).recall(query)
    }
    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        (**self).get(id)
    }
    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        (**self).add_batch(memories)
    }
}
