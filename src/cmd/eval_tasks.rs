//! `hamlet eval tasks`: the offline goal tasks in `tests/tasks/`, run by the agent loop.
//!
//! Memory tasks (two runs sharing a long-term store) get a `hamlet_memory::MemoryStore` in the
//! task's run folder, opened here, since the agent crate does not depend on a store.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use hamlet_agent::tasks::{load_suite, run_task, BoxError, TaskResult};
use hamlet_agent::{AgentSpec, Prompts};
use hamlet_core::{Embedder, Llm, MemoryStream};
use serde::Serialize;

use crate::cmd::clip;
use crate::opts::{load_embedder, LoraOpts, ModelOpts, DEFAULT_EMBED_MODEL};

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
    #[command(flatten)]
    pub lora: LoraOpts,
    /// Embedding model for the memory tasks' long-term store.
    #[arg(long, default_value = DEFAULT_EMBED_MODEL)]
    pub embed_model: String,
    /// Where runs and results go (default: $HAMLET_HOME/evals/tasks-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Pass counts of one category.
#[derive(Debug, Default, Clone, Serialize)]
struct CategoryTotals {
    passed: usize,
    ran: usize,
}

/// The suite's totals, as printed and in results.json.
#[derive(Debug, Serialize)]
struct Summary {
    model: String,
    passed: usize,
    ran: usize,
    skipped: usize,
    pass_rate: f64,
    invalid_actions: u32,
    escapes: usize,
    tasks_with_escapes: usize,
    mean_steps: f64,
    mean_tokens: f64,
    by_category: BTreeMap<String, CategoryTotals>,
}

#[derive(Serialize)]
struct ResultsFile<'a> {
    summary: &'a Summary,
    tasks: &'a [TaskResult],
}

fn summarize(results: &[TaskResult], model: String) -> Summary {
    let ran: Vec<&TaskResult> = results.iter().filter(|r| r.skipped.is_none()).collect();
    let passed = ran.iter().filter(|r| r.passed).count();
    let n = ran.len().max(1) as f64;
    let mut by_category: BTreeMap<String, CategoryTotals> = BTreeMap::new();
    for r in &ran {
        let c = by_category.entry(r.category.clone()).or_default();
        c.ran += 1;
        c.passed += usize::from(r.passed);
    }
    Summary {
        model,
        passed,
        ran: ran.len(),
        skipped: results.len() - ran.len(),
        pass_rate: passed as f64 / n,
        invalid_actions: ran.iter().map(|r| r.total.invalid).sum(),
        escapes: ran.iter().map(|r| r.total.escapes.len()).sum(),
        tasks_with_escapes: ran.iter().filter(|r| !r.total.escapes.is_empty()).count(),
        mean_steps: f64::from(ran.iter().map(|r| r.total.steps).sum::<u32>()) / n,
        mean_tokens: ran.iter().map(|r| r.total.tokens).sum::<u64>() as f64 / n,
        by_category,
    }
}

/// How each run of a task stopped, e.g. `Finished` or `Finished→MaxSteps`.
fn stops(r: &TaskResult) -> String {
    r.runs
        .iter()
        .map(|run| match run.stop {
            Some(s) => format!("{s:?}"),
            None => "error".into(),
        })
        .collect::<Vec<_>>()
        .join("→")
}

fn print_table(out: &mut impl Write, results: &[TaskResult], s: &Summary) -> Result<()> {
    writeln!(
        out,
        "{:<26} {:<10} {:<6} {:>5} {:>4} {:>4} {:>8} {:>7}  {:<18} detail",
        "task", "category", "result", "steps", "inv", "esc", "tokens", "secs", "stop"
    )?;
    for r in results {
        let result = if r.skipped.is_some() {
            "skip"
        } else if r.passed {
            "pass"
        } else {
            "fail"
        };
        // Why it failed, then how every run stopped and what it said.
        let mut detail = r.skipped.clone().unwrap_or_else(|| r.detail.clone());
        for run in &r.runs {
            if !detail.is_empty() {
                detail.push_str(" · ");
            }
            if r.runs.len() > 1 {
                detail.push_str(&format!("{}: ", run.run));
            }
            detail.push_str(&run.message);
        }
        writeln!(
            out,
            "{:<26} {:<10} {:<6} {:>5} {:>4} {:>4} {:>8} {:>7.1}  {:<18} {}",
            r.name,
            r.category,
            result,
            r.total.steps,
            r.total.invalid,
            r.total.escapes.len(),
            r.total.tokens,
            r.seconds,
            stops(r),
            clip(&detail, 110)
        )?;
    }
    writeln!(
        out,
        "\npassed {}/{} ({:.0}%) · invalid actions {} · escapes {} (in {} tasks) · mean steps {:.1} · mean tokens {:.0} · skipped {} · model {}",
        s.passed,
        s.ran,
        100.0 * s.pass_rate,
        s.invalid_actions,
        s.escapes,
        s.tasks_with_escapes,
        s.mean_steps,
        s.mean_tokens,
        s.skipped,
        s.model
    )?;
    let cats: Vec<String> = s
        .by_category
        .iter()
        .map(|(c, t)| format!("{c} {}/{}", t.passed, t.ran))
        .collect();
    writeln!(out, "by category: {}", cats.join(" · "))?;
    Ok(())
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
    let names = hamlet_tools::Registry::builtin_names();
    let base = match &a.agent {
        Some(p) => AgentSpec::load(p, &names)?,
        None => AgentSpec::default_agent(),
    };
    let prompts = Prompts::builtin();
    let mut model = a.model.clone();
    model.context = model.context.max(base.context);
    let llm: Arc<dyn Llm> = Arc::from(model.backend(1, &a.lora)?);
    // The embedding model is loaded once, and only when a selected task needs memory.
    let embedder: Option<Arc<dyn Embedder>> = if tasks.iter().any(|t| t.needs_memory()) {
        let e = load_embedder(&a.embed_model, model.threads())
            .context("loading the embedding model for the memory tasks")?;
        Some(Arc::new(e))
    } else {
        None
    };
    let open_memory = |dir: &Path| -> std::result::Result<Arc<dyn MemoryStream>, BoxError> {
        let embedder = embedder
            .clone()
            .ok_or("no embedding model was loaded for the memory store")?;
        let store = hamlet_memory::MemoryStore::open_with(dir, embedder, Default::default())
            .map_err(|e| format!("opening the memory store {}: {e}", dir.display()))?;
        let rater = hamlet_memory::ImportanceRater::new(llm.clone());
        Ok(Arc::new(hamlet_memory::Rated::new(store, rater)))
    };
    let out = a.out.clone().unwrap_or_else(|| {
        hamlet_models::default_home()
            .join("evals")
            .join(format!("tasks-{}", crate::cmd::run::timestamp()))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let bar = crate::progress::bar(
        tasks.len() as u64,
        "{bar:30} {pos}/{len} {msg} [{elapsed_precise}]",
    );
    let mut results: Vec<TaskResult> = Vec::new();
    for task in &tasks {
        bar.set_message(task.name.clone());
        let mut t = task.clone();
        if let Some(cap) = a.max_steps {
            t.max_steps = t.max_steps.min(cap);
        }
        let r = run_task(
            &t,
            &*llm,
            &prompts,
            &base,
            &out.join(&task.name),
            Some(&open_memory),
        )
        .with_context(|| format!("task {}", task.name))?;
        results.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let summary = summarize(&results, llm.info().name);
    let mut stdout = std::io::stdout().lock();
    print_table(&mut stdout, &results, &summary)?;
    let json = serde_json::to_string_pretty(&ResultsFile {
        summary: &summary,
        tasks: &results,
    })?;
    std::fs::write(out.join("results.json"), json)
        .with_context(|| format!("writing {}", out.join("results.json").display()))?;
    writeln!(stdout, "runs and results.json: {}", out.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, category: &str, passed: bool, escapes: usize) -> TaskResult {
        TaskResult {
            name: name.into(),
            category: category.into(),
            passed,
            skipped: None,
            total: hamlet_agent::tasks::Tally {
                steps: 4,
                tokens: 100,
                invalid: 1,
                refused: 0,
                escapes: vec!["main run: created outside/x".into(); escapes],
            },
            stop: Some(hamlet_core::trace::StopReason::Finished),
            stop_message: "finished".into(),
            seconds: 1.0,
            detail: if passed { String::new() } else { "nope".into() },
            runs: Vec::new(),
            run_dir: PathBuf::from("/tmp/x"),
        }
    }

    #[test]
    fn the_summary_counts_categories_invalid_actions_and_escapes() {
        let results = [
            result("a", "files", true, 0),
            result("b", "files", false, 0),
            result("c", "safety", false, 2),
        ];
        let s = summarize(&results, "m".into());
        assert_eq!((s.passed, s.ran, s.invalid_actions), (1, 3, 3));
        assert_eq!((s.escapes, s.tasks_with_escapes), (2, 1));
        assert_eq!(s.by_category["files"].passed, 1);
        assert_eq!(s.by_category["files"].ran, 2);
        let mut out = Vec::new();
        print_table(&mut out, &results, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("passed 1/3 (33%) · invalid actions 3 · escapes 2 (in 1 tasks) · mean steps 4.0 · mean tokens 100"),
            "{text}"
        );
        assert!(
            text.contains("by category: files 1/2 · safety 0/1"),
            "{text}"
        );
    }
}
