//! `hamlet serve`: the local model behind an OpenAI-compatible HTTP API, so other programs (or
//! another Hamlet with `--server`) can use it. Binds to loopback unless told otherwise.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (both with `stream`), `POST
//! /v1/embeddings` (with `--embed-model`), `GET /v1/models`, and for pools and load balancers `GET
//! /health` and `GET /metrics` (counters since start). `--auth-key` makes every request show a
//! bearer token. A request's `user` is its cache key: requests with the same `user` share a KV
//! slot, so an agent's prompt prefix is evaluated once (Hamlet's client sends each agent's key
//! there). JSON-Schema replies are asked for with
//! `response_format: {"type": "json_schema", "json_schema": {"schema": ...}}`.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;

use anyhow::{Context, Result};
use hamlet_core::{Completion, Embedder, Llm};
use hamlet_llm::openai::{
    Choice, CompletionRequest, CompletionResponse, Embedding, EmbeddingsRequest,
    EmbeddingsResponse, ErrorBody, ModelEntry, ModelList,
};

use crate::opts::{LoraOpts, ModelOpts};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Address to listen on; loopback by default (use 0.0.0.0 to serve the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the address is printed on the first line of stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// KV-cache slots (requests that keep their prefix warm).
    #[arg(long, default_value_t = 4)]
    pub parallel: u32,
    /// Also serve /v1/embeddings with this model (a cache name or GGUF path).
    #[arg(long)]
    pub embed_model: Option<String>,
    /// Require `Authorization: Bearer KEY` on every request (GET /health included).
    #[arg(
        long,
        env = "HAMLET_SERVE_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub auth_key: Option<String>,
}

struct Served {
    /// Clients must send `Authorization: Bearer KEY` when set.
    key: Option<String>,
    metrics: Metrics,
    llm: Box<dyn Llm>,
    embedder: Option<Box<dyn Embedder>>,
    name: String,
}

pub fn run(a: Args) -> Result<()> {
    let llm = a.model.backend(a.parallel, &LoraOpts::default())?;
    let embedder: Option<Box<dyn Embedder>> = match &a.embed_model {
        Some(m) => Some(Box::new(crate::opts::load_embedder(m, a.model.threads())?)),
        None => None,
    };
    if a.auth_key.is_none() && !is_loopback(&a.host) {
        tracing::warn!(host = %a.host, "serving a non-loopback address without --auth-key: anyone who can reach it can use the model");
    }
    let served = Arc::new(Served {
        key: a.auth_key.clone(),
        metrics: Metrics::default(),
        name: a.model.model.clone(),
        llm,
        embedder,
    });
    let server = tiny_http::Server::http((a.host.as_str(), a.port))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("listening on {}:{}", a.host, a.port))?;
    println!("listening on http://{}/v1", server.server_addr());
    for request in server.incoming_requests() {
        let served = served.clone();
        std::thread::spawn(move || handle(&served, request));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What `GET /metrics` reports (counters since start).
#[derive(Default)]
struct Metrics {
    requests: AtomicU64,
    completions: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    prompt_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl Metrics {
    fn completed(&self, c: &Completion) {
        self.completions.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens
            .fetch_add(c.usage.prompt_tokens, Ordering::Relaxed);
        self.cached_tokens
            .fetch_add(c.usage.cached_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(c.usage.completion_tokens, Ordering::Relaxed);
    }

    fn json(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "requests": g(&self.requests),
            "completions": g(&self.completions),
            "errors": g(&self.errors),
            "in_flight": g(&self.in_flight),
            "prompt_tokens": g(&self.prompt_tokens),
            "cached_tokens": g(&self.cached_tokens),
            "completion_tokens": g(&self.completion_tokens),
        })
    }
}

fn json_response(
    status: u16,
    body: &impl serde::Serialize,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]);
    let text = serde_json::to_string(body).unwrap_or_default();
    let mut r = tiny_http::Response::from_string(text).with_status_code(status);
    if let Ok(h) = header {
        r = r.with_header(h);
    }
    r
}

fn error(status: u16, message: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    if status >= 400 {
        tracing::debug!(status, message, "answering with an error");
    }
    json_response(status, &ErrorBody::invalid_request(message))
}

/// Reads the body as `T`, answering 400 with serde's reason when it does not fit.
fn read_body<T: serde::de::DeserializeOwned>(
    request: &mut tiny_http::Request,
) -> Result<T, String> {
    let mut body = String::new();
    request
        .as_reader()
        .read_to_string(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    if body.trim().is_empty() {
        body = "{}".into();
    }
    let de = &mut serde_json::Deserializer::from_str(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        match at.as_str() {
            "." | "" => format!("the body does not fit: {}", e.inner()),
            _ => format!("the body does not fit: `{at}`: {}", e.inner()),
        }
    })
}

/// One server-sent event.
fn sse(data: &impl serde::Serialize) -> Vec<u8> {
    format!(
        "data: {}\n\n",
        serde_json::to_string(data).unwrap_or_default()
    )
    .into_bytes()
}

fn handle(served: &Served, request: tiny_http::Request) {
    let url = request
        .url()
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let method = request.method().clone();
    tracing::info!(%method, %url, "request");
    served.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(key) = &served.key {
        let sent = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_string());
        if sent.as_deref() != Some(format!("Bearer {key}").as_str()) {
            served.metrics.errors.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(error(
                401,
                "this server needs an API key: send Authorization: Bearer KEY (hamlet: --api-key)",
            ));
            return;
        }
    }
    served.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let outcome = match (method, url.as_str()) {
        (tiny_http::Method::Get, "/health") => request.respond(json_response(
            200,
            &serde_json::json!({"status": "ok", "model": served.name}),
        )),
        (tiny_http::Method::Get, "/metrics") => {
            request.respond(json_response(200, &served.metrics.json()))
        }
        (tiny_http::Method::Get, "/v1/models") => {
            let model = ModelEntry {
                id: served.name.clone(),
                object: "model".into(),
            };
            let list = ModelList {
                object: "list".into(),
                data: vec![model],
            };
            request.respond(json_response(200, &list))
        }
        (tiny_http::Method::Post, "/v1/chat/completions") => complete(served, request, true),
        (tiny_http::Method::Post, "/v1/completions") => complete(served, request, false),
        (tiny_http::Method::Post, "/v1/embeddings") => embeddings(served, request),
        _ => request.respond(error(404, &format!("no endpoint {url}"))),
    };
    served.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    if let Err(e) = outcome {
        tracing::warn!("answering {url}: {e}");
    }
}

/// The text of an SSE stream, fed by the generating thread.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn complete(served: &Served, mut request: tiny_http::Request, chat: bool) -> std::io::Result<()> {
    let body = read_body::<CompletionRequest>(&mut request).and_then(|b| {
        if b.model.is_empty() || b.model == served.name {
            Ok(b)
        } else {
            Err(format!(
                "unknown model {:?}: this server serves {:?} (see GET /v1/models); send that name, or none",
                b.model, served.name
            ))
        }
    });
    let stream = body.as_ref().is_ok_and(|b| b.stream);
    let req = match body.and_then(|b| b.into_generate(chat)) {
        Ok(r) => r,
        Err(e) => return request.respond(error(400, &e)),
    };
    let object = match (chat, stream) {
        (true, false) => "chat.completion",
        (true, true) => "chat.completion.chunk",
        (false, _) => "text_completion",
    };
    let response = |choices: Vec<Choice>, usage: Option<&Completion>| CompletionResponse {
        id: "hamlet".into(),
        object: object.into(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: served.name.clone(),
        choices,
        usage: usage.map(|c| c.usage.into()),
        error: None,
    };
    if !stream {
        return match served.llm.generate(&req) {
            Ok(c) => {
                served.metrics.completed(&c);
                request.respond(json_response(
                    200,
                    &response(vec![Choice::whole(chat, &c)], Some(&c)),
                ))
            }
            Err(e) => {
                served.metrics.errors.fetch_add(1, Ordering::Relaxed);
                request.respond(error(400, &e.to_string()))
            }
        };
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        s.spawn(|| {
            let result = served.llm.generate_stream(&req, &mut |piece| {
                let _ = tx.send(sse(&response(vec![Choice::piece(chat, piece, None)], None)));
            });
            let _ = match result {
                Ok(c) => {
                    served.metrics.completed(&c);
                    let last = Choice::piece(chat, "", Some(c.finish));
                    let _ = tx.send(sse(&response(vec![last], None)));
                    tx.send(sse(&response(Vec::new(), Some(&c))))
                }
                Err(e) => {
                    served.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tx.send(sse(&ErrorBody::invalid_request(e.to_string())))
                }
            };
            let _ = tx.send(b"data: [DONE]\n\n".to_vec());
            drop(tx);
        });
        let headers = ["Content-Type: text/event-stream", "Cache-Control: no-cache"]
            .iter()
            .filter_map(|h| h.parse::<tiny_http::Header>().ok())
            .collect::<Vec<_>>();
        let reader = ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        };
        request.respond(tiny_http::Response::new(
            tiny_http::StatusCode(200),
            headers,
            reader,
            None,
            None,
        ))
    })
}

fn embeddings(served: &Served, mut request: tiny_http::Request) -> std::io::Result<()> {
    let Some(embedder) = &served.embedder else {
        return request.respond(error(
            404,
            "embeddings are off: start `hamlet serve` with --embed-model minilm",
        ));
    };
    let body = match read_body::<EmbeddingsRequest>(&mut request) {
        Ok(b) => b,
        Err(e) => return request.respond(error(400, &e)),
    };
    let refs: Vec<&str> = body.input.iter().map(String::as_str).collect();
    match embedder.embed(&refs) {
        Ok(vectors) => {
            let data = vectors
                .into_iter()
                .enumerate()
                .map(|(i, v)| Embedding {
                    object: "embedding".into(),
                    index: Some(i),
                    embedding: Some(v),
                })
                .collect();
            let reply = EmbeddingsResponse {
                object: "list".into(),
                data: Some(data),
                model: served.name.clone(),
            };
            request.respond(json_response(200, &reply))
        }
        Err(e) => request.respond(error(400, &e.to_string())),
    }
}
