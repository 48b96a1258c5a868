//! Retrieval scoring: `score = w_r·recency + w_i·importance + w_v·relevance`.
//!
//! It lives in core, not in `hamlet-memory`, so that every [`crate::MemoryStream`] ranks with the
//! same function: the SQLite store, a future PostgreSQL one, and the test double
//! [`crate::testing::VecMemory`] differ in where candidates and their raw relevance come from,
//! never in how they are fused and scored.
//!
//! Each part lies in 0..=1: recency is `decay^hours` since the memory was last accessed (newer
//! scores higher; Generative Agents' released code inverts this by accident), importance is
//! `(rating − 1) / 9`, and relevance (cosine fused with BM25) is min–max normalised over the
//! candidates of the query. Ties fall back to relevance, importance, recency, then the newer id,
//! so "more of one part, all else equal" never ranks lower.

use std::collections::HashMap;

use crate::{MemoryId, TimeMs};
use serde::{Deserialize, Serialize};

/// The weights of the three parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub recency: f32,
    pub importance: f32,
    pub relevance: f32,
}

impl Default for Weights {
    /// Relevance counts twice: an agent asking about X should hear about X first, and recency or
    /// importance break the tie between memories about X.
    fn default() -> Self {
        Weights {
            recency: 1.0,
            importance: 1.0,
            relevance: 2.0,
        }
    }
}

/// How cosine similarity and BM25 are combined into one relevance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal-rank fusion: `Σ 1/(k + rank)` over the two ranked lists.
    Rrf { k: f32 },
    /// `vector·max(cos, 0) + (1 − vector)·bm25/max_bm25`.
    Weighted { vector: f32 },
}

impl Default for Fusion {
    /// The weighted sum with 0.7 on the cosine: on the labelled set (crates/memory/tests/
    /// labelled.rs, MiniLM) it had the best precision and recall of the fusions measured; RRF
    /// and the 0.5/0.5 sum tied below it (see docs/BENCHMARKS.md, "Memory").
    fn default() -> Self {
        Fusion::Weighted { vector: 0.7 }
    }
}

/// Scoring settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    pub weights: Weights,
    /// Recency multiplier per hour since last access (0.995: half-life of about 6 days).
    pub decay_per_hour: f64,
    pub fusion: Fusion,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            weights: Weights::default(),
            decay_per_hour: 0.995,
            fusion: Fusion::default(),
        }
    }
}

/// Recency in 0..=1: `decay^hours` since `last_accessed` (1 when accessed at `now` or later).
pub fn recency(last_accessed: TimeMs, now: TimeMs, decay_per_hour: f64) -> f32 {
    let hours = (now.saturating_sub(last_accessed)).max(0) as f64 / 3_600_000.0;
    decay_per_hour.clamp(0.0, 1.0).powf(hours) as f32
}

/// Importance in 0..=1 from a 1–10 rating.
pub fn importance(rating: u8) -> f32 {
    (rating.clamp(1, 10) - 1) as f32 / 9.0
}

/// Fuses the vector hits (id, cosine, best first) and BM25 hits (id, score, best first) into a
/// raw relevance per candidate. `cosine_of` gives the cosine of a BM25-only candidate (needed by
/// the weighted sum only).
pub fn fuse(
    vector: &[(MemoryId, f32)],
    bm25: &[(MemoryId, f32)],
    fusion: Fusion,
    cosine_of: &dyn Fn(MemoryId) -> Option<f32>,
) -> HashMap<MemoryId, f32> {
    let mut rel: HashMap<MemoryId, f32> = HashMap::new();
    match fusion {
        Fusion::Rrf { k } => {
            for list in [vector, bm25] {
                for (rank, (id, _)) in list.iter().enumerate() {
                    *rel.entry(*id).or_default() += 1.0 / (k + rank as f32 + 1.0);
                }
            }
        }
        Fusion::Weighted { vector: a } => {
            let a = a.clamp(0.0, 1.0);
            let max_bm = bm25.iter().map(|h| h.1).fold(0.0f32, f32::max);
            let cos: HashMap<MemoryId, f32> = vector.iter().copied().collect();
            let bm: HashMap<MemoryId, f32> = bm25.iter().copied().collect();
            for id in cos.keys().chain(bm.keys()) {
                let c = cos
                    .get(id)
                    .copied()
                    .or_else(|| cosine_of(*id))
                    .unwrap_or(0.0);
                let b = if max_bm > 0.0 {
                    bm.get(id).copied().unwrap_or(0.0) / max_bm
                } else {
                    0.0
                };
                rel.insert(*id, a * c.max(0.0) + (1.0 - a) * b);
            }
        }
    }
    rel
}

/// A candidate to rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: MemoryId,
    pub importance: u8,
    pub last_accessed: TimeMs,
    /// Raw (fused) relevance; normalised over the candidates by [`rank`].
    pub relevance: f32,
}

/// A ranked candidate with its score and the normalised parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub id: MemoryId,
    pub score: f32,
    pub recency: f32,
    pub importance: f32,
    pub relevance: f32,
}

/// Scores and sorts `candidates`, best first.
pub fn rank(candidates: &[Candidate], now: TimeMs, s: &Scoring) -> Vec<Scored> {
    let (lo, hi) = candidates
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(c.relevance), hi.max(c.relevance))
        });
    let norm = |r: f32| {
        if hi - lo > f32::EPSILON {
            (r - lo) / (hi - lo)
        } else if hi > 0.0 {
            1.0
        } else {
            0.0
        }
    };
    let w = s.weights;
    let mut out: Vec<Scored> = candidates
        .iter()
        .map(|c| {
            let (rec, imp, rel) = (
                recency(c.last_accessed, now, s.decay_per_hour),
                importance(c.importance),
                norm(c.relevance),
            );
            Scored {
                id: c.id,
                score: w.recency * rec + w.importance * imp + w.relevance * rel,
                recency: rec,
                importance: imp,
                relevance: rel,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.relevance.total_cmp(&a.relevance))
            .then(b.importance.total_cmp(&a.importance))
            .then(b.recency.total_cmp(&a.recency))
            .then(b.id.cmp(&a.id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_is_one_now_and_decays_per_hour() {
        assert_eq!(recency(1000, 1000, 0.995), 1.0);
        let r = recency(0, 3_600_000, 0.995);
        assert!((r - 0.995).abs() < 1e-6);
        assert!(recency(0, 10 * 3_600_000, 0.995) < r);
        // Accessed in the "future" (clock skew): no bonus above 1.
        assert_eq!(recency(5000, 1000, 0.995), 1.0);
    }

    #[test]
    fn importance_spans_zero_to_one() {
        assert_eq!(importance(1), 0.0);
        assert_eq!(importance(10), 1.0);
        assert_eq!(importance(0), 0.0);
        assert_eq!(importance(200), 1.0);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let v = [(1, 0.9), (2, 0.8)];
        let b = [(2, 5.0), (3, 4.0)];
        let r = fuse(&v, &b, Fusion::Rrf { k: 60.0 }, &|_| None);
        assert!(r[&2] > r[&1] && r[&1] > r[&3]);
    }

    #[test]
    fn weighted_uses_the_cosine_of_bm25_only_hits() {
        let v = [(1, 0.5)];
        let b = [(3, 4.0)];
        let r = fuse(&v, &b, Fusion::Weighted { vector: 0.5 }, &|id| {
            (id == 3).then_some(0.9)
        });
        assert!((r[&3] - (0.45 + 0.5)).abs() < 1e-6);
        assert!((r[&1] - 0.25).abs() < 1e-6);
    }
}
