//! Shared set-up for the real-model tests: the default models from the cache.
#![allow(dead_code)]

use std::path::PathBuf;

use hamlet_llm::{EmbedConfig, LlamaConfig, LlamaEmbedder, LlamaLlm};

pub fn cached(name: &str) -> PathBuf {
    hamlet_models::ModelCache::open_default().resolve(name).unwrap_or_else(|e| {
        panic!("{e}\nThe real-model tests need the default models: run scripts/test.sh (or `hamlet models pull {name}`).")
    })
}

pub use hamlet_core::testing::threads;

pub fn chat_model() -> PathBuf {
    cached("smollm2-135m")
}

pub fn config(parallel: u32, context: u32) -> LlamaConfig {
    let mut c = LlamaConfig::new(chat_model());
    c.threads = threads();
    c.parallel = parallel;
    c.context = context;
    c
}

pub fn llm(parallel: u32) -> LlamaLlm {
    LlamaLlm::load(config(parallel, 2048)).expect("load the default model")
}

pub fn embedder() -> LlamaEmbedder {
    let mut c = EmbedConfig::new(cached("minilm"));
    c.threads = threads();
    LlamaEmbedder::load(c).expect("load the embedding model")
}
