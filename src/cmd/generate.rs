//! `hamlet generate`: one prompt in, streamed text (or schema-valid JSON) out.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hamlet_core::{GenerateRequest, Message, Prompt, Sampling};

use crate::opts::{LoraOpts, ModelOpts};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user message (or, with --raw, the text to continue).
    pub prompt: String,
    #[command(flatten)]
    pub model: ModelOpts,
    /// A system message put before the prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as it is, without the model's chat template.
    #[arg(long)]
    pub raw: bool,
    /// Constrain the reply to JSON that validates against this JSON Schema file.
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    #[arg(long, default_value_t = 40)]
    pub top_k: u32,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Stop before this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub lora: LoraOpts,
    /// Print token counts and speed to stderr at the end.
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.prompt.trim().is_empty() {
        bail!("the prompt is empty: pass the text to send, e.g. hamlet generate \"Write a haiku about rain\"");
    }
    let schema = match &a.json_schema {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading JSON schema {}", path.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "JSON schema {} line {} column {}: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                )
            })?;
            hamlet_llm::schema::check(&value)
                .with_context(|| format!("JSON schema {}", path.display()))?;
            Some(value)
        }
        None => None,
    };
    let prompt = if a.raw {
        Prompt::Raw(a.prompt.clone())
    } else {
        let mut msgs = Vec::new();
        if let Some(s) = &a.system {
            msgs.push(Message::system(s.clone()));
        }
        msgs.push(Message::user(a.prompt.clone()));
        Prompt::Chat(msgs)
    };
    let mut req = GenerateRequest::new(prompt)
        .with_max_tokens(a.max_tokens)
        .with_sampling(Sampling {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repeat_penalty: a.repeat_penalty,
            repeat_last_n: 64,
            seed: a.seed,
        });
    req.stop = a.stop.clone();
    req.json_schema = schema;
    req.sampling.validate()?;
    let llm = a.model.backend(1, &a.lora)?;
    let mut out = std::io::stdout().lock();
    let completion = llm.generate_stream(&req, &mut |piece| {
        let _ = out.write_all(piece.as_bytes());
        let _ = out.flush();
    })?;
    writeln!(out)?;
    if a.verbose {
        let t = completion.timings;
        eprintln!(
            "[{} prompt tokens in {:.0} ms, {} generated in {:.0} ms ({:.1} tok/s), finish: {:?}]",
            completion.usage.prompt_tokens,
            t.prompt_ms,
            completion.usage.completion_tokens,
            t.generation_ms,
            super::rate(completion.usage.completion_tokens, t.generation_ms),
            completion.finish
        );
    }
    Ok(())
}
