//! The conformance suites, run on every implementation in this crate:
//! - `hamlet_core::testing::memory_stream_suite` on the store (the same suite runs on the test
//!   double in hamlet-core);
//! - the `VectorIndex` suite below on the embedded index (in memory and on disk) always, and on a
//!   Qdrant server when asked for: `QDRANT_URL=http://localhost:6334 cargo test -- --ignored`.

use std::sync::Arc;

use hamlet_core::testing::{memory_stream_suite, HashEmbedder};
use hamlet_core::{MemoryKind, RecallQuery, TimeMs};
use hamlet_memory::vector::exact_search;
use hamlet_memory::{
    AsyncMemoryStore, DerivedIndex, FlatIndex, MemoryStore, QdrantIndex, VectorIndex, VectorPoint,
};

const DIM: usize = 32;

/// Deterministic pseudo-random unit vectors (xorshift).
fn unit(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    hamlet_core::l2_normalize(&mut v);
    v
}

fn point(
    id: i64,
    agent: &str,
    kind: MemoryKind,
    created: TimeMs,
    expires: Option<TimeMs>,
) -> VectorPoint {
    VectorPoint {
        id,
        agent: agent.into(),
        kind,
        created,
        expires,
        vector: unit(id as u64),
    }
}

fn corpus() -> Vec<VectorPoint> {
    (1..=300)
        .map(|i| {
            let agent = ["ada", "bob", "cy"][(i % 3) as usize];
            let kind = MemoryKind::ALL[(i % 5) as usize];
            let expires = (i % 7 == 0).then_some(1000 + i);
            point(i, agent, kind, i * 10, expires)
        })
        .collect()
}

fn ids(hits: &[(i64, f32)]) -> Vec<i64> {
    hits.iter().map(|h| h.0).collect()
}

/// A filter only (the text and `k` of a recall query do not matter to a vector search); `now`
/// at the earliest time filters nothing by expiry.
fn filter() -> RecallQuery {
    RecallQuery::new("", 0, TimeMs::MIN)
}

/// The suite. `reopen` gives a fresh handle on the same index (None when it cannot persist).
fn suite(index: &dyn VectorIndex, reopen: &dyn Fn() -> Option<Box<dyn VectorIndex>>) {
    index.clear().unwrap();
    assert_eq!(index.len().unwrap(), 0);
    assert_eq!(index.watermark().unwrap(), 0);
    assert_eq!(index.dim(), DIM);
    let pts = corpus();
    index.upsert(&pts).unwrap();
    assert_eq!(index.len().unwrap(), pts.len());

    // Exact top-k, with every kind of filter, against brute force.
    let filters = [
        filter(),
        filter().agent("bob"),
        filter().kinds([MemoryKind::Plan, MemoryKind::Chat]),
        filter().window(Some(500), Some(1500)),
        RecallQuery::new("", 0, 1100),
        RecallQuery::new("", 0, 1050)
            .agent("cy")
            .kinds([MemoryKind::Observation])
            .window(Some(100), Some(2500)),
        filter().agent("nobody"),
    ];
    for (qi, q) in [7u64, 1001, 4242].iter().enumerate() {
        let query = unit(*q);
        for f in &filters {
            let got = index.search(&query, f, 10).unwrap();
            let want = exact_search(&pts, &query, f, 10);
            assert_eq!(ids(&got), ids(&want), "query {qi}, filter {f:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 - w.1).abs() < 1e-4, "cosine {} vs {}", g.1, w.1);
            }
            for (id, _) in &got {
                let p = &pts[(*id - 1) as usize];
                assert!(f.matches(&p.agent, p.kind, p.created, p.expires));
            }
        }
    }
    // A point is its own nearest neighbour.
    let hit = index.search(&unit(42), &filter(), 1).unwrap();
    assert_eq!(ids(&hit), vec![42]);
    assert!((hit[0].1 - 1.0).abs() < 1e-4);
    assert!(index.search(&unit(42), &filter(), 0).unwrap().is_empty());

    // Upsert replaces by id (vector and fields), delete removes.
    let mut moved = point(42, "bob", MemoryKind::Plan, 7, None);
    moved.vector = unit(9999);
    index.upsert(&[moved]).unwrap();
    assert_eq!(index.len().unwrap(), pts.len());
    let hit = index.search(&unit(9999), &filter(), 1).unwrap();
    assert_eq!(ids(&hit), vec![42]);
    let by_ada = index
        .search(&unit(9999), &filter().agent("ada"), 300)
        .unwrap();
    assert!(!ids(&by_ada).contains(&42));
    index.delete(&[42, 43, 100_000]).unwrap();
    assert_eq!(index.len().unwrap(), pts.len() - 2);
    let all = index.search(&unit(9999), &filter(), 1000).unwrap();
    assert!(!ids(&all).contains(&42) && !ids(&all).contains(&43));

    // Commit records the watermark; a reopened index answers the same.
    index.commit(300).unwrap();
    assert_eq!(index.watermark().unwrap(), 300);
    let before: Vec<_> = filters
        .iter()
        .map(|f| ids(&index.search(&unit(5), f, 10).unwrap()))
        .collect();
    if let Some(again) = reopen() {
        assert_eq!(again.watermark().unwrap(), 300);
        assert_eq!(again.len().unwrap(), pts.len() - 2);
        let after: Vec<_> = filters
            .iter()
            .map(|f| ids(&again.search(&unit(5), f, 10).unwrap()))
            .collect();
        assert_eq!(before, after);
    }

    // Wrong dimensions are refused, not silently stored.
    let mut bad = point(1000, "ada", MemoryKind::Plan, 0, None);
    bad.vector = vec![1.0; DIM + 1];
    assert!(index.upsert(&[bad]).is_err());

    index.clear().unwrap();
    assert_eq!(index.len().unwrap(), 0);
    assert_eq!(index.watermark().unwrap(), 0);
    if let Some(again) = reopen() {
        assert_eq!(again.len().unwrap(), 0);
        assert_eq!(again.watermark().unwrap(), 0);
    }
}

#[test]
fn embedded_in_memory() {
    let index = FlatIndex::in_memory(DIM);
    suite(&index, &|| None);
}

#[test]
fn embedded_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors");
    let index = FlatIndex::open(&path, DIM).unwrap();
    suite(&index, &|| {
        Some(Box::new(FlatIndex::open(&path, DIM).unwrap()))
    });
}

#[test]
fn embedded_drops_uncommitted_changes_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors");
    let index = FlatIndex::open(&path, DIM).unwrap();
    index.upsert(&corpus()[..10]).unwrap();
    index.commit(10).unwrap();
    index.upsert(&corpus()[10..20]).unwrap();
    drop(index); // no commit: as if the process died here
    let again = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(again.watermark().unwrap(), 10);
    assert_eq!(again.len().unwrap(), 10);
}

#[test]
#[ignore = "needs a Qdrant server: set QDRANT_URL (e.g. http://localhost:6334) and run with --ignored"]
fn qdrant_server() {
    let url = std::env::var("QDRANT_URL")
        .expect("QDRANT_URL is not set: give the gRPC URL of a Qdrant server to run this test");
    let collection = format!("hamlet_conformance_{}", std::process::id());
    let index = QdrantIndex::connect(&url, &collection, DIM).unwrap();
    suite(&index, &|| {
        Some(Box::new(
            QdrantIndex::connect(&url, &collection, DIM).unwrap(),
        ))
    });
}

#[test]
fn qdrant_unreachable_is_a_clear_error() {
    let err = QdrantIndex::connect("http://127.0.0.1:9", "x", DIM)
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

#[test]
fn the_store_passes_the_memory_stream_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    memory_stream_suite(&mut || {
        n += 1;
        let store = MemoryStore::open(
            dir.path().join(n.to_string()),
            Arc::new(HashEmbedder::new(64)),
        );
        Box::new(store.unwrap())
    });
}

#[test]
fn the_async_store_works_on_the_callers_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = AsyncMemoryStore::open(dir.path(), Arc::new(HashEmbedder::new(64)))
            .await
            .unwrap();
        let m = |t: &str| hamlet_core::NewMemory::new("ada", MemoryKind::Chat, t, 0).importance(4);
        let ids = store
            .add_batch(vec![m("hello from async"), m("goodbye from async")])
            .await
            .unwrap();
        let hits = store
            .recall(&RecallQuery::new("hello", 1, 0).agent("ada"))
            .await
            .unwrap();
        assert_eq!(hits[0].record.id, ids[0]);
        store.flush().await.unwrap();
        let st = store.stats().await.unwrap();
        assert_eq!((st.vector_watermark, st.bm25_watermark), (ids[1], ids[1]));
    });
}
