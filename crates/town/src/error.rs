/// Errors of the town crate: what stops a run from starting or continuing. A model reply that
/// fails is not an error (the agent falls back to its routine and the failure is counted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A world, persona or scenario file is wrong; `file` is `path:line` when the line is known.
    #[error("{file}: {message}")]
    Spec { file: String, message: String },
    /// A prompt template does not parse or render.
    #[error(transparent)]
    Template(#[from] hamlet_prompts::TemplateError),
    /// A run directory cannot be written, read or resumed.
    #[error("{path}: {message}")]
    Run { path: String, message: String },
    /// Reading or writing a file failed; the cause is the error's `source` (printed after
    /// `context` by a chain printer such as the binary's, so never twice).
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The event log cannot be written or read (a broken line, a failing disk).
    #[error(transparent)]
    Journal(#[from] hamlet_core::journal::JournalError),
    /// The memory stream failed to write or recall (the cause is the `source`).
    #[error("{context}")]
    Memory {
        context: String,
        source: hamlet_core::MemoryError,
    },
    /// The model backend failed for the whole batch.
    #[error(transparent)]
    Llm(#[from] hamlet_core::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
    pub(crate) fn run(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Run {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_cause_is_the_source_and_not_also_in_the_message() {
        let e = Error::io(
            "reading personas/ann.toml",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(e.to_string(), "reading personas/ann.toml");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("no such file")
        );
    }
}
