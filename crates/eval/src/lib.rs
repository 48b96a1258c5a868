//! Scoring function calls on the Berkeley Function Calling Leaderboard (BFCL).
//!
//! The crate covers the single-turn, Python-language BFCL categories (see
//! [`Category`]) and follows the rules of BFCL's own AST checker:
//!
//! * [`data`] loads the BFCL JSON-lines files (questions, function docs and
//!   possible answers) into [`Case`]s and [`Answer`]s.
//! * [`schema`] turns BFCL's parameter schemas into standard JSON Schema, and
//!   builds [`calls_schema`], the schema of a whole reply for constrained
//!   decoding (`{"calls": [{"name", "arguments"}, ...]}`; an empty list means
//!   "no function fits").
//! * [`parse`] reads a free-text reply: JSON in several shapes, or BFCL's
//!   Python-call syntax `[f(a=1), g(b="x")]`, possibly in code fences or prose.
//! * [`checker`] judges the parsed [`Call`]s against the possible answer and
//!   returns a [`Verdict`] naming the rule that failed.
//! * [`run`] asks any `hamlet_core::Llm` for the calls, grammar-constrained or free, in batches,
//!   and scores them.
//!
//! ```
//! use hamlet_eval::{check, parse_calls, Category};
//! let calls = parse_calls("[]").unwrap();
//! let verdict = check(Category::Irrelevance, &[], None, &calls);
//! assert!(verdict.valid);
//! ```

pub mod checker;
pub mod data;
mod error;
pub mod parse;
mod pyexpr;
mod pylit;
mod pyvalue;
pub mod run;
pub mod schema;
mod values;

pub use checker::{check, Verdict};
pub use data::{load, Answer, Case, Category, ExpectedCall, FunctionDoc};
pub use error::{Error, Result};
pub use parse::{parse_calls, render_python, Call, ParseError};
pub use schema::{calls_schema, function_params_schema, params_to_json_schema};
