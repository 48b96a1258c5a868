//! `hamlet bench memory`: insert N memories into a fresh store, then measure retrieval.
//!
//! Prints a Markdown report: insert throughput (SQLite + BM25 + vector index, committed), p50/p99
//! latency of vector, BM25 and hybrid retrieval with an agent filter, and the vector index's
//! recall@10 against an exact search. Vectors: the first `--real` memories and every query are
//! embedded with the embedding model when it is present; the other memories get random unit
//! vectors (embedding 100k texts takes too long on a small CPU). The report says which.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use hamlet_core::testing::HashEmbedder;
use hamlet_core::{Embedder, MemoryKind, NewMemory, RecallQuery};
use hamlet_memory::vector::dot;
use hamlet_memory::{MemoryConfig, MemoryStore, SearchMode, VectorBackend};
use indicatif::{ProgressBar, ProgressStyle};

use crate::opts::DEFAULT_EMBED_MODEL;

#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Memories to insert.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// Agents the memories are spread over (the filter selects one).
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Queries per measurement.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Memories embedded with the real model; the rest get random unit vectors.
    #[arg(long, default_value_t = 2000)]
    pub real: usize,
    /// Embedding model (a GGUF path or cache name).
    #[arg(long, env = "HAMLET_EMBED_MODEL", default_value = DEFAULT_EMBED_MODEL)]
    pub embed_model: String,
    /// Use random vectors only, even when the embedding model is present.
    #[arg(long)]
    pub random: bool,
    /// Store directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Measure a Qdrant server (gRPC URL) instead of the embedded vector index.
    #[arg(long, env = "HAMLET_QDRANT_URL")]
    pub qdrant: Option<String>,
    /// Also write the report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

const VERBS: [&str; 8] = [
    "saw",
    "talked with",
    "helped",
    "argued with",
    "cooked for",
    "walked with",
    "painted",
    "wrote to",
];
const PLACES: [&str; 10] = [
    "cafe",
    "library",
    "park",
    "pharmacy",
    "college",
    "market",
    "river",
    "bakery",
    "town hall",
    "pub",
];
const THINGS: [&str; 12] = [
    "the election",
    "a birthday party",
    "the storm",
    "a research paper",
    "fresh bread",
    "the rent",
    "a painting",
    "the exam",
    "a guitar",
    "the garden",
    "a marathon",
    "a poem",
];
const NAMES: [&str; 10] = [
    "Isabella", "Klaus", "Maria", "Sam", "Tom", "Mei", "John", "Eddy", "Carmen", "Jennifer",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        hamlet_core::l2_normalize(&mut v);
        v
    }
}

/// Removed on drop (the default benchmark store).
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pct(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}

pub fn bench_memory(a: MemoryArgs) -> Result<()> {
    let agents = a.agents.max(1);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let texts: Vec<String> = (0..a.count)
        .map(|i| {
            format!(
                "{} {} {} at the {} and thought about {} (day {})",
                NAMES[i % agents % NAMES.len()],
                rng.pick(&VERBS),
                rng.pick(&NAMES),
                rng.pick(&PLACES),
                rng.pick(&THINGS),
                i / 500
            )
        })
        .collect();
    let queries: Vec<String> = (0..a.queries.max(1))
        .map(|_| format!("{} at the {}", rng.pick(&THINGS), rng.pick(&PLACES)))
        .collect();

    // The real embedding model when present, else random vectors (stated in the report).
    let model = if a.random {
        None
    } else {
        match crate::opts::load_embedder(&a.embed_model, super::memory::threads()) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!("no embedding model ({e:#}): using random vectors");
                None
            }
        }
    };
    let dim = model.as_ref().map_or(384, |e| e.dim());
    let mut report = String::new();
    let real = if model.is_some() {
        a.real.min(a.count)
    } else {
        0
    };
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(a.count);
    let mut embed_rate = None;
    let (query_vecs, embed_ms) = match &model {
        Some(e) => {
            let pb = bar(real as u64, "embedding");
            let t = Instant::now();
            for chunk in texts[..real].chunks(64) {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                vectors.extend(e.embed(&refs)?);
                pb.inc(chunk.len() as u64);
            }
            pb.finish_and_clear();
            embed_rate = Some(real as f64 / t.elapsed().as_secs_f64().max(1e-9));
            let t = Instant::now();
            let mut qv = Vec::new();
            for q in &queries {
                qv.extend(e.embed(&[q.as_str()])?);
            }
            (
                qv,
                Some(t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64),
            )
        }
        None => (queries.iter().map(|_| rng.unit(dim)).collect(), None),
    };
    while vectors.len() < a.count {
        vectors.push(rng.unit(dim));
    }
    let how = match &model {
        Some(_) => format!("{real} memories and all queries embedded with `{}` ({dim} dims); the other {} memories have random unit vectors", a.embed_model, a.count - real),
        None => format!("random unit vectors ({dim} dims) for memories and queries: the embedding model is not loaded"),
    };
    writeln!(
        report,
        "{} memories over {agents} agents; {how}. {}.\n",
        a.count,
        super::bench::machine()
    )?;

    let tmp =
        TempDir(std::env::temp_dir().join(format!("hamlet-bench-memory-{}", std::process::id())));
    let dir = a.db.clone().unwrap_or_else(|| tmp.0.clone());
    let config = MemoryConfig {
        vector: match &a.qdrant {
            Some(url) => VectorBackend::Qdrant {
                url: url.clone(),
                collection: format!("hamlet_bench_{}", std::process::id()),
            },
            None => VectorBackend::Embedded,
        },
        ..MemoryConfig::default()
    };
    let embedder: Arc<dyn Embedder> = match model {
        Some(e) => Arc::new(e),
        None => Arc::new(HashEmbedder::new(dim)),
    };
    let store = MemoryStore::open_with(&dir, embedder, config)
        .with_context(|| format!("opening the benchmark store in {}", dir.display()))?;

    // Insert in batches of 1,000 (one SQLite transaction each), then commit the indexes.
    let pb = bar(a.count as u64, "inserting");
    let t = Instant::now();
    let mut items = Vec::with_capacity(1000);
    for (i, (text, v)) in texts.iter().zip(&vectors).enumerate() {
        let agent = format!("agent{}", i % agents);
        let m = NewMemory::new(
            agent,
            MemoryKind::ALL[i % 5],
            text.clone(),
            i as i64 * 60_000,
        )
        .importance((i % 10 + 1) as u8);
        items.push((m, v.clone()));
        if items.len() == 1000 || i + 1 == a.count {
            store.add_embedded(std::mem::take(&mut items))?;
            pb.set_position(i as u64 + 1);
        }
    }
    store.flush()?;
    let insert_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    writeln!(report, "insert: {:.0} memories/s ({:.1} s for {}; batches of 1,000, SQLite + BM25 + vector index, committed)\n", a.count as f64 / insert_s.max(1e-9), insert_s, a.count)?;

    // Retrieval latency with an agent filter (one agent's memories: 1/agents of the store).
    writeln!(
        report,
        "| retrieval (k = 10, filter: one agent) | p50 ms | p99 ms |\n|---|---|---|"
    )?;
    let now = a.count as i64 * 60_000;
    let query = |i: usize, filtered: bool| {
        let mut q = RecallQuery::new(&queries[i], 10, now);
        if filtered {
            q.agent = Some(format!("agent{}", i % agents));
        }
        q
    };
    let pb = bar(4 * queries.len() as u64, "querying");
    for (label, mode, filtered) in [
        ("vector", Some(SearchMode::Vector), true),
        ("BM25", Some(SearchMode::Bm25), true),
        (
            "hybrid recall (both indexes, fusion, scoring, last-accessed update)",
            None,
            true,
        ),
        ("hybrid recall, no filter", None, false),
    ] {
        let mut lat = Vec::with_capacity(queries.len());
        for (i, qv) in query_vecs.iter().enumerate() {
            let q = query(i, filtered);
            let t = Instant::now();
            match mode {
                Some(m) => drop(store.search_with_vector(&q, qv, m)?),
                None => drop(store.recall_with_vector(&q, qv)?),
            }
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            pb.inc(1);
        }
        let (p50, p99) = pct(lat);
        writeln!(report, "| {label} | {p50:.2} | {p99:.2} |")?;
    }
    pb.finish_and_clear();
    if let Some(ms) = embed_ms {
        writeln!(
            report,
            "\nembedding one query with the model: {ms:.1} ms (not included above)"
        )?;
    }
    if let Some(r) = embed_rate {
        writeln!(report, "embedding memory texts in batches of 64: {r:.0} texts/s ({:.0} min for {} texts at that rate)", a.count as f64 / r / 60.0, a.count)?;
    }

    // Recall@10 of the vector index against an exact scan over the same vectors and filter.
    let mut found = 0usize;
    let mut total = 0usize;
    for (i, qv) in query_vecs.iter().enumerate() {
        let q = query(i, true);
        let got: Vec<i64> = store
            .search_with_vector(&q, qv, SearchMode::Vector)?
            .into_iter()
            .map(|h| h.0)
            .collect();
        let mut exact: Vec<(f32, i64)> = vectors
            .iter()
            .enumerate()
            .filter(|(j, _)| q.agent.as_deref() == Some(format!("agent{}", j % agents).as_str()))
            .map(|(j, v)| (dot(qv, v), j as i64 + 1))
            .collect();
        exact.sort_by(|x, y| y.0.total_cmp(&x.0));
        exact.truncate(10);
        total += exact.len();
        found += exact.iter().filter(|e| got.contains(&e.1)).count();
    }
    writeln!(
        report,
        "\nvector index recall@10 against exact search: {:.3} ({found}/{total})",
        found as f64 / total.max(1) as f64
    )?;
    let st = store.stats()?;
    writeln!(
        report,
        "store on disk: {:.0} MB ({})",
        st.disk_bytes as f64 / 1e6,
        st.vector_index
    )?;
    print!("{report}");
    if let Some(out) = &a.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
