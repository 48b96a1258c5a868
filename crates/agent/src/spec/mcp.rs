//! An agent file's `[[mcp]]` tables: the MCP servers whose tools the agent may call, by
//! `server.tool` names in `tools`.
//!
//! ```toml
//! tools = ["fs.read_text_file", "fs.write_file", "finish"]
//!
//! [[mcp]]
//! name = "fs"
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-filesystem", "{workspace}"]
//! read-only = ["read_text_file"]
//!
//! [[mcp]]
//! name = "search"
//! url = "http://127.0.0.1:3001/mcp"
//! token-env = "SEARCH_TOKEN"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use hamlet_mcp::{valid_name, Launch, ServerConfig};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Invalid;

/// The longest a call to an MCP server may be allowed to take, in seconds (an hour).
const MAX_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct McpRaw {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    read_only: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_secs: Option<u64>,
}

impl McpRaw {
    /// The server this table describes; `i` is its place among the tables (for the field name).
    pub(super) fn config(&self, i: usize) -> Result<ServerConfig, Invalid> {
        let bad = |what: &str, message: String| Invalid {
            field: format!("mcp[{i}]{what}"),
            message,
        };
        let launch = match (&self.command, &self.url) {
            (Some(command), None) => Launch::Command {
                command: command.clone(),
                args: self.args.clone(),
                env: self.env.clone(),
                cwd: self.cwd.clone(),
            },
            (None, Some(url)) => {
                if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
                    return Err(bad("", "`args`, `env` and `cwd` belong to a `command`; a `url` server takes `token-env` only".into()));
                }
                Launch::Http {
                    url: url.clone(),
                    token_env: self.token_env.clone(),
                }
            }
            _ => {
                return Err(bad(
                    "",
                    "give exactly one of `command` (a server started on stdio, e.g. command = \"npx\", args = [...]) and `url` (a streamable-HTTP endpoint)".into(),
                ))
            }
        };
        if self.token_env.is_some() && self.command.is_some() {
            return Err(bad(
                ".token-env",
                "a bearer token is for a `url` server; pass a command's secrets with `env`".into(),
            ));
        }
        Ok(ServerConfig {
            name: self.name.trim().to_string(),
            launch,
            read_only: self.read_only.clone(),
            timeout: self
                .timeout_secs
                .map_or(ServerConfig::DEFAULT_TIMEOUT, Duration::from_secs),
        })
    }

    /// The table that reads back as `config`.
    pub(super) fn of(config: &ServerConfig) -> Spanned<McpRaw> {
        let (command, args, env, cwd, url, token_env) = match &config.launch {
            Launch::Command {
                command,
                args,
                env,
                cwd,
            } => (
                Some(command.clone()),
                args.clone(),
                env.clone(),
                cwd.clone(),
                None,
                None,
            ),
            Launch::Http { url, token_env } => (
                None,
                Vec::new(),
                BTreeMap::new(),
                None,
                Some(url.clone()),
                token_env.clone(),
            ),
        };
        Spanned::new(
            0..0,
            McpRaw {
                name: config.name.clone(),
                command,
                args,
                env,
                cwd,
                url,
                token_env,
                read_only: config.read_only.clone(),
                timeout_secs: Some(config.timeout.as_secs()),
            },
        )
    }
}

/// The rules every agent's servers keep: usable, distinct names, a time limit in range, a URL
/// that is one.
pub(super) fn check(servers: &[ServerConfig]) -> Result<(), Invalid> {
    for (i, s) in servers.iter().enumerate() {
        let bad = |what: &str, message: String| {
            Err(Invalid {
                field: format!("mcp[{i}]{what}"),
                message,
            })
        };
        if !valid_name(&s.name) {
            return bad(".name", format!("{:?} is not a usable server name: use 1 to 32 letters, digits, '-' or '_' (its tools are called NAME.tool)", super::clip(&s.name)));
        }
        if servers[..i].iter().any(|o| o.name == s.name) {
            return bad(
                ".name",
                format!("a second server named {:?}: give each its own name", s.name),
            );
        }
        let secs = s.timeout.as_secs();
        if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
            return bad(
                ".timeout-secs",
                format!("{secs} is not a usable time limit: use 1 to {MAX_TIMEOUT_SECS} seconds"),
            );
        }
        match &s.launch {
            Launch::Command { command, .. } if command.trim().is_empty() => {
                return bad(
                    ".command",
                    "is empty: name the program that starts the server".into(),
                )
            }
            Launch::Http { url, .. }
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                return bad(
                    ".url",
                    format!("{:?} is not an http:// or https:// URL", super::clip(url)),
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether an agent's `tools` entry names an MCP tool (`server.tool`), and then the two parts.
pub fn split(tool: &str) -> Option<(&str, &str)> {
    tool.split_once('.')
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
}
