//! Running BFCL cases through any [`Llm`]: prompts from `prompts/bfcl/`, replies constrained by a
//! JSON Schema of the case's functions (or free text, parsed afterwards), verdicts from the checker.

use std::time::Instant;

use hamlet_core::{Error as LlmError, GenerateRequest, Llm, Message, Sampling, TokenUsage};
use serde::Serialize;

use crate::checker::check;
use crate::data::{Answer, Case, Category};
use crate::parse::{parse_calls, Call};
use crate::schema::calls_schema;

const SYSTEM_TEMPLATE: &str = include_str!("../../../prompts/bfcl/system.j2");

/// How the model is asked to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The reply is grammar-constrained to `{"calls": [...]}` over the case's functions.
    Constrained,
    /// The reply is free text (BFCL's Python-call format asked for), parsed afterwards.
    Free,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Constrained => "constrained",
            Mode::Free => "free",
        }
    }
}

/// Settings of one evaluation run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    pub max_tokens: u32,
    /// Cases sent to the backend together (`Llm::generate_batch`).
    pub batch: usize,
    /// Most calls a constrained reply may hold.
    pub max_calls: usize,
    /// Greedy decoding with this repetition penalty (1.0 = off).
    pub repeat_penalty: f32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            mode: Mode::Constrained,
            max_tokens: 256,
            batch: 4,
            max_calls: 6,
            repeat_penalty: 1.0,
        }
    }
}

/// The record of one case (one JSONL line).
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub category: String,
    pub mode: Mode,
    pub prompt: Vec<Message>,
    pub raw_output: String,
    pub calls: Option<Vec<Call>>,
    pub valid: bool,
    pub reason: Option<String>,
    #[serde(flatten)]
    pub usage: TokenUsage,
    pub ms: f64,
}

/// Renders the system prompt for `case`.
pub fn system_prompt(case: &Case, mode: Mode) -> crate::Result<String> {
    let functions: Vec<serde_json::Value> = case
        .functions
        .iter()
        .map(|f| serde_json::json!({"name": f.name, "description": f.description, "parameters": f.parameters}))
        .collect();
    let functions =
        serde_json::to_string(&functions).map_err(|e| crate::Error::Template(e.to_string()))?;
    let env = minijinja::Environment::new();
    env.render_str(
        SYSTEM_TEMPLATE,
        minijinja::context! { constrained => mode == Mode::Constrained, functions },
    )
    .map(|s| s.trim().to_string())
    .map_err(|e| crate::Error::Template(format!("prompts/bfcl/system.j2: {e}")))
}

fn request(case: &Case, opts: &RunOptions) -> crate::Result<GenerateRequest> {
    let mut messages = vec![Message::system(system_prompt(case, opts.mode)?)];
    messages.extend(case.turns.first().cloned().unwrap_or_default());
    let mut req = GenerateRequest::chat(messages)
        .with_max_tokens(opts.max_tokens)
        .with_sampling(Sampling {
            repeat_penalty: opts.repeat_penalty,
            ..Sampling::greedy()
        });
    if opts.mode == Mode::Constrained {
        req = req.with_schema(calls_schema(&case.functions, opts.max_calls)?);
    }
    Ok(req)
}

/// Turns a reply into calls: the parsed JSON in constrained mode, the parser in free mode.
fn calls_of(mode: Mode, json: Option<&serde_json::Value>, text: &str) -> Result<Vec<Call>, String> {
    match (mode, json) {
        (Mode::Constrained, Some(v)) => parse_calls(&v.to_string()).map_err(|e| e.to_string()),
        _ => parse_calls(text).map_err(|e| e.to_string()),
    }
}

/// Runs `cases` and calls `on_result` as each one is scored.
pub fn run(
    llm: &dyn Llm,
    cases: &[(Case, Option<Answer>)],
    opts: &RunOptions,
    on_result: &mut dyn FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let mut out = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(opts.batch.max(1)) {
        let reqs: Vec<crate::Result<GenerateRequest>> =
            chunk.iter().map(|(c, _)| request(c, opts)).collect();
        let ready: Vec<GenerateRequest> = reqs
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let started = Instant::now();
        let mut replies = llm.generate_batch(&ready).into_iter();
        let batch_ms = started.elapsed().as_secs_f64() * 1e3;
        for ((case, answer), req) in chunk.iter().zip(reqs) {
            let prompt = match &req {
                Ok(GenerateRequest {
                    prompt: hamlet_core::Prompt::Chat(m),
                    ..
                }) => m.clone(),
                _ => Vec::new(),
            };
            let mut r = CaseResult {
                id: case.id.clone(),
                category: case.category.as_str().to_string(),
                mode: opts.mode,
                prompt,
                raw_output: String::new(),
                calls: None,
                valid: false,
                reason: None,
                usage: TokenUsage::default(),
                ms: batch_ms / chunk.len() as f64,
            };
            let reply = match req {
                Err(e) => Err(format!("could not build the request: {e}")),
                Ok(_) => match replies.next() {
                    None => Err("no reply".to_string()),
                    Some(Ok(c)) => {
                        r.raw_output = c.text.clone();
                        r.usage = c.usage;
                        r.ms = c.timings.prompt_ms + c.timings.generation_ms;
                        calls_of(opts.mode, c.json.as_ref(), &c.text)
                    }
                    Some(Err(LlmError::InvalidOutput { reason, text })) => {
                        r.raw_output = text;
                        Err(format!("reply is not valid: {reason}"))
                    }
                    Some(Err(e)) => Err(e.to_string()),
                },
            };
            match reply {
                Ok(calls) => {
                    let verdict = check(case.category, &case.functions, answer.as_ref(), &calls);
                    r.valid = verdict.valid;
                    r.reason = verdict.reason;
                    r.calls = Some(calls);
                }
                // As in BFCL: a reply that is no function call counts as "no call", which is right
                // exactly when no function fits.
                Err(why)
                    if matches!(
                        case.category,
                        Category::Irrelevance | Category::LiveIrrelevance
                    ) =>
                {
                    r.valid = true;
                    r.reason = Some(format!("no call ({why})"));
                }
                Err(why) => r.reason = Some(why),
            }
            on_result(&r);
            out.push(r);
        }
    }
    out
}

/// Accuracy of one category in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub category: String,
    pub mode: Mode,
    pub cases: usize,
    pub valid: usize,
    pub accuracy: f64,
    pub mean_completion_tokens: f64,
    pub mean_ms: f64,
}

/// Per-category scores, in the order the categories first appear.
pub fn scores(results: &[CaseResult]) -> Vec<Score> {
    let mut keys: Vec<(String, Mode)> = Vec::new();
    for r in results {
        if !keys.iter().any(|(c, m)| *c == r.category && *m == r.mode) {
            keys.push((r.category.clone(), r.mode));
        }
    }
    keys.into_iter()
        .map(|(category, mode)| {
            let rs: Vec<&CaseResult> = results
                .iter()
                .filter(|r| r.category == category && r.mode == mode)
                .collect();
            let n = rs.len().max(1) as f64;
            let valid = rs.iter().filter(|r| r.valid).count();
            Score {
                cases: rs.len(),
                valid,
                accuracy: valid as f64 / n,
                mean_completion_tokens: rs
                    .iter()
                    .map(|r| r.usage.completion_tokens as f64)
                    .sum::<f64>()
                    / n,
                mean_ms: rs.iter().map(|r| r.ms).sum::<f64>() / n,
                category,
                mode,
            }
        })
        .collect()
}
