//! `hamlet serve` with the real model, used through Hamlet's own HTTP backend: the real path of
//! both the OpenAI-compatible server and `HttpLlm` / `HttpEmbedder`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hamlet_core::{Embedder, GenerateRequest, Llm, Message};
use hamlet_llm::{HttpConfig, HttpEmbedder, HttpLlm, LlamaConfig, LlamaLlm};
use serde_json::json;

mod common;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hamlet serve` on a free loopback port and returns its base URL.
fn start() -> (Server, String) {
    start_with(&["--embed-model", "minilm"])
}

fn start_with(extra: &[&str]) -> (Server, String) {
    let mut child = Command::new(common::BIN)
        .args(["serve", "--port", "0", "--threads", "1", "--parallel", "2"])
        .args(extra)
        .env("HAMLET_MODEL", common::MECHANICS_MODEL)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hamlet serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Server(child), url)
}

/// A raw HTTP POST, returning the whole response.
fn post(base: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").trim_end_matches("/v1");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_served_model_answers_like_the_local_one() {
    let (_server, url) = start();
    let remote = HttpLlm::new(HttpConfig::new(&url, "smollm2-135m")).unwrap();
    let req = GenerateRequest::chat(vec![Message::user("What is the capital of France?")])
        .with_max_tokens(24);

    let mut streamed = String::new();
    let over_http = remote
        .generate_stream(&req, &mut |p| streamed.push_str(p))
        .unwrap();
    assert_eq!(streamed, over_http.text);
    assert!(over_http.usage.prompt_tokens > 0 && over_http.usage.completion_tokens > 0);

    let path = hamlet_models::ModelCache::open_default()
        .resolve("smollm2-135m")
        .unwrap();
    let mut cfg = LlamaConfig::new(path);
    cfg.threads = 1;
    let local = LlamaLlm::load(cfg).unwrap().generate(&req).unwrap();
    assert_eq!(
        over_http.text, local.text,
        "greedy text over HTTP equals in-process"
    );

    // A schema-constrained reply and a raw completion.
    let schema = json!({"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]});
    let c = remote.generate(&req.clone().with_schema(schema)).unwrap();
    assert!(c.json.unwrap()["city"].is_string());
    let raw = remote
        .generate(&GenerateRequest::raw("1, 2, 3, 4,").with_max_tokens(4))
        .unwrap();
    assert!(!raw.text.is_empty());

    // A bad body gets a 400 with an OpenAI-style error naming the field; a bad schema (checked
    // by the server too) likewise.
    let answer = post(&url, "/chat/completions", r#"{"messages": "nope"}"#);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("`messages` must be an array"),
        "{answer}"
    );
    let bad = r#"{"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "objekt"}}}}"#;
    let answer = post(&url, "/chat/completions", bad);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("not valid"),
        "{answer}"
    );

    // Fields of the wrong type or range, an unknown response format and an unknown model are
    // each a 400 that names what is wrong (they used to pass as defaults, or wrap through `as`).
    let hi = r#""messages": [{"role": "user", "content": "hi"}]"#;
    for (field, want) in [
        (r#""temperature": "hot""#, "temperature"),
        (r#""max_tokens": "ten""#, "max_tokens"),
        (r#""max_tokens": -5"#, "max_tokens"),
        (r#""max_tokens": 1e12"#, "max_tokens"),
        (r#""max_tokens": 4294967297"#, "max_tokens"),
        (r#""seed": 4294967297"#, "seed"),
        (r#""response_format": {"type": "yaml"}"#, "yaml"),
        (r#""model": "gpt-9""#, "unknown model"),
    ] {
        let answer = post(&url, "/chat/completions", &format!("{{{hi}, {field}}}"));
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains(want),
            "{field}: {answer}"
        );
    }

    // Embeddings through the same server.
    let e = HttpEmbedder::connect(HttpConfig::new(&url, "minilm")).unwrap();
    assert_eq!(e.dim(), 384);
    let v = e
        .embed(&["a cat on a mat", "a kitten on a rug", "stock prices fell"])
        .unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]));
}

/// A raw HTTP GET with an optional bearer token: (status line, body).
fn get(base: &str, path: &str, token: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://").trim_end_matches("/v1");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.lines().next().unwrap_or("").to_string();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn health_metrics_and_the_auth_key() {
    let (_server, url) = start_with(&["--auth-key", "s3cret"]);
    let (status, body) = get(&url, "/health", None);
    assert!(status.contains("401"), "{status} {body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let (status, body) = get(&url, "/health", Some("s3cret"));
    assert!(
        status.contains("200") && body.contains("\"ok\""),
        "{status} {body}"
    );

    let remote = |key: Option<&str>| {
        let mut c = HttpConfig::new(&url, "smollm2-135m");
        c.api_key = key.map(str::to_string);
        HttpLlm::new(c).unwrap()
    };
    let req = GenerateRequest::chat(vec![Message::user("Say hi.")]).with_max_tokens(4);
    let err = remote(None).generate(&req).unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("--api-key"), "{err}");
    let c = remote(Some("s3cret")).generate(&req).unwrap();
    let (_, metrics) = get(&url, "/metrics", Some("s3cret"));
    let m: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    assert_eq!(m["completions"], 1, "{m}");
    assert_eq!(m["completion_tokens"], c.usage.completion_tokens, "{m}");
    assert!(
        m["errors"].as_u64() >= Some(2),
        "the refused requests count: {m}"
    );
}
