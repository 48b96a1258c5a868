//! Task folders, read and validated into [`Task`]: our `task.toml` and agbenchmark's `data.json`.

use std::path::{Path, PathBuf};

use hamlet_tools::{Recall, Remember, Shell, Tool};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The placeholder in a goal that becomes the base URL of the task's local site.
pub const SITE_PLACEHOLDER: &str = "{site}";

/// Default limit on a Python check's run time.
pub const DEFAULT_PYTHON_TIMEOUT_SECS: u64 = 20;

/// What must hold after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    /// Files to check (names, or extensions such as ".txt"); empty: check the finish answer.
    pub files: Vec<String>,
    /// Every one of these must appear (case-insensitive).
    pub contains: Vec<String>,
    /// None of these may appear (case-insensitive).
    pub not_contains: Vec<String>,
    /// The first number in the text must equal this (within 1e-6 relative).
    pub number: Option<f64>,
    /// A Python script in the task folder, run with `python3` in the workspace after the run;
    /// exit status 0 passes. The answer is in `$HAMLET_ANSWER` (unset when there is none).
    pub python: Option<String>,
    /// Limit on the Python script's run time (default 20 s).
    pub python_timeout_secs: Option<u64>,
    /// agbenchmark's `eval.type = "python"`: each of `files` is run with Python and its output
    /// ("Output: ..." or "Error: ...") is what `contains` / `not-contains` look at.
    #[serde(skip)]
    pub execute_files: bool,
}

impl Check {
    /// Whether any of `contains`, `not-contains`, `number` (or running the files) is asked for.
    pub fn has_text_check(&self) -> bool {
        !self.contains.is_empty()
            || !self.not_contains.is_empty()
            || self.number.is_some()
            || self.execute_files
    }
}

/// The first of a memory task's two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstRun {
    pub goal: String,
    /// Folder copied into the first run's workspace (`first-files/`).
    pub files: Option<PathBuf>,
}

/// One task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    /// The task folder.
    pub dir: PathBuf,
    /// May hold `{site}`, replaced by the local site's base URL.
    pub goal: String,
    pub category: String,
    pub max_steps: u32,
    /// Folder whose files are copied into the workspace first.
    pub files: Option<PathBuf>,
    pub check: Check,
    /// Tools the task's agent gets (default: the base agent's file tools and calculator).
    pub tools: Option<Vec<String>>,
    /// Programs the `shell` tool may run; empty: no shell.
    pub shell_allow: Vec<String>,
    pub shell_timeout_secs: Option<u64>,
    /// Folder served over HTTP on 127.0.0.1 for this task (`site/`).
    pub site: Option<PathBuf>,
    /// A first run whose long-term memory the main run shares.
    pub first: Option<FirstRun>,
    /// Files copied into the workspace after the run, before checking (agbenchmark's
    /// `custom_python/`).
    pub check_files: Option<PathBuf>,
    /// Reference solution: the files the workspace should end with (`solution/`, or
    /// agbenchmark's `artifacts_out/`).
    pub solution: Option<PathBuf>,
    /// Reference solution: the finish answer.
    pub solution_answer: Option<String>,
    /// Why the task cannot run offline, if it cannot.
    pub skip: Option<String>,
}

impl Task {
    /// Whether the task's agent needs a long-term memory store.
    pub fn needs_memory(&self) -> bool {
        self.first.is_some()
            || self
                .tools
                .iter()
                .flatten()
                .any(|t| t == Remember::NAME || t == Recall::NAME)
    }

    /// The goal with `{site}` replaced by `base_url`.
    pub fn goal_for(&self, goal: &str, base_url: Option<&str>) -> String {
        match base_url {
            Some(url) => goal.replace(SITE_PLACEHOLDER, url.trim_end_matches('/')),
            None => goal.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TaskRaw {
    goal: String,
    category: Option<String>,
    max_steps: Option<u32>,
    tools: Option<Vec<String>>,
    file: Option<String>,
    shell_allow: Option<Vec<String>>,
    shell_timeout_secs: Option<u64>,
    first_goal: Option<String>,
    solution_answer: Option<String>,
    check: Check,
}

#[derive(Debug, Deserialize)]
struct AgbRaw {
    task: String,
    #[serde(default)]
    category: Vec<String>,
    ground: AgbGround,
}

#[derive(Debug, Deserialize)]
struct AgbGround {
    #[serde(default)]
    files: Vec<String>,
    should_contain: Option<Vec<String>>,
    should_not_contain: Option<Vec<String>>,
    eval: AgbEval,
}

#[derive(Debug, Deserialize)]
struct AgbEval {
    #[serde(rename = "type")]
    kind: String,
}

pub(crate) fn task_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Task {
        file: path.display().to_string(),
        message: message.into(),
    }
}

fn dir_if_present(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    p.is_dir().then_some(p)
}

/// agbenchmark's categories, mapped onto this suite's.
fn agb_category(categories: &[String]) -> String {
    categories
        .iter()
        .find_map(|c| match c.as_str() {
            "coding" => Some("coder"),
            "data" => Some("data"),
            "scrape_synthesize" => Some("extraction"),
            "general" => Some("files"),
            "safety" => Some("safety"),
            _ => None,
        })
        .map(String::from)
        .or_else(|| categories.first().cloned())
        .unwrap_or_else(|| "general".into())
}

impl Task {
    /// Reads a task folder (`task.toml` or agbenchmark's `data.json`).
    pub fn load(dir: &Path) -> Result<Task> {
        let toml_path = dir.join("task.toml");
        let json_path = dir.join("data.json");
        if toml_path.exists() {
            return Self::load_toml(dir, &toml_path);
        }
        if json_path.exists() {
            return Self::load_agb(dir, &json_path);
        }
        Err(task_err(
            dir,
            "is not a task: it needs a task.toml (or an agbenchmark data.json)",
        ))
    }

    fn load_toml(dir: &Path, path: &Path) -> Result<Task> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| task_err(path, format!("cannot read: {e}")))?;
        let raw: TaskRaw = toml::from_str(&text)
            .map_err(|e| task_err(path, e.to_string().trim_end().to_string()))?;
        let err = |field: &str, msg: String| task_err(path, format!("field `{field}`: {msg}"));
        let mut check = raw.check;
        if let Some(f) = raw.file {
            check.files.push(f);
        }
        if check.contains.is_empty() && check.number.is_none() && check.python.is_none() {
            return Err(err(
                "check",
                "give `contains`, `number` or `python`, or the task always passes".into(),
            ));
        }
        if let Some(script) = &check.python {
            let p = Path::new(script);
            let inside = p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside || !dir.join(p).is_file() {
                return Err(err(
                    "check.python",
                    format!(
                        "{script:?} is not a file in the task folder {}; name a script such as \"check.py\" beside task.toml",
                        dir.display()
                    ),
                ));
            }
        }
        if check.python_timeout_secs == Some(0) {
            return Err(err(
                "check.python-timeout-secs",
                "must be at least 1".into(),
            ));
        }
        if raw.max_steps == Some(0) {
            return Err(err("max-steps", "must be at least 1".into()));
        }
        let shell_allow = raw.shell_allow.unwrap_or_default();
        if shell_allow.iter().any(|p| p.trim().is_empty()) {
            return Err(err(
                "shell-allow",
                "lists an empty program name; name programs such as \"python3\"".into(),
            ));
        }
        match raw.shell_timeout_secs {
            Some(_) if shell_allow.is_empty() => {
                return Err(err(
                    "shell-timeout-secs",
                    "only applies with `shell-allow`; allow a program or remove this".into(),
                ))
            }
            Some(0) => return Err(err("shell-timeout-secs", "must be at least 1".into())),
            _ => {}
        }
        if let Some(tools) = &raw.tools {
            let known = hamlet_tools::Registry::builtin_names();
            for t in tools {
                if !known.contains(&t.as_str()) {
                    return Err(err(
                        "tools",
                        format!("{t:?} is not a tool; the tools are {}", known.join(", ")),
                    ));
                }
                if t == Shell::NAME && shell_allow.is_empty() {
                    return Err(err(
                        "tools",
                        "lists \"shell\" but `shell-allow` names no program; add shell-allow = [\"python3\"] or drop the shell".into(),
                    ));
                }
            }
        }
        let site = dir_if_present(dir, "site");
        let first_files = dir_if_present(dir, "first-files");
        let mentions_site = |g: &str| g.contains(SITE_PLACEHOLDER);
        let any_mention =
            mentions_site(&raw.goal) || raw.first_goal.as_deref().is_some_and(mentions_site);
        match (&site, any_mention) {
            (Some(_), false) => {
                return Err(err(
                    "goal",
                    format!("the task has a site/ folder but no goal says {SITE_PLACEHOLDER} (its base URL)"),
                ))
            }
            (None, true) => {
                return Err(err(
                    "goal",
                    format!("says {SITE_PLACEHOLDER} but the task has no site/ folder to serve"),
                ))
            }
            _ => {}
        }
        let first =
            match (raw.first_goal, first_files) {
                (Some(g), _) if g.trim().is_empty() => {
                    return Err(err("first-goal", "is empty".into()));
                }
                (Some(goal), files) => Some(FirstRun { goal, files }),
                (None, Some(_)) => return Err(err(
                    "first-goal",
                    "the task has a first-files/ folder but no first-goal for the run that uses it"
                        .into(),
                )),
                (None, None) => None,
            };
        Ok(Task {
            name: folder_name(dir),
            dir: dir.to_path_buf(),
            goal: raw.goal,
            category: raw.category.unwrap_or_else(|| "general".into()),
            max_steps: raw.max_steps.unwrap_or(10),
            files: dir_if_present(dir, "files"),
            check,
            tools: raw.tools,
            shell_allow,
            shell_timeout_secs: raw.shell_timeout_secs,
            site,
            first,
            check_files: None,
            solution: dir_if_present(dir, "solution"),
            solution_answer: raw.solution_answer,
            skip: None,
        })
    }

    fn load_agb(dir: &Path, path: &Path) -> Result<Task> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| task_err(path, format!("cannot read: {e}")))?;
        let raw: AgbRaw = serde_json::from_str(&text)
            .map_err(|e| task_err(path, format!("not an agbenchmark challenge: {e}")))?;
        let kind = raw.ground.eval.kind.as_str();
        let skip = (!matches!(kind, "file" | "python")).then(|| {
            format!("its check is eval type {kind:?}, which needs pytest or an LLM judge; \"file\" and \"python\" checks run offline")
        });
        let check_files = dir_if_present(dir, "custom_python");
        if kind == "python" && check_files.is_none() && skip.is_none() {
            let missing: Vec<&String> = raw
                .ground
                .files
                .iter()
                .filter(|f| !f.starts_with('.'))
                .collect();
            if !missing.is_empty() {
                return Err(task_err(
                    path,
                    format!("field `ground.files`: eval type \"python\" runs {missing:?}, but the challenge has no custom_python/ folder holding them"),
                ));
            }
        }
        Ok(Task {
            name: folder_name(dir),
            dir: dir.to_path_buf(),
            goal: raw.task,
            category: agb_category(&raw.category),
            max_steps: 10,
            files: dir_if_present(dir, "artifacts_in"),
            check: Check {
                files: raw.ground.files,
                contains: raw.ground.should_contain.unwrap_or_default(),
                not_contains: raw.ground.should_not_contain.unwrap_or_default(),
                execute_files: kind == "python",
                ..Check::default()
            },
            tools: None,
            shell_allow: Vec::new(),
            shell_timeout_secs: None,
            site: None,
            first: None,
            check_files,
            solution: dir_if_present(dir, "artifacts_out"),
            solution_answer: None,
            skip,
        })
    }
}

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every task folder under `root`, sorted by name.
pub fn load_suite(root: &Path) -> Result<Vec<Task>> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| task_err(root, format!("cannot read the task folder: {e}")))?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Task::load(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, toml: &str) -> String {
        std::fs::write(dir.join("task.toml"), toml).unwrap();
        match Task::load(dir) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let e = write(p, "goal = \"g\"\n[check]\npython = \"nope.py\"\n");
        assert!(e.contains("check.python") && e.contains("nope.py"), "{e}");
        let e = write(
            p,
            "goal = \"g\"\nshell-timeout-secs = 5\n[check]\ncontains = [\"a\"]\n",
        );
        assert!(e.contains("shell-timeout-secs"), "{e}");
        let e = write(
            p,
            "goal = \"g\"\ntools = [\"shel\"]\n[check]\ncontains = [\"a\"]\n",
        );
        assert!(e.contains("`tools`") && e.contains("shel"), "{e}");
        let e = write(
            p,
            "goal = \"g\"\ntools = [\"shell\"]\n[check]\ncontains = [\"a\"]\n",
        );
        assert!(e.contains("shell-allow"), "{e}");
        let e = write(p, "goal = \"open {site}\"\n[check]\ncontains = [\"a\"]\n");
        assert!(e.contains("site/"), "{e}");
        let e = write(
            p,
            "goal = \"g\"\nfirst-goal = \" \"\n[check]\ncontains = [\"a\"]\n",
        );
        assert!(e.contains("first-goal"), "{e}");
        let e = write(
            p,
            "goal = \"g\"\nshell_allow = []\n[check]\ncontains = [\"a\"]\n",
        );
        assert!(e.contains("shell_allow") && e.contains("task.toml"), "{e}");
        std::fs::create_dir(p.join("site")).unwrap();
        let e = write(p, "goal = \"g\"\n[check]\ncontains = [\"a\"]\n");
        assert!(e.contains("`goal`") && e.contains("{site}"), "{e}");
        assert_eq!(
            write(
                p,
                "goal = \"see {site}/a.html\"\n[check]\ncontains = [\"a\"]\n"
            ),
            ""
        );
        std::fs::create_dir(p.join("first-files")).unwrap();
        let e = write(p, "goal = \"see {site}\"\n[check]\ncontains = [\"a\"]\n");
        assert!(e.contains("first-goal"), "{e}");
    }

    #[test]
    fn the_site_placeholder_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("site")).unwrap();
        std::fs::write(
            d.path().join("task.toml"),
            "goal = \"Open {site}/index.html\"\n[check]\ncontains = [\"a\"]\n",
        )
        .unwrap();
        let t = Task::load(d.path()).unwrap();
        assert_eq!(
            t.goal_for(&t.goal, Some("http://127.0.0.1:9/")),
            "Open http://127.0.0.1:9/index.html"
        );
    }

    #[test]
    fn agbenchmark_categories_map_onto_ours() {
        assert_eq!(agb_category(&["coding".into(), "general".into()]), "coder");
        assert_eq!(agb_category(&["general".into(), "data".into()]), "files");
        assert_eq!(agb_category(&["odd".into()]), "odd");
        assert_eq!(agb_category(&[]), "general");
    }
}
