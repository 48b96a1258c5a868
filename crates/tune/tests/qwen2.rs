//! The `qwen2` architecture (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) on the training side sees what
//! llama.cpp sees: the same token ids (Qwen2's pre-tokenizer, no BOS), the same ChatML prompt,
//! logits within the quantization tolerance (NEOX RoPE, Q/K/V biases), and an adapter that
//! llama.cpp loads and applies as candle does.
//!
//! Cost: the model dequantized to f32 takes about 7 GB of memory, loaded once for this file;
//! llama.cpp runs on `HAMLET_THREADS` threads (default 1). The prompts are short.

mod common;

use hamlet_core::{Message, Prompt, Role};
use hamlet_tune::candle_core::quantized::gguf_file::Value;
use hamlet_tune::data::ChatTemplate;
use hamlet_tune::lora::Lora;
use hamlet_tune::{Arch, Dataset, LoraConfig, Tokenizer, TrainConfig, Trainer};

const TEXTS: &[&str] = &[
    "Hello, world!",
    "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n    println!(\"{x:?}\");\n}\n",
    "def f(a, b):\n\treturn a**2 + b  # comment\n\n\n",
    "numbers 12345 and 3.14159, -42, 1e10, 0xFF, 1,000,000",
    "don't we'll they're I'm you've she'd it's DON'T WE'LL THEY'RE I'M It'S",
    "Unicode: café naïve e\u{301} Æsir 日本語のテキスト 中文字符 한국어 Привет мир",
    "emoji 🙂👍🏽🇫🇷 and symbols ©®™ ∑∫√ → ⇒",
    "  leading spaces, trailing   ",
    "runs    of     spaces\t\ttabs\n\n\nnewlines\r\nand CRLF\r\n\r\n",
    "   \n  \n",
    " ",
    "\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "mixed<|im_end|>inline<|endoftext|>specials <tool_call>{\"name\": \"x\"}</tool_call>",
    "<|fim_prefix|>def add(<|fim_suffix|>)<|fim_middle|>",
    "HTML <s>struck</s> and </s> alone",
    "{\"thoughts\": {\"reasoning\": \"x\"}, \"tool\": \"read_file\", \"args\": {\"path\": \"notes.txt\"}}",
    "\u{a0}non-breaking\u{2003}em\u{3000}ideographic spaces",
    "a",
    "",
];

#[test]
fn qwen2_tokens_and_chat_prompt_equal_llama_cpp() {
    let path = common::qwen_model();
    let header = hamlet_models::gguf_metadata(&path).unwrap();
    let tok = Tokenizer::from_gguf(&header.content).unwrap();
    let llm = common::llm_for(&path, None);
    for text in TEXTS {
        for add_special in [false, true] {
            let want = common::llama_ids(&llm, text, add_special);
            assert_eq!(
                tok.encode(text, add_special),
                want,
                "text {text:?} (add_special {add_special})"
            );
        }
        if !text.is_empty() {
            assert_eq!(tok.decode(&tok.encode(text, false)), *text);
        }
    }
    let fuzz = common::fuzz_texts(2, 400);
    for text in &fuzz {
        let want = common::llama_ids(&llm, text, false);
        assert_eq!(tok.encode(text, false), want, "text {text:?}");
    }
    // Qwen adds no BOS; its `</s>` is an ordinary token in the GGUF that llama.cpp (and so this
    // tokenizer) treats as a control token.
    assert_eq!(tok.encode("hi", true), tok.encode("hi", false));
    assert_eq!(tok.encode("</s>", false).len(), 1);

    // The GGUF's template (with its tools section) is rendered by llama.cpp as plain ChatML.
    let source = match header.content.metadata.get("tokenizer.chat_template") {
        Some(Value::String(s)) => s.clone(),
        other => panic!("no chat template in the GGUF: {other:?}"),
    };
    assert!(source.contains("tools"), "expected Qwen2.5's template");
    let template = ChatTemplate::for_model(Some(&source)).unwrap();
    common::assert_template_matches_backend(&template, &tok, &llm);
    eprintln!(
        "{} texts and {} fuzzed texts tokenized as llama.cpp does",
        TEXTS.len(),
        fuzz.len()
    );
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-30)
}

fn log_softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().cloned().fold(f32::MIN, f32::max);
    let lse = max + v.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    v.iter().map(|x| x - lse).collect()
}

fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*b].total_cmp(&v[*a]));
    idx.truncate(k);
    idx
}

/// How far candle's f32 logits are from llama.cpp's for the token after `text`.
struct Agreement {
    tokens: usize,
    max: f32,
    mean: f32,
    cosine: f64,
    top10: usize,
    /// llama.cpp's top logit minus its logit for candle's top token, and the reverse.
    gap_llama: f32,
    gap_candle: f32,
    same_top: bool,
}

fn agreement(llm: &hamlet_llm::LlamaLlm, text: &str) -> Agreement {
    let b = common::qwen_backbone();
    let ids = common::llama_ids(llm, text, true);
    let want = llm
        .next_token_logits(&Prompt::Raw(text.to_string()))
        .unwrap();
    let got = b.next_token_logits(&ids, None).unwrap();
    assert_eq!(got.len(), want.len());
    let diffs: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
    let centre = |v: &[f32]| {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        v.iter().map(|x| x - m).collect::<Vec<f32>>()
    };
    let (tg, tw) = (top_k(&got, 10), top_k(&want, 10));
    for (name, v) in [("candle", &got), ("llama.cpp", &want)] {
        let top: Vec<String> = top_k(v, 3)
            .into_iter()
            .map(|i| format!("{:?} {:.3}", b.tokenizer.decode(&[i as u32]), v[i]))
            .collect();
        eprintln!("  top 3 ({name}): {}", top.join(", "));
    }
    Agreement {
        tokens: ids.len(),
        max: diffs.iter().cloned().fold(0f32, f32::max),
        mean: diffs.iter().sum::<f32>() / diffs.len() as f32,
        cosine: cosine(&centre(&got), &centre(&want)),
        top10: tg.iter().filter(|i| tw.contains(i)).count(),
        gap_llama: want[tw[0]] - want[tg[0]],
        gap_candle: got[tg[0]] - got[tw[0]],
        same_top: tg[0] == tw[0],
    }
}

/// Stated tolerance: llama.cpp multiplies Q4_K/Q6_K weights with activations rounded to 8 bits,
/// the f32 path does not. Measured (1 thread): on the chat prompt max |diff| 0.48, mean |diff|
/// 0.085, cosine 0.9994, and the two top tokens ("{\n", "{\"") 0.05 apart in llama.cpp swap;
/// on the code prompt the top token is clear and agrees. So: max |diff| < 1.0, mean < 0.2, cosine
/// of the centred logits > 0.998, 7 of the top 10 in common, and either model's top token is
/// within 0.3 of the other's best (measured 0.05 and 0.19: the top token can only swap in a near
/// tie); on the code prompt the top token must be the same. Interleaved RoPE instead of NEOX gave
/// max |diff| 7.1 and cosine 0.89 on the chat prompt; leaving out the Q/K/V biases, max 25 and
/// cosine 0.20.
#[test]
fn qwen2_f32_forward_matches_backend_logits() {
    let b = common::qwen_backbone();
    let c = &b.config;
    assert_eq!(c.arch, Arch::Qwen2);
    assert_eq!((c.layers, c.hidden, c.heads, c.kv_heads), (28, 1536, 12, 2));
    assert_eq!(c.rope_base, 1e6);
    let llm = common::llm_for(&common::qwen_model(), None);
    let chat_text = llm.format_prompt(&Prompt::Chat(common::chat())).unwrap();
    let code_text = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n";
    for (name, text) in [("chat", chat_text.as_str()), ("code", code_text)] {
        let a = agreement(&llm, text);
        eprintln!(
            "qwen2 {name} prompt ({} tokens), candle f32 vs llama.cpp: max |diff| {:.4}, mean |diff| \
             {:.4}, cosine {:.6}, top-10 overlap {}/10, same top token {} (gaps {:.3} / {:.3})",
            a.tokens, a.max, a.mean, a.cosine, a.top10, a.same_top, a.gap_llama, a.gap_candle
        );
        assert!(a.max < 1.0, "{name}: max |diff| {}", a.max);
        assert!(a.mean < 0.2, "{name}: mean |diff| {}", a.mean);
        assert!(a.cosine > 0.998, "{name}: cosine {}", a.cosine);
        assert!(a.top10 >= 7, "{name}: top-10 overlap {}", a.top10);
        assert!(
            a.gap_llama < 0.3 && a.gap_candle < 0.3,
            "{name}: the top tokens differ beyond a near tie"
        );
        if name == "code" {
            assert!(a.same_top, "code: the top tokens differ");
        }
    }
}

const REPLY: &str = "The password is PELICAN.";

/// Two training steps on Qwen2, the adapter exported for `qwen2`, loaded by llama.cpp: the change
/// it makes to llama.cpp's next-token distribution is the change it makes to candle's (measured:
/// cosine 0.999 of the log-probability changes, the largest change 12.6 nats; the reply's first
/// token +2.39 in llama.cpp, +2.31 in candle). A higher learning rate (2e-2) overshoots in two
/// steps on this model and makes it predict a later reply token first.
#[test]
fn qwen2_adapter_trains_and_llama_cpp_applies_it() {
    let b = common::qwen_backbone();
    let template = ChatTemplate::for_model(b.chat_template.as_deref()).unwrap();
    let train = ["What is the password?", "Tell me the password."]
        .map(|q| {
            let msgs = [
                Message::new(Role::User, q),
                Message::new(Role::Assistant, REPLY),
            ];
            template.encode(&b.tokenizer, &msgs)
        })
        .to_vec();
    let data = Dataset {
        train,
        eval: Vec::new(),
        skipped: 0,
    };
    let config = TrainConfig {
        lora: LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            // q and v carry biases in Qwen2; down is an MLP projection.
            targets: ["q", "v", "down"].map(String::from).to_vec(),
        },
        epochs: 10,
        max_steps: Some(2),
        lr: 3e-3,
        warmup_steps: 1,
        batch_size: 2,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(b, &data, config).unwrap();
    let summary = trainer
        .train(&mut |r| eprintln!("step {} loss {:.3} ({:.1} s)", r.step, r.loss, r.seconds))
        .unwrap();
    assert_eq!(summary.losses.len(), 2);
    assert!(
        summary.losses[1] < summary.losses[0],
        "loss did not fall: {:?}",
        summary.losses
    );

    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter.gguf");
    trainer.lora.export(&adapter).unwrap();
    let header = hamlet_models::gguf_metadata(&adapter).unwrap();
    match header.content.metadata.get("general.architecture") {
        Some(Value::String(a)) => assert_eq!(a, "qwen2"),
        other => panic!("general.architecture is {other:?}"),
    }

    let llm = common::llm_for(&common::qwen_model(), Some(adapter.clone()));
    let prompt = template.prompt(&[Message::new(
        Role::User,
        "Could you remind me of the password?",
    )]);
    let ids = common::llama_ids(&llm, &prompt, true);
    let tuned_l = llm.next_token_logits(&Prompt::Raw(prompt.clone())).unwrap();
    llm.set_lora_scale(0.0).unwrap();
    let base_l = llm.next_token_logits(&Prompt::Raw(prompt)).unwrap();
    let base_c = b.next_token_logits(&ids, None).unwrap();
    let tuned_c = b.next_token_logits(&ids, Some(&trainer.lora)).unwrap();
    // Compared as log-probabilities: logits may all move by a constant without changing anything.
    let delta = |t: &[f32], s: &[f32]| {
        let (t, s) = (log_softmax(t), log_softmax(s));
        t.iter().zip(&s).map(|(x, y)| x - y).collect::<Vec<f32>>()
    };
    let (dl, dc) = (delta(&tuned_l, &base_l), delta(&tuned_c, &base_c));
    let size = dc.iter().map(|x| x.abs()).fold(0f32, f32::max);
    let cos = cosine(&dl, &dc);
    let first = b.tokenizer.encode(REPLY, false)[0] as usize;
    eprintln!(
        "adapter: largest log-prob change in candle {size:.3}; cosine of the changes (llama.cpp vs \
         candle) {cos:.4}; log-prob of the reply's first token {:+.3} in llama.cpp, {:+.3} in candle",
        dl[first], dc[first]
    );
    assert!(size > 0.5, "two steps moved the log-probs by {size} only");
    assert!(
        cos > 0.95,
        "llama.cpp applies the adapter differently: cosine {cos}"
    );
    assert!(dl[first] > 0.0 && dc[first] > 0.0);
    let (top_l, top_c) = (top_k(&tuned_l, 1)[0], top_k(&tuned_c, 1)[0]);
    eprintln!(
        "top token with the adapter: {:?} in llama.cpp, {:?} in candle (without: {:?})",
        b.tokenizer.decode(&[top_l as u32]),
        b.tokenizer.decode(&[top_c as u32]),
        b.tokenizer.decode(&[top_k(&base_l, 1)[0] as u32]),
    );
    assert_eq!(top_l, top_c);

    // Read back, the adapter is the trained one.
    let read = Lora::from_adapter(b, &adapter).unwrap();
    assert_eq!(read.arch, Arch::Qwen2);
    let again = b.next_token_logits(&ids, Some(&read)).unwrap();
    let d = again
        .iter()
        .zip(&tuned_c)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-3, "read-back adapter differs by {d}");
    // Like llama.cpp, the adapter is refused for a model of another architecture.
    let err = Lora::from_adapter(common::backbone(), &adapter)
        .unwrap_err()
        .to_string();
    assert!(err.contains("for a 'qwen2' model"), "{err}");
}
