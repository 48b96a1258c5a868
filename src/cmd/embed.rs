//! `hamlet embed`: texts in, L2-normalised vectors out (JSON on stdout).

use anyhow::{bail, Result};
use hamlet_core::Embedder;

use crate::opts::DEFAULT_EMBED_MODEL;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Texts to embed.
    #[arg(required = true)]
    pub texts: Vec<String>,
    /// Embedding model: a GGUF path or a cache name.
    #[arg(long, env = "HAMLET_EMBED_MODEL", default_value = DEFAULT_EMBED_MODEL)]
    pub model: String,
    #[arg(long, env = "HAMLET_THREADS")]
    pub threads: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    if let Some(i) = a.texts.iter().position(|t| t.trim().is_empty()) {
        bail!(
            "text {} is empty: every text must have something to embed",
            i + 1
        );
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let embedder = crate::opts::load_embedder(&a.model, threads)?;
    let texts: Vec<&str> = a.texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts)?;
    println!("{}", serde_json::to_string(&vectors)?);
    Ok(())
}
