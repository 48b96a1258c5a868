//! Vector indexes: the [`VectorIndex`] trait and its two implementations, the embedded
//! [`FlatIndex`] (an exact scan, the default) and [`QdrantIndex`] (a Qdrant server or cluster).
//!
//! A vector index is a [`DerivedIndex`]: the store writes every memory to SQLite first, then
//! upserts it here and commits with a watermark (see `index.rs` for the repair and rebuild that
//! this makes possible). Searches filter with the recall query itself, translating
//! [`RecallQuery::matches`] into the index's own terms.

mod flat;
mod flat_state;
mod qdrant;

pub use flat::FlatIndex;
pub use qdrant::QdrantIndex;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};

use crate::index::DerivedIndex;
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

/// The points of these records (for [`DerivedIndex::apply`]).
pub fn points(records: &[MemoryRecord]) -> Vec<VectorPoint> {
    records.iter().map(VectorPoint::of).collect()
}

/// A vector index over memory embeddings (cosine similarity on unit vectors).
///
/// Upserts and deletes are visible to `search` at once; [`DerivedIndex::commit`] makes them
/// durable together with the watermark. Implementations are thread-safe; calls block.
pub trait VectorIndex: DerivedIndex {
    /// The vector length it holds.
    fn dim(&self) -> usize;

    /// Inserts or replaces points by id.
    fn upsert(&self, points: &[VectorPoint]) -> Result<()>;

    /// Removes points by id (unknown ids are ignored).
    fn delete(&self, ids: &[MemoryId]) -> Result<()>;

    /// The `k` points most similar to `query` that pass the filter of `q`
    /// ([`RecallQuery::matches`]; its text and `k` are not used), best first, with their cosine.
    fn search(&self, query: &[f32], q: &RecallQuery, k: usize) -> Result<Vec<(MemoryId, f32)>>;

    /// The cosine of `query` with each of `ids` (None where the index holds no such point or
    /// cannot say cheaply; the store then computes it from SQLite's copy of the vector).
    fn similarities(&self, query: &[f32], ids: &[MemoryId]) -> Result<Vec<Option<f32>>> {
        let _ = query;
        Ok(vec![None; ids.len()])
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
    q: &RecallQuery,
    k: usize,
) -> Vec<(MemoryId, f32)> {
    let mut all: Vec<(MemoryId, f32)> = points
        .iter()
        .filter(|p| q.matches(&p.agent, p.kind, p.created, p.expires))
        .map(|p| (p.id, dot(query, &p.vector)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    all.truncate(k);
    all
}
