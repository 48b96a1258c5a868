//! [`MemoryStore`]: opening, index repair and rebuild, reads. Writing is in `ingest.rs`,
//! retrieval in `recall.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hamlet_core::{Embedder, Llm, MemoryId, MemoryRecord};

use crate::db::Db;
use crate::prompts::Prompts;
use crate::rt::Runtime;
use crate::score::Scoring;
use crate::text::TextIndex;
use crate::vector::{FlatIndex, QdrantIndex, VectorIndex, VectorPoint};
use crate::{Error, Result};

/// Which vector index the store keeps beside SQLite.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum VectorBackend {
    /// The embedded exact-scan index in the store's directory (the default).
    #[default]
    Embedded,
    /// A Qdrant server: gRPC URL (e.g. `http://localhost:6334`) and collection name.
    Qdrant { url: String, collection: String },
}

/// Settings of a store.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    pub scoring: Scoring,
    /// Candidates fetched from each index per recall: `max(k × over_fetch, min_candidates)`.
    pub over_fetch: usize,
    pub min_candidates: usize,
    /// Importance of a memory added without one when no LLM is given to rate it.
    pub default_importance: u8,
    /// A directory whose `*.j2` files override the built-in memory prompts.
    pub prompts_dir: Option<PathBuf>,
    pub vector: VectorBackend,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            scoring: Scoring::default(),
            over_fetch: 10,
            min_candidates: 50,
            default_importance: 5,
            prompts_dir: None,
            vector: VectorBackend::Embedded,
        }
    }
}

/// The durable memory stream: SQLite first, then the vector and BM25 indexes.
pub struct MemoryStore {
    pub(crate) dir: PathBuf,
    pub(crate) db: Db,
    pub(crate) text: TextIndex,
    pub(crate) vectors: Box<dyn VectorIndex>,
    pub(crate) embedder: Arc<dyn Embedder>,
    pub(crate) llm: Option<Arc<dyn Llm>>,
    pub(crate) config: MemoryConfig,
    pub(crate) prompts: Prompts,
    /// Held while writing; `true` when the indexes have uncommitted changes.
    pub(crate) write: Mutex<bool>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("dir", &self.dir)
            .field("vectors", &self.vectors.describe())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// Opens (creating if missing) the store in directory `dir` with the default settings.
    pub fn open(dir: impl AsRef<Path>, embedder: Arc<dyn Embedder>) -> Result<Self> {
        Self::open_with(dir, embedder, None, MemoryConfig::default())
    }

    /// Opens the store with an optional LLM (to rate importance, reflect and summarise) and
    /// settings. Indexes that lag behind SQLite (a crash between commits) are repaired here.
    pub fn open_with(
        dir: impl AsRef<Path>,
        embedder: Arc<dyn Embedder>,
        llm: Option<Arc<dyn Llm>>,
        config: MemoryConfig,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let path_err = |reason: String| Error::Path {
            path: dir.clone(),
            reason,
        };
        if dir.is_file() {
            return Err(path_err(
                "is a file; the store is a directory (give a new or existing directory)".into(),
            ));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| path_err(format!("cannot create the directory: {e}")))?;
        let rt = Runtime::new()?;
        let db = Db::open(&dir.join("memory.sqlite"), rt.clone())?;
        let dim = embedder.dim();
        match db.meta("dim")? {
            Some(d) if d.parse::<usize>().ok() != Some(dim) => {
                return Err(Error::DimensionMismatch {
                    path: dir.clone(),
                    stored: d.parse().unwrap_or(0),
                    given: dim,
                    model: db.meta("embedder")?.unwrap_or_default(),
                })
            }
            Some(_) => {}
            None => db.set_meta("dim", &dim.to_string())?,
        }
        let text = TextIndex::open(&dir.join("bm25"))?;
        let vectors: Box<dyn VectorIndex> = match &config.vector {
            VectorBackend::Embedded => Box::new(FlatIndex::open(&dir.join("vectors"), dim)?),
            VectorBackend::Qdrant { url, collection } => {
                Box::new(QdrantIndex::connect_with(url, collection, dim, rt.clone())?)
            }
        };
        let store = MemoryStore {
            prompts: Prompts::new(config.prompts_dir.clone()),
            dir,
            db,
            text,
            vectors,
            embedder,
            llm,
            config,
            write: Mutex::new(false),
        };
        store.repair()?;
        Ok(store)
    }

    /// Records the embedding model's name (shown by `stats` and in dimension-mismatch errors).
    pub fn set_embedder_name(&self, name: &str) -> Result<()> {
        self.db.set_meta("embedder", name)
    }

    /// The embedding model's name recorded with [`MemoryStore::set_embedder_name`].
    pub fn embedder_name(&self) -> Result<Option<String>> {
        self.db.meta("embedder")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    pub fn llm(&self) -> Option<&Arc<dyn Llm>> {
        self.llm.as_ref()
    }

    /// Brings each index up to SQLite's newest id, re-applying the rows above its watermark.
    fn repair(&self) -> Result<()> {
        let max = self.db.max_id()?;
        let (vw, tw) = (self.vectors.watermark()?, self.text.watermark()?);
        if vw > max || tw > max {
            tracing::warn!(
                vector = vw,
                bm25 = tw,
                sqlite = max,
                "an index is ahead of SQLite (was the database replaced?): rebuilding"
            );
            self.rebuild(&mut |_, _| {})?;
            return Ok(());
        }
        for (name, from) in [("vector", vw), ("bm25", tw)] {
            if from == max {
                continue;
            }
            tracing::info!(
                index = name,
                from,
                to = max,
                "repairing an index that lags SQLite"
            );
            let mut after = from;
            loop {
                let page = self.db.records_after(after, 2000)?;
                let Some(last) = page.last().map(|r| r.id) else {
                    break;
                };
                if name == "vector" {
                    let pts: Vec<VectorPoint> = page.iter().map(VectorPoint::of).collect();
                    self.vectors.upsert(&pts)?;
                } else {
                    self.text.upsert(&page)?;
                }
                after = last;
            }
            if name == "vector" {
                self.vectors.commit(max)?;
            } else {
                self.text.commit(max)?;
            }
        }
        Ok(())
    }

    /// Drops both indexes and rebuilds them from SQLite; `progress(done, total)` is called as
    /// it goes. Returns how many memories were indexed.
    pub fn rebuild(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        let _w = self.lock_write()?;
        let total = self.db.counts()?.iter().map(|c| c.2 as u64).sum::<u64>();
        self.vectors.clear()?;
        self.text.clear()?;
        let (mut after, mut done) = (0, 0u64);
        progress(0, total);
        loop {
            let page = self.db.records_after(after, 2000)?;
            let Some(last) = page.last().map(|r| r.id) else {
                break;
            };
            let pts: Vec<VectorPoint> = page.iter().map(VectorPoint::of).collect();
            self.vectors.upsert(&pts)?;
            self.text.upsert(&page)?;
            done += page.len() as u64;
            progress(done, total);
            after = last;
        }
        let max = self.db.max_id()?;
        self.vectors.commit(max)?;
        self.text.commit(max)?;
        Ok(done)
    }

    pub(crate) fn lock_write(&self) -> Result<std::sync::MutexGuard<'_, bool>> {
        self.write
            .lock()
            .map_err(|_| Error::Invalid("the store's write lock was poisoned by a panic".into()))
    }

    /// Commits pending index changes (the store does this before every search and on drop).
    pub fn flush(&self) -> Result<()> {
        let mut pending = self.lock_write()?;
        if *pending {
            let max = self.db.max_id()?;
            self.vectors.commit(max)?;
            self.text.commit(max)?;
            *pending = false;
        }
        Ok(())
    }

    /// A memory by id, with its embedding.
    pub fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        self.db.get(id)
    }

    /// Memories by id, in the order asked (missing ids skipped).
    pub fn get_many(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        let mut rs = self.db.records(ids)?;
        rs.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
        Ok(rs)
    }
}

impl MemoryStore {
    /// Writes a snapshot of the store into the new directory `to`: the SQLite database only. A
    /// store opened on a copy of it rebuilds both indexes from SQLite (their watermarks are
    /// absent), and retrieval does not depend on how an index is split into segments, so it
    /// answers exactly as this one does now. Only the embedded vector index can be snapshotted:
    /// a Qdrant collection lives on its server.
    pub fn snapshot_to(&self, to: &Path) -> Result<()> {
        if !matches!(self.config.vector, VectorBackend::Embedded) {
            return Err(Error::Invalid(
                "a store on a Qdrant server cannot be snapshotted; use the embedded index for runs that checkpoint".into(),
            ));
        }
        let _w = self.lock_write()?;
        std::fs::create_dir(to).map_err(|e| Error::Path {
            path: to.to_path_buf(),
            reason: format!("cannot create the snapshot directory: {e}"),
        })?;
        self.db.vacuum_into(&to.join("memory.sqlite"))
    }
}

impl hamlet_core::SnapshotStream for MemoryStore {
    fn snapshot(&self, to: &Path) -> hamlet_core::Result<()> {
        Ok(self.snapshot_to(to)?)
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "committing the memory indexes on close failed; they will be repaired on the next open");
        }
    }
}
