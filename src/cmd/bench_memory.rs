//! `hamlet bench memory`: insert N memories into a fresh store, then measure retrieval.
//!
//! Prints a Markdown report: insert throughput (SQLite + BM25 + vector index, committed), p50/p99
//! latency of vector, BM25 and hybrid retrieval with an agent filter, and the vector index's
//! recall@10 against an exact search. Vectors: the first `--real` memories and every query are
//! embedded with the embedding model when it is present; the other memories get random unit
//! vectors (embedding 100k texts takes too long on a small CPU). The report says which. With
//! `--db postgres://…` the PostgreSQL store is measured beside an embedded one on the same data.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hamlet_core::testing::HashEmbedder;
use hamlet_core::{Embedder, MemoryKind, NewMemory, RecallQuery};
use hamlet_memory::vector::dot;
use hamlet_memory::{Db, MemoryConfig, SearchMode, Store, VectorBackend};
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
    /// Store directory (default: a temporary one, removed afterwards), or a PostgreSQL
    /// database (postgres://…?schema=NAME, an empty schema), which is then measured beside a
    /// temporary embedded store in the same run.
    #[arg(long, value_name = "DIR|URL", value_parser = |s: &str| Db::parse(s).map_err(|e| e.to_string()))]
    pub db: Option<Db>,
    /// Measure a Qdrant server (gRPC URL) instead of the embedded vector index.
    #[arg(long, env = "HAMLET_QDRANT_URL")]
    pub qdrant: Option<String>,
    /// Also time the numpy baseline (Generative Agents' scoring, vectorised) on the same data,
    /// with this script (default `scripts/numpy-baseline.sh`, which makes its own virtual
    /// environment), and report Hamlet's ratio to it.
    #[arg(long, value_name = "SCRIPT", num_args = 0..=1, default_missing_value = "scripts/numpy-baseline.sh")]
    pub numpy: Option<PathBuf>,
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

    let embedder: Arc<dyn Embedder> = match model {
        Some(e) => Arc::new(e),
        None => Arc::new(HashEmbedder::new(dim)),
    };
    let tmp =
        TempDir(std::env::temp_dir().join(format!("hamlet-bench-memory-{}", std::process::id())));
    // A PostgreSQL store is measured beside the embedded one, in the same run.
    let targets = match &a.db {
        None => vec![Db::Dir(tmp.0.clone())],
        Some(Db::Postgres(url)) => vec![Db::Dir(tmp.0.clone()), Db::Postgres(url.clone())],
        Some(db) => vec![db.clone()],
    };
    let data = Data {
        texts: &texts,
        vectors: &vectors,
        queries: &queries,
        query_vecs: &query_vecs,
        agents,
    };
    let mut figures = Vec::new();
    for db in &targets {
        let config = MemoryConfig {
            vector: match (&a.qdrant, db) {
                (Some(url), Db::Dir(_)) => VectorBackend::Qdrant {
                    url: url.clone(),
                    collection: format!("hamlet_bench_{}", std::process::id()),
                },
                _ => VectorBackend::Embedded,
            },
            ..MemoryConfig::default()
        };
        let store = Store::open(db, embedder.clone(), config)
            .with_context(|| format!("opening the benchmark store {db}"))?;
        if let Store::Postgres(pg) = &store {
            if pg.stats()?.memories > 0 {
                bail!("{db} already holds memories: give the benchmark an empty schema (add ?schema=NAME with a new name)");
            }
        }
        figures.push(measure(&store, &data)?);
    }

    let head: Vec<String> = figures.iter().map(|f| f.store.clone()).collect();
    writeln!(report, "| | {} |", head.join(" | "))?;
    writeln!(report, "|---|{}", "---|".repeat(figures.len()))?;
    let row = |label: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = figures.iter().map(cell).collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    report.push_str(&row(
        "insert, memories/s (batches of 1,000, committed with their indexes)",
        &|f| {
            format!(
                "{:.0} ({:.1} s)",
                a.count as f64 / f.insert_s.max(1e-9),
                f.insert_s
            )
        },
    ));
    for (i, label) in LATENCIES.iter().enumerate() {
        report.push_str(&row(&format!("{label}, p50 / p99 ms (k = 10)"), &|f| {
            format!("{:.2} / {:.2}", f.latency[i].0, f.latency[i].1)
        }));
    }
    report.push_str(&row(
        "vector recall@10 against an exact scan (one agent)",
        &|f| {
            format!(
                "{:.3} ({}/{})",
                f.found as f64 / f.total.max(1) as f64,
                f.found,
                f.total
            )
        },
    ));
    report.push_str(&row("on disk, MB", &|f| format!("{:.0}", f.disk_mb)));
    if let Some(script) = &a.numpy {
        let np = numpy_baseline(script, &data, &tmp.0.with_extension("numpy"))?;
        let e = &figures[0];
        writeln!(
            report,
            "\nnumpy {} baseline (Generative Agents' scoring over the agent's own stream: cosine, recency, importance, min-max, top 10; `{}`): one agent p50 / p99 {:.2} / {:.2} ms, all memories {:.2} / {:.2} ms. Hybrid recall ÷ numpy, p50: one agent {:.2}× the time ({:.1}× faster), no filter {:.2}× ({:.1}× faster).",
            np.version,
            script.display(),
            np.one_agent.0,
            np.one_agent.1,
            np.all.0,
            np.all.1,
            e.latency[2].0 / np.one_agent.0.max(1e-9),
            np.one_agent.0 / e.latency[2].0.max(1e-9),
            e.latency[3].0 / np.all.0.max(1e-9),
            np.all.0 / e.latency[3].0.max(1e-9),
        )?;
    }
    if figures.len() == 2 {
        let (e, p) = (&figures[0], &figures[1]);
        writeln!(
            report,
            "\nPostgreSQL ÷ embedded: insert {:.2}×, filtered hybrid recall p50 {:.2}× the time",
            e.insert_s / p.insert_s.max(1e-9),
            p.latency[2].0 / e.latency[2].0.max(1e-9)
        )?;
    }
    if let Some(ms) = embed_ms {
        writeln!(
            report,
            "\nembedding one query with the model: {ms:.1} ms (not included above)"
        )?;
    }
    if let Some(r) = embed_rate {
        writeln!(report, "embedding memory texts in batches of 64: {r:.0} texts/s ({:.0} min for {} texts at that rate)", a.count as f64 / r / 60.0, a.count)?;
    }
    print!("{report}");
    if let Some(out) = &a.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// What the numpy baseline measured: p50 and p99 in ms.
struct Numpy {
    version: String,
    one_agent: (f64, f64),
    all: (f64, f64),
}

/// Writes the benchmark's data as raw arrays into `dir` and times the numpy baseline on it.
fn numpy_baseline(script: &std::path::Path, d: &Data, dir: &std::path::Path) -> Result<Numpy> {
    if !script.is_file() {
        bail!(
            "--numpy {}: no such script (run from the repository root, or give the path to scripts/numpy-baseline.sh)",
            script.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _clean = TempDir(dir.to_path_buf());
    let count = d.texts.len();
    let f32s =
        |v: &[Vec<f32>]| -> Vec<u8> { v.iter().flatten().flat_map(|x| x.to_le_bytes()).collect() };
    let scoring = hamlet_core::score::Scoring::default();
    let meta = serde_json::json!({
        "count": count,
        "dim": d.vectors.first().map_or(0, Vec::len),
        "queries": d.query_vecs.len(),
        "now": count as i64 * 60_000,
        "k": 10,
        "decay_per_hour": scoring.decay_per_hour,
        "weights": {
            "recency": scoring.weights.recency,
            "importance": scoring.weights.importance,
            "relevance": scoring.weights.relevance,
        },
    });
    // The same memories as `measure` stores: agent i % agents, importance i % 10 + 1, created
    // (and last accessed) at minute i; query i asks agent i % agents.
    let files: [(&str, Vec<u8>); 6] = [
        ("meta.json", meta.to_string().into_bytes()),
        ("vectors.f32", f32s(d.vectors)),
        ("queries.f32", f32s(d.query_vecs)),
        (
            "agents.i32",
            (0..count)
                .flat_map(|i| ((i % d.agents) as i32).to_le_bytes())
                .collect(),
        ),
        (
            "importance.u8",
            (0..count).map(|i| (i % 10 + 1) as u8).collect(),
        ),
        (
            "last_accessed.i64",
            (0..count)
                .flat_map(|i| (i as i64 * 60_000).to_le_bytes())
                .collect(),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    let query_agents: Vec<u8> = (0..d.query_vecs.len())
        .flat_map(|i| ((i % d.agents) as i32).to_le_bytes())
        .collect();
    std::fs::write(dir.join("query_agents.i32"), query_agents)?;
    let pb = ProgressBar::new_spinner().with_message("numpy baseline");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let out = std::process::Command::new(script)
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    pb.finish_and_clear();
    if !out.status.success() {
        bail!(
            "{} failed ({}); its error is above",
            script.display(),
            out.status
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "{} printed something other than its JSON line: {text:?}",
            script.display()
        )
    })?;
    let pair = |k: &str| -> Result<(f64, f64)> {
        match (v[k]["p50_ms"].as_f64(), v[k]["p99_ms"].as_f64()) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => bail!(
                "{}: `{k}` lacks p50_ms/p99_ms in {text:?}",
                script.display()
            ),
        }
    };
    Ok(Numpy {
        version: v["numpy"].as_str().unwrap_or("?").to_string(),
        one_agent: pair("one_agent")?,
        all: pair("all")?,
    })
}

/// The benchmark's memories and queries, the same for every store measured.
struct Data<'a> {
    texts: &'a [String],
    vectors: &'a [Vec<f32>],
    queries: &'a [String],
    query_vecs: &'a [Vec<f32>],
    agents: usize,
}

/// What one store measured.
struct Figures {
    store: String,
    insert_s: f64,
    /// p50 and p99 in ms, in the order of [`LATENCIES`].
    latency: Vec<(f64, f64)>,
    found: usize,
    total: usize,
    disk_mb: f64,
}

const LATENCIES: [&str; 4] = [
    "vector search, one agent",
    "full-text search, one agent",
    "hybrid recall, one agent (both indexes, fusion, scoring, last-accessed update)",
    "hybrid recall, no filter",
];

/// Inserts the memories into a fresh store, then times retrieval and checks the vector index's
/// recall@10 against an exact scan over the same vectors and filter.
fn measure(store: &Store, d: &Data) -> Result<Figures> {
    let count = d.texts.len();
    // Insert in batches of 1,000 (one transaction each), then commit the indexes.
    let pb = bar(count as u64, "inserting");
    let t = Instant::now();
    let mut items = Vec::with_capacity(1000);
    for (i, (text, v)) in d.texts.iter().zip(d.vectors).enumerate() {
        let agent = format!("agent{}", i % d.agents);
        let m = NewMemory::new(
            agent,
            MemoryKind::ALL[i % 5],
            text.clone(),
            i as i64 * 60_000,
        )
        .importance((i % 10 + 1) as u8);
        items.push((m, v.clone()));
        if items.len() == 1000 || i + 1 == count {
            store.add_embedded(std::mem::take(&mut items))?;
            pb.set_position(i as u64 + 1);
        }
    }
    store.flush()?;
    let insert_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let now = count as i64 * 60_000;
    let query = |i: usize, filtered: bool| {
        let mut q = RecallQuery::new(&d.queries[i], 10, now);
        if filtered {
            q.agent = Some(format!("agent{}", i % d.agents));
        }
        q
    };
    let pb = bar(4 * d.queries.len() as u64, "querying");
    let mut latency = Vec::new();
    for (mode, filtered) in [
        (Some(SearchMode::Vector), true),
        (Some(SearchMode::Bm25), true),
        (None, true),
        (None, false),
    ] {
        let mut lat = Vec::with_capacity(d.queries.len());
        for (i, qv) in d.query_vecs.iter().enumerate() {
            let q = query(i, filtered);
            let t = Instant::now();
            match mode {
                Some(m) => drop(store.search_with_vector(&q, qv, m)?),
                None => drop(store.recall_with_vector(&q, qv)?),
            }
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            pb.inc(1);
        }
        latency.push(pct(lat));
    }
    pb.finish_and_clear();

    let (mut found, mut total) = (0usize, 0usize);
    for (i, qv) in d.query_vecs.iter().enumerate() {
        let q = query(i, true);
        let got: Vec<i64> = store
            .search_with_vector(&q, qv, SearchMode::Vector)?
            .into_iter()
            .map(|h| h.0)
            .collect();
        let mut exact: Vec<(f32, i64)> = d
            .vectors
            .iter()
            .enumerate()
            .filter(|(j, _)| q.agent.as_deref() == Some(format!("agent{}", j % d.agents).as_str()))
            .map(|(j, v)| (dot(qv, v), j as i64 + 1))
            .collect();
        exact.sort_by(|x, y| y.0.total_cmp(&x.0));
        exact.truncate(10);
        total += exact.len();
        found += exact.iter().filter(|e| got.contains(&e.1)).count();
    }
    let st = store.stats()?;
    let kind = match store {
        Store::Embedded(_) => format!("embedded ({})", st.vector_index),
        Store::Postgres(_) => "PostgreSQL + pgvector (HNSW)".to_string(),
    };
    Ok(Figures {
        store: kind,
        insert_s,
        latency,
        found,
        total,
        disk_mb: st.disk_bytes as f64 / 1e6,
    })
}
