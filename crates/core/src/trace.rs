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
    End(RunEnd),
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
}

impl Usage {
    /// What one model call cost, with the time its tool call took.
    pub fn of(completion: &Completion, tool_ms: f64) -> Self {
        let t = completion.timings;
        Usage {
            tokens: completion.usage,
            model_ms: t.prompt_ms + t.generation_ms,
            tool_ms,
        }
    }

    pub fn add(&mut self, other: &Usage) {
        self.tokens += other.tokens;
        self.model_ms += other.model_ms;
        self.tool_ms += other.tool_ms;
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

/// One row of a run's history: a step or a reflection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Step(StepRecord),
    Reflect(ReflectRecord),
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
            TraceEvent::End(e) => self.end = Some(e),
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
                Entry::Reflect(_) => None,
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
            }
        }
        None
    }
}
