//! `web_search` against local fake providers speaking SearxNG's and Brave's real reply shapes
//! over real HTTP, and what the agent may do with a result afterwards.

use std::sync::mpsc;

use hamlet_tools::{Policy, Registry, SearchEngine, ToolContext, ToolError, Workspace};
use serde_json::json;

/// What a fake provider was asked: the URL (path and query) and the API key header.
type Seen = (String, Option<String>);

/// A local provider answering one request with `body`; the request comes back on the channel.
fn provider(body: String) -> (String, mpsc::Receiver<Seen>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok(req) = server.recv() else { return };
        let key = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("X-Subscription-Token"))
            .map(|h| h.value.to_string());
        let _ = tx.send((req.url().to_string(), key));
        let resp = tiny_http::Response::from_string(body).with_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
        );
        let _ = req.respond(resp);
    });
    (format!("http://{addr}"), rx)
}

fn ctx(engine: Option<SearchEngine>) -> (tempfile::TempDir, ToolContext) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(dir.path().join("ws")).unwrap();
    let policy = Policy {
        web_search: engine,
        ..Policy::default()
    };
    (dir, ToolContext::new(ws, policy))
}

fn search(ctx: &ToolContext, args: serde_json::Value) -> Result<String, ToolError> {
    Registry::builtin().call(ctx, "web_search", args)
}

#[test]
fn searxng_results_are_title_url_and_snippet_and_stay_under_the_address_policy() {
    let reply = json!({"query": "tide tables", "results": [
        {"title": "Tide <span>tables</span>", "url": "http://127.0.0.1:9/tides", "content": "High water at 06:12."},
        {"title": "Harbour office", "url": "https://harbour.example/", "content": "Opening hours &amp; fees"},
        {"title": "Third", "url": "https://third.example/", "content": "not asked for"}
    ]});
    let (url, seen) = provider(reply.to_string());
    // A provider on loopback is the user's choice, so it is reached without allow-private.
    let (_d, c) = ctx(Some(SearchEngine::Searxng { url }));
    let out = search(&c, json!({"query": "tide tables", "count": 2})).unwrap();
    assert_eq!(
        out,
        "1. Tide tables\n   http://127.0.0.1:9/tides\n   High water at 06:12.\n2. Harbour office\n   https://harbour.example/\n   Opening hours & fees"
    );
    let (asked, _) = seen.recv().unwrap();
    assert!(
        asked.starts_with("/search?")
            && asked.contains("q=tide+tables")
            && asked.contains("format=json"),
        "{asked}"
    );
    // A result is only text: fetching it goes through http_get's address policy.
    let e = Registry::builtin()
        .call(&c, "http_get", json!({"url": "http://127.0.0.1:9/tides"}))
        .unwrap_err();
    assert!(e.is_refusal(), "{e}");
}

#[test]
fn brave_sends_its_key_and_reads_the_web_results() {
    let reply = json!({"type": "search", "web": {"results": [
        {"title": "Rust", "url": "https://www.rust-lang.org/", "description": "A <strong>language</strong> empowering everyone"}
    ]}});
    let (url, seen) = provider(reply.to_string());
    std::env::set_var("HAMLET_TEST_BRAVE_KEY", "k-123");
    let engine = SearchEngine::Brave {
        key_env: "HAMLET_TEST_BRAVE_KEY".into(),
        url: Some(format!("{url}/res/v1/web/search")),
    };
    let (_d, c) = ctx(Some(engine));
    let out = search(&c, json!({"query": "rust"})).unwrap();
    assert!(
        out.starts_with(
            "1. Rust\n   https://www.rust-lang.org/\n   A language empowering everyone"
        ),
        "{out}"
    );
    let (asked, key) = seen.recv().unwrap();
    assert!(
        asked.starts_with("/res/v1/web/search?q=rust&count=5"),
        "{asked}"
    );
    assert_eq!(key.as_deref(), Some("k-123"));
}

#[test]
fn search_failures_are_observations_that_say_why() {
    let (_d, c) = ctx(None);
    let e = search(&c, json!({"query": "x"})).unwrap_err();
    assert!(
        e.is_refusal() && e.to_string().contains("[web-search]"),
        "{e}"
    );
    let (url, _seen) = provider("<html>not json</html>".into());
    let (_d, c) = ctx(Some(SearchEngine::Searxng { url }));
    let e = search(&c, json!({"query": "x"})).unwrap_err().to_string();
    assert!(
        e.contains("did not answer JSON") && e.contains("formats"),
        "{e}"
    );
    let engine = SearchEngine::Brave {
        key_env: "HAMLET_TEST_NO_SUCH_KEY".into(),
        url: None,
    };
    let (_d, c) = ctx(Some(engine));
    let e = search(&c, json!({"query": "x"})).unwrap_err().to_string();
    assert!(e.contains("HAMLET_TEST_NO_SUCH_KEY is not set"), "{e}");
    let e = search(&c, json!({"query": "  "})).unwrap_err();
    assert!(matches!(e, ToolError::InvalidArgs(_)), "{e}");
}
