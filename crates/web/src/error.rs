use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong starting the viewer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The port is taken (another viewer, or any other server).
    #[error("cannot serve on {addr}: the port {port} is already in use; pick another with --port (or --port 0 for any free port)", port = addr.port())]
    PortInUse { addr: SocketAddr },
    #[error("cannot serve on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--host {host:?} is not an address to serve on: give an IP address or host name, such as 127.0.0.1 or localhost (loopback) or 0.0.0.0 (every interface)")]
    BadHost { host: String },
    /// The log could not be read (a broken line names its `file:line`).
    #[error("reading {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: hamlet_core::journal::JournalError,
    },
    #[error("starting the web server's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
