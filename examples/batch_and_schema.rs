//! Four agents ask the local model at once, and each reply is a tool call that is guaranteed to
//! match the tool's JSON Schema.
//!
//! Run it with `cargo run --release --example batch_and_schema` after `hamlet models pull
//! smollm2-135m` (the quick start does that).

use hamlet_core::{GenerateRequest, Llm, Message, Sampling};
use hamlet_llm::{LlamaConfig, LlamaLlm};
use hamlet_models::ModelCache;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    // Find the default model in the cache (`~/.cache/hamlet`, or `$HAMLET_HOME`).
    let path = ModelCache::open_default().resolve("smollm2-135m")?;

    // One llama.cpp context with four KV-cache slots: four requests decode in one batch.
    let mut config = LlamaConfig::new(path);
    config.parallel = 4;
    config.context = 1024;
    let llm = LlamaLlm::load(config)?;

    // The schema every reply must satisfy: one of two tools, with its argument.
    let schema = json!({
        "type": "object",
        "properties": {
            "tool": {"enum": ["move_to", "say"]},
            "argument": {"type": "string", "maxLength": 40}
        },
        "required": ["tool", "argument"]
    });

    // Each agent gets its own cache key, so its next step reuses its prompt prefix.
    let agents = ["Isabella", "Klaus", "Maria", "Tom"];
    let requests: Vec<GenerateRequest> = agents
        .iter()
        .map(|name| {
            GenerateRequest::chat(vec![
                Message::system(format!("You are {name}, who lives in a small town. Act with a tool: move_to(place) or say(text).")),
                Message::user("It is 8 in the morning. What do you do first?"),
            ])
            .with_schema(schema.clone())
            .with_max_tokens(96)
            .with_sampling(Sampling { temperature: 0.7, seed: 42, ..Default::default() })
            .with_cache_key(*name)
        })
        .collect();

    // One call, one batch; results come back in order, each already parsed and validated. A
    // reply cut off by max_tokens is an error for that agent alone.
    for (name, result) in agents.iter().zip(llm.generate_batch(&requests)) {
        match result {
            Ok(completion) => println!("{name:>9}: {}", completion.json.unwrap_or_default()),
            Err(e) => println!("{name:>9}: no action ({e})"),
        }
    }
    Ok(())
}
