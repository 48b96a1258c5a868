//! LoRA adapters change logits and removing them restores them; MiniLM embeddings rank related
//! sentences above unrelated ones.

mod common;

use candle_core::{DType, Device, Tensor};
use hamlet_core::{Embedder, Message, Prompt};
use hamlet_llm::LlamaLlm;

/// A small random adapter on attention q and v of every layer of SmolLM2-135M (576 wide, 192 kv).
fn write_adapter(path: &std::path::Path) {
    let rank = 4;
    let mut tensors = Vec::new();
    for layer in 0..30 {
        for (name, out) in [("attn_q", 576), ("attn_v", 192)] {
            let a = Tensor::randn(0f32, 0.05, (rank, 576), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap();
            let b = Tensor::randn(0f32, 0.05, (out, rank), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap();
            tensors.push((format!("blk.{layer}.{name}.weight.lora_a"), a));
            tensors.push((format!("blk.{layer}.{name}.weight.lora_b"), b));
        }
    }
    hamlet_models::write_lora_adapter(path, "llama", 8.0, &tensors).unwrap();
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn adapter_changes_logits_and_removing_it_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter.gguf");
    write_adapter(&adapter);
    let prompt = Prompt::Chat(vec![Message::user("Say something about the weather.")]);

    let base = common::llm(1).next_token_logits(&prompt).unwrap();
    let mut cfg = common::config(1, 2048);
    cfg.lora = Some(adapter);
    let tuned = LlamaLlm::load(cfg).unwrap();
    let with = tuned.next_token_logits(&prompt).unwrap();
    assert_eq!(base.len(), with.len());
    assert!(
        max_diff(&base, &with) > 0.1,
        "adapter moved logits by only {}",
        max_diff(&base, &with)
    );

    tuned.set_lora_scale(0.0).unwrap();
    let removed = tuned.next_token_logits(&prompt).unwrap();
    assert!(
        max_diff(&base, &removed) < 1e-4,
        "removing the adapter left a difference of {}",
        max_diff(&base, &removed)
    );

    tuned.set_lora_scale(1.0).unwrap();
    let again = tuned.next_token_logits(&prompt).unwrap();
    assert!(max_diff(&with, &again) < 1e-4);
}

#[test]
fn a_file_that_is_not_an_adapter_is_refused_clearly() {
    let mut cfg = common::config(1, 512);
    cfg.lora = Some(common::cached("minilm"));
    let err = LlamaLlm::load(cfg).unwrap_err().to_string();
    assert!(err.contains("LoRA adapter"), "{err}");
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn minilm_ranks_related_sentences_above_unrelated() {
    let e = common::embedder();
    assert_eq!(e.dim(), 384);
    let v = e
        .embed(&[
            "The cat sits on the mat.",
            "A kitten is resting on a rug.",
            "The stock market fell sharply today.",
            "Isabella is planning a Valentine's Day party at the cafe.",
            "There will be a celebration at Hobbs Cafe on February 14.",
            "How do I compile a Rust program?",
        ])
        .unwrap();
    for x in &v {
        assert!((cos(x, x) - 1.0).abs() < 1e-4, "vectors are L2-normalised");
    }
    assert!(
        cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.2,
        "{} vs {}",
        cos(&v[0], &v[1]),
        cos(&v[0], &v[2])
    );
    assert!(
        cos(&v[3], &v[4]) > cos(&v[3], &v[5]) + 0.2,
        "{} vs {}",
        cos(&v[3], &v[4]),
        cos(&v[3], &v[5])
    );
    // One at a time gives the same vectors as a batch.
    let single = e.embed(&["A kitten is resting on a rug."]).unwrap();
    assert!(max_diff(&single[0], &v[1]) < 1e-3);
}

#[test]
fn more_texts_than_one_batch_holds() {
    let e = common::embedder();
    let texts: Vec<String> = (0..11)
        .map(|i| format!("sentence number {i} about the town"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let v = e.embed(&refs).unwrap();
    assert_eq!(v.len(), 11);
    assert!(e.embed(&[""]).unwrap_err().to_string().contains("empty"));
}
