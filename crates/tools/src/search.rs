//! `web_search`: results (title, URL, snippet) from a search provider the agent file configures.
//!
//! A provider is a [`SearchProvider`]; two ship: SearxNG's JSON API (self-hosted, often on the
//! same machine) and the Brave Search API (keyed). The provider's endpoint is the user's choice in
//! the agent file, not the model's, so it may be on a private address; the result URLs are only
//! text until the agent fetches one with `http_get`, under that tool's address policy.

use std::io::Read;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ToolContext, ToolError, ToolResult};

/// The most results one search returns.
pub const MAX_RESULTS: usize = 10;

/// The largest provider reply read, in bytes.
const MAX_REPLY_BYTES: u64 = 2 << 20;

/// Brave's web search endpoint.
pub const BRAVE_URL: &str = "https://api.search.brave.com/res/v1/web/search";

/// Where `web_search` asks (an agent file's `[web-search]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "provider")]
pub enum SearchEngine {
    /// A SearxNG instance with the JSON format enabled (`search.formats: [json]`), e.g.
    /// `http://127.0.0.1:8888`.
    Searxng { url: String },
    /// The Brave Search API; the key is read from the environment variable `key_env`. `url`
    /// replaces the endpoint (a proxy, or a test double).
    Brave {
        key_env: String,
        url: Option<String>,
    },
}

/// One result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    pub title: String,
    pub url: String,
    pub snippet: String,
}

/// A search engine behind `web_search`.
pub trait SearchProvider {
    /// Up to `count` results for `query`, best first.
    fn search(&self, query: &str, count: usize, timeout: Duration) -> ToolResult<Vec<SearchHit>>;
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSearchArgs {
    /// What to search the web for.
    pub query: String,
    /// How many results (default 5, at most 10).
    #[serde(default)]
    pub count: Option<usize>,
}

pub(crate) fn web_search(ctx: &ToolContext, a: WebSearchArgs) -> ToolResult<String> {
    let Some(provider) = &ctx.policy.web_search else {
        return Err(ToolError::refused(
            "web_search has no provider: the agent file needs a [web-search] table (provider = \"searxng\" with url, or \"brave\" with key-env)",
        ));
    };
    if a.query.trim().is_empty() {
        return Err(ToolError::InvalidArgs("the query is empty".into()));
    }
    let count = a.count.unwrap_or(5).clamp(1, MAX_RESULTS);
    let hits = provider.search(a.query.trim(), count, ctx.policy.http_timeout)?;
    Ok(render(&hits))
}

/// Results as the model sees them: numbered, each with its URL and snippet.
pub fn render(hits: &[SearchHit]) -> String {
    if hits.is_empty() {
        return "no results".into();
    }
    let mut out = String::new();
    for (i, h) in hits.iter().enumerate() {
        out.push_str(&format!("{}. {}\n   {}\n", i + 1, h.title, h.url));
        if !h.snippet.is_empty() {
            out.push_str(&format!("   {}\n", h.snippet));
        }
    }
    out.trim_end().to_string()
}

impl SearchProvider for SearchEngine {
    fn search(&self, query: &str, count: usize, timeout: Duration) -> ToolResult<Vec<SearchHit>> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("hamlet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ToolError::failed(format!("HTTP client: {e}")))?;
        match self {
            SearchEngine::Searxng { url } => {
                let endpoint = format!("{}/search", url.trim_end_matches('/'));
                let request = client
                    .get(&endpoint)
                    .query(&[("q", query), ("format", "json")]);
                let reply = send(request, &endpoint)?;
                Ok(hits(&reply, "/results", "content", count))
            }
            SearchEngine::Brave { key_env, url } => {
                let key = std::env::var(key_env).map_err(|_| {
                    ToolError::failed(format!(
                        "the Brave Search API key's environment variable {key_env} is not set"
                    ))
                })?;
                let endpoint = url.as_deref().unwrap_or(BRAVE_URL);
                let request = client
                    .get(endpoint)
                    .query(&[("q", query), ("count", &count.to_string())])
                    .header("Accept", "application/json")
                    .header("X-Subscription-Token", key);
                let reply = send(request, endpoint)?;
                Ok(hits(&reply, "/web/results", "description", count))
            }
        }
    }
}

/// Sends the request and reads a JSON reply of bounded size.
fn send(request: reqwest::blocking::RequestBuilder, endpoint: &str) -> ToolResult<Value> {
    let resp = request
        .send()
        .map_err(|e| ToolError::failed(format!("the search provider at {endpoint} failed: {e}")))?;
    let status = resp.status();
    let mut body = Vec::new();
    resp.take(MAX_REPLY_BYTES)
        .read_to_end(&mut body)
        .map_err(|e| ToolError::failed(format!("reading the search reply: {e}")))?;
    if !status.is_success() {
        let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(ToolError::failed(format!(
            "the search provider at {endpoint} answered HTTP {status}: {snippet}"
        )));
    }
    serde_json::from_slice(&body).map_err(|e| {
        ToolError::failed(format!(
            "the search provider at {endpoint} did not answer JSON ({e}); for SearxNG, enable the json format in settings.yml (search: formats: [html, json])"
        ))
    })
}

/// The results at `pointer`, each an object with `title`, `url` and a snippet under `snippet`.
fn hits(reply: &Value, pointer: &str, snippet: &str, count: usize) -> Vec<SearchHit> {
    let text = |v: &Value, k: &str| strip_tags(v.get(k).and_then(Value::as_str).unwrap_or(""));
    reply
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|results| {
            results
                .iter()
                .filter(|r| r.get("url").and_then(Value::as_str).is_some())
                .take(count)
                .map(|r| SearchHit {
                    title: text(r, "title"),
                    url: text(r, "url"),
                    snippet: text(r, snippet),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `<strong>x</strong> &amp; y` → `x & y` (providers mark the query words up).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_become_hits() {
        let searx = json!({"results": [
            {"title": "Rust <b>lang</b>", "url": "https://www.rust-lang.org/", "content": "A language &amp; more"},
            {"title": "no url"},
            {"title": "Docs", "url": "https://doc.rust-lang.org/", "content": ""}
        ]});
        let h = hits(&searx, "/results", "content", 5);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].title, "Rust lang");
        assert_eq!(h[0].snippet, "A language & more");
        assert_eq!(
            render(&h),
            "1. Rust lang\n   https://www.rust-lang.org/\n   A language & more\n2. Docs\n   https://doc.rust-lang.org/"
        );
        assert_eq!(
            hits(&json!({"web": {}}), "/web/results", "description", 5),
            []
        );
        assert_eq!(render(&[]), "no results");
    }
}
