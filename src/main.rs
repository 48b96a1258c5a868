//! `hamlet`: run autonomous LLM agents on local hardware.
//!
//! This binary is the only place that picks backends, sets up logging and uses `anyhow`; the
//! library crates under `crates/` do the work.

mod cmd;
mod opts;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hamlet: a runtime for autonomous LLM agents on local hardware.
#[derive(Debug, Parser)]
#[command(name = "hamlet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate text (or JSON that matches a schema) from a prompt.
    Generate(cmd::generate::Args),
    /// Print embedding vectors of texts as JSON.
    Embed(cmd::embed::Args),
    /// List and pull models into the cache.
    #[command(subcommand)]
    Models(cmd::models::Command),
    /// Measure speed against the raw engine underneath.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    /// Long-term memory: add, search, stats, rebuild (`--db DIR`).
    #[command(subcommand)]
    Memory(cmd::memory::Command),
    /// MCP: list or call a server's tools, or serve the memory store as MCP tools.
    #[command(subcommand)]
    Mcp(cmd::mcp::Command),
    /// Evaluate the model on benchmarks.
    #[command(subcommand)]
    Eval(cmd::eval::Command),
    /// Pursue a goal with an agent: plan, act with tools, observe, reflect.
    Run(Box<cmd::run::Args>),
    /// Serve the local model over an OpenAI-compatible HTTP API (loopback by default).
    Serve(cmd::serve::Args),
    /// Fine-tune the local model with LoRA on instruction data (or export agent runs as data).
    Tune(cmd::tune::Args),
    /// Simulate a town of generative agents (worlds/<town>), resume or replay a run.
    Sim(Box<cmd::sim::Args>),
    /// A short tour: a chat reply, then a JSON-constrained tool call.
    Demo(cmd::demo::Args),
    /// Watch an agent run or a town run in the terminal UI (recorded, or still running).
    Watch(cmd::watch::Args),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(a) => cmd::generate::run(a),
        Command::Embed(a) => cmd::embed::run(a),
        Command::Models(c) => cmd::models::run(c),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Eval(c) => cmd::eval::run_cmd(c),
        Command::Memory(c) => cmd::memory::run(c),
        Command::Mcp(c) => cmd::mcp::run(c),
        Command::Run(a) => cmd::run::run(*a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Sim(a) => cmd::sim::run(*a),
        Command::Tune(a) => cmd::tune::run(a),
        Command::Watch(a) => cmd::watch::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// One line: what we were doing, then each cause, a cause left out when the message before it
/// already says it (an error that prints its source as well as returning it).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Logs go to stderr through `tracing`; `RUST_LOG` overrides. llama.cpp's own lines, and rmcp's
/// (whose failures reach the user as errors anyway), are quiet unless asked for
/// (`RUST_LOG=llama-cpp-2=info,rmcp=debug`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,llama-cpp-2=off,rmcp=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // stderr, or a file while a TUI owns the terminal.
        .with_writer(cmd::watch::LogWriter)
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::one_line;

    /// An error that prints its source and also returns it, as a thiserror enum with a `source`
    /// field and `{source}` in its message does.
    #[derive(Debug)]
    struct Echoing {
        source: std::io::Error,
    }

    impl std::fmt::Display for Echoing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "reading worlds/x: {}", self.source)
        }
    }

    impl std::error::Error for Echoing {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(Echoing { source: io }).context("loading the town");
        assert_eq!(
            one_line(&e),
            "loading the town: reading worlds/x: No such file or directory"
        );
        let e = anyhow::anyhow!("line one\nline two").context("outer");
        assert_eq!(one_line(&e), "outer: line one line two");
    }
}
