//! The offline task suite: goals with starting files and a check on the result.
//!
//! Two formats are read. Our own, `DIR/task.toml` with starting files under `DIR/files/`:
//!
//! ```toml
//! goal = "Write the sum of column B of data.csv to answer.txt."
//! max-steps = 8
//! [check]
//! file = "answer.txt"      # leave out to check the finish answer
//! contains = ["60"]
//! ```
//!
//! and AutoGPT's agbenchmark challenges, `DIR/data.json` with starting files under
//! `DIR/artifacts_in/`, where the check is offline (`eval.type = "file"`: `should_contain` /
//! `should_not_contain` over the named files or file extensions). Challenges whose check needs
//! Python, pytest or an LLM judge are listed as skipped, with the reason.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hamlet_core::trace::StopReason;
use hamlet_core::Llm;
use hamlet_tools::{Policy, ToolContext, Workspace};
use serde::{Deserialize, Serialize};

use crate::{AgentSpec, Error, Prompts, Result, Runner};

/// What must hold after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    /// Files to check (names, or extensions such as ".txt"); empty: check the finish answer.
    #[serde(default)]
    pub files: Vec<String>,
    /// Every one of these must appear (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// None of these may appear (case-insensitive).
    #[serde(default)]
    pub not_contains: Vec<String>,
    /// The first number in the text must equal this (within 1e-6 relative).
    #[serde(default)]
    pub number: Option<f64>,
}

/// One task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub goal: String,
    pub category: String,
    pub max_steps: u32,
    /// Folder whose files are copied into the workspace first.
    pub files: Option<PathBuf>,
    pub check: Check,
    /// Tools the task's agent gets (default: the built-in general agent's).
    pub tools: Option<Vec<String>>,
    /// Why the task cannot run offline, if it cannot.
    pub skip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TaskRaw {
    goal: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    max_steps: Option<u32>,
    #[serde(default)]
    tools: Option<Vec<String>>,
    #[serde(default)]
    file: Option<String>,
    check: Check,
}

#[derive(Debug, Deserialize)]
struct AgbRaw {
    task: String,
    #[serde(default)]
    category: Vec<String>,
    ground: AgbGround,
}

#[derive(Debug, Deserialize)]
struct AgbGround {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    should_contain: Option<Vec<String>>,
    #[serde(default)]
    should_not_contain: Option<Vec<String>>,
    eval: AgbEval,
}

#[derive(Debug, Deserialize)]
struct AgbEval {
    #[serde(rename = "type")]
    kind: String,
}

fn task_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Task {
        file: path.display().to_string(),
        message: message.into(),
    }
}

impl Task {
    /// Reads a task folder (`task.toml` or agbenchmark's `data.json`).
    pub fn load(dir: &Path) -> Result<Task> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let toml_path = dir.join("task.toml");
        let json_path = dir.join("data.json");
        if toml_path.exists() {
            let text = std::fs::read_to_string(&toml_path)
                .map_err(|e| task_err(&toml_path, format!("cannot read: {e}")))?;
            let raw: TaskRaw = toml::from_str(&text)
                .map_err(|e| task_err(&toml_path, e.to_string().trim_end().to_string()))?;
            if raw.check.contains.is_empty() && raw.check.number.is_none() {
                return Err(task_err(
                    &toml_path,
                    "field `check`: give `contains` or `number`, or the task always passes",
                ));
            }
            let mut check = raw.check;
            if let Some(f) = raw.file {
                check.files.push(f);
            }
            let files = dir.join("files");
            return Ok(Task {
                name,
                goal: raw.goal,
                category: raw.category.unwrap_or_else(|| "general".into()),
                max_steps: raw.max_steps.unwrap_or(10),
                files: files.is_dir().then_some(files),
                check,
                tools: raw.tools,
                skip: None,
            });
        }
        if json_path.exists() {
            let text = std::fs::read_to_string(&json_path)
                .map_err(|e| task_err(&json_path, format!("cannot read: {e}")))?;
            let raw: AgbRaw = serde_json::from_str(&text)
                .map_err(|e| task_err(&json_path, format!("not an agbenchmark challenge: {e}")))?;
            let skip = (raw.ground.eval.kind != "file").then(|| {
                format!("its check is eval type {:?}, which needs code execution or an LLM judge; only \"file\" checks run offline", raw.ground.eval.kind)
            });
            let files = dir.join("artifacts_in");
            return Ok(Task {
                name,
                goal: raw.task,
                category: raw
                    .category
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "general".into()),
                max_steps: 10,
                files: files.is_dir().then_some(files),
                check: Check {
                    files: raw.ground.files,
                    contains: raw.ground.should_contain.unwrap_or_default(),
                    not_contains: raw.ground.should_not_contain.unwrap_or_default(),
                    number: None,
                },
                tools: None,
                skip,
            });
        }
        Err(task_err(
            dir,
            "is not a task: it needs a task.toml (or an agbenchmark data.json)",
        ))
    }
}

/// Every task folder under `root`, sorted by name.
pub fn load_suite(root: &Path) -> Result<Vec<Task>> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| task_err(root, format!("cannot read the task folder: {e}")))?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Task::load(d)).collect()
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Checks the workspace (or the answer) and says why it fails, if it does.
pub fn evaluate(
    check: &Check,
    workspace: &Path,
    answer: Option<&str>,
) -> std::result::Result<(), String> {
    let text = if check.files.is_empty() {
        answer.ok_or("the agent gave no answer")?.to_string()
    } else {
        let mut texts = Vec::new();
        for want in &check.files {
            let matches: Vec<PathBuf> = if want.starts_with('.') {
                std::fs::read_dir(workspace)
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| e.path())
                            .filter(|p| p.to_string_lossy().ends_with(want.as_str()))
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                let p = workspace.join(want);
                if p.is_file() {
                    vec![p]
                } else {
                    Vec::new()
                }
            };
            if matches.is_empty() {
                return Err(format!("no file {want:?} in the workspace"));
            }
            for m in matches {
                texts.push(
                    std::fs::read_to_string(&m)
                        .map_err(|e| format!("cannot read {}: {e}", m.display()))?,
                );
            }
        }
        texts.join("\n")
    };
    let lower = text.to_lowercase();
    for c in &check.contains {
        if !lower.contains(&c.to_lowercase()) {
            return Err(format!("{c:?} not found"));
        }
    }
    for c in &check.not_contains {
        if lower.contains(&c.to_lowercase()) {
            return Err(format!("{c:?} must not appear"));
        }
    }
    if let Some(want) = check.number {
        let got = first_number(&text).ok_or("no number found")?;
        if (got - want).abs() > 1e-6 * want.abs().max(1.0) {
            return Err(format!("the number is {got}, expected {want}"));
        }
    }
    Ok(())
}

fn first_number(text: &str) -> Option<f64> {
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (bytes[i] == '-' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
        if starts {
            let mut j = i + 1;
            while j < bytes.len()
                && (bytes[j].is_ascii_digit() || bytes[j] == '.' || bytes[j] == ',')
            {
                j += 1;
            }
            let s: String = bytes[i..j].iter().filter(|c| **c != ',').collect();
            return s.trim_end_matches('.').parse().ok();
        }
        i += 1;
    }
    None
}

/// The result of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub name: String,
    pub passed: bool,
    pub skipped: Option<String>,
    pub steps: u32,
    pub tokens: u64,
    pub stop: Option<StopReason>,
    pub seconds: f64,
    /// Why the check failed (or the run's stop message).
    pub detail: String,
    pub run_dir: PathBuf,
}

/// Runs one task in `run_dir` (its workspace is `run_dir/workspace`).
pub fn run_task(
    task: &Task,
    llm: &dyn Llm,
    prompts: &Prompts,
    base: &AgentSpec,
    run_dir: &Path,
) -> Result<TaskResult> {
    let mut result = TaskResult {
        name: task.name.clone(),
        passed: false,
        skipped: task.skip.clone(),
        steps: 0,
        tokens: 0,
        stop: None,
        seconds: 0.0,
        detail: String::new(),
        run_dir: run_dir.to_path_buf(),
    };
    if task.skip.is_some() {
        return Ok(result);
    }
    let ws_dir = run_dir.join("workspace");
    if let Some(files) = &task.files {
        copy_tree(files, &ws_dir)
            .map_err(|e| Error::io(format!("copying {} into the workspace", files.display()), e))?;
    }
    let workspace = Workspace::new(&ws_dir)
        .map_err(|e| Error::io(format!("creating {}", ws_dir.display()), e))?;
    let mut spec = base.clone();
    spec.name = task
        .name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    spec.budgets.max_steps = task.max_steps;
    if let Some(tools) = &task.tools {
        spec.tools = tools.clone();
        if !spec.tools.iter().any(|t| t == "finish") {
            spec.tools.push("finish".into());
        }
    }
    let policy = Policy {
        shell_allow: spec.shell_allow.clone(),
        ..Policy::default()
    };
    let ctx = ToolContext::new(workspace, policy);
    let started = Instant::now();
    let outcome = Runner::new(spec, llm, prompts, ctx).start(run_dir, &task.goal)?;
    result.seconds = started.elapsed().as_secs_f64();
    result.steps = outcome.steps;
    result.tokens = outcome.end.usage.total_tokens();
    result.stop = Some(outcome.end.reason);
    match evaluate(&task.check, &ws_dir, outcome.end.answer.as_deref()) {
        Ok(()) => result.passed = true,
        Err(why) => result.detail = format!("{why} ({})", outcome.end.message),
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_contains() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("answer.txt"), "The total is 1,234.5 units").unwrap();
        let check = Check {
            files: vec!["answer.txt".into()],
            contains: vec!["TOTAL".into()],
            not_contains: vec!["error".into()],
            number: Some(1234.5),
        };
        assert_eq!(evaluate(&check, dir.path(), None), Ok(()));
        let check = Check {
            number: Some(12.0),
            ..check
        };
        assert!(evaluate(&check, dir.path(), None)
            .unwrap_err()
            .contains("expected 12"));
        let by_ext = Check {
            files: vec![".txt".into()],
            contains: vec!["units".into()],
            ..Check::default()
        };
        assert_eq!(evaluate(&by_ext, dir.path(), None), Ok(()));
        let answer = Check {
            contains: vec!["paris".into()],
            ..Check::default()
        };
        assert_eq!(evaluate(&answer, dir.path(), Some("Paris")), Ok(()));
        assert!(evaluate(&answer, dir.path(), None).is_err());
        assert_eq!(first_number("x -3.5 y"), Some(-3.5));
    }
}
