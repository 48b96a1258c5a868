//! [`PoolLlm`]: one model served by several OpenAI-compatible servers (`hamlet serve`,
//! llama.cpp's server, vLLM, SGLang), used as one [`Llm`].
//!
//! - **Cache-affine routing.** A request with a `cache_key` (one agent, one run) goes to the
//!   server that rendezvous hashing picks for that key among the live servers, so its prompt
//!   prefix stays in that server's KV cache. When a server goes down, only its keys move, each to
//!   its next choice. Requests without a key go round-robin. `Routing::RoundRobin` ignores keys
//!   (the baseline of the affinity benchmark).
//! - **A concurrency limit per server**: a request waits for a free slot on its server.
//! - **Retries with backoff.** A failure another try may cure (refused or broken connection,
//!   429, 5xx, malformed JSON, a reply that breaks the schema) marks a server that failed to
//!   answer as down for a while and tries the next server; when every server has failed the
//!   round, it waits (100 ms, doubling) and goes round again, up to `rounds` times (a reply that
//!   broke its schema gets one round only: the same model tends to break it again). A request no
//!   server will take (bad auth, a 4xx, an invalid request) fails at once. A streamed reply that
//!   already showed text is not retried, so no text is shown twice.
//! - **Figures per server** ([`PoolLlm::stats`]): requests, errors, requests moved away after a
//!   failure, tokens and latency, for the run's metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hamlet_core::{Completion, Error, GenerateRequest, Llm, ModelInfo, Result};
use serde::Serialize;

use crate::http::{HttpConfig, HttpFailure, HttpLlm};

/// How requests are spread over the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// One cache key, one server (rendezvous hashing over the live servers).
    Affinity,
    /// Every request to the next server in turn.
    RoundRobin,
}

/// What one server did in a pool.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerStats {
    pub url: String,
    /// Requests sent to it (each try counts).
    pub requests: u64,
    /// Requests it answered.
    pub ok: u64,
    pub errors: u64,
    /// Requests that failed here and were tried on another server.
    pub moved_away: u64,
    /// Requests answered here that had failed on another server first.
    pub taken_over: u64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub completion_tokens: u64,
    /// Wall time of its answered requests, summed.
    pub latency_ms: f64,
    /// Whether it was marked down when the figures were read.
    pub down: bool,
}

struct Member {
    llm: HttpLlm,
    url: String,
    limit: usize,
    busy: Mutex<usize>,
    free: Condvar,
    down_until: Mutex<Option<Instant>>,
    stats: Mutex<ServerStats>,
}

impl Member {
    fn is_down(&self) -> bool {
        self.down_until
            .lock()
            .map(|d| d.is_some_and(|t| Instant::now() < t))
            .unwrap_or(false)
    }

    fn mark_down(&self, for_: Duration) {
        if let Ok(mut d) = self.down_until.lock() {
            *d = Some(Instant::now() + for_);
        }
    }

    fn record(&self, f: impl FnOnce(&mut ServerStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// Runs `f` in one of this server's slots, waiting for one to be free.
    fn with_slot<T>(&self, f: impl FnOnce() -> T) -> T {
        if let Ok(mut busy) = self.busy.lock() {
            while *busy >= self.limit {
                busy = match self.free.wait(busy) {
                    Ok(b) => b,
                    Err(_) => return f(),
                };
            }
            *busy += 1;
        }
        let out = f();
        if let Ok(mut busy) = self.busy.lock() {
            *busy = busy.saturating_sub(1);
        }
        self.free.notify_one();
        out
    }
}

/// A pool of servers of one model.
pub struct PoolLlm {
    members: Vec<Member>,
    routing: Routing,
    next: AtomicUsize,
    rounds: u32,
    /// How long a server that failed to answer is skipped.
    down_for: Duration,
}

impl std::fmt::Debug for PoolLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.members.iter().map(|m| m.url.as_str()).collect();
        f.debug_struct("PoolLlm").field("servers", &urls).finish()
    }
}

impl PoolLlm {
    /// A pool over these servers (one config each: URL, model name, key, timeout; `parallel`
    /// is the server's concurrency limit).
    pub fn new(configs: Vec<HttpConfig>, routing: Routing) -> Result<Self> {
        if configs.is_empty() {
            return Err(Error::InvalidRequest(
                "a server pool needs at least one --server URL".into(),
            ));
        }
        let members = configs
            .into_iter()
            .map(|c| {
                let url = c.base_url.clone();
                Ok(Member {
                    limit: c.parallel.max(1),
                    llm: HttpLlm::new(c)?,
                    stats: Mutex::new(ServerStats {
                        url: url.clone(),
                        ..ServerStats::default()
                    }),
                    url,
                    busy: Mutex::new(0),
                    free: Condvar::new(),
                    down_until: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PoolLlm {
            members,
            routing,
            next: AtomicUsize::new(0),
            rounds: 4,
            down_for: Duration::from_secs(10),
        })
    }

    /// The figures of every server, in the order given.
    pub fn stats(&self) -> Vec<ServerStats> {
        self.members
            .iter()
            .map(|m| {
                let mut s = m.stats.lock().map(|s| s.clone()).unwrap_or_default();
                s.down = m.is_down();
                s
            })
            .collect()
    }

    /// The servers in the order this request tries them: by rendezvous hash of its cache key
    /// (affinity), or starting from the next in turn; live servers before those marked down.
    fn order(&self, req: &GenerateRequest) -> Vec<usize> {
        let n = self.members.len();
        let mut order: Vec<usize> = match (&req.cache_key, self.routing) {
            (Some(key), Routing::Affinity) => {
                let mut scored: Vec<(u64, usize)> = self
                    .members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (fnv1a(&[key.as_bytes(), b"\0", m.url.as_bytes()]), i))
                    .collect();
                scored.sort_unstable_by(|a, b| b.cmp(a));
                scored.into_iter().map(|(_, i)| i).collect()
            }
            _ => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (start + k) % n).collect()
            }
        };
        order.sort_by_key(|&i| self.members[i].is_down());
        order
    }

    /// Sends `req` to its servers in turn until one answers. `on_text` is the caller's stream;
    /// without one, a reply that broke its schema after its text came in can still be retried.
    fn run(
        &self,
        req: &GenerateRequest,
        mut on_text: Option<&mut dyn FnMut(&str)>,
    ) -> Result<Completion> {
        let mut last = None;
        let mut backoff = Duration::from_millis(100);
        let mut failed_before = false;
        for round in 0..self.rounds {
            // A reply that broke its schema on every server will break it again: one round.
            if round > 0 && matches!(last, Some(Error::InvalidOutput { .. })) {
                break;
            }
            if round > 0 {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            for i in self.order(req) {
                let m = &self.members[i];
                let mut shown = false;
                let started = Instant::now();
                m.record(|s| s.requests += 1);
                let out = m.with_slot(|| {
                    m.llm.generate_stream(req, &mut |t| {
                        if let Some(f) = on_text.as_mut() {
                            shown = true;
                            f(t)
                        }
                    })
                });
                match out {
                    Ok(c) => {
                        m.record(|s| {
                            s.ok += 1;
                            s.taken_over += u64::from(failed_before);
                            s.prompt_tokens += c.usage.prompt_tokens;
                            s.cached_tokens += c.usage.cached_tokens;
                            s.completion_tokens += c.usage.completion_tokens;
                            s.latency_ms += started.elapsed().as_secs_f64() * 1e3;
                        });
                        return Ok(c);
                    }
                    Err(e) if HttpFailure::is_retryable(&e) && !shown => {
                        tracing::warn!(server = %m.url, error = %e, "a pool server failed; trying the next");
                        m.record(|s| {
                            s.errors += 1;
                            s.moved_away += 1;
                        });
                        if !matches!(e, Error::InvalidOutput { .. }) {
                            m.mark_down(self.down_for);
                        }
                        failed_before = true;
                        last = Some(e);
                    }
                    Err(e) => {
                        m.record(|s| s.errors += 1);
                        return Err(e);
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::backend("server pool", "no server answered")))
    }
}

/// FNV-1a over the parts: a stable hash, the same in every process and every run.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Llm for PoolLlm {
    fn info(&self) -> ModelInfo {
        let first = self.members[0].llm.info();
        ModelInfo {
            parallel: self.members.iter().map(|m| m.limit).sum(),
            ..first
        }
    }

    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        self.run(request, Some(on_text))
    }

    fn generate(&self, request: &GenerateRequest) -> Result<Completion> {
        self.run(request, None)
    }

    /// Every request on its own thread; the per-server limits decide how many run at once.
    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = requests
                .iter()
                .map(|r| s.spawn(move || self.generate(r)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::backend("server pool", "the request thread panicked"))
                    })
                })
                .collect()
        })
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.members[0].llm.count_tokens(text)
    }

    fn check_schema(&self, schema: &serde_json::Value) -> Result<()> {
        self.members[0].llm.check_schema(schema)
    }
}
