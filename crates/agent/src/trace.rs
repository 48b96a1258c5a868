//! Writing and reading `RUN_DIR/trace.jsonl`.
//!
//! Each event is one line, written and synced before the loop goes on, so a crash loses at most
//! the step in progress. A torn last line (the process died mid-write) is reported and cut off
//! when the run is resumed; any other bad line is an error naming the line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use hamlet_core::trace::{TraceEvent, TRACE_FILE};

use crate::{Error, Result};

/// Appends events to a trace file.
#[derive(Debug)]
pub struct TraceWriter {
    file: File,
    path: PathBuf,
}

impl TraceWriter {
    /// Opens `run_dir/trace.jsonl` for appending (creating it).
    pub fn open(run_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(run_dir)
            .map_err(|e| Error::io(format!("creating run folder {}", run_dir.display()), e))?;
        let path = run_dir.join(TRACE_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(TraceWriter { file, path })
    }

    /// Writes one event and syncs it to disk.
    pub fn append(&mut self, event: &TraceEvent) -> Result<()> {
        let mut line = serde_json::to_string(event).map_err(|e| Error::Trace {
            path: self.path.display().to_string(),
            message: format!("cannot encode event: {e}"),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(format!("writing {}", self.path.display()), e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The events of a trace, and whether its last line was torn.
#[derive(Debug)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
    /// Byte length of the complete lines (a torn tail starts here).
    pub valid_len: u64,
    pub torn_tail: bool,
}

/// Reads a run's trace.
pub fn read(run_dir: &Path) -> Result<Trace> {
    let path = run_dir.join(TRACE_FILE);
    let file = File::open(&path).map_err(|e| Error::Trace {
        path: path.display().to_string(),
        message: format!(
            "cannot open the trace ({e}): is {} a run folder?",
            run_dir.display()
        ),
    })?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut valid_len = 0u64;
    let mut torn_tail = false;
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        if !complete {
            // The process died while writing this line: it was never committed.
            torn_tail = true;
            break;
        }
        let event =
            serde_json::from_str::<TraceEvent>(line.trim_end()).map_err(|e| Error::Trace {
                path: format!("{}:{number}", path.display()),
                message: format!("not a trace event: {e}"),
            })?;
        events.push(event);
        valid_len += n as u64;
    }
    Ok(Trace {
        events,
        valid_len,
        torn_tail,
    })
}

/// Cuts a torn last line off a trace so appending continues on a clean line.
pub fn repair(run_dir: &Path, trace: &Trace) -> Result<()> {
    if trace.torn_tail {
        let path = run_dir.join(TRACE_FILE);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        file.set_len(trace.valid_len)
            .map_err(|e| Error::io(format!("repairing {}", path.display()), e))?;
        tracing::warn!(path = %path.display(), "cut off a torn last line of the trace");
    }
    Ok(())
}
