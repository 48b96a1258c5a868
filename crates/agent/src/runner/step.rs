//! The step: the prompt from the history, one model call, the reply read as an action, the
//! action through the tool gate, all of it one [`StepRecord`]; and the reflection, the other
//! kind of model call.

use hamlet_core::trace::{DelegateRecord, ObservationStatus, ReflectRecord, StepRecord, Usage};
use hamlet_core::{GenerateRequest, Llm, Message, Role};
use hamlet_tools::{now_ms, Registry};
use serde_json::Value;

use super::state::State;
use super::tools::{Acted, Gate};
use crate::action::{action_schema, parse_action, parse_reflection, reflection_schema};
use crate::{history, AgentSpec, Prompts, Result};

/// Longest reflection reply, in tokens.
const REFLECT_TOKENS: u32 = 256;

/// What a step came to.
pub(crate) enum Stepped {
    Done(StepRecord),
    /// The action starts a sub-agent: the step ends when it has.
    Delegate(DelegateRecord),
    /// The user quit at the approval prompt.
    Quit,
}

/// What every model call of a run shares: the model, the agent, the system prompt (the stable
/// prefix), the action schema and the KV-cache key.
pub(crate) struct Model<'r> {
    pub llm: &'r dyn Llm,
    pub prompts: &'r Prompts,
    pub spec: &'r AgentSpec,
    pub registry: &'r Registry,
    pub system: String,
    pub schema: Value,
    pub cache_key: String,
}

impl<'r> Model<'r> {
    pub fn new(
        llm: &'r dyn Llm,
        prompts: &'r Prompts,
        spec: &'r AgentSpec,
        registry: &'r Registry,
        state: &State,
    ) -> Result<Self> {
        Ok(Model {
            llm,
            prompts,
            spec,
            registry,
            system: history::system_prompt(prompts, spec, registry, &state.start.goal)?,
            schema: action_schema(registry, &spec.tools),
            cache_key: format!("agent:{}", state.start.run_id),
        })
    }

    fn messages(&self, state: &State) -> Result<Vec<Message>> {
        let (messages, _) = history::fit(
            self.llm,
            self.prompts,
            self.spec,
            &self.system,
            &state.start,
            &state.turns(),
            self.spec.max_step_tokens as usize,
        )?;
        Ok(messages)
    }

    fn request(&self, prompt: Vec<Message>, max_tokens: u32, schema: Value) -> GenerateRequest {
        GenerateRequest::chat(prompt)
            .with_max_tokens(max_tokens)
            .with_sampling(self.spec.sampling.clone())
            .with_schema(schema)
            .with_cache_key(&self.cache_key)
    }

    /// Asks the model to reflect on the run so far, for `reason`.
    pub fn reflect(&self, state: &State, reason: &str) -> Result<ReflectRecord> {
        let _span = tracing::info_span!("reflect", reason).entered();
        let mut prompt = self.messages(state)?;
        let ask = history::reflect_message(
            self.prompts,
            self.spec,
            &state.start.goal,
            reason,
            state.step_count(),
        )?;
        match prompt.last_mut() {
            Some(last) if last.role == Role::User => {
                last.content.push_str("\n\n");
                last.content.push_str(&ask);
            }
            _ => prompt.push(Message::user(ask)),
        }
        let request = self.request(prompt.clone(), REFLECT_TOKENS, reflection_schema());
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

    /// The action schema without `barred` (the tool whose repeat was just refused).
    fn schema_without(&self, barred: &str) -> Value {
        let tools: Vec<String> = self
            .spec
            .tools
            .iter()
            .filter(|t| *t != barred)
            .cloned()
            .collect();
        action_schema(self.registry, &tools)
    }

    /// One step.
    pub fn step(
        &self,
        state: &State,
        barred: Option<&str>,
        gate: &mut Gate<'_, '_>,
    ) -> Result<Stepped> {
        let number = state.step_count() + 1;
        let _span = tracing::info_span!("step", number).entered();
        let prompt = self.messages(state)?;
        let schema = barred.map_or_else(|| self.schema.clone(), |t| self.schema_without(t));
        let request = self.request(prompt.clone(), self.spec.max_step_tokens, schema);
        let (raw, mut usage) = match self.llm.generate(&request) {
            Ok(c) => (c.text.clone(), Usage::of(&c, 0.0)),
            // A reply that breaks the schema is the model's mistake: show it to the model.
            Err(hamlet_core::Error::InvalidOutput { text, .. }) => (text, Usage::default()),
            Err(e) => return Err(e.into()),
        };
        let (action, (status, text)) = match parse_action(&raw) {
            Err(why) => (None, (ObservationStatus::Invalid, format!("Your reply was not a valid action: {why}. Reply with one JSON object: {{\"thoughts\": {{...}}, \"tool\": \"...\", \"args\": {{...}}}}."))),
            Ok(action) => match gate.act(state, number, &action, &mut usage.tool_ms) {
                Acted::Quit => return Ok(Stepped::Quit),
                Acted::Observed(observed) => (Some(action), observed),
                Acted::Delegate(child) => {
                    return Ok(Stepped::Delegate(DelegateRecord {
                        step: number,
                        at: now_ms(),
                        prompt,
                        raw,
                        action,
                        usage,
                        child,
                    }))
                }
            },
        };
        Ok(Stepped::Done(StepRecord {
            step: number,
            at: now_ms(),
            prompt,
            raw,
            action,
            observation: history::truncate(status, text, self.spec.observation_chars),
            usage,
        }))
    }
}
