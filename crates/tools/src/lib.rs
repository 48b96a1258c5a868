//! The tools Hamlet's agents act with, and the runtime rules that confine them.
//!
//! A tool is a typed Rust value: a name, an `Args` type the model's JSON must deserialize into, a
//! JSON Schema derived from `Args` (schemars), and a `call`. The agent loop asks the model for an
//! action constrained to the schemas of the tools the agent is allowed, then hands the arguments to
//! [`Registry::call`]. Whether a call may run at all is decided here and in the loop, never by the
//! prompt:
//!
//! - files stay inside the run's [`Workspace`] (`..`, absolute paths and escaping symlinks are
//!   refused);
//! - `http_get` refuses loopback, private and link-local addresses unless the [`Policy`] allows them,
//!   follows redirects itself and pins every hop to the address it checked;
//! - `shell` exists only when the policy lists allowed programs, runs them without a shell, in the
//!   workspace, with a timeout;
//! - a failing tool returns a [`ToolError`], which the loop shows the model as an observation.

mod address;
mod calc;
mod error;
mod fs;
mod http;
mod memory;
pub mod process;
mod registry;
mod search;
mod shell;
mod workspace;

pub use error::{ToolError, ToolResult};
pub use http::check_address;
pub use registry::{
    AppendFile, Calculator, DynTool, Effect, Finish, HttpGet, ListDir, ReadFile, Recall, Registry,
    Remember, SearchFiles, Shell, Tool, WebSearch, WriteFile,
};
pub use search::{SearchEngine, SearchHit, SearchProvider, BRAVE_URL};
pub use workspace::Workspace;

use std::sync::Arc;
use std::time::Duration;

use hamlet_core::MemoryStream;

/// What the runtime lets tools do. The defaults are the safe ones.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Policy {
    /// Let `http_get` reach loopback, private and link-local addresses.
    pub allow_private_network: bool,
    /// Hosts (names or addresses) that may be reached even when private, e.g. a local wiki.
    pub allow_hosts: Vec<String>,
    /// Programs `shell` may run (by name, as found on `PATH`); empty means the shell is off.
    pub shell_allow: Vec<String>,
    pub shell_timeout: Duration,
    pub http_timeout: Duration,
    /// Largest HTTP body read, in bytes.
    pub http_max_bytes: usize,
    /// Largest file `read_file` reads, in bytes.
    pub max_read_bytes: u64,
    /// Where `web_search` asks (none: the tool is refused).
    pub web_search: Option<SearchEngine>,
}

impl Policy {
    /// What this policy allows that `other` does not (empty when it allows nothing more): a
    /// private network, hosts, shell programs, a longer shell time limit.
    pub fn wider_than(&self, other: &Policy) -> Vec<String> {
        let mut wider = Vec::new();
        if self.allow_private_network && !other.allow_private_network {
            wider.push("private network addresses".to_string());
        }
        let extra = |mine: &[String], theirs: &[String], what: &str| {
            let extra: Vec<&str> = mine
                .iter()
                .filter(|m| !theirs.contains(m))
                .map(String::as_str)
                .collect();
            (!extra.is_empty()).then(|| format!("{what} {}", extra.join(", ")))
        };
        wider.extend(extra(&self.allow_hosts, &other.allow_hosts, "hosts"));
        wider.extend(extra(
            &self.shell_allow,
            &other.shell_allow,
            "shell programs",
        ));
        if self.web_search.is_some() && self.web_search != other.web_search {
            wider.push("a web search provider".to_string());
        }
        if self.shell_timeout > other.shell_timeout {
            wider.push(format!(
                "a {} s shell time limit",
                self.shell_timeout.as_secs()
            ));
        }
        wider
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_private_network: false,
            allow_hosts: Vec::new(),
            shell_allow: Vec::new(),
            shell_timeout: Duration::from_secs(20),
            http_timeout: Duration::from_secs(15),
            http_max_bytes: 2 << 20,
            max_read_bytes: 1 << 20,
            web_search: None,
        }
    }
}

/// Everything a tool call may touch.
#[derive(Clone)]
pub struct ToolContext {
    pub workspace: Workspace,
    pub policy: Policy,
    /// Long-term memory for `remember` / `recall` (absent: those tools fail with a clear error).
    pub memory: Option<Arc<dyn MemoryStream>>,
    /// Whose memories `remember` / `recall` use.
    pub agent: String,
}

impl ToolContext {
    pub fn new(workspace: Workspace, policy: Policy) -> Self {
        ToolContext {
            workspace,
            policy,
            memory: None,
            agent: "agent".into(),
        }
    }

    pub fn with_memory(mut self, memory: Arc<dyn MemoryStream>, agent: impl Into<String>) -> Self {
        self.memory = Some(memory);
        self.agent = agent.into();
        self
    }
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("workspace", &self.workspace)
            .field("policy", &self.policy)
            .field("memory", &self.memory.is_some())
            .field("agent", &self.agent)
            .finish()
    }
}

/// Milliseconds since the Unix epoch, now (core's, here for the tools and the runner).
pub use hamlet_core::now_ms;
