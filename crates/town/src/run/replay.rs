//! Folding a run's event log back into snapshots, without a model (`hamlet sim --replay`).

use std::path::Path;

use hamlet_core::journal::Journal;
use hamlet_core::town::{EventRecord, RunMetrics, SimTime, TownEvent, TownSnapshot, EVENTS_FILE};

use crate::Result;

/// What a replay of a log found.
#[derive(Debug, Clone)]
pub struct Replay {
    pub snapshot: TownSnapshot,
    pub events: u64,
    pub utterances: Vec<(SimTime, String, String, String)>,
    pub metrics: Option<RunMetrics>,
}

/// Reads a run's event log and folds it into snapshots. `on_record` sees every record with the
/// snapshot after it. A torn last line (a run killed mid-write) is dropped with a warning; any
/// other bad line is an error naming `file:line` ([`hamlet_core::journal`]).
pub fn replay(
    dir: &Path,
    on_record: &mut dyn FnMut(&EventRecord, &TownSnapshot),
) -> Result<Replay> {
    let path = dir.join(EVENTS_FILE);
    let mut out = Replay {
        snapshot: TownSnapshot::default(),
        events: 0,
        utterances: Vec::new(),
        metrics: None,
    };
    let extent = Journal::<EventRecord>::read_each(&path, |rec| {
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
    })?;
    if let Some(torn) = extent.torn_tail {
        tracing::warn!(log = %path.display(), line = torn.line, "dropped a torn last line");
    }
    Ok(out)
}
