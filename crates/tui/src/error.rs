/// What can go wrong in the TUI: the terminal (the logs it shows are read by the caller).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up, drawing to or restoring the terminal.
    #[error("the terminal could not be set up, drawn to or restored")]
    Terminal(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
