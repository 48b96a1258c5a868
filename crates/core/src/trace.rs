//! The trace of an agent run: one JSON object per line in `RUN_DIR/trace.jsonl`.
//!
//! The agent loop appends these as it goes (`hamlet-agent`), `hamlet run --resume` rebuilds a run
//! from them, the TUI draws them and `hamlet tune export-trajectories` turns successful runs into
//! training data. Each step keeps the exact prompt the model saw and its raw reply, so a step can be
//! replayed or trained on without guessing how the prompt was built.

use serde::{Deserialize, Serialize};

use crate::memory::TimeMs;
use crate::{Completion, Message, TokenUsage};

/// The file name of the trace inside a run directory.
pub const TRACE_FILE: &str = "trace.jsonl";

/// One line of `trace.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceEvent {
    Start(RunStart),
    Step(StepRecord),
    Reflect(ReflectRecord),
    /// A step that started a sub-agent, written before the sub-agent runs; the step's own record
    /// follows when the sub-agent has ended (a resumed run finds this one waiting).
    Delegate(Box<DelegateRecord>),
    End(RunEnd),
    /// An event of a sub-agent's run, as the runner shows it to the parent's observer (live
    /// views); never written to the parent's trace, since the sub-agent has its own.
    Child(ChildEvent),
}

/// How the run began (written once, first).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStart {
    pub run_id: String,
    /// The agent's name, and the file it came from (if any).
    pub agent: String,
    #[serde(default)]
    pub agent_file: Option<String>,
    pub goal: String,
    pub model: String,
    pub workspace: String,
    pub started: TimeMs,
    /// The tools the agent may call.
    pub tools: Vec<String>,
    /// What the agent was shown at the start besides the goal (e.g. its workspace listing).
    #[serde(default)]
    pub intro: String,
    /// The run that started this one as a sub-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRun>,
}

/// Where a sub-agent's run came from: the link from child to parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParentRun {
    pub run_id: String,
    /// The parent's run folder, relative to this run's (`../..`).
    pub run_dir: String,
    /// The parent's step that started this run.
    pub step: u32,
}

/// A sub-agent a step started: the link from parent to child, and what the child was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildRun {
    /// The sub-agent's name (its agent file's `name`).
    pub agent: String,
    pub goal: String,
    /// The child's run folder, relative to the parent's (`children/3-writer`).
    pub run_dir: String,
    /// The child's workspace, relative to the parent's workspace.
    pub workspace: String,
    /// The budget carved out of the parent's for the child.
    pub max_steps: u32,
    pub max_tokens: u64,
    pub max_wall_secs: u64,
    /// How many more levels of sub-agents the child may start.
    pub depth_left: u32,
}

/// The step that starts a sub-agent, up to the action (its observation is the sub-agent's
/// outcome, recorded in the step's [`StepRecord`] when the sub-agent has ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegateRecord {
    pub step: u32,
    pub at: TimeMs,
    pub prompt: Vec<Message>,
    pub raw: String,
    pub action: Action,
    /// What the model call cost.
    pub usage: Usage,
    pub child: ChildRun,
}

/// A sub-agent's trace event, tagged with the parent's step that started it (nested sub-agents
/// nest these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildEvent {
    pub step: u32,
    pub event: Box<TraceEvent>,
}

/// What the model decided to think and do in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub thoughts: Thoughts,
    pub tool: String,
    pub args: serde_json::Value,
}

/// The reasoning part of an action (AutoGPT's `thoughts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thoughts {
    #[serde(default)]
    pub reasoning: String,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub criticism: String,
}

impl Thoughts {
    /// The parts that say something, labelled ("Thought", "Plan", "Criticism"), in that order.
    pub fn labelled(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("Thought", &self.reasoning),
            ("Plan", &self.plan),
            ("Criticism", &self.criticism),
        ]
        .into_iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|(label, text)| (label, text.as_str()))
    }
}

/// How an action turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationStatus {
    /// The tool ran and succeeded.
    Ok,
    /// The tool ran and failed (bad path, bad expression, HTTP error...).
    ToolError,
    /// The runtime refused the call (not allowed, outside the workspace, repeated).
    Refused,
    /// The user declined the action when asked for approval.
    Declined,
    /// The model's reply was not a valid action.
    Invalid,
}

/// What the agent observed after its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub status: ObservationStatus,
    /// The text shown to the model (already truncated, with a visible note, when it was long).
    pub text: String,
    /// When the tool's output was cut, its full length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<usize>,
}

impl Observation {
    pub fn is_ok(&self) -> bool {
        self.status == ObservationStatus::Ok
    }
}

/// Tokens and time spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(flatten)]
    pub tokens: TokenUsage,
    pub model_ms: f64,
    pub tool_ms: f64,
    /// Steps taken by sub-agents (counted against the steps budget with the run's own).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sub_steps: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Usage {
    /// What one model call cost, with the time its tool call took.
    pub fn of(completion: &Completion, tool_ms: f64) -> Self {
        let t = completion.timings;
        Usage {
            tokens: completion.usage,
            model_ms: t.prompt_ms + t.generation_ms,
            tool_ms,
            sub_steps: 0,
        }
    }

    pub fn add(&mut self, other: &Usage) {
        self.tokens += other.tokens;
        self.model_ms += other.model_ms;
        self.tool_ms += other.tool_ms;
        self.sub_steps += other.sub_steps;
    }

    pub fn total_tokens(&self) -> u64 {
        self.tokens.total()
    }
}

/// One plan-act-observe step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based.
    pub step: u32,
    pub at: TimeMs,
    /// The exact messages the model was given.
    pub prompt: Vec<Message>,
    /// The model's raw reply.
    pub raw: String,
    /// The parsed action (`None` when the reply was not a valid action).
    pub action: Option<Action>,
    pub observation: Observation,
    pub usage: Usage,
}

/// A reflection: the plan revised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReflectRecord {
    /// The step after which it happened.
    pub step: u32,
    pub at: TimeMs,
    /// Why: "every N steps", "after a failed action", "repeated action", "before giving up".
    pub reason: String,
    pub prompt: Vec<Message>,
    pub raw: String,
    /// The revised plan.
    pub plan: String,
    pub usage: Usage,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The agent called `finish`.
    Finished,
    MaxSteps,
    MaxTokens,
    WallTime,
    /// The same action kept repeating after a reflection.
    Loop,
    /// Too many invalid or failed actions in a row.
    Stuck,
    /// Ctrl-C or the approval prompt's quit: the run can be resumed.
    Interrupted,
    /// The model backend failed.
    BackendError,
}

impl StopReason {
    /// Whether `hamlet run --resume` may continue a run that stopped this way.
    pub fn resumable(self) -> bool {
        matches!(
            self,
            StopReason::Interrupted | StopReason::BackendError | StopReason::WallTime
        )
    }
}

/// How the run ended (written last; absent when the process died).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    pub step: u32,
    pub at: TimeMs,
    pub reason: StopReason,
    /// The `finish` answer.
    #[serde(default)]
    pub answer: Option<String>,
    /// Human-readable explanation of the stop.
    pub message: String,
    pub usage: Usage,
}

/// The run's budgets, when known (from the run's `agent.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub max_steps: Option<u32>,
    pub max_tokens: Option<u64>,
}

/// One row of a run's history: a step, a reflection, or a sub-agent's run (started by the step
/// whose record follows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Step(StepRecord),
    Reflect(ReflectRecord),
    Child(Box<ChildView>),
}

/// A sub-agent's run inside its parent's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildView {
    /// The parent's step that started it.
    pub step: u32,
    pub child: ChildRun,
    pub run: RunView,
}

/// A row of a run's history with its sub-agents' rows inlined ([`RunView::rows`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row<'a> {
    Entry(&'a Entry),
    /// A sub-agent's end.
    End(&'a RunEnd),
}

/// A run as its trace says it went, folded event by event ([`RunView::push`]); the TUI and the
/// web viewer draw this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub start: Option<RunStart>,
    pub entries: Vec<Entry>,
    pub end: Option<RunEnd>,
}

impl RunView {
    /// Folds one trace event in.
    pub fn push(&mut self, event: TraceEvent) {
        match event {
            TraceEvent::Start(s) => {
                // A resumed run starts again: keep the steps, take the newest start.
                self.start = Some(s);
                self.end = None;
            }
            TraceEvent::Step(s) => self.entries.push(Entry::Step(s)),
            TraceEvent::Reflect(r) => self.entries.push(Entry::Reflect(r)),
            TraceEvent::Delegate(d) => self.entries.push(Entry::Child(Box::new(ChildView {
                step: d.step,
                child: d.child,
                run: RunView::default(),
            }))),
            TraceEvent::End(e) => self.end = Some(e),
            TraceEvent::Child(c) => {
                let found = self.entries.iter_mut().rev().find_map(|e| match e {
                    Entry::Child(v) if v.step == c.step => Some(v),
                    _ => None,
                });
                if let Some(view) = found {
                    view.run.push(*c.event);
                }
            }
        }
    }

    /// The rows of the history, each with its depth: a sub-agent's rows (and its end) follow
    /// its own row, one level deeper.
    pub fn rows(&self) -> Vec<(usize, Row<'_>)> {
        let mut rows = Vec::new();
        self.collect_rows(0, &mut rows);
        rows
    }

    fn collect_rows<'a>(&'a self, depth: usize, rows: &mut Vec<(usize, Row<'a>)>) {
        for e in &self.entries {
            rows.push((depth, Row::Entry(e)));
            if let Entry::Child(view) = e {
                view.run.collect_rows(depth + 1, rows);
                if let Some(end) = &view.run.end {
                    rows.push((depth + 1, Row::End(end)));
                }
            }
        }
    }

    /// Tokens and time spent so far.
    pub fn usage(&self) -> Usage {
        if let Some(end) = &self.end {
            return end.usage;
        }
        let mut u = Usage::default();
        for e in &self.entries {
            match e {
                Entry::Step(s) => u.add(&s.usage),
                Entry::Reflect(r) => u.add(&r.usage),
                // Charged to the step that started it, when it has ended.
                Entry::Child(_) => {}
            }
        }
        u
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Step(s) => Some(s.step),
                Entry::Reflect(_) | Entry::Child(_) => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// The current plan and where it came from: the latest reflection's, else the latest step's.
    pub fn plan(&self) -> Option<(String, &str)> {
        for e in self.entries.iter().rev() {
            match e {
                Entry::Reflect(r) => {
                    return Some((format!("reflection after step {}", r.step), &r.plan))
                }
                Entry::Step(s) => {
                    if let Some(a) = s
                        .action
                        .as_ref()
                        .filter(|a| !a.thoughts.plan.trim().is_empty())
                    {
                        return Some((format!("step {}", s.step), &a.thoughts.plan));
                    }
                }
                Entry::Child(_) => {}
            }
        }
        None
    }
}

/// Sub-agents' events for viewers that read run folders rather than listen to the runner: when
/// the step that started a sub-agent gets its record, the sub-agent's trace is read and its
/// events go first, as [`TraceEvent::Child`] (its own sub-agents' within them).
#[derive(Debug, Default)]
pub struct Nesting {
    run_dir: std::path::PathBuf,
    /// Steps whose sub-agent is running: the step and the child's folder.
    open: Vec<(u32, String)>,
}

impl Nesting {
    /// For the run in `run_dir`.
    pub fn new(run_dir: &std::path::Path) -> Self {
        Nesting {
            run_dir: run_dir.to_path_buf(),
            open: Vec::new(),
        }
    }

    /// `event`, after the events of the sub-agent whose step it completes (if it does).
    pub fn expand(&mut self, event: TraceEvent) -> Vec<TraceEvent> {
        match &event {
            TraceEvent::Delegate(d) => self.open.push((d.step, d.child.run_dir.clone())),
            TraceEvent::Step(s) => {
                if let Some(at) = self.open.iter().position(|(step, _)| *step == s.step) {
                    let (step, dir) = self.open.remove(at);
                    let mut events = child_events(&self.run_dir.join(dir), step);
                    events.push(event);
                    return events;
                }
            }
            _ => {}
        }
        vec![event]
    }
}

/// A child's whole trace (nothing when it cannot be read), wrapped for its parent's `step`.
fn child_events(dir: &std::path::Path, step: u32) -> Vec<TraceEvent> {
    let Ok(trace) = crate::journal::Journal::<TraceEvent>::read_all(&dir.join(TRACE_FILE)) else {
        return Vec::new();
    };
    let mut nesting = Nesting::new(dir);
    let wrap = |e| {
        TraceEvent::Child(ChildEvent {
            step,
            event: Box::new(e),
        })
    };
    trace
        .records
        .into_iter()
        .flat_map(|e| nesting.expand(e))
        .map(wrap)
        .collect()
}
