//! An OpenAI-compatible HTTP backend, for models served elsewhere: llama.cpp's `llama-server`,
//! vLLM, Ollama, LM Studio or OpenAI itself.
//!
//! Chat prompts go to `POST {base}/chat/completions`, raw prompts to `POST {base}/completions`,
//! embeddings to `POST {base}/embeddings`. JSON-Schema requests ask the server for
//! `response_format: json_schema`, and the reply is validated here again, whatever the server did.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use hamlet_core::{
    l2_normalize, Completion, Embedder, Error, FinishReason, GenerateRequest, Llm, ModelInfo,
    Result, Timings,
};
use serde::Serialize;

use crate::openai::{
    CompletionRequest, CompletionResponse, EmbeddingsRequest, EmbeddingsResponse, Usage,
};
use crate::schema::SchemaValidator;

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The `model` field sent with every request.
    pub model: String,
    /// Sent as `Authorization: Bearer ...` when set.
    pub api_key: Option<String>,
    /// How long one reply may take, streamed or not (`--server-timeout`).
    pub timeout: Duration,
    /// The longest reply text kept; a server that sends more is cut off there (finish: length),
    /// so a runaway reply cannot fill memory, the next prompt or the trace.
    pub max_reply_bytes: usize,
    /// Requests of a batch sent at once (the server batches them).
    pub parallel: usize,
    /// The context length to report (the server's own limit is what counts).
    pub context_length: usize,
    /// Also send `top_k`, `min_p` and `repeat_penalty`, which llama.cpp, vLLM and Ollama accept
    /// but OpenAI's API does not.
    pub extended_sampling: bool,
}

impl HttpConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        HttpConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(300),
            max_reply_bytes: 1 << 20,
            parallel: 4,
            context_length: 4096,
            extended_sampling: true,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_at(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Joins an error and its sources into one line ("sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// Why an HTTP call failed, kept as the detail of a backend error so that a pool of servers can
/// tell a failure worth another try (the server is down, overloaded, or broke its reply) from a
/// request no server will take (bad auth, a 4xx).
#[derive(Debug)]
pub struct HttpFailure {
    /// Another server, or the same one later, may well answer.
    pub retry: bool,
    pub message: String,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpFailure {}

impl HttpFailure {
    fn error(context: impl Into<String>, retry: bool, message: impl Into<String>) -> Error {
        Error::backend(
            context,
            HttpFailure {
                retry,
                message: message.into(),
            },
        )
    }

    /// Whether `e` is a server failure worth another try: an [`HttpFailure`] that says so, or a
    /// reply that broke its JSON Schema.
    pub fn is_retryable(e: &Error) -> bool {
        match e {
            Error::Backend { detail, .. } => detail
                .downcast_ref::<HttpFailure>()
                .is_some_and(|f| f.retry),
            Error::InvalidOutput { .. } => true,
            _ => false,
        }
    }
}

struct Client {
    cfg: HttpConfig,
    http: reqwest::blocking::Client,
}

/// Shows where the client goes, never its API key.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.cfg.base_url)
            .finish()
    }
}

impl Client {
    fn new(cfg: HttpConfig) -> Result<Self> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(Error::InvalidRequest(format!(
                "server URL {:?} must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)",
                cfg.base_url
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::backend("building the HTTP client", chain(&e)))?;
        Ok(Client { cfg, http })
    }

    fn post(&self, path: &str, body: &impl Serialize) -> Result<reqwest::blocking::Response> {
        let url = format!("{}/{path}", self.cfg.base_url);
        let mut req = self.http.post(&url).json(body);
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req
            .send()
            .map_err(|e| HttpFailure::error(format!("POST {url}"), true, chain(&e)))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let mut text = resp.text().unwrap_or_default();
            text.truncate(500);
            let retry = status.is_server_error() || status.as_u16() == 429;
            let hint = match status.as_u16() {
                401 | 403 => " (check --api-key / HAMLET_API_KEY)",
                _ => "",
            };
            return Err(HttpFailure::error(
                format!("POST {url}"),
                retry,
                format!("the server answered {status}: {text}{hint}"),
            ));
        }
        Ok(resp)
    }
}

/// A chat/completion model behind an OpenAI-compatible server.
#[derive(Debug)]
pub struct HttpLlm {
    client: Client,
}

impl HttpLlm {
    pub fn new(config: HttpConfig) -> Result<Self> {
        Ok(HttpLlm {
            client: Client::new(config)?,
        })
    }
}

fn check_request(req: &GenerateRequest) -> Result<Option<SchemaValidator>> {
    req.validate()?;
    req.json_schema
        .as_ref()
        .map(SchemaValidator::new)
        .transpose()
}

impl Llm for HttpLlm {
    fn info(&self) -> ModelInfo {
        let cfg = &self.client.cfg;
        ModelInfo {
            name: cfg.model.clone(),
            context_length: cfg.context_length,
            parallel: cfg.parallel.max(1),
        }
    }

    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let validator = check_request(request)?;
        let cfg = &self.client.cfg;
        let body = CompletionRequest::new(request, &cfg.model, cfg.extended_sampling);
        let started = Instant::now();
        let resp = self.client.post(body.path(), &body)?;
        let mut text = String::new();
        let (mut finish, mut first, mut chunks) = (FinishReason::Stop, None, 0u64);
        let mut usage = Usage::default();
        // The stream's own bound: its JSON framing costs a few hundred bytes per piece.
        let stream_cap = (cfg.max_reply_bytes as u64).saturating_mul(64).max(1 << 20);
        for line in BufReader::new(resp.take(stream_cap)).lines() {
            let line = line
                .map_err(|e| HttpFailure::error("reading the server's stream", true, chain(&e)))?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                break;
            }
            let event: CompletionResponse = serde_json::from_str(data).map_err(|e| {
                HttpFailure::error(
                    "reading the server's stream",
                    true,
                    format!("{e} in {data:?}"),
                )
            })?;
            if let Some(err) = event.error {
                return Err(HttpFailure::error("the server reported", true, err.message));
            }
            if let Some(u) = event.usage {
                usage = u;
            }
            let Some(choice) = event.choices.first() else {
                continue;
            };
            let piece = choice.text();
            if !piece.is_empty() {
                first.get_or_insert_with(Instant::now);
                chunks += 1;
                let room = cfg.max_reply_bytes.saturating_sub(text.len());
                let piece = cut_at(piece, room);
                text.push_str(piece);
                on_text(piece);
                if text.len() >= cfg.max_reply_bytes {
                    tracing::warn!(
                        bytes = cfg.max_reply_bytes,
                        "the server's reply was cut off"
                    );
                    finish = FinishReason::Length;
                    break;
                }
            }
            if let Some(f) = choice.finish() {
                finish = f;
            }
        }
        let first = first.unwrap_or_else(Instant::now);
        let json = match &validator {
            Some(v) => Some(v.parse(&text).map_err(|e| match (e, finish) {
                (Error::InvalidOutput { reason, text }, FinishReason::Length) => {
                    Error::InvalidOutput {
                        reason: format!("{reason}; the reply was cut off by max_tokens"),
                        text,
                    }
                }
                (e, _) => e,
            })?),
            None => None,
        };
        Ok(Completion {
            text,
            finish,
            usage: usage.tokens(chunks),
            timings: Timings {
                prompt_ms: (first - started).as_secs_f64() * 1e3,
                generation_ms: first.elapsed().as_secs_f64() * 1e3,
            },
            json,
        })
    }

    /// Sends up to `parallel` requests at once; the server decodes them together.
    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(self.client.cfg.parallel.max(1)) {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|r| s.spawn(move || self.generate(r)))
                    .collect();
                for h in handles {
                    out.push(h.join().unwrap_or_else(|_| {
                        Err(Error::backend("HTTP request", "the thread panicked"))
                    }));
                }
            });
        }
        out
    }

    /// An estimate (about four bytes a token): the OpenAI API has no tokenizer endpoint.
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.len().div_ceil(4))
    }

    /// The server builds its own grammar; the schema must at least pass the checks a request's
    /// schema passes here (the reply is validated against it).
    fn check_schema(&self, schema: &serde_json::Value) -> Result<()> {
        crate::schema::check(schema)
    }
}

/// An embedding model behind an OpenAI-compatible `/embeddings` endpoint.
#[derive(Debug)]
pub struct HttpEmbedder {
    client: Client,
    dim: usize,
}

impl HttpEmbedder {
    /// Connects and learns the vector length with one small request.
    pub fn connect(config: HttpConfig) -> Result<Self> {
        let mut e = HttpEmbedder {
            client: Client::new(config)?,
            dim: 0,
        };
        e.dim = e
            .request(&["dimension probe"])?
            .first()
            .map(Vec::len)
            .unwrap_or(0);
        if e.dim == 0 {
            return Err(Error::backend(
                "POST /embeddings",
                "the server returned an empty vector",
            ));
        }
        Ok(e)
    }

    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let body = EmbeddingsRequest {
            model: self.client.cfg.model.clone(),
            input: texts.iter().map(|t| t.to_string()).collect(),
        };
        let resp: EmbeddingsResponse = self
            .client
            .post("embeddings", &body)?
            .json()
            .map_err(|e| Error::backend("reading /embeddings", chain(&e)))?;
        let data = resp
            .data
            .ok_or_else(|| Error::backend("reading /embeddings", "no `data` array in the reply"))?;
        let mut out = vec![Vec::new(); texts.len()];
        for (i, item) in data.into_iter().enumerate() {
            let index = item.index.unwrap_or(i);
            let vec = item.embedding.ok_or_else(|| {
                Error::backend(
                    "reading /embeddings",
                    format!("item {i} has no `embedding`"),
                )
            })?;
            let slot = out.get_mut(index).ok_or_else(|| {
                Error::backend("reading /embeddings", format!("index {index} out of range"))
            })?;
            *slot = vec;
        }
        if let Some(i) = out.iter().position(Vec::is_empty) {
            return Err(Error::backend(
                "reading /embeddings",
                format!("no vector for text {i}"),
            ));
        }
        for v in &mut out {
            l2_normalize(v);
        }
        Ok(out)
    }
}

impl Embedder for HttpEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(Error::InvalidRequest(format!(
                "text {i} is empty: nothing to embed"
            )));
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.request(texts)?;
        if let Some(v) = out.iter().find(|v| v.len() != self.dim) {
            return Err(Error::backend(
                "reading /embeddings",
                format!("a vector of {} values, expected {}", v.len(), self.dim),
            ));
        }
        Ok(out)
    }
}
