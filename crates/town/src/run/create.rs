//! Starting a run and picking one up again: loading the town a config names, settling what a new
//! config left open, and restoring a run from its last checkpoint.

use std::path::Path;

use hamlet_core::journal::Journal;
use hamlet_core::town::{SimTime, EVENTS_FILE};
use hamlet_core::SnapshotStream;

use super::checkpoint::{read_checkpoint, restore_memory};
use super::{OpenMemory, Run, RunConfig, CHECKPOINT_FILE, MEMORY_DIR};
use crate::metrics::Wall;
use crate::prompts::Prompts;
use crate::sim::Town;
use crate::spec::{Persona, Scenario};
use crate::world::World;
use crate::{Error, Result};

/// Loads the world, the personas and the scenario `config` names: its `agents` by name, or when
/// that is empty the scenario's agents first, then the world's personas by file name, up to
/// `agent_count`.
pub fn load_town(config: &RunConfig) -> Result<Town> {
    let world_dir = &config.world;
    let world = World::load(world_dir)?;
    let all = Persona::load_dir(&world.agents_dir, &world)?;
    let scenario = config
        .scenario
        .as_deref()
        .map(|s| Scenario::load(&Scenario::find(&world, s), &world, &all))
        .transpose()?;
    let chosen: Vec<Persona> = if !config.agents.is_empty() {
        config
            .agents
            .iter()
            .map(|n| {
                all.iter().find(|p| &p.name == n).cloned().ok_or_else(|| {
                    Error::run(
                        world.agents_dir.display().to_string(),
                        format!("persona {n:?} of this run is gone"),
                    )
                })
            })
            .collect::<Result<_>>()?
    } else {
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
        let n = config.agent_count.unwrap_or(out.len());
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
    };
    let prompts = Prompts::load(config.prompts_dir.as_deref())?;
    Town::new(world, chosen, scenario, prompts, config.sim.clone())
}

impl Run {
    /// Starts a new run of `config` in `dir` (which must not hold a run already). The run's own
    /// config is `config` settled: its agents named, its end time fixed.
    pub fn create(dir: &Path, config: &RunConfig, open: OpenMemory<'_>) -> Result<Run> {
        let town = load_town(config)?;
        let start = town
            .scenario
            .as_ref()
            .and_then(|s| s.start)
            .unwrap_or(town.world.start);
        let until = config
            .until
            .or(town.scenario.as_ref().and_then(|s| s.until))
            .unwrap_or(SimTime(start.0 + SimTime::DAY));
        if until <= start {
            return Err(Error::run(
                dir.display().to_string(),
                format!("--until {until} is not after the start {start}"),
            ));
        }
        if dir.join(CHECKPOINT_FILE).exists() || dir.join(EVENTS_FILE).exists() {
            return Err(Error::run(
                dir.display().to_string(),
                "already holds a run: continue it with --resume or pick another --run-dir",
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let config = RunConfig {
            agents: town.personas.iter().map(|p| p.name.clone()).collect(),
            until: Some(until),
            checkpoint_every: config.checkpoint_every.max(1),
            ..config.clone()
        };
        let mem_dir = dir.join(MEMORY_DIR);
        if mem_dir.exists() {
            // Left by a start that failed before its first checkpoint.
            std::fs::remove_dir_all(&mem_dir)
                .map_err(|e| Error::io(format!("clearing {}", mem_dir.display()), e))?;
        }
        let memory = open_memory(open, &mem_dir)?;
        let (state, events) = town.init(config.seed, start, until, memory.as_ref())?;
        let mut run = Run {
            town,
            state,
            config,
            until,
            dir: dir.to_path_buf(),
            memory,
            events: Journal::create(&dir.join(EVENTS_FILE))?,
            wall: Wall::default(),
            done: false,
        };
        run.events.append_all(&events)?;
        run.checkpoint()?;
        Ok(run)
    }

    /// The settings of the run in `dir` (from its checkpoint), e.g. to pick its model before
    /// resuming it.
    pub fn config_of(dir: &Path) -> Result<RunConfig> {
        Ok(read_checkpoint(dir)?.1.config)
    }

    /// Continues the run in `dir` from its last checkpoint: the log is cut back to the length the
    /// checkpoint matches and `memory/` is restored from its snapshot, so the steps after it are
    /// computed again from exactly the state and memories they first saw.
    pub fn resume(dir: &Path, open: OpenMemory<'_>) -> Result<Run> {
        let (cp_path, cp) = read_checkpoint(dir)?;
        let Some(until) = cp.config.until else {
            return Err(Error::run(
                cp_path.display().to_string(),
                "the checkpoint's settings have no end time (`until`): the file was changed by hand",
            ));
        };
        let town = load_town(&cp.config)?;
        // Both steps below are idempotent: a resume that fails half-way can simply be run again.
        let Some(snapshot) = cp.memory.as_deref() else {
            return Err(Error::run(
                cp_path.display().to_string(),
                "this checkpoint has no memory snapshot (written by an older Hamlet): start the run again",
            ));
        };
        let memory = restore_memory(dir, snapshot, open)?;
        let mut events = Journal::open(&dir.join(EVENTS_FILE))?;
        if events.len() < cp.events_len {
            return Err(Error::run(
                events.path().display().to_string(),
                format!(
                    "the log is {} bytes but the checkpoint expects {}: the log was truncated",
                    events.len(),
                    cp.events_len
                ),
            ));
        }
        events.truncate_to(cp.events_len)?;
        tracing::info!(step = cp.state.step, time = %cp.state.time, "resuming run");
        Ok(Run {
            town,
            state: cp.state,
            config: cp.config,
            until,
            dir: dir.to_path_buf(),
            memory,
            events,
            wall: Wall {
                total: cp.wall_secs,
                model: cp.model_secs,
                memory: cp.memory_secs,
            },
            done: cp.done,
        })
    }
}

pub(super) fn open_memory(open: OpenMemory<'_>, dir: &Path) -> Result<Box<dyn SnapshotStream>> {
    open(dir).map_err(|e| {
        Error::run(
            dir.display().to_string(),
            format!("cannot open the memory store: {e}"),
        )
    })
}
