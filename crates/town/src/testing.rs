//! A deterministic stand-in model for town tests and dry runs.
//!
//! [`TownFake`] answers each decision from its typed context ([`Ask`]), never from prompt text, so
//! the same asks always get the same replies, whatever order or batch they come in: day plans keep
//! the routine, a block becomes one step, agents always start talking, a speaker repeats the first
//! remembered line that holds one of its news words (so news spreads only from agents whose prompt
//! shows it), and noticing something changes nothing unless [`TownFake::reacting`]. It proves the
//! mechanics (batching, conversations, diffusion, checkpoints); the real model is tested
//! separately. Token counts are words of the rendered prompt and of the reply's JSON.

use std::sync::atomic::{AtomicU64, Ordering};

use hamlet_core::{Prompt, Result, TokenUsage};

use crate::decision::{
    Answer, Ask, ConverseReply, DecomposeReply, NoticeReply, PlanDayReply, PlanStep, Posed,
    ReactReply, ReflectReply, Reply, TownModel,
};

/// See the module docs.
#[derive(Debug, Default)]
pub struct TownFake {
    calls: AtomicU64,
    batches: AtomicU64,
    news: Vec<String>,
    react: bool,
}

impl TownFake {
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
    /// Decisions answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Batches (steps that asked anything) so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// The reply to one ask.
    pub fn answer(&self, ask: &Ask) -> Reply {
        match ask {
            Ask::PlanDay(_) => PlanDayReply { plan: Vec::new() }.into(),
            Ask::Decompose(d) => DecomposeReply {
                steps: vec![PlanStep {
                    action: d.activity.chars().take(60).collect(),
                    minutes: 15,
                }],
            }
            .into(),
            Ask::React(_) => ReactReply { talk: true }.into(),
            // Carries on, so the fake's runs keep the routine's shape.
            Ask::Notice(_) if self.react => NoticeReply {
                react: true,
                activity: "take a look".into(),
            }
            .into(),
            Ask::Notice(_) => NoticeReply {
                react: false,
                activity: "carry on".into(),
            }
            .into(),
            Ask::Converse(c) => {
                let news = c
                    .scene
                    .memories
                    .iter()
                    .find(|m| {
                        let m = m.to_lowercase();
                        self.news.iter().any(|w| m.contains(&w.to_lowercase()))
                    })
                    .map(String::as_str)
                    .unwrap_or("Nice to see you.");
                let text: String = news
                    .replace("told me: ", "said ")
                    .chars()
                    .take(150)
                    .collect();
                let utterance = if c.lines.is_empty() {
                    format!("Hello! {text}")
                } else {
                    format!("Did you know? {text}")
                };
                ConverseReply {
                    utterance,
                    end: c.lines.len() >= 2,
                }
                .into()
            }
            Ask::Reflect(_) => ReflectReply {
                insights: vec!["I have been busy with my routine.".into()],
            }
            .into(),
        }
    }
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

impl TownModel for TownFake {
    fn decide(&self, batch: &[Posed]) -> Vec<Result<Answer>> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        batch
            .iter()
            .map(|posed| {
                self.calls.fetch_add(1, Ordering::Relaxed);
                let reply = self.answer(&posed.ask);
                let prompt = match &posed.request.prompt {
                    Prompt::Chat(m) => m.iter().map(|m| words(&m.content)).sum(),
                    Prompt::Raw(s) => words(s),
                };
                let text = serde_json::to_string(&reply).unwrap_or_default();
                Ok(Answer {
                    reply,
                    usage: TokenUsage::new(prompt, 0, words(&text)),
                })
            })
            .collect()
    }
}
