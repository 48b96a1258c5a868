//! The loop: what the trace says comes next (stop, reflect or act), the budgets, then one model
//! call, each new event written to the trace.
//!
//! Everything the loop decides after a step (reflect? stop for a loop? stuck? finished?) is a
//! function of the trace so far (`policy`), so `resume` rebuilds the same state from
//! `trace.jsonl` and continues with the same prompts.
//!
//! - `folder`: the run folder's lifecycle (the agent file beside the trace, reopening it);
//! - `state`: the state folded from the trace, and the emission of new events;
//! - `step`: the step and the reflection (prompt, model call, record);
//! - `tools`: tool policy with approval, and what a call is observed as;
//! - `mcp`: the agent's MCP servers, started with the run and their tools registered;
//! - `delegate`: sub-agents, each a child run the loop starts for a `delegate` step.

mod delegate;
mod folder;
mod mcp;
mod state;
mod step;
mod tools;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hamlet_core::trace::{ParentRun, RunEnd, RunStart, StopReason, TraceEvent};
use hamlet_core::Llm;
use hamlet_tools::{now_ms, ListDir, Registry, Tool, ToolContext};
use serde_json::Value;

pub use folder::{load_run, SPEC_FILE};
pub use tools::{Approval, Approver, AutoApprove};

use crate::policy::{self, Next};
use crate::{AgentSpec, Error, Prompts, Result};
use delegate::{Children, Lent, Outcome};
use state::Log;
use step::{Model, Stepped};
use tools::Gate;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub end: RunEnd,
    pub steps: u32,
}

/// Why the loop stops, before it is written as the run's end event.
struct Ending {
    reason: StopReason,
    answer: Option<String>,
    message: String,
}

impl Ending {
    fn new(reason: StopReason, message: impl Into<String>) -> Self {
        Ending {
            reason,
            answer: None,
            message: message.into(),
        }
    }
}

/// Runs an agent.
pub struct Runner<'a> {
    spec: AgentSpec,
    llm: &'a dyn Llm,
    prompts: &'a Prompts,
    ctx: ToolContext,
    registry: Registry,
    approver: Box<dyn Approver + 'a>,
    observer: Box<dyn FnMut(&TraceEvent) + 'a>,
    interrupt: Arc<AtomicBool>,
    /// For a sub-agent: its parent, and how many levels of sub-agents it may start below it.
    parent: Option<(ParentRun, u32)>,
}

impl<'a> Runner<'a> {
    pub fn new(spec: AgentSpec, llm: &'a dyn Llm, prompts: &'a Prompts, ctx: ToolContext) -> Self {
        Runner {
            spec,
            llm,
            prompts,
            ctx,
            registry: Registry::builtin(),
            approver: Box::new(AutoApprove),
            observer: Box::new(|_| {}),
            interrupt: Arc::new(AtomicBool::new(false)),
            parent: None,
        }
    }

    pub fn with_approver(mut self, approver: impl Approver + 'a) -> Self {
        self.approver = Box::new(approver);
        self
    }

    /// Called with every event as it is written (for printing or a TUI).
    pub fn with_observer(mut self, observer: impl FnMut(&TraceEvent) + 'a) -> Self {
        self.observer = Box::new(observer);
        self
    }

    /// A flag that stops the run (saved, resumable) at the next safe point, e.g. set by Ctrl-C.
    pub fn with_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = flag;
        self
    }

    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    pub fn spec(&self) -> &AgentSpec {
        &self.spec
    }

    /// Starts a new run in `run_dir` (which must not hold a trace yet).
    pub fn start(&mut self, run_dir: &Path, goal: &str) -> Result<RunOutcome> {
        let goal = goal.trim();
        if goal.is_empty() {
            return Err(Error::Spec {
                file: "--goal".into(),
                message: "the goal is empty: say what the agent should achieve".into(),
            });
        }
        folder::create(run_dir, &self.spec)?;
        let listing = self
            .registry
            .call(&self.ctx, ListDir::NAME, Value::Object(Default::default()))
            .unwrap_or_else(|e| format!("(cannot list the workspace: {e})"));
        let start = RunStart {
            run_id: folder::run_id(run_dir),
            agent: self.spec.name.clone(),
            agent_file: self.spec.source.clone(),
            goal: goal.to_string(),
            model: self.llm.info().name,
            workspace: self.ctx.workspace.root().display().to_string(),
            started: now_ms(),
            tools: self.spec.tools.clone(),
            intro: listing,
            parent: self.parent.as_ref().map(|(p, _)| p.clone()),
        };
        let log = Log::create(run_dir, start, &mut *self.observer)?;
        self.drive(run_dir, log)
    }

    /// Continues an interrupted run from its trace.
    pub fn resume(&mut self, run_dir: &Path) -> Result<RunOutcome> {
        let (state, writer) = folder::reopen(run_dir)?;
        tracing::info!(steps = state.step_count(), "resuming run");
        let log = Log::reopen(writer, state);
        self.drive(run_dir, log)
    }

    fn drive(&mut self, run_dir: &Path, mut log: Log) -> Result<RunOutcome> {
        // Held to the end of the run: dropping it stops the servers.
        let _servers = mcp::connect(
            &self.spec,
            self.llm,
            self.ctx.workspace.root(),
            run_dir,
            &mut self.registry,
        )?;
        let children = Children::load(&self.spec, self.parent.as_ref().map(|(_, left)| *left))?;
        if let Some(c) = &children {
            self.registry.add(c.tool());
        }
        let run_id = log.state.start.run_id.clone();
        let lent = Lent {
            llm: self.llm,
            prompts: self.prompts,
            interrupt: &self.interrupt,
            ctx: &self.ctx,
            run_dir,
            run_id: &run_id,
            children: children.as_ref(),
            observation_chars: self.spec.observation_chars,
        };
        let model = Model::new(
            self.llm,
            self.prompts,
            &self.spec,
            &self.registry,
            &log.state,
        )?;
        // A sub-agent that was running when the run stopped goes on first.
        if let Some(record) = log.state.pending.clone() {
            let observer = &mut *self.observer;
            match delegate::run(&lent, &mut *self.approver, observer, &record) {
                Outcome::Done(step) => log.emit(TraceEvent::Step(*step), observer)?,
                Outcome::Paused(reason, message) => {
                    return self.end(run_dir, log, Ending::new(reason, message))
                }
            }
        }
        let goal = log.state.start.goal.clone();
        let mut gate = Gate {
            spec: &self.spec,
            goal: &goal,
            registry: &self.registry,
            ctx: &self.ctx,
            approver: &mut *self.approver,
            children: children.as_ref(),
        };
        let ending = loop {
            if self.interrupt.load(Ordering::SeqCst) {
                break Ending::new(
                    StopReason::Interrupted,
                    "interrupted; continue with --resume",
                );
            }
            let state = &log.state;
            let steps = state.steps();
            let effect_of = |t: &str| tools::effect(&self.registry, t);
            let next =
                policy::next_move(&self.spec, &steps, state.last_is_reflection(), &effect_of);
            let budget = policy::budget_stop(&self.spec, state.steps_spent(), &state.usage);
            let barred = policy::barred_tool(&steps, &effect_of);
            let event = match (next, budget) {
                (Next::Finish(answer), _) => {
                    break Ending {
                        reason: StopReason::Finished,
                        answer: Some(answer),
                        message: format!("finished at step {}", state.step_count()),
                    }
                }
                (Next::Stop(reason, message), _) => break Ending::new(reason, message),
                (_, Some((reason, message))) => break Ending::new(reason, message),
                (Next::Reflect(reason), None) => match model.reflect(state, &reason) {
                    Ok(record) => TraceEvent::Reflect(record),
                    Err(e) => {
                        let message = format!("the model failed while reflecting: {e}");
                        break Ending::new(StopReason::BackendError, message);
                    }
                },
                (Next::Act, None) => match model.step(state, barred.as_deref(), &mut gate) {
                    Ok(Stepped::Done(record)) => TraceEvent::Step(record),
                    Ok(Stepped::Delegate(record)) => {
                        let observer = &mut *self.observer;
                        log.emit(TraceEvent::Delegate(Box::new(record.clone())), observer)?;
                        match delegate::run(&lent, &mut *gate.approver, observer, &record) {
                            Outcome::Done(step) => TraceEvent::Step(*step),
                            Outcome::Paused(reason, message) => break Ending::new(reason, message),
                        }
                    }
                    Ok(Stepped::Quit) => {
                        break Ending::new(
                            StopReason::Interrupted,
                            "stopped at the approval prompt; continue with --resume",
                        )
                    }
                    Err(Error::Llm(e)) => {
                        let message = format!("the model failed: {e}; continue with --resume");
                        break Ending::new(StopReason::BackendError, message);
                    }
                    Err(e) => return Err(e),
                },
            };
            log.emit(event, &mut *self.observer)?;
        };
        self.end(run_dir, log, ending)
    }

    /// Writes the run's end.
    fn end(&mut self, run_dir: &Path, mut log: Log, ending: Ending) -> Result<RunOutcome> {
        let end = RunEnd {
            step: log.state.step_count(),
            at: now_ms(),
            reason: ending.reason,
            answer: ending.answer,
            message: ending.message,
            usage: log.state.usage,
        };
        log.emit(TraceEvent::End(end.clone()), &mut *self.observer)?;
        Ok(RunOutcome {
            run_dir: run_dir.to_path_buf(),
            steps: end.step,
            end,
        })
    }
}
