//! The conformance suite of [`MemoryStream`]: what every implementation must do the same way.
//!
//! It runs on the test double ([`super::VecMemory`], in this crate's tests), on `hamlet-memory`'s
//! SQLite store (crates/memory/tests/conformance.rs), and is where a new backend (PostgreSQL)
//! starts. It asserts only what does not depend on how raw relevance is measured (cosine and
//! BM25, or shared words): validation, round trips, the filter, access times, the score's parts,
//! and orderings where the memories differ in one part only. Every stream is expected to run with
//! the default [`Scoring`] and to give unrated memories importance 5.

use crate::score::Scoring;
use crate::{MemoryError, MemoryKind, MemoryStream, NewMemory, RecallQuery, TimeMs};

const HOUR: TimeMs = 3_600_000;

/// Runs the whole suite; `open` gives a new, empty stream each time it is called.
pub fn memory_stream_suite(open: &mut dyn FnMut() -> Box<dyn MemoryStream>) {
    writes_round_trip(open().as_ref());
    invalid_memories_are_refused(open().as_ref());
    the_filter_is_recall_query_matches(open().as_ref());
    scores_are_the_shared_scoring(open().as_ref());
    one_part_better_ranks_higher(open().as_ref());
    recall_marks_accessed(open().as_ref());
}

fn writes_round_trip(s: &dyn MemoryStream) {
    let mut m =
        NewMemory::new("ada", MemoryKind::Chat, "Bob said hello at the well", HOUR).importance(7);
    m.expires = Some(100 * HOUR);
    m.metadata.insert("where".into(), "well".into());
    let a = s.add(m.clone()).expect("add");
    let b = s
        .add(NewMemory::new(
            "bob",
            MemoryKind::Plan,
            "Fix the roof",
            2 * HOUR,
        ))
        .expect("add");
    assert!(b > a, "ids increase: {a} then {b}");
    let batch = s
        .add_batch(vec![
            NewMemory::new("ada", MemoryKind::Observation, "first of a tick", 3 * HOUR)
                .importance(2),
            NewMemory::new("cy", MemoryKind::Reflection, "second of a tick", 3 * HOUR)
                .importance(9)
                .evidence([a, b]),
        ])
        .expect("add_batch");
    assert_eq!(batch.len(), 2);
    assert!(b < batch[0] && batch[0] < batch[1], "{batch:?}");
    assert!(s.add_batch(Vec::new()).expect("empty batch").is_empty());

    let got = s.get(a).expect("get").expect("stored");
    assert_eq!(
        (got.id, got.agent.as_str(), got.kind, got.text.as_str()),
        (a, "ada", MemoryKind::Chat, "Bob said hello at the well")
    );
    assert_eq!((got.created, got.last_accessed), (HOUR, HOUR));
    assert_eq!((got.importance, got.expires), (7, Some(100 * HOUR)));
    assert_eq!(got.metadata, m.metadata);
    assert_eq!(s.get(b).expect("get").expect("stored").importance, 5);
    let cited = s.get(batch[1]).expect("get").expect("stored");
    assert_eq!((cited.evidence, cited.importance), (vec![a, b], 9));
    assert!(s.get(batch[1] + 1000).expect("get").is_none());
}

fn invalid_memories_are_refused(s: &dyn MemoryStream) {
    let invalid = |m: NewMemory, says: &str| {
        let e = s.add(m).expect_err("refused");
        assert!(matches!(e, MemoryError::Invalid(_)), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    };
    invalid(NewMemory::new("ada", MemoryKind::Plan, "  ", 0), "empty");
    invalid(NewMemory::new(" ", MemoryKind::Plan, "x", 0), "agent");
    invalid(
        NewMemory::new("ada", MemoryKind::Plan, "x", 0).importance(11),
        "1 (mundane) to 10",
    );
    invalid(
        NewMemory::new("ada", MemoryKind::Plan, "x", 0).importance(0),
        "1 (mundane) to 10",
    );
    // A batch is stored whole or not at all.
    let e = s
        .add_batch(vec![
            NewMemory::new("ada", MemoryKind::Plan, "a lonely lighthouse", 0),
            NewMemory::new("ada", MemoryKind::Plan, "", 0),
        ])
        .expect_err("refused");
    assert!(matches!(e, MemoryError::Invalid(_)), "{e}");
    let hits = s
        .recall(&RecallQuery::new("lonely lighthouse", 5, HOUR))
        .expect("recall");
    assert!(hits.is_empty(), "half a batch was stored: {hits:?}");
}

fn the_filter_is_recall_query_matches(s: &dyn MemoryStream) {
    let mut all = Vec::new();
    for i in 0..30i64 {
        let agent = ["ada", "bob", "cy"][(i % 3) as usize];
        let kind = MemoryKind::ALL[(i % 5) as usize];
        let mut m = NewMemory::new(agent, kind, format!("bread loaf number {i}"), i * HOUR)
            .importance((i % 10 + 1) as u8);
        m.expires = (i % 4 == 0).then_some((i + 12) * HOUR);
        all.push(m);
    }
    let ids = s.add_batch(all.clone()).expect("add_batch");
    let base = |now| RecallQuery::new("bread loaf", 100, now);
    let queries = [
        base(40 * HOUR),
        base(40 * HOUR).agent("bob"),
        base(40 * HOUR).kinds([MemoryKind::Plan, MemoryKind::Chat]),
        base(40 * HOUR).window(Some(5 * HOUR), Some(20 * HOUR)),
        base(10 * HOUR),
        base(20 * HOUR)
            .agent("cy")
            .kinds([MemoryKind::Observation, MemoryKind::Reflection])
            .window(Some(HOUR), None),
        base(40 * HOUR).agent("nobody"),
        RecallQuery::new("", 100, 25 * HOUR).agent("ada"),
    ];
    for q in &queries {
        let mut want: Vec<i64> = ids
            .iter()
            .zip(&all)
            .filter(|(_, m)| q.matches(&m.agent, m.kind, m.created, m.expires))
            .map(|(id, _)| *id)
            .collect();
        let mut got: Vec<i64> = s
            .recall(q)
            .expect("recall")
            .iter()
            .map(|h| h.record.id)
            .collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{q:?}");
    }
    assert!(s.recall(&base(40 * HOUR)).expect("recall").len() > 1);
    let mut q = base(40 * HOUR);
    q.k = 0;
    assert!(s.recall(&q).expect("recall").is_empty());
    q.k = 3;
    assert_eq!(s.recall(&q).expect("recall").len(), 3);
}

fn scores_are_the_shared_scoring(s: &dyn MemoryStream) {
    let texts = [
        "the cafe opens at seven",
        "the river flooded the park path",
        "the library closes early on fridays",
        "bob repaired the cafe door",
    ];
    let batch = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            NewMemory::new("ada", MemoryKind::Observation, *t, i as i64 * HOUR)
                .importance(2 * i as u8 + 1)
        })
        .collect();
    s.add_batch(batch).expect("add_batch");
    let w = Scoring::default().weights;
    for text in ["cafe", "river park", "", "nothing like this at all"] {
        let hits = s
            .recall(&RecallQuery::new(text, 10, 10 * HOUR))
            .expect("recall");
        assert!(!hits.is_empty(), "{text:?}");
        assert!(
            hits.windows(2).all(|p| p[0].score >= p[1].score),
            "{text:?}"
        );
        for h in &hits {
            for part in [h.recency, h.importance, h.relevance] {
                assert!((0.0..=1.0).contains(&part), "{h:?}");
            }
            let want =
                w.recency * h.recency + w.importance * h.importance + w.relevance * h.relevance;
            assert!((h.score - want).abs() < 1e-4, "{h:?}");
            assert!(
                h.record.embedding.is_empty(),
                "recall leaves out embeddings"
            );
        }
    }
}

fn one_part_better_ranks_higher(s: &dyn MemoryStream) {
    let m = |agent: &str, text: &str, t: TimeMs, imp: u8| {
        NewMemory::new(agent, MemoryKind::Observation, text, t).importance(imp)
    };
    let ids = s
        .add_batch(vec![
            // Relevance: same time and importance, one shares the query's words.
            m("rel", "the cafe opens at seven", HOUR, 5),
            m("rel", "a storm flooded the river path", HOUR, 5),
            m("rel", "the library closes early", HOUR, 5),
            // Importance: same time, no text to be relevant to.
            m("imp", "ate toast", HOUR, 2),
            m("imp", "got engaged", HOUR, 9),
            // Recency: same importance, one created (so last accessed) later.
            m("rec", "walked the dog", HOUR, 5),
            m("rec", "watered the plants", 5 * HOUR, 5),
        ])
        .expect("add_batch");
    let top = |q: RecallQuery| s.recall(&q).expect("recall")[0].record.id;
    assert_eq!(
        top(RecallQuery::new("storm flooded the river", 3, 6 * HOUR).agent("rel")),
        ids[1]
    );
    assert_eq!(top(RecallQuery::new("", 2, 6 * HOUR).agent("imp")), ids[4]);
    assert_eq!(top(RecallQuery::new("", 2, 6 * HOUR).agent("rec")), ids[6]);
}

fn recall_marks_accessed(s: &dyn MemoryStream) {
    let m = |text: &str| NewMemory::new("ada", MemoryKind::Observation, text, 0).importance(5);
    let mut short = m("the bakery sells rye bread");
    short.expires = Some(5 * HOUR);
    let short = s.add(short).expect("add");
    let long = s.add(m("the bakery has a blue door")).expect("add");
    let other = s.add(m("the smithy is loud")).expect("add");
    let hits = s
        .recall(&RecallQuery::new("bakery", 2, 2 * HOUR))
        .expect("recall");
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.record.last_accessed == 2 * HOUR));
    for id in [short, long] {
        assert_eq!(
            s.get(id).expect("get").expect("stored").last_accessed,
            2 * HOUR
        );
    }
    assert_eq!(s.get(other).expect("get").expect("stored").last_accessed, 0);
    let later: Vec<i64> = s
        .recall(&RecallQuery::new("bakery", 2, 6 * HOUR).agent("ada"))
        .expect("recall")
        .iter()
        .map(|h| h.record.id)
        .collect();
    assert!(!later.contains(&short), "expired at 5 h: {later:?}");
    assert_eq!(later[0], long);
    // An older clock never moves last_accessed back.
    s.recall(&RecallQuery::new("bakery", 2, HOUR))
        .expect("recall");
    assert_eq!(
        s.get(long).expect("get").expect("stored").last_accessed,
        6 * HOUR
    );
}
