//! `hamlet bench llm`: Hamlet's backend against a minimal direct llama-cpp-2 loop, in one run.
//!
//! Prints a Markdown report (and writes it with `--out`): prompt-evaluation and generation speed
//! with their ratio to the raw loop, time to first token with and without prefix reuse, and the
//! total throughput of N requests decoded in one batch against the same requests one by one.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use hamlet_core::{Completion, GenerateRequest, Llm, Message, Prompt};
use hamlet_llm::raw::RawModel;
use hamlet_llm::LlamaLlm;
use indicatif::ProgressBar;

use super::rate;
use crate::opts::ModelOpts;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Throughput, prefix reuse and batching of the local backend.
    Llm(LlmArgs),
    /// Long-term memory: insert throughput, retrieval latency and recall at 100k memories.
    Memory(crate::cmd::bench_memory::MemoryArgs),
    /// LoRA training speed (tokens/s) and peak memory on this machine.
    Tune(crate::cmd::tune::BenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Tokens generated per throughput run.
    #[arg(long, default_value_t = 128)]
    pub gen_tokens: usize,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Batch sizes to compare against sequential decoding.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4, 8, 16])]
    pub batch: Vec<usize>,
    /// Tokens generated per request in the batching runs.
    #[arg(long, default_value_t = 64)]
    pub batch_tokens: u32,
    /// Also write the report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Llm(a) => bench_llm(a),
        Command::Memory(a) => crate::cmd::bench_memory::bench_memory(a),
        Command::Tune(a) => crate::cmd::tune::bench(a),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

/// A deterministic document of roughly `words` words.
fn document(words: usize) -> String {
    const S: [&str; 6] = [
        "The town of Hamlet has a cafe, a college, a park and a small library near the river.",
        "Every morning the baker opens the cafe at seven and the students arrive soon after.",
        "The mayor holds a meeting in the town hall on the first Monday of each month.",
        "In spring the park hosts a market where farmers sell vegetables, honey and bread.",
        "The librarian keeps a list of every book borrowed and returned during the year.",
        "At night the bar on Main Street plays music until the last guests walk home.",
    ];
    let mut out = String::new();
    let mut i = 0;
    while out.split_whitespace().count() < words {
        out.push_str(S[i % S.len()]);
        out.push(' ');
        i += 1;
    }
    out
}

fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = crate::progress::bar(len, "{msg:30} [{bar:30}] {pos}/{len} {elapsed}");
    pb.set_message(msg.to_string());
    pb
}

fn batching(a: &LlmArgs, max_batch: usize, unified: bool, report: &mut String) -> Result<()> {
    let mut cfg = a.model.config()?;
    cfg.context = 1024;
    cfg.parallel = max_batch as u32;
    cfg.kv_unified = unified;
    let batched = LlamaLlm::load(cfg).context("loading the model for batching")?;
    const TOPICS: [&str; 16] = [
        "a baker",
        "a river",
        "a library",
        "a market",
        "a storm",
        "a teacher",
        "a garden",
        "a train",
        "a painter",
        "a festival",
        "a lighthouse",
        "a cat",
        "a mountain",
        "a letter",
        "a bridge",
        "a clock",
    ];
    let kind = if unified {
        "one KV cache shared by all sequences"
    } else {
        "one KV cache per sequence (default)"
    };
    writeln!(
        report,
        "\n### Batching: {kind}; {} tokens per request, greedy\n",
        a.batch_tokens
    )?;
    writeln!(report, "| requests | one by one (tok/s) | one batch (tok/s) | speed-up | same text |\n|---|---|---|---|---|")?;
    let pb = bar(a.batch.len() as u64, "batching");
    for &n in &a.batch {
        let reqs: Vec<GenerateRequest> = (0..n)
            .map(|i| {
                GenerateRequest::chat(vec![Message::user(format!(
                    "Write a short story about {}.",
                    TOPICS[i % TOPICS.len()]
                ))])
                .with_max_tokens(a.batch_tokens)
            })
            .collect();
        batched.clear_cache()?;
        let t = Instant::now();
        let seq: Vec<Completion> = reqs
            .iter()
            .map(|r| batched.generate(r))
            .collect::<Result<_, _>>()?;
        let seq_ms = t.elapsed().as_secs_f64() * 1e3;
        batched.clear_cache()?;
        let t = Instant::now();
        let bat: Vec<Completion> = batched
            .generate_batch(&reqs)
            .into_iter()
            .collect::<Result<_, _>>()?;
        let bat_ms = t.elapsed().as_secs_f64() * 1e3;
        let tokens: u64 = seq.iter().map(|c| c.usage.completion_tokens).sum();
        let btokens: u64 = bat.iter().map(|c| c.usage.completion_tokens).sum();
        let same = seq
            .iter()
            .zip(&bat)
            .filter(|(x, y)| x.text == y.text)
            .count();
        let (s, b) = (rate(tokens, seq_ms), rate(btokens, bat_ms));
        writeln!(
            report,
            "| {n} | {s:.1} | {b:.1} | {:.2}x | {same}/{n} |",
            b / s.max(1e-9)
        )?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(())
}

/// The CPU's model name and how many cores this process sees, for a benchmark's header line.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores visible")
}

fn bench_llm(a: LlmArgs) -> Result<()> {
    let threads = a.model.threads();
    let path = a.model.model_path()?;
    let max_batch = a.batch.iter().copied().max().unwrap_or(1).max(1);
    let mut report = String::new();
    let cpu = machine();
    writeln!(
        report,
        "model `{}`, {threads} thread(s), OMP_WAIT_POLICY={}, {cpu}\n",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "unset".into()),
    )?;

    // 1. Throughput against the raw loop.
    let mut single = a.model.config()?;
    single.context = 2048;
    let hamlet = LlamaLlm::load(single).context("loading the model for Hamlet")?;
    let raw = RawModel::load(&path).context("loading the model for the raw loop")?;
    let prompt = hamlet.format_prompt(&Prompt::Chat(vec![Message::user(format!(
        "{}\nWrite a long story about this town.",
        document(330)
    ))]))?;
    let pb = bar(a.reps as u64 * 2, "throughput vs raw llama-cpp-2");
    let (mut hp, mut hg, mut rp, mut rg) = (vec![], vec![], vec![], vec![]);
    let mut same_text = true;
    let mut prompt_tokens = 0;
    for _ in 0..a.reps {
        let r = raw.generate(&prompt, a.gen_tokens, threads, 2048)?;
        rp.push(rate(r.prompt_tokens as u64, r.prompt_ms));
        rg.push(rate(r.generated as u64, r.generation_ms));
        pb.inc(1);
        hamlet.clear_cache()?;
        let req = GenerateRequest::raw(prompt.clone()).with_max_tokens(a.gen_tokens as u32);
        let h = hamlet.generate(&req)?;
        hp.push(rate(h.usage.prompt_tokens, h.timings.prompt_ms));
        // The first token is timed with the prompt; the rest are generation.
        hg.push(rate(
            h.usage.completion_tokens.saturating_sub(1),
            h.timings.generation_ms,
        ));
        same_text &= h.text == r.text;
        prompt_tokens = h.usage.prompt_tokens;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let (hp, hg, rp, rg) = (median(hp), median(hg), median(rp), median(rg));
    writeln!(
        report,
        "### Throughput ({prompt_tokens}-token prompt, {} generated tokens, median of {})\n",
        a.gen_tokens, a.reps
    )?;
    writeln!(
        report,
        "| | Hamlet | raw llama-cpp-2 | ratio |\n|---|---|---|---|"
    )?;
    writeln!(
        report,
        "| prompt eval (tok/s) | {hp:.1} | {rp:.1} | {:.3} |",
        hp / rp.max(1e-9)
    )?;
    writeln!(
        report,
        "| generation (tok/s) | {hg:.1} | {rg:.1} | {:.3} |",
        hg / rg.max(1e-9)
    )?;
    writeln!(
        report,
        "\nsame greedy text from both: {}\n",
        if same_text { "yes" } else { "NO" }
    )?;

    // 2. Time to first token with a shared ~1,000-token prefix.
    let prefix = document(880);
    let ask = |q: &str| {
        GenerateRequest::chat(vec![
            Message::system(prefix.clone()),
            Message::user(q.to_string()),
        ])
        .with_max_tokens(1)
        .with_cache_key("bench")
    };
    let pb = bar(a.reps as u64, "prefix reuse");
    let (mut warm, mut cold) = (vec![], vec![]);
    let mut shared = (0, 0);
    for _ in 0..a.reps {
        hamlet.clear_cache()?;
        hamlet.generate(&ask("When does the cafe open?"))?;
        let w: Completion = hamlet.generate(&ask("Who keeps the list of books?"))?;
        shared = (w.usage.cached_tokens, w.usage.prompt_tokens);
        warm.push(w.timings.prompt_ms);
        hamlet.clear_cache()?;
        let c = hamlet.generate(&ask("Who keeps the list of books?"))?;
        cold.push(c.timings.prompt_ms);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let (warm, cold) = (median(warm), median(cold));
    writeln!(
        report,
        "### Time to first token ({} of {} prompt tokens shared with the previous request)\n",
        shared.0, shared.1
    )?;
    writeln!(
        report,
        "| without reuse | with reuse | speed-up |\n|---|---|---|"
    )?;
    writeln!(
        report,
        "| {cold:.1} ms | {warm:.1} ms | {:.1}x |\n",
        cold / warm.max(1e-9)
    )?;
    drop(hamlet);

    // 3. N requests in one batch against the same requests one after another, with one KV cache
    //    per sequence (the default: identical text) and with one shared cache.
    for unified in [false, true] {
        batching(&a, max_batch, unified, &mut report)?;
    }
    print!("{report}");
    if let Some(out) = a.out {
        std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
