//! [`MemoryStore`]: the blocking facade over [`AsyncMemoryStore`], for the synchronous callers
//! (the agent loop's tools, the town, the CLI), as `reqwest::blocking::Client` is over `Client`.
//! Each call runs the async store's future to completion on a private current-thread runtime;
//! an async caller uses [`AsyncMemoryStore`] on its own runtime instead.

use std::path::Path;
use std::sync::Arc;

use hamlet_core::{
    Embedder, MemoryId, MemoryRecord, MemoryResult, MemoryStream, NewMemory, RecallQuery, Recalled,
};

use crate::recall::SearchMode;
use crate::rt::Runtime;
use crate::stats::Stats;
use crate::store::{AsyncMemoryStore, MemoryConfig};
use crate::Result;

/// The durable memory stream with a blocking API; see [`AsyncMemoryStore`] for what each
/// method does.
#[derive(Debug)]
pub struct MemoryStore {
    // Declared first so it drops (committing the indexes) while the runtime still exists.
    inner: AsyncMemoryStore,
    rt: Runtime,
}

impl MemoryStore {
    /// Opens (creating if missing) the store in directory `dir` with the default settings.
    pub fn open(dir: impl AsRef<Path>, embedder: Arc<dyn Embedder>) -> Result<Self> {
        Self::open_with(dir, embedder, MemoryConfig::default())
    }

    /// Opens the store with these settings, repairing indexes that lag behind SQLite.
    pub fn open_with(
        dir: impl AsRef<Path>,
        embedder: Arc<dyn Embedder>,
        config: MemoryConfig,
    ) -> Result<Self> {
        let rt = Runtime::new()?;
        let inner = rt.block(AsyncMemoryStore::open_with(dir.as_ref(), embedder, config))?;
        Ok(MemoryStore { inner, rt })
    }

    /// The async store underneath.
    pub fn as_async(&self) -> &AsyncMemoryStore {
        &self.inner
    }

    pub fn set_embedder_name(&self, name: &str) -> Result<()> {
        self.rt.block(self.inner.set_embedder_name(name))
    }

    pub fn embedder_name(&self) -> Result<Option<String>> {
        self.rt.block(self.inner.embedder_name())
    }

    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    pub fn config(&self) -> &MemoryConfig {
        self.inner.config()
    }

    pub fn rebuild(&self, progress: &mut (dyn FnMut(u64, u64) + Send)) -> Result<u64> {
        self.rt.block(self.inner.rebuild(progress))
    }

    pub fn flush(&self) -> Result<()> {
        self.rt.block(self.inner.flush())
    }

    pub fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        self.rt.block(self.inner.get(id))
    }

    pub fn get_many(&self, ids: &[MemoryId]) -> Result<Vec<MemoryRecord>> {
        self.rt.block(self.inner.get_many(ids))
    }

    pub fn snapshot_to(&self, to: &Path) -> Result<()> {
        self.rt.block(self.inner.snapshot_to(to))
    }

    pub fn stats(&self) -> Result<Stats> {
        self.rt.block(self.inner.stats())
    }

    pub fn add(&self, memory: NewMemory) -> Result<MemoryId> {
        self.rt.block(self.inner.add(memory))
    }

    pub fn add_batch(&self, memories: Vec<NewMemory>) -> Result<Vec<MemoryId>> {
        self.rt.block(self.inner.add_batch(memories))
    }

    pub fn add_embedded(&self, memories: Vec<(NewMemory, Vec<f32>)>) -> Result<Vec<MemoryId>> {
        self.rt.block(self.inner.add_embedded(memories))
    }

    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        self.rt.block(self.inner.embed(texts))
    }

    pub fn search(&self, q: &RecallQuery, mode: SearchMode) -> Result<Vec<(MemoryId, f32)>> {
        self.rt.block(self.inner.search(q, mode))
    }

    pub fn search_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        mode: SearchMode,
    ) -> Result<Vec<(MemoryId, f32)>> {
        self.rt
            .block(self.inner.search_with_vector(q, vector, mode))
    }

    pub fn recall(&self, q: &RecallQuery) -> Result<Vec<Recalled>> {
        self.rt.block(self.inner.recall(q))
    }

    pub fn recall_with_vector(&self, q: &RecallQuery, vector: &[f32]) -> Result<Vec<Recalled>> {
        self.rt.block(self.inner.recall_with_vector(q, vector))
    }
}

impl Drop for MemoryStore {
    /// Writes back held access times; the indexes commit when `inner` drops.
    fn drop(&mut self) {
        if let Err(e) = self.rt.block(self.inner.flush()) {
            tracing::warn!(error = %e, "flushing the memory store on close failed");
        }
    }
}

impl MemoryStream for MemoryStore {
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId> {
        Ok(MemoryStore::add(self, memory)?)
    }

    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        Ok(MemoryStore::recall(self, query)?)
    }

    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        Ok(MemoryStore::get(self, id)?)
    }

    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        Ok(MemoryStore::add_batch(self, memories)?)
    }
}

impl hamlet_core::SnapshotStream for MemoryStore {
    fn snapshot(&self, to: &Path) -> MemoryResult<()> {
        Ok(self.snapshot_to(to)?)
    }
}
