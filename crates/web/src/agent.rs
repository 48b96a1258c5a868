//! An agent run held by the server: the trace folded into a [`RunView`], and the approvals a run
//! started with `--web` waits on.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use hamlet_core::trace::{
    Action, Budget, ChildRun, Entry, Nesting, Observation, ReflectRecord, RunEnd, RunStart,
    RunView, StepRecord, TraceEvent, Usage,
};
use serde::{Deserialize, Serialize};

/// The trace so far.
#[derive(Debug, Default)]
pub struct AgentLog {
    pub events: Vec<TraceEvent>,
    pub run: RunView,
    pub budget: Budget,
    /// Reads each sub-agent's trace into the view when its step ends.
    pub nesting: Nesting,
}

/// One step as the page shows it: the prompt is left out (it grows with every step).
#[derive(Debug, Serialize)]
pub struct StepView<'a> {
    pub step: u32,
    pub at: i64,
    pub action: Option<&'a Action>,
    /// The raw reply, when it was not a valid action.
    pub raw: Option<&'a str>,
    pub observation: &'a Observation,
    pub usage: &'a Usage,
}

/// A reflection as the page shows it.
#[derive(Debug, Serialize)]
pub struct ReflectView<'a> {
    pub step: u32,
    pub at: i64,
    pub reason: &'a str,
    pub plan: &'a str,
    pub usage: &'a Usage,
}

/// A sub-agent's run: what it was given, and its rows as far as the view holds them.
#[derive(Debug, Serialize)]
pub struct ChildEntryView<'a> {
    pub step: u32,
    pub child: &'a ChildRun,
    pub end: Option<&'a RunEnd>,
    pub entries: Vec<EntryView<'a>>,
}

/// One row of `GET /api/agent/steps`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryView<'a> {
    Step(StepView<'a>),
    Reflect(ReflectView<'a>),
    Child(ChildEntryView<'a>),
}

fn entry_views(run: &RunView) -> Vec<EntryView<'_>> {
    run.entries
        .iter()
        .map(|e| match e {
            Entry::Step(s) => EntryView::Step(step_view(s)),
            Entry::Reflect(r) => EntryView::Reflect(reflect_view(r)),
            Entry::Child(c) => EntryView::Child(ChildEntryView {
                step: c.step,
                child: &c.child,
                end: c.run.end.as_ref(),
                entries: entry_views(&c.run),
            }),
        })
        .collect()
}

fn step_view(s: &StepRecord) -> StepView<'_> {
    StepView {
        step: s.step,
        at: s.at,
        action: s.action.as_ref(),
        raw: s.action.is_none().then_some(s.raw.as_str()),
        observation: &s.observation,
        usage: &s.usage,
    }
}

fn reflect_view(r: &ReflectRecord) -> ReflectView<'_> {
    ReflectView {
        step: r.step,
        at: r.at,
        reason: &r.reason,
        plan: &r.plan,
        usage: &r.usage,
    }
}

/// `GET /api/summary` of an agent run (and the head of `GET /api/agent/steps`).
#[derive(Debug, Serialize)]
pub struct AgentSummary<'a> {
    pub kind: &'static str,
    pub start: Option<&'a RunStart>,
    pub budget: Budget,
    pub steps: u32,
    pub usage: Usage,
    pub tokens: u64,
    /// The current plan and where it came from.
    pub plan: Option<(String, &'a str)>,
    pub end: Option<&'a RunEnd>,
    pub records: usize,
    pub ended: bool,
}

impl AgentLog {
    pub fn new(budget: Budget) -> Self {
        AgentLog {
            budget,
            ..AgentLog::default()
        }
    }

    pub fn push(&mut self, e: TraceEvent) {
        for e in self.nesting.expand(e) {
            self.events.push(e.clone());
            self.run.push(e);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn summary(&self) -> AgentSummary<'_> {
        let usage = self.run.usage();
        AgentSummary {
            kind: "agent",
            start: self.run.start.as_ref(),
            budget: self.budget,
            steps: self.run.steps(),
            usage,
            tokens: usage.total_tokens(),
            plan: self.run.plan(),
            end: self.run.end.as_ref(),
            records: self.events.len(),
            ended: self.run.end.is_some(),
        }
    }

    pub fn entries(&self) -> Vec<EntryView<'_>> {
        entry_views(&self.run)
    }
}

// ---- approvals ------------------------------------------------------------------------------

/// The user's answer to "run this action?", as the page POSTs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Run,
    /// Run this one and every later one without asking.
    RunAll,
    /// Do not run it; the feedback is shown to the model.
    Decline {
        #[serde(default)]
        feedback: String,
    },
    /// Stop the run (it can be resumed).
    Quit,
}

/// An action waiting for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingApproval {
    /// Names this question, so a late answer to an earlier one is refused.
    pub id: u64,
    pub step: u32,
    pub action: Action,
}

#[derive(Debug, Default)]
struct Slot {
    next_id: u64,
    pending: Option<(PendingApproval, mpsc::Sender<Answer>)>,
    closed: bool,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("no action is waiting for approval")]
    NothingPending,
    #[error("approval {given} was already answered; the action waiting now is approval {pending}")]
    Stale { given: u64, pending: u64 },
}

/// The approvals of a live run: the runner's approver asks ([`Approvals::ask`], blocking) and the
/// page answers through the server ([`Approvals::answer`]).
#[derive(Debug, Clone, Default)]
pub struct Approvals {
    slot: Arc<Mutex<Slot>>,
}

impl Approvals {
    pub fn new() -> Self {
        Approvals::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A panic while holding this lock leaves plain data behind; keep going with it.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `action` up for approval and waits for the page's answer ([`Answer::Quit`] once the
    /// server has closed).
    pub fn ask(&self, step: u32, action: &Action) -> Answer {
        let (tx, rx) = mpsc::channel();
        {
            let mut slot = self.lock();
            if slot.closed {
                return Answer::Quit;
            }
            slot.next_id += 1;
            let p = PendingApproval {
                id: slot.next_id,
                step,
                action: action.clone(),
            };
            tracing::info!(step, tool = %action.tool, id = p.id, "waiting for approval in the web page");
            slot.pending = Some((p, tx));
        }
        rx.recv().unwrap_or(Answer::Quit)
    }

    /// The action waiting now, if any.
    pub fn pending(&self) -> Option<PendingApproval> {
        self.lock().pending.as_ref().map(|(p, _)| p.clone())
    }

    /// Answers approval `id`.
    pub fn answer(&self, id: u64, answer: Answer) -> Result<(), AnswerError> {
        let mut slot = self.lock();
        match &slot.pending {
            None => Err(AnswerError::NothingPending),
            Some((p, _)) if p.id != id => Err(AnswerError::Stale {
                given: id,
                pending: p.id,
            }),
            Some(_) => {
                if let Some((p, tx)) = slot.pending.take() {
                    tracing::info!(id = p.id, ?answer, "approval answered");
                    // The runner may have stopped meanwhile; then nobody waits.
                    let _ = tx.send(answer);
                }
                Ok(())
            }
        }
    }

    /// Refuses every later question and tells a waiting one to quit.
    pub fn close(&self) {
        let mut slot = self.lock();
        slot.closed = true;
        if let Some((_, tx)) = slot.pending.take() {
            let _ = tx.send(Answer::Quit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamlet_core::trace::Thoughts;

    #[test]
    fn an_answer_reaches_the_waiting_runner_and_stale_ones_are_refused() {
        let approvals = Approvals::new();
        let asker = approvals.clone();
        let action = Action {
            thoughts: Thoughts::default(),
            tool: "write_file".into(),
            args: serde_json::json!({"path": "a.txt"}),
        };
        let waiting = std::thread::spawn(move || asker.ask(3, &action));
        let p = loop {
            if let Some(p) = approvals.pending() {
                break p;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(p.step, 3);
        assert_eq!(
            approvals.answer(p.id + 1, Answer::Run),
            Err(AnswerError::Stale {
                given: p.id + 1,
                pending: p.id
            })
        );
        let decline = Answer::Decline {
            feedback: "not that file".into(),
        };
        assert_eq!(approvals.answer(p.id, decline.clone()), Ok(()));
        assert_eq!(waiting.join().ok(), Some(decline));
        assert_eq!(
            approvals.answer(p.id, Answer::Run),
            Err(AnswerError::NothingPending)
        );
        let answer: Answer =
            serde_json::from_str(r#"{"answer":"run_all"}"#).expect("parse an answer");
        assert_eq!(answer, Answer::RunAll);
    }
}
