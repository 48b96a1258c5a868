//! `hamlet tune`: LoRA fine-tuning of the local model on instruction data, and
//! `hamlet tune export-trajectories`: successful agent runs → chat training data.
//!
//! The adapter is written as a llama.cpp LoRA GGUF that `hamlet generate --lora FILE` serves;
//! `--merge FILE` also writes the base model with the adapter merged in, as an f16 GGUF.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hamlet_tune::data::ChatTemplate;
use hamlet_tune::trajectories::{self, ExportOptions};
use hamlet_tune::{
    Backbone, Dataset, DeviceKind, LoadOptions, LoraConfig, Target, TrainConfig, Trainer,
};

use crate::opts::{resolve, DEFAULT_TUNE_BASE};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Turn successful agent runs (RUN_DIR/trace.jsonl) into chat-format training data.
    ExportTrajectories(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Run directories (each holding a trace.jsonl), or trace files.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The JSONL file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep only runs with at least this many steps.
    #[arg(long, default_value_t = 0)]
    pub min_steps: usize,
    /// Keep only steps whose tool call succeeded.
    #[arg(long)]
    pub ok_only: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Training data: JSONL or a JSON array, chat shape ({"messages": [...]}) or Alpaca shape
    /// ({"instruction", "input", "output"}).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Held-out data for the evaluation loss (default: --eval-fraction of --data).
    #[arg(long)]
    pub eval_data: Option<PathBuf>,
    /// Share of --data held out when --eval-data is not given.
    #[arg(long, default_value_t = 0.1)]
    pub eval_fraction: f32,
    /// The model to tune: a GGUF path or a name in the model cache (llama or qwen2 architecture).
    #[arg(long, default_value = DEFAULT_TUNE_BASE)]
    pub base: String,
    /// Where to write the adapter (llama.cpp LoRA GGUF).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the base model with the adapter merged in (f16 GGUF).
    #[arg(long, value_name = "FILE")]
    pub merge: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// LoRA dropout on the adapters' inputs (costs memory: one mask per adapted projection).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Projections to adapt: q,k,v,o,gate,up,down, or attn, mlp, all.
    #[arg(long, default_value = "all")]
    pub targets: String,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after this many optimiser steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Longest example in tokens (longer ones are cut).
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write a checkpoint every N steps (into --checkpoint-dir).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: usize,
    /// Checkpoint directory (default: OUT's name + ".ckpt" when --checkpoint-every is set).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from a checkpoint (a step-N directory, or a checkpoint directory: the latest).
    #[arg(long, value_name = "CKPT_DIR")]
    pub resume: Option<PathBuf>,
    /// Evaluate the held-out loss every N steps (it is always reported before and after).
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// Skip malformed records (and report how many) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
    /// Keep only each layer's input and recompute the layer during the backward pass: far less
    /// memory, about a third more compute.
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// Where to train: cuda (builds with `--features cuda`; the default there) or cpu.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

/// The base model on the chosen device (no silent fallback from the GPU to the CPU).
fn load_backbone(base: &std::path::Path, device: Option<DeviceArg>) -> Result<Backbone> {
    let kind = match device {
        Some(DeviceArg::Cpu) => DeviceKind::Cpu,
        Some(DeviceArg::Cuda) => DeviceKind::Cuda,
        None => DeviceKind::for_build(),
    };
    let device = hamlet_tune::device(kind)?;
    Backbone::load(base, &device).context("loading the base model")
}

pub fn run(a: Args) -> Result<()> {
    match a.command {
        Some(Command::ExportTrajectories(e)) => export_trajectories(e),
        None => train(a.train),
    }
}

fn export_trajectories(a: ExportArgs) -> Result<()> {
    let opts = ExportOptions {
        min_steps: a.min_steps,
        ok_only: a.ok_only,
    };
    let report = trajectories::export(&a.runs, &a.out, &opts)
        .with_context(|| format!("exporting trajectories to {}", a.out.display()))?;
    for (dir, why) in &report.runs_skipped {
        eprintln!("left out {}: {why}", dir.display());
    }
    println!(
        "{} of {} runs used, {} chat records written to {}",
        report.runs_used,
        report.runs_read,
        report.examples,
        a.out.display()
    );
    Ok(())
}

/// The training settings the flags describe.
pub fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let targets = Target::parse_list(&a.targets)?;
    let checkpoint_dir = match (&a.checkpoint_dir, &a.out) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(out)) if a.checkpoint_every > 0 => Some(out.with_extension("ckpt")),
        _ => None,
    };
    Ok(TrainConfig {
        lora: LoraConfig {
            rank: a.rank,
            alpha: a.alpha,
            dropout: a.dropout,
            targets: targets.iter().map(|t| t.short().to_string()).collect(),
        },
        epochs: a.epochs,
        max_steps: a.max_steps,
        lr: a.lr,
        warmup_steps: a.warmup,
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        batch_size: a.batch_size,
        grad_accum: a.grad_accum,
        seed: a.seed,
        checkpoint_every: a.checkpoint_every,
        checkpoint_dir,
        eval_every: a.eval_every,
        activation_checkpointing: a.activation_checkpointing,
        ..TrainConfig::default()
    })
}

/// Peak resident memory of this process (Linux), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn train(a: TrainArgs) -> Result<()> {
    let Some(data_path) = a.data.clone() else {
        bail!("no training data: pass --data FILE (JSONL or JSON, chat or Alpaca records), or use `hamlet tune export-trajectories`");
    };
    let Some(out) = a.out.clone() else {
        bail!("no output file: pass --out ADAPTER.gguf");
    };
    let config = train_config(&a)?;
    let base = resolve(&a.base).with_context(|| format!("finding the base model '{}'", a.base))?;
    let started = Instant::now();
    let backbone = load_backbone(&base, a.device)?;
    let template = ChatTemplate::for_model(backbone.chat_template.as_deref())?;
    let opts = LoadOptions {
        skip_bad: a.skip_bad,
        max_len: a.max_len,
    };
    let data = Dataset::load(
        &backbone.tokenizer,
        &template,
        &data_path,
        a.eval_data.as_deref(),
        a.eval_fraction,
        a.seed,
        &opts,
    )?;
    if data.skipped > 0 {
        eprintln!(
            "skipped {} records (malformed, or no reply tokens within --max-len)",
            data.skipped
        );
    }
    let mut trainer = Trainer::new(&backbone, &data, config)?;
    if let Some(ckpt) = &a.resume {
        trainer
            .resume(ckpt)
            .with_context(|| format!("resuming from {}", ckpt.display()))?;
    }
    let total = trainer.total_steps();
    eprintln!(
        "tuning {} ({} LoRA parameters) on {} examples, {} held out; {} steps; loaded in {:.1}s",
        base.display(),
        trainer.lora.parameter_count(),
        data.train.len(),
        data.eval.len(),
        total,
        started.elapsed().as_secs_f64()
    );
    let pb = crate::progress::bar(total as u64, "[{bar:30}] {pos}/{len} {msg} ETA {eta}");
    pb.set_position(trainer.step as u64);
    let (mut tokens, mut secs) = (0usize, 0f64);
    let summary = trainer.train(&mut |r| {
        tokens += r.tokens;
        secs += r.seconds;
        let eval = r
            .eval_loss
            .map(|e| format!(" eval {e:.3}"))
            .unwrap_or_default();
        pb.set_message(format!(
            "loss {:.3}{eval} lr {:.1e} {:.0} tok/s",
            r.loss,
            r.lr,
            tokens as f64 / secs.max(1e-9)
        ));
        pb.set_position(r.step as u64);
        if let Some(c) = &r.checkpoint {
            pb.println(format!("checkpoint {}", c.display()));
        }
    })?;
    pb.finish();
    trainer
        .lora
        .export(&out)
        .with_context(|| format!("writing the adapter {}", out.display()))?;
    let fmt = |x: Option<f32>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    println!(
        "trained {} steps: loss {} -> {}; held-out loss {} -> {}; {:.0} tokens/s; peak memory {:.2} GB",
        summary.steps,
        fmt(summary.losses.first().copied()),
        fmt(summary.losses.last().copied()),
        fmt(summary.eval_before),
        fmt(summary.eval_after),
        summary.tokens_per_second(),
        peak_rss().unwrap_or(0) as f64 / 1e9
    );
    println!(
        "adapter: {} (serve it: hamlet generate --lora {} \"...\")",
        out.display(),
        out.display()
    );
    if let Some(merged) = &a.merge {
        trainer
            .lora
            .export_merged(&base, merged)
            .with_context(|| format!("writing the merged model {}", merged.display()))?;
        println!(
            "merged model: {} (hamlet generate --model {} \"...\")",
            merged.display(),
            merged.display()
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The model to tune: a GGUF path or a name in the model cache (llama or qwen2 architecture).
    #[arg(long, default_value = DEFAULT_TUNE_BASE)]
    pub base: String,
    /// Measured optimiser steps (after one warm-up step).
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Tokens per example (the second half carries the loss, as a reply would).
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value = "all")]
    pub targets: String,
    /// Recompute each layer in the backward pass instead of keeping its activations.
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// Also write the report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where to train: cuda (builds with `--features cuda`; the default there) or cpu.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
}

/// `hamlet bench tune`: training tokens/s and peak memory of LoRA steps on synthetic examples.
pub fn bench(a: BenchArgs) -> Result<()> {
    use std::fmt::Write as _;
    let base = resolve(&a.base)?;
    let backbone = load_backbone(&base, a.device)?;
    let after_load = peak_rss().unwrap_or(0);
    let mut rng = hamlet_tune::Rng::new(1);
    let vocab = backbone.config.vocab as u64;
    let examples: Vec<hamlet_tune::Example> = (0..a.batch_size * (a.steps + 1))
        .map(|_| hamlet_tune::Example {
            ids: (0..a.seq_len)
                .map(|_| (rng.next_u64() % vocab) as u32)
                .collect(),
            target: (0..a.seq_len).map(|i| i >= a.seq_len / 2).collect(),
        })
        .collect();
    let data = Dataset {
        train: examples,
        eval: Vec::new(),
        skipped: 0,
    };
    let config = TrainConfig {
        lora: LoraConfig {
            rank: a.rank,
            targets: Target::parse_list(&a.targets)?
                .iter()
                .map(|t| t.short().to_string())
                .collect(),
            ..LoraConfig::default()
        },
        epochs: 1,
        batch_size: a.batch_size,
        activation_checkpointing: a.activation_checkpointing,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&backbone, &data, config)?;
    let warm = trainer.train_step()?;
    let (mut tokens, mut secs) = (0usize, 0f64);
    let mut times = Vec::new();
    for _ in 0..a.steps {
        let r = trainer.train_step()?;
        tokens += r.tokens;
        secs += r.seconds;
        times.push(r.seconds);
    }
    let peak = peak_rss().unwrap_or(0);
    let mut report = String::new();
    writeln!(
        report,
        "model `{}`, LoRA rank {} on {} ({} parameters), batch {} x {} tokens, activation checkpointing {}, {} measured steps after one warm-up ({:.1} s), {} cores visible\n",
        base.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        a.rank,
        a.targets,
        trainer.lora.parameter_count(),
        a.batch_size,
        a.seq_len,
        if a.activation_checkpointing { "on" } else { "off" },
        a.steps,
        warm.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    )?;
    writeln!(
        report,
        "| training tokens/s | s/step | peak RSS | RSS after loading |\n|---|---|---|---|"
    )?;
    writeln!(
        report,
        "| {:.0} | {:.2} | {:.2} GB | {:.2} GB |",
        tokens as f64 / secs.max(1e-9),
        secs / times.len().max(1) as f64,
        peak as f64 / 1e9,
        after_load as f64 / 1e9
    )?;
    print!("{report}");
    if let Some(out) = a.out {
        std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
