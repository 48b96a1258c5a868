/// What can go wrong in the TUI: the terminal (the logs it shows are read by the caller).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up, drawing to or restoring the terminal.
    #[error("terminal: {0}")]
    Terminal(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
