//! `shell`: run an allow-listed program in the workspace, without a shell, with a timeout.
//!
//! The command line is split into words (`shell-words`), so pipes, `;` and `$(...)` are plain
//! arguments, never interpreted. The one shell form models expect everywhere, a trailing
//! `> FILE` or `>> FILE`, is done by the tool itself: stdout goes to that file, resolved inside the
//! workspace like every other path. Only programs named in [`crate::Policy::shell_allow`]
//! run; the environment is cleared except `PATH`, `HOME` (the workspace) and `LANG`.

use std::process::Command;

use crate::process::run_bounded;
use crate::{ToolContext, ToolError, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// A command line such as "python3 main.py"; it is not run through a shell.
    pub command: String,
}

const MAX_OUTPUT: usize = 64 * 1024;

pub(crate) fn shell(ctx: &ToolContext, a: ShellArgs) -> ToolResult<String> {
    let policy = &ctx.policy;
    if policy.shell_allow.is_empty() {
        return Err(ToolError::refused(
            "the shell is off for this agent; allow programs with [shell] allow = [...] in the agent file",
        ));
    }
    let mut words = shell_words::split(&a.command)
        .map_err(|e| ToolError::InvalidArgs(format!("cannot split {:?}: {e}", a.command)))?;
    let redirect = match take_redirect(&mut words) {
        Some((target, append)) => Some((ctx.workspace.resolve(&target)?, target, append)),
        None => None,
    };
    let (program, args) = words
        .split_first()
        .ok_or_else(|| ToolError::InvalidArgs("command is empty".into()))?;
    if !policy.shell_allow.iter().any(|p| p == program) {
        return Err(ToolError::refused(format!(
            "program {program:?} is not allowed; allowed: {}",
            policy.shell_allow.join(", ")
        )));
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(ctx.workspace.root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", ctx.workspace.root())
        .env("LANG", "C.UTF-8");
    let done = run_bounded(cmd, policy.shell_timeout, MAX_OUTPUT)
        .map_err(|e| ToolError::failed(format!("cannot run {program:?}: {e}")))?;
    if done.status.is_none() {
        return Err(ToolError::failed(format!(
            "{program:?} did not finish within {} s and was stopped",
            policy.shell_timeout.as_secs()
        )));
    }
    let code = done.code();
    let [stdout, stderr] = [done.stdout, done.stderr].map(|c| {
        let mut s = c.text;
        if c.cut {
            s.push_str("\n[output cut]");
        }
        s
    });
    let mut out = format!("exit code {code}\n");
    if let Some((path, target, append)) = redirect {
        save(&path, &stdout, append)
            .map_err(|e| ToolError::failed(format!("cannot write the output to {target}: {e}")))?;
        let verb = if append { "appended to" } else { "saved to" };
        out.push_str(&format!(
            "stdout ({} bytes, {verb} {target}):\n{}\n",
            stdout.len(),
            stdout.trim_end()
        ));
    } else if !stdout.trim().is_empty() {
        out.push_str(&format!("stdout:\n{}\n", stdout.trim_end()));
    }
    if !stderr.trim().is_empty() {
        out.push_str(&format!("stderr:\n{}\n", stderr.trim_end()));
    }
    Ok(out.trim_end().to_string())
}

/// Takes a trailing `> FILE` / `>> FILE` (or `>FILE`) off the words: the file and whether to append.
fn take_redirect(words: &mut Vec<String>) -> Option<(String, bool)> {
    let n = words.len();
    if n >= 3 && (words[n - 2] == ">" || words[n - 2] == ">>") {
        let append = words[n - 2] == ">>";
        let target = words.pop()?;
        words.pop();
        return Some((target, append));
    }
    let last = words.last()?;
    if n >= 2 && last.starts_with('>') {
        let append = last.starts_with(">>");
        let target = last.trim_start_matches('>').to_string();
        if target.is_empty() {
            return None;
        }
        words.pop();
        return Some((target, append));
    }
    None
}

fn save(path: &std::path::Path, text: &str, append: bool) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn a_trailing_redirect_is_taken_off() {
        let mut w = words("python3 fib.py > fib.txt");
        assert_eq!(take_redirect(&mut w), Some(("fib.txt".into(), false)));
        assert_eq!(w, ["python3", "fib.py"]);
        let mut w = words("python3 a.py >>log.txt");
        assert_eq!(take_redirect(&mut w), Some(("log.txt".into(), true)));
        assert_eq!(w, ["python3", "a.py"]);
        // Not at the end, or alone: left as arguments.
        let mut w = words("python3 a.py > b.txt c");
        assert_eq!(take_redirect(&mut w), None);
        let mut w = words("> b.txt");
        assert_eq!(take_redirect(&mut w), None);
    }
}
