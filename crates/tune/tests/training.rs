//! A short real training run on the default model: the loss falls, a resumed run continues the
//! same loss curve, and the exported adapter, loaded by llama.cpp, makes the trained reply more
//! likely than the base model does.

mod common;

use hamlet_core::{Message, Prompt, Role};
use hamlet_tune::data::ChatTemplate;
use hamlet_tune::{Dataset, LoadOptions, LoraConfig, TrainConfig, Trainer};

const REPLY: &str = "The password is PELICAN.";

fn record(q: &str) -> String {
    serde_json::json!({"messages": [
        {"role": "user", "content": q},
        {"role": "assistant", "content": REPLY},
    ]})
    .to_string()
}

fn write_data(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let train = dir.join("train.jsonl");
    let eval = dir.join("eval.jsonl");
    let qs = [
        "What is the password?",
        "Tell me the password.",
        "password please",
        "Which password opens the gate?",
    ];
    std::fs::write(
        &train,
        qs.iter().map(|q| record(q) + "\n").collect::<String>(),
    )
    .unwrap();
    // The Alpaca shape in the held-out file.
    let alpaca = serde_json::json!({"instruction": "I forgot the password, what is it?", "input": "", "output": REPLY});
    std::fs::write(&eval, format!("{alpaca}\n")).unwrap();
    (train, eval)
}

fn config(dir: &std::path::Path) -> TrainConfig {
    TrainConfig {
        lora: LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: ["q", "v", "o", "up", "down"].map(String::from).to_vec(),
        },
        epochs: 10,
        max_steps: Some(6),
        lr: 1e-2,
        warmup_steps: 1,
        batch_size: 2,
        grad_accum: 2,
        checkpoint_every: 3,
        checkpoint_dir: Some(dir.join("ckpt")),
        ..TrainConfig::default()
    }
}

/// Mean NLL of the first reply tokens after `question`, as llama.cpp computes it.
fn reply_nll(llm: &hamlet_llm::LlamaLlm, question: &str) -> f32 {
    let b = common::backbone();
    let template = ChatTemplate::for_model(b.chat_template.as_deref()).unwrap();
    let mut text = template.prompt(&[Message::new(Role::User, question)]);
    let reply = b.tokenizer.encode(REPLY, false);
    let mut nll = 0.0;
    for &t in reply.iter().take(4) {
        let logits = llm.next_token_logits(&Prompt::Raw(text.clone())).unwrap();
        let max = logits.iter().cloned().fold(f32::MIN, f32::max);
        let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
        nll += lse - logits[t as usize];
        text.push_str(&b.tokenizer.decode(&[t]));
    }
    nll / 4.0
}

#[test]
fn training_lowers_loss_resumes_and_the_adapter_moves_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let (train, eval) = write_data(dir.path());
    let b = common::backbone();
    let template = ChatTemplate::for_model(b.chat_template.as_deref()).unwrap();
    let opts = LoadOptions {
        skip_bad: false,
        max_len: 64,
    };
    let data = Dataset::load(&b.tokenizer, &template, &train, Some(&eval), 0.0, 1, &opts).unwrap();
    assert_eq!((data.train.len(), data.eval.len()), (4, 1));

    let mut trainer = Trainer::new(b, &data, config(dir.path())).unwrap();
    let summary = trainer
        .train(&mut |r| eprintln!("step {} loss {:.3}", r.step, r.loss))
        .unwrap();
    let losses = summary.losses.clone();
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0] * 0.7, "loss did not fall: {losses:?}");
    let (before, after) = (summary.eval_before.unwrap(), summary.eval_after.unwrap());
    assert!(after < before, "held-out loss {before} -> {after}");

    // Resume from the step-3 checkpoint: the same steps 4..6.
    let mut resumed = Trainer::new(b, &data, config(dir.path())).unwrap();
    resumed
        .resume(&dir.path().join("ckpt/step-000003"))
        .unwrap();
    assert_eq!(resumed.step, 3);
    let again = resumed.train(&mut |_| {}).unwrap();
    for (a, b) in again.losses.iter().zip(&losses) {
        assert!(
            (a - b).abs() < 1e-3 * b.abs().max(1.0),
            "resumed curve {:?} vs {:?}",
            again.losses,
            losses
        );
    }
    // A checkpoint for other LoRA settings is refused with a clear message.
    let mut other = config(dir.path());
    other.lora.rank = 8;
    let mut wrong = Trainer::new(b, &data, other).unwrap();
    let err = wrong
        .resume(&dir.path().join("ckpt"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--rank"), "{err}");

    // The adapter, served by llama.cpp, makes the trained reply more likely.
    let adapter_path = dir.path().join("adapter.gguf");
    trainer.lora.export(&adapter_path).unwrap();
    let llm = common::llm(Some(adapter_path.clone()));
    let question = "Could you remind me of the password?";
    let tuned = reply_nll(&llm, question);
    llm.set_lora_scale(0.0).unwrap();
    let base = reply_nll(&llm, question);
    eprintln!("reply NLL in llama.cpp: base {base:.3}, with adapter {tuned:.3}");
    assert!(
        tuned < base * 0.8,
        "adapter did not move llama.cpp: base {base}, tuned {tuned}"
    );
    drop(llm);

    // Merged into a full f16 GGUF, the model behaves like base + adapter without one.
    let merged = dir.path().join("merged.gguf");
    trainer
        .lora
        .export_merged(&common::chat_model(), &merged)
        .unwrap();
    let mut cfg = hamlet_llm::LlamaConfig::new(&merged);
    cfg.threads = common::threads();
    cfg.context = 1024;
    let merged_llm = hamlet_llm::LlamaLlm::load(cfg).unwrap();
    let merged_nll = reply_nll(&merged_llm, question);
    eprintln!("reply NLL of the merged f16 model: {merged_nll:.3}");
    assert!(
        merged_nll < base * 0.8,
        "merged model: base {base}, merged {merged_nll}"
    );
    // Read back, the adapter gives the trained model's held-out loss.
    let read = hamlet_tune::lora::Lora::from_adapter(b, &adapter_path).unwrap();
    let again = hamlet_tune::train::eval_loss(b, Some(&read), &data.eval, 2)
        .unwrap()
        .unwrap();
    assert!((again - after).abs() < 1e-4, "{again} vs {after}");
}
