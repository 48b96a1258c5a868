//! The memory prompts (`prompts/memory/*.j2`), rendered with minijinja.
//!
//! The templates shipped in the repository are compiled in as defaults; a directory given at run
//! time (`MemoryConfig::prompts_dir`) overrides any of them by file name, so a user can tune a
//! prompt for their model without rebuilding.

use std::path::PathBuf;

use hamlet_core::{GenerateRequest, Llm, Message, Sampling};
use serde::Serialize;

use crate::{Error, Result};

const DEFAULTS: [(&str, &str); 4] = [
    (
        "importance.j2",
        include_str!("../../../prompts/memory/importance.j2"),
    ),
    (
        "reflect_questions.j2",
        include_str!("../../../prompts/memory/reflect_questions.j2"),
    ),
    (
        "reflect_insights.j2",
        include_str!("../../../prompts/memory/reflect_insights.j2"),
    ),
    (
        "summarise.j2",
        include_str!("../../../prompts/memory/summarise.j2"),
    ),
];

/// Finds and renders the memory templates.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    dir: Option<PathBuf>,
}

impl Prompts {
    /// Templates from `dir` where present, the built-in ones otherwise.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Prompts { dir }
    }

    /// The template's source: the override file if there is one, else the built-in default.
    pub fn source(&self, name: &str) -> Result<String> {
        if let Some(dir) = &self.dir {
            let p = dir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Template {
                        name: p.display().to_string(),
                        reason: format!("cannot read it: {e}"),
                    })
                }
            }
        }
        DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.to_string())
            .ok_or_else(|| Error::Template {
                name: name.to_string(),
                reason: format!(
                    "no such template; the memory templates are {}",
                    DEFAULTS.map(|d| d.0).join(", ")
                ),
            })
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String> {
        let src = self.source(name)?;
        let env = minijinja::Environment::new();
        env.render_str(&src, ctx)
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::Template {
                name: self
                    .dir
                    .as_ref()
                    .map(|d| d.join(name).display().to_string())
                    .unwrap_or_else(|| format!("prompts/memory/{name}")),
                reason: e.to_string(),
            })
    }
}

/// Sends one schema-constrained, greedy request rendered from a template and returns the JSON.
pub(crate) fn ask_json(
    llm: &dyn Llm,
    prompts: &Prompts,
    template: &str,
    ctx: impl Serialize,
    schema: serde_json::Value,
    max_tokens: u32,
) -> Result<serde_json::Value> {
    let text = prompts.render(template, ctx)?;
    let req = GenerateRequest::chat(vec![Message::user(text)])
        .with_schema(schema)
        .with_max_tokens(max_tokens)
        .with_sampling(Sampling::greedy());
    let c = llm
        .generate(&req)
        .map_err(|e| Error::model(format!("asking the model ({template})"), e))?;
    match c.json {
        Some(v) => Ok(v),
        None => serde_json::from_str(c.text.trim()).map_err(|e| {
            Error::model(
                format!("reading the model's reply to {template}"),
                hamlet_core::Error::InvalidOutput {
                    reason: e.to_string(),
                    text: c.text.clone(),
                },
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_and_overrides_win() {
        let p = Prompts::default();
        let s = p
            .render(
                "importance.j2",
                minijinja::context! { agent => "Ada", memory => "ate breakfast" },
            )
            .unwrap();
        assert!(s.contains("ate breakfast") && s.contains("Ada"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("importance.j2"), "custom {{ memory }}").unwrap();
        let p = Prompts::new(Some(dir.path().to_path_buf()));
        let s = p
            .render("importance.j2", minijinja::context! { memory => "x" })
            .unwrap();
        assert_eq!(s, "custom x");
        // Templates not overridden still come from the defaults.
        assert!(p.source("summarise.j2").unwrap().contains("summary"));
        let e = p.render("nope.j2", ()).unwrap_err().to_string();
        assert!(e.contains("importance.j2"), "{e}");
    }
}
