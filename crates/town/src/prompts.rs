//! The town's prompt templates (`prompts/town/*.j2`), rendered with minijinja.
//!
//! The templates in the repository are compiled in as defaults; a user's own directory (laid out
//! like `prompts/`, i.e. `DIR/town/system.j2`) overrides any of them at run time. Loading, overriding and strict rendering are
//! `hamlet_prompts::Prompts`; this module holds the table.

use hamlet_prompts::PromptTable;

use crate::Error;

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

/// The town's template table: overrides in `DIR/town/`, errors as [`Error::Template`].
#[derive(Debug)]
pub struct TownTemplates;

impl PromptTable for TownTemplates {
    const SUBDIR: &'static str = "town";
    const TEMPLATES: &'static [(&'static str, &'static str)] = &TEMPLATES;
    type Error = Error;
}

/// Loaded templates.
pub type Prompts = hamlet_prompts::Prompts<TownTemplates>;

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_templates_parse() {
        let p = super::Prompts::load(None).expect("built-in templates parse");
        assert_eq!(p.sources.len(), super::TEMPLATES.len());
    }
}
