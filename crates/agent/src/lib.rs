//! The agent loop: a goal-driven run that plans, acts with tools, observes and reflects.
//!
//! Each step the model gets the agent's system prompt, the goal and the recent history, and
//! returns one [`Action`](hamlet_core::trace::Action) whose JSON is constrained to the schemas of
//! the agent's tools. The runtime, not the prompt, decides what runs: the allow-list, approval,
//! loop detection and the budgets are enforced in [`Runner`], and the tools confine themselves
//! (`hamlet-tools`). Every step is appended durably to `RUN_DIR/trace.jsonl`, which is also what
//! `--resume` rebuilds a run from, so an interrupted run continues exactly where it stopped.
//!
//! - [`spec`]: agent files (`agents/*.toml`) validated into [`AgentSpec`].
//! - [`prompts`]: the minijinja templates in `prompts/agent/`.
//! - [`action`]: the action schema and the parser of model replies.
//! - [`history`]: the working memory that fits the context window.
//! - [`policy`]: the loop's rules (repeats, failures, budgets, barred tools) as pure functions.
//! - [`runner`]: the loop itself (the run folder, the state folded from the trace, the step, the
//!   tool gate with approval); [`trace`]: the JSONL log.
//! - [`tasks`]: the offline task suite behind `hamlet eval tasks`.

pub mod action;
pub mod deliverables;
mod error;
pub mod history;
pub mod policy;
pub mod prompts;
pub mod runner;
pub mod spec;
pub mod tasks;
pub mod trace;

pub use error::{Error, Result};
pub use prompts::Prompts;
pub use runner::{Approval, Approver, AutoApprove, RunOutcome, Runner};
pub use spec::{AgentSpec, Budgets, Invalid};
