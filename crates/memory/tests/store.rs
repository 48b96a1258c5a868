//! The store on its real parts (SQLite, tantivy, the embedded vector index) with the hashing
//! embedder: writes, filters, expiry, last-accessed, reopen, rebuild, errors, importance rating.

use std::sync::Arc;

use hamlet_core::testing::{HashEmbedder, ScriptedLlm};
use hamlet_core::{MemoryKind, MemoryStream, NewMemory, RecallQuery};
use hamlet_memory::{ImportanceRater, MemoryStore, Rated, SearchMode};

const HOUR: i64 = 3_600_000;

fn emb() -> Arc<HashEmbedder> {
    Arc::new(HashEmbedder::new(64))
}

fn seed(store: &MemoryStore) -> Vec<i64> {
    let m = |agent: &str, kind, text: &str, t: i64, imp: u8| {
        NewMemory::new(agent, kind, text, t * HOUR).importance(imp)
    };
    store
        .add_batch(vec![
            m(
                "ada",
                MemoryKind::Observation,
                "The cafe on Main Street opens at seven",
                1,
                3,
            ),
            m(
                "ada",
                MemoryKind::Chat,
                "Bob said the library closes early on Fridays",
                2,
                4,
            ),
            m(
                "ada",
                MemoryKind::Plan,
                "Paint the fence before the market on Saturday",
                3,
                5,
            ),
            m(
                "bob",
                MemoryKind::Observation,
                "The cafe ran out of bread this morning",
                4,
                2,
            ),
            m(
                "bob",
                MemoryKind::Reflection,
                "Ada seems to care a lot about her garden",
                5,
                7,
            ),
            m(
                "ada",
                MemoryKind::Observation,
                "A storm flooded the river path near the park",
                6,
                8,
            ),
        ])
        .unwrap()
}

#[test]
fn add_get_and_recall_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::open(dir.path().join("db"), emb()).unwrap();
    let ids = seed(&store);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let r = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(r.text, "The cafe on Main Street opens at seven");
    assert_eq!(r.embedding.len(), 64);
    assert_eq!(r.importance, 3);
    assert!(store.get(9999).unwrap().is_none());

    let now = 10 * HOUR;
    let hits = store.recall(&RecallQuery::new("cafe", 10, now)).unwrap();
    let hit_ids: Vec<i64> = hits.iter().map(|h| h.record.id).collect();
    assert!(hit_ids.contains(&ids[0]) && hit_ids.contains(&ids[3]));
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    for h in &hits {
        assert!((0.0..=1.0).contains(&h.recency) && (0.0..=1.0).contains(&h.importance));
        assert!(h.record.embedding.is_empty());
    }

    let ada = store
        .recall(&RecallQuery::new("cafe", 10, now).agent("ada"))
        .unwrap();
    assert!(ada.iter().all(|h| h.record.agent == "ada"));
    assert_eq!(ada[0].record.id, ids[0]);

    let plans = store
        .recall(&RecallQuery::new("fence market", 10, now).kinds([MemoryKind::Plan]))
        .unwrap();
    assert_eq!(
        plans.iter().map(|h| h.record.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );

    let mut q = RecallQuery::new("cafe bread library", 10, now);
    q.after = Some(2 * HOUR);
    q.before = Some(5 * HOUR);
    let window = store.recall(&q).unwrap();
    assert!(!window.is_empty());
    assert!(window
        .iter()
        .all(|h| (2 * HOUR..5 * HOUR).contains(&h.record.created)));

    // An empty query ranks the newest memories by recency and importance.
    let any = store
        .recall(&RecallQuery::new("", 3, now).agent("ada"))
        .unwrap();
    assert_eq!(any.len(), 3);
    assert_eq!(any[0].record.id, ids[5]);
}

#[test]
fn recall_marks_accessed_and_skips_expired() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::open(dir.path(), emb()).unwrap();
    let mut m = NewMemory::new(
        "ada",
        MemoryKind::Observation,
        "the bakery sells rye bread",
        0,
    )
    .importance(5);
    m.expires = Some(5 * HOUR);
    let short = store.add(m).unwrap();
    let long = store
        .add(
            NewMemory::new(
                "ada",
                MemoryKind::Observation,
                "the bakery has a blue door",
                0,
            )
            .importance(5),
        )
        .unwrap();
    let hits = store
        .recall(&RecallQuery::new("bakery", 5, 2 * HOUR))
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.record.last_accessed == 2 * HOUR));
    assert_eq!(store.get(short).unwrap().unwrap().last_accessed, 2 * HOUR);
    let later = store
        .recall(&RecallQuery::new("bakery", 5, 6 * HOUR))
        .unwrap();
    assert_eq!(
        later.iter().map(|h| h.record.id).collect::<Vec<_>>(),
        vec![long]
    );
    // Recalling with an older clock never moves last_accessed back.
    store.recall(&RecallQuery::new("bakery", 5, HOUR)).unwrap();
    assert_eq!(store.get(long).unwrap().unwrap().last_accessed, 6 * HOUR);
}

#[test]
fn reopen_and_rebuild_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let q = RecallQuery::new("cafe bread storm", 4, 10 * HOUR);
    let modes = |s: &MemoryStore| -> Vec<Vec<i64>> {
        SearchMode::ALL
            .iter()
            .map(|m| s.search(&q, *m).unwrap().into_iter().map(|h| h.0).collect())
            .collect()
    };
    let before = {
        let store = MemoryStore::open(dir.path(), emb()).unwrap();
        seed(&store);
        modes(&store)
    };
    let store = MemoryStore::open(dir.path(), emb()).unwrap();
    assert_eq!(modes(&store), before);
    let mut seen = Vec::new();
    let n = store
        .rebuild(&mut |done, total| seen.push((done, total)))
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(seen.last(), Some(&(6, 6)));
    assert_eq!(modes(&store), before);
    let st = store.stats().unwrap();
    assert_eq!(st.memories, 6);
    assert_eq!((st.vector_points, st.bm25_documents), (6, 6));
    assert_eq!(
        (st.vector_watermark, st.bm25_watermark),
        (st.newest_id, st.newest_id)
    );
    assert_eq!(st.by_agent["ada"]["observation"], 2);
}

#[test]
fn errors_say_what_and_how_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = MemoryStore::open(&file, emb()).unwrap_err().to_string();
    assert!(e.contains("a-file") && e.contains("directory"), "{e}");

    let store = MemoryStore::open(dir.path().join("db"), emb()).unwrap();
    let e = store
        .add(NewMemory::new("ada", MemoryKind::Plan, "  ", 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = store
        .add(NewMemory::new("ada", MemoryKind::Plan, "x", 0).importance(11))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 (mundane) to 10"), "{e}");
    drop(store);
    let e = MemoryStore::open(dir.path().join("db"), Arc::new(HashEmbedder::new(32)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("64") && e.contains("32") && e.contains("same embedding model"),
        "{e}"
    );
}

/// An observation of Ada's, unrated (importance 0: the rater decides).
fn seen(text: &str) -> NewMemory {
    NewMemory::new("ada", MemoryKind::Observation, text, 0)
}

#[test]
fn importance_is_rated_by_the_llm_once_per_memory() {
    let dir = tempfile::tempdir().unwrap();
    let llm = Arc::new(ScriptedLlm::new([r#"{"rating": 9}"#, r#"{"rating": 42}"#]));
    // The store never asks a model: the rating wrapper does, before the store sees the memory.
    let store = Rated::new(
        MemoryStore::open(dir.path(), emb()).unwrap(),
        ImportanceRater::new(llm.clone()),
    );
    let a = store.add(seen("Ada got engaged")).unwrap();
    let b = store.add(seen("Ada ate toast")).unwrap();
    let c = store.add(seen("Ada tied her shoes").importance(2)).unwrap();
    assert_eq!(store.get(a).unwrap().unwrap().importance, 9);
    assert_eq!(store.get(b).unwrap().unwrap().importance, 10, "clamped");
    assert_eq!(store.get(c).unwrap().unwrap().importance, 2);
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2, "no call when importance is given");
    assert!(reqs[0].json_schema.is_some());
    // With the scripted replies used up, rating falls back to the default rather than failing.
    let d = store.add(seen("Ada yawned")).unwrap();
    assert_eq!(store.get(d).unwrap().unwrap().importance, 5);
    assert_eq!(llm.requests().len(), 3, "one request per unrated memory");
}

#[test]
fn works_through_the_trait_object() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MemoryStream> = Arc::new(MemoryStore::open(dir.path(), emb()).unwrap());
    let id = store
        .add(
            NewMemory::new(
                "ada",
                MemoryKind::ToolResult,
                "the password is swordfish",
                0,
            )
            .importance(6),
        )
        .unwrap();
    let hits = store
        .recall(&RecallQuery::new("password", 1, HOUR).agent("ada"))
        .unwrap();
    assert_eq!(hits[0].record.id, id);
    assert!(store.get(id).unwrap().is_some());
    let ids = store
        .add_batch(vec![
            NewMemory::new("ada", MemoryKind::Observation, "first of a tick", HOUR).importance(1),
            NewMemory::new("bob", MemoryKind::Observation, "second of a tick", HOUR).importance(1),
        ])
        .unwrap();
    assert_eq!(ids, vec![id + 1, id + 2]);
    let e = store
        .add(NewMemory::new("", MemoryKind::Plan, "x", 0))
        .unwrap_err();
    assert!(matches!(e, hamlet_core::MemoryError::Invalid(_)), "{e}");
}

#[test]
fn many_threads_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::open(dir.path(), emb()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let agent = format!("agent{t}");
                    let text = format!("{agent} noticed item {i} near the fountain");
                    store
                        .add(
                            NewMemory::new(&agent, MemoryKind::Observation, text, i * HOUR)
                                .importance(3),
                        )
                        .unwrap();
                    let hits = store
                        .recall(&RecallQuery::new("fountain", 3, (i + 1) * HOUR).agent(&agent))
                        .unwrap();
                    assert!(!hits.is_empty() && hits.iter().all(|h| h.record.agent == agent));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let st = store.stats().unwrap();
    assert_eq!(
        (st.memories, st.vector_points, st.bm25_documents),
        (100, 100, 100)
    );
}

#[test]
fn works_inside_a_tokio_runtime() {
    // An async caller (e.g. a server) calling the blocking API from a runtime thread.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = MemoryStore::open(dir.path(), emb()).unwrap();
        let id = store
            .add(NewMemory::new("ada", MemoryKind::Chat, "hello from async", 0).importance(2))
            .unwrap();
        assert_eq!(
            store.recall(&RecallQuery::new("hello", 1, 0)).unwrap()[0]
                .record
                .id,
            id
        );
    });
}

#[test]
fn a_snapshot_reopens_to_the_same_answers_even_with_many_ties() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let store = MemoryStore::open(&live, emb()).unwrap();
    // Many small commits (many index segments) and 40 identical texts: more equal BM25 scores
    // than the search's over-fetch window.
    for t in 0..30 {
        let batch = (0..2)
            .map(|j| {
                let text = if (t + j) % 3 == 0 {
                    format!("Ann bakes bread number {t}")
                } else {
                    "Ann is idle at the cafe".to_string()
                };
                NewMemory::new("ann", MemoryKind::Observation, text, t * HOUR).importance(3)
            })
            .collect();
        store.add_batch(batch).unwrap();
        if t % 7 == 0 {
            store
                .recall(&RecallQuery::new("idle cafe", 3, t * HOUR).agent("ann"))
                .unwrap();
        }
    }
    // The BM25 ties are broken by id (newest first), whatever the segments.
    let q = RecallQuery::new("idle cafe", 5, 40 * HOUR).agent("ann");
    let bm25: Vec<i64> = store
        .search(&q, SearchMode::Bm25)
        .unwrap()
        .into_iter()
        .map(|h| h.0)
        .collect();
    let mut idle: Vec<i64> = (1..=60)
        .filter(|id| store.get(*id).unwrap().unwrap().text.contains("idle"))
        .collect();
    idle.reverse();
    assert_eq!(bm25, idle[..5]);

    let snap = dir.path().join("snap");
    store.snapshot_to(&snap).unwrap();
    assert!(
        store.snapshot_to(&snap).is_err(),
        "a snapshot never overwrites"
    );
    let queries = ["idle cafe", "bread", "Ann bakes", "nothing matches this"];
    let answers = |s: &MemoryStore| -> Vec<Vec<hamlet_core::Recalled>> {
        queries
            .iter()
            .enumerate()
            .map(|(n, text)| {
                s.recall(&RecallQuery::new(*text, 6, (50 + n as i64) * HOUR).agent("ann"))
                    .unwrap()
            })
            .collect()
    };
    let from_live = answers(&store);
    // The live store moves on; the snapshot does not.
    store
        .add(NewMemory::new(
            "ann",
            MemoryKind::Observation,
            "Ann is idle at the cafe",
            45 * HOUR,
        ))
        .unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&snap).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let restored = MemoryStore::open(&copy, emb()).unwrap();
    assert_eq!(answers(&restored), from_live);
}

/// A damaged database used to be reported as "opening (is the path writable?)".
#[test]
fn a_file_that_is_not_a_database_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("memory.sqlite"), vec![0x5au8; 8192]).unwrap();
    let e = MemoryStore::open(dir.path(), emb())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not an SQLite database") && !e.contains("writable"),
        "{e}"
    );
}

/// `last_accessed` of memory `id` as the SQLite file holds it, read on a connection of its own.
fn stored_access_time(db: &std::path::Path, id: i64) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar::<_, i64>("SELECT last_accessed FROM memories WHERE id = ?")
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

#[test]
fn access_times_are_held_in_memory_and_written_back_with_the_next_insert_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.sqlite");
    let store = MemoryStore::open(dir.path(), emb()).unwrap();
    let m = |text: &str| NewMemory::new("ada", MemoryKind::Observation, text, 0).importance(5);
    let first = store.add(m("the bakery sells rye bread")).unwrap();
    store
        .recall(&RecallQuery::new("bakery", 5, 2 * HOUR))
        .unwrap();
    // The recall's access time is in memory: reads and scoring see it, the file not yet.
    assert_eq!(store.get(first).unwrap().unwrap().last_accessed, 2 * HOUR);
    assert_eq!(stored_access_time(&db, first), 0);
    // The next insert writes it in its own transaction.
    store.add(m("the bakery has a blue door")).unwrap();
    assert_eq!(stored_access_time(&db, first), 2 * HOUR);
    store
        .recall(&RecallQuery::new("bakery", 5, 4 * HOUR))
        .unwrap();
    drop(store);
    assert_eq!(stored_access_time(&db, first), 4 * HOUR);
    let reopened = MemoryStore::open(dir.path(), emb()).unwrap();
    assert_eq!(
        reopened.get(first).unwrap().unwrap().last_accessed,
        4 * HOUR
    );
}
