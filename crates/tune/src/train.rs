//! The training loop: AdamW with warm-up and cosine decay, clipping, accumulation, checkpoints.
//!
//! A step is `grad_accum` micro-batches; its loss is the mean over every reply token in them, so
//! accumulation gives the same gradient as one large batch. The data order of a step depends only
//! on the seed and the step number (epochs are reshuffled from `seed` and the epoch index, dropout
//! masks are drawn from `seed` and the step), so a run resumed from a checkpoint continues the
//! very loss curve it would have followed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::data::{epoch_batches, Dataset, Example};
use crate::lora::{Lora, LoraConfig};
use crate::model::Backbone;
use crate::{Error, Result, Rng};

pub use crate::loss::{batch_grads, batch_loss, eval_loss};

/// Optimiser, schedule and batching settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub lora: LoraConfig,
    pub epochs: usize,
    /// Stop after this many optimiser steps (before the epochs run out).
    pub max_steps: Option<usize>,
    pub lr: f64,
    /// Linear warm-up steps, then cosine decay to `lr * min_lr_ratio`.
    pub warmup_steps: usize,
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    pub seed: u64,
    /// Write a checkpoint every this many steps into `checkpoint_dir` (0 = only at the end).
    pub checkpoint_every: usize,
    pub checkpoint_dir: Option<PathBuf>,
    /// Evaluate on the held-out split every this many steps (0 = before and after only).
    pub eval_every: usize,
    /// Keep only each layer's input and recompute the layer in the backward pass.
    #[serde(default)]
    pub activation_checkpointing: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lora: LoraConfig::default(),
            epochs: 3,
            max_steps: None,
            lr: 1e-3,
            warmup_steps: 5,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            grad_clip: 1.0,
            batch_size: 4,
            grad_accum: 1,
            seed: 42,
            checkpoint_every: 0,
            checkpoint_dir: None,
            eval_every: 0,
            activation_checkpointing: false,
        }
    }
}

/// What one optimiser step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based.
    pub step: usize,
    pub total_steps: usize,
    pub loss: f32,
    pub lr: f64,
    pub grad_norm: f32,
    /// Tokens run through the model in this step (padding excluded) and those with loss.
    pub tokens: usize,
    pub target_tokens: usize,
    pub seconds: f64,
    pub eval_loss: Option<f32>,
    pub checkpoint: Option<PathBuf>,
}

/// The outcome of [`Trainer::train`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainSummary {
    pub steps: usize,
    pub losses: Vec<f32>,
    pub eval_before: Option<f32>,
    pub eval_after: Option<f32>,
    pub tokens: usize,
    pub seconds: f64,
}

impl TrainSummary {
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    step: usize,
    lora: LoraConfig,
    data_hash: u64,
    losses: Vec<f32>,
}

const STATE_FILE: &str = "state.json";
const TENSOR_FILE: &str = "adapter.safetensors";

/// A LoRA training run over a backbone and a dataset.
pub struct Trainer<'a> {
    pub backbone: &'a Backbone,
    pub lora: Lora,
    pub config: TrainConfig,
    data: &'a Dataset,
    vars: Vec<(String, Var)>,
    moments: Vec<(Tensor, Tensor)>,
    /// Optimiser steps done.
    pub step: usize,
    pub losses: Vec<f32>,
}

fn data_hash(examples: &[Example]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for e in examples {
        for (&id, &t) in e.ids.iter().zip(&e.target) {
            h = (h ^ (id as u64 * 2 + t as u64)).wrapping_mul(0x100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl<'a> Trainer<'a> {
    /// A fresh run: adapters initialised from the seed.
    pub fn new(backbone: &'a Backbone, data: &'a Dataset, config: TrainConfig) -> Result<Self> {
        if config.batch_size == 0 || config.grad_accum == 0 || config.epochs == 0 {
            return Err(Error::Config(
                "batch size, gradient accumulation and epochs must be at least 1".into(),
            ));
        }
        if config.lr.is_nan() || config.lr <= 0.0 {
            return Err(Error::Config(format!(
                "learning rate {} must be positive",
                config.lr
            )));
        }
        let lora = Lora::new(backbone, config.lora.clone(), config.seed)?;
        let vars = lora.vars();
        let moments = vars
            .iter()
            .map(|(_, v)| Ok((v.zeros_like()?, v.zeros_like()?)))
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(
            params = lora.parameter_count(),
            examples = data.train.len(),
            "LoRA run set up"
        );
        Ok(Trainer {
            backbone,
            lora,
            config,
            data,
            vars,
            moments,
            step: 0,
            losses: Vec::new(),
        })
    }

    fn batches_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.config.batch_size)
    }

    /// Optimiser steps the run will take.
    pub fn total_steps(&self) -> usize {
        let per_epoch = self.batches_per_epoch().div_ceil(self.config.grad_accum);
        let all = per_epoch * self.config.epochs;
        self.config.max_steps.map_or(all, |m| m.min(all).max(1))
    }

    /// The micro-batches of step `step` (0-based): a pure function of the seed and the step.
    fn micro_batches(&self, step: usize) -> Vec<Vec<usize>> {
        let nb = self.batches_per_epoch();
        let mut out = Vec::new();
        let mut cached: Option<(usize, Vec<Vec<usize>>)> = None;
        for k in step * self.config.grad_accum..(step + 1) * self.config.grad_accum {
            let epoch = k / nb;
            if cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let b = epoch_batches(
                    &self.data.train,
                    self.config.batch_size,
                    self.config.seed,
                    epoch as u64,
                );
                cached = Some((epoch, b));
            }
            if let Some((_, b)) = &cached {
                out.push(b[k % nb].clone());
            }
        }
        out
    }

    fn lr_at(&self, step: usize) -> f64 {
        let c = &self.config;
        if step < c.warmup_steps {
            return c.lr * (step + 1) as f64 / (c.warmup_steps + 1) as f64;
        }
        let total = self.total_steps().max(c.warmup_steps + 1);
        let progress = (step - c.warmup_steps) as f64 / (total - c.warmup_steps).max(1) as f64;
        let min = c.lr * c.min_lr_ratio;
        min + 0.5 * (c.lr - min) * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
    }

    /// One optimiser step; returns its report (without evaluation or checkpoint).
    pub fn train_step(&mut self) -> Result<StepReport> {
        let started = Instant::now();
        let step = self.step;
        let micro = self.micro_batches(step);
        let total_targets: usize = micro
            .iter()
            .flatten()
            .map(|&i| self.data.train[i].target_count())
            .sum();
        let mut rng =
            Rng::new(self.config.seed ^ (step as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut grads: Vec<Option<Tensor>> = vec![None; self.vars.len()];
        let (mut loss_sum, mut tokens) = (0f64, 0usize);
        for idx in &micro {
            let batch: Vec<&Example> = idx.iter().map(|&i| &self.data.train[i]).collect();
            let (nll, n_tok) = batch_grads(
                self.backbone,
                &self.lora,
                &self.vars,
                &batch,
                Some(&mut rng),
                1.0 / total_targets.max(1) as f64,
                self.config.activation_checkpointing,
                &mut grads,
            )?;
            tokens += n_tok;
            loss_sum += nll;
        }
        let mut sq = 0f64;
        for g in grads.iter().flatten() {
            sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
        let norm = sq.sqrt();
        let clip = if self.config.grad_clip > 0.0 && norm > self.config.grad_clip {
            self.config.grad_clip / norm
        } else {
            1.0
        };
        let lr = self.lr_at(step);
        let c = &self.config;
        let t = (step + 1) as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for ((g, (_, var)), (m, v)) in grads.iter().zip(&self.vars).zip(self.moments.iter_mut()) {
            let Some(g) = g else { continue };
            let g = (g * clip)?;
            *m = ((&*m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&*m / bc1)? / ((&*v / bc2)?.sqrt()? + c.eps)?)?;
            let p = var.as_tensor();
            let new = ((p * (1.0 - lr * c.weight_decay))? - (update * lr)?)?;
            var.set(&new.detach())?;
        }
        let loss = (loss_sum / total_targets.max(1) as f64) as f32;
        self.step += 1;
        self.losses.push(loss);
        Ok(StepReport {
            step: self.step,
            total_steps: self.total_steps(),
            loss,
            lr,
            grad_norm: norm as f32,
            tokens,
            target_tokens: total_targets,
            seconds: started.elapsed().as_secs_f64(),
            eval_loss: None,
            checkpoint: None,
        })
    }

    /// Held-out loss with the current adapters.
    pub fn eval_loss(&self) -> Result<Option<f32>> {
        eval_loss(
            self.backbone,
            Some(&self.lora),
            &self.data.eval,
            self.config.batch_size,
        )
    }

    /// Trains to the end, calling `on_step` after each step.
    pub fn train(&mut self, on_step: &mut dyn FnMut(&StepReport)) -> Result<TrainSummary> {
        let started = Instant::now();
        let eval_before = self.eval_loss()?;
        let mut tokens = 0;
        let total = self.total_steps();
        while self.step < total {
            let mut report = self.train_step()?;
            tokens += report.tokens;
            let c = &self.config;
            if c.eval_every > 0 && self.step.is_multiple_of(c.eval_every) && self.step < total {
                report.eval_loss = self.eval_loss()?;
            }
            if let Some(dir) = &c.checkpoint_dir {
                if (c.checkpoint_every > 0 && self.step.is_multiple_of(c.checkpoint_every))
                    || self.step == total
                {
                    report.checkpoint = Some(self.save_checkpoint(dir)?);
                }
            }
            on_step(&report);
        }
        Ok(TrainSummary {
            steps: self.step,
            losses: self.losses.clone(),
            eval_before,
            eval_after: self.eval_loss()?,
            tokens,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Writes `dir/step-NNNNNN/` (adapters, optimiser moments, step and loss history).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(format!("step-{:06}", self.step));
        std::fs::create_dir_all(&path).map_err(|e| Error::io("create directory", &path, e))?;
        let mut tensors = std::collections::HashMap::new();
        for ((name, var), (m, v)) in self.vars.iter().zip(&self.moments) {
            tensors.insert(name.clone(), var.as_tensor().detach());
            tensors.insert(format!("m.{name}"), m.clone());
            tensors.insert(format!("v.{name}"), v.clone());
        }
        candle_core::safetensors::save(&tensors, path.join(TENSOR_FILE))?;
        let state = State {
            step: self.step,
            lora: self.lora.config.clone(),
            data_hash: data_hash(&self.data.train),
            losses: self.losses.clone(),
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| Error::Json {
            what: "checkpoint state".into(),
            source: e,
        })?;
        std::fs::write(path.join(STATE_FILE), json)
            .map_err(|e| Error::io("write", path.join(STATE_FILE), e))?;
        tracing::info!(path = %path.display(), step = self.step, "checkpoint written");
        Ok(path)
    }

    /// Continues from a checkpoint (`dir/step-N`, or a directory of them: the latest is taken).
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let path = latest_checkpoint(dir)?;
        let err = |detail: String| Error::Checkpoint {
            path: path.clone(),
            detail,
        };
        let text = std::fs::read_to_string(path.join(STATE_FILE))
            .map_err(|e| Error::io("read", path.join(STATE_FILE), e))?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| err(format!("unreadable {STATE_FILE}: {e}")))?;
        if state.lora != self.lora.config {
            return Err(err(format!("it was trained with LoRA settings {:?}, not {:?}: use the same --rank, --alpha, --dropout and --targets", state.lora, self.lora.config)));
        }
        if state.data_hash != data_hash(&self.data.train) {
            return Err(err("it was trained on other data (or another split, seed or --max-len): resume with the same dataset and settings".into()));
        }
        let tensors =
            candle_core::safetensors::load(path.join(TENSOR_FILE), self.backbone.device())?;
        self.lora.load_values(&tensors)?;
        for ((name, _), (m, v)) in self.vars.iter().zip(self.moments.iter_mut()) {
            let get = |k: String| {
                tensors
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| err(format!("tensor '{k}' is missing")))
            };
            *m = get(format!("m.{name}"))?;
            *v = get(format!("v.{name}"))?;
        }
        self.step = state.step;
        self.losses = state.losses;
        tracing::info!(path = %path.display(), step = self.step, "resumed");
        Ok(())
    }
}

/// `dir` itself when it holds a checkpoint, else its `step-*` subdirectory with the highest step.
pub fn latest_checkpoint(dir: &Path) -> Result<PathBuf> {
    if dir.join(STATE_FILE).is_file() {
        return Ok(dir.to_path_buf());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(STATE_FILE).is_file())
        .max()
        .ok_or_else(|| Error::Checkpoint {
            path: dir.to_path_buf(),
            detail: format!("no {STATE_FILE} here nor in a step-* subdirectory; pass a directory written by --checkpoint-dir"),
        })
}
