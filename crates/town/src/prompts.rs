//! The town's prompt templates (`prompts/town/*.j2`), rendered with minijinja.
//!
//! The templates in the repository are compiled in as defaults; a user's own directory (laid out
//! like `prompts/`, i.e. `DIR/town/system.j2`) overrides any of them at run time.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use crate::{Error, Result};

/// The templates the loop uses, by name.
pub const TEMPLATES: [(&str, &str); 7] = [
    ("system", include_str!("../../../prompts/town/system.j2")),
    (
        "plan_day",
        include_str!("../../../prompts/town/plan_day.j2"),
    ),
    (
        "decompose",
        include_str!("../../../prompts/town/decompose.j2"),
    ),
    ("react", include_str!("../../../prompts/town/react.j2")),
    ("notice", include_str!("../../../prompts/town/notice.j2")),
    (
        "converse",
        include_str!("../../../prompts/town/converse.j2"),
    ),
    ("reflect", include_str!("../../../prompts/town/reflect.j2")),
];

/// Loaded templates.
#[derive(Debug)]
pub struct Prompts {
    env: Environment<'static>,
    /// Where each template came from ("built-in" or a path).
    pub sources: Vec<(String, String)>,
}

impl Prompts {
    /// The built-in templates.
    pub fn builtin() -> Self {
        Self::load(None).unwrap_or_else(|_| unreachable_builtin())
    }

    /// The built-in templates, each replaced by `DIR/town/NAME.j2` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(false);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut sources = Vec::new();
        for (name, builtin) in TEMPLATES {
            let path = dir.map(|d| d.join("town").join(format!("{name}.j2")));
            let (text, source) = match path {
                Some(p) if p.exists() => {
                    let text = std::fs::read_to_string(&p).map_err(|e| Error::Template {
                        template: p.display().to_string(),
                        message: format!("cannot read: {e}"),
                    })?;
                    (text, p.display().to_string())
                }
                _ => (builtin.to_string(), "built-in".to_string()),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| Error::Template {
                    template: source.clone(),
                    message: e.to_string(),
                })?;
            sources.push((name.to_string(), source));
        }
        Ok(Prompts { env, sources })
    }

    /// Renders a template with a context.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String> {
        let source = self
            .sources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| name.to_string());
        let tmpl = self.env.get_template(name).map_err(|e| Error::Template {
            template: source.clone(),
            message: e.to_string(),
        })?;
        tmpl.render(ctx)
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::Template {
                template: format!("{source} ({name}.j2)"),
                message: format!("{e:#}"),
            })
    }
}

#[cold]
fn unreachable_builtin() -> Prompts {
    // The built-in templates are tested to parse; an empty environment would only make every
    // render report which template is missing.
    Prompts {
        env: Environment::new(),
        sources: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_templates_parse() {
        let p = super::Prompts::load(None).expect("built-in templates parse");
        assert_eq!(p.sources.len(), super::TEMPLATES.len());
    }
}
