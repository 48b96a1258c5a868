//! An agent file's `[delegate]` table: the agents a run may start as sub-agents with the
//! `delegate` tool, and the runtime's limits on them.
//!
//! ```toml
//! tools = ["read_file", "delegate", "finish"]
//!
//! [delegate]
//! agents = ["writer.toml"]   # agent files, relative to this one
//! max-depth = 1              # children may not start sub-agents of their own
//! max-children = 4           # sub-agents one run may start
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{clip, Invalid};

/// The tool that starts a sub-agent.
pub const DELEGATE: &str = "delegate";

/// The deepest nesting of sub-agents any agent file may allow.
const MAX_DEPTH: u32 = 4;
/// The most sub-agents one run may start.
const MAX_CHILDREN: u32 = 64;

/// Which agents a run may start as sub-agents, and how many and how deep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegation {
    /// Agent files (absolute once read: a run folder's copy names the same files).
    pub agents: Vec<PathBuf>,
    /// Levels of sub-agents below this run (1: children, no grandchildren). A child's own
    /// `[delegate]` can only lower what its parent leaves it.
    pub max_depth: u32,
    /// Sub-agents one run may start, over the whole run.
    pub max_children: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct DelegateRaw {
    agents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_depth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_children: Option<u32>,
}

impl DelegateRaw {
    /// The table read from `file`: relative agent paths are taken from the file's folder.
    pub(super) fn delegation(&self, file: &str) -> Delegation {
        let base = Path::new(file).parent().unwrap_or(Path::new(""));
        Delegation {
            agents: self
                .agents
                .iter()
                .map(|a| {
                    let path = base.join(a.trim());
                    std::path::absolute(&path).unwrap_or(path)
                })
                .collect(),
            max_depth: self.max_depth.unwrap_or(1),
            max_children: self.max_children.unwrap_or(4),
        }
    }

    /// The table that reads back as `d`.
    pub(super) fn of(d: &Delegation) -> DelegateRaw {
        DelegateRaw {
            agents: d.agents.iter().map(|p| p.display().to_string()).collect(),
            max_depth: Some(d.max_depth),
            max_children: Some(d.max_children),
        }
    }
}

/// The rules of a `[delegate]` table, and that `tools` lists `delegate` exactly when there is one.
pub(super) fn check(delegation: Option<&Delegation>, tools: &[String]) -> Result<(), Invalid> {
    let bad = |field: &str, message: String| {
        Err(Invalid {
            field: field.to_string(),
            message,
        })
    };
    let listed = tools.iter().any(|t| t == DELEGATE);
    let Some(d) = delegation else {
        if listed {
            return bad("tools", "lists \"delegate\" but names no agents to delegate to: add a [delegate] table, agents = [\"writer.toml\"]".into());
        }
        return Ok(());
    };
    if !listed {
        return bad("delegate", "a [delegate] table is given but \"delegate\" is not in `tools`: add it to `tools` or remove the table".into());
    }
    if d.agents.is_empty() {
        return bad(
            "delegate.agents",
            "is empty: name at least one agent file, e.g. agents = [\"writer.toml\"]".into(),
        );
    }
    for (i, a) in d.agents.iter().enumerate() {
        if !a.is_file() {
            return bad(
                &format!("delegate.agents[{i}]"),
                format!(
                    "no agent file at {}: give a path relative to this agent file",
                    clip(&a.display().to_string())
                ),
            );
        }
    }
    let limits = [
        ("max-depth", d.max_depth, MAX_DEPTH, " (children only)"),
        ("max-children", d.max_children, MAX_CHILDREN, ""),
    ];
    for (field, value, max, note) in limits {
        if !(1..=max).contains(&value) {
            return bad(
                &format!("delegate.{field}"),
                format!("{value} is not usable: use 1{note} to {max}"),
            );
        }
    }
    Ok(())
}
