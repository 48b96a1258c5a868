//! Sub-agents (AutoGPT's start-agent): the `delegate` tool, the agents a run may start (loaded
//! with the run), the budget carved out of the parent's for each child, and the child's own run.
//!
//! A call goes: the gate's rules and approval as for any tool, then [`Children::plan`] (depth,
//! fan-out, the agent, the folder, what is left of the budget) gives a [`ChildRun`]; the loop
//! writes a `delegate` event with it *before* the child starts, so a crash mid-child leaves the
//! parent waiting on that step, and resume continues the child and then the parent. The child
//! runs in `RUN_DIR/children/<step>-<agent>/` (its own `agent.toml` and `trace.jsonl`, whose
//! start links back to the parent) in a subfolder of the parent's workspace; what it spent is
//! charged to the delegating step, its steps included.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hamlet_core::trace::{
    ChildEvent, ChildRun, DelegateRecord, ObservationStatus, ParentRun, RunEnd, StepRecord,
    StopReason, TraceEvent, TRACE_FILE,
};
use hamlet_core::Llm;
use hamlet_tools::{
    now_ms, DynTool, Effect, Registry, ToolContext, ToolError, ToolResult, Workspace,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::State;
use super::tools::Approver;
use super::Runner;
use crate::spec::{Delegation, DELEGATE};
use crate::{history, AgentSpec, Error, Prompts, Result};

/// Longest goal a parent may give a child, in characters.
const GOAL_CHARS: usize = 2000;

/// The agents a run may start, loaded when the run starts.
pub(crate) struct Children {
    agents: Vec<AgentSpec>,
    max_children: u32,
    /// Levels of sub-agents still allowed below this run.
    depth_left: u32,
}

impl Children {
    /// The agents of `spec`'s `[delegate]` table, each read and validated like any agent file;
    /// `depth_left` is what the run's parent left it (`None` for a top-level run).
    pub fn load(spec: &AgentSpec, depth_left: Option<u32>) -> Result<Option<Self>> {
        let Some(Delegation {
            agents,
            max_depth,
            max_children,
        }) = &spec.delegate
        else {
            return Ok(None);
        };
        let mut specs: Vec<AgentSpec> = Vec::new();
        for (i, path) in agents.iter().enumerate() {
            let child = AgentSpec::load(path, &Registry::builtin_names())?;
            if specs.iter().any(|s| s.name == child.name) {
                return Err(Error::Spec {
                    file: spec.source.clone().unwrap_or_else(|| spec.name.clone()),
                    message: format!("field `delegate.agents[{i}]`: a second agent named {:?} ({}): the model picks sub-agents by name, so give each file its own `name`", child.name, path.display()),
                });
            }
            specs.push(child);
        }
        Ok(Some(Children {
            agents: specs,
            max_children: *max_children,
            depth_left: depth_left.map_or(*max_depth, |left| left.min(*max_depth)),
        }))
    }

    /// The `delegate` tool as the model sees it: the agents by name with their roles.
    pub fn tool(&self) -> DelegateTool {
        let names: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        let roster: Vec<String> = self
            .agents
            .iter()
            .map(|a| format!("{} ({})", a.name, a.role.lines().next().unwrap_or("")))
            .collect();
        DelegateTool {
            description: format!("Give a sub-agent a goal of its own and wait for its answer. It works in a subfolder of your workspace (`folder`, by default its name and this step's number), where its files stay for you to read. Sub-agents: {}.", roster.join("; ")),
            parameters: json!({
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "enum": names},
                    "goal": {"type": "string", "maxLength": GOAL_CHARS},
                    "folder": {"type": "string", "maxLength": 128}
                },
                "required": ["agent", "goal"],
                "additionalProperties": false
            }),
        }
    }

    fn agent(&self, name: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// The child that step `step`'s call asks for, or why the runtime refuses it.
    pub fn plan(
        &self,
        parent: &AgentSpec,
        state: &State,
        workspace: &Workspace,
        step: u32,
        args: &Value,
    ) -> std::result::Result<ChildRun, String> {
        if self.depth_left == 0 {
            return Err("this run may not start sub-agents: it is as deep as delegate.max-depth allows; do the work yourself".into());
        }
        let started = state.children;
        if started >= self.max_children {
            return Err(format!("this run already started {started} sub-agents, all that delegate.max-children allows; do the rest yourself"));
        }
        #[derive(Deserialize)]
        struct Args {
            agent: String,
            goal: String,
            #[serde(default)]
            folder: Option<String>,
        }
        let args: Args = serde_json::from_value(args.clone()).map_err(|e| {
            format!("bad arguments for delegate: {e}; give {{\"agent\": NAME, \"goal\": TEXT}}")
        })?;
        let names: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        let Some(child) = self.agent(&args.agent) else {
            return Err(format!(
                "no sub-agent named {:?}: they are {}",
                args.agent,
                names.join(", ")
            ));
        };
        let goal = args.goal.trim();
        if goal.is_empty() {
            return Err("the goal is empty: say what the sub-agent should achieve".into());
        }
        // No folder, or the workspace itself: the child's own folder (a child never shares the
        // parent's whole workspace).
        let folder = match args.folder.as_deref().map(|f| f.trim().trim_matches('/')) {
            None | Some("" | ".") => format!("{}-{step}", child.name),
            Some(f) => f.to_string(),
        };
        if workspace.resolve(&folder).map_err(|e| e.to_string())? == workspace.root() {
            return Err("`folder` must name a subfolder of your workspace, e.g. \"drafts\"".into());
        }
        let b = &parent.budgets;
        let usage = &state.usage;
        // This step is one of the parent's; the child gets at most what is left after it.
        let steps_left = b.max_steps.saturating_sub(state.steps_spent() + 1);
        let tokens_left = b.max_tokens.saturating_sub(usage.total_tokens());
        let secs_left = b
            .max_wall_secs
            .saturating_sub(((usage.model_ms + usage.tool_ms) / 1000.0) as u64);
        if steps_left == 0 || tokens_left == 0 || secs_left == 0 {
            return Err(format!("too little of the budget is left to delegate ({steps_left} steps, {tokens_left} tokens, {secs_left} s): finish with what you have"));
        }
        Ok(ChildRun {
            agent: child.name.clone(),
            goal: goal.to_string(),
            run_dir: format!("children/{step}-{}", child.name),
            workspace: folder,
            max_steps: child.budgets.max_steps.min(steps_left),
            max_tokens: child.budgets.max_tokens.min(tokens_left),
            max_wall_secs: child.budgets.max_wall_secs.min(secs_left),
            depth_left: self.depth_left - 1,
        })
    }
}

/// The `delegate` tool in the registry: its description and schema for the prompt and the
/// action schema. The loop runs the child itself (it holds the model, the approver and the
/// trace), so a call through the registry is an error.
pub(crate) struct DelegateTool {
    description: String,
    parameters: Value,
}

impl DynTool for DelegateTool {
    fn name(&self) -> &str {
        DELEGATE
    }
    fn effect(&self) -> Effect {
        Effect::Mutating
    }
    fn description(&self) -> String {
        self.description.clone()
    }
    fn parameters(&self) -> Value {
        self.parameters.clone()
    }
    fn call_json(&self, _ctx: &ToolContext, _args: Value) -> ToolResult<String> {
        Err(ToolError::failed(
            "delegate runs only inside an agent run, which starts the sub-agent itself",
        ))
    }
}

/// What the parent's loop lends its children (besides its approver and observer).
pub(crate) struct Lent<'r> {
    pub llm: &'r dyn Llm,
    pub prompts: &'r Prompts,
    pub interrupt: &'r Arc<AtomicBool>,
    pub ctx: &'r ToolContext,
    pub run_dir: &'r Path,
    pub run_id: &'r str,
    pub children: Option<&'r Children>,
    /// The parent's cut for observations.
    pub observation_chars: usize,
}

/// How a child's run went, for the parent.
pub(crate) enum Outcome {
    /// The step's record: the child's answer or stop reason as its observation.
    Done(Box<StepRecord>),
    /// The child was interrupted (or its backend failed): the parent stops the same way and
    /// continues both on resume.
    Paused(StopReason, String),
}

/// Runs (or, after a crash or interruption, continues) the child `record` started, and turns its
/// end into the delegating step's record.
pub(crate) fn run(
    lent: &Lent<'_>,
    approver: &mut dyn Approver,
    observer: &mut dyn FnMut(&TraceEvent),
    record: &DelegateRecord,
) -> Outcome {
    let child = &record.child;
    let done = |status, text: String, usage| {
        let mut step_usage = record.usage;
        step_usage.add(&usage);
        Outcome::Done(Box::new(StepRecord {
            step: record.step,
            at: now_ms(),
            prompt: record.prompt.clone(),
            raw: record.raw.clone(),
            action: Some(record.action.clone()),
            observation: history::truncate(status, text, lent.observation_chars),
            usage: step_usage,
        }))
    };
    match run_child(lent, approver, observer, record) {
        Ok(end) => match end.reason {
            StopReason::Interrupted | StopReason::BackendError => Outcome::Paused(
                end.reason,
                format!("the sub-agent {} stopped: {}", child.agent, end.message),
            ),
            reason => {
                let mut usage = end.usage;
                usage.sub_steps += end.step;
                let (status, head) = match (&end.answer, reason) {
                    (Some(answer), StopReason::Finished) => (
                        ObservationStatus::Ok,
                        format!(
                            "The sub-agent {} finished in {} steps. Its answer: {answer}",
                            child.agent, end.step
                        ),
                    ),
                    _ => (
                        ObservationStatus::ToolError,
                        format!(
                            "The sub-agent {} stopped without finishing: {}",
                            child.agent, end.message
                        ),
                    ),
                };
                let text = format!("{head}\nIts files are in {}/.", child.workspace);
                done(status, text, usage)
            }
        },
        Err(e) => done(
            ObservationStatus::ToolError,
            format!("The sub-agent {} could not run: {e}", child.agent),
            Default::default(),
        ),
    }
}

fn run_child(
    lent: &Lent<'_>,
    approver: &mut dyn Approver,
    observer: &mut dyn FnMut(&TraceEvent),
    record: &DelegateRecord,
) -> Result<RunEnd> {
    let child = &record.child;
    let Some(base) = lent.children.and_then(|c| c.agent(&child.agent)) else {
        return Err(Error::Spec {
            file: child.agent.clone(),
            message: "is no longer among the agents of [delegate]".into(),
        });
    };
    let mut spec = base.clone();
    spec.budgets.max_steps = child.max_steps;
    spec.budgets.max_tokens = child.max_tokens;
    spec.budgets.max_wall_secs = child.max_wall_secs;
    let folder = lent
        .ctx
        .workspace
        .resolve(&child.workspace)
        .map_err(|e| Error::Spec {
            file: format!("delegate folder {:?}", child.workspace),
            message: e.to_string(),
        })?;
    let workspace = Workspace::new(&folder)
        .map_err(|e| Error::io(format!("creating {}", folder.display()), e))?;
    let mut ctx = ToolContext::new(workspace, spec.policy.clone());
    if let Some(memory) = &lent.ctx.memory {
        ctx = ctx.with_memory(memory.clone(), spec.name.clone());
    }
    let step = record.step;
    let forward = move |e: &TraceEvent| {
        observer(&TraceEvent::Child(ChildEvent {
            step,
            event: Box::new(e.clone()),
        }))
    };
    let dir: PathBuf = lent.run_dir.join(&child.run_dir);
    let up = Path::new(&child.run_dir)
        .components()
        .map(|_| "..")
        .collect::<Vec<_>>();
    let mut runner = Runner::new(spec, lent.llm, lent.prompts, ctx)
        .with_approver(approver)
        .with_observer(forward)
        .with_interrupt(lent.interrupt.clone());
    runner.parent = Some((
        ParentRun {
            run_id: lent.run_id.to_string(),
            run_dir: up.join("/"),
            step,
        },
        child.depth_left,
    ));
    let outcome = if !dir.join(TRACE_FILE).exists() {
        runner.start(&dir, &child.goal)?
    } else {
        let (state, _) = super::folder::replay(&dir)?;
        // It ended for good before the parent recorded the step.
        if let Some(end) = state.ended_for_good() {
            return Ok(end.clone());
        }
        runner.resume(&dir)?
    };
    Ok(outcome.end)
}
