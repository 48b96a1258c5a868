//! A durable run: the event log, periodic checkpoints, resume and replay.
//!
//! A run directory holds `events.jsonl` (every [`EventRecord`], one per line), `checkpoint.json`
//! (the run's settings, the whole [`WorldState`] and the byte length of the log it matches),
//! and at the end `metrics.json` and `diffusion.svg`. A checkpoint is written (log synced first,
//! then the checkpoint atomically by rename) every `checkpoint_every` steps. `resume` loads it,
//! cuts the log back to the checkpoint's length and carries on: the steps after it are computed
//! again, so with greedy decoding the resumed run ends in the same state as an uninterrupted one.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hamlet_core::town::{EventRecord, RunMetrics, SimTime, TownEvent, TownSnapshot, EVENTS_FILE};
use hamlet_core::Llm;
use serde::{Deserialize, Serialize};

use crate::metrics::{self, CheckOutcome};
use crate::prompts::Prompts;
use crate::sim::{SimConfig, Town};
use crate::spec::{Persona, Scenario};
use crate::state::WorldState;
use crate::world::World;
use crate::{Error, Result};

pub const CHECKPOINT_FILE: &str = "checkpoint.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const SVG_FILE: &str = "diffusion.svg";

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
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    config: RunConfig,
    state: WorldState,
    events_len: u64,
    wall_secs: f64,
    #[serde(default)]
    done: bool,
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
    events: BufWriter<File>,
    events_len: u64,
    wall_secs: f64,
    done: bool,
}

impl Run {
    /// Starts a new run in `opts.run_dir` (which must not hold a run already).
    pub fn create(opts: &RunOptions) -> Result<Run> {
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
        };
        let (state, events) = town.init(opts.seed, start, until);
        let path = dir.join(EVENTS_FILE);
        let file = File::create(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut run = Run {
            town,
            state,
            config,
            dir,
            events: BufWriter::new(file),
            events_len: 0,
            wall_secs: 0.0,
            done: false,
        };
        run.write(&events)?;
        run.checkpoint()?;
        Ok(run)
    }

    /// Continues the run in `dir` from its last checkpoint.
    pub fn resume(dir: &Path) -> Result<Run> {
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
        let town = load_town(
            &cp.config.world,
            cp.config.scenario.as_deref(),
            Some(&cp.config.agents),
            None,
            cp.config.prompts_dir.as_deref(),
            cp.config.sim.clone(),
        )?;
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
            events: BufWriter::new(file),
            events_len: cp.events_len,
            wall_secs: cp.wall_secs,
            done: cp.done,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Syncs the log, then replaces the checkpoint atomically.
    pub fn checkpoint(&mut self) -> Result<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        self.events
            .flush()
            .and_then(|_| self.events.get_ref().sync_data())
            .map_err(|e| Error::io("syncing the event log", e))?;
        let cp = Checkpoint {
            config: self.config.clone(),
            state: self.state.clone(),
            events_len: self.events_len,
            wall_secs: self.wall_secs,
            done: self.done,
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
            .map_err(|e| Error::io(format!("replacing {}", path.display()), e))
    }

    /// One step: advance, log, checkpoint when due.
    pub fn step(&mut self, llm: &dyn Llm) -> Result<()> {
        let t0 = Instant::now();
        let events = self.town.step(&mut self.state, llm)?;
        self.wall_secs += t0.elapsed().as_secs_f64();
        self.write(&events)?;
        if self.state.step.is_multiple_of(self.config.checkpoint_every) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Runs until the end time (or `max_steps` more steps), calling `progress` after each step.
    pub fn run(
        &mut self,
        llm: &dyn Llm,
        max_steps: Option<u64>,
        progress: &mut dyn FnMut(&WorldState),
    ) -> Result<()> {
        let mut n = 0;
        while !self.is_done() && max_steps.is_none_or(|m| n < m) {
            self.step(llm)?;
            progress(&self.state);
            n += 1;
        }
        Ok(())
    }

    /// Ends the run: checks, metrics (event, `metrics.json`, `diffusion.svg`), final checkpoint.
    pub fn finish(&mut self) -> Result<(RunMetrics, Vec<CheckOutcome>)> {
        let m = metrics::compute(&self.state, self.wall_secs);
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
