//! `hamlet serve`: the local model behind an OpenAI-compatible HTTP API, so other programs (or
//! another Hamlet with `--server`) can use it. Binds to loopback unless told otherwise.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (both with `stream`), `POST
//! /v1/embeddings` (with `--embed-model`), `GET /v1/models`. JSON-Schema replies are asked for with
//! `response_format: {"type": "json_schema", "json_schema": {"schema": ...}}`.

use std::io::Read;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;

use anyhow::{Context, Result};
use hamlet_core::{
    Completion, Embedder, FinishReason, GenerateRequest, Llm, Message, Prompt, Role, Sampling,
};
use serde_json::{json, Value};

use crate::opts::ModelOpts;

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
}

struct Served {
    llm: Box<dyn Llm>,
    embedder: Option<Box<dyn Embedder>>,
    name: String,
}

pub fn run(a: Args) -> Result<()> {
    let llm = a.model.backend(a.parallel, None, 1.0)?;
    let embedder: Option<Box<dyn Embedder>> = match &a.embed_model {
        Some(m) => Some(Box::new(crate::opts::load_embedder(m, a.model.threads())?)),
        None => None,
    };
    let served = Arc::new(Served {
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

fn json_response(status: u16, body: &Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]);
    let mut r = tiny_http::Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(h) = header {
        r = r.with_header(h);
    }
    r
}

fn error(status: u16, message: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error"}}),
    )
}

fn handle(served: &Served, mut request: tiny_http::Request) {
    let url = request
        .url()
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let method = request.method().clone();
    tracing::info!(%method, %url, "request");
    let mut body = String::new();
    if let Err(e) = request.as_reader().read_to_string(&mut body) {
        let _ = request.respond(error(400, &format!("reading the body: {e}")));
        return;
    }
    let parsed: Result<Value, _> = if body.trim().is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str(&body)
    };
    let body = match parsed {
        Ok(v) => v,
        Err(e) => {
            let _ = request.respond(error(400, &format!("body is not JSON: {e}")));
            return;
        }
    };
    let outcome = match (method, url.as_str()) {
        (tiny_http::Method::Get, "/v1/models") => request.respond(json_response(
            200,
            &json!({"object": "list", "data": [{"id": served.name, "object": "model"}]}),
        )),
        (tiny_http::Method::Post, "/v1/chat/completions") => complete(served, request, &body, true),
        (tiny_http::Method::Post, "/v1/completions") => complete(served, request, &body, false),
        (tiny_http::Method::Post, "/v1/embeddings") => embeddings(served, request, &body),
        _ => request.respond(error(404, &format!("no endpoint {url}"))),
    };
    if let Err(e) = outcome {
        tracing::warn!("answering {url}: {e}");
    }
}

/// Builds the request from an OpenAI-style body, naming the field that is wrong.
fn to_request(body: &Value, chat: bool) -> Result<GenerateRequest, String> {
    let prompt = if chat {
        let msgs = body["messages"]
            .as_array()
            .ok_or("`messages` must be an array of {role, content}")?;
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let role = match m["role"].as_str() {
                Some("system") | Some("developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("tool") => Role::Tool,
                other => return Err(format!("messages[{i}].role: unknown role {other:?}")),
            };
            let content = m["content"]
                .as_str()
                .ok_or(format!("messages[{i}].content must be a string"))?;
            out.push(Message::new(role, content));
        }
        Prompt::Chat(out)
    } else {
        Prompt::Raw(
            body["prompt"]
                .as_str()
                .ok_or("`prompt` must be a string")?
                .to_string(),
        )
    };
    let d = Sampling::default();
    let f = |k: &str, default: f32| body[k].as_f64().map(|x| x as f32).unwrap_or(default);
    let sampling = Sampling {
        temperature: f("temperature", 0.0),
        top_k: body["top_k"].as_u64().map(|x| x as u32).unwrap_or(d.top_k),
        top_p: f("top_p", d.top_p),
        min_p: f("min_p", d.min_p),
        repeat_penalty: f("repeat_penalty", d.repeat_penalty),
        repeat_last_n: d.repeat_last_n,
        seed: body["seed"].as_u64().map(|x| x as u32).unwrap_or(0),
    };
    let mut req = GenerateRequest::new(prompt)
        .with_sampling(sampling)
        .with_max_tokens(
            body["max_tokens"]
                .as_u64()
                .or(body["max_completion_tokens"].as_u64())
                .unwrap_or(256) as u32,
        );
    req.stop = match &body["stop"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let format = &body["response_format"];
    req.json_schema = match format["type"].as_str() {
        Some("json_schema") => {
            Some(format["json_schema"]["schema"].clone()).filter(|s| !s.is_null())
        }
        Some("json_object") => Some(json!({"type": "object"})),
        _ => None,
    };
    req.validate().map_err(|e| e.to_string())?;
    Ok(req)
}

fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::ContextFull => "length",
        _ => "stop",
    }
}

fn usage(c: &Completion) -> Value {
    json!({"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
           "total_tokens": c.prompt_tokens + c.completion_tokens})
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

fn complete(
    served: &Served,
    request: tiny_http::Request,
    body: &Value,
    chat: bool,
) -> std::io::Result<()> {
    let req = match to_request(body, chat) {
        Ok(r) => r,
        Err(e) => return request.respond(error(400, &e)),
    };
    let (object, chunk_object) = if chat {
        ("chat.completion", "chat.completion.chunk")
    } else {
        ("text_completion", "text_completion")
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let choice = |text: &str, finish: Value| {
        if chat {
            json!({"index": 0, "delta": {"content": text}, "finish_reason": finish})
        } else {
            json!({"index": 0, "text": text, "finish_reason": finish})
        }
    };
    let chunk = |choices: Value| json!({"id": "hamlet", "object": chunk_object, "created": created, "model": served.name, "choices": choices});
    if body["stream"].as_bool() != Some(true) {
        return match served.llm.generate(&req) {
            Ok(c) => {
                let choice = if chat {
                    json!({"index": 0, "message": {"role": "assistant", "content": c.text}, "finish_reason": finish_str(c.finish)})
                } else {
                    json!({"index": 0, "text": c.text, "finish_reason": finish_str(c.finish)})
                };
                request.respond(json_response(
                    200,
                    &json!({"id": "hamlet", "object": object, "created": created,
                    "model": served.name, "choices": [choice], "usage": usage(&c)}),
                ))
            }
            Err(e) => request.respond(error(400, &e.to_string())),
        };
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let event = |v: Value| format!("data: {v}\n\n").into_bytes();
    std::thread::scope(|s| {
        s.spawn(|| {
            let result = served.llm.generate_stream(&req, &mut |piece| {
                let _ = tx.send(event(chunk(json!([choice(piece, Value::Null)]))));
            });
            let _ = match result {
                Ok(c) => {
                    let _ = tx.send(event(chunk(json!([choice("", json!(finish_str(c.finish)))]))));
                    tx.send(event(json!({"id": "hamlet", "object": chunk_object, "created": created, "model": served.name,
                        "choices": [], "usage": usage(&c)})))
                }
                Err(e) => tx.send(event(json!({"error": {"message": e.to_string()}}))),
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

fn embeddings(served: &Served, request: tiny_http::Request, body: &Value) -> std::io::Result<()> {
    let Some(embedder) = &served.embedder else {
        return request.respond(error(
            404,
            "embeddings are off: start `hamlet serve` with --embed-model minilm",
        ));
    };
    let texts: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => {
            return request.respond(error(
                400,
                "`input` must be a string or an array of strings",
            ))
        }
    };
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    match embedder.embed(&refs) {
        Ok(vectors) => {
            let data: Vec<Value> = vectors
                .into_iter()
                .enumerate()
                .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
                .collect();
            request.respond(json_response(
                200,
                &json!({"object": "list", "data": data, "model": served.name}),
            ))
        }
        Err(e) => request.respond(error(400, &e.to_string())),
    }
}
