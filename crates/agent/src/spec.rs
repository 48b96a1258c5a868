//! Agent files (`agents/*.toml`) and the validated [`AgentSpec`] the loop runs.
//!
//! The file is read into `*Raw` structs (`deny_unknown_fields`, kebab-case), then validated:
//! every error names the file, the line, the field and what to write instead.

use std::path::Path;
use std::time::Duration;

use hamlet_core::{line_of, Sampling};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{Error, Result};

/// A validated agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub allow_private_network: bool,
    pub allow_hosts: Vec<String>,
    pub shell_allow: Vec<String>,
    pub shell_timeout_secs: u64,
    /// Where the agent came from (for messages).
    pub source: Option<String>,
}

/// Limits of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl AgentSpec {
    /// The built-in general agent used when no agent file is given.
    pub fn default_agent() -> Self {
        AgentSpec {
            name: "assistant".into(),
            role: "a careful assistant that completes tasks with files in its workspace".into(),
            goals: Vec::new(),
            tools: [
                "list_dir",
                "read_file",
                "write_file",
                "append_file",
                "search_files",
                "calculator",
                "finish",
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
            allow_private_network: false,
            allow_hosts: Vec::new(),
            shell_allow: Vec::new(),
            shell_timeout_secs: 20,
            source: None,
        }
    }

    pub fn shell_timeout(&self) -> Duration {
        Duration::from_secs(self.shell_timeout_secs)
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AgentFileRaw {
    name: Spanned<String>,
    role: String,
    #[serde(default)]
    goals: Vec<String>,
    tools: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    model: ModelRaw,
    #[serde(default)]
    sampling: Option<Sampling>,
    #[serde(default)]
    budgets: BudgetsRaw,
    #[serde(default)]
    network: NetworkRaw,
    #[serde(default)]
    shell: Option<Spanned<ShellRaw>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ModelRaw {
    name: Option<String>,
    context: Option<Spanned<u32>>,
    max_step_tokens: Option<Spanned<u32>>,
    observation_chars: Option<Spanned<usize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BudgetsRaw {
    max_steps: Option<Spanned<u32>>,
    max_tokens: Option<u64>,
    max_wall_secs: Option<Spanned<u64>>,
    reflect_every: Option<u32>,
    max_failures: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct NetworkRaw {
    #[serde(default)]
    allow_private: bool,
    #[serde(default)]
    allow_hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ShellRaw {
    allow: Vec<String>,
    timeout_secs: Option<u64>,
}

/// The known name closest to `name` (for "did you mean").
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

impl AgentFileRaw {
    fn validate(self, text: &str, file: &str, known_tools: &[&str]) -> Result<AgentSpec> {
        let err = |span: std::ops::Range<usize>, field: &str, msg: String| Error::Spec {
            file: format!("{file}:{}", line_of(text, span.start)),
            message: format!("field `{field}`: {msg}"),
        };
        let name = self.name.get_ref().trim().to_string();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(err(
                self.name.span(),
                "name",
                format!("{name:?} is not a usable name: use letters, digits, '-' or '_' (it names run folders)"),
            ));
        }
        let defaults = AgentSpec::default_agent();
        let mut tools = Vec::new();
        let tools_span = self.tools.span();
        for (i, tool) in self.tools.into_inner().into_iter().enumerate() {
            let t = tool.get_ref().trim().to_string();
            if !known_tools.contains(&t.as_str()) {
                let hint = closest(&t, known_tools)
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                return Err(err(
                    tool.span(),
                    &format!("tools[{i}]"),
                    format!(
                        "unknown tool {t:?}: {hint}the tools are {}",
                        known_tools.join(", ")
                    ),
                ));
            }
            if !tools.contains(&t) {
                tools.push(t);
            }
        }
        if !tools.iter().any(|t| t == "finish") {
            tools.push("finish".into());
        }
        let (shell_allow, shell_timeout_secs) = match &self.shell {
            Some(s) => (
                s.get_ref().allow.clone(),
                s.get_ref().timeout_secs.unwrap_or(20),
            ),
            None => (Vec::new(), 20),
        };
        if tools.iter().any(|t| t == "shell") && shell_allow.is_empty() {
            return Err(err(
                tools_span,
                "tools",
                "lists \"shell\" but no program is allowed: add a [shell] table with allow = [\"python3\"] (the programs it may run), or remove \"shell\"".into(),
            ));
        }
        if let Some(s) = &self.shell {
            if !tools.iter().any(|t| t == "shell") {
                return Err(err(
                    s.span(),
                    "shell",
                    "a [shell] table is given but \"shell\" is not in `tools`: add it to `tools` or remove the table".into(),
                ));
            }
        }
        let positive = |v: &Option<Spanned<u32>>, field: &str, default: u32, min: u32| match v {
            Some(s) if *s.get_ref() < min => Err(err(
                s.span(),
                field,
                format!("{} is too small: use at least {min}", s.get_ref()),
            )),
            Some(s) => Ok(*s.get_ref()),
            None => Ok(default),
        };
        let context = positive(&self.model.context, "model.context", defaults.context, 512)?;
        let max_step_tokens = positive(
            &self.model.max_step_tokens,
            "model.max-step-tokens",
            defaults.max_step_tokens,
            32,
        )?;
        if max_step_tokens * 2 > context {
            let span = self
                .model
                .max_step_tokens
                .as_ref()
                .map(|s| s.span())
                .unwrap_or(0..0);
            return Err(err(
                span,
                "model.max-step-tokens",
                format!("{max_step_tokens} leaves too little of the {context}-token context for the prompt: keep it under half of model.context"),
            ));
        }
        let observation_chars = match &self.model.observation_chars {
            Some(s) if *s.get_ref() < 100 => {
                return Err(err(
                    s.span(),
                    "model.observation-chars",
                    "use at least 100".into(),
                ))
            }
            Some(s) => *s.get_ref(),
            None => defaults.observation_chars,
        };
        let b = defaults.budgets;
        let budgets = Budgets {
            max_steps: positive(&self.budgets.max_steps, "budgets.max-steps", b.max_steps, 1)?,
            max_tokens: self.budgets.max_tokens.unwrap_or(b.max_tokens),
            max_wall_secs: match &self.budgets.max_wall_secs {
                Some(s) if *s.get_ref() == 0 => {
                    return Err(err(
                        s.span(),
                        "budgets.max-wall-secs",
                        "use at least 1".into(),
                    ))
                }
                Some(s) => *s.get_ref(),
                None => b.max_wall_secs,
            },
            reflect_every: self.budgets.reflect_every.unwrap_or(b.reflect_every),
            max_failures: positive(
                &self.budgets.max_failures,
                "budgets.max-failures",
                b.max_failures,
                1,
            )?,
        };
        let sampling = self
            .sampling
            .unwrap_or_else(|| AgentSpec::default_agent().sampling);
        sampling.validate().map_err(|e| Error::Spec {
            file: file.to_string(),
            message: format!("[sampling]: {e}"),
        })?;
        Ok(AgentSpec {
            name,
            role: self.role.trim().to_string(),
            goals: self.goals,
            tools,
            model: self.model.name,
            context,
            max_step_tokens,
            sampling,
            budgets,
            observation_chars,
            allow_private_network: self.network.allow_private,
            allow_hosts: self.network.allow_hosts,
            shell_allow,
            shell_timeout_secs,
            source: Some(file.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["read_file", "write_file", "shell", "finish", "calculator"];

    fn parse(text: &str) -> Result<AgentSpec> {
        AgentSpec::parse(text, "agents/t.toml", KNOWN)
    }

    #[test]
    fn minimal_file_gets_defaults_and_finish() {
        let s = parse("name = \"t\"\nrole = \"r\"\ntools = [\"read_file\"]\n").unwrap();
        assert_eq!(s.tools, ["read_file", "finish"]);
        assert_eq!(s.budgets, Budgets::default());
        assert!(s.shell_allow.is_empty());
    }

    #[test]
    fn unknown_tool_names_line_field_and_fix() {
        let e =
            parse("name = \"t\"\nrole = \"r\"\ntools = [\n  \"read_file\",\n  \"read_fil\",\n]\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("agents/t.toml:5"), "{e}");
        assert!(
            e.contains("tools[1]") && e.contains("did you mean \"read_file\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_types_are_reported_with_lines() {
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = []\n[budgets]\nmax-step = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max-step") && e.contains("line 5"), "{e}");
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = []\n[budgets]\nmax-steps = \"ten\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 5"), "{e}");
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = []\n[budgets]\nmax-steps = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agents/t.toml:5") && e.contains("at least 1"),
            "{e}"
        );
    }

    #[test]
    fn shell_needs_an_allow_list() {
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = [\"shell\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[shell]") && e.contains("allow"), "{e}");
        let s = parse(
            "name = \"t\"\nrole = \"r\"\ntools = [\"shell\"]\n[shell]\nallow = [\"python3\"]\n",
        )
        .unwrap();
        assert_eq!(s.shell_allow, ["python3"]);
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = []\n[shell]\nallow = [\"ls\"]\n")
            .unwrap_err()
            .to_string();
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
        let e = parse("name = \"t\"\nrole = \"r\"\ntools = []\n[sampling]\ntemperature = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[sampling]"), "{e}");
    }
}
