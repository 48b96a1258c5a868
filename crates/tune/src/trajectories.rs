//! Successful agent runs → chat training data.
//!
//! The agent loop writes `RUN_DIR/trace.jsonl` ([`hamlet_core::trace`]): every step keeps the exact
//! messages the model was given and its raw reply. A run that ended with `finish` is taken as a
//! success; each of its steps whose reply parsed as a valid action becomes one chat record (the
//! prompt messages, then the raw reply as the assistant's message), so a model can be tuned on
//! what worked, in exactly the format it will be prompted with.

use std::io::Write;
use std::path::{Path, PathBuf};

use hamlet_core::journal::Journal;
use hamlet_core::trace::{ObservationStatus, StopReason, TraceEvent, TRACE_FILE};
use hamlet_core::{Message, Role};
use serde_json::json;

use crate::{Error, Result};

/// Which runs and steps to keep.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Keep only runs with at least this many steps.
    pub min_steps: usize,
    /// Keep only steps whose tool call succeeded (else any step with a valid action).
    pub ok_only: bool,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub runs_read: usize,
    pub runs_used: usize,
    /// `(run directory, why it was left out)`.
    pub runs_skipped: Vec<(PathBuf, String)>,
    pub examples: usize,
}

/// Reads a run's trace (a run folder, or the trace file itself). A torn last line (a run that
/// crashed mid-write) is dropped, as everywhere ([`hamlet_core::journal`]).
pub fn read_trace(run_dir: &Path) -> Result<Vec<TraceEvent>> {
    let file = if run_dir.is_file() {
        run_dir.to_path_buf()
    } else {
        run_dir.join(TRACE_FILE)
    };
    let contents = Journal::<TraceEvent>::read_all(&file)?;
    if let Some(torn) = contents.extent.torn_tail {
        tracing::warn!(trace = %file.display(), line = torn.line, "dropped a torn last line");
    }
    Ok(contents.records)
}

/// The chat examples of one run, or why the run is not used.
pub fn run_examples(
    events: &[TraceEvent],
    opts: &ExportOptions,
) -> std::result::Result<Vec<Vec<Message>>, String> {
    let end = events.iter().find_map(|e| match e {
        TraceEvent::End(end) => Some(end),
        _ => None,
    });
    match end {
        None => return Err("the run has no end record (still running or crashed)".into()),
        Some(end) if end.reason != StopReason::Finished => {
            return Err(format!(
                "the run stopped with {:?}, not by finishing",
                end.reason
            ))
        }
        Some(_) => {}
    }
    let steps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    if steps.len() < opts.min_steps {
        return Err(format!(
            "{} steps, fewer than --min-steps {}",
            steps.len(),
            opts.min_steps
        ));
    }
    let examples: Vec<Vec<Message>> = steps
        .iter()
        .filter(|s| s.action.is_some() && s.observation.status != ObservationStatus::Invalid)
        .filter(|s| !opts.ok_only || s.observation.is_ok())
        .filter(|s| !s.prompt.is_empty() && !s.raw.trim().is_empty())
        .map(|s| {
            let mut m = s.prompt.clone();
            m.push(Message::new(Role::Assistant, s.raw.clone()));
            m
        })
        .collect();
    if examples.is_empty() {
        return Err("no step with a valid action".into());
    }
    Ok(examples)
}

/// Writes the chat records of every successful run in `run_dirs` to `out` (JSONL).
pub fn export(run_dirs: &[PathBuf], out: &Path, opts: &ExportOptions) -> Result<ExportReport> {
    let mut report = ExportReport::default();
    let mut lines = Vec::new();
    for dir in run_dirs {
        let events = read_trace(dir)?;
        report.runs_read += 1;
        match run_examples(&events, opts) {
            Ok(examples) => {
                report.runs_used += 1;
                for msgs in examples {
                    let messages: Vec<_> = msgs
                        .iter()
                        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
                        .collect();
                    lines.push(json!({ "messages": messages }).to_string());
                }
            }
            Err(why) => {
                tracing::info!(run = %dir.display(), %why, "run left out");
                report.runs_skipped.push((dir.clone(), why));
            }
        }
    }
    report.examples = lines.len();
    let mut f = std::fs::File::create(out).map_err(|e| Error::io("create", out, e))?;
    for l in &lines {
        writeln!(f, "{l}").map_err(|e| Error::io("write", out, e))?;
    }
    Ok(report)
}
