//! The training side sees what the backend sees: the same token ids, the same prompt text and
//! (within the quantization tolerance) the same logits, from the same GGUF file.

mod common;

use hamlet_core::Prompt;
use hamlet_tune::data::ChatTemplate;

const TEXTS: &[&str] = &[
    "Hello, world!",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\nthree",
    "numbers 1234567 and 3.14159, -42, 1e10",
    "don't we'll they're I'm you've she'd it's",
    "Unicode: café naïve Æsir 日本語のテキスト 한국어 Привет мир",
    "emoji 🙂👍🏽 and symbols ©®™ ∑∫√ → ⇒",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "{\"thoughts\": {\"reasoning\": \"x\"}, \"tool\": \"read_file\", \"args\": {\"path\": \"notes.txt\"}}",
    "code:\n    fn main() {\n        println!(\"{}\", 1 + 2);\n    }\n",
    "mixed<|im_end|>inline<|endoftext|>specials",
    "\u{a0}non-breaking\u{2003}em\u{3000}ideographic spaces",
    "a",
    "",
];

#[test]
fn tokenizer_ids_equal_llama_cpp() {
    let tok = &common::backbone().tokenizer;
    let llm = common::llm(None);
    for text in TEXTS {
        for add_special in [false, true] {
            let want = common::llama_ids(&llm, text, add_special);
            let got = tok.encode(text, add_special);
            assert_eq!(got, want, "text {text:?} (add_special {add_special})");
        }
        if !text.is_empty() {
            assert_eq!(tok.decode(&tok.encode(text, false)), *text);
        }
    }
    for text in common::fuzz_texts(1, 300) {
        let want = common::llama_ids(&llm, &text, false);
        assert_eq!(tok.encode(&text, false), want, "text {text:?}");
    }
}

#[test]
fn chat_rendering_equals_the_backend_prompt() {
    let b = common::backbone();
    let template = ChatTemplate::for_model(b.chat_template.as_deref()).unwrap();
    let llm = common::llm(None);
    common::assert_template_matches_backend(&template, &b.tokenizer, &llm);
}

/// Stated tolerance: llama.cpp multiplies Q4_1 weights with activations rounded to 8 bits, the
/// f32 path does not. Measured on this prompt: max |diff| 0.53, mean |diff| 0.095 (of logits
/// spanning ~30); the test allows 1.0 and 0.2, and the top token must agree.
#[test]
fn f32_forward_matches_backend_logits() {
    let b = common::backbone();
    let llm = common::llm(None);
    let prompt = Prompt::Chat(common::chat());
    let text = llm.format_prompt(&prompt).unwrap();
    let ids = common::llama_ids(&llm, &text, true);
    let want = llm.next_token_logits(&prompt).unwrap();
    let got = b.next_token_logits(&ids, None).unwrap();
    assert_eq!(got.len(), want.len());
    let diffs: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
    let max = diffs.iter().cloned().fold(0f32, f32::max);
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|x| x.0)
    };
    eprintln!("logits vs backend: max |diff| {max:.4}, mean |diff| {mean:.4}");
    assert_eq!(argmax(&got), argmax(&want));
    assert!(max < 1.0, "max |diff| {max}");
    assert!(mean < 0.2, "mean |diff| {mean}");
}
