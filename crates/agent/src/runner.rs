//! The loop: budget checks, reflection, one action per step, policy, tools, trace.
//!
//! Everything the loop decides after a step (reflect? stop for a loop? stuck?) is a function of
//! the trace so far, so `resume` rebuilds the same state from `trace.jsonl` and continues with
//! the same prompts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hamlet_core::trace::{
    Action, ObservationStatus, ReflectRecord, RunEnd, RunStart, StepRecord, StopReason, TraceEvent,
    Usage,
};
use hamlet_core::{GenerateRequest, Llm};
use hamlet_tools::{now_ms, Effect, Registry, Tool, ToolContext, ToolError};
use serde_json::Value;

use crate::action::{action_schema, parse_action, parse_reflection, reflection_schema};
use crate::history::{self, Turn};
use crate::policy::{self, Next};
use crate::trace::{self as tracefile, TraceWriter};
use crate::{AgentSpec, Error, Prompts, Result};

/// The spec of a run, saved beside its trace so `--resume` runs the same agent.
pub const SPEC_FILE: &str = "agent.json";

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

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub end: RunEnd,
    pub steps: u32,
}

/// A run's state, rebuilt from its trace.
#[derive(Debug, Clone)]
struct State {
    start: RunStart,
    /// Steps and reflections, in order.
    events: Vec<TraceEvent>,
    usage: Usage,
}

impl State {
    fn turns(&self) -> Vec<Turn<'_>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Step(s) => Some(Turn::Step(s)),
                TraceEvent::Reflect(r) => Some(Turn::Reflect(r)),
                _ => None,
            })
            .collect()
    }
    fn steps(&self) -> Vec<&StepRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Step(s) => Some(s),
                _ => None,
            })
            .collect()
    }
    fn step_count(&self) -> u32 {
        self.steps().len() as u32
    }
    fn last_is_reflection(&self) -> bool {
        matches!(self.events.last(), Some(TraceEvent::Reflect(_)))
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

    /// The text of a small regular file in the workspace, if `path` names one.
    fn small_text_file(&self, path: &str) -> Option<String> {
        let full = self.ctx.workspace.resolve(path).ok()?;
        let meta = std::fs::metadata(&full).ok()?;
        (meta.is_file() && meta.len() <= 1 << 20)
            .then(|| std::fs::read_to_string(&full).ok())
            .flatten()
    }

    /// What a call of `tool` does; unknown tools only look (they are refused before running).
    fn effect(&self, tool: &str) -> Effect {
        self.registry
            .get(tool)
            .map(|t| t.effect())
            .unwrap_or(Effect::Read)
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
        if run_dir.join(hamlet_core::trace::TRACE_FILE).exists() {
            return Err(Error::Trace {
                path: run_dir.display().to_string(),
                message:
                    "already holds a run: continue it with --resume, or choose another --run-dir"
                        .into(),
            });
        }
        std::fs::create_dir_all(run_dir)
            .map_err(|e| Error::io(format!("creating {}", run_dir.display()), e))?;
        let spec_json = serde_json::to_string_pretty(&self.spec).map_err(|e| Error::Trace {
            path: SPEC_FILE.into(),
            message: e.to_string(),
        })?;
        std::fs::write(run_dir.join(SPEC_FILE), spec_json)
            .map_err(|e| Error::io(format!("writing {}", run_dir.join(SPEC_FILE).display()), e))?;
        let listing = self
            .registry
            .call(&self.ctx, "list_dir", Value::Object(Default::default()))
            .unwrap_or_else(|e| format!("(cannot list the workspace: {e})"));
        let start = RunStart {
            run_id: run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into()),
            agent: self.spec.name.clone(),
            agent_file: self.spec.source.clone(),
            goal: goal.to_string(),
            model: self.llm.info().name,
            workspace: self.ctx.workspace.root().display().to_string(),
            started: now_ms(),
            tools: self.spec.tools.clone(),
            intro: listing,
        };
        let mut writer = TraceWriter::open(run_dir)?;
        let event = TraceEvent::Start(start.clone());
        writer.append(&event)?;
        (self.observer)(&event);
        let state = State {
            start,
            events: Vec::new(),
            usage: Usage::default(),
        };
        self.drive(run_dir, writer, state)
    }

    /// Continues an interrupted run from its trace.
    pub fn resume(&mut self, run_dir: &Path) -> Result<RunOutcome> {
        let trace = tracefile::read(run_dir)?;
        let path = run_dir
            .join(hamlet_core::trace::TRACE_FILE)
            .display()
            .to_string();
        let mut events = trace.events.iter();
        let Some(TraceEvent::Start(start)) = events.next() else {
            return Err(Error::Trace {
                path,
                message: "does not begin with a start event".into(),
            });
        };
        let mut state = State {
            start: start.clone(),
            events: Vec::new(),
            usage: Usage::default(),
        };
        let mut last_end: Option<&RunEnd> = None;
        for e in events {
            match e {
                TraceEvent::Step(s) => {
                    state.usage.add(&s.usage);
                    state.events.push(e.clone());
                }
                TraceEvent::Reflect(r) => {
                    state.usage.add(&r.usage);
                    state.events.push(e.clone());
                }
                TraceEvent::End(end) => last_end = Some(end),
                TraceEvent::Start(_) => {
                    return Err(Error::Trace {
                        path,
                        message: "holds two start events".into(),
                    })
                }
            }
        }
        if let Some(end) = last_end {
            let stopped_after = end.step == state.step_count();
            if stopped_after && !end.reason.resumable() {
                return Err(Error::Trace {
                    path,
                    message: format!(
                        "the run already ended ({}): start a new run instead",
                        end.message
                    ),
                });
            }
        }
        tracefile::repair(run_dir, &trace)?;
        tracing::info!(steps = state.step_count(), "resuming run");
        let writer = TraceWriter::open(run_dir)?;
        self.drive(run_dir, writer, state)
    }

    fn emit(
        &mut self,
        writer: &mut TraceWriter,
        state: &mut State,
        event: TraceEvent,
    ) -> Result<()> {
        writer.append(&event)?;
        (self.observer)(&event);
        match &event {
            TraceEvent::Step(s) => state.usage.add(&s.usage),
            TraceEvent::Reflect(r) => state.usage.add(&r.usage),
            _ => {}
        }
        if matches!(event, TraceEvent::Step(_) | TraceEvent::Reflect(_)) {
            state.events.push(event);
        }
        Ok(())
    }

    fn finish(
        &mut self,
        run_dir: &Path,
        writer: &mut TraceWriter,
        state: &State,
        reason: StopReason,
        answer: Option<String>,
        message: String,
    ) -> Result<RunOutcome> {
        let end = RunEnd {
            step: state.step_count(),
            at: now_ms(),
            reason,
            answer,
            message,
            usage: state.usage,
        };
        let event = TraceEvent::End(end.clone());
        writer.append(&event)?;
        (self.observer)(&event);
        Ok(RunOutcome {
            run_dir: run_dir.to_path_buf(),
            end,
            steps: state.step_count(),
        })
    }

    fn drive(
        &mut self,
        run_dir: &Path,
        mut writer: TraceWriter,
        mut state: State,
    ) -> Result<RunOutcome> {
        let system =
            history::system_prompt(self.prompts, &self.spec, &self.registry, &state.start.goal)?;
        let schema = action_schema(&self.registry, &self.spec.tools);
        let cache_key = format!("agent:{}", state.start.run_id);
        loop {
            if self.interrupt.load(Ordering::SeqCst) {
                return self.finish(
                    run_dir,
                    &mut writer,
                    &state,
                    StopReason::Interrupted,
                    None,
                    "interrupted; continue with --resume".into(),
                );
            }
            if let Some(TraceEvent::Step(s)) = state.events.last() {
                if s.observation.is_ok()
                    && s.action
                        .as_ref()
                        .is_some_and(|a| self.effect(&a.tool) == Effect::Finishing)
                {
                    let answer = s.observation.text.clone();
                    return self.finish(
                        run_dir,
                        &mut writer,
                        &state,
                        StopReason::Finished,
                        Some(answer),
                        format!("finished at step {}", s.step),
                    );
                }
            }
            let steps = state.steps();
            let effect_of = |t: &str| self.effect(t);
            let next =
                policy::next_move(&self.spec, &steps, state.last_is_reflection(), &effect_of);
            let budget = policy::budget_stop(&self.spec, state.step_count(), &state.usage);
            let barred = policy::barred_tool(&steps, &effect_of);
            drop(steps);
            match next {
                Next::Stop(reason, message) => {
                    return self.finish(run_dir, &mut writer, &state, reason, None, message)
                }
                Next::Reflect(reason) => {
                    if let Some((reason, message)) = budget {
                        return self.finish(run_dir, &mut writer, &state, reason, None, message);
                    }
                    match self.reflect(&system, &cache_key, &state, &reason) {
                        Ok(record) => {
                            self.emit(&mut writer, &mut state, TraceEvent::Reflect(record))?
                        }
                        Err(e) => {
                            return self.finish(
                                run_dir,
                                &mut writer,
                                &state,
                                StopReason::BackendError,
                                None,
                                format!("the model failed while reflecting: {e}"),
                            )
                        }
                    }
                }
                Next::Act => {
                    if let Some((reason, message)) = budget {
                        return self.finish(run_dir, &mut writer, &state, reason, None, message);
                    }
                    let narrowed;
                    let schema = match &barred {
                        Some(tool) => {
                            let tools: Vec<String> = self
                                .spec
                                .tools
                                .iter()
                                .filter(|t| *t != tool)
                                .cloned()
                                .collect();
                            narrowed = action_schema(&self.registry, &tools);
                            &narrowed
                        }
                        None => &schema,
                    };
                    match self.step(&system, schema, &cache_key, &state) {
                        Ok(Some(record)) => {
                            self.emit(&mut writer, &mut state, TraceEvent::Step(record))?
                        }
                        Ok(None) => {
                            return self.finish(
                                run_dir,
                                &mut writer,
                                &state,
                                StopReason::Interrupted,
                                None,
                                "stopped at the approval prompt; continue with --resume".into(),
                            )
                        }
                        Err(Error::Llm(e)) => {
                            return self.finish(
                                run_dir,
                                &mut writer,
                                &state,
                                StopReason::BackendError,
                                None,
                                format!("the model failed: {e}; continue with --resume"),
                            )
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    fn messages(&self, system: &str, state: &State) -> Result<Vec<hamlet_core::Message>> {
        let turns = state.turns();
        let (messages, _) = history::fit(
            self.llm,
            self.prompts,
            &self.spec,
            system,
            &state.start,
            &turns,
            self.spec.max_step_tokens as usize,
        )?;
        Ok(messages)
    }

    fn reflect(
        &self,
        system: &str,
        cache_key: &str,
        state: &State,
        reason: &str,
    ) -> Result<ReflectRecord> {
        let _span = tracing::info_span!("reflect", reason).entered();
        let mut prompt = self.messages(system, state)?;
        let ask = history::reflect_message(
            self.prompts,
            &self.spec,
            &state.start.goal,
            reason,
            state.step_count(),
        )?;
        match prompt.last_mut() {
            Some(last) if last.role == hamlet_core::Role::User => {
                last.content.push_str("\n\n");
                last.content.push_str(&ask);
            }
            _ => prompt.push(hamlet_core::Message::user(ask)),
        }
        let request = GenerateRequest::chat(prompt.clone())
            .with_max_tokens(256)
            .with_sampling(self.spec.sampling.clone())
            .with_schema(reflection_schema())
            .with_cache_key(cache_key);
        let completion = self.llm.generate(&request)?;
        Ok(ReflectRecord {
            step: state.step_count(),
            at: now_ms(),
            reason: reason.to_string(),
            prompt,
            plan: parse_reflection(&completion.text),
            raw: completion.text.clone(),
            usage: Usage::of(&completion, 0.0),
        })
    }

    /// One step; `None` when the user quit at the approval prompt.
    fn step(
        &mut self,
        system: &str,
        schema: &Value,
        cache_key: &str,
        state: &State,
    ) -> Result<Option<StepRecord>> {
        let number = state.step_count() + 1;
        let _span = tracing::info_span!("step", number).entered();
        let prompt = self.messages(system, state)?;
        let request = GenerateRequest::chat(prompt.clone())
            .with_max_tokens(self.spec.max_step_tokens)
            .with_sampling(self.spec.sampling.clone())
            .with_schema(schema.clone())
            .with_cache_key(cache_key);
        let (raw, mut usage) = match self.llm.generate(&request) {
            Ok(c) => (c.text.clone(), Usage::of(&c, 0.0)),
            // A reply that breaks the schema is the model's mistake: show it to the model.
            Err(hamlet_core::Error::InvalidOutput { text, .. }) => (text, Usage::default()),
            Err(e) => return Err(e.into()),
        };
        let limit = self.spec.observation_chars;
        let observe = |status, text: String| history::truncate(status, text, limit);
        let action = parse_action(&raw);
        let (action, observation) = match action {
            Err(why) => (None, observe(ObservationStatus::Invalid, format!("Your reply was not a valid action: {why}. Reply with one JSON object: {{\"thoughts\": {{...}}, \"tool\": \"...\", \"args\": {{...}}}}."))),
            Ok(action) => {
                let obs = self.act(state, number, &action, &mut usage)?;
                match obs {
                    None => return Ok(None),
                    Some((status, text)) => (Some(action), observe(status, text)),
                }
            }
        };
        Ok(Some(StepRecord {
            step: number,
            at: now_ms(),
            prompt,
            raw,
            action,
            observation,
            usage,
        }))
    }

    /// Applies policy and runs the tool; `None` when the user quit.
    fn act(
        &mut self,
        state: &State,
        number: u32,
        action: &Action,
        usage: &mut Usage,
    ) -> Result<Option<(ObservationStatus, String)>> {
        if !self.spec.tools.contains(&action.tool) {
            let known = self.registry.get(&action.tool).is_some();
            let what = if known {
                "is not one of this agent's tools"
            } else {
                "does not exist"
            };
            return Ok(Some((
                ObservationStatus::Refused,
                format!(
                    "The runtime refused {:?}: it {what}. Your tools are: {}.",
                    action.tool,
                    self.spec.tools.join(", ")
                ),
            )));
        }
        // Would this call repeat an earlier one with nothing changed since?
        let mut steps = state.steps();
        let probe = StepRecord {
            step: number,
            at: 0,
            prompt: Vec::new(),
            raw: String::new(),
            action: Some(action.clone()),
            observation: history::truncate(ObservationStatus::Ok, String::new(), 1),
            usage: Usage::default(),
        };
        steps.push(&probe);
        let effect_of = |t: &str| self.effect(t);
        if let Some(earlier) = policy::is_repeat(&steps, steps.len() - 1, &effect_of) {
            let result = steps
                .iter()
                .find(|s| s.step == earlier)
                .map(|s| s.observation.text.as_str())
                .unwrap_or("");
            let result: String = result.chars().take(self.spec.observation_chars).collect();
            return Ok(Some((ObservationStatus::Refused, format!("You already ran exactly this at step {earlier} and nothing has changed since, so the runtime did not run it again. Its result was:\n{result}\nUse that result: take the next step of your goal with a different action, or call finish if the goal is met."))));
        }
        steps.pop();
        let path = action
            .args
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("");
        let current = (action.tool == hamlet_tools::WriteFile::NAME)
            .then(|| self.small_text_file(path))
            .flatten();
        if let Some(appended) = policy::erases_appended(&steps, action, current.as_deref()) {
            return Ok(Some((ObservationStatus::Refused, format!("The runtime refused this write_file: it would replace {path} and erase the text you appended to it at step {appended}. write_file replaces the whole file; your addition is already in it. To add more, use append_file; if the goal is met, call finish."))));
        }
        if self.effect(&action.tool) != Effect::Finishing {
            match self.approver.approve(number, action) {
                Approval::Run => {}
                Approval::Decline { feedback } => {
                    let text = if feedback.trim().is_empty() {
                        "The user declined this action.".to_string()
                    } else {
                        format!("The user declined this action and said: {feedback}")
                    };
                    return Ok(Some((ObservationStatus::Declined, text)));
                }
                Approval::Quit => return Ok(None),
            }
        }
        let started = Instant::now();
        let result = self
            .registry
            .call(&self.ctx, &action.tool, action.args.clone());
        usage.tool_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Some(match result {
            Ok(text) if text.trim().is_empty() => (ObservationStatus::Ok, "(no output)".into()),
            Ok(text) => (ObservationStatus::Ok, text),
            Err(e @ (ToolError::Refused(_) | ToolError::Unknown { .. })) => {
                (ObservationStatus::Refused, e.to_string())
            }
            Err(e) => (ObservationStatus::ToolError, e.to_string()),
        }))
    }
}

/// Reads the spec and start event of a run folder (for `--resume`).
pub fn load_run(run_dir: &Path) -> Result<(AgentSpec, RunStart)> {
    let spec_path = run_dir.join(SPEC_FILE);
    let text = std::fs::read_to_string(&spec_path).map_err(|e| Error::Trace {
        path: spec_path.display().to_string(),
        message: format!(
            "cannot read the run's agent ({e}): is {} a run folder?",
            run_dir.display()
        ),
    })?;
    let spec: AgentSpec = serde_json::from_str(&text).map_err(|e| Error::Trace {
        path: spec_path.display().to_string(),
        message: e.to_string(),
    })?;
    let trace = tracefile::read(run_dir)?;
    match trace.events.first() {
        Some(TraceEvent::Start(s)) => Ok((spec, s.clone())),
        _ => Err(Error::Trace {
            path: run_dir
                .join(hamlet_core::trace::TRACE_FILE)
                .display()
                .to_string(),
            message: "does not begin with a start event".into(),
        }),
    }
}
