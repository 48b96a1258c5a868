//! A deterministic stand-in model for town tests and dry runs.
//!
//! [`TownFakeLlm`] answers each decision by its schema's title and by what the prompt says, so the
//! same prompts always give the same replies, whatever order or batch they come in: day plans keep
//! the routine, a block becomes one step, agents always start talking, and a speaker repeats the
//! first remembered line that holds one of its news words (so news spreads only from agents whose
//! prompt shows it), and noticing something changes nothing unless [`TownFakeLlm::reacting`]. It proves the mechanics
//! (batching, conversations, diffusion, checkpoints); the real model is tested separately.

use std::sync::atomic::{AtomicU64, Ordering};

use hamlet_core::{
    Completion, FinishReason, GenerateRequest, Llm, ModelInfo, Prompt, Result, Timings, TokenUsage,
};
use serde_json::{json, Value};

/// See the module docs.
#[derive(Debug, Default)]
pub struct TownFakeLlm {
    calls: AtomicU64,
    batches: AtomicU64,
    news: Vec<String>,
    react: bool,
}

impl TownFakeLlm {
    pub fn new() -> Self {
        Self::default()
    }
    /// Words that make a remembered line "news" the fake speaker prefers to share.
    pub fn with_news<S: Into<String>>(mut self, words: impl IntoIterator<Item = S>) -> Self {
        self.news = words.into_iter().map(Into::into).collect();
        self
    }
    /// Reacts to everything noticed by stopping to "take a look" (default: carries on).
    pub fn reacting(mut self) -> Self {
        self.react = true;
        self
    }
    /// Requests answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// `generate_batch` calls so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    fn answer(&self, request: &GenerateRequest) -> Value {
        let title = request
            .json_schema
            .as_ref()
            .and_then(|s| s.get("title"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let user = match &request.prompt {
            Prompt::Chat(m) => m.last().map(|m| m.content.clone()).unwrap_or_default(),
            Prompt::Raw(s) => s.clone(),
        };
        match title {
            "town.plan_day" => json!({"plan": []}),
            "town.decompose" => {
                let activity = user
                    .split(" you plan to ")
                    .nth(1)
                    .and_then(|s| s.split(" at ").next())
                    .unwrap_or("carry on");
                json!({"steps": [{"minutes": 15, "action": activity.chars().take(60).collect::<String>()}]})
            }
            "town.react" => json!({"talk": true}),
            // Carries on, so the fake's runs keep the routine's shape.
            "town.notice" if self.react => json!({"react": true, "activity": "take a look"}),
            "town.notice" => json!({"react": false, "activity": "carry on"}),
            "town.converse" => {
                let lines = user
                    .lines()
                    .filter(|l| l.contains(": ") && !l.starts_with("- ") && !l.starts_with("It is"))
                    .count();
                let remembered: Vec<&str> =
                    user.lines().filter_map(|l| l.strip_prefix("- ")).collect();
                let news = remembered
                    .iter()
                    .find(|l| {
                        self.news
                            .iter()
                            .any(|w| l.to_lowercase().contains(&w.to_lowercase()))
                    })
                    .copied()
                    .unwrap_or("Nice to see you.");
                let text: String = news
                    .replace("told me: ", "said ")
                    .chars()
                    .take(150)
                    .collect();
                json!({"utterance": if lines == 0 { format!("Hello! {text}") } else { format!("Did you know? {text}") }, "end": lines >= 2})
            }
            "town.reflect" => json!({"insights": ["I have been busy with my routine."]}),
            _ => json!({}),
        }
    }
}

impl Llm for TownFakeLlm {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "town-fake".into(),
            context_length: 1 << 16,
            parallel: 64,
        }
    }

    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let json = self.answer(request);
        let text = json.to_string();
        on_text(&text);
        let prompt_tokens = match &request.prompt {
            Prompt::Chat(m) => m.iter().map(|m| m.content.split_whitespace().count()).sum(),
            Prompt::Raw(s) => s.split_whitespace().count(),
        };
        Ok(Completion {
            usage: TokenUsage::new(
                prompt_tokens as u64,
                0,
                text.split_whitespace().count() as u64,
            ),
            text,
            finish: FinishReason::Stop,
            timings: Timings::default(),
            json: Some(json),
        })
    }

    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        requests.iter().map(|r| self.generate(r)).collect()
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.split_whitespace().count())
    }
}
