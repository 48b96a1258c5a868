//! The backbone: a llama-architecture GGUF, dequantized, with a trainable forward pass.
//!
//! The weights are read from the very file llama.cpp serves and kept under their GGUF names, so
//! an adapter's tensor names (`blk.N.attn_q.weight.lora_a`) need no mapping. llama.cpp's converter
//! already permuted Q and K for interleaved RoPE, so the forward uses interleaved RoPE and leaves
//! the weights as they are. Models without `output.weight` (SmolLM2) reuse the token embedding.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor, D};

use crate::lora::Lora;
use crate::ops::{frozen_linear, rms_norm, rope_interleaved, rope_tables, softmax};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result, Rng};

/// The shape of a llama-architecture model, from its GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
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

fn model_err(path: &Path, detail: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl ModelConfig {
    /// Reads the shape of an `llama` model; any other architecture is refused.
    pub fn from_gguf(content: &Content, path: &Path) -> Result<Self> {
        let arch = match content.metadata.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            _ => "unknown".into(),
        };
        if arch != "llama" {
            return Err(model_err(
                path,
                format!(
                    "architecture '{arch}' cannot be tuned: pass a llama-architecture chat model \
                     (e.g. --base smollm2-135m)"
                ),
            ));
        }
        let u = |key: &str| -> Result<usize> {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .and_then(|v| {
                    v.to_u32()
                        .ok()
                        .or_else(|| v.to_u64().ok().map(|x| x as u32))
                })
                .map(|v| v as usize)
                .ok_or_else(|| model_err(path, format!("metadata 'llama.{key}' is missing")))
        };
        let f = |key: &str| content.metadata.get(key).and_then(|v| v.to_f32().ok());
        let hidden = u("embedding_length")?;
        let heads = u("attention.head_count")?;
        let head_dim = hidden / heads.max(1);
        let vocab = content
            .tensor_infos
            .get("token_embd.weight")
            .map(|t| t.shape.dims()[0])
            .ok_or_else(|| model_err(path, "tensor 'token_embd.weight' is missing"))?;
        Ok(ModelConfig {
            layers: u("block_count")?,
            hidden,
            ffn: u("feed_forward_length")?,
            heads,
            kv_heads: u("attention.head_count_kv").unwrap_or(heads),
            head_dim,
            rope_dims: u("rope.dimension_count").unwrap_or(head_dim),
            rope_base: f("llama.rope.freq_base").unwrap_or(10_000.0),
            rms_eps: f("llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f64,
            vocab,
            context: u("context_length").unwrap_or(2048),
        })
    }

    /// The weight names a model of this shape needs (`output.weight` is optional).
    pub fn weight_names(&self) -> Vec<String> {
        let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".into()];
        for l in 0..self.layers {
            for w in [
                "attn_norm",
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_norm",
                "ffn_gate",
                "ffn_up",
                "ffn_down",
            ] {
                names.push(format!("blk.{l}.{w}.weight"));
            }
        }
        names
    }
}

/// Per-sequence-length tensors shared by every layer.
#[derive(Debug, Clone)]
pub struct LayerContext {
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
}

/// A dequantized llama model, its tokenizer and chat template.
#[derive(Debug)]
pub struct Backbone {
    pub config: ModelConfig,
    pub tokenizer: Tokenizer,
    /// `tokenizer.chat_template` from the GGUF, if any.
    pub chat_template: Option<String>,
    pub path: PathBuf,
    weights: HashMap<String, Tensor>,
    device: Device,
}

impl Backbone {
    /// Loads a GGUF chat model, every tensor dequantized to f32 on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        hamlet_models::gguf::check_gguf_magic(path)?;
        let mut file =
            std::io::BufReader::new(File::open(path).map_err(|e| Error::io("open", path, e))?);
        let content = Content::read(&mut file)
            .map_err(|e| model_err(path, format!("unreadable GGUF: {e}")))?;
        let config = ModelConfig::from_gguf(&content, path)?;
        let tokenizer =
            Tokenizer::from_gguf(&content).map_err(|e| model_err(path, e.to_string()))?;
        let chat_template = match content.metadata.get("tokenizer.chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let mut weights = HashMap::new();
        let mut names = config.weight_names();
        if content.tensor_infos.contains_key("output.weight") {
            names.push("output.weight".into());
        }
        for name in names {
            if !content.tensor_infos.contains_key(&name) {
                return Err(model_err(path, format!("tensor '{name}' is missing")));
            }
            let q = content.tensor(&mut file, &name, device)?;
            weights.insert(name, q.dequantize(device)?.to_dtype(DType::F32)?);
        }
        tracing::info!(path = %path.display(), layers = config.layers, hidden = config.hidden, "loaded backbone");
        Ok(Backbone {
            config,
            tokenizer,
            chat_template,
            path: path.to_path_buf(),
            weights,
            device: device.clone(),
        })
    }

    /// A backbone from given weights (tests use tiny random models, in f64 for gradient checks).
    pub fn from_weights(
        config: ModelConfig,
        tokenizer: Tokenizer,
        weights: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        for name in config.weight_names() {
            if !weights.contains_key(&name) {
                return Err(Error::Config(format!("weight '{name}' is missing")));
            }
        }
        Ok(Backbone {
            config,
            tokenizer,
            chat_template: None,
            path: PathBuf::from("<memory>"),
            weights,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A base weight by GGUF name.
    pub fn weight(&self, name: &str) -> Result<&Tensor> {
        self.weights
            .get(name)
            .ok_or_else(|| Error::Config(format!("the model has no weight '{name}'")))
    }

    pub fn dtype(&self) -> DType {
        self.weights
            .get("token_embd.weight")
            .map(|w| w.dtype())
            .unwrap_or(DType::F32)
    }

    fn linear(
        &self,
        x: &Tensor,
        name: &str,
        lora: Option<&Lora>,
        rng: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let y = frozen_linear(x, self.weight(name)?)?;
        match lora {
            Some(l) => l.apply(name, x, y, rng),
            None => Ok(y),
        }
    }

    /// Token embeddings `(b, t, hidden)` of ids `(b, t)`.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        Ok(self
            .weight("token_embd.weight")?
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.config.hidden))?)
    }

    /// RoPE tables and the causal mask for sequences of `t` tokens.
    pub fn layer_context(&self, t: usize) -> Result<LayerContext> {
        let c = &self.config;
        let dtype = self.dtype();
        let (cos, sin) = rope_tables(t, c.rope_dims, c.rope_base, dtype, &self.device)?;
        let mask: Vec<f32> = (0..t)
            .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), &self.device)?.to_dtype(dtype)?;
        Ok(LayerContext { cos, sin, mask })
    }

    /// One transformer block on `x (b, t, hidden)`; `rng` turns on LoRA dropout.
    pub fn layer(
        &self,
        l: usize,
        x: &Tensor,
        ctx: &LayerContext,
        lora: Option<&Lora>,
        mut rng: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let rep = c.heads / c.kv_heads.max(1);
        let p = |w: &str| format!("blk.{l}.{w}.weight");
        let h = rms_norm(x, self.weight(&p("attn_norm"))?, c.rms_eps)?;
        let q = self.linear(&h, &p("attn_q"), lora, rng.as_deref_mut())?;
        let k = self.linear(&h, &p("attn_k"), lora, rng.as_deref_mut())?;
        let v = self.linear(&h, &p("attn_v"), lora, rng.as_deref_mut())?;
        let heads = |z: Tensor, n: usize| -> Result<Tensor> {
            Ok(z.reshape((b, t, n, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = rope_interleaved(&heads(q, c.heads)?, &ctx.cos, &ctx.sin)?;
        let k = rope_interleaved(&heads(k, c.kv_heads)?, &ctx.cos, &ctx.sin)?;
        let v = heads(v, c.kv_heads)?;
        let expand = |z: Tensor| -> Result<Tensor> {
            if rep == 1 {
                return Ok(z);
            }
            Ok(z.unsqueeze(2)?
                .expand((b, c.kv_heads, rep, t, c.head_dim))?
                .reshape((b, c.heads, t, c.head_dim))?)
        };
        let (k, v) = (expand(k)?, expand(v)?);
        let att = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&ctx.mask)?;
        let out = softmax(&att)?.matmul(&v)?;
        let out = out.transpose(1, 2)?.reshape((b, t, c.heads * c.head_dim))?;
        let x = (x + self.linear(&out, &p("attn_output"), lora, rng.as_deref_mut())?)?;
        let h = rms_norm(&x, self.weight(&p("ffn_norm"))?, c.rms_eps)?;
        let gate = self.linear(&h, &p("ffn_gate"), lora, rng.as_deref_mut())?;
        let up = self.linear(&h, &p("ffn_up"), lora, rng.as_deref_mut())?;
        let act = (gate.silu()? * up)?;
        Ok((&x + self.linear(&act, &p("ffn_down"), lora, rng)?)?)
    }

    /// The final RMS norm.
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        Ok(rms_norm(
            x,
            self.weight("output_norm.weight")?,
            self.config.rms_eps,
        )?)
    }

    /// Final hidden states `(b, t, hidden)` for token ids `(b, t)`; `rng` turns on LoRA dropout.
    pub fn hidden(
        &self,
        ids: &Tensor,
        lora: Option<&Lora>,
        mut rng: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let ctx = self.layer_context(ids.dim(1)?)?;
        let mut x = self.embed(ids)?;
        for l in 0..self.config.layers {
            x = self.layer(l, &x, &ctx, lora, rng.as_deref_mut())?;
        }
        self.final_norm(&x)
    }

    /// Logits `(n, vocab)` for hidden states `(n, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let head = match self.weights.get("output.weight") {
            Some(w) => w,
            None => self.weight("token_embd.weight")?,
        };
        Ok(frozen_linear(hidden, head)?)
    }

    /// Logits of the token after the last one of `ids` (inference, no dropout).
    pub fn next_token_logits(&self, ids: &[u32], lora: Option<&Lora>) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(Error::Config("no tokens to run".into()));
        }
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &self.device)?;
        let h = self.hidden(&t, lora, None)?;
        let last = h
            .narrow(1, ids.len() - 1, 1)?
            .reshape((1, self.config.hidden))?;
        Ok(self
            .logits(&last)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// Log-softmax of the model over `(n, vocab)` logits, last dimension.
    pub fn log_probs(logits: &Tensor) -> Result<Tensor> {
        let max = logits.max_keepdim(D::Minus1)?;
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        Ok(shifted.broadcast_sub(&lse)?)
    }
}
