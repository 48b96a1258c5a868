//! Low-rank adapters on the projections, and their export.
//!
//! For a frozen weight `W (out, in)` an adapter adds `(alpha / r) · B A x` with `A (r, in)`
//! initialised uniformly in ±1/√in and `B (out, r)` at zero, so training starts from the base
//! model exactly. `A` and `B` keep llama.cpp's layout (`lora_a` is `(r, in)`, `lora_b` `(out, r)`)
//! and llama.cpp scales by the same `alpha / r`, so an exported adapter needs no conversion.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Tensor, Var};

use crate::config::Arch;
use crate::model::Backbone;
use crate::{Error, Result, Rng};

/// A projection an adapter can be put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// The GGUF tensor name stem (`blk.N.<stem>.weight`).
    pub fn gguf_stem(self) -> &'static str {
        match self {
            Target::Q => "attn_q",
            Target::K => "attn_k",
            Target::V => "attn_v",
            Target::O => "attn_output",
            Target::Gate => "ffn_gate",
            Target::Up => "ffn_up",
            Target::Down => "ffn_down",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Target::Q => "q",
            Target::K => "k",
            Target::V => "v",
            Target::O => "o",
            Target::Gate => "gate",
            Target::Up => "up",
            Target::Down => "down",
        }
    }

    /// Parses `q,k,v,o,gate,up,down`, or the groups `attn`, `mlp` and `all`.
    pub fn parse_list(s: &str) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: &[Target] = match part {
                "attn" => &Target::ALL[..4],
                "mlp" => &Target::ALL[4..],
                "all" => &Target::ALL,
                p => match Target::ALL.iter().find(|t| t.short() == p || t.gguf_stem() == p) {
                    Some(t) => std::slice::from_ref(t),
                    None => {
                        return Err(Error::Config(format!(
                            "unknown LoRA target '{p}': use q, k, v, o, gate, up, down, attn, mlp or all"
                        )))
                    }
                },
            };
            for t in add {
                if !out.contains(t) {
                    out.push(*t);
                }
            }
        }
        if out.is_empty() {
            return Err(Error::Config("no LoRA targets given".into()));
        }
        out.sort();
        Ok(out)
    }
}

/// Rank, scale, dropout and where the adapters go.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    pub dropout: f32,
    /// Short names (`q`, `v`, `gate`, ...).
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            targets: Target::ALL.iter().map(|t| t.short().to_string()).collect(),
        }
    }
}

impl LoraConfig {
    pub fn validate(&self) -> Result<Vec<Target>> {
        if self.rank == 0 || self.rank > 256 {
            return Err(Error::Config(format!(
                "LoRA rank {} must be in 1..=256",
                self.rank
            )));
        }
        if self.alpha.is_nan() || self.alpha <= 0.0 {
            return Err(Error::Config(format!(
                "LoRA alpha {} must be positive",
                self.alpha
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "LoRA dropout {} must be in [0, 1)",
                self.dropout
            )));
        }
        Target::parse_list(&self.targets.join(","))
    }
}

/// The adapters of one model: `A`/`B` per adapted weight, keyed by the weight's GGUF name.
#[derive(Debug, Clone)]
pub struct Lora {
    pub config: LoraConfig,
    /// The base model's architecture, declared in the exported adapter (llama.cpp refuses an
    /// adapter whose `general.architecture` differs from the model's).
    pub arch: Arch,
    scale: f64,
    pairs: BTreeMap<String, (Tensor, Tensor)>,
}

impl Lora {
    /// Fresh adapters for `backbone` (`B = 0`), `A` drawn from `seed`.
    pub fn new(backbone: &Backbone, config: LoraConfig, seed: u64) -> Result<Self> {
        let targets = config.validate()?;
        let mut rng = Rng::new(seed);
        let mut pairs = BTreeMap::new();
        let dtype = backbone.dtype();
        for l in 0..backbone.config.layers {
            for t in &targets {
                let name = format!("blk.{l}.{}.weight", t.gguf_stem());
                let (out, inp) = backbone.weight(&name)?.dims2()?;
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..config.rank * inp)
                    .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
                    .collect();
                let a =
                    Tensor::from_vec(a, (config.rank, inp), backbone.device())?.to_dtype(dtype)?;
                let b = Tensor::zeros((out, config.rank), dtype, backbone.device())?;
                pairs.insert(
                    name,
                    (
                        Var::from_tensor(&a)?.as_tensor().clone(),
                        Var::from_tensor(&b)?.as_tensor().clone(),
                    ),
                );
            }
        }
        Ok(Lora {
            scale: config.alpha as f64 / config.rank as f64,
            config,
            arch: backbone.config.arch,
            pairs,
        })
    }

    /// Reads an adapter written by [`Lora::export`] (or any llama.cpp LoRA GGUF for this model).
    pub fn from_adapter(backbone: &Backbone, path: &Path) -> Result<Self> {
        let err = |detail: String| Error::Checkpoint {
            path: path.to_path_buf(),
            detail,
        };
        let mut file = std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?,
        );
        let content = Content::read(&mut file)?;
        let alpha = content
            .metadata
            .get("adapter.lora.alpha")
            .and_then(|v| v.to_f32().ok())
            .ok_or_else(|| err("no 'adapter.lora.alpha': not a LoRA adapter".into()))?;
        let arch = backbone.config.arch;
        match content.metadata.get("general.architecture") {
            Some(Value::String(a)) if a == arch.name() => {}
            Some(Value::String(a)) => {
                return Err(err(format!(
                    "the adapter is for a '{a}' model, the base model is '{arch}'"
                )))
            }
            _ => return Err(err("no 'general.architecture': not a LoRA adapter".into())),
        }
        let mut pairs = BTreeMap::new();
        let mut targets = Vec::new();
        let mut rank = 0;
        let dev = backbone.device();
        for name in content.tensor_infos.keys() {
            let Some(base) = name.strip_suffix(".lora_a") else {
                continue;
            };
            let read = |n: &str| -> Result<Tensor> {
                Ok(content
                    .tensor(
                        &mut std::io::BufReader::new(
                            std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?,
                        ),
                        n,
                        dev,
                    )?
                    .dequantize(dev)?
                    .to_dtype(backbone.dtype())?)
            };
            let a = read(name)?;
            let b = read(&format!("{base}.lora_b"))?;
            rank = a.dim(0)?;
            if let Some(t) = Target::ALL
                .iter()
                .find(|t| base.ends_with(&format!(".{}.weight", t.gguf_stem())))
            {
                if !targets.contains(&t.short().to_string()) {
                    targets.push(t.short().to_string());
                }
            }
            backbone
                .weight(base)
                .map_err(|_| err(format!("adapts '{base}', which the base model lacks")))?;
            pairs.insert(base.to_string(), (a, b));
        }
        if pairs.is_empty() {
            return Err(err("no .lora_a/.lora_b tensors".into()));
        }
        let config = LoraConfig {
            rank,
            alpha,
            dropout: 0.0,
            targets,
        };
        Ok(Lora {
            scale: alpha as f64 / rank as f64,
            config,
            arch,
            pairs,
        })
    }

    /// The trainable tensors in a fixed order: `(name.lora_a, A)`, `(name.lora_b, B)`, ...
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.pairs
            .iter()
            .flat_map(|(n, (a, b))| {
                [
                    (format!("{n}.lora_a"), a.clone()),
                    (format!("{n}.lora_b"), b.clone()),
                ]
            })
            .collect()
    }

    /// The trainable parameters as candle variables (sharing storage with the adapters).
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.tensors()
            .into_iter()
            .filter_map(|(n, t)| Var::from_tensor(&t).ok().map(|v| (n, v)))
            .collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.pairs
            .values()
            .map(|(a, b)| a.elem_count() + b.elem_count())
            .sum()
    }

    /// The same adapters without gradient tracking (evaluation), sharing storage.
    pub fn detached(&self) -> Lora {
        Lora {
            config: self.config.clone(),
            arch: self.arch,
            scale: self.scale,
            pairs: self
                .pairs
                .iter()
                .map(|(n, (a, b))| (n.clone(), (a.detach(), b.detach())))
                .collect(),
        }
    }

    /// Replaces the values of the adapters (loading a checkpoint).
    pub fn load_values(&self, values: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.vars() {
            let v = values
                .get(&name)
                .ok_or_else(|| Error::Config(format!("tensor '{name}' is missing")))?;
            var.set(&v.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }

    /// `y + scale · B A dropout(x)` when `name` has an adapter, else `y`.
    pub(crate) fn apply(
        &self,
        name: &str,
        x: &Tensor,
        y: Tensor,
        rng: Option<&mut Rng>,
    ) -> Result<Tensor> {
        let Some((a, b)) = self.pairs.get(name) else {
            return Ok(y);
        };
        let x = match rng {
            Some(rng) if self.config.dropout > 0.0 => {
                let keep = 1.0 - self.config.dropout;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if rng.next_f32() < keep {
                            1.0 / keep
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
                (x * mask)?
            }
            _ => x.clone(),
        };
        let dims = x.dims().to_vec();
        let inp = dims[dims.len() - 1];
        let flat = x.reshape((x.elem_count() / inp, inp))?;
        let z = flat.matmul(&a.t()?)?.matmul(&b.t()?)?;
        let z = (z * self.scale)?.reshape(y.shape())?;
        Ok((y + z)?)
    }

    /// Writes a llama.cpp LoRA adapter GGUF (load it with `hamlet generate --lora FILE`).
    pub fn export(&self, path: &Path) -> Result<()> {
        hamlet_models::write_lora_adapter(
            path,
            self.arch.name(),
            self.config.alpha,
            &self.tensors(),
        )?;
        Ok(())
    }

    /// Writes the base model with the adapters merged in, as one f16 GGUF (norms stay f32).
    pub fn export_merged(&self, base: &Path, out: &Path) -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let mut file = std::io::BufReader::new(
            std::fs::File::open(base).map_err(|e| Error::io("open", base, e))?,
        );
        let content = Content::read(&mut file)?;
        let mut tensors = Vec::new();
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            let mut w = content.tensor(&mut file, name, &dev)?.dequantize(&dev)?;
            if let Some((a, b)) = self.pairs.get(name.as_str()) {
                let delta = (b
                    .to_device(&dev)?
                    .to_dtype(DType::F32)?
                    .matmul(&a.to_device(&dev)?.to_dtype(DType::F32)?)?
                    * self.scale)?;
                w = (w + delta)?;
            }
            let dtype = if w.rank() >= 2 {
                GgmlDType::F16
            } else {
                GgmlDType::F32
            };
            tensors.push((name.clone(), QTensor::quantize(&w, dtype)?));
        }
        let mut metadata: Vec<(String, Value)> = content
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != "general.file_type")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.push(("general.file_type".into(), Value::U32(1)));
        let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let tmp = out.with_extension("gguf.part");
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?,
        );
        gguf_file::write(&mut f, &md, &ts)?;
        std::io::Write::flush(&mut f).map_err(|e| Error::io("write", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, out).map_err(|e| Error::io("rename", out, e))?;
        tracing::info!(out = %out.display(), tensors = ts.len(), "wrote merged model");
        Ok(())
    }
}
