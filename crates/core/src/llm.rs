use serde::{Deserialize, Serialize};

use crate::{Result, TokenUsage};

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// (OpenAI's `developer` reads as this.)
    #[serde(alias = "developer")]
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// What the model is asked to continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Messages, formatted with the model's own chat template; the reply is the assistant's turn.
    Chat(Vec<Message>),
    /// Text given to the model as it is (no template).
    Raw(String),
}

impl Prompt {
    /// True when there is nothing to continue from.
    pub fn is_empty(&self) -> bool {
        match self {
            Prompt::Chat(m) => m.iter().all(|m| m.content.trim().is_empty()),
            Prompt::Raw(s) => s.is_empty(),
        }
    }
}

/// How the next token is chosen. `temperature == 0` means greedy decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sampling {
    pub temperature: f32,
    /// Keep the `k` most likely tokens (0 = off).
    pub top_k: u32,
    /// Nucleus sampling (1.0 = off).
    pub top_p: f32,
    /// Drop tokens below `min_p` × the top probability (0.0 = off).
    pub min_p: f32,
    /// Penalty on tokens seen in the last `repeat_last_n` tokens (1.0 = off).
    pub repeat_penalty: f32,
    pub repeat_last_n: u32,
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        Sampling {
            temperature: 0.0,
            ..Sampling::default()
        }
    }

    /// Checks every value is in range, naming the field that is not.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Err(crate::Error::InvalidRequest(format!(
                "sampling.{field}: {why}"
            )))
        };
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature", "must be a finite number >= 0 (0 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top-p", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min-p", "must be in [0, 1]");
        }
        if !self.repeat_penalty.is_finite() || self.repeat_penalty <= 0.0 {
            return bad("repeat-penalty", "must be > 0 (1.0 = off)");
        }
        Ok(())
    }
}

/// One generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub sampling: Sampling,
    pub max_tokens: u32,
    /// Generation stops before the first occurrence of any of these; the stop string is not returned.
    pub stop: Vec<String>,
    /// When set, the reply is constrained to JSON that validates against this schema.
    pub json_schema: Option<serde_json::Value>,
    /// Requests with the same key reuse the same KV-cache slot (one key per agent keeps its prefix warm).
    pub cache_key: Option<String>,
}

impl GenerateRequest {
    pub fn new(prompt: Prompt) -> Self {
        GenerateRequest {
            prompt,
            sampling: Sampling::default(),
            max_tokens: 256,
            stop: Vec::new(),
            json_schema: None,
            cache_key: None,
        }
    }
    pub fn chat(messages: Vec<Message>) -> Self {
        Self::new(Prompt::Chat(messages))
    }
    pub fn raw(text: impl Into<String>) -> Self {
        Self::new(Prompt::Raw(text.into()))
    }
    pub fn with_max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }
    pub fn with_sampling(mut self, s: Sampling) -> Self {
        self.sampling = s;
        self
    }
    pub fn with_schema(mut self, schema: serde_json::Value) -> Self {
        self.json_schema = Some(schema);
        self
    }
    pub fn with_stop(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }
    pub fn with_cache_key(mut self, key: impl Into<String>) -> Self {
        self.cache_key = Some(key.into());
        self
    }

    /// Checks what every backend needs: a prompt, room for a token, non-empty stop strings and
    /// sampling values in range. (The JSON Schema is checked by the backend that compiles it.)
    pub fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(crate::Error::InvalidRequest(why.to_string()));
        if self.prompt.is_empty() {
            return bad("prompt is empty: give the model something to continue");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1");
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop strings must not be empty");
        }
        self.sampling.validate()
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn (end-of-generation token) or the grammar was complete.
    Stop,
    /// A stop string was produced.
    StopString,
    /// `max_tokens` were generated.
    Length,
    /// The context window is full.
    ContextFull,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Evaluating the (uncached part of the) prompt, up to the first sampled token.
    pub prompt_ms: f64,
    /// Generating the remaining tokens.
    pub generation_ms: f64,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub finish: FinishReason,
    /// Tokens read (and of those, found in the KV cache) and generated.
    #[serde(flatten)]
    pub usage: TokenUsage,
    pub timings: Timings,
    /// The parsed reply when the request had a JSON Schema (always valid against it).
    pub json: Option<serde_json::Value>,
}

/// What a backend serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// Tokens one sequence can hold.
    pub context_length: usize,
    /// Requests that can be decoded together in one batch.
    pub parallel: usize,
}

/// A text-generation backend.
///
/// Implementations: `hamlet_llm::LlamaLlm` (llama.cpp in process), `hamlet_llm::HttpLlm`
/// (OpenAI-compatible server) and [`crate::testing::ScriptedLlm`] for loop tests.
pub trait Llm: Send + Sync {
    fn info(&self) -> ModelInfo;

    /// Runs one request, calling `on_text` with each piece of text as it is produced. The pieces
    /// concatenated equal the returned `Completion::text`.
    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion>;

    /// Runs one request.
    fn generate(&self, request: &GenerateRequest) -> Result<Completion> {
        self.generate_stream(request, &mut |_| {})
    }

    /// Runs many independent requests; a backend that can decodes them together. Results come
    /// back in the order of the requests; one failing request does not fail the others.
    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        requests.iter().map(|r| self.generate(r)).collect()
    }

    /// How many tokens `text` takes for this model.
    fn count_tokens(&self, text: &str) -> Result<usize>;

    /// Whether requests constrained to `schema` can run on this backend. The agent loop asks
    /// before a run starts, so that a tool whose schema the backend cannot take (an MCP server's,
    /// say) is named at once rather than failing a step. Every schema passes by default.
    fn check_schema(&self, _schema: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// A text-embedding backend. Vectors are L2-normalised, so a dot product is the cosine.
pub trait Embedder: Send + Sync {
    /// Length of every vector.
    fn dim(&self) -> usize;
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

impl<T: Llm + ?Sized> Llm for std::sync::Arc<T> {
    fn info(&self) -> ModelInfo {
        (**self).info()
    }
    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        (**self).generate_stream(request, on_text)
    }
    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        (**self).generate_batch(requests)
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        (**self).count_tokens(text)
    }
    fn check_schema(&self, schema: &serde_json::Value) -> Result<()> {
        (**self).check_schema(schema)
    }
}

impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
