//! The decode engine that runs on the llama.cpp worker thread.
//!
//! One llama.cpp context holds `parallel` sequences ("slots"), each with its own KV cache. A slot
//! remembers the tokens it holds, so a request that shares a prefix with them (the same agent's
//! next step) decodes only the new suffix. A batch of requests is prefilled together and then
//! decoded in lock-step, one token per live sequence per `llama_decode`, each with its own sampler,
//! grammar and stop rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hamlet_core::{
    Completion, Error, FinishReason, GenerateRequest, Prompt, Result, Timings, TokenUsage,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::sampler::Sampler;
use crate::schema::CompiledSchema;
use crate::text::TextStream;

#[derive(Debug, Default)]
struct Slot {
    /// Tokens whose keys and values are in this sequence's KV cache, in order.
    tokens: Vec<LlamaToken>,
    key: Option<String>,
    last_used: u64,
}

/// A request that passed validation and is ready to decode.
struct Prepared {
    index: usize,
    tokens: Vec<LlamaToken>,
    sampler: Sampler,
    schema: Option<Arc<CompiledSchema>>,
    max_tokens: usize,
    stops: Vec<String>,
    cache_key: Option<String>,
}

/// A sequence being decoded.
struct Live {
    prepared: Prepared,
    seq: usize,
    cached: usize,
    pos: usize,
    logits_at: i32,
    stream: TextStream,
    generated: usize,
    finish: Option<FinishReason>,
    first_token: Option<Instant>,
    ended: Option<Instant>,
}

pub(crate) struct Engine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    slots: Vec<Slot>,
    n_ctx_seq: usize,
    n_batch: usize,
    batch: LlamaBatch<'static>,
    template: Option<LlamaChatTemplate>,
    schemas: HashMap<String, Arc<CompiledSchema>>,
    lora: Option<LlamaLoraAdapter>,
    tick: u64,
}

fn backend_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(what, e.to_string())
}

impl<'m> Engine<'m> {
    pub(crate) fn new(
        model: &'m LlamaModel,
        ctx: LlamaContext<'m>,
        parallel: usize,
        n_batch: usize,
        lora: Option<LlamaLoraAdapter>,
    ) -> Self {
        let n_ctx_seq = ctx.n_ctx() as usize / parallel.max(1);
        let template = model.chat_template(None).ok();
        if template.is_none() {
            tracing::warn!("model has no chat template; chat prompts use ChatML");
        }
        Engine {
            model,
            ctx,
            slots: (0..parallel.max(1)).map(|_| Slot::default()).collect(),
            n_ctx_seq,
            n_batch: n_batch.max(parallel.max(1)),
            batch: LlamaBatch::new(n_batch.max(parallel.max(1)), 1),
            template,
            schemas: HashMap::new(),
            lora,
            tick: 0,
        }
    }

    pub(crate) fn n_ctx_seq(&self) -> usize {
        self.n_ctx_seq
    }

    /// Forgets every cached prefix.
    pub(crate) fn clear_cache(&mut self) {
        self.ctx.clear_kv_cache();
        for s in &mut self.slots {
            s.tokens.clear();
            s.key = None;
        }
    }

    /// Sets the loaded adapter's scale; 0 removes it. Cached prefixes are dropped, since they were
    /// computed with other weights.
    pub(crate) fn set_lora_scale(&mut self, scale: f32) -> Result<()> {
        let Some(adapter) = self.lora.as_mut() else {
            return Err(Error::InvalidRequest(
                "no LoRA adapter was loaded with the model (--lora FILE)".into(),
            ));
        };
        if scale == 0.0 {
            self.ctx
                .lora_adapter_remove(adapter)
                .map_err(|e| backend_err("removing LoRA adapter", e))?;
        } else {
            self.ctx
                .lora_adapter_set(adapter, scale)
                .map_err(|e| backend_err("applying LoRA adapter", e))?;
        }
        self.clear_cache();
        Ok(())
    }

    pub(crate) fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), false, true)
    }

    /// Token ids as a prompt gets them (special tokens parsed; BOS/EOS added when `add_special`).
    pub(crate) fn token_ids(&self, text: &str, add_special: bool) -> Vec<i32> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    /// Formats a prompt into the text the model sees.
    pub(crate) fn format(&self, prompt: &Prompt) -> Result<String> {
        match prompt {
            Prompt::Raw(text) => Ok(text.clone()),
            Prompt::Chat(messages) => match &self.template {
                Some(tmpl) => {
                    let msgs = messages
                        .iter()
                        .map(|m| {
                            LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone())
                        })
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| Error::InvalidRequest(format!("chat message: {e}")))?;
                    self.model
                        .apply_chat_template(tmpl, &msgs, true)
                        .map_err(|e| backend_err("applying the model's chat template", e))
                }
                None => Ok(hamlet_core::chatml::prompt(messages)),
            },
        }
    }

    /// The logits for the token after `prompt` (used to check adapters and numerics).
    pub(crate) fn next_token_logits(&mut self, prompt: &Prompt) -> Result<Vec<f32>> {
        let text = self.format(prompt)?;
        let tokens = self.model.vocab().tokenize(text.as_bytes(), true, true);
        if tokens.is_empty() {
            return Err(Error::InvalidRequest("prompt is empty".into()));
        }
        self.check_fits(tokens.len())?;
        self.ctx
            .clear_kv_cache_seq(Some(0), None, None)
            .map_err(|e| backend_err("clearing KV cache", e))?;
        self.slots[0].tokens.clear();
        self.slots[0].key = None;
        let last = self.prefill(&[(0usize, &tokens[..])])?;
        self.slots[0].tokens = tokens;
        Ok(self.ctx.get_logits_ith(last[0]).to_vec())
    }

    fn check_fits(&self, prompt_tokens: usize) -> Result<()> {
        if prompt_tokens + 1 > self.n_ctx_seq {
            return Err(Error::ContextOverflow {
                prompt_tokens,
                context: self.n_ctx_seq,
            });
        }
        Ok(())
    }

    fn prepare(&mut self, index: usize, req: &GenerateRequest) -> Result<Prepared> {
        req.validate()?;
        let schema = match &req.json_schema {
            Some(s) => Some(self.compile(s)?),
            None => None,
        };
        let text = self.format(&req.prompt)?;
        let tokens = self.model.vocab().tokenize(text.as_bytes(), true, true);
        self.check_fits(tokens.len())?;
        let sampler = Sampler::new(
            self.model,
            &req.sampling,
            schema.as_deref().map(|s| s.grammar.as_str()),
        )?;
        Ok(Prepared {
            index,
            tokens,
            sampler,
            schema,
            max_tokens: req.max_tokens as usize,
            stops: req.stop.clone(),
            cache_key: req.cache_key.clone(),
        })
    }

    fn compile(&mut self, schema: &serde_json::Value) -> Result<Arc<CompiledSchema>> {
        let key = schema.to_string();
        if let Some(c) = self.schemas.get(&key) {
            return Ok(c.clone());
        }
        let compiled = Arc::new(CompiledSchema::new(schema)?);
        if self.schemas.len() > 256 {
            self.schemas.clear();
        }
        self.schemas.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Runs requests, `parallel` at a time; `on_text(i, piece)` streams request `i`'s text.
    pub(crate) fn generate(
        &mut self,
        requests: &[GenerateRequest],
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Vec<Result<Completion>> {
        let _span = tracing::debug_span!("generate", requests = requests.len()).entered();
        let mut results: Vec<Option<Result<Completion>>> = requests.iter().map(|_| None).collect();
        let mut ready = Vec::new();
        for (i, req) in requests.iter().enumerate() {
            match self.prepare(i, req) {
                Ok(p) => ready.push(p),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let parallel = self.slots.len();
        let mut ready = ready.into_iter().peekable();
        while ready.peek().is_some() {
            let group: Vec<Prepared> = ready.by_ref().take(parallel).collect();
            let indices: Vec<usize> = group.iter().map(|p| p.index).collect();
            match self.run_group(group, on_text) {
                Ok(done) => {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
                Err(e) => {
                    // A failed decode leaves the caches in an unknown state: start clean.
                    self.clear_cache();
                    let msg = e.to_string();
                    for i in indices {
                        results[i] = Some(Err(Error::backend("decoding", msg.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::backend("decoding", "request was not run"))))
            .collect()
    }

    /// Picks a slot for each request: same cache key, else longest shared prefix, else least
    /// recently used.
    fn assign_slots(&mut self, group: &[Prepared]) -> Vec<usize> {
        let mut free: Vec<bool> = vec![true; self.slots.len()];
        let mut chosen = vec![usize::MAX; group.len()];
        for (g, p) in group.iter().enumerate() {
            if let Some(key) = &p.cache_key {
                if let Some(s) = (0..self.slots.len())
                    .find(|&s| free[s] && self.slots[s].key.as_ref() == Some(key))
                {
                    chosen[g] = s;
                    free[s] = false;
                }
            }
        }
        for (g, p) in group.iter().enumerate() {
            if chosen[g] != usize::MAX {
                continue;
            }
            let best = (0..self.slots.len())
                .filter(|&s| free[s])
                .max_by_key(|&s| {
                    let shared = common_prefix(&self.slots[s].tokens, &p.tokens);
                    // Prefer sharing; among equals, the least recently used (negated for max).
                    (shared, u64::MAX - self.slots[s].last_used)
                })
                .unwrap_or(0);
            chosen[g] = best;
            free[best] = false;
        }
        chosen
    }

    /// Decodes every sequence's tokens; logits are kept for each sequence's last token only.
    /// Returns the batch index of each sequence's logits, in order.
    fn prefill(&mut self, seqs: &[(usize, &[LlamaToken])]) -> Result<Vec<i32>> {
        // Every sequence's uncached tokens but its last, then every sequence's last token.
        let mut tokens: Vec<(usize, usize, LlamaToken)> = Vec::new();
        for (seq, toks) in seqs {
            let start = self.slots[*seq].tokens.len();
            let end = toks.len().saturating_sub(1);
            tokens.extend((start.min(end)..end).map(|i| (*seq, i, toks[i])));
        }
        let bulk = tokens.len();
        tokens.extend(
            seqs.iter()
                .map(|(seq, toks)| (*seq, toks.len() - 1, toks[toks.len() - 1])),
        );
        // Decode in chunks of n_batch, as a plain loop would (so one sequence gets bit-identical
        // logits); all the last tokens must share the final chunk, else they get one of their own.
        let n = self.n_batch;
        let tail = match tokens.len() % n {
            0 => n,
            r => r,
        };
        let mut bounds: Vec<usize> = (0..tokens.len()).step_by(n).collect();
        if tail < seqs.len() {
            bounds = (0..bulk).step_by(n).collect();
            bounds.push(bulk);
        }
        bounds.push(tokens.len());
        for w in bounds.windows(2) {
            self.batch.clear();
            for (i, &(seq, pos, tok)) in tokens[w[0]..w[1]].iter().enumerate() {
                let logits = w[0] + i >= bulk;
                self.batch
                    .add(tok, pos as i32, &[seq as i32], logits)
                    .map_err(|e| backend_err("building batch", e))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| backend_err("evaluating prompt", e))?;
        }
        let last_chunk = tokens.len() - bounds[bounds.len() - 2];
        let first = (last_chunk - seqs.len()) as i32;
        Ok((0..seqs.len() as i32).map(|i| first + i).collect())
    }

    fn run_group(
        &mut self,
        group: Vec<Prepared>,
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Result<Vec<(usize, Result<Completion>)>> {
        let started = Instant::now();
        self.tick += 1;
        let seqs = self.assign_slots(&group);
        let mut live: Vec<Live> = Vec::with_capacity(group.len());
        for (p, seq) in group.into_iter().zip(seqs) {
            // Keep the shared prefix, but always evaluate at least the last prompt token.
            let mut keep =
                common_prefix(&self.slots[seq].tokens, &p.tokens).min(p.tokens.len() - 1);
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(seq as u32), Some(keep as u32), None)
                .map_err(|e| backend_err("trimming KV cache", e))?;
            if !removed {
                self.ctx
                    .clear_kv_cache_seq(Some(seq as u32), None, None)
                    .map_err(|e| backend_err("clearing KV cache", e))?;
                keep = 0;
            }
            let slot = &mut self.slots[seq];
            slot.tokens.truncate(keep);
            slot.key = p.cache_key.clone();
            slot.last_used = self.tick;
            live.push(Live {
                seq,
                cached: keep,
                pos: p.tokens.len(),
                logits_at: 0,
                stream: TextStream::new(&p.stops),
                generated: 0,
                finish: None,
                first_token: None,
                ended: None,
                prepared: p,
            });
        }
        let inputs: Vec<(usize, Vec<LlamaToken>)> = live
            .iter()
            .map(|l| (l.seq, l.prepared.tokens.clone()))
            .collect();
        let refs: Vec<(usize, &[LlamaToken])> = inputs.iter().map(|(s, t)| (*s, &t[..])).collect();
        let logits = self.prefill(&refs)?;
        for ((l, at), (seq, toks)) in live.iter_mut().zip(logits).zip(inputs) {
            l.logits_at = at;
            self.slots[seq].tokens = toks;
        }

        loop {
            self.batch.clear();
            for l in live.iter_mut().filter(|l| l.finish.is_none()) {
                let tok =
                    l.prepared
                        .sampler
                        .sample(&self.ctx, l.logits_at, self.model.vocab().eos());
                l.first_token.get_or_insert_with(Instant::now);
                if self.model.vocab().is_eog(tok) {
                    l.finish = Some(FinishReason::Stop);
                } else {
                    l.generated += 1;
                    let piece = self.model.vocab().token_to_piece(tok, false, None);
                    let (out, stopped) = l.stream.push(&piece);
                    if !out.is_empty() {
                        on_text(l.prepared.index, &out);
                    }
                    if stopped {
                        l.finish = Some(FinishReason::StopString);
                    } else if l.generated >= l.prepared.max_tokens {
                        l.finish = Some(FinishReason::Length);
                    } else if l.pos + 1 >= self.n_ctx_seq {
                        l.finish = Some(FinishReason::ContextFull);
                    } else {
                        l.logits_at = self.batch.n_tokens();
                        self.batch
                            .add(tok, l.pos as i32, &[l.seq as i32], true)
                            .map_err(|e| backend_err("building batch", e))?;
                        self.slots[l.seq].tokens.push(tok);
                        l.pos += 1;
                    }
                }
                if l.finish.is_some() {
                    l.ended = Some(Instant::now());
                }
            }
            if self.batch.n_tokens() == 0 {
                break;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| backend_err("generating", e))?;
        }

        Ok(live
            .into_iter()
            .map(|mut l| {
                let rest = l.stream.finish();
                if !rest.is_empty() {
                    on_text(l.prepared.index, &rest);
                }
                let first = l.first_token.unwrap_or(started);
                let ended = l.ended.unwrap_or_else(Instant::now);
                let text = l.stream.text().to_string();
                let json = match &l.prepared.schema {
                    Some(schema) => match schema.parse(&text) {
                        Ok(v) => Some(v),
                        Err(e) => return (l.prepared.index, Err(with_finish(e, l.finish))),
                    },
                    None => None,
                };
                let completion = Completion {
                    text,
                    finish: l.finish.unwrap_or(FinishReason::Stop),
                    usage: TokenUsage::new(
                        l.prepared.tokens.len() as u64,
                        l.cached as u64,
                        l.generated as u64,
                    ),
                    timings: Timings {
                        prompt_ms: (first - started).as_secs_f64() * 1e3,
                        generation_ms: (ended - first).as_secs_f64() * 1e3,
                    },
                    json,
                };
                tracing::debug!(
                    request = l.prepared.index,
                    slot = l.seq,
                    prompt_tokens = completion.usage.prompt_tokens,
                    cached_tokens = completion.usage.cached_tokens,
                    completion_tokens = completion.usage.completion_tokens,
                    prompt_ms = completion.timings.prompt_ms,
                    generation_ms = completion.timings.generation_ms,
                    finish = ?completion.finish,
                    "completed"
                );
                (l.prepared.index, Ok(completion))
            })
            .collect())
    }
}

/// Says why a schema-constrained reply is incomplete when a limit cut it short.
fn with_finish(e: Error, finish: Option<FinishReason>) -> Error {
    match (e, finish) {
        (
            Error::InvalidOutput { reason, text },
            Some(FinishReason::Length | FinishReason::ContextFull),
        ) => Error::InvalidOutput {
            reason: format!("{reason}; the reply was cut off by max_tokens or the context size"),
            text,
        },
        (e, _) => e,
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
