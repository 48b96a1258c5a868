//! Hamlet's fine-tuning: LoRA instruction tuning of the local backbone.
//!
//! Small local models follow Hamlet's action format (one JSON object with `thoughts`, `tool` and
//! `args`) only some of the time. This crate exists so that a user can teach the very model the
//! backend serves, on their own machine, and serve the result without converting anything:
//!
//! * [`model`] loads the backbone from the same GGUF file llama.cpp serves, dequantized to f32,
//!   and runs a trainable forward pass in candle whose logits match llama.cpp's; [`config`]
//!   says which architectures (`llama` such as SmolLM2, `qwen2` such as Qwen2.5) and how they
//!   differ.
//! * [`tokenizer`] rebuilds llama.cpp's byte-level BPE from the GGUF metadata, so training sees
//!   exactly the token ids the backend will see.
//! * [`lora`] adds low-rank adapters to the attention and MLP projections; base weights are frozen
//!   through a matmul whose backward pass returns only the input gradient, so they cost no
//!   gradient memory. Adapters are written as llama.cpp LoRA GGUFs (`hamlet generate --lora`), or
//!   merged into a full f16 GGUF.
//! * [`data`] reads Alpaca-shaped and chat-shaped JSON/JSONL, renders it with the model's chat
//!   template, masks the loss to the reply tokens and buckets examples by length.
//! * [`train`] is the loop: AdamW, warm-up and cosine decay, clipping, accumulation, seeded order,
//!   checkpoints and resume, held-out evaluation.
//! * [`trajectories`] turns successful agent runs (`trace.jsonl`) into chat training data.
//!
//! The crate depends on `hamlet-core` and `hamlet-models` only; the backend is not needed to train.

use std::path::PathBuf;

pub mod config;
pub mod data;
pub mod lora;
mod loss;
pub mod model;
mod ops;
mod pretok;
pub mod tokenizer;
pub mod train;
pub mod trajectories;

pub use candle_core;
pub use config::{Arch, ModelConfig};
pub use data::{Dataset, Example, LoadOptions};
pub use lora::{LoraConfig, Target};
pub use model::Backbone;
pub use tokenizer::Tokenizer;
pub use train::{StepReport, TrainConfig, TrainSummary, Trainer};

/// Everything that can go wrong while preparing data, training or exporting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error(transparent)]
    Io(#[from] hamlet_core::IoError),
    /// The base model cannot be trained by this crate (wrong architecture, missing tensors).
    #[error("base model {path}: {detail}")]
    Model { path: PathBuf, detail: String },
    /// The tokenizer metadata is missing or unusable.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A dataset record is malformed; `line` is 1-based (the record's index for a JSON array).
    #[error("{file}:{line}: {detail} (fix the record, or pass --skip-bad to skip bad records)")]
    BadRecord {
        file: PathBuf,
        line: usize,
        detail: String,
    },
    /// The dataset as a whole cannot be used.
    #[error("dataset {file}: {detail}")]
    Dataset { file: PathBuf, detail: String },
    /// The chat template cannot be rendered.
    #[error("chat template: {0}")]
    Template(String),
    /// Invalid training or LoRA settings.
    #[error("invalid settings: {0}")]
    Config(String),
    /// Training on a GPU was asked of a build without the `cuda` feature.
    #[error("training on the GPU (--device cuda): built without cuda: rebuild with `cargo build --release --features cuda`, or train with --device cpu")]
    BuiltWithoutCuda,
    /// A checkpoint directory is missing pieces or belongs to another run.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint { path: PathBuf, detail: String },
    /// An agent trace could not be read (a missing file, a broken line).
    #[error(transparent)]
    Journal(#[from] hamlet_core::journal::JournalError),
    /// Model cache or GGUF writing failed.
    #[error(transparent)]
    Models(#[from] hamlet_models::Error),
    /// A tensor operation failed.
    #[error("tensor error")]
    Candle(#[from] candle_core::Error),
    /// JSON could not be written or read.
    #[error("JSON in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io(hamlet_core::IoError::new(op, path, source))
    }
}

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    /// The first CUDA GPU (builds with the `cuda` feature only).
    Cuda,
}

impl DeviceKind {
    /// The GPU when built with the `cuda` feature, else the CPU.
    pub fn for_build() -> Self {
        if cfg!(feature = "cuda") {
            DeviceKind::Cuda
        } else {
            DeviceKind::Cpu
        }
    }
}

/// The device of `kind`. Asking for a GPU never falls back to the CPU: a build without CUDA
/// says so, and a CUDA build without a usable GPU returns candle's error.
pub fn device(kind: DeviceKind) -> Result<candle_core::Device> {
    match kind {
        DeviceKind::Cpu => Ok(candle_core::Device::Cpu),
        DeviceKind::Cuda if !cfg!(feature = "cuda") => Err(Error::BuiltWithoutCuda),
        DeviceKind::Cuda => Ok(candle_core::Device::new_cuda(0)?),
    }
}

/// The device to train on: [`DeviceKind::for_build`].
pub fn default_device() -> Result<candle_core::Device> {
    device(DeviceKind::for_build())
}

/// A small deterministic generator (SplitMix64) for shuffling, dropout masks and initialisation:
/// runs are reproducible from a seed on every device, and a checkpoint only needs the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_is_never_replaced_by_the_cpu_silently() {
        assert!(matches!(
            device(DeviceKind::Cpu),
            Ok(candle_core::Device::Cpu)
        ));
        if !cfg!(feature = "cuda") {
            assert_eq!(DeviceKind::for_build(), DeviceKind::Cpu);
            let err = device(DeviceKind::Cuda).expect_err("no cuda in this build");
            assert!(matches!(err, Error::BuiltWithoutCuda), "{err:?}");
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
    }
}
