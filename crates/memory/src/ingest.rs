//! The write path: validate, embed, commit the rows, then apply them to the indexes. Importance
//! is decided before this (a caller's own, [`crate::ImportanceRater`]'s, or the configured
//! default); the store never waits on a model.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hamlet_core::{Embedder, MemoryError, MemoryId, NewMemory};

use crate::index::off_thread;
use crate::records::{NewRow, RecordStore};
use crate::store::AsyncMemoryStore;
use crate::{Error, Result};

static ABORT_AFTER_SQLITE: AtomicBool = AtomicBool::new(false);

/// Test hook: abort the process right after the next SQLite commit, before the indexes are
/// written (the crash-safety test re-executes itself with this set). Not for other uses.
#[doc(hidden)]
pub fn abort_after_sqlite_commit_for_tests(on: bool) {
    ABORT_AFTER_SQLITE.store(on, Ordering::SeqCst);
}

/// [`NewMemory::validate`], in this crate's error.
pub(crate) fn validate(m: &NewMemory) -> Result<()> {
    m.validate().map_err(|e| match e {
        MemoryError::Invalid(m) => Error::Invalid(m),
        other => Error::Invalid(other.to_string()),
    })
}

impl<R: RecordStore> AsyncMemoryStore<R> {
    /// Stores one memory (see [`AsyncMemoryStore::add_batch`]).
    pub async fn add(&self, memory: NewMemory) -> Result<MemoryId> {
        let ids = self.add_batch(vec![memory]).await?;
        ids.first()
            .copied()
            .ok_or_else(|| Error::Invalid("the insert returned no id".into()))
    }

    /// Stores memories (one transaction) and returns their ids. Texts are embedded; a memory
    /// without an importance gets the configured default. Nothing is stored if one is invalid.
    pub async fn add_batch(&self, memories: Vec<NewMemory>) -> Result<Vec<MemoryId>> {
        memories.iter().try_for_each(validate)?;
        let texts: Vec<String> = memories.iter().map(|m| m.text.clone()).collect();
        let vectors = self.embed(texts).await?;
        self.add_embedded(memories.into_iter().zip(vectors).collect())
            .await
    }

    /// Stores memories whose embeddings are already computed (unit length, the store's dim).
    pub async fn add_embedded(
        &self,
        memories: Vec<(NewMemory, Vec<f32>)>,
    ) -> Result<Vec<MemoryId>> {
        let rows = new_rows(
            memories,
            self.embedder.dim(),
            self.config.default_importance,
        )?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut pending = self.write.lock().await;
        let ids = self.rows.insert(&rows).await?;
        if ABORT_AFTER_SQLITE.load(Ordering::SeqCst) {
            std::process::abort();
        }
        let records: Vec<_> = rows
            .into_iter()
            .zip(&ids)
            .map(|(r, &id)| r.into_record(id))
            .collect();
        let indexes = self.indexes();
        off_thread(move || indexes.iter().try_for_each(|i| i.apply(&records))).await?;
        *pending = ids.iter().copied().max().max(*pending);
        Ok(ids)
    }

    /// Embeds texts with the store's embedder (see [`embed_texts`]).
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        embed_texts(Arc::clone(&self.embedder), texts).await
    }
}

/// Embeds texts (unit length, checked dimension) in chunks of 32, off the caller's async worker.
/// Every store embeds through this.
pub(crate) async fn embed_texts(
    embedder: Arc<dyn Embedder>,
    texts: Vec<String>,
) -> Result<Vec<Vec<f32>>> {
    off_thread(move || {
        let dim = embedder.dim();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let vs = embedder
                .embed(&refs)
                .map_err(|e| Error::model("embedding memory text", e))?;
            for mut v in vs {
                if v.len() != dim {
                    return Err(Error::Invalid(format!(
                        "the embedder returned a {}-dimensional vector but says its dimension is {dim}",
                        v.len()
                    )));
                }
                hamlet_core::l2_normalize(&mut v);
                out.push(v);
            }
        }
        Ok(out)
    })
    .await
}

/// Validated rows from memories and their embeddings: each memory checked, each embedding of
/// dimension `dim`, importance defaulted. Every store writes what this returns.
pub(crate) fn new_rows(
    memories: Vec<(NewMemory, Vec<f32>)>,
    dim: usize,
    default_importance: u8,
) -> Result<Vec<NewRow>> {
    memories
        .into_iter()
        .map(|(m, embedding)| {
            validate(&m)?;
            if embedding.len() != dim {
                return Err(Error::Invalid(format!(
                    "embedding has {} dimensions, the store holds {dim}",
                    embedding.len()
                )));
            }
            Ok(NewRow {
                importance: m.importance.unwrap_or(default_importance),
                memory: m,
                embedding,
            })
        })
        .collect()
}
