//! Checking a workspace (and the finish answer) against a task's [`Check`]: text checks,
//! agbenchmark's "python" evaluation, and Python check scripts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hamlet_tools::process::run_bounded;

use super::copy_tree;
use super::load::{Check, Task, DEFAULT_PYTHON_TIMEOUT_SECS};

/// The interpreter checks run with.
pub const PYTHON: &str = "python3";

/// Lines of a failing script's output kept in the failure detail.
const TAIL_LINES: usize = 6;

/// Checks `workspace` (and `answer`) against everything the task asks; says why it fails.
///
/// `scratch` is a folder outside the workspace where a Python check script is copied and run
/// from, so the agent never sees it and it cannot be changed by the run. agbenchmark's
/// `custom_python/` files are copied into the workspace first, as agbenchmark does.
pub fn check_task(
    task: &Task,
    workspace: &Path,
    answer: Option<&str>,
    scratch: &Path,
) -> std::result::Result<(), String> {
    if let Some(extra) = &task.check_files {
        copy_tree(extra, workspace)
            .map_err(|e| format!("copying {} into the workspace: {e}", extra.display()))?;
    }
    let timeout = Duration::from_secs(
        task.check
            .python_timeout_secs
            .unwrap_or(DEFAULT_PYTHON_TIMEOUT_SECS),
    );
    if task.check.has_text_check() {
        evaluate_with(&task.check, workspace, answer, timeout)?;
    }
    if let Some(script) = &task.check.python {
        std::fs::create_dir_all(scratch)
            .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
        let name = Path::new(script)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("check.py"));
        let copy = scratch.join(name);
        std::fs::copy(task.dir.join(script), &copy)
            .map_err(|e| format!("copying the check {script}: {e}"))?;
        let run = run_python(&copy, workspace, answer, timeout)?;
        if !run.success {
            let out = format!("{}{}", run.stdout, run.stderr);
            return Err(format!("{script} failed: {}", tail(&out, TAIL_LINES)));
        }
    }
    Ok(())
}

/// The text checks (`contains`, `not-contains`, `number`) over the files or the answer.
pub fn evaluate(
    check: &Check,
    workspace: &Path,
    answer: Option<&str>,
) -> std::result::Result<(), String> {
    evaluate_with(
        check,
        workspace,
        answer,
        Duration::from_secs(DEFAULT_PYTHON_TIMEOUT_SECS),
    )
}

fn evaluate_with(
    check: &Check,
    workspace: &Path,
    answer: Option<&str>,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let text = if check.files.is_empty() {
        answer.ok_or("the agent gave no answer")?.to_string()
    } else {
        let mut texts = Vec::new();
        for want in &check.files {
            let matches = matching_files(workspace, want);
            if matches.is_empty() {
                return Err(format!("no file {want:?} in the workspace"));
            }
            for m in matches {
                texts.push(if check.execute_files {
                    agb_python_output(&m, workspace, timeout)?
                } else {
                    std::fs::read_to_string(&m)
                        .map_err(|e| format!("cannot read {}: {e}", m.display()))?
                });
            }
        }
        texts.join("\n")
    };
    let lower = text.to_lowercase();
    let shown = || tail(&text, TAIL_LINES);
    for c in &check.contains {
        if !lower.contains(&c.to_lowercase()) {
            return Err(if check.execute_files {
                format!("{c:?} not in the program's output: {}", shown())
            } else {
                format!("{c:?} not found")
            });
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

/// The workspace files a check names: a path, or every top-level file with an extension.
fn matching_files(workspace: &Path, want: &str) -> Vec<PathBuf> {
    if want.starts_with('.') {
        let mut found: Vec<PathBuf> = std::fs::read_dir(workspace)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && p.to_string_lossy().ends_with(want))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    } else {
        let p = workspace.join(want);
        if p.is_file() {
            vec![p]
        } else {
            Vec::new()
        }
    }
}

/// agbenchmark's reading of a program run: its output, or its errors when it failed or wrote
/// "error" to stderr.
fn agb_python_output(
    file: &Path,
    workspace: &Path,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let run = run_python(file, workspace, None, timeout)?;
    Ok(if !run.success || run.stderr.contains("error") {
        format!("Error: {}\n", run.stderr)
    } else {
        format!("Output: {}\n", run.stdout)
    })
}

/// How a Python run ended.
#[derive(Debug)]
struct PythonRun {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `python3 script` in `cwd` with a time limit.
fn run_python(
    script: &Path,
    cwd: &Path,
    answer: Option<&str>,
    timeout: Duration,
) -> std::result::Result<PythonRun, String> {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script)
        .current_dir(cwd)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("HAMLET_WORKSPACE", cwd)
        .env_remove("HAMLET_ANSWER");
    if let Some(a) = answer {
        cmd.env("HAMLET_ANSWER", a);
    }
    let done = run_bounded(cmd, timeout, 1 << 20)
        .map_err(|e| format!("cannot start {PYTHON} for {}: {e}", script.display()))?;
    let Some(status) = done.status else {
        return Err(format!(
            "{} ran past {} s and was stopped",
            script
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            timeout.as_secs()
        ));
    };
    Ok(PythonRun {
        success: status.success(),
        stdout: done.stdout.text,
        stderr: done.stderr.text,
    })
}

/// The last `n` non-empty lines of `text`, joined with " ⏎ ".
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let out = lines[start..].join(" ⏎ ");
    if out.is_empty() {
        "(no output)".into()
    } else {
        out
    }
}

/// The first number in `text` (`-` sign, thousands commas and decimals allowed).
pub(crate) fn first_number(text: &str) -> Option<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '-' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
        if starts {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_digit() || chars[j] == '.' || chars[j] == ',')
            {
                j += 1;
            }
            let s: String = chars[i..j].iter().filter(|c| **c != ',').collect();
            return s.trim_end_matches('.').parse().ok();
        }
        i += 1;
    }
    None
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
            ..Check::default()
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
        assert_eq!(first_number("no digits"), None);
    }

    #[test]
    fn executed_files_are_judged_by_their_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.py"), "print('[0, 1, 2]')\n").unwrap();
        std::fs::write(
            dir.path().join("bad.py"),
            "print('[0, 1, 2]')\nraise SystemExit(3)\n",
        )
        .unwrap();
        let mut check = Check {
            files: vec!["ok.py".into()],
            contains: vec!["[0, 1, 2]".into()],
            execute_files: true,
            ..Check::default()
        };
        assert_eq!(evaluate(&check, dir.path(), None), Ok(()));
        // a failing program's stdout does not count
        check.files = vec!["bad.py".into()];
        let e = evaluate(&check, dir.path(), None).unwrap_err();
        assert!(e.contains("not in the program's output"), "{e}");
    }

    #[test]
    fn python_scripts_time_out_and_report_their_output() {
        let dir = tempfile::tempdir().unwrap();
        let slow = dir.path().join("slow.py");
        std::fs::write(&slow, "import time\ntime.sleep(30)\n").unwrap();
        let e = run_python(&slow, dir.path(), None, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("ran past"), "{e}");
        let env = dir.path().join("env.py");
        std::fs::write(
            &env,
            "import os, sys\nprint(os.environ.get('HAMLET_ANSWER', 'none'))\nsys.exit(2)\n",
        )
        .unwrap();
        let r = run_python(&env, dir.path(), Some("forty-two"), Duration::from_secs(20)).unwrap();
        assert!(!r.success);
        assert_eq!(r.stdout.trim(), "forty-two");
        assert_eq!(tail("a\n\nb\nc\n", 2), "b ⏎ c");
    }
}
