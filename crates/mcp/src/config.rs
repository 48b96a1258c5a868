//! How to reach one MCP server: a command to start (stdio) or a streamable-HTTP URL.
//!
//! An agent file's `[[mcp]]` tables become these (parsed and checked in `hamlet-agent`'s spec);
//! `hamlet mcp tools` and `hamlet mcp call` build one from the command line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// Written in a command's arguments, environment values or working folder, it stands for the
/// run's workspace folder (so a filesystem server can be confined to it).
pub const WORKSPACE: &str = "{workspace}";

/// One MCP server of an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    /// The prefix of its tools' names in the agent (`name.tool`).
    pub name: String,
    pub launch: Launch,
    /// Tools whose calls only look. The rest count as changing something (the loop's repeat rule
    /// depends on it). A server's own `readOnlyHint` is not trusted: it is the server's claim.
    pub read_only: Vec<String>,
    /// How long a call (or the start) may take before it becomes a failed observation.
    pub timeout: Duration,
}

/// How the server is reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Launch {
    /// Started as a child process speaking MCP on stdin/stdout; stopped with the run.
    Command {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Working folder (default: the workspace).
        cwd: Option<String>,
    },
    /// A streamable-HTTP endpoint, e.g. `http://127.0.0.1:3001/mcp`.
    Http {
        url: String,
        /// The environment variable holding a bearer token (the token itself is never written
        /// into agent files or run folders).
        token_env: Option<String>,
    },
}

impl ServerConfig {
    /// The default time limit of a call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// A server started by `command args…`.
    pub fn command(name: impl Into<String>, command: impl Into<String>, args: Vec<String>) -> Self {
        ServerConfig {
            name: name.into(),
            launch: Launch::Command {
                command: command.into(),
                args,
                env: BTreeMap::new(),
                cwd: None,
            },
            read_only: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// A server at a streamable-HTTP URL.
    pub fn http(
        name: impl Into<String>,
        url: impl Into<String>,
        token_env: Option<String>,
    ) -> Self {
        ServerConfig {
            name: name.into(),
            launch: Launch::Http {
                url: url.into(),
                token_env,
            },
            read_only: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// How the server is shown in messages: its name and what starts it.
    pub fn describe(&self) -> String {
        match &self.launch {
            Launch::Command { command, args, .. } => {
                let mut line = command.clone();
                for a in args {
                    line.push(' ');
                    line.push_str(a);
                }
                format!("`{}` ({})", self.name, clip(&line, 120))
            }
            Launch::Http { url, .. } => format!("`{}` ({url})", self.name),
        }
    }

    /// The launch with [`WORKSPACE`] replaced by `workspace`.
    pub(crate) fn launch_in(&self, workspace: &Path) -> Launch {
        let ws = workspace.display().to_string();
        let sub = |s: &String| s.replace(WORKSPACE, &ws);
        match &self.launch {
            Launch::Command {
                command,
                args,
                env,
                cwd,
            } => Launch::Command {
                command: command.clone(),
                args: args.iter().map(sub).collect(),
                env: env.iter().map(|(k, v)| (k.clone(), sub(v))).collect(),
                cwd: Some(cwd.as_ref().map_or(ws.clone(), sub)),
            },
            http => http.clone(),
        }
    }
}

/// Whether `name` can name a server: 1 to 32 ASCII letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_written_into_the_command() {
        let mut c = ServerConfig::command("fs", "node", vec!["server.js".into(), WORKSPACE.into()]);
        if let Launch::Command { env, .. } = &mut c.launch {
            env.insert("ROOT".into(), format!("{WORKSPACE}/data"));
        }
        let Launch::Command { args, env, cwd, .. } = c.launch_in(Path::new("/w")) else {
            panic!("a command stays a command");
        };
        assert_eq!(args, ["server.js", "/w"]);
        assert_eq!(env["ROOT"], "/w/data");
        assert_eq!(cwd.as_deref(), Some("/w"));
        assert!(valid_name("fs_2-x") && !valid_name("a.b") && !valid_name(""));
    }
}
