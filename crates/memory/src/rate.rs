//! Importance rating, outside the store: [`ImportanceRater`] asks the LLM to rate memories 1–10
//! (Generative Agents' poignancy), all the memories of one write in one
//! [`Llm::generate_batch`](hamlet_core::Llm::generate_batch) call, and [`Rated`] wraps any
//! [`MemoryStream`] so that what it is given unrated gets rated before it is stored.
//!
//! Why not inside the store: the store's job is to keep and find memories; a model call per
//! write made every `add` as slow as a generation, hid that latency behind a storage API, and
//! sent the memories of one town tick one by one where a batched decode rates them together.

use std::sync::Arc;

use hamlet_core::{
    Llm, MemoryId, MemoryRecord, MemoryResult, MemoryStream, NewMemory, RecallQuery, Recalled,
    SnapshotStream,
};
use serde_json::json;

use crate::prompts::{json_request, read_json, Prompts};

/// Rates memories' importance with an LLM (the `importance.j2` prompt, one grammar-constrained
/// reply of at most 16 tokens each).
pub struct ImportanceRater {
    llm: Arc<dyn Llm>,
    prompts: Prompts,
    /// The rating used when the model fails or replies without one (logged).
    pub fallback: u8,
}

impl std::fmt::Debug for ImportanceRater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportanceRater")
            .field("model", &self.llm.info().name)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl ImportanceRater {
    /// A rater on `llm` with the built-in prompt and fallback 5.
    pub fn new(llm: Arc<dyn Llm>) -> Self {
        ImportanceRater {
            llm,
            prompts: Prompts::default(),
            fallback: 5,
        }
    }

    /// Uses these templates (an override directory) instead of the built-in one.
    pub fn with_prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = prompts;
        self
    }

    /// Rates each `(agent, text)` 1–10, in order, with one batched model call. A reply that
    /// fails or has no rating gets the fallback (logged) rather than failing the write.
    pub fn rate(&self, items: &[(&str, &str)]) -> Vec<u8> {
        let schema = json!({
            "type": "object",
            "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 10}},
            "required": ["rating"]
        });
        let mut out = vec![self.fallback; items.len()];
        let mut requests = Vec::with_capacity(items.len());
        let mut asked = Vec::with_capacity(items.len());
        for (i, (agent, text)) in items.iter().enumerate() {
            let ctx = minijinja::context! { agent, memory => text };
            match json_request(&self.prompts, "importance.j2", ctx, schema.clone(), 16) {
                Ok(r) => {
                    requests.push(r);
                    asked.push(i);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rendering the importance prompt failed; using the fallback")
                }
            }
        }
        if requests.is_empty() {
            return out;
        }
        for (i, reply) in asked.into_iter().zip(self.llm.generate_batch(&requests)) {
            match read_json("importance.j2", reply) {
                Ok(v) => match v["rating"].as_i64() {
                    Some(r) => out[i] = r.clamp(1, 10) as u8,
                    None => {
                        tracing::warn!(reply = %v, "importance reply has no rating; using the fallback")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "rating importance failed; using the fallback")
                }
            }
        }
        out
    }

    /// Rates the memories that have no importance yet (one batched call for all of them).
    pub fn fill(&self, memories: &mut [NewMemory]) {
        let unrated: Vec<usize> = (0..memories.len())
            .filter(|&i| memories[i].importance.is_none() && !memories[i].text.trim().is_empty())
            .collect();
        if unrated.is_empty() {
            return;
        }
        let items: Vec<(&str, &str)> = unrated
            .iter()
            .map(|&i| (memories[i].agent.as_str(), memories[i].text.as_str()))
            .collect();
        let ratings = self.rate(&items);
        for (i, r) in unrated.into_iter().zip(ratings) {
            memories[i].importance = Some(r);
        }
    }
}

/// A [`MemoryStream`] that rates unrated memories with an [`ImportanceRater`] before handing
/// them to the stream inside. Reads pass straight through.
#[derive(Debug)]
pub struct Rated<S> {
    inner: S,
    rater: ImportanceRater,
}

impl<S> Rated<S> {
    pub fn new(inner: S, rater: ImportanceRater) -> Self {
        Rated { inner, rater }
    }

    /// The stream inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: MemoryStream> MemoryStream for Rated<S> {
    fn add(&self, memory: NewMemory) -> MemoryResult<MemoryId> {
        let mut one = [memory];
        self.rater.fill(&mut one);
        let [memory] = one;
        self.inner.add(memory)
    }

    fn add_batch(&self, mut memories: Vec<NewMemory>) -> MemoryResult<Vec<MemoryId>> {
        self.rater.fill(&mut memories);
        self.inner.add_batch(memories)
    }

    fn recall(&self, query: &RecallQuery) -> MemoryResult<Vec<Recalled>> {
        self.inner.recall(query)
    }

    fn get(&self, id: MemoryId) -> MemoryResult<Option<MemoryRecord>> {
        self.inner.get(id)
    }
}

impl<S: SnapshotStream> SnapshotStream for Rated<S> {
    fn snapshot(&self, to: &std::path::Path) -> MemoryResult<()> {
        self.inner.snapshot(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamlet_core::testing::{ScriptedLlm, VecMemory};
    use hamlet_core::MemoryKind;

    #[test]
    fn a_batch_is_rated_in_one_call_and_failures_fall_back() {
        let llm = Arc::new(ScriptedLlm::new([r#"{"rating": 3}"#, r#"{"rating": 99}"#]));
        let rater = ImportanceRater::new(llm.clone());
        let mut ms = vec![
            NewMemory::new("ada", MemoryKind::Observation, "Ada ate toast", 0),
            NewMemory::new("ada", MemoryKind::Observation, "Ada got engaged", 0),
            NewMemory::new("ada", MemoryKind::Observation, "Ada tied her shoes", 0).importance(2),
            NewMemory::new("ada", MemoryKind::Observation, "Ada yawned", 0),
        ];
        rater.fill(&mut ms);
        let got: Vec<_> = ms.iter().map(|m| m.importance).collect();
        // Clamped to 10; the given one kept; no scripted reply left for the last: the fallback.
        assert_eq!(got, vec![Some(3), Some(10), Some(2), Some(5)]);
        let reqs = llm.requests();
        assert_eq!(reqs.len(), 3, "one request per unrated memory");
        assert!(reqs.iter().all(|r| r.json_schema.is_some()));
        assert!(format!("{:?}", reqs[1].prompt).contains("Ada got engaged"));
    }

    #[test]
    fn rated_stream_rates_before_storing() {
        let llm = Arc::new(ScriptedLlm::new([r#"{"rating": 8}"#]));
        let stream = Rated::new(VecMemory::new(), ImportanceRater::new(llm));
        let id = stream
            .add(NewMemory::new("ada", MemoryKind::Chat, "Bob proposed", 0))
            .unwrap();
        assert_eq!(stream.get(id).unwrap().unwrap().importance, 8);
        let ids = stream
            .add_batch(vec![
                NewMemory::new("ada", MemoryKind::Chat, "given", 0).importance(1)
            ])
            .unwrap();
        assert_eq!(stream.inner().all()[1].id, ids[0]);
        assert_eq!(stream.inner().all()[1].importance, 1);
    }
}
