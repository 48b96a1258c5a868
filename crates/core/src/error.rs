use std::error::Error as StdError;
use std::path::PathBuf;

/// Errors shared by every backend behind [`crate::Llm`] and [`crate::Embedder`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is wrong (empty prompt, bad schema, bad sampling value); nothing was run.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A model or adapter file is missing, not GGUF, corrupt, or not for this model.
    #[error("{0}")]
    ModelFile(String),
    /// The prompt does not fit the context window.
    #[error("prompt is {prompt_tokens} tokens but the context holds {context} per sequence: shorten the prompt or raise the context size (--ctx)")]
    ContextOverflow {
        prompt_tokens: usize,
        context: usize,
    },
    /// The model produced output that does not satisfy the requested JSON Schema.
    #[error("model output does not match the JSON schema: {reason} (output: {text:?})")]
    InvalidOutput { reason: String, text: String },
    /// The backend failed (model load, decode, HTTP). The message says why; the underlying error
    /// is kept in `detail`, not chained as a source, so the message is not printed twice.
    #[error("{context}: {detail}")]
    Backend {
        context: String,
        detail: Box<dyn StdError + Send + Sync>,
    },
    /// The backend cannot do this at all (e.g. embeddings from an HTTP server without them, or a
    /// feature the binary was built without).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// Wraps a backend error with what we were doing.
    pub fn backend(
        context: impl Into<String>,
        detail: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            context: context.into(),
            detail: detail.into(),
        }
    }
}

/// A file-system operation that failed, and on what path. The cause is its `source`, so a
/// caller printing the chain (`{:#}`) shows it once.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}", path.display())]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cause, once: what `hamlet`'s `{:#}` prints.
    fn chain(e: &dyn StdError) -> String {
        let mut out = e.to_string();
        let mut cur = e.source();
        while let Some(s) = cur {
            out.push_str(": ");
            out.push_str(&s.to_string());
            cur = s.source();
        }
        out
    }

    #[test]
    fn no_cause_is_printed_twice() {
        let gone = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let io = IoError::new("open", "/x", gone());
        let backend = Error::backend("loading", gone());
        for line in [chain(&io), chain(&backend)] {
            let cause = gone().to_string();
            assert_eq!(line.matches(&cause).count(), 1, "{line}");
        }
        assert_eq!(chain(&io), format!("open /x: {}", gone()));
    }
}
