//! llama.cpp's byte-level BPE, rebuilt from a GGUF file's metadata.
//!
//! A GGUF chat model carries its vocabulary (`tokenizer.ggml.tokens`), the token types and the BPE
//! merges, but no `tokenizer.json`. Training must see exactly the ids llama.cpp will see when it
//! serves the adapter, so this follows llama.cpp (`src/llama-vocab.cpp`, `src/unicode.cpp`) step by
//! step: special tokens are cut out first (longest first, including the tokens llama.cpp treats as
//! control tokens by their text whatever their type, such as Qwen's `</s>`), the rest is
//! pre-tokenized as llama.cpp's hand-written splitter for the model's `tokenizer.ggml.pre` does
//! (the `pretok` module: SmolLM2's digits-then-GPT-2 rules, Qwen2's rules), each word is mapped
//! byte-to-unicode and merged by rank. Other pre-tokenizers are refused with an error.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};

use crate::pretok::{PreTokenizer, Splitter};
use crate::{Error, Result};

/// Token texts llama.cpp makes control tokens whatever their GGUF type: its end-of-generation
/// list (`special_eog_ids`), and the tokens its gpt-oss workaround makes user-defined.
const CONTROL_BY_TEXT: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
    "<|channel|>",
    "<|message|>",
    "<|start|>",
    "<|constrain|>",
];

/// Token texts llama.cpp makes control tokens when the GGUF names no token for the role (the
/// metadata keys): fill-in-the-middle markers. With several candidates for one role llama.cpp
/// takes whichever its hash map yields first; here all of them are taken.
const CONTROL_BY_ROLE: &[(&[&str], &[&str])] = &[
    (
        &[
            "tokenizer.ggml.fim_pre_token_id",
            "tokenizer.ggml.prefix_token_id",
        ],
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
    ),
    (
        &[
            "tokenizer.ggml.fim_suf_token_id",
            "tokenizer.ggml.suffix_token_id",
        ],
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
    ),
    (
        &[
            "tokenizer.ggml.fim_mid_token_id",
            "tokenizer.ggml.middle_token_id",
        ],
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
    ),
    (
        &["tokenizer.ggml.fim_pad_token_id"],
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    ),
    (
        &["tokenizer.ggml.fim_rep_token_id"],
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
    ),
    (&["tokenizer.ggml.fim_sep_token_id"], &["<|file_sep|>"]),
];

/// A byte-level BPE tokenizer equal to llama.cpp's for the model it was read from.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// `"left right"` → rank (byte-level token texts never contain a space).
    merges: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest text first.
    specials: Vec<(String, u32)>,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
    splitter: Splitter,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| Error::Tokenizer(format!("the GGUF has no '{key}' metadata")))
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>> {
    let arr = v
        .to_vec()
        .map_err(|_| Error::Tokenizer(format!("'{key}' is not an array")))?;
    arr.iter()
        .map(|x| match x {
            Value::String(s) => Ok(s.clone()),
            _ => Err(Error::Tokenizer(format!("'{key}' holds a non-string"))),
        })
        .collect()
}

fn opt_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn opt_bool(content: &Content, key: &str) -> Option<bool> {
    content.metadata.get(key).and_then(|v| v.to_bool().ok())
}

/// GPT-2's reversible byte → printable character map.
fn byte_map() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        map[b as usize] = if printable {
            char::from_u32(b).unwrap_or('\0')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('\0')
        };
    }
    map
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF header.
    pub fn from_gguf(content: &Content) -> Result<Self> {
        let model = meta(content, "tokenizer.ggml.model")?
            .to_string()
            .map_err(|_| Error::Tokenizer("'tokenizer.ggml.model' is not a string".into()))?;
        if model != "gpt2" {
            return Err(Error::Tokenizer(format!(
                "tokenizer model '{model}' is not supported: only byte-level BPE ('gpt2') models such as SmolLM2 can be tuned"
            )));
        }
        let pre = match content.metadata.get("tokenizer.ggml.pre") {
            Some(Value::String(s)) => s.clone(),
            _ => "default".to_string(),
        };
        let splitter = Splitter::new(PreTokenizer::from_name(&pre)?)?;
        let tokens = strings(
            meta(content, "tokenizer.ggml.tokens")?,
            "tokenizer.ggml.tokens",
        )?;
        let merge_list = strings(
            meta(content, "tokenizer.ggml.merges")?,
            "tokenizer.ggml.merges",
        )?;
        let types: Vec<i64> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|_| {
                    Error::Tokenizer("'tokenizer.ggml.token_type' is not an array".into())
                })?
                .iter()
                .map(|t| t.to_i32().map(i64::from).unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges = merge_list
            .iter()
            .enumerate()
            .map(|(rank, m)| (m.clone(), rank as u32))
            .collect();
        // 2 = unknown, 3 = control, 4 = user-defined: matched as whole tokens in the text, and so
        // are the tokens llama.cpp promotes to control tokens by their text.
        let mut by_text: Vec<&str> = CONTROL_BY_TEXT.to_vec();
        for (keys, texts) in CONTROL_BY_ROLE {
            if !keys.iter().any(|k| content.metadata.contains_key(*k)) {
                by_text.extend_from_slice(texts);
            }
        }
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                !t.is_empty()
                    && (matches!(types.get(*i), Some(2..=4)) || by_text.contains(&t.as_str()))
            })
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let byte_to_char = byte_map();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        Ok(Tokenizer {
            tokens,
            ids,
            merges,
            specials,
            byte_to_char,
            char_to_byte,
            splitter,
            bos: opt_u32(content, "tokenizer.ggml.bos_token_id"),
            eos: opt_u32(content, "tokenizer.ggml.eos_token_id"),
            add_bos: opt_bool(content, "tokenizer.ggml.add_bos_token").unwrap_or(false),
            add_eos: opt_bool(content, "tokenizer.ggml.add_eos_token").unwrap_or(false),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token's exact text (e.g. `<|im_end|>`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Token ids of `text`, special tokens parsed, as `llama_tokenize(text, add_special, true)`.
    pub fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        for frag in self.partition(text) {
            match frag {
                Frag::Special(id) => out.push(id),
                Frag::Text(t) => {
                    for word in self.splitter.split(t) {
                        self.bpe(word, &mut out);
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// Text of token ids (special tokens as their text).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(t) = self.tokens.get(id as usize) else {
                continue;
            };
            if self.specials.iter().any(|(_, s)| *s == id) {
                bytes.extend_from_slice(t.as_bytes());
                continue;
            }
            for c in t.chars() {
                match self.char_to_byte.get(&c) {
                    Some(b) => bytes.push(*b),
                    None => bytes.extend_from_slice(c.to_string().as_bytes()),
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Splits out special tokens, longest first, as llama.cpp's `tokenizer_st_partition` does.
    fn partition<'t>(&self, text: &'t str) -> Vec<Frag<'t>> {
        let mut frags = vec![Frag::Text(text)];
        for (special, id) in &self.specials {
            let mut next = Vec::with_capacity(frags.len());
            for f in frags {
                let Frag::Text(mut rest) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = rest.find(special.as_str()) {
                    if at > 0 {
                        next.push(Frag::Text(&rest[..at]));
                    }
                    next.push(Frag::Special(*id));
                    rest = &rest[at + special.len()..];
                }
                if !rest.is_empty() {
                    next.push(Frag::Text(rest));
                }
            }
            frags = next;
        }
        frags
    }

    /// Byte-level BPE of one pre-tokenized word.
    fn bpe(&self, word: &str, out: &mut Vec<u32>) {
        let mapped: String = word
            .bytes()
            .map(|b| self.byte_to_char[b as usize])
            .collect();
        let mut symbols: Vec<String> = mapped.chars().map(String::from).collect();
        let mut key = String::new();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..symbols.len().saturating_sub(1) {
                key.clear();
                key.push_str(&symbols[i]);
                key.push(' ');
                key.push_str(&symbols[i + 1]);
                if let Some(&rank) = self.merges.get(&key) {
                    if best.is_none_or(|(r, _)| rank < r) {
                        best = Some((rank, i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = symbols.remove(i + 1);
            symbols[i].push_str(&right);
        }
        for s in symbols {
            match self.ids.get(&s) {
                Some(id) => out.push(*id),
                None => {
                    for b in s.bytes() {
                        if let Some(id) = self.ids.get(&(b as char).to_string()) {
                            out.push(*id);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
enum Frag<'t> {
    Text(&'t str),
    Special(u32),
}
