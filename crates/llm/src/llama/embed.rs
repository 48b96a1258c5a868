//! Sentence embeddings from a pooled llama.cpp context.
//!
//! Meant for a BERT-style embedding model (all-MiniLM-L6-v2 converted to GGUF by `hamlet models
//! pull minilm`); any GGUF works, a chat model too, with mean pooling over its hidden states
//! (much worse: see the notes in `docs/`).

use std::num::NonZeroU32;
use std::path::PathBuf;

use hamlet_core::{l2_normalize, Embedder, Error, Result};
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use super::runtime::{self, Handle};
use super::{backend, load_model};

/// Settings for loading an embedding model.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    pub model: PathBuf,
    pub threads: usize,
    /// Texts embedded together in one batch.
    pub parallel: u32,
    /// Longest text, in tokens; longer texts are cut (with a warning).
    pub max_tokens: u32,
    pub gpu_layers: u32,
}

impl EmbedConfig {
    pub fn new(model: impl Into<PathBuf>) -> Self {
        EmbedConfig {
            model: model.into(),
            threads: super::cores(),
            parallel: 4,
            max_tokens: 512,
            gpu_layers: 0,
        }
    }
}

struct EmbedEngine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    parallel: usize,
    max_tokens: usize,
}

impl EmbedEngine<'_> {
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let _span = tracing::debug_span!("embed", texts = texts.len()).entered();
        let mut tokenized = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            let mut toks = self.model.vocab().tokenize(t.as_bytes(), true, false);
            if t.trim().is_empty() || toks.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "text {i} is empty: nothing to embed"
                )));
            }
            if toks.len() > self.max_tokens {
                tracing::warn!(
                    text = i,
                    tokens = toks.len(),
                    max = self.max_tokens,
                    "text cut to fit the embedding model"
                );
                toks.truncate(self.max_tokens);
            }
            tokenized.push(toks);
        }
        let mut out = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < tokenized.len() {
            // As many texts as fit in one batch.
            let mut end = start;
            let mut used = 0;
            while end < tokenized.len()
                && end - start < self.parallel
                && used + tokenized[end].len() <= self.n_batch
            {
                used += tokenized[end].len();
                end += 1;
            }
            self.ctx.clear_kv_cache();
            self.batch.clear();
            for (seq, toks) in tokenized[start..end].iter().enumerate() {
                self.batch
                    .add_sequence(toks, seq as i32, false)
                    .map_err(|e| Error::backend("building embedding batch", e.to_string()))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| Error::backend("computing embeddings", e.to_string()))?;
            for seq in 0..end - start {
                let mut v = self
                    .ctx
                    .embeddings_seq_ith(seq as i32)
                    .map_err(|e| Error::backend("reading embeddings", e.to_string()))?
                    .to_vec();
                l2_normalize(&mut v);
                out.push(v);
            }
            start = end;
        }
        Ok(out)
    }
}

self_cell::self_cell!(
    /// An embedding model and the engine that borrows it, kept on the llama.cpp thread.
    struct EmbedModel {
        owner: LlamaModel,
        #[not_covariant]
        dependent: EmbedEngine,
    }
);

/// An embedding model served by llama.cpp in this process. Vectors are L2-normalised.
#[derive(Debug)]
pub struct LlamaEmbedder {
    handle: Handle,
    dim: usize,
}

fn load_embedder(cfg: &EmbedConfig) -> Result<EmbedModel> {
    let model = load_model(&cfg.model, cfg.gpu_layers, "embedding model")?;
    EmbedModel::try_new(model, |model| {
        let max_tokens = (cfg.max_tokens as usize)
            .min(model.n_ctx_train() as usize)
            .max(1);
        let n_batch = max_tokens * cfg.parallel as usize;
        let params = LlamaContextParams::default()
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean)
            .with_n_ctx(NonZeroU32::new(n_batch as u32))
            .with_n_batch(n_batch as u32)
            .with_n_ubatch(n_batch as u32)
            .with_n_seq_max(cfg.parallel)
            .with_kv_unified(true)
            .with_n_threads(cfg.threads as i32)
            .with_n_threads_batch(cfg.threads as i32);
        let ctx = model
            .new_context(backend()?, params)
            .map_err(|e| Error::backend("creating llama.cpp embedding context", e.to_string()))?;
        Ok(EmbedEngine {
            model,
            ctx,
            batch: LlamaBatch::new(n_batch, cfg.parallel as i32),
            n_batch,
            parallel: cfg.parallel as usize,
            max_tokens,
        })
    })
}

impl LlamaEmbedder {
    /// Loads the model onto the llama.cpp thread.
    pub fn load(config: EmbedConfig) -> Result<Self> {
        if config.parallel == 0 || config.max_tokens == 0 || config.threads == 0 {
            return Err(Error::InvalidRequest(
                "parallel, max_tokens and threads must be at least 1".into(),
            ));
        }
        let (id, dim) = runtime::run(move || -> Result<(u64, usize)> {
            let cell = load_embedder(&config)?;
            let dim = cell.borrow_owner().n_embd() as usize;
            Ok((runtime::keep(cell), dim))
        })??;
        Ok(LlamaEmbedder {
            handle: Handle(id),
            dim,
        })
    }
}

impl Embedder for LlamaEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
        let id = self.handle.0;
        runtime::run(move || {
            runtime::with::<EmbedModel, _>(id, |cell| {
                cell.with_dependent_mut(|_, e| e.embed(&texts))
            })
        })??
    }
}
