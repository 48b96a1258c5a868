//! Retrieval: over-fetch candidates from the vector and BM25 indexes (filters applied inside each
//! index), fuse their relevance, score with recency and importance from SQLite, return the best
//! `k`, and mark them accessed. No step is O(N) in the store's size except the embedded index's
//! scan of the filtered vectors.

use std::collections::HashMap;

use hamlet_core::{MemoryId, MemoryRecord, MemoryStream, NewMemory, RecallQuery, Recalled};

use crate::score::{fuse, rank, Candidate};
use crate::store::MemoryStore;
use crate::vector::{dot, VectorFilter};
use crate::Result;

/// Which relevance signal a plain search ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// Cosine similarity from the vector index.
    Vector,
    /// BM25 from the full-text index.
    Bm25,
    /// The two fused (the store's configured fusion).
    Hybrid,
}

impl SearchMode {
    pub const ALL: [SearchMode; 3] = [SearchMode::Vector, SearchMode::Bm25, SearchMode::Hybrid];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Vector => "vector",
            SearchMode::Bm25 => "bm25",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

impl MemoryStore {
    fn candidates(&self, k: usize) -> usize {
        (k.saturating_mul(self.config.over_fetch)).max(self.config.min_candidates)
    }

    /// Relevance-only search (no recency, no importance, nothing marked accessed): the ids and
    /// scores ranked by `mode`. Uses the query's filters; `vector` is the query's embedding.
    pub fn search_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        mode: SearchMode,
    ) -> Result<Vec<(MemoryId, f32)>> {
        self.flush()?;
        let filter = VectorFilter::of(q);
        let c = self.candidates(q.k);
        match mode {
            SearchMode::Vector => self.vectors.search(vector, &filter, q.k),
            SearchMode::Bm25 => self.text.search(&q.text, &filter, q.k),
            SearchMode::Hybrid => {
                let v = self.vectors.search(vector, &filter, c)?;
                let b = self.text.search(&q.text, &filter, c)?;
                let rel = self.fused(&v, &b, vector)?;
                let mut out: Vec<(MemoryId, f32)> = rel.into_iter().collect();
                out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
                out.truncate(q.k);
                Ok(out)
            }
        }
    }

    /// [`MemoryStore::search_with_vector`] embedding the query text first.
    pub fn search(&self, q: &RecallQuery, mode: SearchMode) -> Result<Vec<(MemoryId, f32)>> {
        let v = self.query_vector(&q.text)?;
        self.search_with_vector(q, &v, mode)
    }

    fn query_vector(&self, text: &str) -> Result<Vec<f32>> {
        if text.trim().is_empty() {
            return Ok(vec![0.0; self.embedder.dim()]);
        }
        Ok(self.embed(&[text])?.pop().unwrap_or_default())
    }

    fn fused(
        &self,
        v: &[(MemoryId, f32)],
        b: &[(MemoryId, f32)],
        query: &[f32],
    ) -> Result<HashMap<MemoryId, f32>> {
        // The weighted sum needs the cosine of BM25-only hits: from the vector index when it
        // can say, else from SQLite's copy of the vector.
        let mut cos: HashMap<MemoryId, f32> = HashMap::new();
        if matches!(self.config.scoring.fusion, crate::Fusion::Weighted { .. }) {
            let missing: Vec<MemoryId> = b
                .iter()
                .map(|h| h.0)
                .filter(|id| !v.iter().any(|x| x.0 == *id))
                .collect();
            let known = self.vectors.similarities(query, &missing)?;
            let mut unknown = Vec::new();
            for (id, c) in missing.iter().zip(known) {
                match c {
                    Some(c) => drop(cos.insert(*id, c)),
                    None => unknown.push(*id),
                }
            }
            for r in self.db.records(&unknown)? {
                cos.insert(r.id, dot(query, &r.embedding));
            }
        }
        Ok(fuse(v, b, self.config.scoring.fusion, &|id| {
            cos.get(&id).copied()
        }))
    }

    /// The best `q.k` memories by recency, importance and relevance, given the query's embedding;
    /// marks them accessed at `q.now`. Returned records leave out the embedding.
    pub fn recall_with_vector(&self, q: &RecallQuery, vector: &[f32]) -> Result<Vec<Recalled>> {
        self.flush()?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let filter = VectorFilter::of(q);
        let c = self.candidates(q.k);
        let rel: HashMap<MemoryId, f32> = if q.text.trim().is_empty() {
            // Nothing to be relevant to: the newest memories compete on recency and importance.
            self.db
                .newest(q.agent.as_deref(), &q.kinds, q.after, q.before, q.now, c)?
                .into_iter()
                .map(|id| (id, 0.0))
                .collect()
        } else {
            let v = self.vectors.search(vector, &filter, c)?;
            let b = self.text.search(&q.text, &filter, c)?;
            self.fused(&v, &b, vector)?
        };
        let ids: Vec<MemoryId> = rel.keys().copied().collect();
        let cands: Vec<Candidate> = self
            .db
            .score_rows(&ids)?
            .into_iter()
            .map(|r| Candidate {
                id: r.id,
                importance: r.importance,
                last_accessed: r.last_accessed,
                relevance: rel.get(&r.id).copied().unwrap_or(0.0),
            })
            .collect();
        let mut ranked = rank(&cands, q.now, &self.config.scoring);
        ranked.truncate(q.k);
        let top: Vec<MemoryId> = ranked.iter().map(|s| s.id).collect();
        let mut records: HashMap<MemoryId, MemoryRecord> = self
            .db
            .records(&top)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        self.db.touch(&top, q.now)?;
        Ok(ranked
            .into_iter()
            .filter_map(|s| {
                let mut record = records.remove(&s.id)?;
                // Belt and braces: the indexes filter, SQLite has the final word.
                if !filter.matches(&record.agent, record.kind, record.created, record.expires) {
                    return None;
                }
                record.embedding = Vec::new();
                record.last_accessed = record.last_accessed.max(q.now);
                Some(Recalled {
                    record,
                    score: s.score,
                    recency: s.recency,
                    importance: s.importance,
                    relevance: s.relevance,
                })
            })
            .collect())
    }
}

impl MemoryStore {
    /// Stores one memory (see [`MemoryStore::add_batch`]).
    pub fn add(&self, memory: NewMemory) -> Result<MemoryId> {
        let ids = self.add_batch(vec![memory])?;
        ids.first()
            .copied()
            .ok_or_else(|| crate::Error::Invalid("the insert returned no id".into()))
    }

    /// Embeds the query text and recalls (see [`MemoryStore::recall_with_vector`]).
    pub fn recall(&self, query: &RecallQuery) -> Result<Vec<Recalled>> {
        let v = self.query_vector(&query.text)?;
        self.recall_with_vector(query, &v)
    }
}

impl MemoryStream for MemoryStore {
    fn add(&self, memory: NewMemory) -> hamlet_core::Result<MemoryId> {
        Ok(MemoryStore::add(self, memory)?)
    }

    fn recall(&self, query: &RecallQuery) -> hamlet_core::Result<Vec<Recalled>> {
        Ok(MemoryStore::recall(self, query)?)
    }

    fn get(&self, id: MemoryId) -> hamlet_core::Result<Option<MemoryRecord>> {
        Ok(MemoryStore::get(self, id)?)
    }

    fn add_batch(&self, memories: Vec<NewMemory>) -> hamlet_core::Result<Vec<MemoryId>> {
        Ok(MemoryStore::add_batch(self, memories)?)
    }
}
