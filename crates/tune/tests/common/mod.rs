//! Shared set-up for the real-model tests: the default chat model from the cache, loaded once.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;
use hamlet_llm::{LlamaConfig, LlamaLlm};
use hamlet_tune::Backbone;

pub fn cached(name: &str) -> PathBuf {
    hamlet_models::ModelCache::open_default().resolve(name).unwrap_or_else(|e| {
        panic!("{e}\nThe real-model tests need the default models: run scripts/test.sh (or `hamlet models pull {name}`).")
    })
}

pub fn chat_model() -> PathBuf {
    cached("smollm2-135m")
}

pub fn backbone() -> &'static Backbone {
    static B: OnceLock<Backbone> = OnceLock::new();
    B.get_or_init(|| Backbone::load(&chat_model(), &Device::Cpu).expect("load the backbone"))
}

pub fn threads() -> usize {
    std::env::var("HAMLET_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
}

pub fn llm(lora: Option<PathBuf>) -> LlamaLlm {
    let mut c = LlamaConfig::new(chat_model());
    c.threads = threads();
    c.context = 1024;
    c.lora = lora;
    LlamaLlm::load(c).expect("load the default model")
}
