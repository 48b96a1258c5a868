//! The loop's prompt templates (`prompts/agent/*.j2`), rendered with minijinja.
//!
//! The templates in the repository are compiled in as defaults; a user's own directory (laid out
//! like `prompts/`, i.e. `DIR/agent/system.j2`) overrides any of them at run time. Loading, overriding and strict rendering are
//! `hamlet_prompts::Templates`; this module holds the table and maps its errors.

use std::path::Path;

use hamlet_prompts::{TemplateError, Templates};
use serde::Serialize;

use crate::{Error, Result};

/// The templates the loop uses, by name.
pub const TEMPLATES: [(&str, &str); 4] = [
    ("system", include_str!("../../../prompts/agent/system.j2")),
    ("step", include_str!("../../../prompts/agent/step.j2")),
    ("reflect", include_str!("../../../prompts/agent/reflect.j2")),
    (
        "summarise",
        include_str!("../../../prompts/agent/summarise.j2"),
    ),
];

/// Loaded templates.
#[derive(Debug)]
pub struct Prompts {
    templates: Templates,
    /// Where each template came from ("built-in" or a path).
    pub sources: Vec<(String, String)>,
}

impl Prompts {
    /// The built-in templates.
    pub fn builtin() -> Self {
        // The built-in templates are tested to parse; an empty set would only make every render
        // report which template is missing.
        Self::load(None).unwrap_or_else(|_| Self::wrap(Templates::default()))
    }

    /// The built-in templates, each replaced by `DIR/agent/NAME.j2` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        Templates::load(&TEMPLATES, "agent", dir)
            .map(Self::wrap)
            .map_err(template_error)
    }

    /// Renders a template with a context.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String> {
        self.templates.render(name, ctx).map_err(template_error)
    }

    fn wrap(templates: Templates) -> Self {
        let sources = templates.sources().to_vec();
        Prompts { templates, sources }
    }
}

fn template_error(e: TemplateError) -> Error {
    Error::Template {
        template: e.template,
        message: e.message,
    }
}
