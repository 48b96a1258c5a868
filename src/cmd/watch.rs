//! `hamlet watch RUN_DIR`: the terminal UI (or, with `--web`, the web viewer) over an agent run
//! (`trace.jsonl`) or a town run (`events.jsonl`), recorded or still being written; and the glue
//! that puts a live `hamlet run --tui` (and `hamlet sim --tui`) on the same views.
//!
//! While the TUI owns the terminal, log lines go to a file ([`LogWriter`]) so they do not tear it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hamlet_agent::{Approval, Approver};
use hamlet_core::journal::Tail;
use hamlet_core::town::{EventRecord, SimTime, EVENTS_FILE};
use hamlet_core::trace::{Action, Nesting, TraceEvent, TRACE_FILE};
use hamlet_tui::agent::{AgentApp, AgentMsg, ApprovalAnswer, ApprovalRequest, Budget};
use hamlet_tui::town::TownApp;

use crate::cmd::run::Approved;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder: an agent run (trace.jsonl) or a town run (events.jsonl); a file inside one works too.
    pub run_dir: PathBuf,
    /// Town runs: start at this simulated time ("day 1 12:00" or "12:00").
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Town runs: start paused.
    #[arg(long)]
    pub paused: bool,
    /// Where log lines go while the TUI runs (default: RUN_DIR/watch.log).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub web: crate::cmd::web::WebArgs,
}

// ---- logs to a file while the TUI runs ------------------------------------------------------

static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);

/// The tracing writer of the binary: stderr, or the file set by [`log_to_file`] while a TUI runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One write to wherever logs go now.
pub struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_FILE.lock().as_deref_mut() {
            Ok(Some(f)) => f.write(buf),
            _ => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match LOG_FILE.lock().as_deref_mut() {
            Ok(Some(f)) => f.flush(),
            _ => std::io::stderr().flush(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogSink;
    fn make_writer(&'a self) -> LogSink {
        LogSink
    }
}

/// Sends logs to `path` until the guard drops (then back to stderr).
pub struct LogGuard;

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Ok(mut f) = LOG_FILE.lock() {
            *f = None;
        }
    }
}

pub fn log_to_file(path: &Path) -> Result<LogGuard> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    if let Ok(mut f) = LOG_FILE.lock() {
        *f = Some(file);
    }
    Ok(LogGuard)
}

// ---- hamlet watch ---------------------------------------------------------------------------

/// What a run folder holds.
enum Kind {
    Agent,
    Town,
}

fn detect(path: &Path) -> Result<(PathBuf, Kind)> {
    let dir = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    if !dir.is_dir() {
        bail!(
            "{} is not a run folder (no such directory): give the folder `hamlet run` or `hamlet sim` wrote (its --run-dir)",
            path.display()
        );
    }
    if dir.join(EVENTS_FILE).is_file() {
        Ok((dir, Kind::Town))
    } else if dir.join(TRACE_FILE).is_file() {
        Ok((dir, Kind::Agent))
    } else {
        bail!(
            "{} is not a run folder: it holds neither {TRACE_FILE} (an agent run) nor {EVENTS_FILE} (a town run); give the folder `hamlet run` or `hamlet sim` wrote (its --run-dir)",
            dir.display()
        )
    }
}

/// Ctrl-C from outside the terminal (kill -INT) stops the TUI cleanly.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    stop
}

/// Follows a JSONL file on a thread, sending each new event (wrapped by `wrap`) until the
/// receiver is gone.
fn follow<T, M>(
    mut tail: Tail<T>,
    tx: Sender<M>,
    mut wrap: impl FnMut(T) -> Vec<M> + Send + 'static,
) where
    T: serde::de::DeserializeOwned + Send + 'static,
    M: Send + 'static,
{
    std::thread::spawn(move || loop {
        match tail.poll() {
            Ok(events) => {
                for m in events.into_iter().flat_map(&mut wrap) {
                    if tx.send(m).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!("stopped following the log: {e}");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    });
}

fn budget_of(run_dir: &Path) -> Budget {
    match hamlet_agent::runner::load_run(run_dir) {
        Ok((spec, _)) => Budget {
            max_steps: Some(spec.budgets.max_steps),
            max_tokens: Some(spec.budgets.max_tokens),
        },
        Err(_) => Budget::default(),
    }
}

pub fn run(a: Args) -> Result<()> {
    let (dir, kind) = detect(&a.run_dir)?;
    if a.web.web {
        return watch_web(&dir, kind, &a.web);
    }
    let log = a.log.clone().unwrap_or_else(|| dir.join("watch.log"));
    let stop = stop_flag();
    match kind {
        Kind::Agent => {
            let mut tail = Tail::<TraceEvent>::new(&dir.join(TRACE_FILE));
            let events = tail.poll().context("reading the trace")?;
            let mut app = AgentApp::new(budget_of(&dir), false);
            // Sub-agents' runs are read from their folders as their steps end.
            let mut nesting = Nesting::new(&dir);
            for e in events.into_iter().flat_map(|e| nesting.expand(e)) {
                app.push(e);
            }
            let (tx, rx) = mpsc::channel();
            let wrap = move |e| nesting.expand(e).into_iter().map(AgentMsg::Event).collect();
            follow(tail, tx, wrap);
            let _log = log_to_file(&log)?;
            hamlet_tui::term::run(&mut app, &rx, &stop).context("running the terminal UI")?;
        }
        Kind::Town => {
            let mut tail = Tail::<EventRecord>::new(&dir.join(EVENTS_FILE));
            let records = tail.poll().context("reading the event log")?;
            if records.is_empty() {
                bail!(
                    "{} is empty: the run has not started",
                    dir.join(EVENTS_FILE).display()
                );
            }
            let mut app = TownApp::replay(records);
            app.playing = !a.paused;
            if let Some(at) = &a.at {
                app.seek_time(
                    SimTime::parse(at)
                        .map_err(anyhow::Error::msg)
                        .context("--at")?,
                );
            }
            let (tx, rx) = mpsc::channel();
            follow(tail, tx, |r| vec![r]);
            let _log = log_to_file(&log)?;
            hamlet_tui::term::run(&mut app, &rx, &stop).context("running the terminal UI")?;
        }
    }
    Ok(())
}

/// `hamlet watch RUN_DIR --web`: serves the viewer until the process is stopped.
fn watch_web(dir: &Path, kind: Kind, web: &crate::cmd::web::WebArgs) -> Result<()> {
    let kind = match kind {
        Kind::Town => {
            if std::fs::metadata(dir.join(EVENTS_FILE))
                .map(|m| m.len())
                .unwrap_or(0)
                == 0
            {
                bail!(
                    "{} is empty: the run has not started (watch it once `hamlet sim` has written its first record)",
                    dir.join(EVENTS_FILE).display()
                );
            }
            hamlet_web::Kind::Town
        }
        Kind::Agent => hamlet_web::Kind::Agent {
            budget: budget_of(dir),
            approvals: None,
        },
    };
    let server = crate::cmd::web::start(dir, kind, web)?;
    server.wait();
    Ok(())
}

// ---- live: the UI thread ------------------------------------------------------------------

/// The thread that owns the terminal during a live run. Dropped without [`Ui::join`] (the run
/// failed and the command is returning its error), it stops the UI and waits, so the terminal is
/// restored before the error is printed.
struct Ui {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<hamlet_tui::Result<()>>>,
}

impl Ui {
    fn spawn(f: impl FnOnce(&AtomicBool) -> hamlet_tui::Result<()> + Send + 'static) -> Ui {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Ui {
            stop,
            handle: Some(std::thread::spawn(move || f(&flag))),
        }
    }

    /// Waits for the user to leave the UI.
    fn join(&mut self) -> Result<()> {
        match self.handle.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => r.context("running the terminal UI"),
            Some(Err(_)) => bail!("the terminal UI panicked (see tui.log in the run folder)"),
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = h.join();
        }
    }
}

// ---- live: hamlet run --tui -----------------------------------------------------------------

/// A live agent run's TUI: a UI thread drawing what the runner's observer and approver send.
pub struct LiveAgent {
    tx: Sender<AgentMsg>,
    ui: Ui,
    /// Actions approved in advance.
    approved: Approved,
    _log: LogGuard,
}

impl LiveAgent {
    /// Opens the TUI; quitting it sets `interrupt`, so the runner stops after its current step.
    pub fn start(
        run_dir: &Path,
        max_steps: u32,
        max_tokens: u64,
        yes: &Option<String>,
        interrupt: Arc<AtomicBool>,
    ) -> Result<LiveAgent> {
        let budget = Budget {
            max_steps: Some(max_steps),
            max_tokens: Some(max_tokens),
        };
        let approved = Approved::parse(yes)?;
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let log = log_to_file(&run_dir.join("tui.log"))?;
        let (tx, rx): (Sender<AgentMsg>, Receiver<AgentMsg>) = mpsc::channel();
        let ui = Ui::spawn(move |stop| {
            let mut app = AgentApp::new(budget, true);
            let result = hamlet_tui::term::run(&mut app, &rx, stop);
            interrupt.store(true, Ordering::SeqCst);
            // Anything still asking is told to stop.
            while let Ok(msg) = rx.try_recv() {
                if let AgentMsg::Approve(req) = msg {
                    let _ = req.reply.send(ApprovalAnswer::Quit);
                }
            }
            result
        });
        Ok(LiveAgent {
            tx,
            ui,
            approved,
            _log: log,
        })
    }

    /// The runner's observer: every trace event goes to the UI.
    pub fn observer(&self) -> impl FnMut(&TraceEvent) + 'static {
        let tx = self.tx.clone();
        move |e| {
            let _ = tx.send(AgentMsg::Event(e.clone()));
        }
    }

    /// The runner's approver: asks in the UI and waits for the answer.
    pub fn approver(&self) -> TuiApprover {
        TuiApprover {
            tx: self.tx.clone(),
            approved: self.approved,
        }
    }

    /// Tells the UI the run is over and waits for the user to leave it.
    pub fn finish(mut self, message: &str) -> Result<()> {
        let _ = self
            .tx
            .send(AgentMsg::Status(format!("{message} · press q to leave")));
        self.ui.join()
    }
}

/// Forwards approval prompts to the UI thread.
pub struct TuiApprover {
    tx: Sender<AgentMsg>,
    approved: Approved,
}

impl Approver for TuiApprover {
    fn approve(&mut self, step: u32, action: &Action) -> Approval {
        if self.approved.take() {
            return Approval::Run;
        }
        let (reply, answer) = mpsc::channel();
        if self
            .tx
            .send(AgentMsg::Approve(ApprovalRequest {
                step,
                action: action.clone(),
                reply,
            }))
            .is_err()
        {
            return Approval::Quit;
        }
        match answer.recv() {
            Ok(ApprovalAnswer::Run) => Approval::Run,
            Ok(ApprovalAnswer::RunAll) => {
                self.approved = Approved(None);
                Approval::Run
            }
            Ok(ApprovalAnswer::Decline { feedback }) => Approval::Decline { feedback },
            Ok(ApprovalAnswer::Quit) | Err(_) => Approval::Quit,
        }
    }
}

// ---- live: hamlet sim --tui -----------------------------------------------------------------

/// A live town run's TUI: follows `RUN_DIR/events.jsonl` as the simulation writes it.
pub struct LiveTown {
    ui: Ui,
    _log: LogGuard,
}

impl LiveTown {
    /// Opens the TUI; quitting it sets `interrupt` (the simulation stops at its next check).
    pub fn start(run_dir: &Path, interrupt: Arc<AtomicBool>) -> Result<LiveTown> {
        let log = log_to_file(&run_dir.join("tui.log"))?;
        let (tx, rx) = mpsc::channel();
        follow(
            Tail::<EventRecord>::new(&run_dir.join(EVENTS_FILE)),
            tx,
            |r| vec![r],
        );
        let ui = Ui::spawn(move |stop| {
            let mut app = TownApp::new(true);
            let result = hamlet_tui::term::run(&mut app, &rx, stop);
            interrupt.store(true, Ordering::SeqCst);
            result
        });
        Ok(LiveTown { ui, _log: log })
    }

    /// Waits for the user to leave the TUI.
    pub fn finish(mut self) -> Result<()> {
        self.ui.join()
    }
}
