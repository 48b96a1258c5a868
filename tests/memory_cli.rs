//! `hamlet memory add|search|stats|rebuild` and `hamlet bench memory` end to end, on the real
//! embedding model (MiniLM) and a real store directory.

use std::path::Path;

mod common;
use common::{hamlet_memory as hamlet, ok, one_line_error};

fn db(dir: &Path) -> String {
    dir.join("store").display().to_string()
}

#[test]
fn add_search_stats_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let out = ok(&hamlet(&[
        "memory",
        "add",
        "--db",
        &db,
        "--agent",
        "isabella",
        "--importance",
        "7",
        "--at",
        "1000",
        "Isabella is planning a Valentine's Day party at Hobbs Cafe",
        "The pharmacy on Main Street closes at 8pm",
    ]));
    assert!(out.starts_with("1\timportance 7\tIsabella"), "{out}");
    ok(&hamlet(&[
        "memory",
        "add",
        "--db",
        &db,
        "--agent",
        "klaus",
        "--kind",
        "plan",
        "--no-rate",
        "--at",
        "2000",
        "Klaus will finish his paper on gentrification at the library",
    ]));

    let search = |args: &[&str]| {
        ok(&hamlet(
            &[&["memory", "search", "--db", &db], args].concat(),
        ))
    };
    // Full recall (recency + importance + relevance), JSON lines.
    let out = search(&[
        "--json",
        "-k",
        "2",
        "--at",
        "3000",
        "Who is throwing a celebration at the cafe?",
    ]);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], 1, "{out}");
    assert!(first["relevance"].as_f64().is_some());
    assert_eq!(out.lines().count(), 2);

    // Filters and relevance-only modes.
    let out = search(&["--agent", "klaus", "paper"]);
    assert!(out.contains("Klaus") && !out.contains("Isabella"), "{out}");
    let out = search(&["--mode", "bm25", "--kind", "plan", "library"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = search(&["--mode", "vector", "-k", "1", "medicine store hours"]);
    assert!(out.contains("pharmacy"), "{out}");

    let out = ok(&hamlet(&["memory", "stats", "--db", &db, "--json"]));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["memories"], 3);
    assert_eq!(s["by_agent"]["klaus"]["plan"], 1);
    assert_eq!(s["vector_watermark"], 3);
    assert_eq!(s["bm25_documents"], 3);
    assert_eq!(s["dim"], 384);

    // Rebuild from SQLite after the index files are lost.
    std::fs::remove_dir_all(Path::new(&db).join("bm25")).unwrap();
    std::fs::remove_dir_all(Path::new(&db).join("vectors")).unwrap();
    let out = ok(&hamlet(&["memory", "stats", "--db", &db, "--json"]));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (s["vector_points"].as_u64(), s["bm25_documents"].as_u64()),
        (Some(3), Some(3)),
        "repaired on open"
    );
    let out = ok(&hamlet(&["memory", "rebuild", "--db", &db]));
    assert!(out.contains("from 3 memories"), "{out}");
    let out = search(&["--mode", "bm25", "gentrification"]);
    assert!(out.contains("Klaus"), "{out}");
}

#[test]
fn memory_errors_are_one_line_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let e = one_line_error(&hamlet(&[
        "memory",
        "stats",
        "--db",
        file.to_str().unwrap(),
    ]));
    assert!(e.contains("not-a-dir") && e.contains("directory"), "{e}");
    let db = db(dir.path());
    let e = one_line_error(&hamlet(&["memory", "add", "--db", &db, "--no-rate", "  "]));
    assert!(e.contains("empty"), "{e}");
    let e = one_line_error(&hamlet(&[
        "memory", "search", "--db", &db, "--mode", "fuzzy", "x",
    ]));
    assert!(e.contains("recall, hybrid, vector or bm25"), "{e}");
    let o = hamlet(&["memory", "add", "--db", &db, "--kind", "dream", "x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("observation, reflection"));
}

#[test]
fn bench_memory_small() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("report.md");
    let out = ok(&hamlet(&[
        "bench",
        "memory",
        "--count",
        "2000",
        "--queries",
        "20",
        "--real",
        "100",
        "--numpy",
        "scripts/numpy-baseline.sh",
        "--out",
        out_file.to_str().unwrap(),
    ]));
    for want in [
        "baseline (Generative Agents' scoring",
        "Hybrid recall ÷ numpy, p50: one agent",
        "2000 memories",
        "minilm",
        "random unit vectors",
        "| insert, memories/s",
        "| vector search, one agent",
        "| full-text search, one agent",
        "| hybrid recall, one agent",
        "| vector recall@10 against an exact scan (one agent) | 1.000",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), out);
}
