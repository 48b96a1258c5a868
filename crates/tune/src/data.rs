//! Instruction data: reading, rendering with the chat template, loss masks, splits and batches.
//!
//! Two record shapes are read, from JSONL (one record a line) or a JSON array:
//! the Alpaca shape `{"instruction", "input"?, "output", "system"?}` and the chat shape
//! `{"messages": [{"role", "content"}, ...]}` ending with an assistant message. Records are
//! rendered the way the backend renders a chat (ChatML, as llama.cpp applies SmolLM2's and Qwen2.5's
//! templates):
//! the prompt part is tokenized exactly as the backend tokenizes a prompt, each assistant reply
//! separately after it, and only reply tokens (and the `<|im_end|>` that ends them) carry loss.

use std::path::{Path, PathBuf};

use hamlet_core::{chatml, Message, Role};
use serde_json::Value;

use crate::tokenizer::Tokenizer;
use crate::{Error, Result, Rng};

/// A tokenized training example; `target[i]` says whether token `i` is predicted with loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub ids: Vec<u32>,
    pub target: Vec<bool>,
}

impl Example {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Tokens that carry loss.
    pub fn target_count(&self) -> usize {
        self.target.iter().skip(1).filter(|t| **t).count()
    }
}

/// How to read a dataset.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Skip malformed records (counted) instead of failing on the first.
    pub skip_bad: bool,
    /// Longest example in tokens; longer ones are cut at the end.
    pub max_len: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            skip_bad: false,
            max_len: 512,
        }
    }
}

/// Examples for training and held-out evaluation.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub train: Vec<Example>,
    pub eval: Vec<Example>,
    /// Records skipped as malformed (with `skip_bad`) or left without reply tokens by `max_len`.
    pub skipped: usize,
}

/// Reads a dataset file into chat conversations (each ending with an assistant message).
pub fn read_conversations(path: &Path, skip_bad: bool) -> Result<(Vec<Vec<Message>>, usize)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let bad = |line: usize, detail: String| Error::BadRecord {
        file: path.to_path_buf(),
        line,
        detail,
    };
    let mut records: Vec<(usize, std::result::Result<Value, String>)> = Vec::new();
    let is_array =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('[');
    if is_array {
        let all: Value = serde_json::from_str(&text).map_err(|e| Error::Dataset {
            file: path.to_path_buf(),
            detail: format!(
                "not valid JSON (line {}, column {}): {e}; use a JSON array or JSONL",
                e.line(),
                e.column()
            ),
        })?;
        let Value::Array(items) = all else {
            return Err(Error::Dataset {
                file: path.to_path_buf(),
                detail: "a .json dataset must be an array of records".into(),
            });
        };
        records.extend(items.into_iter().enumerate().map(|(i, v)| (i + 1, Ok(v))));
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            records.push((
                i + 1,
                serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}")),
            ));
        }
    }
    let (mut out, mut skipped) = (Vec::new(), 0);
    for (line, rec) in records {
        match rec.and_then(|v| parse_record(&v)) {
            Ok(m) => out.push(m),
            Err(detail) if skip_bad => {
                tracing::warn!(file = %path.display(), line, %detail, "skipping bad record");
                skipped += 1;
            }
            Err(detail) => return Err(bad(line, detail)),
        }
    }
    if out.is_empty() {
        return Err(Error::Dataset {
            file: path.to_path_buf(),
            detail: format!("no usable records ({skipped} skipped)"),
        });
    }
    Ok((out, skipped))
}

fn text_field(v: &Value, key: &str) -> std::result::Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

/// One record → messages. Errors are plain descriptions; the caller adds file and line.
pub fn parse_record(v: &Value) -> std::result::Result<Vec<Message>, String> {
    if !v.is_object() {
        return Err("a record must be a JSON object".into());
    }
    let messages = if let Some(msgs) = v.get("messages") {
        let Value::Array(items) = msgs else {
            return Err("'messages' must be an array".into());
        };
        let mut out = Vec::new();
        for (i, m) in items.iter().enumerate() {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .ok_or(format!("message {} has no string 'role'", i + 1))?;
            let content = m
                .get("content")
                .and_then(Value::as_str)
                .ok_or(format!("message {} has no string 'content'", i + 1))?;
            let role = match role {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                r => {
                    return Err(format!(
                        "message {} has unknown role '{r}' (use system, user, assistant or tool)",
                        i + 1
                    ))
                }
            };
            out.push(Message::new(role, content));
        }
        out
    } else if v.get("instruction").is_some() || v.get("output").is_some() {
        let instruction =
            text_field(v, "instruction")?.ok_or("Alpaca record has no 'instruction'")?;
        let output = text_field(v, "output")?.ok_or("Alpaca record has no 'output'")?;
        let mut out = Vec::new();
        if let Some(system) = text_field(v, "system")?.filter(|s| !s.is_empty()) {
            out.push(Message::system(system));
        }
        let user = match text_field(v, "input")?.filter(|s| !s.trim().is_empty()) {
            Some(input) => format!("{instruction}\n\n{input}"),
            None => instruction,
        };
        out.push(Message::new(Role::User, user));
        out.push(Message::new(Role::Assistant, output));
        out
    } else {
        return Err(
            "record has neither 'messages' (chat shape) nor 'instruction'/'output' (Alpaca shape)"
                .into(),
        );
    };
    match messages.last() {
        None => Err("'messages' is empty".into()),
        Some(m) if m.role != Role::Assistant => {
            Err("the last message must be the assistant's reply".into())
        }
        Some(m) if m.content.trim().is_empty() => Err("the assistant's reply is empty".into()),
        Some(_) => Ok(messages),
    }
}

/// Renders chats the way the backend formats them.
#[derive(Debug, Clone)]
pub struct ChatTemplate;

impl ChatTemplate {
    /// Picks the renderer for a model's `tokenizer.chat_template`. ChatML is supported: what
    /// llama.cpp's `llama_chat_apply_template` renders for models without a template and for any
    /// template containing `<|im_start|>` (SmolLM2's, and Qwen2.5's with its tools section, which
    /// the backend reduces to plain ChatML: no default system message is added), except the Phi-4
    /// (`<|im_sep|>`) and SmolVLM (`<end_of_utterance>`) variants it detects by their markers.
    pub fn for_model(template: Option<&str>) -> Result<Self> {
        match template {
            None => Ok(ChatTemplate),
            Some(t)
                if t.contains("<|im_start|>")
                    && !t.contains("<|im_sep|>")
                    && !t.contains("<end_of_utterance>") =>
            {
                Ok(ChatTemplate)
            }
            Some(_) => Err(Error::Template(
                "the model's chat template is not ChatML; only ChatML models (e.g. SmolLM2, Qwen2.5) can be tuned".into(),
            )),
        }
    }

    /// The prompt text the backend builds for `messages` (generation prompt appended).
    pub fn prompt(&self, messages: &[Message]) -> String {
        chatml::prompt(messages)
    }

    /// Tokens and loss mask of a conversation; every assistant reply is a target.
    pub fn encode(&self, tok: &Tokenizer, messages: &[Message]) -> Example {
        let (mut ids, mut target) = (Vec::new(), Vec::new());
        let mut pending = String::new();
        let push = |text: &str,
                    add_special: bool,
                    is_target: bool,
                    ids: &mut Vec<u32>,
                    target: &mut Vec<bool>| {
            let t = tok.encode(text, add_special);
            target.extend(std::iter::repeat_n(is_target, t.len()));
            ids.extend(t);
        };
        let mut first = true;
        for m in messages {
            if m.role == Role::Assistant {
                pending.push_str(chatml::ASSISTANT_START);
                push(&pending, first, false, &mut ids, &mut target);
                first = false;
                pending.clear();
                push(&m.content, false, true, &mut ids, &mut target);
                push(chatml::END, false, true, &mut ids, &mut target);
                pending.push('\n');
            } else {
                chatml::push_turn(&mut pending, m.role, &m.content);
            }
        }
        Example { ids, target }
    }
}

impl Dataset {
    /// Reads `train` (and `eval`, or else holds out `eval_fraction` of `train`, picked by `seed`).
    pub fn load(
        tok: &Tokenizer,
        template: &ChatTemplate,
        train: &Path,
        eval: Option<&Path>,
        eval_fraction: f32,
        seed: u64,
        opts: &LoadOptions,
    ) -> Result<Self> {
        let (mut convs, mut skipped) = read_conversations(train, opts.skip_bad)?;
        let held = match eval {
            Some(p) => {
                let (e, s) = read_conversations(p, opts.skip_bad)?;
                skipped += s;
                e
            }
            None => {
                Rng::new(seed).shuffle(&mut convs);
                let n = ((convs.len() as f32) * eval_fraction.clamp(0.0, 0.5)).round() as usize;
                let n = n.min(convs.len().saturating_sub(1));
                convs.drain(..n).collect()
            }
        };
        let mut encode = |cs: Vec<Vec<Message>>| -> Vec<Example> {
            cs.iter()
                .filter_map(|c| {
                    let mut ex = template.encode(tok, c);
                    ex.ids.truncate(opts.max_len);
                    ex.target.truncate(opts.max_len);
                    if ex.target_count() == 0 {
                        skipped += 1;
                        return None;
                    }
                    Some(ex)
                })
                .collect()
        };
        let train_ex = encode(convs);
        let eval_ex = encode(held);
        if train_ex.is_empty() {
            return Err(Error::Dataset {
                file: PathBuf::from(train),
                detail: format!(
                    "no training examples left (max length {} tokens may be too short)",
                    opts.max_len
                ),
            });
        }
        Ok(Dataset {
            train: train_ex,
            eval: eval_ex,
            skipped,
        })
    }
}

/// Batches of example indices for one epoch: shuffled by `seed` and `epoch`, bucketed by length
/// (sorted within windows of 8 batches) so that a batch pads little, batch order shuffled again.
pub fn epoch_batches(examples: &[Example], batch: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng = Rng::new(seed.wrapping_mul(0x100_0000_01B3).wrapping_add(epoch));
    let mut order: Vec<usize> = (0..examples.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::new();
    for window in order.chunks(batch * 8) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| examples[i].len());
        batches.extend(w.chunks(batch).map(|c| c.to_vec()));
    }
    rng.shuffle(&mut batches);
    batches
}
