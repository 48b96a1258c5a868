//! Shared helpers for the `hamlet` binary's end-to-end tests: running it, reading its output, and
//! checking that a failure is one clear `error:` line.
#![allow(dead_code)] // each test binary uses a subset

use std::path::Path;
use std::process::{Command, Output};

/// The `hamlet` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hamlet");

/// The small model the mechanics tests run on (the default agent model is ~10× slower here).
pub const MECHANICS_MODEL: &str = "smollm2-135m";

/// `hamlet ARGS`, ready to run: `HAMLET_THREADS` from the environment or 1, and
/// `HAMLET_MODEL` set to [`MECHANICS_MODEL`]. Tests of the default model use [`hamlet_default_model`].
/// Add more `env`/`env_remove` as a test needs.
pub fn hamlet_cmd(args: &[&str]) -> Command {
    let mut c = hamlet_default_model(args);
    c.env("HAMLET_MODEL", MECHANICS_MODEL);
    c
}

/// `hamlet ARGS` with no `HAMLET_MODEL`, so the default model (Qwen2.5-Coder-1.5B) is used.
pub fn hamlet_default_model(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env(
            "HAMLET_THREADS",
            std::env::var("HAMLET_THREADS").unwrap_or_else(|_| "1".into()),
        )
        .env_remove("HAMLET_MODEL");
    c
}

/// Runs `hamlet ARGS` with none of the memory store's environment overrides
/// (`HAMLET_EMBED_MODEL`, `HAMLET_MEMORY_DB`, `HAMLET_QDRANT_URL`), so a test's `--db` and the
/// default embedding model are what it gets.
pub fn hamlet_memory(args: &[&str]) -> Output {
    hamlet_cmd(args)
        .env_remove("HAMLET_EMBED_MODEL")
        .env_remove("HAMLET_MEMORY_DB")
        .env_remove("HAMLET_QDRANT_URL")
        .output()
        .expect("run hamlet")
}

/// Runs `hamlet ARGS` (see [`hamlet_cmd`]) to completion.
pub fn hamlet(args: &[&str]) -> Output {
    hamlet_cmd(args).output().expect("run hamlet")
}

/// The arguments of `hamlet run --yes` on `goal` in workspace `ws`, tracing into `run_dir`, and
/// then `extra`.
pub fn run_args<'a>(
    ws: &'a Path,
    run_dir: &'a Path,
    goal: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let path = |p: &'a Path| p.to_str().expect("a UTF-8 path");
    let mut args = vec![
        "run",
        "--yes",
        "--workspace",
        path(ws),
        "--run-dir",
        path(run_dir),
    ];
    args.extend(["--goal", goal]);
    args.extend(extra);
    args
}

/// The arguments of `hamlet eval tasks` on the repository's suite, running only `tasks` and
/// writing results to `out`, then `extra`.
pub fn eval_tasks_args<'a>(tasks: &[&'a str], out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tasks");
    let mut args = vec!["eval", "tasks", "--dir", suite];
    for t in tasks {
        args.extend(["--only", t]);
    }
    args.extend(["--out", out.to_str().expect("a UTF-8 path")]);
    args.extend(extra);
    args
}

/// The `tasks` array of an `eval tasks` run's `results.json` in `out`.
pub fn task_results(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read(out.join("results.json")).expect("results.json");
    let results: serde_json::Value = serde_json::from_slice(&text).expect("results.json is JSON");
    results["tasks"].as_array().expect("a tasks array").clone()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    stdout(o)
}

/// Asserts a failure whose stderr is nothing but one `error: ` line; returns stderr.
pub fn one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert_no_repeated_cause(lines[0]);
    err
}

/// Asserts that no cause in an `error: a: b: c` line is said twice (an error that prints its
/// source and also returns it shows up as `…: X: X`).
pub fn assert_no_repeated_cause(line: &str) {
    let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
    for (i, p) in parts.iter().enumerate() {
        if p.len() >= 12 {
            assert!(
                !parts[i + 1..].contains(p),
                "{p:?} is said twice in: {line}"
            );
        }
    }
}

/// [`one_line_error`], and the line contains `want`.
pub fn assert_one_line_error(o: &Output, want: &str) {
    let err = one_line_error(o);
    let line = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(line.contains(want), "{want:?} not in {err}");
}

/// Asserts a failure with exactly one `error: ` line on stderr, containing `want`; other stderr
/// lines (progress, warnings) are allowed.
pub fn assert_error_line(o: &Output, want: &str) {
    assert!(!o.status.success(), "expected failure: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(want), "{want:?} not in {err}");
}
