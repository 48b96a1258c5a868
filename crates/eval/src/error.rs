//! The crate's error type.

use std::path::PathBuf;

/// Errors from loading BFCL data or converting its schemas.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A prompt template could not be rendered.
    #[error("prompt template: {0}")]
    Template(String),
    /// A data file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a data file is malformed.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A category name is unknown.
    #[error("unknown BFCL category {name:?}; valid names: {valid}")]
    UnknownCategory {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A BFCL parameter schema cannot be converted.
    #[error("function {function:?}, parameter {path}: {message}")]
    Schema {
        /// The function's name (empty when converting a bare schema).
        function: String,
        /// The parameter's path, like `arguments.options.items`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
