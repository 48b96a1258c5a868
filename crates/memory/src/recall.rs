//! Retrieval: over-fetch candidates from the vector and BM25 indexes (the query's filter applied
//! inside each index), fuse their relevance and rank with recency and importance from the rows
//! (both with `hamlet_core::score`, the functions every stream shares; the embedded store keeps
//! those two columns in memory, see `scores.rs`), return the best `k`, and
//! mark them accessed. No step is O(N) in the store's size except the embedded index's scan of
//! the filtered vectors.

use std::collections::HashMap;
use std::sync::Arc;

use hamlet_core::score::{fuse, rank, Candidate, Fusion, Scored};
use hamlet_core::{Embedder, MemoryId, MemoryRecord, RecallQuery, Recalled};

use crate::index::off_thread;
use crate::ingest::embed_texts;
use crate::records::RecordStore;
use crate::store::AsyncMemoryStore;
use crate::vector::dot;
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

/// What the indexes answered for one query.
struct Hits {
    vector: Vec<(MemoryId, f32)>,
    bm25: Vec<(MemoryId, f32)>,
    /// The cosine of BM25-only hits, where the vector index can say (weighted fusion only).
    cosines: HashMap<MemoryId, f32>,
    /// BM25-only hits whose cosine must come from the rows' copy of the vector.
    unknown: Vec<MemoryId>,
}

impl<R: RecordStore> AsyncMemoryStore<R> {
    /// Asks both indexes (on the blocking pool), `n` hits each, for `which` of them.
    async fn hits(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        n: usize,
        which: SearchMode,
    ) -> Result<Hits> {
        let (vectors, text) = (Arc::clone(&self.vectors), Arc::clone(&self.text));
        let (q, query) = (q.clone(), vector.to_vec());
        let weighted = matches!(self.config.scoring.fusion, Fusion::Weighted { .. });
        off_thread(move || {
            let vector = match which {
                SearchMode::Bm25 => Vec::new(),
                _ => vectors.search(&query, &q, n)?,
            };
            let bm25 = match which {
                SearchMode::Vector => Vec::new(),
                _ => text.search(&q.text, &q, n)?,
            };
            let (mut cosines, mut unknown) = (HashMap::new(), Vec::new());
            if which == SearchMode::Hybrid && weighted {
                let missing: Vec<MemoryId> = bm25
                    .iter()
                    .map(|h| h.0)
                    .filter(|id| !vector.iter().any(|x| x.0 == *id))
                    .collect();
                for (id, c) in missing.iter().zip(vectors.similarities(&query, &missing)?) {
                    match c {
                        Some(c) => drop(cosines.insert(*id, c)),
                        None => unknown.push(*id),
                    }
                }
            }
            Ok(Hits {
                vector,
                bm25,
                cosines,
                unknown,
            })
        })
        .await
    }

    /// The fused relevance of the hits (the weighted sum needs the cosine of BM25-only hits:
    /// from the vector index when it can say, else from the rows' copy of the vector).
    async fn fused(&self, mut h: Hits, query: &[f32]) -> Result<HashMap<MemoryId, f32>> {
        for r in self.rows.records(&h.unknown).await? {
            h.cosines.insert(r.id, dot(query, &r.embedding));
        }
        Ok(fuse(
            &h.vector,
            &h.bm25,
            self.config.scoring.fusion,
            &|id| h.cosines.get(&id).copied(),
        ))
    }

    /// Relevance-only search (no recency, no importance, nothing marked accessed): the ids and
    /// scores ranked by `mode`. Uses the query's filter; `vector` is the query's embedding.
    pub async fn search_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
        mode: SearchMode,
    ) -> Result<Vec<(MemoryId, f32)>> {
        self.commit_indexes().await?;
        match mode {
            SearchMode::Vector => Ok(self.hits(q, vector, q.k, mode).await?.vector),
            SearchMode::Bm25 => Ok(self.hits(q, vector, q.k, mode).await?.bm25),
            SearchMode::Hybrid => {
                let h = self
                    .hits(q, vector, self.config.candidates(q.k), mode)
                    .await?;
                let mut out: Vec<(MemoryId, f32)> =
                    self.fused(h, vector).await?.into_iter().collect();
                out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
                out.truncate(q.k);
                Ok(out)
            }
        }
    }

    /// [`AsyncMemoryStore::search_with_vector`] embedding the query text first.
    pub async fn search(&self, q: &RecallQuery, mode: SearchMode) -> Result<Vec<(MemoryId, f32)>> {
        let v = self.query_vector(&q.text).await?;
        self.search_with_vector(q, &v, mode).await
    }

    async fn query_vector(&self, text: &str) -> Result<Vec<f32>> {
        query_vector(Arc::clone(&self.embedder), text).await
    }

    /// The best `q.k` memories by recency, importance and relevance, given the query's embedding;
    /// marks them accessed at `q.now`. Returned records leave out the embedding.
    pub async fn recall_with_vector(
        &self,
        q: &RecallQuery,
        vector: &[f32],
    ) -> Result<Vec<Recalled>> {
        self.commit_indexes().await?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let c = self.config.candidates(q.k);
        let rel: HashMap<MemoryId, f32> = if q.text.trim().is_empty() {
            // Nothing to be relevant to: the newest memories compete on recency and importance.
            self.rows
                .newest(q, c)
                .await?
                .into_iter()
                .map(|id| (id, 0.0))
                .collect()
        } else {
            let h = self.hits(q, vector, c, SearchMode::Hybrid).await?;
            self.fused(h, vector).await?
        };
        let ids: Vec<MemoryId> = rel.keys().copied().collect();
        let cands: Vec<Candidate> = self
            .rows
            .score_rows(&ids)
            .await?
            .into_iter()
            .map(|r| r.candidate(rel.get(&r.id).copied().unwrap_or(0.0)))
            .collect();
        let mut ranked = rank(&cands, q.now, &self.config.scoring);
        ranked.truncate(q.k);
        let top: Vec<MemoryId> = ranked.iter().map(|s| s.id).collect();
        let records: HashMap<MemoryId, MemoryRecord> = self
            .rows
            .records(&top)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        self.rows.touch(&top, q.now).await?;
        Ok(recalled(ranked, records, q))
    }

    /// Embeds the query text and recalls (see [`AsyncMemoryStore::recall_with_vector`]).
    pub async fn recall(&self, query: &RecallQuery) -> Result<Vec<Recalled>> {
        let v = self.query_vector(&query.text).await?;
        self.recall_with_vector(query, &v).await
    }
}

/// The ranked memories with their records, as a recall returns them: each record checked
/// against the query's filter (the indexes filtered; the shared definition has the final word),
/// its embedding left out and its access time at least `q.now`. Every store ends a recall here.
pub(crate) fn recalled(
    ranked: Vec<Scored>,
    mut records: HashMap<MemoryId, MemoryRecord>,
    q: &RecallQuery,
) -> Vec<Recalled> {
    ranked
        .into_iter()
        .filter_map(|s| {
            let mut record = records.remove(&s.id)?;
            if !q.matches_record(&record) {
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
        .collect()
}

/// The embedding of a query's text: zeros for no text (nothing to be relevant to).
pub(crate) async fn query_vector(embedder: Arc<dyn Embedder>, text: &str) -> Result<Vec<f32>> {
    if text.trim().is_empty() {
        return Ok(vec![0.0; embedder.dim()]);
    }
    Ok(embed_texts(embedder, vec![text.to_string()])
        .await?
        .pop()
        .unwrap_or_default())
}
