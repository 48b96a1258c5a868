//! Agent files (`agents/*.toml`) and the validated [`AgentSpec`] the loop runs.
//!
//! The file is read into `*Raw` structs (`deny_unknown_fields`, kebab-case), then validated:
//! every error names the file, the line, the field and what to write instead. [`AgentSpec`] has
//! no `Deserialize`: the only ways in are [`AgentSpec::parse`] (the file, and the copy a run keeps
//! in its folder, written by [`AgentSpec::to_toml`]) and code, and [`AgentSpec::check`] holds
//! the rules all of them keep (the command line's overrides are checked with it again).

mod delegate;
mod mcp;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use hamlet_core::{line_of, Sampling};
use hamlet_tools::{
    AppendFile, Calculator, Finish, ListDir, Policy, ReadFile, SearchEngine, SearchFiles, Shell,
    Tool, WebSearch, WriteFile,
};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{Error, Result};
pub use delegate::{Delegation, DELEGATE};
pub use mcp::split as mcp_tool;

/// A validated agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSpec {
    pub name: String,
    /// Who the agent is ("a careful researcher who ...").
    pub role: String,
    /// Standing goals and rules, on top of the run's goal.
    pub goals: Vec<String>,
    /// Tools the agent may call; `finish` is always included.
    pub tools: Vec<String>,
    /// Model name or GGUF path (`None`: the command line's or the default).
    pub model: Option<String>,
    /// Context window per sequence, in tokens.
    pub context: u32,
    /// Largest reply per step, in tokens.
    pub max_step_tokens: u32,
    pub sampling: Sampling,
    pub budgets: Budgets,
    /// Tool outputs longer than this many characters are cut, with a note the model sees.
    pub observation_chars: usize,
    /// What the runtime lets the agent's tools reach and run (`[network]`, `[shell]`).
    pub policy: Policy,
    /// MCP servers (`[[mcp]]`) whose tools `tools` may name as `server.tool`.
    pub mcp: Vec<hamlet_mcp::ServerConfig>,
    /// The agents it may start as sub-agents (`[delegate]`).
    pub delegate: Option<Delegation>,
    /// Where `remember`/`recall` keep the agent's memories (`memory-db`): a directory or a
    /// `postgres://` URL. `None`: the command line's `--memory`, else the default store.
    pub memory_db: Option<String>,
    /// Where the agent came from (for messages).
    pub source: Option<String>,
}

/// Limits of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budgets {
    pub max_steps: u32,
    /// Prompt plus completion tokens over all model calls.
    pub max_tokens: u64,
    /// Time spent in the model and in tools.
    pub max_wall_secs: u64,
    /// Reflect every this many steps (0 = only after failures).
    pub reflect_every: u32,
    /// Failed or invalid actions in a row before the run stops.
    pub max_failures: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            max_steps: 20,
            max_tokens: 300_000,
            max_wall_secs: 900,
            reflect_every: 5,
            max_failures: 4,
        }
    }
}

/// A rule of [`AgentSpec::check`] that a spec breaks: the agent-file field (`budgets.max-steps`,
/// `tools[2]`) and what is wrong, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    /// The error naming `file` (an agent file, `file:line`, or the command-line option).
    pub fn at(self, file: impl Into<String>) -> Error {
        Error::Spec {
            file: file.into(),
            message: format!("field `{}`: {}", self.field, self.message),
        }
    }
}

/// Smallest values of the numeric settings: (agent-file field, minimum).
const MINIMUMS: [(&str, u64); 6] = [
    ("model.context", 512),
    ("model.max-step-tokens", 32),
    ("model.observation-chars", 100),
    ("budgets.max-steps", 1),
    ("budgets.max-wall-secs", 1),
    ("budgets.max-failures", 1),
];

/// The largest value each setting may take: far above any real need, low enough that the
/// arithmetic on them cannot overflow and that llama.cpp is never asked for an absurd context.
const MAXIMUMS: [(&str, u64); 6] = [
    ("model.context", 1 << 20),
    ("model.max-step-tokens", 1 << 19),
    ("model.observation-chars", 1_000_000),
    ("budgets.max-steps", 100_000),
    ("budgets.max-wall-secs", 7 * 24 * 3600),
    ("budgets.max-failures", 1_000),
];

/// The longest agent or tool name (names become folder names and schema constants).
const MAX_NAME: usize = 64;

/// The longest `shell` time limit, in seconds (a day).
const MAX_SHELL_SECS: u64 = 24 * 3600;

const SHELL_WITHOUT_ALLOW: &str = "lists \"shell\" but no program is allowed: add a [shell] table with allow = [\"python3\"] (the programs it may run), or remove \"shell\"";

impl AgentSpec {
    /// The built-in general agent used when no agent file is given.
    pub fn default_agent() -> Self {
        AgentSpec {
            name: "assistant".into(),
            role: "a careful assistant that completes tasks with files in its workspace".into(),
            goals: Vec::new(),
            tools: [
                ListDir::NAME,
                ReadFile::NAME,
                WriteFile::NAME,
                AppendFile::NAME,
                SearchFiles::NAME,
                Calculator::NAME,
                Finish::NAME,
            ]
            .map(String::from)
            .to_vec(),
            model: None,
            context: 4096,
            max_step_tokens: 1024,
            // Plain greedy decoding: a repetition penalty would push the model away from the
            // paths, names and numbers it must copy from the prompt (and from calling the same
            // tool twice when that is right).
            sampling: Sampling::default(),
            budgets: Budgets::default(),
            observation_chars: 1500,
            policy: Policy::default(),
            mcp: Vec::new(),
            delegate: None,
            memory_db: None,
            source: None,
        }
    }

    /// What this spec lets the agent do that `other` does not: tools, and what its policy allows
    /// (see [`Policy::wider_than`]). A run folder's copy must not allow more than the agent file
    /// it was started from.
    pub fn wider_than(&self, other: &AgentSpec) -> Vec<String> {
        let tools: Vec<&str> = self
            .tools
            .iter()
            .filter(|t| !other.tools.contains(t))
            .map(String::as_str)
            .collect();
        let mut wider = Vec::new();
        if !tools.is_empty() {
            wider.push(format!("tools {}", tools.join(", ")));
        }
        wider.extend(self.policy.wider_than(&other.policy));
        for server in &self.mcp {
            if !other.mcp.contains(server) {
                wider.push(format!("MCP server {}", server.describe()));
            }
        }
        let theirs = other.delegate.as_ref().map_or(&[][..], |d| &d.agents[..]);
        for agent in self.delegate.iter().flat_map(|d| &d.agents) {
            if !theirs.contains(agent) {
                wider.push(format!("sub-agent {}", agent.display()));
            }
        }
        wider
    }

    /// The rules every spec keeps, whether it came from a file, a run folder or code changed
    /// by the command line; `known_tools` are the registry's names.
    pub fn check(&self, known_tools: &[&str]) -> std::result::Result<(), Invalid> {
        let bad = |field: &str, message: String| {
            Err(Invalid {
                field: field.to_string(),
                message,
            })
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_NAME
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return bad("name", format!("{:?} is not a usable name: use at most {MAX_NAME} letters, digits, '-' or '_' (it names run folders)", clip(&self.name)));
        }
        mcp::check(&self.mcp)?;
        delegate::check(self.delegate.as_ref(), &self.tools)?;
        for (i, t) in self.tools.iter().enumerate() {
            if let Some((server, _)) = mcp::split(t) {
                if !self.mcp.iter().any(|s| s.name == server) {
                    let servers: Vec<&str> = self.mcp.iter().map(|s| s.name.as_str()).collect();
                    return bad(
                        &format!("tools[{i}]"),
                        format!(
                            "{:?} names MCP server {:?}, which no [[mcp]] table declares ({}): add one with that `name`",
                            clip(t),
                            clip(server),
                            if servers.is_empty() { "there are none".to_string() } else { format!("they are {}", servers.join(", ")) }
                        ),
                    );
                }
                continue;
            }
            if t != DELEGATE && !known_tools.contains(&t.as_str()) {
                let hint = (t.len() <= MAX_NAME)
                    .then(|| closest(t, known_tools))
                    .flatten()
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                let known = known_tools.join(", ");
                return bad(
                    &format!("tools[{i}]"),
                    format!("unknown tool {:?}: {hint}the tools are {known}", clip(t)),
                );
            }
        }
        if !self.tools.iter().any(|t| t == Finish::NAME) {
            return bad(
                "tools",
                format!("lacks {:?}: a run ends by it", Finish::NAME),
            );
        }
        if self.tools.iter().any(|t| t == Shell::NAME) && self.policy.shell_allow.is_empty() {
            return bad("tools", SHELL_WITHOUT_ALLOW.into());
        }
        if self.tools.iter().any(|t| t == WebSearch::NAME) && self.policy.web_search.is_none() {
            return bad("tools", "lists \"web_search\" but names no provider: add a [web-search] table, provider = \"searxng\" with url = \"http://127.0.0.1:8888\", or provider = \"brave\" with key-env = \"BRAVE_API_KEY\"".into());
        }
        let values = [
            u64::from(self.context),
            u64::from(self.max_step_tokens),
            self.observation_chars as u64,
            u64::from(self.budgets.max_steps),
            self.budgets.max_wall_secs,
            u64::from(self.budgets.max_failures),
        ];
        for (((field, min), (_, max)), value) in MINIMUMS.into_iter().zip(MAXIMUMS).zip(values) {
            if value < min {
                return bad(field, format!("{value} is too small: use at least {min}"));
            }
            if value > max {
                return bad(field, format!("{value} is too large: use at most {max}"));
            }
        }
        let shell_secs = self.policy.shell_timeout.as_secs();
        if !(1..=MAX_SHELL_SECS).contains(&shell_secs) {
            return bad(
                "shell.timeout-secs",
                format!(
                    "{shell_secs} is not a usable time limit: use 1 to {MAX_SHELL_SECS} seconds"
                ),
            );
        }
        if u64::from(self.max_step_tokens) * 2 > u64::from(self.context) {
            return bad("model.max-step-tokens", format!("{} leaves too little of the {}-token context for the prompt: keep it under half of model.context", self.max_step_tokens, self.context));
        }
        self.sampling
            .validate()
            .or_else(|e| bad("[sampling]", e.to_string()))
    }

    /// Reads and validates an agent file; `known_tools` are the registry's names.
    pub fn load(path: &Path, known_tools: &[&str]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Spec {
            file: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string(), known_tools)
    }

    /// Parses and validates agent-file text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, known_tools: &[&str]) -> Result<Self> {
        let raw: AgentFileRaw = toml::from_str(text).map_err(|e| Error::Spec {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        raw.validate(text, file, known_tools)
    }

    /// The spec as an agent file, which [`AgentSpec::parse`] reads back into the same spec (but
    /// for `source`, which becomes the file read).
    pub fn to_toml(&self) -> Result<String> {
        fn at<T>(v: T) -> Spanned<T> {
            Spanned::new(0..0, v)
        }
        let shell = (self.tools.iter().any(|t| t == Shell::NAME)).then(|| {
            at(ShellRaw {
                allow: self.policy.shell_allow.clone(),
                timeout_secs: Some(self.policy.shell_timeout.as_secs()),
            })
        });
        let web_search = self.policy.web_search.as_ref().map(|e| {
            at(match e {
                SearchEngine::Searxng { url } => WebSearchRaw {
                    provider: "searxng".into(),
                    url: Some(url.clone()),
                    key_env: None,
                },
                SearchEngine::Brave { key_env, url } => WebSearchRaw {
                    provider: "brave".into(),
                    url: url.clone(),
                    key_env: Some(key_env.clone()),
                },
            })
        });
        let raw = AgentFileRaw {
            name: at(self.name.clone()),
            role: self.role.clone(),
            goals: self.goals.clone(),
            tools: at(self.tools.iter().cloned().map(at).collect()),
            model: ModelRaw {
                name: self.model.clone(),
                context: Some(at(self.context)),
                max_step_tokens: Some(at(self.max_step_tokens)),
                observation_chars: Some(at(self.observation_chars)),
            },
            sampling: Some(self.sampling.clone()),
            budgets: BudgetsRaw {
                max_steps: Some(at(self.budgets.max_steps)),
                max_tokens: Some(self.budgets.max_tokens),
                max_wall_secs: Some(at(self.budgets.max_wall_secs)),
                reflect_every: Some(self.budgets.reflect_every),
                max_failures: Some(at(self.budgets.max_failures)),
            },
            network: NetworkRaw {
                allow_private: self.policy.allow_private_network,
                allow_hosts: self.policy.allow_hosts.clone(),
            },
            shell,
            web_search,
            mcp: self.mcp.iter().map(mcp::McpRaw::of).collect(),
            delegate: self
                .delegate
                .as_ref()
                .map(|d| at(delegate::DelegateRaw::of(d))),
            memory_db: self.memory_db.clone(),
        };
        toml::to_string(&raw).map_err(|e| Error::Spec {
            file: self.source.clone().unwrap_or_else(|| self.name.clone()),
            message: format!("cannot be written as an agent file: {e}"),
        })
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AgentFileRaw {
    name: Spanned<String>,
    role: String,
    #[serde(default)]
    goals: Vec<String>,
    tools: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    model: ModelRaw,
    sampling: Option<Sampling>,
    #[serde(default)]
    budgets: BudgetsRaw,
    #[serde(default)]
    network: NetworkRaw,
    shell: Option<Spanned<ShellRaw>>,
    web_search: Option<Spanned<WebSearchRaw>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mcp: Vec<Spanned<mcp::McpRaw>>,
    delegate: Option<Spanned<delegate::DelegateRaw>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_db: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct ModelRaw {
    name: Option<String>,
    context: Option<Spanned<u32>>,
    max_step_tokens: Option<Spanned<u32>>,
    observation_chars: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct BudgetsRaw {
    max_steps: Option<Spanned<u32>>,
    max_tokens: Option<u64>,
    max_wall_secs: Option<Spanned<u64>>,
    reflect_every: Option<u32>,
    max_failures: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct NetworkRaw {
    allow_private: bool,
    allow_hosts: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WebSearchRaw {
    provider: String,
    url: Option<String>,
    key_env: Option<String>,
}

impl WebSearchRaw {
    fn engine(&self) -> std::result::Result<SearchEngine, String> {
        let url_ok = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        match (self.provider.as_str(), &self.url, &self.key_env) {
            ("searxng", Some(url), None) if url_ok(url) => Ok(SearchEngine::Searxng { url: url.clone() }),
            ("searxng", _, _) => Err("provider \"searxng\" takes `url`, the instance's http:// or https:// address (e.g. \"http://127.0.0.1:8888\"), and no `key-env`".into()),
            ("brave", url, Some(key_env)) if url.as_deref().is_none_or(url_ok) => Ok(SearchEngine::Brave { key_env: key_env.clone(), url: url.clone() }),
            ("brave", _, _) => Err("provider \"brave\" takes `key-env`, the environment variable holding the API key (and optionally `url`, an http(s) endpoint)".into()),
            (other, _, _) => Err(format!("unknown provider {:?}: use \"searxng\" or \"brave\"", clip(other))),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ShellRaw {
    allow: Vec<String>,
    timeout_secs: Option<u64>,
}

/// The known name closest to `name` (for "did you mean").
/// At most 40 characters of `s`, for echoing a bad value in an error.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

fn value<T: Copy>(v: &Option<Spanned<T>>, default: T) -> T {
    v.as_ref().map_or(default, |s| *s.get_ref())
}

fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

impl AgentFileRaw {
    /// Where in the file `field` (as [`Invalid`] names it) was written, when it was.
    fn span_of(&self, field: &str, spec: &AgentSpec) -> Option<Range<usize>> {
        if let Some(i) = field
            .strip_prefix("tools[")
            .and_then(|f| f.strip_suffix(']'))
        {
            let name = spec.tools.get(i.parse::<usize>().ok()?)?;
            let entry = self.tools.get_ref().iter();
            return entry
                .into_iter()
                .find(|t| t.get_ref().trim() == name)
                .map(Spanned::span);
        }
        match field {
            "name" => Some(self.name.span()),
            "tools" => Some(self.tools.span()),
            "model.context" => span(&self.model.context),
            // The setting that is too large for the context, or the context, when it is not.
            "model.max-step-tokens" => span(&self.model.max_step_tokens).or(Some(0..0)),
            "model.observation-chars" => span(&self.model.observation_chars),
            "budgets.max-steps" => span(&self.budgets.max_steps),
            "budgets.max-wall-secs" => span(&self.budgets.max_wall_secs),
            "budgets.max-failures" => span(&self.budgets.max_failures),
            "shell.timeout-secs" => self.shell.as_ref().map(Spanned::span),
            f if f.starts_with("delegate") => self.delegate.as_ref().map(Spanned::span),
            _ => {
                // `mcp[i]` and `mcp[i].field`: the table.
                let i = field.strip_prefix("mcp[")?.split(']').next()?;
                self.mcp.get(i.parse::<usize>().ok()?).map(Spanned::span)
            }
        }
    }

    fn validate(self, text: &str, file: &str, known_tools: &[&str]) -> Result<AgentSpec> {
        let defaults = AgentSpec::default_agent();
        let mut tools: Vec<String> = Vec::new();
        for t in self.tools.get_ref() {
            let t = t.get_ref().trim().to_string();
            if !tools.contains(&t) {
                tools.push(t);
            }
        }
        if !tools.iter().any(|t| t == Finish::NAME) {
            tools.push(Finish::NAME.into());
        }
        let shell = self.shell.as_ref().map(Spanned::get_ref);
        let at = |span: Option<Range<usize>>| match span {
            Some(s) => format!("{file}:{}", line_of(text, s.start)),
            None => file.to_string(),
        };
        let mut servers = Vec::new();
        for (i, table) in self.mcp.iter().enumerate() {
            let config = table
                .get_ref()
                .config(i)
                .map_err(|invalid| invalid.at(at(Some(table.span()))))?;
            servers.push(config);
        }
        let web_search = match &self.web_search {
            Some(w) => Some(w.get_ref().engine().map_err(|message| {
                Invalid {
                    field: "web-search".into(),
                    message,
                }
                .at(at(Some(w.span())))
            })?),
            None => None,
        };
        let b = &self.budgets;
        let spec = AgentSpec {
            name: self.name.get_ref().trim().to_string(),
            role: self.role.trim().to_string(),
            goals: self.goals.clone(),
            tools,
            model: self.model.name.clone(),
            context: value(&self.model.context, defaults.context),
            max_step_tokens: value(&self.model.max_step_tokens, defaults.max_step_tokens),
            sampling: self.sampling.clone().unwrap_or(defaults.sampling),
            budgets: Budgets {
                max_steps: value(&b.max_steps, defaults.budgets.max_steps),
                max_tokens: b.max_tokens.unwrap_or(defaults.budgets.max_tokens),
                max_wall_secs: value(&b.max_wall_secs, defaults.budgets.max_wall_secs),
                reflect_every: b.reflect_every.unwrap_or(defaults.budgets.reflect_every),
                max_failures: value(&b.max_failures, defaults.budgets.max_failures),
            },
            observation_chars: value(&self.model.observation_chars, defaults.observation_chars),
            policy: Policy {
                allow_private_network: self.network.allow_private,
                allow_hosts: self.network.allow_hosts.clone(),
                shell_allow: shell.map(|s| s.allow.clone()).unwrap_or_default(),
                shell_timeout: shell
                    .and_then(|s| s.timeout_secs)
                    .map_or(defaults.policy.shell_timeout, Duration::from_secs),
                web_search,
                ..defaults.policy.clone()
            },
            mcp: servers,
            delegate: self.delegate.as_ref().map(|d| d.get_ref().delegation(file)),
            memory_db: self
                .memory_db
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            source: Some(file.to_string()),
        };
        if let Err(invalid) = spec.check(known_tools) {
            let place = at(self.span_of(&invalid.field, &spec));
            return Err(invalid.at(place));
        }
        // A rule of the file's shape rather than of the spec: a [shell] table without the shell.
        if let Some(s) = &self.shell {
            if !spec.tools.iter().any(|t| t == Shell::NAME) {
                let invalid = Invalid {
                    field: "shell".into(),
                    message: "a [shell] table is given but \"shell\" is not in `tools`: add it to `tools` or remove the table".into(),
                };
                return Err(invalid.at(at(Some(s.span()))));
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests;
