//! [`Db`] and [`Store`]: where a memory stream lives (a directory for the embedded store, or a
//! `postgres://` URL), and the stream opened there, so that the binary's `--db`/`--memory`
//! options take either.

use std::path::PathBuf;
use std::sync::Arc;

use hamlet_core::{
    Embedder, MemoryId, MemoryRecord, MemoryResult, MemoryStream, NewMemory, RecallQuery, Recalled,
};

use crate::pg::{PgStore, PgUrl};
use crate::{MemoryConfig, MemoryStore, Result, SearchMode, Stats};

/// Where a memory stream lives.
#[derive(Debug, Clone)]
pub enum Db {
    /// The embedded store in this directory (SQLite, tantivy, the vector file).
    Dir(PathBuf),
    /// A PostgreSQL database with pgvector.
    Postgres(PgUrl),
}

impl Db {
    /// A `postgres://` (or `postgresql://`) URL, else a directory path.
    pub fn parse(s: &str) -> Result<Self> {
        if PgUrl::is_postgres(s) {
            Ok(Db::Postgres(PgUrl::parse(s)?))
        } else {
            Ok(Db::Dir(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for Db {
    /// The directory, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::Dir(d) => write!(f, "{}", d.display()),
            Db::Postgres(u) => write!(f, "{u}"),
        }
    }
}

/// A memory stream opened at a [`Db`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per process, never moved in a hot path
pub enum Store {
    Embedded(MemoryStore),
    Postgres(PgStore),
}

/// Calls the same method on whichever store it is.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Embedded($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Opens (creating if missing) the store at `db`. `config.vector` applies to the embedded
    /// store only: a PostgreSQL store keeps its vectors in pgvector.
    pub fn open(db: &Db, embedder: Arc<dyn Embedder>, config: MemoryConfig) -> Result<Self> {
        Ok(match db {
            Db::Dir(dir) => Store::Embedded(MemoryStore::open_with(dir, embedder, config)?),
            Db::Postgres(url) => Store::Postgres(PgStore::open_with(url, embedder, config)?),
        })
    }

    pub fn add_batch(&self, memories: Vec<NewMemory>) -> Result<Vec<MemoryId>> {
        each!(self, s => s.add_batch(memories))
    }

    pub fn get_many(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        each!(self, s => s.get_many(ids))
    }

    pub fn recall(&self, q: &RecallQuery) -> Result<Vec<Recalled>> {
        each!(self, s => s.recall(q))
    }

    pub fn recall_with_vector(&self, q: &RecallQuery, vector: &[f32]) -> Result<Vec<Recalled>> {
        each!(self, s => s.recall_with_vector(q, vector))
    }

    pub fn search(&self, q: &RecallQuery, mode: SearchMode) -> Result<Vec<(MemoryId, f32)>> {
        each!(self, s => s.search(q, mode))
    }

    pub fn search_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        mode: SearchMode,
    ) -> Result<Vec<(MemoryId, f32)>> {
        each!(self, s => s.search_with_vector(q, vector, mode))
    }

    pub fn add_embedded(&self, memories: Vec<(NewMemory, Vec<f32>)>) -> Result<Vec<MemoryId>> {
        each!(self, s => s.add_embedded(memories))
    }

    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        each!(self, s => s.embed(texts))
    }

    /// Commits pending index changes (a PostgreSQL store has none: it commits with the rows).
    pub fn flush(&self) -> Result<()> {
        match self {
            Store::Embedded(s) => s.flush(),
            Store::Postgres(_) => Ok(()),
        }
    }

    pub fn stats(&self) -> Result<Stats> {
        each!(self, s => s.stats())
    }

    pub fn embedder_name(&self) -> Result<Option<String>> {
        each!(self, s => s.embedder_name())
    }

    pub fn set_embedder_name(&self, name: &str) -> Result<()> {
        each!(self, s => s.set_embedder_name(name))
    }
}

impl MemoryStream for Store {
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId> {
        each!(self, s => MemoryStream::add(s, memory))
    }

    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        each!(self, s => MemoryStream::recall(s, query))
    }

    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        each!(self, s => MemoryStream::get(s, id))
    }

    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        each!(self, s => MemoryStream::add_batch(s, memories))
    }
}
