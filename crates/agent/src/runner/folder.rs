//! The run folder's lifecycle: a new run writes its agent beside the trace, `--resume` reads
//! both back (the agent through the same validation as any agent file) and replays the trace.
//!
//! ```text
//! RUN_DIR/agent.toml    the run's agent, in the agent-file format
//! RUN_DIR/trace.jsonl   start, then steps and reflections, an end at each stop
//! ```

use std::path::Path;

use hamlet_core::trace::{RunStart, TRACE_FILE};
use hamlet_tools::Registry;

use super::state::State;
use crate::trace::{self as tracefile, TraceWriter};
use crate::{AgentSpec, Error, Result};

/// The spec of a run, saved beside its trace so `--resume` runs the same agent.
pub const SPEC_FILE: &str = "agent.toml";

fn bad_trace(run_dir: &Path, message: impl Into<String>) -> Error {
    Error::Trace {
        path: run_dir.join(TRACE_FILE).display().to_string(),
        message: message.into(),
    }
}

/// Makes `run_dir` (which must not hold a trace yet) and writes the run's agent into it.
pub(crate) fn create(run_dir: &Path, spec: &AgentSpec) -> Result<()> {
    if run_dir.join(TRACE_FILE).exists() {
        return Err(Error::Trace {
            path: run_dir.display().to_string(),
            message: "already holds a run: continue it with --resume, or choose another --run-dir"
                .into(),
        });
    }
    std::fs::create_dir_all(run_dir)
        .map_err(|e| Error::io(format!("creating {}", run_dir.display()), e))?;
    let path = run_dir.join(SPEC_FILE);
    std::fs::write(&path, spec.to_toml()?)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The run's name: its folder's.
pub(crate) fn run_id(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into())
}

/// A run folder's trace, and the state it adds up to.
pub(crate) fn replay(run_dir: &Path) -> Result<(State, tracefile::Trace)> {
    let trace = tracefile::read(run_dir)?;
    let state = State::replay(&trace.events).map_err(|m| bad_trace(run_dir, m))?;
    Ok((state, trace))
}

/// The state of an interrupted run, and its trace open for appending with a torn last line cut
/// off.
pub(crate) fn reopen(run_dir: &Path) -> Result<(State, TraceWriter)> {
    let (state, trace) = replay(run_dir)?;
    if let Some(end) = state.ended_for_good() {
        return Err(bad_trace(
            run_dir,
            format!(
                "the run already ended ({}): start a new run instead",
                end.message
            ),
        ));
    }
    let writer = tracefile::reopen(run_dir, &trace)?;
    Ok((state, writer))
}

/// Reads the spec and start event of a run folder (for `--resume`). The spec is validated as
/// an agent file is, against the built-in tools.
pub fn load_run(run_dir: &Path) -> Result<(AgentSpec, RunStart)> {
    let spec_path = run_dir.join(SPEC_FILE);
    if !spec_path.is_file() {
        return Err(Error::Trace {
            path: spec_path.display().to_string(),
            message: format!(
                "the run's agent is missing: is {} a run folder?",
                run_dir.display()
            ),
        });
    }
    let spec = AgentSpec::load(&spec_path, &Registry::builtin_names())?;
    let (state, _) = replay(run_dir)?;
    Ok((spec, state.start))
}
