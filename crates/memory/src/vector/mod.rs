//! Vector indexes: the [`VectorIndex`] trait and its two implementations, the embedded
//! [`FlatIndex`] (an exact scan, the default) and [`QdrantIndex`] (a Qdrant server or cluster).
//!
//! An index is derived data: the store writes every memory to SQLite first, then upserts it here
//! and commits with a *watermark*, the highest memory id the index holds. On open the store
//! re-applies every row above the watermark, so a crash between the SQLite commit and the index
//! commit is repaired without a full rebuild.

mod flat;
mod flat_state;
mod qdrant;

pub use flat::FlatIndex;
pub use qdrant::QdrantIndex;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};

use crate::Result;

/// One vector with the fields filters apply to.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorPoint {
    pub id: MemoryId,
    pub agent: String,
    pub kind: MemoryKind,
    pub created: TimeMs,
    pub expires: Option<TimeMs>,
    /// Unit length.
    pub vector: Vec<f32>,
}

impl VectorPoint {
    pub fn of(r: &MemoryRecord) -> Self {
        VectorPoint {
            id: r.id,
            agent: r.agent.clone(),
            kind: r.kind,
            created: r.created,
            expires: r.expires,
            vector: r.embedding.clone(),
        }
    }
}

/// Which points a search may return. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorFilter {
    pub agent: Option<String>,
    pub kinds: Vec<MemoryKind>,
    /// Created at or after.
    pub after: Option<TimeMs>,
    /// Created before.
    pub before: Option<TimeMs>,
    /// Not expired at this time (`expires` unset or later).
    pub alive_at: Option<TimeMs>,
}

impl VectorFilter {
    /// The filter of a recall query (expiry measured at `query.now`).
    pub fn of(q: &RecallQuery) -> Self {
        VectorFilter {
            agent: q.agent.clone(),
            kinds: q.kinds.clone(),
            after: q.after,
            before: q.before,
            alive_at: Some(q.now),
        }
    }

    pub fn matches(
        &self,
        agent: &str,
        kind: MemoryKind,
        created: TimeMs,
        expires: Option<TimeMs>,
    ) -> bool {
        self.agent.as_deref().is_none_or(|a| a == agent)
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.after.is_none_or(|t| created >= t)
            && self.before.is_none_or(|t| created < t)
            && self
                .alive_at
                .is_none_or(|now| expires.is_none_or(|e| e > now))
    }
}

/// A vector index over memory embeddings (cosine similarity on unit vectors).
///
/// Upserts and deletes are visible to `search` at once; `commit` makes them durable together with
/// the watermark. Implementations are thread-safe; calls block.
pub trait VectorIndex: Send + Sync {
    /// What this index is, for logs and `hamlet memory stats` (e.g. "embedded exact scan").
    fn describe(&self) -> String;

    /// The vector length it holds.
    fn dim(&self) -> usize;

    /// Inserts or replaces points by id.
    fn upsert(&self, points: &[VectorPoint]) -> Result<()>;

    /// Removes points by id (unknown ids are ignored).
    fn delete(&self, ids: &[MemoryId]) -> Result<()>;

    /// The `k` points most similar to `query` that pass `filter`, best first, with their cosine.
    fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter,
        k: usize,
    ) -> Result<Vec<(MemoryId, f32)>>;

    /// The cosine of `query` with each of `ids` (None where the index holds no such point or
    /// cannot say cheaply; the store then computes it from SQLite's copy of the vector).
    fn similarities(&self, query: &[f32], ids: &[MemoryId]) -> Result<Vec<Option<f32>>> {
        let _ = query;
        Ok(vec![None; ids.len()])
    }

    /// Makes every change so far durable and records `watermark` (the highest id applied).
    fn commit(&self, watermark: MemoryId) -> Result<()>;

    /// The watermark of the last commit (0 for a new index).
    fn watermark(&self) -> Result<MemoryId>;

    /// Removes every point and resets the watermark to 0 (durably).
    fn clear(&self) -> Result<()>;

    /// How many points it holds.
    fn len(&self) -> Result<usize>;

    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Cosine of two unit vectors: their dot product, vectorised for the CPU it runs on (AVX2 and
/// FMA when present, else what the compiler auto-vectorises for the baseline target).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_fn()(a, b)
}

/// The dot-product kernel for this CPU, picked once.
pub(crate) fn dot_fn() -> fn(&[f32], &[f32]) -> f32 {
    type Kernel = fn(&[f32], &[f32]) -> f32;
    static PICK: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *PICK.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return dot_avx2;
            }
        }
        dot_portable
    })
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_inner(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only picked by `dot_fn` after checking the CPU has AVX2 and FMA.
    unsafe { dot_avx2_inner(a, b) }
}

/// Exact top-k by brute force over `points` (the reference the indexes are measured against).
pub fn exact_search(
    points: &[VectorPoint],
    query: &[f32],
    filter: &VectorFilter,
    k: usize,
) -> Vec<(MemoryId, f32)> {
    let mut all: Vec<(MemoryId, f32)> = points
        .iter()
        .filter(|p| filter.matches(&p.agent, p.kind, p.created, p.expires))
        .map(|p| (p.id, dot(query, &p.vector)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    all.truncate(k);
    all
}
