//! Hamlet's web viewer: `hamlet watch RUN_DIR --web`, `hamlet sim --web` and `hamlet run --web`.
//!
//! The server follows a run's log (`events.jsonl` of a town, `trace.jsonl` of an agent run)
//! with [`hamlet_core::journal::Tail`], so a recorded run and one still being written are served
//! the same way, and folds it with the same functions the TUI uses
//! ([`hamlet_core::town::TownSnapshot::apply`], [`hamlet_core::town::Extra::fold`],
//! [`hamlet_core::trace::RunView::push`]). A town log keeps a snapshot every
//! [`town::CHECKPOINT_EVERY`] records, so the page can show any moment without replaying the log.
//!
//! The page is one HTML file and a few scripts compiled into the binary ([`assets`]); it reads
//! everything from the JSON API under `/api/` (see the README), which other tools can use too.
//! An agent run started with `--web` also puts its approval prompts up on the page
//! ([`Approvals`]).
//!
//! The crate depends on `hamlet-core` only; the binary wires it to the runner and the town.

pub mod agent;
mod api;
mod assets;
mod error;
mod serve;
pub mod town;

pub use agent::{Answer, AnswerError, Approvals, PendingApproval};
pub use error::{Error, Result};
pub use serve::{Kind, Options, Server};

/// The port the viewer listens on by default.
pub const DEFAULT_PORT: u16 = 8787;
