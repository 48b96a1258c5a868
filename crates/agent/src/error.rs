/// Errors of the agent crate. Problems inside a run (bad model output, failing tools) are not
/// errors: they become observations. These are what stops a run from starting or continuing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An agent file is wrong; `file` carries `path:line` when the line is known.
    #[error("{file}: {message}")]
    Spec { file: String, message: String },
    /// A task file is wrong.
    #[error("{file}: {message}")]
    Task { file: String, message: String },
    /// A prompt template does not parse or render.
    #[error(transparent)]
    Template(#[from] hamlet_prompts::TemplateError),
    /// The trace of a run cannot be read or continued.
    #[error("{path}: {message}")]
    Trace { path: String, message: String },
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The trace file cannot be written or read (a broken line, a failing disk).
    #[error(transparent)]
    Journal(#[from] hamlet_core::journal::JournalError),
    /// An MCP server the agent file names could not be started or reached.
    #[error(transparent)]
    Mcp(#[from] hamlet_mcp::Error),
    /// The model backend failed in a way the run cannot recover from.
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
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
