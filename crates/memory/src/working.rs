//! Short-term memory: a bounded per-agent working buffer with token accounting. When a new item
//! would take the buffer past its token budget, the oldest items (down to half the budget) are
//! summarised by the LLM into one long-term memory, so nothing the agent saw is simply dropped.

use std::collections::VecDeque;
use std::sync::Arc;

use hamlet_core::{Llm, MemoryId, MemoryKind, MemoryStream, NewMemory, TimeMs};
use serde_json::json;

use crate::prompts::{ask_json, Prompts};
use crate::{Error, Result};

/// One agent's working memory. Long-term memory is any [`MemoryStream`] (the store, or a test
/// double); the LLM summarises and counts tokens.
pub struct WorkingMemory {
    agent: String,
    budget: usize,
    items: VecDeque<(String, usize)>,
    used: usize,
    long_term: Arc<dyn MemoryStream>,
    llm: Arc<dyn Llm>,
    prompts: Prompts,
    /// Importance given to summaries (None: rated by the store).
    pub summary_importance: Option<u8>,
}

impl std::fmt::Debug for WorkingMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkingMemory")
            .field("agent", &self.agent)
            .field("budget", &self.budget)
            .field("used", &self.used)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl WorkingMemory {
    /// A buffer of at most `budget_tokens` tokens (counted with `llm.count_tokens`).
    pub fn new(
        agent: impl Into<String>,
        budget_tokens: usize,
        long_term: Arc<dyn MemoryStream>,
        llm: Arc<dyn Llm>,
    ) -> Self {
        WorkingMemory {
            agent: agent.into(),
            budget: budget_tokens.max(1),
            items: VecDeque::new(),
            used: 0,
            long_term,
            llm,
            prompts: Prompts::default(),
            summary_importance: None,
        }
    }

    /// Uses these templates (e.g. `store.prompts().clone()`) instead of the built-in ones.
    pub fn with_prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = prompts;
        self
    }

    fn count(&self, text: &str) -> usize {
        // A tokenizer failure must not lose the item: fall back to ~4/3 tokens per word.
        self.llm
            .count_tokens(text)
            .unwrap_or_else(|_| text.split_whitespace().count() * 4 / 3 + 1)
    }

    /// Adds an item. When the buffer overflows, the oldest items are summarised into long-term
    /// memory at time `now` and the new memory's id is returned.
    pub fn push(&mut self, text: impl Into<String>, now: TimeMs) -> Result<Option<MemoryId>> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Error::Invalid("working-memory item is empty".into()));
        }
        let n = self.count(&text);
        self.items.push_back((text, n));
        self.used += n;
        if self.used <= self.budget {
            return Ok(None);
        }
        // Summarise the oldest items until at most half the budget remains (always at least one,
        // and never the item just pushed unless it alone overflows).
        let mut taken = Vec::new();
        while self.items.len() > 1 && (self.used > self.budget / 2 || taken.is_empty()) {
            if let Some((t, c)) = self.items.pop_front() {
                self.used -= c;
                taken.push(t);
            }
        }
        if self.used > self.budget {
            if let Some((t, c)) = self.items.pop_front() {
                self.used -= c;
                taken.push(t);
            }
        }
        self.summarise(taken, now).map(Some)
    }

    /// Summarises everything in the buffer into long-term memory and empties it.
    pub fn flush(&mut self, now: TimeMs) -> Result<Option<MemoryId>> {
        if self.items.is_empty() {
            return Ok(None);
        }
        let taken: Vec<String> = self.items.drain(..).map(|(t, _)| t).collect();
        self.used = 0;
        self.summarise(taken, now).map(Some)
    }

    fn summarise(&self, items: Vec<String>, now: TimeMs) -> Result<MemoryId> {
        let schema = json!({
            "type": "object",
            "properties": {"summary": {"type": "string", "minLength": 1}},
            "required": ["summary"]
        });
        let ctx = minijinja::context! { agent => &self.agent, items => &items };
        let reply = ask_json(
            self.llm.as_ref(),
            &self.prompts,
            "summarise.j2",
            ctx,
            schema,
            256,
        )?;
        let summary = reply["summary"]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            // An empty summary would lose the items: keep them verbatim instead.
            .unwrap_or_else(|| items.join(" "));
        let mut m = NewMemory::new(&self.agent, MemoryKind::Observation, summary, now);
        m.importance = self.summary_importance;
        m.metadata.insert("source".into(), json!("working_memory"));
        m.metadata.insert("items".into(), json!(items.len()));
        self.long_term.add(m).map_err(|cause| Error::Stream {
            context: "storing a working-memory summary".into(),
            cause,
        })
    }

    /// The items in the buffer, oldest first.
    pub fn items(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|(t, _)| t.as_str())
    }

    pub fn used_tokens(&self) -> usize {
        self.used
    }

    pub fn budget_tokens(&self) -> usize {
        self.budget
    }

    pub fn agent(&self) -> &str {
        &self.agent
    }
}
