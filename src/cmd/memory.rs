//! `hamlet memory add|search|stats|rebuild --db DIR|postgres://…`: the long-term memory store
//! from the shell, embedded in a directory or in a PostgreSQL database with pgvector.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hamlet_core::{now_ms, Embedder, Llm, MemoryKind, NewMemory, RecallQuery};
use hamlet_memory::{Db, ImportanceRater, MemoryConfig, SearchMode, Store, VectorBackend};
use indicatif::{ProgressBar, ProgressStyle};

use crate::opts::{LoraOpts, ModelOpts, DEFAULT_EMBED_MODEL};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Store memories (one per text).
    Add(AddArgs),
    /// Recall memories for a query.
    Search(SearchArgs),
    /// Count memories per agent and kind; show the state of the indexes.
    Stats(StoreArgs),
    /// Rebuild the vector and BM25 indexes from SQLite (embedded stores only).
    Rebuild(StoreArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The store: a directory (created if missing: memory.sqlite, bm25/, vectors/), or a
    /// PostgreSQL database with pgvector, postgres://USER:PASSWORD@HOST:PORT/DB[?schema=NAME]
    /// (tables in schema `hamlet` unless named; created and migrated on connect).
    #[arg(long, env = "HAMLET_MEMORY_DB", value_name = "DIR|URL", value_parser = parse_db)]
    pub db: Db,
    /// Embedding model: a GGUF path or a cache name (must be the one the store was built with).
    #[arg(long, env = "HAMLET_EMBED_MODEL", default_value = DEFAULT_EMBED_MODEL)]
    pub embed_model: String,
    /// Keep vectors on a Qdrant server (gRPC URL, e.g. http://localhost:6334) instead of the
    /// embedded index.
    #[arg(long, env = "HAMLET_QDRANT_URL", value_name = "URL")]
    pub qdrant: Option<String>,
    /// Qdrant collection name.
    #[arg(long, default_value = "hamlet_memory")]
    pub collection: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Texts to store.
    #[arg(required_unless_present = "file")]
    pub texts: Vec<String>,
    /// Also store each non-empty line of this file (`-`: standard input) as a memory, written
    /// in transactions of 500.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The agent the memories belong to.
    #[arg(long, default_value = "default")]
    pub agent: String,
    /// observation, reflection, plan, chat or tool_result.
    #[arg(long, default_value = "observation", value_parser = parse_kind)]
    pub kind: MemoryKind,
    /// Importance 1–10. Without it the chat model rates each memory (--model), or 5 with --no-rate.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub importance: Option<u8>,
    /// Do not load a chat model to rate importance; unrated memories get 5.
    #[arg(long)]
    pub no_rate: bool,
    /// Creation time, milliseconds since the Unix epoch (default: now).
    #[arg(long)]
    pub at: Option<i64>,
    /// Forget the memories after this time (milliseconds since the Unix epoch).
    #[arg(long)]
    pub expires: Option<i64>,
    #[command(flatten)]
    pub model: ModelOpts,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The query text.
    pub query: String,
    /// How many memories to return.
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// Only this agent's memories.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only these kinds (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub kind: Vec<MemoryKind>,
    /// Only memories created at or after this time (ms since the epoch).
    #[arg(long)]
    pub after: Option<i64>,
    /// Only memories created before this time (ms since the epoch).
    #[arg(long)]
    pub before: Option<i64>,
    /// recall (recency + importance + relevance; marks the results accessed), or relevance only:
    /// hybrid, vector, bm25.
    #[arg(long, default_value = "recall")]
    pub mode: String,
    /// "Now" for recency and expiry (ms since the epoch; default: now).
    #[arg(long)]
    pub at: Option<i64>,
}

fn parse_db(s: &str) -> Result<Db, String> {
    Db::parse(s).map_err(|e| e.to_string())
}

fn parse_kind(s: &str) -> Result<MemoryKind, String> {
    MemoryKind::parse(s)
}

pub fn threads() -> usize {
    std::env::var("HAMLET_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Opens the store at `--db` with the embedding model.
pub fn open(a: &StoreArgs) -> Result<Store> {
    let vector = match (&a.qdrant, &a.db) {
        (Some(_), Db::Postgres(_)) => bail!(
            "--qdrant does not apply to a PostgreSQL store: it keeps its vectors in pgvector (drop --qdrant, or give a directory as --db)"
        ),
        (Some(url), Db::Dir(_)) => VectorBackend::Qdrant {
            url: url.clone(),
            collection: a.collection.clone(),
        },
        (None, _) => VectorBackend::Embedded,
    };
    let embedder: Arc<dyn Embedder> =
        Arc::new(crate::opts::load_embedder(&a.embed_model, threads())?);
    let config = MemoryConfig {
        vector,
        ..MemoryConfig::default()
    };
    let store = Store::open(&a.db, embedder, config)
        .with_context(|| format!("opening the memory store --db {}", a.db))?;
    if store.embedder_name()?.is_none() {
        store.set_embedder_name(&a.embed_model)?;
    }
    Ok(store)
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Add(a) => add(a),
        Command::Search(a) => search(a),
        Command::Stats(a) => stats(a),
        Command::Rebuild(a) => rebuild(a),
    }
}

/// The texts to store: the arguments, then the lines of `--file`.
fn texts(a: &AddArgs) -> Result<Vec<String>> {
    let mut texts = a.texts.clone();
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        bail!("text {} is empty: every memory needs some text", i + 1);
    }
    if let Some(file) = &a.file {
        let body = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading memories from stdin")?
        } else {
            std::fs::read_to_string(file)
                .with_context(|| format!("reading memories from --file {}", file.display()))?
        };
        texts.extend(
            body.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    Ok(texts)
}

fn add(a: AddArgs) -> Result<()> {
    let texts = texts(&a)?;
    let llm: Option<Arc<dyn Llm>> = if a.importance.is_some() || a.no_rate {
        None
    } else {
        Some(Arc::from(a.model.backend(1, &LoraOpts::default()).context(
            "loading the chat model to rate importance (give --importance N or --no-rate to skip it)",
        )?))
    };
    let store = open(&a.store)?;
    let at = a.at.unwrap_or_else(now_ms);
    let bar = (texts.len() > 500).then(|| {
        let pb = ProgressBar::new(texts.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("storing [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    });
    for chunk in texts.chunks(500) {
        let mut memories: Vec<NewMemory> = chunk
            .iter()
            .map(|t| {
                let mut m = NewMemory::new(&a.agent, a.kind, t, at);
                m.importance = a.importance;
                m.expires = a.expires;
                m
            })
            .collect();
        if let Some(llm) = &llm {
            ImportanceRater::new(llm.clone()).fill(&mut memories);
        }
        let ids = store.add_batch(memories).context("storing the memories")?;
        if let Some(pb) = &bar {
            pb.inc(ids.len() as u64);
            continue;
        }
        for r in store.get_many(&ids)? {
            if a.store.json {
                println!(
                    "{}",
                    serde_json::json!({"id": r.id, "importance": r.importance, "text": r.text})
                );
            } else {
                println!("{}\timportance {}\t{}", r.id, r.importance, r.text);
            }
        }
    }
    if let Some(pb) = bar {
        pb.finish_and_clear();
        eprintln!("stored {} memories in {}", texts.len(), a.store.db);
    }
    Ok(())
}

fn search(a: SearchArgs) -> Result<()> {
    if a.k == 0 {
        bail!("-k must be at least 1");
    }
    let store = open(&a.store)?;
    let mut q = RecallQuery::new(&a.query, a.k, a.at.unwrap_or_else(now_ms));
    q.agent = a.agent.clone();
    q.kinds = a.kind.clone();
    q.after = a.after;
    q.before = a.before;
    let mode = match a.mode.as_str() {
        "recall" => None,
        "hybrid" => Some(SearchMode::Hybrid),
        "vector" => Some(SearchMode::Vector),
        "bm25" => Some(SearchMode::Bm25),
        other => bail!("unknown --mode {other:?}: use recall, hybrid, vector or bm25"),
    };
    let rows: Vec<serde_json::Value> = match mode {
        None => store
            .recall(&q)?
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.record.id, "score": r.score, "recency": r.recency,
                    "importance": r.importance, "relevance": r.relevance,
                    "agent": r.record.agent, "kind": r.record.kind, "text": r.record.text,
                })
            })
            .collect(),
        Some(m) => {
            let hits = store.search(&q, m)?;
            let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
            let records = store.get_many(&ids)?;
            hits.iter()
                .zip(records)
                .map(|((id, score), r)| {
                    serde_json::json!({"id": id, "score": score, "agent": r.agent, "kind": r.kind, "text": r.text})
                })
                .collect()
        }
    };
    for row in &rows {
        if a.store.json {
            println!("{row}");
        } else {
            println!(
                "{}\t{:.3}\t{}\t{}",
                row["id"],
                row["score"].as_f64().unwrap_or(0.0),
                row["agent"].as_str().unwrap_or(""),
                row["text"].as_str().unwrap_or("")
            );
        }
    }
    if rows.is_empty() && !a.store.json {
        eprintln!("no memories match");
    }
    Ok(())
}

fn stats(a: StoreArgs) -> Result<()> {
    let store = open(&a)?;
    let s = store.stats()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("store      {}", s.dir);
    println!("memories   {}", s.memories);
    for (agent, kinds) in &s.by_agent {
        let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  {agent}: {}", parts.join(", "));
    }
    println!(
        "embeddings {} dims ({})",
        s.dim,
        s.embedder.as_deref().unwrap_or("unknown model")
    );
    println!(
        "vectors    {} points, watermark {} ({})",
        s.vector_points, s.vector_watermark, s.vector_index
    );
    println!(
        "text       {} documents, watermark {} ({})",
        s.bm25_documents, s.bm25_watermark, s.text_index
    );
    println!("disk       {:.1} MB", s.disk_bytes as f64 / 1e6);
    Ok(())
}

fn rebuild(a: StoreArgs) -> Result<()> {
    if let Db::Postgres(url) = &a.db {
        bail!("{url} needs no rebuild: PostgreSQL keeps the vector and full-text indexes in the same transaction as the rows (REINDEX TABLE hamlet.memories rebuilds them on the server if ever needed)");
    }
    let Store::Embedded(store) = open(&a)? else {
        bail!("--db {} is not an embedded store", a.db);
    };
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("rebuilding [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t = std::time::Instant::now();
    let n = store.rebuild(&mut |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    println!(
        "rebuilt the vector and BM25 indexes from {n} memories in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
