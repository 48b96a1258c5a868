//! The shared vocabulary of cost and bookkeeping: token counts, the wall clock, source lines.
//!
//! A [`TokenUsage`] is what one model call consumed ([`crate::Completion::usage`]), and sums of it
//! are what an agent step, a town step, a town run and its metrics record: one type, added up with
//! `+=`, serialized as the three flat fields `prompt_tokens`, `cached_tokens`, `completion_tokens`
//! (the containers flatten it, so the files written before it existed read the same).

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use crate::memory::TimeMs;

/// Tokens read and written by one model call, or by many added together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenUsage {
    /// Tokens of the prompt, cached or not.
    pub prompt_tokens: u64,
    /// Prompt tokens that were already in the KV cache and not evaluated again.
    pub cached_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl TokenUsage {
    pub fn new(prompt_tokens: u64, cached_tokens: u64, completion_tokens: u64) -> Self {
        TokenUsage {
            prompt_tokens,
            cached_tokens,
            completion_tokens,
        }
    }

    /// Prompt and generated tokens together (cached prompt tokens count: they hold context).
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.cached_tokens += other.cached_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

impl Add for TokenUsage {
    type Output = TokenUsage;
    fn add(mut self, other: TokenUsage) -> TokenUsage {
        self += other;
        self
    }
}

impl Sum for TokenUsage {
    fn sum<I: Iterator<Item = TokenUsage>>(iter: I) -> TokenUsage {
        iter.fold(TokenUsage::default(), Add::add)
    }
}

impl<'a> Sum<&'a TokenUsage> for TokenUsage {
    fn sum<I: Iterator<Item = &'a TokenUsage>>(iter: I) -> TokenUsage {
        iter.copied().sum()
    }
}

/// Milliseconds since the Unix epoch, now (0 on a clock before 1970).
pub fn now_ms() -> TimeMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as TimeMs)
        .unwrap_or(0)
}

/// The 1-based line of a byte offset in `text` (for `file:line` in error messages).
pub fn line_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_and_reads_flat_fields() {
        let a = TokenUsage::new(10, 4, 3);
        let total: TokenUsage = [a, TokenUsage::new(1, 0, 2)].iter().sum();
        assert_eq!(total, TokenUsage::new(11, 4, 5));
        assert_eq!(total.total(), 16);
        let old: TokenUsage =
            serde_json::from_str(r#"{"prompt_tokens": 7, "completion_tokens": 1}"#)
                .expect("cached_tokens defaults");
        assert_eq!(old, TokenUsage::new(7, 0, 1));
    }

    #[test]
    fn lines_are_one_based_and_offsets_clamped() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        assert_eq!(line_of("é\nx", 1), 1);
    }
}
