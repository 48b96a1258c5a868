//! Starting the server: bind (so a busy port fails at once, with the fix), read the log, follow
//! it on a thread, and serve the page and the API on a small tokio runtime of its own.

use std::future::IntoFuture;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::future::{select, Either};
use hamlet_core::journal::Tail;
use hamlet_core::town::{EventRecord, EVENTS_FILE};
use hamlet_core::trace::{Budget, Nesting, TraceEvent, TRACE_FILE};
use tokio::sync::watch;

use crate::agent::{AgentLog, Approvals};
use crate::error::{Error, Result};
use crate::town::TownLog;

/// How often the log is polled for new lines.
const POLL: Duration = Duration::from_millis(200);

/// Where to listen.
#[derive(Debug, Clone)]
pub struct Options {
    /// An IP address; loopback by default.
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "127.0.0.1".into(),
            port: crate::DEFAULT_PORT,
        }
    }
}

/// What the run folder holds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A town run: `events.jsonl`.
    Town,
    /// An agent run: `trace.jsonl`, its budgets, and the approvals when the run is live.
    Agent {
        budget: Budget,
        approvals: Option<Approvals>,
    },
}

/// The log being served.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per server, never moved about
pub(crate) enum Data {
    Town(RwLock<TownLog>),
    Agent(RwLock<AgentLog>),
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub run_dir: PathBuf,
    pub data: Data,
    /// The number of records read so far; the event stream waits on it.
    pub changed: watch::Sender<usize>,
    pub approvals: Option<Approvals>,
}

impl Shared {
    /// The records from `from` on, as JSON lines (at most `max`).
    pub fn records_from(&self, from: usize, max: usize) -> Vec<(usize, String)> {
        fn encode<T: serde::Serialize>(from: usize, max: usize, all: &[T]) -> Vec<(usize, String)> {
            all.iter()
                .enumerate()
                .skip(from)
                .take(max)
                .filter_map(|(i, r)| Some((i, serde_json::to_string(r).ok()?)))
                .collect()
        }
        match &self.data {
            Data::Town(log) => match log.read() {
                Ok(log) => encode(from, max, log.records()),
                Err(_) => Vec::new(),
            },
            Data::Agent(log) => match log.read() {
                Ok(log) => encode(from, max, &log.events),
                Err(_) => Vec::new(),
            },
        }
    }
}

/// A running viewer. Dropping it stops the server and the follower.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    approvals: Option<Approvals>,
}

fn bind(opts: &Options) -> Result<TcpListener> {
    let bad = || Error::BadHost {
        host: opts.host.clone(),
    };
    // An IP address, or a name such as `localhost` (its first address).
    let addr = match opts.host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, opts.port),
        Err(_) => (opts.host.as_str(), opts.port)
            .to_socket_addrs()
            .map_err(|_| bad())?
            .next()
            .ok_or_else(bad)?,
    };
    let listener = TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => Error::PortInUse { addr },
        _ => Error::Bind { addr, source },
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Bind { addr, source })?;
    Ok(listener)
}

/// The records the log at `path` holds now, and the tail that follows it from there.
fn open_log<T: serde::de::DeserializeOwned>(path: PathBuf) -> Result<(Tail<T>, Vec<T>)> {
    let mut tail = Tail::<T>::new(&path);
    let records = tail.poll().map_err(|source| Error::Log { path, source })?;
    Ok((tail, records))
}

/// Polls `tail` into the log until `stop` is set.
fn follow<T>(
    mut tail: Tail<T>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    push: fn(&Data, Vec<T>) -> Option<usize>,
) where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match tail.poll() {
                Ok(records) if !records.is_empty() => {
                    if let Some(n) = push(&shared.data, records) {
                        shared.changed.send_replace(n);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("stopped following the log: {e}");
                    return;
                }
            }
            std::thread::sleep(POLL);
        }
    });
}

fn push_town(data: &Data, records: Vec<EventRecord>) -> Option<usize> {
    let Data::Town(log) = data else { return None };
    let mut log = log.write().ok()?;
    records.into_iter().for_each(|r| log.push(r));
    Some(log.len())
}

fn push_agent(data: &Data, records: Vec<TraceEvent>) -> Option<usize> {
    let Data::Agent(log) = data else { return None };
    let mut log = log.write().ok()?;
    records.into_iter().for_each(|r| log.push(r));
    Some(log.len())
}

impl Server {
    /// Binds `opts`, reads what the run's log holds now and serves it, following the log as it
    /// grows. Returns once the server listens.
    pub fn start(run_dir: &Path, kind: Kind, opts: &Options) -> Result<Server> {
        let listener = bind(opts)?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), opts.port),
            source,
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (changed, _) = watch::channel(0);
        let (shared, approvals) = match kind {
            Kind::Town => {
                let (tail, records) = open_log::<EventRecord>(run_dir.join(EVENTS_FILE))?;
                let mut log = TownLog::new();
                records.into_iter().for_each(|r| log.push(r));
                changed.send_replace(log.len());
                let shared = Arc::new(Shared {
                    run_dir: run_dir.to_path_buf(),
                    data: Data::Town(RwLock::new(log)),
                    changed,
                    approvals: None,
                });
                follow(tail, shared.clone(), stop.clone(), push_town);
                (shared, None)
            }
            Kind::Agent { budget, approvals } => {
                let (tail, records) = open_log::<TraceEvent>(run_dir.join(TRACE_FILE))?;
                let mut log = AgentLog::new(budget);
                log.nesting = Nesting::new(run_dir);
                records.into_iter().for_each(|r| log.push(r));
                changed.send_replace(log.len());
                let shared = Arc::new(Shared {
                    run_dir: run_dir.to_path_buf(),
                    data: Data::Agent(RwLock::new(log)),
                    changed,
                    approvals: approvals.clone(),
                });
                follow(tail, shared.clone(), stop.clone(), push_agent);
                (shared, approvals)
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hamlet-web")
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        let listener = runtime
            .block_on(async { tokio::net::TcpListener::from_std(listener) })
            .map_err(|source| Error::Bind { addr, source })?;
        let (shutdown, on_shutdown) = tokio::sync::oneshot::channel::<()>();
        let app = crate::api::router(shared);
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                // Not a graceful shutdown: open event streams never end by themselves.
                let serve = std::pin::pin!(axum::serve(listener, app).into_future());
                if let Either::Left((Err(e), _)) = select(serve, on_shutdown).await {
                    tracing::error!("the web viewer stopped: {e}");
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        tracing::info!(%addr, run_dir = %run_dir.display(), "web viewer listening");
        Ok(Server {
            addr,
            stop,
            shutdown: Some(shutdown),
            thread: Some(thread),
            approvals,
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves until the process ends (or the server fails).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = &self.approvals {
            a.close();
        }
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
