//! The backbone: a `llama` or `qwen2` GGUF, dequantized, with a trainable forward pass.
//!
//! The weights are read from the very file llama.cpp serves and kept under their GGUF names, so
//! an adapter's tensor names (`blk.N.attn_q.weight.lora_a`) need no mapping. The forward follows
//! llama.cpp's graph for the architecture (see [`crate::config`]): for `llama` the converter
//! already permuted Q and K for interleaved RoPE, so interleaved RoPE is used and the weights are
//! left as they are; `qwen2` uses NEOX RoPE and adds the Q/K/V biases. Models without
//! `output.weight` (SmolLM2) reuse the token embedding.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor, D};

use crate::config::model_err;
pub use crate::config::{Arch, ModelConfig, RopeStyle};
use crate::lora::Lora;
use crate::ops::{frozen_linear, rms_norm, rope_interleaved, rope_neox, rope_tables, softmax};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result, Rng};

/// Per-sequence-length tensors shared by every layer.
#[derive(Debug, Clone)]
pub struct LayerContext {
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
}

/// A dequantized model, its tokenizer and chat template.
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
        names.extend(
            config
                .optional_weight_names()
                .into_iter()
                .filter(|n| content.tensor_infos.contains_key(n)),
        );
        for name in names {
            if !content.tensor_infos.contains_key(&name) {
                return Err(model_err(path, format!("tensor '{name}' is missing")));
            }
            let q = content.tensor(&mut file, &name, device)?;
            weights.insert(name, q.dequantize(device)?.to_dtype(DType::F32)?);
        }
        tracing::info!(path = %path.display(), arch = %config.arch, layers = config.layers, hidden = config.hidden, "loaded backbone");
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
        let mut y = frozen_linear(x, self.weight(name)?)?;
        if let Some(bias) = name
            .strip_suffix(".weight")
            .and_then(|stem| self.weights.get(&format!("{stem}.bias")))
        {
            y = y.broadcast_add(bias)?;
        }
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
        let rope = match c.arch.rope() {
            RopeStyle::Interleaved => rope_interleaved,
            RopeStyle::Neox => rope_neox,
        };
        let q = rope(&heads(q, c.heads)?, &ctx.cos, &ctx.sin)?;
        let k = rope(&heads(k, c.kv_heads)?, &ctx.cos, &ctx.sin)?;
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
        let logits = frozen_linear(hidden, head)?;
        Ok(match self.weights.get("output.bias") {
            Some(b) => logits.broadcast_add(b)?,
            None => logits,
        })
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
