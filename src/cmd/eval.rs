//! `hamlet eval bfcl`: function calling on the Berkeley Function Calling Leaderboard data.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hamlet_eval::data::{load, Category};
use hamlet_eval::run::{run, scores, CaseResult, Mode, RunOptions};

use crate::opts::{LoraOpts, ModelOpts};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Score the model's function calls on BFCL (AST checking, as BFCL does).
    Bfcl(BfclArgs),
    /// Run the offline goal tasks (tests/tasks) with the agent loop and score them.
    Tasks(crate::cmd::eval_tasks::TasksArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Constrained,
    Free,
    Both,
}

#[derive(Debug, clap::Args)]
pub struct BfclArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Categories to run (repeatable; default: all in scope).
    #[arg(long = "category", value_name = "NAME")]
    pub categories: Vec<String>,
    /// At most this many cases per category (the first ones, in file order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Grammar-constrained replies, free text parsed afterwards, or both.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    pub mode: ModeArg,
    /// Cases decoded together in one batch.
    #[arg(long, default_value_t = 4)]
    pub batch: u32,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Greedy decoding with this repetition penalty (1.0 = off). A penalty keeps a 135M model from
    /// repeating one call until the limit, but costs Qwen2.5-Coder-1.5B the second call of
    /// parallel cases (60% at 1.0 against 40% at 1.1 on the first 10).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[command(flatten)]
    pub lora: LoraOpts,
    /// Where to write one JSON line per case (default: $HAMLET_HOME/evals/bfcl-<time>.jsonl).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// BFCL data folder (default: fetched into $HAMLET_HOME/datasets/bfcl).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

pub fn run_cmd(c: Command) -> Result<()> {
    match c {
        Command::Bfcl(a) => bfcl(a),
        Command::Tasks(a) => crate::cmd::eval_tasks::run(a),
    }
}

fn bfcl(a: BfclArgs) -> Result<()> {
    let categories: Vec<Category> = if a.categories.is_empty() {
        Category::all().to_vec()
    } else {
        a.categories
            .iter()
            .map(|c| c.parse::<Category>())
            .collect::<Result<_, _>>()?
    };
    let home = hamlet_models::default_home();
    let data = match &a.data {
        Some(d) => d.clone(),
        None => hamlet_models::datasets::fetch_dataset(
            &home,
            &hamlet_models::datasets::BFCL,
            &crate::progress::PullBars::default(),
        )
        .context("fetching the BFCL data")?,
    };
    let mut cases = Vec::new();
    for cat in &categories {
        let mut c = load(&data, *cat)?;
        if let Some(n) = a.limit {
            c.truncate(n);
        }
        cases.extend(c);
    }
    let modes: &[Mode] = match a.mode {
        ModeArg::Constrained => &[Mode::Constrained],
        ModeArg::Free => &[Mode::Free],
        ModeArg::Both => &[Mode::Constrained, Mode::Free],
    };
    let mut model = a.model.clone();
    model.context = model.context.max(8192);
    let llm = model.backend(a.batch.max(1), &a.lora)?;
    let out_path = match &a.out {
        Some(p) => p.clone(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            home.join("evals").join(format!("bfcl-{secs}.jsonl"))
        }
    };
    if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?,
    );
    let bar = crate::progress::bar(
        (cases.len() * modes.len()) as u64,
        "{msg:12} [{bar:30}] {pos}/{len} {elapsed} eta {eta}",
    );
    let mut all: Vec<CaseResult> = Vec::new();
    for &mode in modes {
        bar.set_message(mode.as_str());
        let opts = RunOptions {
            mode,
            max_tokens: a.max_tokens,
            batch: a.batch.max(1) as usize,
            repeat_penalty: a.repeat_penalty,
            ..RunOptions::default()
        };
        let mut write_err = None;
        let results = run(llm.as_ref(), &cases, &opts, &mut |r| {
            bar.inc(1);
            if let Err(e) = serde_json::to_string(r)
                .map_err(std::io::Error::other)
                .and_then(|l| writeln!(out, "{l}"))
            {
                write_err.get_or_insert(e);
            }
        });
        if let Some(e) = write_err {
            return Err(e).with_context(|| format!("writing {}", out_path.display()));
        }
        all.extend(results);
    }
    bar.finish_and_clear();
    out.flush()?;
    print_table(&all);
    println!("\nper-case results: {}", out_path.display());
    Ok(())
}

fn print_table(results: &[CaseResult]) {
    let s = scores(results);
    println!(
        "| category | mode | cases | accuracy | tokens/case | ms/case |\n|---|---|---|---|---|---|"
    );
    for x in &s {
        println!(
            "| {} | {} | {} | {:.1}% ({}/{}) | {:.1} | {:.0} |",
            x.category,
            x.mode.as_str(),
            x.cases,
            x.accuracy * 100.0,
            x.valid,
            x.cases,
            x.mean_completion_tokens,
            x.mean_ms
        );
    }
    for mode in [Mode::Constrained, Mode::Free] {
        let rs: Vec<&CaseResult> = results.iter().filter(|r| r.mode == mode).collect();
        if rs.is_empty() {
            continue;
        }
        let cats: Vec<_> = s.iter().filter(|x| x.mode == mode).collect();
        let macro_avg = cats.iter().map(|x| x.accuracy).sum::<f64>() / cats.len().max(1) as f64;
        let micro = rs.iter().filter(|r| r.valid).count() as f64 / rs.len() as f64;
        println!(
            "| **overall** | {} | {} | {:.1}% (mean of categories; {:.1}% of all cases) | | |",
            mode.as_str(),
            rs.len(),
            macro_avg * 100.0,
            micro * 100.0
        );
    }
}
