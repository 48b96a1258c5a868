//! A run's state, folded from its trace events, and the emission of new ones.
//!
//! [`State::apply`] is the one rule that turns an event into state: `resume` replays
//! `trace.jsonl` through it, and [`Log::emit`] applies each event it writes. So a resumed run is
//! in exactly the state the uninterrupted run was in after the same events.

use std::path::Path;

use hamlet_core::trace::{DelegateRecord, RunEnd, RunStart, StepRecord, TraceEvent, Usage};

use crate::history::Turn;
use crate::trace::{self as tracefile, TraceWriter};
use crate::{Error, Result};

/// What the trace says so far.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub start: RunStart,
    /// Steps and reflections, in order.
    pub events: Vec<TraceEvent>,
    pub usage: Usage,
    /// The latest end event (a run stopped and resumed has one per stop).
    pub ended: Option<RunEnd>,
    /// A step whose sub-agent has not ended yet (its record comes when it has).
    pub pending: Option<DelegateRecord>,
    /// Sub-agents started so far.
    pub children: u32,
}

impl State {
    pub fn new(start: RunStart) -> Self {
        State {
            start,
            events: Vec::new(),
            usage: Usage::default(),
            ended: None,
            pending: None,
            children: 0,
        }
    }

    /// Folds one event after the start into the state; the error says what is wrong with it.
    pub fn apply(&mut self, event: &TraceEvent) -> std::result::Result<(), &'static str> {
        match event {
            TraceEvent::Start(_) => return Err("holds two start events"),
            TraceEvent::Step(s) => {
                if self.pending.as_ref().is_some_and(|d| d.step == s.step) {
                    self.pending = None;
                }
                self.usage.add(&s.usage)
            }
            TraceEvent::Reflect(r) => self.usage.add(&r.usage),
            TraceEvent::End(end) => {
                self.ended = Some(end.clone());
                return Ok(());
            }
            TraceEvent::Delegate(d) => {
                if self.pending.is_some() {
                    return Err("starts a sub-agent while another one's step is open");
                }
                self.pending = Some((**d).clone());
                self.children += 1;
                return Ok(());
            }
            TraceEvent::Child(_) => {
                return Err("holds a sub-agent's event, which belongs in the sub-agent's own trace")
            }
        }
        self.events.push(event.clone());
        Ok(())
    }

    /// The state after a whole trace, which must begin with its start event.
    pub fn replay(events: &[TraceEvent]) -> std::result::Result<Self, &'static str> {
        let Some((TraceEvent::Start(start), rest)) = events.split_first() else {
            return Err("does not begin with a start event");
        };
        let mut state = State::new(start.clone());
        for e in rest {
            state.apply(e)?;
        }
        Ok(state)
    }

    pub fn turns(&self) -> Vec<Turn<'_>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Step(s) => Some(Turn::Step(s)),
                TraceEvent::Reflect(r) => Some(Turn::Reflect(r)),
                _ => None,
            })
            .collect()
    }

    pub fn steps(&self) -> Vec<&StepRecord> {
        self.turns()
            .into_iter()
            .filter_map(|t| match t {
                Turn::Step(s) => Some(s),
                Turn::Reflect(_) => None,
            })
            .collect()
    }

    pub fn step_count(&self) -> u32 {
        self.steps().len() as u32
    }

    /// Steps counted against the budget: the run's own and its sub-agents'.
    pub fn steps_spent(&self) -> u32 {
        self.step_count() + self.usage.sub_steps
    }

    /// How the run ended, when it may not be resumed: it stopped for good after its last step.
    pub fn ended_for_good(&self) -> Option<&RunEnd> {
        self.ended
            .as_ref()
            .filter(|end| end.step == self.step_count() && !end.reason.resumable())
    }

    pub fn last_is_reflection(&self) -> bool {
        matches!(self.events.last(), Some(TraceEvent::Reflect(_)))
    }
}

/// The trace being written and the state it adds up to.
pub(crate) struct Log {
    writer: TraceWriter,
    pub state: State,
}

impl Log {
    /// A new trace in `run_dir`, beginning with `start`.
    pub fn create(
        run_dir: &Path,
        start: RunStart,
        observer: &mut dyn FnMut(&TraceEvent),
    ) -> Result<Self> {
        let mut writer = tracefile::create(run_dir)?;
        let event = TraceEvent::Start(start.clone());
        writer.append(&event)?;
        observer(&event);
        Ok(Log {
            writer,
            state: State::new(start),
        })
    }

    /// Appends with `writer` to the trace whose events made `state`.
    pub fn reopen(writer: TraceWriter, state: State) -> Self {
        Log { writer, state }
    }

    /// Writes `event` (synced), shows it to the observer and applies it to the state.
    pub fn emit(&mut self, event: TraceEvent, observer: &mut dyn FnMut(&TraceEvent)) -> Result<()> {
        self.writer.append(&event)?;
        observer(&event);
        self.state.apply(&event).map_err(|message| Error::Trace {
            path: self.writer.path().display().to_string(),
            message: message.into(),
        })
    }
}
