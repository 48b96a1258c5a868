//! Deterministic test doubles: a scripted model, a hashing embedder, an in-memory stream, and the
//! conformance suite every [`MemoryStream`] passes ([`memory_stream_suite`]).
//!
//! They exist to test loop logic (budgets, retries, parsing) without a model. Every feature that
//! uses them also has a test on the real backend.

mod stream_suite;

pub use stream_suite::memory_stream_suite;

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::score::{rank, Candidate, Scoring};
use crate::{
    Completion, Embedder, Error, FinishReason, GenerateRequest, Llm, MemoryError, MemoryId,
    MemoryRecord, MemoryResult, MemoryStream, ModelInfo, NewMemory, RecallQuery, Recalled, Result,
    Timings, TokenUsage,
};

/// A town run's first record, for tests of what reads event logs: a map one row of `width`
/// street tiles, and one agent, Ada the baker, at (0, 0); the run goes from `start` to `until`.
pub fn town_started(
    start: crate::town::SimTime,
    until: crate::town::SimTime,
    width: usize,
) -> crate::town::EventRecord {
    use crate::town::{AgentInfo, EventRecord, Tile, TownEvent};
    EventRecord {
        step: 0,
        time: start,
        event: TownEvent::RunStarted {
            world: "w".into(),
            scenario: None,
            seed: 1,
            step_secs: 10,
            start,
            until,
            map: vec![".".repeat(width)],
            legend: Default::default(),
            places: vec![],
            agents: vec![AgentInfo {
                name: "Ada".into(),
                initials: "AD".into(),
                age: 30,
                occupation: "baker".into(),
                home: "Home:kitchen".into(),
                tile: Tile::new(0, 0),
            }],
        },
    }
}

/// How many llama.cpp threads a test on a real model uses: `HAMLET_THREADS`, or 1 (a busy machine
/// otherwise stalls the tests; see docs/BENCHMARKS.md).
pub fn threads() -> usize {
    std::env::var("HAMLET_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
}

/// An [`Llm`] that answers with scripted replies, in order, and records every request it saw.
#[derive(Debug, Default)]
pub struct ScriptedLlm {
    replies: Mutex<VecDeque<String>>,
    seen: Mutex<Vec<GenerateRequest>>,
}

impl ScriptedLlm {
    pub fn new<S: Into<String>>(replies: impl IntoIterator<Item = S>) -> Self {
        ScriptedLlm {
            replies: Mutex::new(replies.into_iter().map(Into::into).collect()),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<GenerateRequest> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Llm for ScriptedLlm {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "scripted".into(),
            context_length: 1 << 16,
            parallel: 1,
        }
    }

    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(request.clone());
        }
        let text = self
            .replies
            .lock()
            .ok()
            .and_then(|mut r| r.pop_front())
            .ok_or_else(|| Error::backend("scripted model", "no scripted reply left"))?;
        let json = match &request.json_schema {
            Some(_) => Some(
                serde_json::from_str(&text).map_err(|e| Error::InvalidOutput {
                    reason: e.to_string(),
                    text: text.clone(),
                })?,
            ),
            None => None,
        };
        on_text(&text);
        Ok(Completion {
            usage: TokenUsage::new(0, 0, text.split_whitespace().count() as u64),
            text,
            finish: FinishReason::Stop,
            timings: Timings::default(),
            json,
        })
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
}

/// An [`Embedder`] that hashes words into buckets: texts sharing words get similar vectors.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    pub fn new(dim: usize) -> Self {
        HashEmbedder { dim: dim.max(1) }
    }
}

impl Embedder for HashEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; self.dim];
                for word in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    // FNV-1a: stable across runs and platforms.
                    let h = word
                        .to_lowercase()
                        .bytes()
                        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                        });
                    v[(h % self.dim as u64) as usize] += 1.0;
                }
                crate::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

/// An in-memory [`MemoryStream`]. Its raw relevance is the share of the query's words found in a
/// memory (where the store fuses cosine and BM25); filtering ([`RecallQuery::matches`]),
/// validation ([`NewMemory::validate`]) and scoring ([`crate::score::rank`] with the default
/// [`Scoring`]) are the real store's own functions, so a loop test sees the store's ranking
/// rules. For loop tests only; `hamlet-memory` is the store.
#[derive(Debug, Default)]
pub struct VecMemory {
    records: Mutex<Vec<MemoryRecord>>,
}

impl VecMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored so far.
    pub fn all(&self) -> Vec<MemoryRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn lock(&self) -> MemoryResult<std::sync::MutexGuard<'_, Vec<MemoryRecord>>> {
        self.records
            .lock()
            .map_err(|_| MemoryError::store("the test memory's lock was poisoned by a panic"))
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Importance of a memory stored without one (the store's default when nothing rates it).
const DEFAULT_IMPORTANCE: u8 = 5;

impl MemoryStream for VecMemory {
    fn add(&self, m: NewMemory) -> MemoryResult<MemoryId> {
        m.validate()?;
        let mut records = self.lock()?;
        let id = records.len() as MemoryId + 1;
        let importance = m.importance.unwrap_or(DEFAULT_IMPORTANCE);
        records.push(m.into_record(id, importance, Vec::new()));
        Ok(id)
    }

    fn add_batch(&self, memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        // All or nothing, as the store's one transaction.
        memories.iter().try_for_each(NewMemory::validate)?;
        memories.into_iter().map(|m| self.add(m)).collect()
    }

    fn recall(&self, q: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        let mut records = self.lock()?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let qw = words(&q.text);
        let candidates: Vec<Candidate> = records
            .iter()
            .filter(|r| q.matches_record(r))
            .map(|r| {
                let rw = words(&r.text);
                let relevance = if qw.is_empty() {
                    0.0
                } else {
                    qw.iter().filter(|w| rw.contains(w)).count() as f32 / qw.len() as f32
                };
                Candidate {
                    id: r.id,
                    importance: r.importance,
                    last_accessed: r.last_accessed,
                    relevance,
                }
            })
            .collect();
        let mut ranked = rank(&candidates, q.now, &Scoring::default());
        ranked.truncate(q.k);
        Ok(ranked
            .into_iter()
            .filter_map(|s| {
                // Ids are positions from 1.
                let r = records.get_mut(usize::try_from(s.id - 1).ok()?)?;
                r.last_accessed = r.last_accessed.max(q.now);
                Some(Recalled {
                    record: r.clone(),
                    score: s.score,
                    recency: s.recency,
                    importance: s.importance,
                    relevance: s.relevance,
                })
            })
            .collect())
    }

    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        Ok(self.lock()?.iter().find(|m| m.id == id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_embedder_prefers_shared_words() {
        let e = HashEmbedder::new(64);
        let v = e
            .embed(&["the cat sat", "a cat sat down", "stock prices fell"])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]));
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn scripted_llm_replays_in_order_and_then_errors() {
        let llm = ScriptedLlm::new(["one", "two"]);
        let req = GenerateRequest::raw("hi");
        assert_eq!(llm.generate(&req).unwrap().text, "one");
        assert_eq!(llm.generate(&req).unwrap().text, "two");
        assert!(llm.generate(&req).is_err());
        assert_eq!(llm.requests().len(), 3);
    }

    #[test]
    fn vec_memory_passes_the_stream_suite() {
        memory_stream_suite(&mut || Box::new(VecMemory::new()));
    }

    #[test]
    fn sampling_validation_names_the_field() {
        let s = crate::Sampling {
            top_p: 0.0,
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("top-p"));
        assert!(crate::Sampling::default().validate().is_ok());
    }
}
