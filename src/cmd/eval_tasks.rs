//! `hamlet eval tasks`: the offline goal tasks in `tests/tasks/`, run by the agent loop.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hamlet_agent::tasks::{load_suite, run_task, TaskResult};
use hamlet_agent::{AgentSpec, Prompts};
use indicatif::{ProgressBar, ProgressStyle};

use crate::opts::ModelOpts;

#[derive(Debug, clap::Args)]
pub struct TasksArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Folder of task folders (task.toml, or agbenchmark data.json).
    #[arg(long, default_value = "tests/tasks", value_name = "DIR")]
    pub dir: PathBuf,
    /// Only tasks whose name contains this (repeatable).
    #[arg(long = "only", value_name = "TEXT")]
    pub only: Vec<String>,
    /// Agent file whose settings the tasks run with (default: the built-in assistant).
    #[arg(long, value_name = "FILE")]
    pub agent: Option<PathBuf>,
    /// Cap every task's step budget.
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// A llama.cpp LoRA adapter (GGUF) to apply.
    #[arg(long, value_name = "FILE")]
    pub lora: Option<PathBuf>,
    /// Where runs and results go (default: $HAMLET_HOME/evals/tasks-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(a: TasksArgs) -> Result<()> {
    let mut tasks = load_suite(&a.dir)?;
    if !a.only.is_empty() {
        tasks.retain(|t| a.only.iter().any(|o| t.name.contains(o.as_str())));
    }
    anyhow::ensure!(
        !tasks.is_empty(),
        "no tasks selected in {}",
        a.dir.display()
    );
    let names = hamlet_tools::Registry::builtin().names();
    let base = match &a.agent {
        Some(p) => AgentSpec::load(p, &names)?,
        None => AgentSpec::default_agent(),
    };
    let prompts = Prompts::builtin();
    let mut model = a.model.clone();
    model.context = model.context.max(base.context);
    let llm = model.backend(1, a.lora.clone(), 1.0)?;
    let out = a.out.clone().unwrap_or_else(|| {
        hamlet_models::default_home()
            .join("evals")
            .join(format!("tasks-{}", crate::cmd::run::timestamp()))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let bar = ProgressBar::new(tasks.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results: Vec<TaskResult> = Vec::new();
    for task in &tasks {
        bar.set_message(task.name.clone());
        let mut t = task.clone();
        if let Some(cap) = a.max_steps {
            t.max_steps = t.max_steps.min(cap);
        }
        let r = run_task(&t, &*llm, &prompts, &base, &out.join(&task.name))
            .with_context(|| format!("task {}", task.name))?;
        results.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{:<24} {:<6} {:>5} {:>8} {:>7}  {:<11} detail",
        "task", "result", "steps", "tokens", "secs", "stop"
    )?;
    for r in &results {
        let result = if r.skipped.is_some() {
            "skip"
        } else if r.passed {
            "pass"
        } else {
            "fail"
        };
        let stop = r.stop.map(|s| format!("{s:?}")).unwrap_or_default();
        let detail = r.skipped.clone().unwrap_or_else(|| r.detail.clone());
        let detail: String = detail.chars().take(70).collect();
        writeln!(
            stdout,
            "{:<24} {:<6} {:>5} {:>8} {:>7.1}  {:<11} {}",
            r.name, result, r.steps, r.tokens, r.seconds, stop, detail
        )?;
    }
    let ran: Vec<&TaskResult> = results.iter().filter(|r| r.skipped.is_none()).collect();
    let passed = ran.iter().filter(|r| r.passed).count();
    let steps: u32 = ran.iter().map(|r| r.steps).sum();
    let tokens: u64 = ran.iter().map(|r| r.tokens).sum();
    let n = ran.len().max(1) as f64;
    writeln!(
        stdout,
        "\npassed {passed}/{} ({:.0}%) · mean steps {:.1} · mean tokens {:.0} · skipped {} · model {}",
        ran.len(),
        100.0 * passed as f64 / n,
        f64::from(steps) / n,
        tokens as f64 / n,
        results.len() - ran.len(),
        llm.info().name
    )?;
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(out.join("results.json"), json)
        .with_context(|| format!("writing {}", out.join("results.json").display()))?;
    writeln!(stdout, "runs and results.json: {}", out.display())?;
    Ok(())
}
