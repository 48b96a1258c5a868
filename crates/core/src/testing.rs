//! Deterministic test doubles: a scripted model and a hashing embedder.
//!
//! They exist to test loop logic (budgets, retries, parsing) without a model. Every feature that
//! uses them also has a test on the real backend.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::{
    Completion, Embedder, Error, FinishReason, GenerateRequest, Llm, MemoryId, MemoryRecord,
    MemoryStream, ModelInfo, NewMemory, RecallQuery, Recalled, Result, Timings, TokenUsage,
};

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

/// An in-memory [`MemoryStream`]: relevance is the share of query words found in a memory, recency
/// and importance as the real store scores them. For loop tests only; `hamlet-memory` is the store.
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
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl MemoryStream for VecMemory {
    fn add(&self, m: NewMemory) -> Result<MemoryId> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| Error::Unsupported("memory lock poisoned".into()))?;
        let id = records.len() as MemoryId + 1;
        records.push(MemoryRecord {
            id,
            agent: m.agent,
            kind: m.kind,
            text: m.text,
            created: m.created,
            last_accessed: m.created,
            importance: m.importance.unwrap_or(5).clamp(1, 10),
            embedding: Vec::new(),
            evidence: m.evidence,
            expires: m.expires,
            metadata: m.metadata,
        });
        Ok(id)
    }

    fn recall(&self, q: &RecallQuery) -> Result<Vec<Recalled>> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| Error::Unsupported("memory lock poisoned".into()))?;
        let qw = words(&q.text);
        let mut hits: Vec<(usize, Recalled)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| q.agent.as_ref().is_none_or(|a| &r.agent == a))
            .filter(|(_, r)| q.kinds.is_empty() || q.kinds.contains(&r.kind))
            .filter(|(_, r)| q.after.is_none_or(|t| r.created >= t))
            .filter(|(_, r)| q.before.is_none_or(|t| r.created < t))
            .filter(|(_, r)| r.expires.is_none_or(|t| t > q.now))
            .map(|(i, r)| {
                let rw = words(&r.text);
                let relevance = if qw.is_empty() {
                    0.0
                } else {
                    qw.iter().filter(|w| rw.contains(w)).count() as f32 / qw.len() as f32
                };
                let hours = (q.now - r.last_accessed).max(0) as f64 / 3_600_000.0;
                let recency = 0.995f64.powf(hours) as f32;
                let importance = f32::from(r.importance - 1) / 9.0;
                let score = recency + importance + relevance;
                (
                    i,
                    Recalled {
                        record: r.clone(),
                        score,
                        recency,
                        importance,
                        relevance,
                    },
                )
            })
            .collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        hits.truncate(q.k);
        for (i, _) in &hits {
            records[*i].last_accessed = q.now;
        }
        Ok(hits.into_iter().map(|(_, h)| h).collect())
    }

    fn get(&self, id: MemoryId) -> Result<Option<MemoryRecord>> {
        Ok(self
            .records
            .lock()
            .ok()
            .and_then(|r| r.iter().find(|m| m.id == id).cloned()))
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
    fn sampling_validation_names_the_field() {
        let s = crate::Sampling {
            top_p: 0.0,
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("top-p"));
        assert!(crate::Sampling::default().validate().is_ok());
    }
}
