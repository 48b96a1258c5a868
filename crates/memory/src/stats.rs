//! What a store holds (`hamlet memory stats`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::store::MemoryStore;
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

impl MemoryStore {
    pub fn stats(&self) -> Result<Stats> {
        self.flush()?;
        let mut by_agent: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut memories = 0;
        for (agent, kind, n) in self.db.counts()? {
            memories += n as u64;
            by_agent.entry(agent).or_default().insert(kind, n as u64);
        }
        Ok(Stats {
            dir: self.dir.display().to_string(),
            memories,
            by_agent,
            newest_id: self.db.max_id()?,
            vector_index: self.vectors.describe(),
            vector_points: self.vectors.len()?,
            vector_watermark: self.vectors.watermark()?,
            bm25_documents: self.text.len(),
            bm25_watermark: self.text.watermark()?,
            dim: self.embedder.dim(),
            embedder: self.db.meta("embedder")?,
            disk_bytes: dir_size(&self.dir),
        })
    }

    /// Importance summed over `agent`'s memories since its last reflection.
    pub fn importance_since_reflection(&self, agent: &str) -> Result<i64> {
        self.db.importance_since_reflection(agent)
    }
}
