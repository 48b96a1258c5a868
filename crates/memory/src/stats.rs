//! What a store holds (`hamlet memory stats`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::records::RecordStore;
use crate::store::AsyncMemoryStore;
use crate::Result;

/// Counts and index state of a store.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub dir: String,
    pub memories: u64,
    /// agent -> kind -> count
    pub by_agent: BTreeMap<String, BTreeMap<String, u64>>,
    pub newest_id: i64,
    pub vector_index: String,
    pub vector_points: usize,
    pub vector_watermark: i64,
    /// What keeps the full text ("tantivy BM25", or PostgreSQL's tsvector).
    pub text_index: String,
    pub bm25_documents: u64,
    pub bm25_watermark: i64,
    pub dim: usize,
    pub embedder: Option<String>,
    pub disk_bytes: u64,
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The total and the counts per agent, then kind, from (agent, kind, count) rows.
pub(crate) fn by_agent(
    counts: Vec<(String, String, u64)>,
) -> (u64, BTreeMap<String, BTreeMap<String, u64>>) {
    let mut by_agent: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut memories = 0;
    for (agent, kind, n) in counts {
        memories += n;
        by_agent.entry(agent).or_default().insert(kind, n);
    }
    (memories, by_agent)
}

impl<R: RecordStore> AsyncMemoryStore<R> {
    pub async fn stats(&self) -> Result<Stats> {
        self.commit_indexes().await?;
        let (memories, by_agent) = by_agent(self.rows.counts().await?);
        let (vectors, text) = (self.vectors.clone(), self.text.clone());
        let (vector_points, vector_watermark, bm25_documents, bm25_watermark) =
            crate::index::off_thread(move || {
                use crate::index::DerivedIndex;
                Ok((
                    vectors.len()?,
                    vectors.watermark()?,
                    text.len()? as u64,
                    text.watermark()?,
                ))
            })
            .await?;
        Ok(Stats {
            dir: self.dir.display().to_string(),
            memories,
            by_agent,
            newest_id: self.rows.max_id().await?,
            vector_index: self.vectors.describe(),
            vector_points,
            vector_watermark,
            text_index: "tantivy BM25".into(),
            bm25_documents,
            bm25_watermark,
            dim: self.embedder.dim(),
            embedder: self.rows.meta("embedder").await?,
            disk_bytes: dir_size(&self.dir),
        })
    }
}
