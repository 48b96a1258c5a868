//! llama.cpp in process, through `llama-cpp-2`.
//!
//! Every model and context lives on one llama.cpp thread for the whole process (see [`runtime`]);
//! [`LlamaLlm`] and [`LlamaEmbedder`] are cheap handles that send jobs to it, so they are `Send +
//! Sync` and can be shared by many agents.

mod embed;
mod engine;
mod runtime;
mod sampler;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hamlet_core::{Completion, Error, GenerateRequest, Llm, ModelInfo, Prompt, Result};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

pub use embed::{EmbedConfig, LlamaEmbedder};
use engine::Engine;
pub(crate) use runtime::{keep, run, with, Handle};

/// Settings for loading a chat/completion model.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub model: PathBuf,
    /// CPU threads for llama.cpp (generation and prompt evaluation).
    pub threads: usize,
    /// Tokens each sequence can hold.
    pub context: u32,
    /// Sequences decoded together (one KV-cache slot each).
    pub parallel: u32,
    /// Tokens per `llama_decode` call during prompt evaluation.
    pub batch: u32,
    /// Layers offloaded to the GPU (needs the `cuda` feature).
    pub gpu_layers: u32,
    /// A LoRA adapter (llama.cpp GGUF) applied with `lora_scale`.
    pub lora: Option<PathBuf>,
    pub lora_scale: f32,
    /// One KV cache shared by all sequences instead of one per sequence. Batches decode faster
    /// (about 1.2x at 4-16 sequences on 2 cores), but a sequence's greedy text can then differ
    /// from the same request decoded alone, because attention runs over a differently laid out
    /// cache. Off by default: batched results equal one-by-one results.
    pub kv_unified: bool,
}

/// The cores this process may use (llama.cpp's default thread count).
fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl LlamaConfig {
    pub fn new(model: impl Into<PathBuf>) -> Self {
        LlamaConfig {
            model: model.into(),
            threads: cores(),
            context: 4096,
            parallel: 1,
            batch: 512,
            gpu_layers: 0,
            lora: None,
            lora_scale: 1.0,
            kv_unified: false,
        }
    }
}

/// The process-wide llama.cpp backend; its log lines go to `tracing`.
pub(crate) fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(true),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::backend("initialising llama.cpp", e.clone()))
}

/// Checks a model path before llama.cpp sees it, so that a wrong path is a clear error.
pub(crate) fn check_gguf(path: &Path, what: &str) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| {
        Error::ModelFile(format!(
            "{what} file {}: {e} (run `hamlet models pull` or pass --model PATH)",
            path.display()
        ))
    })?;
    if f.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(Error::ModelFile(format!(
            "{what} file {} is not a GGUF file (it does not start with the GGUF magic bytes)",
            path.display()
        )));
    }
    Ok(())
}

/// What a GPU request says on a build without CUDA.
pub(crate) const BUILT_WITHOUT_CUDA: &str =
    "built without cuda: rebuild with `cargo build --release --features cuda`";

pub(crate) fn load_model(path: &Path, gpu_layers: u32, what: &str) -> Result<LlamaModel> {
    if gpu_layers > 0 && !cfg!(feature = "cuda") {
        return Err(Error::Unsupported(format!(
            "offloading {gpu_layers} layers of the {what} to the GPU (--gpu-layers): {BUILT_WITHOUT_CUDA}"
        )));
    }
    check_gguf(path, what)?;
    let params = LlamaModelParams::default().with_n_gpu_layers(gpu_layers);
    LlamaModel::load_from_file(backend()?, path, &params).map_err(|_| {
        Error::ModelFile(format!(
            "llama.cpp could not load {} as a {what}: the file is corrupt, truncated or of an unsupported architecture (RUST_LOG=llama-cpp-2=info shows llama.cpp's reason)",
            path.display()
        ))
    })
}

self_cell::self_cell!(
    /// A chat model and the engine (context, slots) that borrows it, kept on the llama.cpp thread.
    pub(crate) struct ChatModel {
        owner: LlamaModel,
        #[not_covariant]
        dependent: Engine,
    }
);

/// A chat/completion model served by llama.cpp in this process.
#[derive(Debug)]
pub struct LlamaLlm {
    handle: Handle,
    info: ModelInfo,
}

fn load_chat(cfg: &LlamaConfig) -> Result<ChatModel> {
    let mut model = load_model(&cfg.model, cfg.gpu_layers, "model")?;
    let lora = match &cfg.lora {
        Some(path) => {
            check_gguf(path, "LoRA adapter")?;
            Some(model.lora_adapter_init(path).map_err(|_| {
                Error::ModelFile(format!(
                    "llama.cpp could not load the LoRA adapter {}: it is not an adapter for this model (architecture or tensor shapes differ)",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    let n_ctx = cfg.context.saturating_mul(cfg.parallel);
    let batch = cfg.batch.max(cfg.parallel);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(batch)
        .with_n_ubatch(batch)
        .with_n_seq_max(cfg.parallel)
        .with_kv_unified(cfg.kv_unified)
        .with_n_threads(cfg.threads as i32)
        .with_n_threads_batch(cfg.threads as i32);
    ChatModel::try_new(model, |model| {
        let ctx = model
            .new_context(backend()?, params)
            .map_err(|e| Error::backend("creating llama.cpp context", e.to_string()))?;
        let mut engine = Engine::new(model, ctx, cfg.parallel as usize, batch as usize, lora);
        if cfg.lora.is_some() {
            engine.set_lora_scale(cfg.lora_scale)?;
        }
        Ok(engine)
    })
}

impl LlamaLlm {
    /// Loads the model onto the llama.cpp thread.
    pub fn load(config: LlamaConfig) -> Result<Self> {
        if config.parallel == 0 || config.context < 16 || config.threads == 0 {
            return Err(Error::InvalidRequest(
                "parallel and threads must be at least 1 and context at least 16 tokens".into(),
            ));
        }
        let name = config
            .model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parallel = config.parallel as usize;
        let (id, n_ctx_seq) = runtime::run(move || -> Result<(u64, usize)> {
            let cell = load_chat(&config)?;
            let n = cell.with_dependent(|_, e| e.n_ctx_seq());
            Ok((runtime::keep(cell), n))
        })??;
        Ok(LlamaLlm {
            handle: Handle(id),
            info: ModelInfo {
                name,
                context_length: n_ctx_seq,
                parallel,
            },
        })
    }

    fn call<R: Send + 'static>(
        &self,
        f: impl for<'m> FnOnce(&mut Engine<'m>) -> R + Send + 'static,
    ) -> Result<R> {
        let id = self.handle.0;
        runtime::run(move || {
            runtime::with::<ChatModel, _>(id, |cell| cell.with_dependent_mut(|_, e| f(e)))
        })?
    }

    /// Sets the scale of the adapter loaded with [`LlamaConfig::lora`]; 0 removes it.
    pub fn set_lora_scale(&self, scale: f32) -> Result<()> {
        self.call(move |e| e.set_lora_scale(scale))?
    }

    /// The model's logits for the token that follows `prompt`.
    pub fn next_token_logits(&self, prompt: &Prompt) -> Result<Vec<f32>> {
        let prompt = prompt.clone();
        self.call(move |e| e.next_token_logits(&prompt))?
    }

    /// The token ids llama.cpp makes of `text`, special tokens (`<|im_start|>`) parsed; with
    /// `add_special` the model's BOS/EOS are added as for a prompt. Used to check other tokenizers.
    pub fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<i32>> {
        let text = text.to_string();
        self.call(move |e| e.token_ids(&text, add_special))
    }

    /// Forgets every cached prompt prefix.
    pub fn clear_cache(&self) -> Result<()> {
        self.call(|e| e.clear_cache())
    }

    /// The exact text the model sees for `prompt` (chat template applied).
    pub fn format_prompt(&self, prompt: &Prompt) -> Result<String> {
        let prompt = prompt.clone();
        self.call(move |e| e.format(&prompt))?
    }
}

impl Llm for LlamaLlm {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate_stream(
        &self,
        request: &GenerateRequest,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        enum Msg {
            Text(String),
            Done(Result<Completion>),
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let req = request.clone();
        let id = self.handle.0;
        runtime::submit(move || {
            let stream_tx = tx.clone();
            let result = runtime::with::<ChatModel, _>(id, |cell| {
                cell.with_dependent_mut(|_, e| {
                    e.generate(std::slice::from_ref(&req), &mut |_, piece| {
                        let _ = stream_tx.send(Msg::Text(piece.to_string()));
                    })
                })
            })
            .and_then(|mut out| {
                out.pop()
                    .unwrap_or_else(|| Err(Error::backend("decoding", "no result")))
            });
            let _ = tx.send(Msg::Done(result));
        })?;
        for msg in rx {
            match msg {
                Msg::Text(t) => on_text(&t),
                Msg::Done(r) => return r,
            }
        }
        Err(Error::backend(
            "llama.cpp thread",
            "the job failed (see the log)",
        ))
    }

    fn generate_batch(&self, requests: &[GenerateRequest]) -> Vec<Result<Completion>> {
        let reqs = requests.to_vec();
        let n = reqs.len();
        match self.call(move |e| e.generate(&reqs, &mut |_, _| {})) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.to_string();
                (0..n)
                    .map(|_| Err(Error::backend("llama.cpp thread", msg.clone())))
                    .collect()
            }
        }
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        let text = text.to_string();
        self.call(move |e| e.tokenize(&text).len())
    }

    /// The schema must pass the checks of a request and become a llama.cpp grammar.
    fn check_schema(&self, schema: &serde_json::Value) -> Result<()> {
        crate::schema::check(schema)?;
        crate::schema::to_grammar(schema).map(drop)
    }
}
