use std::path::PathBuf;

/// What can go wrong in the TUI: the terminal, or the log it reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up, drawing to or restoring the terminal.
    #[error("terminal: {0}")]
    Terminal(#[source] std::io::Error),
    /// Reading a log file.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a log that is not the event it should be.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
