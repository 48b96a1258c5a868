//! The OpenAI-compatible HTTP backend against a real HTTP server on loopback that speaks the
//! OpenAI protocol (streamed chat and completions, embeddings, errors).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use hamlet_core::{Embedder, Error, FinishReason, GenerateRequest, Llm, Message};
use hamlet_llm::{HttpConfig, HttpEmbedder, HttpLlm, PoolLlm, Routing};
use serde_json::{json, Value};

type Handler = dyn Fn(&str, &Value) -> (u16, String) + Send + Sync;

/// Serves every connection with `handler(path, body)`; records the requests.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

fn serve(handler: impl Fn(&str, &Value) -> (u16, String) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (handler, log) = (handler.clone(), log.clone());
            std::thread::spawn(move || answer(stream, &*handler, &log));
        }
    });
    Server { url, seen }
}

fn answer(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<(String, Value)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    log.lock().unwrap().push((path.clone(), body.clone()));
    let (status, text) = handler(&path, &body);
    let kind = if text.starts_with("data:") {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// An SSE stream of chat deltas, a finish reason and a usage record.
fn sse_chat(pieces: &[&str], finish: &str) -> String {
    let mut out = String::new();
    for p in pieces {
        out += &format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})
        );
    }
    out += &format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    );
    out += &format!(
        "data: {}\n\n",
        json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": pieces.len()}})
    );
    out + "data: [DONE]\n\n"
}

fn llm(url: &str) -> HttpLlm {
    HttpLlm::new(HttpConfig::new(url, "test-model")).unwrap()
}

#[test]
fn chat_is_streamed_and_the_request_is_well_formed() {
    let server = serve(|_, _| (200, sse_chat(&["Hel", "lo", " world"], "stop")));
    let mut pieces = Vec::new();
    let req = GenerateRequest::chat(vec![Message::system("Be brief."), Message::user("Hi")])
        .with_max_tokens(9)
        .with_stop("\n");
    let c = llm(&server.url)
        .generate_stream(&req, &mut |p| pieces.push(p.to_string()))
        .unwrap();
    assert_eq!(c.text, "Hello world");
    assert_eq!(pieces.concat(), c.text);
    assert_eq!(
        (c.usage.prompt_tokens, c.usage.completion_tokens, c.finish),
        (11, 3, FinishReason::Stop)
    );
    let (path, body) = server.seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 9);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stop"], json!(["\n"]));
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    );
    assert!(body.get("top_k").is_some() && body.get("response_format").is_none());
}

#[test]
fn raw_prompts_use_the_completions_endpoint() {
    let server = serve(|_, _| {
        let ev = |t: &str, f: Value| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"text": t, "finish_reason": f}]})
            )
        };
        (
            200,
            ev("5, 6", Value::Null) + &ev(", 7", json!("length")) + "data: [DONE]\n\n",
        )
    });
    let c = llm(&server.url)
        .generate(&GenerateRequest::raw("1, 2, 3, 4,").with_max_tokens(2))
        .unwrap();
    assert_eq!(c.text, "5, 6, 7");
    assert_eq!(c.finish, FinishReason::Length);
    assert_eq!(server.seen.lock().unwrap()[0].0, "/v1/completions");
}

#[test]
fn schema_replies_are_requested_and_validated() {
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let good = serve(|_, _| (200, sse_chat(&["{\"n\": ", "4}"], "stop")));
    let c = llm(&good.url)
        .generate(&GenerateRequest::chat(vec![Message::user("n?")]).with_schema(schema.clone()))
        .unwrap();
    assert_eq!(c.json, Some(json!({"n": 4})));
    let body = good.seen.lock().unwrap()[0].1.clone();
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);

    let bad = serve(|_, _| (200, sse_chat(&["{\"n\": \"four\"}"], "stop")));
    let err = llm(&bad.url)
        .generate(&GenerateRequest::chat(vec![Message::user("n?")]).with_schema(schema))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOutput { .. }), "{err}");
    assert!(err.to_string().contains("/n"), "{err}");
}

#[test]
fn server_errors_and_unreachable_servers_are_clear() {
    let server = serve(|_, _| {
        (
            500,
            r#"{"error": {"message": "model not loaded"}}"#.to_string(),
        )
    });
    let err = llm(&server.url)
        .generate(&GenerateRequest::raw("hi"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("500") && err.contains("model not loaded"),
        "{err}"
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = llm(&format!("http://127.0.0.1:{port}/v1"))
        .generate(&GenerateRequest::raw("hi"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.to_lowercase().contains("connect"),
        "{err}"
    );

    let err = HttpLlm::new(HttpConfig::new("127.0.0.1:8080", "m"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("http://"), "{err}");
    let err = llm(&server.url)
        .generate(&GenerateRequest::raw(""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompt is empty"), "{err}");
}

#[test]
fn a_batch_is_sent_concurrently_and_answered_in_order() {
    let server = serve(|_, body| {
        let q = body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (200, sse_chat(&[&format!("echo {q}")], "stop"))
    });
    let reqs: Vec<GenerateRequest> = (0..7)
        .map(|i| GenerateRequest::chat(vec![Message::user(format!("q{i}"))]))
        .collect();
    let out = llm(&server.url).generate_batch(&reqs);
    let texts: Vec<String> = out.into_iter().map(|r| r.unwrap().text).collect();
    assert_eq!(
        texts,
        (0..7).map(|i| format!("echo q{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn embeddings_are_ordered_by_index_and_normalised() {
    let server = serve(|_, body| {
        let n = body["input"].as_array().map(Vec::len).unwrap_or(0);
        // Answer in reverse order, with index fields, unnormalised.
        let data: Vec<Value> = (0..n)
            .rev()
            .map(|i| json!({"index": i, "embedding": [i as f64 + 1.0, 0.0, 0.0, 1.0]}))
            .collect();
        (200, json!({"data": data}).to_string())
    });
    let e = HttpEmbedder::connect(HttpConfig::new(&server.url, "embed")).unwrap();
    assert_eq!(e.dim(), 4);
    let v = e.embed(&["a", "b", "c"]).unwrap();
    let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>();
    assert!(v.iter().all(|x| (norm(x) - 1.0).abs() < 1e-5));
    assert!(v[0][0] < v[1][0] && v[1][0] < v[2][0], "{v:?}");
    assert!(e
        .embed(&["ok", " "])
        .unwrap_err()
        .to_string()
        .contains("text 1 is empty"));
}

/// A server that sends far more than anyone asked for (30 MB of text here) is cut off at the
/// client's `max_reply_bytes`: the reply ends there with finish "length", and nothing past it is
/// kept for the next prompt or the trace.
#[test]
fn a_runaway_reply_is_cut_off_at_the_limit() {
    let big = "x".repeat(1 << 20);
    let pieces: Vec<&str> = std::iter::repeat_n(big.as_str(), 30).collect();
    let body = sse_chat(&pieces, "stop");
    let server = serve(move |_, _| (200, body.clone()));
    let mut cfg = HttpConfig::new(&server.url, "test-model");
    cfg.max_reply_bytes = 100_000;
    let llm = HttpLlm::new(cfg).unwrap();
    let req = GenerateRequest::chat(vec![Message::user("hi")]).with_max_tokens(10);
    let c = llm.generate(&req).unwrap();
    assert_eq!(c.text.len(), 100_000);
    assert_eq!(c.finish, FinishReason::Length);
}

fn pool(servers: &[&Server], routing: Routing) -> PoolLlm {
    let configs = servers
        .iter()
        .map(|s| HttpConfig::new(&s.url, "test-model"))
        .collect();
    PoolLlm::new(configs, routing).unwrap()
}

/// The user message of each request a server saw.
fn asked(s: &Server) -> Vec<String> {
    s.seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            b["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn keyed(key: &str) -> GenerateRequest {
    GenerateRequest::chat(vec![Message::user(key)]).with_cache_key(key)
}

#[test]
fn a_pool_keeps_each_key_on_one_server_and_spreads_the_keys() {
    let (a, b) = (
        serve(|_, _| (200, sse_chat(&["a"], "stop"))),
        serve(|_, _| (200, sse_chat(&["b"], "stop"))),
    );
    let p = pool(&[&a, &b], Routing::Affinity);
    let keys: Vec<String> = (0..16).map(|i| format!("agent{i}")).collect();
    let requests: Vec<GenerateRequest> =
        (0..3).flat_map(|_| keys.iter().map(|k| keyed(k))).collect();
    assert!(p.generate_batch(&requests).iter().all(|r| r.is_ok()));
    let (on_a, on_b) = (asked(&a), asked(&b));
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "both servers get keys"
    );
    for k in &keys {
        let (n_a, n_b) = (
            on_a.iter().filter(|x| *x == k).count(),
            on_b.iter().filter(|x| *x == k).count(),
        );
        assert!(
            (n_a, n_b) == (3, 0) || (n_a, n_b) == (0, 3),
            "{k}: {n_a} on a, {n_b} on b"
        );
    }
    let stats = p.stats();
    assert_eq!(stats.iter().map(|s| s.ok).sum::<u64>(), 48);
    assert_eq!(stats[0].requests, on_a.len() as u64);

    // Round-robin ignores the keys: each key's three requests are spread.
    let (c, d) = (
        serve(|_, _| (200, sse_chat(&["c"], "stop"))),
        serve(|_, _| (200, sse_chat(&["d"], "stop"))),
    );
    let rr = pool(&[&c, &d], Routing::RoundRobin);
    for _ in 0..4 {
        rr.generate(&keyed("agent0")).unwrap();
    }
    assert_eq!((asked(&c).len(), asked(&d).len()), (2, 2));
}

#[test]
fn a_pool_moves_past_down_broken_and_schema_breaking_servers() {
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let good = serve(|_, _| (200, sse_chat(&["{\"n\": 4}"], "stop")));
    let failing = serve(|_, _| (503, r#"{"error": {"message": "overloaded"}}"#.to_string()));
    let malformed = serve(|_, _| {
        (
            200,
            "data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n".into(),
        )
    });
    let off_schema = serve(|_, _| (200, sse_chat(&["{\"n\": \"four\"}"], "stop")));
    let refused = {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Server {
            url: format!("http://127.0.0.1:{port}/v1"),
            seen: Arc::default(),
        }
    };
    for bad in [&failing, &malformed, &off_schema, &refused] {
        let p = pool(&[bad, &good], Routing::RoundRobin);
        for _ in 0..4 {
            let c = p
                .generate(
                    &GenerateRequest::chat(vec![Message::user("n?")]).with_schema(schema.clone()),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", bad.url));
            assert_eq!(c.json, Some(json!({"n": 4})));
        }
        let s = p.stats();
        assert_eq!((s[0].ok, s[1].ok), (0, 4), "{s:?}");
        assert!(s[0].moved_away >= 1 && s[1].taken_over >= 1, "{s:?}");
    }
    // With no good server the request fails after its rounds of retries, and says why.
    let alone = pool(&[&failing], Routing::Affinity);
    let err = alone
        .generate(&GenerateRequest::raw("hi"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("503") && err.contains("overloaded"), "{err}");
    assert_eq!(alone.stats()[0].requests, 4, "four rounds");
    // A request no server will take is not retried.
    let unauthorised = serve(|_, _| (401, r#"{"error": {"message": "bad key"}}"#.to_string()));
    let p = pool(&[&unauthorised, &good], Routing::RoundRobin);
    let err = p
        .generate(&GenerateRequest::raw("hi"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains("--api-key"), "{err}");
    assert_eq!(p.stats()[1].requests, 0);
}
