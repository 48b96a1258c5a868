//! Tool policy with approval: whether an action runs (the pure rules of [`policy::refusal`],
//! then the [`Approver`]), and what running it is observed as.

use std::time::Instant;

use hamlet_core::trace::{Action, ChildRun, ObservationStatus};
use hamlet_tools::{Effect, Registry, Tool, ToolContext, ToolError, ToolResult, WriteFile};
use serde_json::Value;

use super::delegate::Children;
use super::state::State;
use crate::spec::DELEGATE;
use crate::{deliverables, policy, AgentSpec};

/// The user's answer to "run this action?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Run,
    /// Do not run it; the feedback is shown to the model.
    Decline {
        feedback: String,
    },
    /// Stop the run now (it can be resumed).
    Quit,
}

/// Decides whether each action runs (interactive approval, `--yes`, `--yes N`).
pub trait Approver {
    fn approve(&mut self, step: u32, action: &Action) -> Approval;
}

/// Approves everything (continuous mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct AutoApprove;

impl Approver for AutoApprove {
    fn approve(&mut self, _step: u32, _action: &Action) -> Approval {
        Approval::Run
    }
}

/// A sub-agent asks its parent's approver.
impl<A: Approver + ?Sized> Approver for &mut A {
    fn approve(&mut self, step: u32, action: &Action) -> Approval {
        (**self).approve(step, action)
    }
}

/// What a call of `tool` does; unknown tools only look (they are refused before running).
pub(crate) fn effect(registry: &Registry, tool: &str) -> Effect {
    registry.get(tool).map_or(Effect::Read, |t| t.effect())
}

/// An action's observation before it is cut to length.
pub(crate) type Observed = (ObservationStatus, String);

/// What the gate made of an action.
pub(crate) enum Acted {
    /// It ran (or was refused or declined): what the model observes.
    Observed(Observed),
    /// An approved `delegate`: the loop starts this child.
    Delegate(ChildRun),
    /// The user quit at the approval prompt.
    Quit,
}

/// The tools of a run and who approves their calls.
pub(crate) struct Gate<'r, 'a> {
    pub spec: &'r AgentSpec,
    /// The run's goal: a finish is refused once while files it names are missing.
    pub goal: &'r str,
    pub registry: &'r Registry,
    pub ctx: &'r ToolContext,
    pub approver: &'r mut (dyn Approver + 'a),
    /// The agents `delegate` may start (none: the agent has no `[delegate]`).
    pub children: Option<&'r Children>,
}

impl Gate<'_, '_> {
    /// Applies the policy and runs the tool (how long it ran goes into `tool_ms`); a `delegate`
    /// that passes comes back for the loop to run.
    pub fn act(&mut self, state: &State, number: u32, action: &Action, tool_ms: &mut f64) -> Acted {
        let refused = |text| Acted::Observed((ObservationStatus::Refused, text));
        let steps = state.steps();
        let steps = &steps[..];
        let registry = self.registry;
        let effect_of = |t: &str| effect(registry, t);
        let known = registry.get(&action.tool).is_some();
        let current = (action.tool == WriteFile::NAME)
            .then(|| self.small_text_file(action))
            .flatten();
        if let Some(text) = policy::refusal(
            self.spec,
            steps,
            action,
            known,
            &effect_of,
            current.as_deref(),
        ) {
            return refused(text);
        }
        let mut child = None;
        if action.tool == DELEGATE {
            let planned = match self.children {
                Some(c) => c.plan(self.spec, state, &self.ctx.workspace, number, &action.args),
                None => Err("this agent has no sub-agents".into()),
            };
            match planned {
                Ok(c) => child = Some(c),
                Err(text) => return refused(text),
            }
        }
        if effect_of(&action.tool) == Effect::Finishing {
            let workspace = &self.ctx.workspace;
            let missing = deliverables::missing_files(self.goal, |f| {
                workspace.resolve(f).map_or(true, |p| p.exists())
            });
            if let Some(text) = policy::unwritten_files(steps, &missing) {
                return refused(text);
            }
        }
        if policy::needs_approval(effect_of(&action.tool)) {
            match self.approver.approve(number, action) {
                Approval::Run => {}
                Approval::Decline { feedback } => {
                    return Acted::Observed((ObservationStatus::Declined, declined(&feedback)))
                }
                Approval::Quit => return Acted::Quit,
            }
        }
        if let Some(child) = child {
            return Acted::Delegate(child);
        }
        let started = Instant::now();
        let result = registry.call(self.ctx, &action.tool, action.args.clone());
        *tool_ms = started.elapsed().as_secs_f64() * 1000.0;
        Acted::Observed(observed(result))
    }

    /// The text of the small regular file in the workspace that `action`'s `path` names.
    fn small_text_file(&self, action: &Action) -> Option<String> {
        let path = action.args.get("path").and_then(Value::as_str)?;
        let full = self.ctx.workspace.resolve(path).ok()?;
        let meta = std::fs::metadata(&full).ok()?;
        (meta.is_file() && meta.len() <= 1 << 20)
            .then(|| std::fs::read_to_string(&full).ok())
            .flatten()
    }
}

fn declined(feedback: &str) -> String {
    match feedback.trim() {
        "" => "The user declined this action.".to_string(),
        _ => format!("The user declined this action and said: {feedback}"),
    }
}

/// What a tool's result is observed as: its output, or its error (a refusal by the tool's own
/// rules counts as refused).
pub(crate) fn observed(result: ToolResult<String>) -> Observed {
    match result {
        Ok(text) if text.trim().is_empty() => (ObservationStatus::Ok, "(no output)".into()),
        Ok(text) => (ObservationStatus::Ok, text),
        Err(e @ (ToolError::Refused(_) | ToolError::Unknown { .. })) => {
            (ObservationStatus::Refused, e.to_string())
        }
        Err(e) => (ObservationStatus::ToolError, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_become_observations() {
        assert_eq!(
            observed(Ok("  ".into())),
            (ObservationStatus::Ok, "(no output)".into())
        );
        assert_eq!(observed(Ok("4".into())).0, ObservationStatus::Ok);
        assert_eq!(
            observed(Err(ToolError::refused("no"))).0,
            ObservationStatus::Refused
        );
        assert_eq!(
            observed(Err(ToolError::failed("boom"))).0,
            ObservationStatus::ToolError
        );
        assert_eq!(declined(" "), "The user declined this action.");
        assert!(declined("not that").ends_with("said: not that"));
    }
}
