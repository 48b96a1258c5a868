//! Hugging Face BERT checkpoint → llama.cpp BERT GGUF.
//!
//! Tensor names, metadata keys and value types follow llama.cpp's loader
//! (`src/llama-arch.cpp`, `src/models/bert.cpp`, `src/llama-vocab.cpp`,
//! `src/llama-model-loader.cpp`, which rejects a key of the wrong type) and the
//! vocabulary rewrite of `convert_hf_to_gguf.py`'s `BertModel`. The output is
//! deterministic: the same checkpoint always gives the same bytes.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde_json::Value as Json;

use crate::{fetch, Error, Result};

/// llama.cpp `LLAMA_POOLING_TYPE_MEAN`.
pub const POOLING_MEAN: u32 = 1;
/// llama.cpp `LLAMA_POOLING_TYPE_CLS`.
pub const POOLING_CLS: u32 = 2;

// gguf-py `TokenType` values, stored as INT32 in `tokenizer.ggml.token_type`.
const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;
const TOKEN_UNUSED: i32 = 5;

/// The BERT hyper-parameters read from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    pub hidden_size: u32,
    pub num_hidden_layers: u32,
    pub num_attention_heads: u32,
    pub intermediate_size: u32,
    pub layer_norm_eps: f32,
    pub max_position_embeddings: u32,
    pub vocab_size: u32,
    pub type_vocab_size: u32,
}

impl BertConfig {
    /// Parses a Hugging Face `config.json` (model_type must be `bert`).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let v: Json = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: "config.json".into(),
            source,
        })?;
        if let Some(mt) = v.get("model_type").and_then(Json::as_str) {
            if mt != "bert" {
                return Err(Error::Unsupported(format!(
                    "model_type '{mt}' is not 'bert'"
                )));
            }
        }
        let u = |key: &str| -> Result<u32> {
            v.get(key)
                .and_then(Json::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| Error::MissingKey {
                    file: "config.json",
                    key: key.to_string(),
                })
        };
        let eps = v
            .get("layer_norm_eps")
            .and_then(Json::as_f64)
            .ok_or_else(|| Error::MissingKey {
                file: "config.json",
                key: "layer_norm_eps".into(),
            })?;
        Ok(Self {
            hidden_size: u("hidden_size")?,
            num_hidden_layers: u("num_hidden_layers")?,
            num_attention_heads: u("num_attention_heads")?,
            intermediate_size: u("intermediate_size")?,
            layer_norm_eps: eps as f32,
            max_position_embeddings: u("max_position_embeddings")?,
            vocab_size: u("vocab_size")?,
            type_vocab_size: v.get("type_vocab_size").and_then(Json::as_u64).unwrap_or(2) as u32,
        })
    }
}

/// Converts a zip holding `config.json`, `tokenizer.json` and
/// `model.safetensors` (optionally `1_Pooling/config.json`, as written by
/// sentence-transformers) into GGUF bytes.
pub fn convert_bert_zip(zip_path: &Path, name: &str) -> Result<Vec<u8>> {
    let zerr = |detail: String| fetch::archive_err(zip_path, detail);
    let mut zip = fetch::open_zip(zip_path)?;
    let mut read = |member: &str, required: bool| -> Result<Option<Vec<u8>>> {
        let mut entry = match zip.by_name(member) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) if !required => return Ok(None),
            Err(e) => return Err(zerr(format!("no member '{member}': {e}"))),
        };
        let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut buf)
            .map_err(|e| zerr(format!("reading '{member}': {e}")))?;
        Ok(Some(buf))
    };
    let config = read("config.json", true)?.unwrap_or_default();
    let tokenizer = read("tokenizer.json", true)?.unwrap_or_default();
    let pooling = match read("1_Pooling/config.json", false)? {
        Some(bytes) => pooling_from_json(&bytes)?,
        None => POOLING_MEAN,
    };
    let weights = read("model.safetensors", true)?.unwrap_or_default();
    convert_bert(name, &config, &tokenizer, &weights, pooling)
}

fn pooling_from_json(bytes: &[u8]) -> Result<u32> {
    let v: Json = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: "1_Pooling/config.json".into(),
        source,
    })?;
    let on = |k: &str| v.get(k).and_then(Json::as_bool).unwrap_or(false);
    if on("pooling_mode_mean_tokens") {
        Ok(POOLING_MEAN)
    } else if on("pooling_mode_cls_token") {
        Ok(POOLING_CLS)
    } else {
        Err(Error::Unsupported(
            "pooling mode other than mean or CLS".into(),
        ))
    }
}

/// The vocabulary in llama.cpp's "phantom space" form, with token types.
struct Vocab {
    tokens: Vec<String>,
    types: Vec<i32>,
    ids: HashMap<String, u32>,
    lowercase: bool,
    strip_accents: bool,
}

fn read_vocab(tokenizer_json: &[u8]) -> Result<Vocab> {
    let missing = |key: &str| Error::MissingKey {
        file: "tokenizer.json",
        key: key.to_string(),
    };
    let v: Json = serde_json::from_slice(tokenizer_json).map_err(|source| Error::Json {
        what: "tokenizer.json".into(),
        source,
    })?;
    let model = v.get("model").ok_or_else(|| missing("model"))?;
    if let Some(t) = model.get("type").and_then(Json::as_str) {
        if t != "WordPiece" {
            return Err(Error::Unsupported(format!(
                "tokenizer model '{t}' is not WordPiece"
            )));
        }
    }
    let map = model
        .get("vocab")
        .and_then(Json::as_object)
        .ok_or_else(|| missing("model.vocab"))?;
    let mut ids = HashMap::with_capacity(map.len());
    let mut n = 0usize;
    for (tok, id) in map {
        let id = id
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| missing(&format!("model.vocab[{tok}]")))?;
        n = n.max(id as usize + 1);
        ids.insert(tok.clone(), id);
    }
    let mut raw: Vec<Option<&str>> = vec![None; n];
    for (tok, &id) in &ids {
        raw[id as usize] = Some(tok.as_str());
    }
    // Added tokens: special ones are CONTROL, the rest USER_DEFINED (as gguf-py does).
    let mut added: HashMap<&str, bool> = HashMap::new();
    for t in v
        .get("added_tokens")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = t.get("content").and_then(Json::as_str) {
            added.insert(c, t.get("special").and_then(Json::as_bool).unwrap_or(false));
        }
    }
    let mut tokens = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    for (i, tok) in raw.into_iter().enumerate() {
        let (raw_text, ty) = match tok {
            None => (format!("[PAD{i}]"), TOKEN_UNUSED),
            Some(t) => match added.get(t) {
                Some(true) => (t.to_string(), TOKEN_CONTROL),
                Some(false) => (t.to_string(), TOKEN_USER_DEFINED),
                None => (t.to_string(), TOKEN_NORMAL),
            },
        };
        // Phantom space (as convert_hf_to_gguf.py's BertModel): control tokens stay,
        // word-continuations lose "##", everything else gains a leading U+2581.
        let text = if ty == TOKEN_CONTROL {
            raw_text
        } else if let Some(rest) = raw_text.strip_prefix("##") {
            rest.to_string()
        } else {
            format!("\u{2581}{raw_text}")
        };
        tokens.push(text);
        types.push(ty);
    }
    let norm = v.get("normalizer");
    let lowercase = norm
        .and_then(|n| n.get("lowercase"))
        .and_then(Json::as_bool)
        .unwrap_or(true);
    let strip_accents = norm
        .and_then(|n| n.get("strip_accents"))
        .and_then(Json::as_bool)
        .unwrap_or(lowercase);
    Ok(Vocab {
        tokens,
        types,
        ids,
        lowercase,
        strip_accents,
    })
}

/// Converts a BERT checkpoint to GGUF bytes: 2-D matrices as F16, 1-D tensors
/// and the position/token-type embeddings as F32; the pooler is dropped.
pub fn convert_bert(
    name: &str,
    config_json: &[u8],
    tokenizer_json: &[u8],
    safetensors: &[u8],
    pooling: u32,
) -> Result<Vec<u8>> {
    let cfg = BertConfig::from_json(config_json)?;
    let vocab = read_vocab(tokenizer_json)?;
    if vocab.tokens.len() != cfg.vocab_size as usize {
        return Err(Error::Unsupported(format!(
            "tokenizer has {} tokens but config.json says vocab_size {}",
            vocab.tokens.len(),
            cfg.vocab_size
        )));
    }
    let special = |tok: &str| -> Result<u32> {
        vocab
            .ids
            .get(tok)
            .copied()
            .ok_or_else(|| Error::MissingKey {
                file: "tokenizer.json",
                key: format!("special token {tok}"),
            })
    };
    let (cls, sep, unk, pad) = (
        special("[CLS]")?,
        special("[SEP]")?,
        special("[UNK]")?,
        special("[PAD]")?,
    );
    let mask = special("[MASK]").ok();

    let mut weights = candle_core::safetensors::load_buffer(safetensors, &Device::Cpu)?;
    // Some checkpoints prefix everything with "bert."; the position_ids buffer and pooler are unused.
    let keys: Vec<String> = weights.keys().cloned().collect();
    for k in keys {
        if let Some(stripped) = k.strip_prefix("bert.") {
            if let Some(t) = weights.remove(&k) {
                weights.insert(stripped.to_string(), t);
            }
        }
    }
    let mut take = |src: &str| -> Result<Tensor> {
        let t = weights
            .remove(src)
            .ok_or_else(|| Error::MissingTensor(src.to_string()))?;
        Ok(t.to_dtype(DType::F32)?)
    };
    let mut out: Vec<(String, QTensor)> = Vec::new();
    let mut push = |dst: String, t: Tensor, keep_f32: bool| -> Result<()> {
        let dtype = if t.rank() >= 2 && !keep_f32 {
            GgmlDType::F16
        } else {
            GgmlDType::F32
        };
        out.push((dst, QTensor::quantize(&t, dtype)?));
        Ok(())
    };
    push(
        "token_embd.weight".into(),
        take("embeddings.word_embeddings.weight")?,
        false,
    )?;
    push(
        "token_types.weight".into(),
        take("embeddings.token_type_embeddings.weight")?,
        true,
    )?;
    push(
        "position_embd.weight".into(),
        take("embeddings.position_embeddings.weight")?,
        true,
    )?;
    push(
        "token_embd_norm.weight".into(),
        take("embeddings.LayerNorm.weight")?,
        false,
    )?;
    push(
        "token_embd_norm.bias".into(),
        take("embeddings.LayerNorm.bias")?,
        false,
    )?;
    for i in 0..cfg.num_hidden_layers {
        let pairs = [
            ("attention.self.query", "attn_q"),
            ("attention.self.key", "attn_k"),
            ("attention.self.value", "attn_v"),
            ("attention.output.dense", "attn_output"),
            ("attention.output.LayerNorm", "attn_output_norm"),
            ("intermediate.dense", "ffn_up"),
            ("output.dense", "ffn_down"),
            ("output.LayerNorm", "layer_output_norm"),
        ];
        for (hf, gg) in pairs {
            for suffix in ["weight", "bias"] {
                let t = take(&format!("encoder.layer.{i}.{hf}.{suffix}"))?;
                push(format!("blk.{i}.{gg}.{suffix}"), t, false)?;
            }
        }
    }
    let dims = |n: &str| {
        out.iter()
            .find(|(k, _)| k == n)
            .map(|(_, t)| t.shape().dims().to_vec())
    };
    let want = vec![cfg.vocab_size as usize, cfg.hidden_size as usize];
    if dims("token_embd.weight") != Some(want.clone()) {
        return Err(Error::Unsupported(format!(
            "word embeddings have shape {:?}, expected {want:?}",
            dims("token_embd.weight")
        )));
    }

    let s = |x: &str| Value::String(x.to_string());
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", s("bert")),
        ("general.name", s(name)),
        ("general.file_type", Value::U32(1)), // LLAMA_FTYPE_MOSTLY_F16
        (
            "bert.context_length",
            Value::U32(cfg.max_position_embeddings),
        ),
        ("bert.embedding_length", Value::U32(cfg.hidden_size)),
        (
            "bert.feed_forward_length",
            Value::U32(cfg.intermediate_size),
        ),
        ("bert.block_count", Value::U32(cfg.num_hidden_layers)),
        (
            "bert.attention.head_count",
            Value::U32(cfg.num_attention_heads),
        ),
        (
            "bert.attention.layer_norm_epsilon",
            Value::F32(cfg.layer_norm_eps),
        ),
        ("bert.attention.causal", Value::Bool(false)),
        ("bert.pooling_type", Value::U32(pooling)),
        ("tokenizer.ggml.model", s("bert")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(vocab.tokens.iter().map(|t| s(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(vocab.types.iter().map(|&t| Value::I32(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type_count",
            Value::U32(cfg.type_vocab_size),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(cls)),
        ("tokenizer.ggml.cls_token_id", Value::U32(cls)),
        ("tokenizer.ggml.seperator_token_id", Value::U32(sep)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(unk)),
        ("tokenizer.ggml.padding_token_id", Value::U32(pad)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
        ("tokenizer.ggml.add_sep_token", Value::Bool(true)),
        (
            "tokenizer.ggml.normalizer.lowercase",
            Value::Bool(vocab.lowercase),
        ),
        (
            "tokenizer.ggml.normalizer.strip_accents",
            Value::Bool(vocab.strip_accents),
        ),
    ];
    let mut metadata = metadata;
    if let Some(m) = mask {
        metadata.push(("tokenizer.ggml.mask_token_id", Value::U32(m)));
    }
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = out.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut buf = std::io::Cursor::new(Vec::with_capacity(48 << 20));
    gguf_file::write(&mut buf, &md, &ts)?;
    tracing::info!(
        tensors = ts.len(),
        bytes = buf.get_ref().len(),
        "converted BERT checkpoint to GGUF"
    );
    Ok(buf.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_space_vocab() {
        let tok = br####"{"added_tokens":[{"id":0,"content":"[PAD]","special":true}],
            "normalizer":{"lowercase":true,"strip_accents":null},
            "model":{"type":"WordPiece","vocab":{"[PAD]":0,"hello":1,"##lo":2,"[unused0]":4}}}"####;
        let v = read_vocab(tok).expect("vocab");
        assert_eq!(
            v.tokens,
            vec![
                "[PAD]",
                "\u{2581}hello",
                "lo",
                "\u{2581}[PAD3]",
                "\u{2581}[unused0]"
            ]
        );
        assert_eq!(v.types, vec![3, 1, 1, 5, 1]);
        assert!(v.lowercase && v.strip_accents);
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = BertConfig::from_json(
            br#"{"model_type":"bert","hidden_size":384,"layer_norm_eps":1e-12}"#,
        );
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("num_hidden_layers"), "{msg}");
        assert!(BertConfig::from_json(br#"{"model_type":"gpt2"}"#).is_err());
    }
}
