//! Deterministic test doubles: a scripted model and a hashing embedder.
//!
//! They exist to test loop logic (budgets, retries, parsing) without a model. Every feature that
//! uses them also has a test on the real backend.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::{
    Completion, Embedder, Error, FinishReason, GenerateRequest, Llm, ModelInfo, Result, Timings,
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
            completion_tokens: text.split_whitespace().count(),
            text,
            finish: FinishReason::Stop,
            prompt_tokens: 0,
            cached_tokens: 0,
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
