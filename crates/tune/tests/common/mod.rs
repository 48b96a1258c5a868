//! Shared set-up for the real-model tests: the models from the cache, loaded once per test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;
use hamlet_core::{Message, Prompt, Role};
use hamlet_llm::{LlamaConfig, LlamaLlm};
use hamlet_tune::data::ChatTemplate;
use hamlet_tune::{Backbone, Rng, Tokenizer};

/// SmolLM2-135M (`llama` architecture): the small model most tests train.
pub const SMOLLM2: &str = "smollm2-135m";
/// Qwen2.5-Coder-1.5B-Instruct Q4_K_M (`qwen2` architecture).
pub const QWEN2: &str = "qwen2.5-coder-1.5b";

pub fn cached(name: &str) -> PathBuf {
    hamlet_models::ModelCache::open_default().resolve(name).unwrap_or_else(|e| {
        panic!("{e}\nThe real-model tests need the model '{name}': run `hamlet models pull {name}` (or scripts/test.sh).")
    })
}

pub fn chat_model() -> PathBuf {
    cached(SMOLLM2)
}

pub fn qwen_model() -> PathBuf {
    cached(QWEN2)
}

pub fn backbone() -> &'static Backbone {
    static B: OnceLock<Backbone> = OnceLock::new();
    B.get_or_init(|| Backbone::load(&chat_model(), &Device::Cpu).expect("load the backbone"))
}

/// Qwen2.5-Coder-1.5B dequantized to f32: about 7 GB, loaded once per test binary.
pub fn qwen_backbone() -> &'static Backbone {
    static B: OnceLock<Backbone> = OnceLock::new();
    B.get_or_init(|| Backbone::load(&qwen_model(), &Device::Cpu).expect("load the Qwen2 backbone"))
}

pub use hamlet_core::testing::threads;

pub fn llm_for(model: &Path, lora: Option<PathBuf>) -> LlamaLlm {
    let mut c = LlamaConfig::new(model);
    c.threads = threads();
    c.context = 1024;
    c.lora = lora;
    LlamaLlm::load(c).unwrap_or_else(|e| panic!("load {} in llama.cpp: {e}", model.display()))
}

pub fn llm(lora: Option<PathBuf>) -> LlamaLlm {
    llm_for(&chat_model(), lora)
}

/// llama.cpp's token ids for `text` (special tokens parsed).
pub fn llama_ids(llm: &LlamaLlm, text: &str, add_special: bool) -> Vec<u32> {
    llm.tokenize(text, add_special)
        .unwrap()
        .into_iter()
        .map(|t| t as u32)
        .collect()
}

/// Seeded random strings built from pieces where pre-tokenizers disagree: case in contractions,
/// digits of several scripts, runs of spaces before words and at the end, CR/LF, marks, emoji,
/// special tokens and things that look like them.
pub fn fuzz_texts(seed: u64, count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "a",
        "Z",
        "hello",
        "World",
        "_x",
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\n\n",
        "\r\n",
        "\r",
        "'",
        "'s",
        "'S",
        "'re",
        "'LL",
        "'ve",
        "'D",
        "'m",
        "1",
        "42",
        "12345",
        "٣",
        "½",
        "Ⅻ",
        ".",
        ",",
        "(",
        ")",
        "{",
        "}",
        "::",
        "->",
        "=>",
        "\"",
        "#",
        "日本",
        "語",
        "テ",
        "한국",
        "é",
        "e\u{301}",
        "🙂",
        "👍🏽",
        "\u{a0}",
        "\u{3000}",
        "\u{2003}",
        "\u{85}",
        "<",
        ">",
        "/",
        "</s>",
        "<s>",
        "<|im_end|>",
        "<|im_start|>",
        "<|endoftext|>",
        "<tool_call>",
        "<|fim_prefix|>",
        "$",
        "©",
        "∑",
        "\u{200b}",
        "x",
        "fn",
        " main",
        "0x1F",
    ];
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let n = 1 + (rng.next_u64() % 12) as usize;
            (0..n)
                .map(|_| PIECES[(rng.next_u64() % PIECES.len() as u64) as usize])
                .collect::<String>()
        })
        .collect()
}

/// A short agent conversation (system prompt and goal) whose prompt both sides must agree on.
pub fn chat() -> Vec<Message> {
    vec![
        Message::new(
            Role::System,
            "You are Hamlet's agent. Reply with one JSON action.",
        ),
        Message::new(Role::User, "Goal: read notes.txt and summarise it."),
    ]
}

/// The prompt `template` renders, and the prompt part of an example it encodes, are the backend's
/// to the character and to the token.
pub fn assert_template_matches_backend(template: &ChatTemplate, tok: &Tokenizer, llm: &LlamaLlm) {
    for msgs in [chat(), vec![Message::new(Role::User, "Just a question?")]] {
        let want = llm.format_prompt(&Prompt::Chat(msgs.clone())).unwrap();
        assert_eq!(template.prompt(&msgs), want);
        let mut with_reply = msgs.clone();
        with_reply.push(Message::new(Role::Assistant, "{\"tool\": \"finish\"}"));
        let ex = template.encode(tok, &with_reply);
        let n = ex.target.iter().position(|t| *t).unwrap();
        assert_eq!(&ex.ids[..n], &llama_ids(llm, &want, true)[..]);
    }
}
