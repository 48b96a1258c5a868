//! Teach the default model Hamlet's action format with LoRA, and measure the difference.
//!
//! The shipped dataset (`examples/data/hamlet-actions.jsonl`, written by
//! `examples/data/gen_hamlet_actions.py`) holds chats whose assistant reply is ONE JSON action:
//! `{"thoughts": {...}, "tool": "read_file", "args": {"path": "notes.txt"}}`. This program:
//!
//! 1. loads SmolLM2-135M from the model cache into candle (f32) and the held-out records;
//! 2. asks llama.cpp for free (unconstrained, greedy) replies to the held-out prompts and counts
//!    how many parse as a valid action with a known tool, and how many pick the expected tool;
//! 3. trains a LoRA adapter (or takes one given with `--adapter FILE`), writes it as a llama.cpp
//!    LoRA GGUF and asks llama.cpp again, with the adapter loaded.
//!
//! Run: `cargo run --release --example tune_actions -- [--steps N] [--adapter FILE] [--out FILE]`
//! (training on 2 CPU cores takes about ten minutes for one epoch).

use std::path::PathBuf;

use hamlet_core::{GenerateRequest, Llm, Message, Sampling};
use hamlet_llm::{LlamaConfig, LlamaLlm};
use hamlet_tune::data::{read_conversations, ChatTemplate};
use hamlet_tune::train::eval_loss;
use hamlet_tune::{Backbone, Dataset, LoadOptions, LoraConfig, TrainConfig, Trainer};
use serde_json::Value;

const TOOLS: [&str; 10] = [
    "read_file",
    "write_file",
    "append_file",
    "list_dir",
    "search_files",
    "calculator",
    "http_get",
    "remember",
    "recall",
    "finish",
];
const TRAIN: &str = "examples/data/hamlet-actions.jsonl";
const HELDOUT: &str = "examples/data/hamlet-actions.heldout.jsonl";

/// Whether a reply is one valid action, and its tool.
fn parse_action(reply: &str) -> Option<String> {
    let v: Value = serde_json::from_str(reply.trim()).ok()?;
    let tool = v.get("tool")?.as_str()?;
    let ok = v.get("thoughts").is_some_and(Value::is_object)
        && v.get("args").is_some_and(Value::is_object)
        && TOOLS.contains(&tool);
    ok.then(|| tool.to_string())
}

/// Greedy free replies to the held-out prompts: (valid actions, expected tool chosen, total).
fn format_score(
    adapter: Option<PathBuf>,
    chats: &[Vec<Message>],
) -> anyhow::Result<(usize, usize, usize)> {
    let mut config =
        LlamaConfig::new(hamlet_models::ModelCache::open_default().resolve("smollm2-135m")?);
    config.parallel = 4;
    config.context = 1024;
    config.lora = adapter;
    let llm = LlamaLlm::load(config)?;
    let requests: Vec<GenerateRequest> = chats
        .iter()
        .map(|c| {
            let mut r = GenerateRequest::chat(c[..c.len() - 1].to_vec());
            r.sampling = Sampling::greedy();
            r.max_tokens = 160;
            r
        })
        .collect();
    let (mut valid, mut expected) = (0, 0);
    for (chat, reply) in chats.iter().zip(llm.generate_batch(&requests)) {
        let reply = reply?.text;
        let want = parse_action(&chat[chat.len() - 1].content);
        match parse_action(&reply) {
            Some(tool) => {
                valid += 1;
                expected += usize::from(Some(tool) == want);
            }
            None => println!(
                "    not an action: {}",
                reply
                    .replace('\n', " ")
                    .chars()
                    .take(100)
                    .collect::<String>()
            ),
        }
    }
    Ok((valid, expected, chats.len()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let steps = flag("--steps").map(|s| s.parse()).transpose()?;
    let out = PathBuf::from(flag("--out").unwrap_or_else(|| "target/hamlet-actions.gguf".into()));

    // 1. The backbone, in candle, from the same GGUF llama.cpp serves; the data, tokenized with the
    //    model's own tokenizer and chat template.
    let path = hamlet_models::ModelCache::open_default().resolve("smollm2-135m")?;
    let backbone = Backbone::load(&path, &hamlet_tune::default_device()?)?;
    let template = ChatTemplate::for_model(backbone.chat_template.as_deref())?;
    let opts = LoadOptions {
        skip_bad: false,
        max_len: 384,
    };
    let data = Dataset::load(
        &backbone.tokenizer,
        &template,
        TRAIN.as_ref(),
        Some(HELDOUT.as_ref()),
        0.0,
        42,
        &opts,
    )?;
    let (heldout, _) = read_conversations(HELDOUT.as_ref(), false)?;
    println!(
        "{} training and {} held-out chats",
        data.train.len(),
        data.eval.len()
    );

    // 2. Before: held-out loss in candle, and what llama.cpp replies without an adapter.
    let loss_before = eval_loss(&backbone, None, &data.eval, 4)?.unwrap_or(f32::NAN);
    let before = format_score(None, &heldout)?;
    println!(
        "before: held-out loss {loss_before:.3}, valid actions {}/{}, expected tool {}/{}",
        before.0, before.2, before.1, before.2
    );

    // 3. Train (or take a given adapter) and write it as a llama.cpp LoRA GGUF.
    let adapter = match flag("--adapter") {
        Some(a) => PathBuf::from(a),
        None => {
            let config = TrainConfig {
                lora: LoraConfig::default(), // rank 8, alpha 16, no dropout, all seven projections
                epochs: 1,
                max_steps: steps,
                lr: 2e-3,
                warmup_steps: 3,
                batch_size: 4,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(&backbone, &data, config)?;
            let summary = trainer.train(&mut |r| {
                println!(
                    "  step {:>3}/{} loss {:.3} ({:.0} tokens/s)",
                    r.step,
                    r.total_steps,
                    r.loss,
                    r.tokens as f64 / r.seconds
                );
            })?;
            println!("trained: {:.0} tokens/s", summary.tokens_per_second());
            trainer.lora.export(&out)?;
            out
        }
    };
    let tuned = hamlet_tune::lora::Lora::from_adapter(&backbone, &adapter)?;
    let loss_after = eval_loss(&backbone, Some(&tuned), &data.eval, 4)?.unwrap_or(f32::NAN);

    // 4. After: the same prompts, llama.cpp with the adapter loaded.
    let after = format_score(Some(adapter.clone()), &heldout)?;
    println!(
        "after:  held-out loss {loss_after:.3}, valid actions {}/{}, expected tool {}/{}",
        after.0, after.2, after.1, after.2
    );
    println!(
        "\nadapter: {} (hamlet generate --lora {} ...)",
        adapter.display(),
        adapter.display()
    );
    Ok(())
}
