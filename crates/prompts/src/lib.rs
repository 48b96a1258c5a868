//! Hamlet's prompt templates: one loader for every crate that talks to a model.
//!
//! Why this crate exists: the agent loop (`prompts/agent/*.j2`), the memory stream
//! (`prompts/memory/*.j2`) and the town (`prompts/town/*.j2`) all ship minijinja templates compiled
//! into the binary and let a user replace any of them from a directory without rebuilding. They
//! used to carry three copies of that loader; this crate is the one copy, so the override rules,
//! the strictness and the error messages are the same everywhere.
//!
//! How it fits: each crate keeps its own table of built-in templates (`include_str!` of the files
//! in `prompts/`) and its own error, and either names them in a [`PromptTable`] (its `Prompts`
//! is then [`Prompts`] of that table, as for the agent loop and the town) or hands the table to
//! [`Templates::load`] together with its subdirectory name (`"agent"`, `"town"`; `""` for a
//! directory that holds the files directly, as the memory store's does). A template `NAME` is
//! replaced by `DIR/SUBDIR/NAME.j2` when that file exists. Rendering is strict: a variable the
//! context does not define is an error, not an empty string, so a typo in a user's template is
//! reported rather than silently sent to the model. Output is trimmed. Every error is a
//! [`TemplateError`] naming where the template came from (its path, or `built-in`), which the
//! callers map into their own error types. The crate depends on minijinja, serde and thiserror
//! only, and on no other Hamlet crate.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// The source recorded for a template that was not overridden.
pub const BUILTIN: &str = "built-in";

/// A template that cannot be read, parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prompt template {template}: {message}")]
pub struct TemplateError {
    /// Where the template came from: the override file's path or [`BUILTIN`]; a render error
    /// adds the template's file name, as in `built-in (step.j2)`.
    pub template: String,
    /// What went wrong (minijinja's message, or the I/O error).
    pub message: String,
}

/// A set of loaded templates, each either built in or read from an override directory.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    env: Environment<'static>,
    sources: Vec<(String, String)>,
}

impl Templates {
    /// Loads the `builtin` templates (`(name, text)` pairs), each replaced by
    /// `override_dir/subdir/NAME.j2` when that file exists (`override_dir/NAME.j2` when `subdir`
    /// is empty).
    ///
    /// A missing override file (or directory) means the built-in text; an override that exists
    /// but cannot be read, or any template that does not parse, is an error naming its source.
    pub fn load(
        builtin: &[(&str, &str)],
        subdir: &str,
        override_dir: Option<&Path>,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(false);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let base = override_dir.map(|d| {
            if subdir.is_empty() {
                d.to_path_buf()
            } else {
                d.join(subdir)
            }
        });
        let mut sources = Vec::with_capacity(builtin.len());
        for &(name, text) in builtin {
            let path = base.as_ref().map(|b| b.join(format!("{name}.j2")));
            let (text, source) = match path.map(read_override).transpose()?.flatten() {
                Some((text, path)) => (text, path),
                None => (text.to_string(), BUILTIN.to_string()),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| TemplateError {
                    template: source.clone(),
                    message: e.to_string(),
                })?;
            sources.push((name.to_string(), source));
        }
        Ok(Templates { env, sources })
    }

    /// Renders template `name` with `ctx`; the text comes back trimmed.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, TemplateError> {
        let source = self.source(name).unwrap_or(name).to_string();
        let tmpl = self.env.get_template(name).map_err(|e| TemplateError {
            template: source.clone(),
            message: e.to_string(),
        })?;
        tmpl.render(ctx)
            .map(|s| s.trim().to_string())
            .map_err(|e| TemplateError {
                template: format!("{source} ({name}.j2)"),
                message: format!("{e:#}"),
            })
    }

    /// Where each template came from, in load order: `(name, path or "built-in")`.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// Where template `name` came from, if it is loaded.
    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    }

    /// The text of template `name` as loaded (the override's when there is one).
    pub fn text(&self, name: &str) -> Option<String> {
        self.env
            .get_template(name)
            .ok()
            .map(|t| t.source().to_string())
    }
}

/// A crate's table of built-in templates: the override subdirectory that replaces them and the
/// crate's own error type, into which every [`TemplateError`] is converted.
pub trait PromptTable {
    /// `"agent"`, `"town"`: templates are replaced by `DIR/SUBDIR/NAME.j2`.
    const SUBDIR: &'static str;
    /// `(name, text)` of every built-in template.
    const TEMPLATES: &'static [(&'static str, &'static str)];
    type Error: From<TemplateError>;
}

/// The loaded templates of one crate's table, with errors in that crate's type: the agent loop's
/// and the town's `Prompts` are this type for their own table.
pub struct Prompts<T: PromptTable> {
    templates: Templates,
    /// Where each template came from: `(name, path or "built-in")`.
    pub sources: Vec<(String, String)>,
    table: std::marker::PhantomData<fn() -> T>,
}

impl<T: PromptTable> std::fmt::Debug for Prompts<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompts")
            .field("subdir", &T::SUBDIR)
            .field("sources", &self.sources)
            .finish()
    }
}

impl<T: PromptTable> Prompts<T> {
    /// The built-in templates.
    pub fn builtin() -> Self {
        // The built-in templates are tested to parse; an empty set would only make every render
        // report which template is missing.
        Self::load(None).unwrap_or_else(|_| Self::wrap(Templates::default()))
    }

    /// The built-in templates, each replaced by `DIR/SUBDIR/NAME.j2` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, T::Error> {
        Ok(Self::wrap(Templates::load(T::TEMPLATES, T::SUBDIR, dir)?))
    }

    /// Renders a template with a context; the text comes back trimmed.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, T::Error> {
        Ok(self.templates.render(name, ctx)?)
    }

    fn wrap(templates: Templates) -> Self {
        Prompts {
            sources: templates.sources().to_vec(),
            templates,
            table: std::marker::PhantomData,
        }
    }
}

/// Reads an override file: `None` when it does not exist, an error when it exists but cannot be
/// read.
fn read_override(path: PathBuf) -> Result<Option<(String, String)>, TemplateError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((text, path.display().to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TemplateError {
            template: path.display().to_string(),
            message: format!("cannot read: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    const BUILTIN_TABLE: [(&str, &str); 2] = [
        ("greet", "\n  Hello, {{ name }}!  \n\n"),
        ("bye", "Goodbye, {{ name }}."),
    ];

    #[test]
    fn builtins_render_trimmed() {
        let t = Templates::load(&BUILTIN_TABLE, "x", None).unwrap();
        assert_eq!(
            t.render("greet", context! { name => "Ada" }).unwrap(),
            "Hello, Ada!"
        );
        assert_eq!(
            t.sources(),
            [
                ("greet".to_string(), BUILTIN.to_string()),
                ("bye".to_string(), BUILTIN.to_string())
            ]
        );
        assert_eq!(t.text("bye").unwrap(), "Goodbye, {{ name }}.");
    }

    /// A folder with `x/NAME` holding `text`, and that file's path.
    fn override_of(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        let path = dir.path().join("x").join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn an_override_file_replaces_its_builtin_only() {
        let (dir, path) = override_of("greet.j2", "Hi {{ name }}\n");
        let t = Templates::load(&BUILTIN_TABLE, "x", Some(dir.path())).unwrap();
        assert_eq!(
            t.render("greet", context! { name => "Ada" }).unwrap(),
            "Hi Ada"
        );
        assert_eq!(
            t.render("bye", context! { name => "Ada" }).unwrap(),
            "Goodbye, Ada."
        );
        assert_eq!(t.source("greet"), Some(path.display().to_string().as_str()));
        assert_eq!(t.source("bye"), Some(BUILTIN));
        // A file in another subdirectory is not this set's.
        let t = Templates::load(&BUILTIN_TABLE, "y", Some(dir.path())).unwrap();
        assert_eq!(t.source("greet"), Some(BUILTIN));
        // An empty subdirectory reads the directory itself.
        std::fs::write(dir.path().join("bye.j2"), "Bye").unwrap();
        let t = Templates::load(&BUILTIN_TABLE, "", Some(dir.path())).unwrap();
        assert_eq!(t.render("bye", ()).unwrap(), "Bye");
    }

    #[test]
    fn an_undefined_variable_is_an_error_naming_the_template() {
        let t = Templates::load(&BUILTIN_TABLE, "x", None).unwrap();
        let e = t.render("greet", context! { nom => "Ada" }).unwrap_err();
        assert_eq!(e.template, "built-in (greet.j2)");
        assert!(e.message.contains("undefined"), "{e}");
        assert!(e
            .to_string()
            .starts_with("prompt template built-in (greet.j2): "));
        let e = t.render("nope", ()).unwrap_err();
        assert_eq!(e.template, "nope");
    }

    #[test]
    fn a_bad_override_file_is_an_error_naming_its_path() {
        let (dir, path) = override_of("bye.j2", "{% if %}");
        let e = Templates::load(&BUILTIN_TABLE, "x", Some(dir.path())).unwrap_err();
        assert_eq!(e.template, path.display().to_string());
        assert!(e.to_string().contains("bye.j2"), "{e}");
        // An override that exists but is not a readable file is an error too, not the built-in.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let e = Templates::load(&BUILTIN_TABLE, "x", Some(dir.path())).unwrap_err();
        assert_eq!(e.template, path.display().to_string());
        assert!(e.message.starts_with("cannot read: "), "{e}");
    }

    #[test]
    fn no_templates_is_an_empty_set() {
        let t = Templates::default();
        assert!(t.sources().is_empty());
        assert!(t.render("greet", ()).is_err());
    }
}
