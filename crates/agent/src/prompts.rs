//! The loop's prompt templates (`prompts/agent/*.j2`), rendered with minijinja.
//!
//! The templates in the repository are compiled in as defaults; a user's own directory (laid out
//! like `prompts/`, i.e. `DIR/agent/system.j2`) overrides any of them at run time. Loading, overriding and strict rendering are
//! `hamlet_prompts::Prompts`; this module holds the table.

use hamlet_prompts::PromptTable;

use crate::Error;

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

/// The agent's template table: overrides in `DIR/agent/`, errors as [`Error::Template`].
#[derive(Debug)]
pub struct AgentTemplates;

impl PromptTable for AgentTemplates {
    const SUBDIR: &'static str = "agent";
    const TEMPLATES: &'static [(&'static str, &'static str)] = &TEMPLATES;
    type Error = Error;
}

/// Loaded templates.
pub type Prompts = hamlet_prompts::Prompts<AgentTemplates>;
