//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the memory store. Messages say what failed, where, and how to
/// fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path given to the store cannot be used (it is a file, it cannot be created, ...).
    #[error("memory store at {path}: {reason}")]
    Path { path: PathBuf, reason: String },
    /// SQLite failed.
    #[error("memory database {path}: {context}: {source}")]
    Db {
        path: PathBuf,
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// PostgreSQL failed; `hint` says what to check.
    #[error("memory database {url}: {context}: {source}{hint}")]
    Pg {
        url: String,
        context: String,
        hint: String,
        #[source]
        source: sqlx::Error,
    },
    /// Applying the database migrations failed (often: the file was made by a newer Hamlet).
    #[error("memory database {path}: migrations failed: {source} (was it created by a newer Hamlet? use a new --db path)")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Applying the PostgreSQL migrations failed.
    #[error("memory database {url}: migrations failed: {source} (was the schema created by a newer Hamlet? use another ?schema=)")]
    PgMigrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// The tantivy full-text index failed.
    #[error("BM25 index {path}: {context}: {source} (run `hamlet memory rebuild` to rebuild it from SQLite)")]
    Text {
        path: PathBuf,
        context: String,
        #[source]
        source: tantivy::TantivyError,
    },
    /// A vector index failed (the embedded file or a Qdrant server).
    #[error("vector index {index}: {reason}")]
    Vector { index: String, reason: String },
    /// A file of the embedded vector index could not be read or written.
    #[error("vector index file {path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The store was built with another embedding size than the embedder gives.
    #[error("memory store at {store} holds {stored}-dimensional embeddings (model {model:?}) but the embedder gives {given}: open it with the same embedding model, or use a new --db path")]
    DimensionMismatch {
        /// The directory or the database URL (without its password).
        store: String,
        stored: usize,
        given: usize,
        model: String,
    },
    /// The embedder or the LLM failed.
    #[error("{context}: {source}")]
    Model {
        context: String,
        #[source]
        source: hamlet_core::Error,
    },
    /// The memory stream a working buffer writes to failed.
    #[error("{context}: {cause}")]
    Stream {
        context: String,
        cause: hamlet_core::MemoryError,
    },
    /// A prompt template is missing or does not render.
    #[error("prompt template {name}: {reason}")]
    Template { name: String, reason: String },
    /// The caller asked for something impossible (empty text, importance out of range, ...).
    #[error("invalid memory request: {0}")]
    Invalid(String),
    /// A database URL cannot be used (the message says what to write).
    #[error("{0}")]
    Url(String),
    /// A stored row cannot be decoded (a damaged or foreign database).
    #[error("memory database {path}: row {id}: {reason}")]
    Corrupt {
        path: PathBuf,
        id: i64,
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn model(context: impl Into<String>, source: hamlet_core::Error) -> Self {
        Error::Model {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn vector(index: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Vector {
            index: index.into(),
            reason: reason.to_string(),
        }
    }
}

/// The store speaks [`hamlet_core::MemoryError`] through the [`hamlet_core::MemoryStream`]
/// trait: invalid requests stay invalid requests, model failures stay model failures (with their
/// own error), and the rest (SQLite, tantivy, the vector index, files) are boxed store errors.
impl From<Error> for hamlet_core::MemoryError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => hamlet_core::MemoryError::Invalid(m),
            Error::Model { context, source } => hamlet_core::MemoryError::Model {
                context,
                cause: source,
            },
            Error::Stream { cause, .. } => cause,
            other => hamlet_core::MemoryError::store(other),
        }
    }
}
