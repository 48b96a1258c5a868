//! Agent files (`agents/*.toml`) and the validated [`AgentSpec`] the loop runs.
//!
//! The file is read into `*Raw` structs (`deny_unknown_fields`, kebab-case), then validated:
//! every error names the file, the line, the field and what to write instead. [`AgentSpec`] has
//! no `Deserialize`: the only ways in are [`AgentSpec::parse`] (the file, and the copy a run keeps
//! in its folder, written by [`AgentSpec::to_toml`]) and code, and [`AgentSpec::check`] holds
//! the rules all of them keep (the command line's overrides are checked with it again).

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use hamlet_core::{line_of, Sampling};
use hamlet_tools::{
    AppendFile, Calculator, Finish, ListDir, Policy, ReadFile, SearchFiles, Shell, Tool, WriteFile,
};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{Error, Result};

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
        for (i, t) in self.tools.iter().enumerate() {
            if !known_tools.contains(&t.as_str()) {
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
            _ => None,
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
                ..defaults.policy.clone()
            },
            source: Some(file.to_string()),
        };
        let at = |span: Option<Range<usize>>| match span {
            Some(s) => format!("{file}:{}", line_of(text, s.start)),
            None => file.to_string(),
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
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["read_file", "write_file", "shell", "finish", "calculator"];

    fn parse(text: &str) -> Result<AgentSpec> {
        AgentSpec::parse(text, "agents/t.toml", KNOWN)
    }

    /// The error for an agent file that begins `name = "t"`, `role = "r"` and goes on with `rest`.
    fn error(rest: &str) -> String {
        let text = format!("name = \"t\"\nrole = \"r\"\n{rest}");
        parse(&text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_gets_defaults_and_finish() {
        let s = parse("name = \"t\"\nrole = \"r\"\ntools = [\"read_file\"]\n").unwrap();
        assert_eq!(s.tools, ["read_file", "finish"]);
        assert_eq!(s.budgets, Budgets::default());
        assert!(s.policy.shell_allow.is_empty());
    }

    #[test]
    fn unknown_tool_names_line_field_and_fix() {
        let e = error("tools = [\n  \"read_file\",\n  \"read_fil\",\n]\n");
        assert!(e.contains("agents/t.toml:5"), "{e}");
        assert!(
            e.contains("tools[1]") && e.contains("did you mean \"read_file\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_types_are_reported_with_lines() {
        let e = error("tools = []\n[budgets]\nmax-step = 3\n");
        assert!(e.contains("max-step") && e.contains("line 5"), "{e}");
        let e = error("tools = []\n[budgets]\nmax-steps = \"ten\"\n");
        assert!(e.contains("line 5"), "{e}");
        let e = error("tools = []\n[budgets]\nmax-steps = 0\n");
        assert!(
            e.contains("agents/t.toml:5") && e.contains("at least 1"),
            "{e}"
        );
    }

    #[test]
    fn shell_needs_an_allow_list() {
        let e = error("tools = [\"shell\"]\n");
        assert!(e.contains("[shell]") && e.contains("allow"), "{e}");
        let s = parse(
            "name = \"t\"\nrole = \"r\"\ntools = [\"shell\"]\n[shell]\nallow = [\"python3\"]\n",
        )
        .unwrap();
        assert_eq!(s.policy.shell_allow, ["python3"]);
        let e = error("tools = []\n[shell]\nallow = [\"ls\"]\n");
        assert!(e.contains("not in `tools`"), "{e}");
    }

    #[test]
    fn bad_names_and_sampling_are_refused() {
        let e = parse("name = \"a b/c\"\nrole = \"r\"\ntools = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agents/t.toml:1") && e.contains("field `name`"),
            "{e}"
        );
        let e = error("tools = []\n[sampling]\ntemperature = -1.0\n");
        assert!(e.contains("[sampling]"), "{e}");
    }

    #[test]
    fn a_spec_written_as_an_agent_file_reads_back_the_same() {
        let names = hamlet_tools::Registry::builtin().names();
        let coder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../agents/coder.toml");
        let shipped = AgentSpec::load(Path::new(coder), &names).unwrap();
        let mut tuned = AgentSpec::default_agent();
        tuned.model = Some("qwen".into());
        tuned.policy.allow_hosts = vec!["example.org".into()];
        tuned.sampling.temperature = 0.7;
        for spec in [AgentSpec::default_agent(), shipped, tuned] {
            let text = spec.to_toml().unwrap();
            let back = AgentSpec::parse(&text, "run/agent.toml", &names).unwrap();
            let source = Some("run/agent.toml".to_string());
            assert_eq!(back, AgentSpec { source, ..spec }, "{text}");
        }
    }

    #[test]
    fn check_holds_every_spec_to_the_file_rules() {
        let ok = AgentSpec::default_agent();
        assert_eq!(ok.check(KNOWN), Err(Invalid {
            field: "tools[0]".into(),
            message: "unknown tool \"list_dir\": the tools are read_file, write_file, shell, finish, calculator".into(),
        }));
        let names = hamlet_tools::Registry::builtin().names();
        assert_eq!(ok.check(&names), Ok(()));
        let mut s = ok.clone();
        s.budgets.max_steps = 0;
        let e = s.check(&names).unwrap_err();
        assert_eq!(e.field, "budgets.max-steps");
        let e = e.at("--max-steps").to_string();
        assert!(
            e.starts_with("--max-steps: field `budgets.max-steps`") && e.contains("at least 1"),
            "{e}"
        );
        let mut s = ok.clone();
        s.tools.retain(|t| t != "finish");
        assert_eq!(s.check(&names).unwrap_err().field, "tools");
        let mut s = ok.clone();
        s.tools.push("shell".into());
        assert!(s.check(&names).unwrap_err().message.contains("[shell]"));
        let mut s = ok;
        s.context = 1024;
        assert_eq!(s.check(&names).unwrap_err().field, "model.max-step-tokens");
    }

    #[test]
    fn absurd_numbers_and_names_are_refused_with_their_line() {
        let cases: [(&str, &[&str]); 3] = [
            // 2^31 passed the half-context check through `* 2` overflowing u32.
            (
                "tools = []\n[model]\nmax-step-tokens = 2147483648\n",
                &["t.toml:5", "max-step-tokens", "too large"],
            ),
            // llama.cpp failed with "null reference" instead.
            (
                "tools = []\n[model]\ncontext = 4294967295\n",
                &["model.context", "at most 1048576"],
            ),
            (
                "tools = [\"shell\"]\n[shell]\nallow = [\"echo\"]\ntimeout-secs = 0\n",
                &["t.toml:", "timeout-secs", "1 to 86400"],
            ),
        ];
        for (rest, wants) in cases {
            let e = error(rest);
            assert!(wants.iter().all(|w| e.contains(w)), "{e}");
        }
        // A huge unknown name is neither searched for a near miss nor echoed whole.
        let long = "x".repeat(1_000_000);
        let started = std::time::Instant::now();
        let e = error(&format!("tools = [\"{long}\"]\n"));
        assert!(
            started.elapsed().as_secs() < 2,
            "took {:?}",
            started.elapsed()
        );
        assert!(
            e.len() < 400 && e.contains("unknown tool") && e.contains('…'),
            "{}",
            &e[..400.min(e.len())]
        );
        let e = error_named(&"n".repeat(65));
        assert!(e.contains("at most 64") && e.len() < 400, "{e}");
    }

    fn error_named(name: &str) -> String {
        parse(&format!("name = \"{name}\"\nrole = \"r\"\ntools = []\n"))
            .unwrap_err()
            .to_string()
    }
}
