//! Crash safety: a child process (this test binary, re-executed) writes memories and aborts right
//! after an SQLite commit, before the index commits. On reopen nothing committed is lost and the
//! repaired indexes answer exactly as a clean rebuild does.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use hamlet_core::testing::HashEmbedder;
use hamlet_core::{MemoryKind, NewMemory, RecallQuery};
use hamlet_memory::{DerivedIndex, FlatIndex, MemoryStore, SearchMode};

const CHILD_ENV: &str = "HAMLET_MEMORY_CRASH_CHILD_DIR";
const TOPICS: [&str; 5] = [
    "cafe bread",
    "river storm",
    "library books",
    "garden fence",
    "market honey",
];

fn text(i: usize) -> String {
    format!("memory {i} about the {} in town", TOPICS[i % TOPICS.len()])
}

fn memory(i: usize) -> NewMemory {
    let agent = ["ada", "bob"][i % 2];
    NewMemory::new(agent, MemoryKind::Observation, text(i), i as i64 * 60_000)
        .importance((i % 10 + 1) as u8)
}

fn open(dir: &Path) -> MemoryStore {
    MemoryStore::open(dir, Arc::new(HashEmbedder::new(64))).unwrap()
}

/// In the child: 20 memories committed everywhere, 10 more committed to SQLite with the index
/// changes still pending, then one more whose SQLite commit is followed by `abort()`.
fn child(dir: &Path) {
    let store = open(dir);
    store.add_batch((1..=20).map(memory).collect()).unwrap();
    store.flush().unwrap();
    for i in 21..=30 {
        store.add(memory(i)).unwrap();
    }
    hamlet_memory::abort_after_sqlite_commit_for_tests(true);
    store.add(memory(31)).unwrap();
    unreachable!("the hook aborts the process");
}

fn answers(store: &MemoryStore) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for topic in TOPICS {
        for agent in [None, Some("ada")] {
            let mut q = RecallQuery::new(topic, 8, 100 * 60_000);
            q.agent = agent.map(String::from);
            for mode in SearchMode::ALL {
                out.push(
                    store
                        .search(&q, mode)
                        .unwrap()
                        .into_iter()
                        .map(|h| h.0)
                        .collect(),
                );
            }
        }
    }
    out
}

#[test]
fn crash_between_sqlite_and_index_commits() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_between_sqlite_and_index_commits",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");

    // The crash left the vector index behind SQLite.
    {
        let vectors = FlatIndex::open(&dir.join("vectors"), 64).unwrap();
        assert_eq!(vectors.watermark().unwrap(), 20);
        assert_eq!(vectors.len().unwrap(), 20);
    }

    // Reopen: every memory committed to SQLite is there, the indexes are repaired.
    let store = open(&dir);
    for i in 1..=31 {
        let r = store
            .get(i as i64)
            .unwrap()
            .unwrap_or_else(|| panic!("memory {i} lost"));
        assert_eq!(r.text, text(i));
    }
    let st = store.stats().unwrap();
    assert_eq!(st.memories, 31);
    assert_eq!((st.vector_points, st.bm25_documents), (31, 31));
    assert_eq!((st.vector_watermark, st.bm25_watermark), (31, 31));
    let repaired = answers(&store);
    assert!(
        repaired.iter().any(|ids| ids.iter().any(|&id| id > 20)),
        "repaired rows are searchable"
    );

    // The repaired indexes answer exactly as a clean rebuild.
    store.rebuild(&mut |_, _| {}).unwrap();
    assert_eq!(answers(&store), repaired);

    // And the store keeps working after the crash.
    let id = store.add(memory(32)).unwrap();
    assert_eq!(id, 32);
}
