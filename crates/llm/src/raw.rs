//! A minimal direct llama-cpp-2 generation loop: the baseline for `hamlet bench llm`.
//!
//! It does what a user of the raw bindings would write (tokenize, decode the prompt, sample
//! greedily, decode one token at a time) and nothing else, so the ratio of Hamlet's throughput to
//! this loop's is Hamlet's overhead.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use hamlet_core::{Error, Result};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;

use crate::llama::{backend, keep, load_model, run, with, Handle};

/// What one raw run measured.
#[derive(Debug, Clone)]
pub struct RawRun {
    pub prompt_tokens: usize,
    pub prompt_ms: f64,
    pub generated: usize,
    pub generation_ms: f64,
    pub text: String,
}

/// A model loaded for raw runs. It lives on the same llama.cpp thread as Hamlet's models, so
/// both are measured with the same threading.
pub struct RawModel {
    handle: Handle,
}

impl RawModel {
    pub fn load(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let id = run(move || load_model(&path, 0, "model").map(keep))??;
        Ok(RawModel { handle: Handle(id) })
    }

    /// Greedy generation of up to `max_tokens` after `prompt` (already formatted text).
    pub fn generate(
        &self,
        prompt: &str,
        max_tokens: usize,
        threads: usize,
        context: u32,
    ) -> Result<RawRun> {
        let (id, prompt) = (self.handle.0, prompt.to_string());
        run(move || {
            with::<LlamaModel, _>(id, |model| {
                generate(model, &prompt, max_tokens, threads, context)
            })?
        })?
    }
}

fn generate(
    model: &LlamaModel,
    prompt: &str,
    max_tokens: usize,
    threads: usize,
    context: u32,
) -> Result<RawRun> {
    let err = |what: &'static str| move |e: String| Error::backend(what, e);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(context))
        .with_n_batch(512)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let mut ctx = model
        .new_context(backend()?, params)
        .map_err(|e| err("context")(e.to_string()))?;
    let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
    let mut batch = LlamaBatch::new(512, 1);
    let t0 = Instant::now();
    let chunks: Vec<&[_]> = tokens.chunks(512).collect();
    for (c, chunk) in chunks.iter().enumerate() {
        batch.clear();
        for (i, t) in chunk.iter().enumerate() {
            let pos = (c * 512 + i) as i32;
            let last = c + 1 == chunks.len() && i + 1 == chunk.len();
            batch
                .add(*t, pos, &[0], last)
                .map_err(|e| err("batch")(e.to_string()))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| err("decode")(e.to_string()))?;
    }
    let prompt_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut sampler = LlamaSampler::greedy();
    let mut text = Vec::new();
    let mut generated = 0;
    let mut pos = tokens.len() as i32;
    let t1 = Instant::now();
    while generated < max_tokens {
        let tok = sampler.sample(&ctx, batch.n_tokens() - 1);
        if model.vocab().is_eog(tok) {
            break;
        }
        text.extend(model.vocab().token_to_piece(tok, false, None));
        generated += 1;
        if generated >= max_tokens {
            break;
        }
        batch.clear();
        batch
            .add(tok, pos, &[0], true)
            .map_err(|e| err("batch")(e.to_string()))?;
        pos += 1;
        ctx.decode(&mut batch)
            .map_err(|e| err("decode")(e.to_string()))?;
    }
    Ok(RawRun {
        prompt_tokens: tokens.len(),
        prompt_ms,
        generated,
        generation_ms: t1.elapsed().as_secs_f64() * 1e3,
        text: String::from_utf8_lossy(&text).into_owned(),
    })
}
