//! A durable run: the event log, periodic checkpoints, resume and replay.
//!
//! A run directory holds `events.jsonl` (every [`EventRecord`], one per line, a
//! [`Journal`]), `memory/` (the agents' memory stream, opened by the caller's [`OpenMemory`]),
//! `checkpoint.json` (the run's [`RunConfig`], the whole [`WorldState`], the byte length of the
//! log it matches and the name of its memory snapshot), one `checkpoint-memory-*` snapshot
//! directory, and at the end `metrics.json` and `diffusion.svg`.
//!
//! Each step's events are appended and synced together; a checkpoint is written every
//! `checkpoint_every` steps ([`checkpoint`]: a crash at any point leaves the previous checkpoint
//! whole). `resume` ([`create`]) loads it, cuts the log back to the checkpoint's length, restores
//! `memory/` from the snapshot and carries on: the steps after it are computed again from exactly
//! the state and memories they first saw. With a deterministic model the resumed run ends in the
//! same state as an uninterrupted one (tested with the stand-in model). On llama.cpp the first
//! requests after a restart run on a cold KV cache, and a prompt's arithmetic depends on how much
//! of it came from the cache, so a greedy choice can flip there; the restart itself loses and
//! repeats nothing (tested on the real model). [`replay`] folds a log back into snapshots without
//! a model.

mod checkpoint;
mod create;
mod replay;
mod timed;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hamlet_core::journal::Journal;
use hamlet_core::town::{EventRecord, RunMetrics, SimTime, TownEvent};
use hamlet_core::SnapshotStream;
use serde::{Deserialize, Serialize};

pub use create::load_town;
pub use replay::{replay, Replay};

use crate::decision::TownModel;
use crate::metrics::{self, CheckOutcome, Wall};
use crate::sim::{SimConfig, Town};
use crate::state::WorldState;
use crate::{Error, Result};
use create::open_memory;
use timed::{TimedMemory, TimedModel};

pub const CHECKPOINT_FILE: &str = "checkpoint.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const SVG_FILE: &str = "diffusion.svg";
/// The live memory stream's directory inside a run directory.
pub const MEMORY_DIR: &str = "memory";

/// Opens (creating if missing) the memory stream in the given directory. The binary picks the
/// store and its embedder (`hamlet-memory` with MiniLM for real runs); the opener is called again
/// with the same directory, restored from a snapshot, on resume.
pub type OpenMemory<'a> = &'a dyn Fn(
    &Path,
) -> std::result::Result<
    Box<dyn SnapshotStream>,
    Box<dyn std::error::Error + Send + Sync>,
>;

/// What a run is: its world, who is in it, how long, and with what model. A new run's config may
/// leave `agents` empty and `until` open; [`Run::create`] settles both, and the settled config is
/// what every checkpoint keeps, so `resume` needs only the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub world: PathBuf,
    pub scenario: Option<String>,
    /// The agents, by persona name. Empty: the scenario's agents first, then the world's personas
    /// by file name, `agent_count` of them.
    #[serde(default)]
    pub agents: Vec<String>,
    /// How many agents to choose when `agents` is empty; `None`: all.
    #[serde(default)]
    pub agent_count: Option<usize>,
    /// When to stop; `None`: the scenario's `until`, else one simulated day after the start.
    pub until: Option<SimTime>,
    pub seed: u64,
    /// Steps between checkpoints (at least 1).
    pub checkpoint_every: u64,
    #[serde(default)]
    pub prompts_dir: Option<PathBuf>,
    pub sim: SimConfig,
    /// The model the run was started with ("fake" for the stand-in), as the binary named it,
    /// recorded so `--resume` uses the same.
    #[serde(default)]
    pub model: String,
    /// The embedding model of the memory stream.
    #[serde(default)]
    pub embedder: String,
}

/// A run in progress.
pub struct Run {
    pub town: Town,
    pub state: WorldState,
    pub config: RunConfig,
    /// `config.until`, settled.
    until: SimTime,
    dir: PathBuf,
    memory: Box<dyn SnapshotStream>,
    events: Journal<EventRecord>,
    wall: Wall,
    done: bool,
}

impl Run {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The agents' memory stream.
    pub fn memory(&self) -> &dyn SnapshotStream {
        self.memory.as_ref()
    }

    /// When the run stops.
    pub fn until(&self) -> SimTime {
        self.until
    }

    pub fn is_done(&self) -> bool {
        self.done || self.state.time >= self.until
    }

    /// One step: advance, log (synced), checkpoint when due.
    pub fn step(&mut self, model: &dyn TownModel) -> Result<()> {
        let t0 = Instant::now();
        let model = TimedModel::new(model);
        let mem = TimedMemory::new(self.memory.as_ref());
        let events = self.town.step(&mut self.state, &model, &mem)?;
        self.wall.total += t0.elapsed().as_secs_f64();
        self.wall.model += model.secs();
        self.wall.memory += mem.secs();
        self.events.append_all(&events)?;
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
            self.events.append_all(&ev)?;
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
