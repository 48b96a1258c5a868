//! Hamlet's terminal UI: watch an agent run or a town simulation, live or from its log.
//!
//! The crate depends on `hamlet-core` only: it draws what the event streams say
//! ([`hamlet_core::trace::TraceEvent`] for an agent run, [`hamlet_core::town::EventRecord`] for a
//! town) and never calls a model. Each view is three parts:
//!
//! - **state**, a plain struct folded from events ([`agent::AgentApp`], [`town::TownApp`]);
//! - **input**, methods on that state ([`Screen::handle`]) that unit tests call directly;
//! - **render**, a pure function of the state into a ratatui [`ratatui::Frame`], tested by drawing
//!   into a `TestBackend`.
//!
//! [`term::run`] owns the real terminal: raw mode, the alternate screen, mouse capture, a panic hook
//! that restores the terminal, and the loop that feeds the screen its messages (from a channel, so
//! live runs and replays read the same stream) and its keys. The binary (`hamlet watch`,
//! `hamlet run --tui`) wires channels and files to it, following the logs with
//! [`hamlet_core::journal::Tail`].

pub mod agent;
mod agent_view;
mod error;
pub mod help;
pub mod term;
pub mod town;
mod town_view;
mod ui;

pub use error::{Error, Result};
pub use term::{Control, Screen};
