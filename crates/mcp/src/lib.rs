//! Hamlet and the Model Context Protocol, over the official Rust SDK (`rmcp`).
//!
//! - `config`: how an agent reaches an MCP server ([`ServerConfig`]: a command on stdio, or a
//!   streamable-HTTP URL with an optional bearer token), from an agent file's `[[mcp]]` tables;
//! - `client`: the servers of a run ([`Session`]) and their tools as registry tools
//!   ([`McpTool`], named `server.tool`): the agent's allow-list, approval, the observation cut
//!   and quoting apply to them as to the built-ins, and a server that exits or hangs becomes a
//!   failed observation;
//! - `schema`: a tool's input schema fitted into the action schema (local `$ref`s in place);
//! - `server`: the memory store served as MCP tools ([`MemoryServer`], `hamlet mcp serve`).

mod client;
mod config;
pub mod schema;
mod server;

pub use client::{McpTool, Session, Stderr};
pub use config::{valid_name, Launch, ServerConfig, WORKSPACE};
pub use server::{GoalRunner, MemoryServer, Stats, MAX_RECALL};

/// What can go wrong starting or serving MCP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server could not be started, reached or initialized.
    #[error("MCP server {server}: {message}")]
    Start { server: String, message: String },
    /// Serving failed (a busy address, a broken transport).
    #[error("MCP serve: {0}")]
    Serve(String),
    #[error("cannot start the MCP runtime: {0}")]
    Runtime(String),
}

pub type Result<T> = std::result::Result<T, Error>;
