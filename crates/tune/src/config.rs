//! The architectures this crate can train, and a model's shape read from its GGUF metadata.
//!
//! Two llama.cpp architectures share one decoder (RMS norm, grouped-query attention with RoPE,
//! SwiGLU MLP) and differ in three details that change every logit if missed:
//!
//! | | `llama` (SmolLM2) | `qwen2` (Qwen2.5) |
//! |---|---|---|
//! | RoPE | interleaved pairs `2i, 2i+1` (llama.cpp's "norm" type; the converter permuted Q/K for it) | halves `i, i + d/2` (llama.cpp's NEOX type) |
//! | Q/K/V biases | optional, usually absent | present |
//! | metadata keys | `llama.*` | `qwen2.*` |
//!
//! Both may or may not carry `output.weight`; without it the output layer reuses
//! `token_embd.weight`, as llama.cpp does.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};

use crate::{Error, Result};

/// A model architecture that can be tuned, as llama.cpp names it in `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arch {
    Llama,
    Qwen2,
}

/// How rotary position embeddings pair up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Pairs `(2i, 2i+1)`: llama.cpp's `LLAMA_ROPE_TYPE_NORM`, candle's `rope_i`.
    Interleaved,
    /// Pairs `(i, i + d/2)`: llama.cpp's `LLAMA_ROPE_TYPE_NEOX`, candle's `rope`.
    Neox,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Llama, Arch::Qwen2];

    /// The `general.architecture` value, which is also the prefix of the model's metadata keys
    /// and what an adapter for the model must declare.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The RoPE layout llama.cpp uses for this architecture (`llama_model_rope_type`).
    pub fn rope(self) -> RopeStyle {
        match self {
            Arch::Llama => RopeStyle::Interleaved,
            Arch::Qwen2 => RopeStyle::Neox,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape of a model, from its GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub layers: usize,
    pub hidden: usize,
    pub ffn: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_dims: usize,
    pub rope_base: f32,
    pub rms_eps: f64,
    pub vocab: usize,
    pub context: usize,
}

pub(crate) fn model_err(path: &Path, detail: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// The GGUF tensors of one layer that every supported architecture has.
const LAYER_WEIGHTS: [&str; 9] = [
    "attn_norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_norm",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// The projections that may carry a bias (`blk.N.<stem>.bias`), as llama.cpp loads them.
pub(crate) const BIASED: [&str; 4] = ["attn_q", "attn_k", "attn_v", "attn_output"];

impl ModelConfig {
    /// Reads the shape of a `llama` or `qwen2` model; any other architecture is refused.
    pub fn from_gguf(content: &Content, path: &Path) -> Result<Self> {
        let name = match content.metadata.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            _ => "unknown".into(),
        };
        let Some(arch) = Arch::from_name(&name) else {
            return Err(model_err(
                path,
                format!(
                    "architecture '{name}' cannot be tuned: pass a llama- or qwen2-architecture \
                     chat model (e.g. --base smollm2-135m or --base qwen2.5-coder-1.5b)"
                ),
            ));
        };
        let key = |k: &str| format!("{}.{k}", arch.name());
        let get_u = |k: &str| -> Option<usize> {
            content.metadata.get(&key(k)).and_then(|v| {
                v.to_u32()
                    .ok()
                    .map(|x| x as usize)
                    .or_else(|| v.to_u64().ok().map(|x| x as usize))
            })
        };
        let u = |k: &str| -> Result<usize> {
            get_u(k).ok_or_else(|| model_err(path, format!("metadata '{}' is missing", key(k))))
        };
        let f = |k: &str| content.metadata.get(&key(k)).and_then(|v| v.to_f32().ok());
        let hidden = u("embedding_length")?;
        let heads = u("attention.head_count")?;
        let head_dim = get_u("attention.key_length").unwrap_or(hidden / heads.max(1));
        let rope_dims = get_u("rope.dimension_count").unwrap_or(head_dim);
        if rope_dims != head_dim {
            return Err(model_err(
                path,
                format!(
                    "partial RoPE ({rope_dims} of {head_dim} head dimensions) is not supported"
                ),
            ));
        }
        let vocab = content
            .tensor_infos
            .get("token_embd.weight")
            .map(|t| t.shape.dims()[0])
            .ok_or_else(|| model_err(path, "tensor 'token_embd.weight' is missing"))?;
        Ok(ModelConfig {
            arch,
            layers: u("block_count")?,
            hidden,
            ffn: u("feed_forward_length")?,
            heads,
            kv_heads: get_u("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            rope_dims,
            rope_base: f("rope.freq_base").unwrap_or(10_000.0),
            rms_eps: f("attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f64,
            vocab,
            context: get_u("context_length").unwrap_or(2048),
        })
    }

    /// The weight names a model of this shape needs.
    pub fn weight_names(&self) -> Vec<String> {
        self.names(
            ["token_embd.weight", "output_norm.weight"],
            &LAYER_WEIGHTS,
            "weight",
        )
    }

    /// Tensors used when the GGUF has them: the output layer (else the token embedding is reused)
    /// and projection biases (Qwen2's Q/K/V biases).
    pub fn optional_weight_names(&self) -> Vec<String> {
        self.names(["output.weight", "output.bias"], &BIASED, "bias")
    }

    /// `global`, then `blk.L.W.SUFFIX` for every layer `L` and every `W` of `per_layer`.
    fn names(&self, global: [&str; 2], per_layer: &[&str], suffix: &str) -> Vec<String> {
        let mut names: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        for l in 0..self.layers {
            for w in per_layer {
                names.push(format!("blk.{l}.{w}.{suffix}"));
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_round_trip_and_pick_their_rope() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_name(a.name()), Some(a));
        }
        assert_eq!(Arch::from_name("gemma"), None);
        assert_eq!(Arch::Llama.rope(), RopeStyle::Interleaved);
        assert_eq!(Arch::Qwen2.rope(), RopeStyle::Neox);
    }
}
