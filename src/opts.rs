//! Options shared by the commands that load a model.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hamlet_core::Llm;
use hamlet_llm::{
    EmbedConfig, HttpConfig, HttpLlm, LlamaConfig, LlamaEmbedder, LlamaLlm, PoolLlm, Routing,
};
use hamlet_models::ModelCache;

/// The default chat model's registry name (see `hamlet_models::default_chat_model`).
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";
/// The model `hamlet tune` trains by default: the small student, which trains in minutes on a CPU
/// (pass `--base qwen2.5-coder-1.5b` to tune the agent model itself).
pub const DEFAULT_TUNE_BASE: &str = "smollm2-135m";
/// The default embedding model's registry name.
pub const DEFAULT_EMBED_MODEL: &str = "minilm";

#[derive(Debug, Clone, clap::Args)]
pub struct ModelOpts {
    /// Model: a GGUF path or a name in the model cache (`hamlet models list`).
    #[arg(long, env = "HAMLET_MODEL", default_value = DEFAULT_MODEL)]
    pub model: String,
    /// CPU threads for llama.cpp (default: all cores).
    #[arg(long, env = "HAMLET_THREADS")]
    pub threads: Option<usize>,
    /// Context size in tokens per sequence.
    #[arg(long = "ctx", default_value_t = 4096)]
    pub context: u32,
    /// Layers to offload to the GPU (builds with `--features cuda`).
    #[arg(long, default_value_t = 0)]
    pub gpu_layers: u32,
    /// Use a model served by an OpenAI-compatible server at this URL (e.g.
    /// http://127.0.0.1:8080/v1) instead of loading one; --model is then the server's model name.
    /// Repeat it (or comma-separate) for a pool of servers of the same model: an agent's
    /// requests stay on one server (its KV cache), and a server that fails is left for the others.
    #[arg(long, env = "HAMLET_SERVER", value_name = "URL", value_delimiter = ',')]
    pub server: Vec<String>,
    /// A file naming pool servers, one URL a line (`#` starts a comment), added to --server.
    #[arg(long, env = "HAMLET_SERVERS", value_name = "FILE")]
    pub servers: Option<PathBuf>,
    /// How a pool of --server URLs shares the requests: affinity (one agent, one server) or
    /// round-robin.
    #[arg(long, value_enum, default_value_t = RoutingOpt::Affinity)]
    pub routing: RoutingOpt,
    /// Requests one pool server is sent at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub server_parallel: usize,
    /// Seconds one reply from --server may take, streamed or not.
    #[arg(
        long,
        env = "HAMLET_SERVER_TIMEOUT",
        default_value_t = 300,
        value_name = "SECS"
    )]
    pub server_timeout: u64,
    /// API key for --server (sent as a bearer token).
    #[arg(long, env = "HAMLET_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// `--routing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoutingOpt {
    Affinity,
    RoundRobin,
}

impl ModelOpts {
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    pub fn model_path(&self) -> Result<PathBuf> {
        resolve(&self.model)
    }

    pub fn config(&self) -> Result<LlamaConfig> {
        let mut c = LlamaConfig::new(self.model_path()?);
        c.threads = self.threads();
        c.context = self.context;
        c.gpu_layers = self.gpu_layers;
        Ok(c)
    }

    /// The chat backend: a server (or a pool of them) when --server is given, else the local
    /// model.
    pub fn backend(&self, parallel: u32, lora: &LoraOpts) -> Result<Box<dyn Llm>> {
        let urls = self.server_urls()?;
        if !urls.is_empty() && lora.lora.is_some() {
            bail!("--lora applies an adapter to a local model; it cannot be used with --server");
        }
        match urls.as_slice() {
            [] => Ok(Box::new(self.load(parallel, lora)?)),
            [url] => {
                let mut c = self.http_config(url);
                c.parallel = parallel.max(1) as usize;
                Ok(Box::new(
                    HttpLlm::new(c).with_context(|| format!("connecting to {url}"))?,
                ))
            }
            _ => Ok(Box::new(self.pool()?)),
        }
    }

    /// The --server URLs as one pool (each server sent at most --server-parallel at once).
    pub fn pool(&self) -> Result<PoolLlm> {
        let configs = self
            .server_urls()?
            .iter()
            .map(|url| {
                let mut c = self.http_config(url);
                c.parallel = self.server_parallel.max(1);
                c
            })
            .collect();
        let routing = match self.routing {
            RoutingOpt::Affinity => Routing::Affinity,
            RoutingOpt::RoundRobin => Routing::RoundRobin,
        };
        PoolLlm::new(configs, routing).context("setting up the server pool")
    }

    /// The servers of `--server` and `--servers FILE`, in that order.
    pub fn server_urls(&self) -> Result<Vec<String>> {
        let mut urls = self.server.clone();
        if let Some(file) = &self.servers {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading --servers {}", file.display()))?;
            for (i, line) in text.lines().enumerate() {
                let url = line.split('#').next().unwrap_or("").trim();
                if url.is_empty() {
                    continue;
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!(
                        "{}:{}: {url:?} is not a server URL: write one http:// or https:// URL a line (e.g. http://10.0.0.5:8080/v1)",
                        file.display(),
                        i + 1
                    );
                }
                urls.push(url.to_string());
            }
            if urls.is_empty() {
                bail!("--servers {} names no server", file.display());
            }
        }
        Ok(urls)
    }

    fn http_config(&self, url: &str) -> HttpConfig {
        let mut c = HttpConfig::new(url, &self.model);
        c.api_key = self.api_key.clone();
        c.timeout = std::time::Duration::from_secs(self.server_timeout.max(1));
        c.context_length = self.context as usize;
        c
    }

    pub fn load(&self, parallel: u32, lora: &LoraOpts) -> Result<LlamaLlm> {
        let mut c = self.config()?;
        c.parallel = parallel;
        c.lora = lora.lora.clone();
        c.lora_scale = lora.lora_scale;
        let shown = c.model.display().to_string();
        LlamaLlm::load(c).with_context(|| format!("loading {shown}"))
    }
}

/// A LoRA adapter to apply to the local model (`hamlet tune` writes them).
#[derive(Debug, Clone, clap::Args)]
pub struct LoraOpts {
    /// A llama.cpp LoRA adapter (GGUF) to apply.
    #[arg(long, value_name = "FILE")]
    pub lora: Option<PathBuf>,
    /// How strongly the adapter applies (1.0: as trained).
    #[arg(long, default_value_t = 1.0)]
    pub lora_scale: f32,
}

impl Default for LoraOpts {
    /// No adapter.
    fn default() -> Self {
        LoraOpts {
            lora: None,
            lora_scale: 1.0,
        }
    }
}

/// Resolves a model name or path through the cache.
pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    Ok(ModelCache::open_default().resolve(name_or_path)?)
}

/// Loads the embedding model. When the default one (MiniLM) is not pulled but a chat model is,
/// the smallest pulled chat model is used instead, with a warning: its mean-pooled states are much
/// weaker embeddings (`hamlet models pull minilm` fixes that).
pub fn load_embedder(name_or_path: &str, threads: usize) -> Result<LlamaEmbedder> {
    let cache = ModelCache::open_default();
    let path = match cache.resolve(name_or_path) {
        Ok(p) => p,
        Err(e) if name_or_path == DEFAULT_EMBED_MODEL => {
            let mut chats: Vec<_> = hamlet_models::registry()
                .iter()
                .filter(|s| s.kind == hamlet_models::ModelKind::Chat)
                .filter_map(|s| cache.path_of(s.name).map(|p| (s.size, s.name, p)))
                .collect();
            chats.sort();
            match chats.into_iter().next() {
                Some((_, chat, path)) => {
                    tracing::warn!(
                        "{DEFAULT_EMBED_MODEL} is not pulled: embedding with the chat model {chat}, which gives much weaker vectors (run `hamlet models pull {DEFAULT_EMBED_MODEL}`)"
                    );
                    path
                }
                None => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut c = EmbedConfig::new(&path);
    c.threads = threads;
    LlamaEmbedder::load(c).with_context(|| format!("loading embedding model {}", path.display()))
}
