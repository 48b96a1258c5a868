//! The memory prompts (`prompts/memory/*.j2`), rendered with minijinja.
//!
//! The templates shipped in the repository are compiled in as defaults; a directory given at run
//! time (`MemoryConfig::prompts_dir`) overrides any of them by file name, so a user can tune a
//! prompt for their model without rebuilding. Loading, overriding and strict rendering are
//! `hamlet_prompts::Templates`; this module holds the table and maps its errors.

use std::path::PathBuf;

use hamlet_core::{GenerateRequest, Llm, Message, Sampling};
use hamlet_prompts::{TemplateError, Templates};
use serde::Serialize;

use crate::{Error, Result};

/// The built-in templates, by name (a file `NAME.j2`).
const DEFAULTS: [(&str, &str); 2] = [
    (
        "importance",
        include_str!("../../../prompts/memory/importance.j2"),
    ),
    (
        "summarise",
        include_str!("../../../prompts/memory/summarise.j2"),
    ),
];

/// Finds and renders the memory templates.
///
/// Templates are read when they are rendered, one at a time, so a broken override only fails the
/// calls that use it and an edited one takes effect on the next call.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    dir: Option<PathBuf>,
}

impl Prompts {
    /// Templates from `dir` where present, the built-in ones otherwise.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Prompts { dir }
    }

    /// The template's text: the override file's (`DIR/NAME`) if there is one, else the built-in
    /// default. `name` is a file name such as `importance.j2`.
    pub fn source(&self, name: &str) -> Result<String> {
        let (stem, templates) = self.load(name)?;
        Ok(templates.text(stem).unwrap_or_default())
    }

    /// Renders `name` (e.g. `importance.j2`) with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String> {
        let (stem, templates) = self.load(name)?;
        templates.render(stem, ctx).map_err(template_error)
    }

    /// Loads the one template `name`, from the override directory or the defaults.
    fn load<'a>(&self, name: &'a str) -> Result<(&'a str, Templates)> {
        let stem = name.strip_suffix(".j2").unwrap_or(name);
        let builtin = DEFAULTS
            .iter()
            .find(|(n, _)| *n == stem)
            .ok_or_else(|| Error::Template {
                name: name.to_string(),
                reason: format!(
                    "no such template; the memory templates are {}",
                    DEFAULTS.map(|d| format!("{}.j2", d.0)).join(", ")
                ),
            })?;
        let templates =
            Templates::load(&[*builtin], "", self.dir.as_deref()).map_err(template_error)?;
        Ok((stem, templates))
    }
}

fn template_error(e: TemplateError) -> Error {
    Error::Template {
        name: e.template,
        reason: e.message,
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
    let req = json_request(prompts, template, ctx, schema, max_tokens)?;
    read_json(template, llm.generate(&req))
}

/// A schema-constrained, greedy request rendered from a template (one of a batch, or alone).
pub(crate) fn json_request(
    prompts: &Prompts,
    template: &str,
    ctx: impl Serialize,
    schema: serde_json::Value,
    max_tokens: u32,
) -> Result<GenerateRequest> {
    let text = prompts.render(template, ctx)?;
    Ok(GenerateRequest::chat(vec![Message::user(text)])
        .with_schema(schema)
        .with_max_tokens(max_tokens)
        .with_sampling(Sampling::greedy()))
}

/// The JSON of the model's reply to a request rendered from `template`.
pub(crate) fn read_json(
    template: &str,
    reply: hamlet_core::Result<hamlet_core::Completion>,
) -> Result<serde_json::Value> {
    let c = reply.map_err(|e| Error::model(format!("asking the model ({template})"), e))?;
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
        // A broken override fails the calls that use it, naming its path; the others still work.
        std::fs::write(dir.path().join("summarise.j2"), "{% if %}").unwrap();
        let e = p.render("summarise.j2", ()).unwrap_err().to_string();
        assert!(
            e.contains(&*dir.path().join("summarise.j2").to_string_lossy()),
            "{e}"
        );
        assert_eq!(
            p.render("importance.j2", minijinja::context! { memory => "y" })
                .unwrap(),
            "custom y"
        );
        // A variable the context lacks is an error, not an empty string.
        let e = p.render("importance.j2", ()).unwrap_err().to_string();
        assert!(
            e.contains("importance.j2") && e.contains("undefined"),
            "{e}"
        );
    }
}
