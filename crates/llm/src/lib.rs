//! Hamlet's model backends.
//!
//! - [`LlamaLlm`] / [`LlamaEmbedder`]: llama.cpp in this process through `llama-cpp-2` (CPU by
//!   default, NVIDIA GPUs with the `cuda` feature): chat templates, sampling, JSON-Schema-constrained
//!   output, KV-cache reuse across requests, many requests decoded in one batch, LoRA adapters.
//! - [`HttpLlm`] / [`HttpEmbedder`]: any OpenAI-compatible server (llama.cpp's server, vLLM,
//!   Ollama, OpenAI) over HTTP with reqwest; replies streamed, schema replies validated here too.
//! - [`openai`]: the OpenAI wire format as serde types, shared with `hamlet serve`.
//! - [`schema`]: JSON Schema → llama.cpp grammar, and validation of replies.
//! - [`raw`]: a minimal direct llama-cpp-2 loop, the baseline that `hamlet bench llm` compares to.
//!
//! Both implement the `hamlet_core` traits, so callers never name a backend type.

mod http;
mod llama;
pub mod openai;
mod pool;
pub mod raw;
pub mod schema;
mod text;

pub use http::{HttpConfig, HttpEmbedder, HttpFailure, HttpLlm};
pub use llama::{EmbedConfig, LlamaConfig, LlamaEmbedder, LlamaLlm};
pub use pool::{PoolLlm, Routing, ServerStats};
