//! A durable run: the event log, periodic checkpoints, resume and replay.
//!
//! A run directory holds `events.jsonl` (every [`EventRecord`], one per line), `memory/` (the
//! agents' memory stream, opened by the caller's [`OpenMemory`]), `checkpoint.json` (the run's
//! settings, the whole [`WorldState`], the byte length of the log it matches and the name of its
//! memory snapshot), one `checkpoint-memory-*` snapshot directory, and at the end
//! `metrics.json` and `diffusion.svg`.
//!
//! A checkpoint is written every `checkpoint_every` steps: the log is synced, the memory stream
//! writes a snapshot into a new directory, then `checkpoint.json` is replaced atomically by rename
//! and older snapshots are removed; a crash at any point leaves the previous checkpoint whole.
//! `resume` loads it, cuts the log back to the checkpoint's length, restores `memory/` from the
//! snapshot and carries on: the steps after it are computed again from exactly the state and
//! memories they first saw. With a deterministic model the resumed run ends in the same state as
//! an uninterrupted one (tested with the stand-in model). On llama.cpp the first requests after a
//! restart run on a cold KV cache, and a prompt's arithmetic depends on how much of it came from
//! the cache, so a greedy choice can flip there; the restart itself loses and repeats nothing
//! (tested on the real model).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hamlet_core::town::{EventRecord, RunMetrics, SimTime, TownEvent, TownSnapshot, EVENTS_FILE};
use hamlet_core::{
    MemoryId, MemoryRecord, MemoryStream, NewMemory, RecallQuery, Recalled, SnapshotStream,
};
use serde::{Deserialize, Serialize};

use crate::decision::{Answer, Posed, TownModel};
use crate::metrics::{self, CheckOutcome, Wall};
use crate::prompts::Prompts;
use crate::sim::{SimConfig, Town};
use crate::spec::{Persona, Scenario};
use crate::state::WorldState;
use crate::world::World;
use crate::{Error, Result};

pub const CHECKPOINT_FILE: &str = "checkpoint.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const SVG_FILE: &str = "diffusion.svg";
/// The live memory stream's directory inside a run directory.
pub const MEMORY_DIR: &str = "memory";
const SNAPSHOT_PREFIX: &str = "checkpoint-memory-";

/// Opens (creating if missing) the memory stream in the given directory. The binary picks the
/// store and its embedder (`hamlet-memory` with MiniLM for real runs); the opener is called again
/// with the same directory, restored from a snapshot, on resume.
pub type OpenMemory<'a> = &'a dyn Fn(
    &Path,
) -> std::result::Result<
    Box<dyn SnapshotStream>,
    Box<dyn std::error::Error + Send + Sync>,
>;

/// What a new run is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub world: PathBuf,
    pub scenario: Option<String>,
    /// How many agents (scenario agents first, then personas by file name); `None`: all.
    pub agents: Option<usize>,
    /// When to stop; default: the scenario's `until`, else one simulated day after the start.
    pub until: Option<SimTime>,
    pub seed: u64,
    pub run_dir: PathBuf,
    pub prompts_dir: Option<PathBuf>,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    pub sim: SimConfig,
    /// The model and embedder the binary runs with, recorded so `--resume` uses the same.
    pub model: String,
    pub embedder: String,
}

/// The settings a run was started with (kept in every checkpoint, so resume needs only the dir).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub world: PathBuf,
    pub scenario: Option<String>,
    pub agents: Vec<String>,
    pub until: SimTime,
    pub seed: u64,
    pub checkpoint_every: u64,
    #[serde(default)]
    pub prompts_dir: Option<PathBuf>,
    pub sim: SimConfig,
    /// The model the run was started with ("fake" for the stand-in), as the binary named it.
    #[serde(default)]
    pub model: String,
    /// The embedding model of the memory stream.
    #[serde(default)]
    pub embedder: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    config: RunConfig,
    state: WorldState,
    events_len: u64,
    wall_secs: f64,
    /// Of `wall_secs`, in the model and in the memory stream.
    #[serde(default)]
    model_secs: f64,
    #[serde(default)]
    memory_secs: f64,
    #[serde(default)]
    done: bool,
    /// The memory snapshot directory (in the run directory) taken with this checkpoint.
    #[serde(default)]
    memory: Option<String>,
}

/// Loads the world, the chosen personas and the scenario.
pub fn load_town(
    world_dir: &Path,
    scenario: Option<&str>,
    agents: Option<&[String]>,
    count: Option<usize>,
    prompts_dir: Option<&Path>,
    sim: SimConfig,
) -> Result<Town> {
    let world = World::load(world_dir)?;
    let all = Persona::load_dir(&world.agents_dir, &world)?;
    let scenario = scenario
        .map(|s| Scenario::load(&Scenario::find(&world, s), &world, &all))
        .transpose()?;
    let chosen: Vec<Persona> = match agents {
        Some(names) => names
            .iter()
            .map(|n| {
                all.iter().find(|p| &p.name == n).cloned().ok_or_else(|| {
                    Error::run(
                        world.agents_dir.display().to_string(),
                        format!("persona {n:?} of this run is gone"),
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => {
            let mut out: Vec<Persona> = Vec::new();
            for n in scenario.iter().flat_map(|s| s.agents.iter()) {
                if let Some(p) = all.iter().find(|p| &p.name == n) {
                    out.push(p.clone());
                }
            }
            for p in &all {
                if !out.iter().any(|q| q.name == p.name) {
                    out.push(p.clone());
                }
            }
            let n = count.unwrap_or(out.len());
            if n < out.len() && scenario.as_ref().is_some_and(|s| s.agents.len() > n) {
                return Err(Error::run(
                    world_dir.display().to_string(),
                    format!(
                        "the scenario needs {} agents; ask for at least that many with --agents",
                        scenario.as_ref().map(|s| s.agents.len()).unwrap_or(0)
                    ),
                ));
            }
            out.truncate(n.max(1));
            out
        }
    };
    let prompts = Prompts::load(prompts_dir)?;
    Town::new(world, chosen, scenario, prompts, sim)
}

/// A run in progress.
pub struct Run {
    pub town: Town,
    pub state: WorldState,
    pub config: RunConfig,
    dir: PathBuf,
    memory: Box<dyn SnapshotStream>,
    events: BufWriter<File>,
    events_len: u64,
    wall: Wall,
    done: bool,
}

impl Run {
    /// Starts a new run in `opts.run_dir` (which must not hold a run already).
    pub fn create(opts: &RunOptions, open: OpenMemory<'_>) -> Result<Run> {
        let town = load_town(
            &opts.world,
            opts.scenario.as_deref(),
            None,
            opts.agents,
            opts.prompts_dir.as_deref(),
            opts.sim.clone(),
        )?;
        let start = town
            .scenario
            .as_ref()
            .and_then(|s| s.start)
            .unwrap_or(town.world.start);
        let until = opts
            .until
            .or(town.scenario.as_ref().and_then(|s| s.until))
            .unwrap_or(SimTime(start.0 + SimTime::DAY));
        if until <= start {
            return Err(Error::run(
                opts.run_dir.display().to_string(),
                format!("--until {until} is not after the start {start}"),
            ));
        }
        let dir = opts.run_dir.clone();
        if dir.join(CHECKPOINT_FILE).exists() || dir.join(EVENTS_FILE).exists() {
            return Err(Error::run(
                dir.display().to_string(),
                "already holds a run: continue it with --resume or pick another --run-dir",
            ));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let config = RunConfig {
            world: opts.world.clone(),
            scenario: opts.scenario.clone(),
            agents: town.personas.iter().map(|p| p.name.clone()).collect(),
            until,
            seed: opts.seed,
            checkpoint_every: opts.checkpoint_every.max(1),
            prompts_dir: opts.prompts_dir.clone(),
            sim: opts.sim.clone(),
            model: opts.model.clone(),
            embedder: opts.embedder.clone(),
        };
        let mem_dir = dir.join(MEMORY_DIR);
        if mem_dir.exists() {
            // Left by a start that failed before its first checkpoint.
            std::fs::remove_dir_all(&mem_dir)
                .map_err(|e| Error::io(format!("clearing {}", mem_dir.display()), e))?;
        }
        let memory = open_memory(open, &mem_dir)?;
        let (state, events) = town.init(opts.seed, start, until, memory.as_ref())?;
        let path = dir.join(EVENTS_FILE);
        let file = File::create(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut run = Run {
            town,
            state,
            config,
            dir,
            memory,
            events: BufWriter::new(file),
            events_len: 0,
            wall: Wall::default(),
            done: false,
        };
        run.write(&events)?;
        run.checkpoint()?;
        Ok(run)
    }

    /// The settings of the run in `dir` (from its checkpoint), e.g. to pick its model before
    /// resuming it.
    pub fn config_of(dir: &Path) -> Result<RunConfig> {
        Ok(read_checkpoint(dir)?.1.config)
    }

    /// Continues the run in `dir` from its last checkpoint.
    pub fn resume(dir: &Path, open: OpenMemory<'_>) -> Result<Run> {
        let (cp_path, cp) = read_checkpoint(dir)?;
        let town = load_town(
            &cp.config.world,
            cp.config.scenario.as_deref(),
            Some(&cp.config.agents),
            None,
            cp.config.prompts_dir.as_deref(),
            cp.config.sim.clone(),
        )?;
        // Both steps below are idempotent: a resume that fails half-way can simply be run again.
        let Some(snapshot) = cp.memory.as_deref() else {
            return Err(Error::run(
                cp_path.display().to_string(),
                "this checkpoint has no memory snapshot (written by an older Hamlet): start the run again",
            ));
        };
        let memory = restore_memory(dir, snapshot, open)?;
        let path = dir.join(EVENTS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        if len < cp.events_len {
            return Err(Error::run(
                path.display().to_string(),
                format!(
                    "the log is {len} bytes but the checkpoint expects {}: the log was truncated",
                    cp.events_len
                ),
            ));
        }
        file.set_len(cp.events_len)
            .map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| Error::io(format!("seeking {}", path.display()), e))?;
        tracing::info!(step = cp.state.step, time = %cp.state.time, "resuming run");
        Ok(Run {
            town,
            state: cp.state,
            config: cp.config,
            dir: dir.to_path_buf(),
            memory,
            events: BufWriter::new(file),
            events_len: cp.events_len,
            wall: Wall {
                total: cp.wall_secs,
                model: cp.model_secs,
                memory: cp.memory_secs,
            },
            done: cp.done,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The agents' memory stream.
    pub fn memory(&self) -> &dyn SnapshotStream {
        self.memory.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.done || self.state.time >= self.config.until
    }

    fn write(&mut self, events: &[EventRecord]) -> Result<()> {
        let path = self.dir.join(EVENTS_FILE);
        for e in events {
            let mut line = serde_json::to_string(e)
                .map_err(|e| Error::run(path.display().to_string(), e.to_string()))?;
            line.push('\n');
            self.events
                .write_all(line.as_bytes())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            self.events_len += line.len() as u64;
        }
        self.events
            .flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Syncs the log, snapshots the memory stream, then replaces the checkpoint atomically and
    /// removes older snapshots.
    pub fn checkpoint(&mut self) -> Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        self.events
            .flush()
            .and_then(|_| self.events.get_ref().sync_data())
            .map_err(|e| Error::io("syncing the event log", e))?;
        // A fresh name each time: the snapshot the current checkpoint names is never touched.
        let mut n = 0;
        let snapshot = loop {
            let name = format!("{SNAPSHOT_PREFIX}{}-{n}", self.state.step);
            if !self.dir.join(&name).exists() {
                break name;
            }
            n += 1;
        };
        let snap_dir = self.dir.join(&snapshot);
        self.memory
            .snapshot(&snap_dir)
            .map_err(|source| Error::Memory {
                context: format!("writing the memory snapshot {}", snap_dir.display()),
                source,
            })?;
        sync_tree(&snap_dir)?;
        let cp = Checkpoint {
            config: self.config.clone(),
            state: self.state.clone(),
            events_len: self.events_len,
            wall_secs: self.wall.total,
            model_secs: self.wall.model,
            memory_secs: self.wall.memory,
            done: self.done,
            memory: Some(snapshot.clone()),
        };
        let text = serde_json::to_string(&cp)
            .map_err(|e| Error::run(path.display().to_string(), e.to_string()))?;
        let tmp = self.dir.join("checkpoint.json.tmp");
        let mut f =
            File::create(&tmp).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| Error::io(format!("replacing {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        remove_snapshots_except(&self.dir, Some(&snapshot));
        Ok(())
    }

    /// One step: advance, log, checkpoint when due.
    pub fn step(&mut self, model: &dyn TownModel) -> Result<()> {
        let t0 = Instant::now();
        let model = TimedModel {
            inner: model,
            nanos: AtomicU64::new(0),
        };
        let mem = TimedMemory {
            inner: self.memory.as_ref(),
            nanos: AtomicU64::new(0),
        };
        let events = self.town.step(&mut self.state, &model, &mem)?;
        self.wall.total += t0.elapsed().as_secs_f64();
        self.wall.model += model.secs();
        self.wall.memory += mem.secs();
        self.write(&events)?;
        if self.state.step.is_multiple_of(self.config.checkpoint_every) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Runs until the end time (or `max_steps` more steps), calling `progress` after each step.
    pub fn run(
        &mut self,
        model: &dyn TownModel,
        max_steps: Option<u64>,
        progress: &mut dyn FnMut(&WorldState),
    ) -> Result<()> {
        let mut n = 0;
        while !self.is_done() && max_steps.is_none_or(|m| n < m) {
            self.step(model)?;
            progress(&self.state);
            n += 1;
        }
        Ok(())
    }

    /// Ends the run: checks, metrics (event, `metrics.json`, `diffusion.svg`), final checkpoint.
    pub fn finish(&mut self) -> Result<(RunMetrics, Vec<CheckOutcome>)> {
        let m = metrics::compute(&self.state, self.wall);
        let checks = self
            .town
            .scenario
            .as_ref()
            .map(|s| metrics::checks(s, &self.state))
            .unwrap_or_default();
        if !self.done {
            let mut ev: Vec<EventRecord> = checks
                .iter()
                .map(|c| EventRecord {
                    step: self.state.step,
                    time: self.state.time,
                    event: TownEvent::CheckResult {
                        name: c.name.clone(),
                        passed: c.passed,
                        detail: c.detail.clone(),
                    },
                })
                .collect();
            ev.push(EventRecord {
                step: self.state.step,
                time: self.state.time,
                event: TownEvent::Metrics { metrics: m.clone() },
            });
            self.write(&ev)?;
            self.done = true;
            self.checkpoint()?;
        }
        let mp = self.dir.join(METRICS_FILE);
        let json = serde_json::to_string_pretty(&m)
            .map_err(|e| Error::run(mp.display().to_string(), e.to_string()))?;
        std::fs::write(&mp, json).map_err(|e| Error::io(format!("writing {}", mp.display()), e))?;
        let svg = metrics::diffusion_svg(&m, self.state.start, self.state.time, m.agents);
        let sp = self.dir.join(SVG_FILE);
        std::fs::write(&sp, svg).map_err(|e| Error::io(format!("writing {}", sp.display()), e))?;
        Ok((m, checks))
    }
}

/// Times the calls of a step into the model (for the metrics' share of wall time in the model).
struct TimedModel<'a> {
    inner: &'a dyn TownModel,
    nanos: AtomicU64,
}

/// Times the calls of a step into the memory stream.
struct TimedMemory<'a> {
    inner: &'a dyn MemoryStream,
    nanos: AtomicU64,
}

fn timed<T>(nanos: &AtomicU64, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let spent = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
    nanos.fetch_add(spent, Ordering::Relaxed);
    out
}

impl TimedModel<'_> {
    fn secs(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl TimedMemory<'_> {
    fn secs(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl TownModel for TimedModel<'_> {
    fn decide(&self, batch: &[Posed]) -> Vec<hamlet_core::Result<Answer>> {
        timed(&self.nanos, || self.inner.decide(batch))
    }
}

impl MemoryStream for TimedMemory<'_> {
    fn add(&self, memory: NewMemory) -> hamlet_core::MemoryResult<MemoryId> {
        timed(&self.nanos, || self.inner.add(memory))
    }
    fn add_batch(&self, memories: Vec<NewMemory>) -> hamlet_core::MemoryResult<Vec<MemoryId>> {
        timed(&self.nanos, || self.inner.add_batch(memories))
    }
    fn recall(&self, query: &RecallQuery) -> hamlet_core::MemoryResult<Vec<Recalled>> {
        timed(&self.nanos, || self.inner.recall(query))
    }
    fn get(&self, id: MemoryId) -> hamlet_core::MemoryResult<Option<MemoryRecord>> {
        timed(&self.nanos, || self.inner.get(id))
    }
}

fn read_checkpoint(dir: &Path) -> Result<(PathBuf, Checkpoint)> {
    let cp_path = dir.join(CHECKPOINT_FILE);
    let text = std::fs::read_to_string(&cp_path).map_err(|e| {
        Error::run(
            cp_path.display().to_string(),
            format!("cannot read the checkpoint ({e}): is this a run directory?"),
        )
    })?;
    let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
        Error::run(
            cp_path.display().to_string(),
            format!("corrupt checkpoint: {e}"),
        )
    })?;
    Ok((cp_path, cp))
}

fn open_memory(open: OpenMemory<'_>, dir: &Path) -> Result<Box<dyn SnapshotStream>> {
    open(dir).map_err(|e| {
        Error::run(
            dir.display().to_string(),
            format!("cannot open the memory store: {e}"),
        )
    })
}

/// Replaces `dir/memory` with a copy of the snapshot `name` and opens it.
fn restore_memory(dir: &Path, name: &str, open: OpenMemory<'_>) -> Result<Box<dyn SnapshotStream>> {
    let snap = dir.join(name);
    if !snap.is_dir() || name.contains(['/', '\\']) || !name.starts_with(SNAPSHOT_PREFIX) {
        return Err(Error::run(
            snap.display().to_string(),
            "the checkpoint's memory snapshot is missing: the run directory was changed by hand",
        ));
    }
    let live = dir.join(MEMORY_DIR);
    if live.exists() {
        std::fs::remove_dir_all(&live)
            .map_err(|e| Error::io(format!("clearing {}", live.display()), e))?;
    }
    copy_tree(&snap, &live)?;
    // Snapshots a crash left behind, newer than the checkpoint, are of no use.
    remove_snapshots_except(dir, Some(name));
    open_memory(open, &live)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(format!("reading {}", from.display()), e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|err| {
                Error::io(
                    format!("copying {} to {}", src.display(), dst.display()),
                    err,
                )
            })?;
        }
    }
    Ok(())
}

/// Syncs every file under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for e in entries {
        let p = e
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
            .path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("syncing {}", p.display()), e))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
}

/// Removes the memory snapshots in `dir` other than `keep`; failures only warn (a leftover
/// snapshot is never read).
fn remove_snapshots_except(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(SNAPSHOT_PREFIX) && Some(name.as_str()) != keep {
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!(snapshot = %name, error = %err, "could not remove an old memory snapshot");
            }
        }
    }
}

/// What a replay of a log found.
#[derive(Debug, Clone)]
pub struct Replay {
    pub snapshot: TownSnapshot,
    pub events: u64,
    pub utterances: Vec<(SimTime, String, String, String)>,
    pub metrics: Option<RunMetrics>,
}

/// Reads a run's event log and folds it into snapshots without a model. `on_record` sees every
/// record with the snapshot after it.
pub fn replay(
    dir: &Path,
    on_record: &mut dyn FnMut(&EventRecord, &TownSnapshot),
) -> Result<Replay> {
    let path = dir.join(EVENTS_FILE);
    let file =
        File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut out = Replay {
        snapshot: TownSnapshot::default(),
        events: 0,
        utterances: Vec::new(),
        metrics: None,
    };
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: EventRecord = serde_json::from_str(&line).map_err(|e| {
            Error::run(
                format!("{}:{}", path.display(), n + 1),
                format!("not an event record: {e}"),
            )
        })?;
        out.snapshot.apply(&rec);
        out.events += 1;
        match &rec.event {
            TownEvent::Utterance {
                speaker,
                listener,
                text,
                ..
            } => out
                .utterances
                .push((rec.time, speaker.clone(), listener.clone(), text.clone())),
            TownEvent::Metrics { metrics } => out.metrics = Some(metrics.clone()),
            _ => {}
        }
        on_record(&rec, &out.snapshot);
    }
    Ok(out)
}
