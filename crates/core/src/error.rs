use std::error::Error as StdError;

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
    /// is kept in `source` (not chained, so the message is not printed twice).
    #[error("{context}: {source}")]
    Backend {
        context: String,
        source: Box<dyn StdError + Send + Sync>,
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
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
