//! The write path: validate, rate importance, embed, commit to SQLite, then apply to the indexes.

use std::sync::atomic::{AtomicBool, Ordering};

use hamlet_core::{MemoryId, MemoryRecord, NewMemory};

use crate::db::NewRow;
use crate::prompts::ask_json;
use crate::store::MemoryStore;
use crate::vector::VectorPoint;
use crate::{Error, Result};

static ABORT_AFTER_SQLITE: AtomicBool = AtomicBool::new(false);

/// Test hook: abort the process right after the next SQLite commit, before the indexes are
/// written (the crash-safety test re-executes itself with this set). Not for other uses.
#[doc(hidden)]
pub fn abort_after_sqlite_commit_for_tests(on: bool) {
    ABORT_AFTER_SQLITE.store(on, Ordering::SeqCst);
}

impl MemoryStore {
    /// Stores memories (one SQLite transaction) and returns their ids. Importance is rated by the
    /// LLM when not given (or the configured default when there is no LLM); texts are embedded.
    pub fn add_batch(&self, memories: Vec<NewMemory>) -> Result<Vec<MemoryId>> {
        let texts: Vec<&str> = memories.iter().map(|m| m.text.as_str()).collect();
        let vectors = self.embed(&texts)?;
        self.add_embedded(memories.into_iter().zip(vectors).collect())
    }

    /// Stores memories whose embeddings are already computed (unit length, the store's dim).
    pub fn add_embedded(&self, memories: Vec<(NewMemory, Vec<f32>)>) -> Result<Vec<MemoryId>> {
        let mut rows = Vec::with_capacity(memories.len());
        for (m, embedding) in memories {
            validate(&m, embedding.len(), self.embedder.dim())?;
            let importance = match m.importance {
                Some(i) => i,
                None => self.rate_importance(&m.agent, &m.text),
            };
            rows.push(NewRow {
                agent: m.agent,
                kind: m.kind,
                text: m.text,
                created: m.created,
                importance,
                embedding,
                evidence: m.evidence,
                expires: m.expires,
                metadata: m.metadata,
            });
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut pending = self.lock_write()?;
        let ids = self.db.insert(&rows)?;
        if ABORT_AFTER_SQLITE.load(Ordering::SeqCst) {
            std::process::abort();
        }
        let records: Vec<MemoryRecord> = rows
            .into_iter()
            .zip(&ids)
            .map(|(r, &id)| MemoryRecord {
                id,
                agent: r.agent,
                kind: r.kind,
                text: r.text,
                created: r.created,
                last_accessed: r.created,
                importance: r.importance,
                embedding: r.embedding,
                evidence: r.evidence,
                expires: r.expires,
                metadata: r.metadata,
            })
            .collect();
        let pts: Vec<VectorPoint> = records.iter().map(VectorPoint::of).collect();
        self.vectors.upsert(&pts)?;
        self.text.upsert(&records)?;
        *pending = true;
        Ok(ids)
    }

    /// Embeds texts with the store's embedder (unit length, checked dimension).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let vs = self
                .embedder
                .embed(chunk)
                .map_err(|e| Error::model("embedding memory text", e))?;
            for mut v in vs {
                if v.len() != self.embedder.dim() {
                    return Err(Error::Invalid(format!(
                        "the embedder returned a {}-dimensional vector but says its dimension is {}",
                        v.len(),
                        self.embedder.dim()
                    )));
                }
                hamlet_core::l2_normalize(&mut v);
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Rates a memory 1–10 with the LLM (one grammar-constrained call); the configured default
    /// when there is no LLM or the call fails (logged).
    pub fn rate_importance(&self, agent: &str, text: &str) -> u8 {
        let Some(llm) = &self.llm else {
            return self.config.default_importance;
        };
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 10}},
            "required": ["rating"]
        });
        let ctx = minijinja::context! { agent, memory => text };
        match ask_json(
            llm.as_ref(),
            &self.prompts,
            "importance.j2",
            ctx,
            schema,
            16,
        ) {
            Ok(v) => match v["rating"].as_i64() {
                Some(r) => r.clamp(1, 10) as u8,
                None => {
                    tracing::warn!(reply = %v, "importance reply has no rating; using the default");
                    self.config.default_importance
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "rating importance failed; using the default");
                self.config.default_importance
            }
        }
    }
}

fn validate(m: &NewMemory, got_dim: usize, dim: usize) -> Result<()> {
    if m.text.trim().is_empty() {
        return Err(Error::Invalid("memory text is empty".into()));
    }
    if m.agent.trim().is_empty() {
        return Err(Error::Invalid(format!(
            "memory {:?} has no agent: every memory belongs to an agent",
            m.text
        )));
    }
    if let Some(i) = m.importance {
        if !(1..=10).contains(&i) {
            return Err(Error::Invalid(format!(
                "importance {i} is out of range: use 1 (mundane) to 10 (poignant)"
            )));
        }
    }
    if got_dim != dim {
        return Err(Error::Invalid(format!(
            "embedding has {got_dim} dimensions, the store holds {dim}"
        )));
    }
    Ok(())
}
