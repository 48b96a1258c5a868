//! Writing and reading `RUN_DIR/trace.jsonl`, a [`Journal`] of [`TraceEvent`]s.
//!
//! Each event is one line, written and synced before the loop goes on, so a crash loses at most
//! the step in progress. Reading follows the journal's rule ([`hamlet_core::journal`]): a torn
//! last line (the process died mid-write) is dropped, reported, and cut off when the run is
//! resumed; any other bad line is an error naming `file:line`.

use std::path::Path;

use hamlet_core::journal::Journal;
use hamlet_core::trace::{TraceEvent, TRACE_FILE};

use crate::{Error, Result};

/// Appends events to a trace file, each synced.
pub type TraceWriter = Journal<TraceEvent>;

/// Creates `run_dir/trace.jsonl` for a new run (the folder must exist; the trace must not).
pub fn create(run_dir: &Path) -> Result<TraceWriter> {
    Ok(Journal::create(&run_dir.join(TRACE_FILE))?)
}

/// The events of a trace, and whether its last line was torn.
#[derive(Debug)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
    /// Byte length of the lines that hold events (a torn tail starts here).
    pub valid_len: u64,
    pub torn_tail: bool,
}

/// Reads a run's trace.
pub fn read(run_dir: &Path) -> Result<Trace> {
    let path = run_dir.join(TRACE_FILE);
    if !path.is_file() {
        return Err(Error::Trace {
            path: path.display().to_string(),
            message: format!("no trace here: is {} a run folder?", run_dir.display()),
        });
    }
    let contents = Journal::<TraceEvent>::read_all(&path)?;
    Ok(Trace {
        events: contents.records,
        valid_len: contents.extent.valid_len,
        torn_tail: contents.extent.torn_tail.is_some(),
    })
}

/// Opens the trace `trace` was read from to append to it, cutting a torn last line off first so
/// appending continues on a clean line.
pub fn reopen(run_dir: &Path, trace: &Trace) -> Result<TraceWriter> {
    let mut writer = Journal::open(&run_dir.join(TRACE_FILE))?;
    if trace.torn_tail {
        writer.truncate_to(trace.valid_len)?;
        tracing::warn!(path = %writer.path().display(), "cut off a torn last line of the trace");
    }
    Ok(writer)
}
