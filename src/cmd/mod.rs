pub mod bench;
pub mod bench_memory;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod eval_tasks;
pub mod generate;
pub mod mcp;
pub mod memory;
pub mod models;
pub mod run;
pub mod serve;
pub mod sim;
pub mod tune;
pub mod watch;

/// `s` on one line (newlines shown as ⏎), cut to `n` characters with an ellipsis.
pub fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ⏎ ");
    if one_line.chars().count() > n {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    } else {
        one_line
    }
}

/// Tokens per second of `tokens` made in `ms` milliseconds.
pub fn rate(tokens: u64, ms: f64) -> f64 {
    tokens as f64 / (ms / 1e3).max(1e-9)
}
pub mod web;
