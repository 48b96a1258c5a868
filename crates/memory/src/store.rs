//! [`AsyncMemoryStore`]: the store on the caller's tokio runtime. Opening, index repair and
//! rebuild, reads and snapshots are here; writing is in `ingest.rs`, retrieval in `recall.rs`,
//! the blocking facade in `blocking.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hamlet_core::score::Scoring;
use hamlet_core::{Embedder, MemoryId, MemoryRecord};

use crate::index::{self, off_thread, DerivedIndex};
use crate::records::RecordStore;
use crate::sqlite::SqliteRecords;
use crate::text::TextIndex;
use crate::vector::{FlatIndex, QdrantIndex, VectorIndex};
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
    /// Importance of a memory added without one. The store never asks a model: rate memories
    /// first with [`crate::ImportanceRater`] (or wrap the store in [`crate::Rated`]).
    pub default_importance: u8,
    pub vector: VectorBackend,
}

impl MemoryConfig {
    /// Candidates fetched from each index for a recall of `k`.
    pub fn candidates(&self, k: usize) -> usize {
        (k.saturating_mul(self.over_fetch)).max(self.min_candidates)
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            scoring: Scoring::default(),
            over_fetch: 10,
            min_candidates: 50,
            default_importance: 5,
            vector: VectorBackend::Embedded,
        }
    }
}

/// The durable memory stream, async: rows first ([`RecordStore`], SQLite by default), then the
/// vector and BM25 indexes derived from them. Every method runs on the runtime that awaits it;
/// blocking work (embedding, index writes and fsyncs, scans) goes to tokio's blocking pool.
pub struct AsyncMemoryStore<R: RecordStore = SqliteRecords> {
    pub(crate) dir: PathBuf,
    pub(crate) rows: R,
    pub(crate) text: Arc<TextIndex>,
    pub(crate) vectors: Arc<dyn VectorIndex>,
    pub(crate) embedder: Arc<dyn Embedder>,
    pub(crate) config: MemoryConfig,
    /// Held while writing; the highest id applied to the indexes but not yet committed there.
    pub(crate) write: tokio::sync::Mutex<Option<MemoryId>>,
}

impl<R: RecordStore> std::fmt::Debug for AsyncMemoryStore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncMemoryStore")
            .field("dir", &self.dir)
            .field("vectors", &self.vectors.describe())
            .finish_non_exhaustive()
    }
}

impl AsyncMemoryStore<SqliteRecords> {
    /// Opens (creating if missing) the store in directory `dir` with the default settings.
    pub async fn open(dir: impl AsRef<Path>, embedder: Arc<dyn Embedder>) -> Result<Self> {
        Self::open_with(dir, embedder, MemoryConfig::default()).await
    }

    /// Opens the store with these settings. Indexes that lag behind SQLite (a crash between
    /// commits) are repaired here.
    pub async fn open_with(
        dir: impl AsRef<Path>,
        embedder: Arc<dyn Embedder>,
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
        let rows = SqliteRecords::open(&dir.join("memory.sqlite")).await?;
        let dim = embedder.dim();
        match rows.meta("dim").await? {
            Some(d) if d.parse::<usize>().ok() != Some(dim) => {
                return Err(Error::DimensionMismatch {
                    store: dir.display().to_string(),
                    stored: d.parse().unwrap_or(0),
                    given: dim,
                    model: rows.meta("embedder").await?.unwrap_or_default(),
                })
            }
            Some(_) => {}
            None => rows.set_meta("dim", &dim.to_string()).await?,
        }
        let (text_dir, vector_dir, backend) =
            (dir.join("bm25"), dir.join("vectors"), config.vector.clone());
        let (text, vectors) = off_thread(move || {
            let text = Arc::new(TextIndex::open(&text_dir)?);
            let vectors: Arc<dyn VectorIndex> = match backend {
                VectorBackend::Embedded => Arc::new(FlatIndex::open(&vector_dir, dim)?),
                VectorBackend::Qdrant { url, collection } => {
                    Arc::new(QdrantIndex::connect(&url, &collection, dim)?)
                }
            };
            Ok((text, vectors))
        })
        .await?;
        Self::from_parts(dir, rows, text, vectors, embedder, config).await
    }

    /// Writes a snapshot of the store into the new directory `to`: the SQLite database only. A
    /// store opened on a copy of it rebuilds both indexes from SQLite (their watermarks are
    /// absent), and retrieval does not depend on how an index is split into segments, so it
    /// answers exactly as this one does now. Only the embedded vector index can be snapshotted:
    /// a Qdrant collection lives on its server.
    pub async fn snapshot_to(&self, to: &Path) -> Result<()> {
        if !matches!(self.config.vector, VectorBackend::Embedded) {
            return Err(Error::Invalid(
                "a store on a Qdrant server cannot be snapshotted; use the embedded index for runs that checkpoint".into(),
            ));
        }
        let _w = self.write.lock().await;
        std::fs::create_dir(to).map_err(|e| Error::Path {
            path: to.to_path_buf(),
            reason: format!("cannot create the snapshot directory: {e}"),
        })?;
        self.rows.vacuum_into(&to.join("memory.sqlite")).await
    }
}

impl<R: RecordStore> AsyncMemoryStore<R> {
    /// A store over rows and indexes already opened; repairs indexes that lag the rows.
    pub(crate) async fn from_parts(
        dir: PathBuf,
        rows: R,
        text: Arc<TextIndex>,
        vectors: Arc<dyn VectorIndex>,
        embedder: Arc<dyn Embedder>,
        config: MemoryConfig,
    ) -> Result<Self> {
        let store = AsyncMemoryStore {
            dir,
            rows,
            text,
            vectors,
            embedder,
            config,
            write: tokio::sync::Mutex::new(None),
        };
        index::repair(&store.rows, &store.indexes()).await?;
        Ok(store)
    }

    /// The derived indexes, for the repair, rebuild and commit loops.
    pub(crate) fn indexes(&self) -> [Arc<dyn DerivedIndex>; 2] {
        [self.vectors.clone(), self.text.clone()]
    }

    /// Records the embedding model's name (shown by `stats` and in dimension-mismatch errors).
    pub async fn set_embedder_name(&self, name: &str) -> Result<()> {
        self.rows.set_meta("embedder", name).await
    }

    /// The embedding model's name recorded with [`AsyncMemoryStore::set_embedder_name`].
    pub async fn embedder_name(&self) -> Result<Option<String>> {
        self.rows.meta("embedder").await
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Drops both indexes and rebuilds them from the rows; `progress(done, total)` is called as
    /// it goes. Returns how many memories were indexed.
    pub async fn rebuild(&self, progress: &mut (dyn FnMut(u64, u64) + Send)) -> Result<u64> {
        let mut pending = self.write.lock().await;
        let n = index::rebuild(&self.rows, &self.indexes(), progress).await?;
        *pending = None;
        Ok(n)
    }

    /// Commits pending index changes and writes back held access times (see
    /// [`RecordStore::write_access_times`]). A caller that drops the async store should await
    /// this first; the blocking [`crate::MemoryStore`] does it when dropped.
    pub async fn flush(&self) -> Result<()> {
        self.commit_indexes().await?;
        self.rows.write_access_times().await
    }

    /// Commits pending index changes (the store does this before every search and on drop).
    pub(crate) async fn commit_indexes(&self) -> Result<()> {
        let mut pending = self.write.lock().await;
        if let Some(watermark) = *pending {
            let indexes = self.indexes();
            off_thread(move || indexes.iter().try_for_each(|i| i.commit(watermark))).await?;
            *pending = None;
        }
        Ok(())
    }

    /// A memory by id, with its embedding.
    pub async fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        Ok(self.rows.records(&[id]).await?.pop())
    }

    /// Memories by id, in the order asked (missing ids skipped).
    pub async fn get_many(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        let mut rs = self.rows.records(ids).await?;
        rs.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
        Ok(rs)
    }
}

impl<R: RecordStore> Drop for AsyncMemoryStore<R> {
    /// Commits what the indexes hold but have not committed. This blocks (an fsync); a caller
    /// that must not block awaits [`AsyncMemoryStore::flush`] before dropping the store.
    fn drop(&mut self) {
        if let Some(watermark) = self.write.get_mut().take() {
            for index in self.indexes() {
                if let Err(e) = index.commit(watermark) {
                    tracing::warn!(error = %e, index = %index.describe(), "committing a memory index on close failed; it will be repaired on the next open");
                }
            }
        }
    }
}
