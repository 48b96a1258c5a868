//! Reflection and working memory on the real store, with a scripted LLM.

use std::sync::Arc;

use hamlet_core::testing::{HashEmbedder, ScriptedLlm, VecMemory};
use hamlet_core::{MemoryKind, MemoryStream, NewMemory};
use hamlet_memory::{MemoryConfig, MemoryStore, ReflectionConfig, WorkingMemory};

const HOUR: i64 = 3_600_000;

#[test]
fn reflection_writes_insights_citing_evidence_and_resets_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let llm = Arc::new(ScriptedLlm::new([
        r#"{"questions": ["What does Ada care about?"]}"#,
        r#"{"insights": [{"insight": "Ada cares about her garden", "because": [1, 2, 99]}, {"insight": "Ada is busy", "because": []}]}"#,
        r#"{"rating": 6}"#,
        r#"{"rating": 4}"#,
    ]));
    let store = MemoryStore::open_with(
        dir.path(),
        Arc::new(HashEmbedder::new(64)),
        Some(llm.clone()),
        MemoryConfig::default(),
    )
    .unwrap();
    let texts = [
        "Ada watered her garden at dawn",
        "Ada bought tulip bulbs for the garden",
        "Ada asked Bob to help build a garden fence",
    ];
    let ids = store
        .add_batch(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    NewMemory::new("ada", MemoryKind::Observation, *t, i as i64 * HOUR)
                        .importance(8)
                })
                .collect(),
        )
        .unwrap();
    let cfg = ReflectionConfig {
        threshold: 30,
        ..Default::default()
    };
    assert_eq!(store.importance_since_reflection("ada").unwrap(), 24);
    assert!(store
        .maybe_reflect("ada", 5 * HOUR, &cfg)
        .unwrap()
        .is_none());
    store
        .add(
            NewMemory::new(
                "ada",
                MemoryKind::Observation,
                "Ada won a prize for her garden roses",
                4 * HOUR,
            )
            .importance(9),
        )
        .unwrap();
    let r = store
        .maybe_reflect("ada", 5 * HOUR, &cfg)
        .unwrap()
        .expect("past the threshold");
    assert_eq!(r.questions, vec!["What does Ada care about?".to_string()]);
    assert_eq!(r.insights.len(), 2);
    let first = store.get(r.insights[0]).unwrap().unwrap();
    assert_eq!(first.kind, MemoryKind::Reflection);
    assert_eq!(first.text, "Ada cares about her garden");
    assert_eq!(first.importance, 6);
    assert_eq!(first.evidence.len(), 2, "statement 99 names nothing");
    let second = store.get(r.insights[1]).unwrap().unwrap();
    assert!(
        second.evidence.len() >= 3,
        "no numbers: rests on everything recalled"
    );
    for e in first.evidence.iter().chain(&second.evidence) {
        assert!(store.get(*e).unwrap().is_some());
        assert!(*e <= ids[2] + 1, "evidence is an earlier memory");
    }
    // Insights do not count towards the next reflection; the counter starts again.
    assert_eq!(store.importance_since_reflection("ada").unwrap(), 0);
    // The prompt showed the recent memories, oldest first.
    let reqs = llm.requests();
    let first_prompt = format!("{:?}", reqs[0].prompt);
    let a = first_prompt.find("watered").unwrap();
    let b = first_prompt.find("prize").unwrap();
    assert!(a < b);
}

#[test]
fn reflection_without_an_llm_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::open(dir.path(), Arc::new(HashEmbedder::new(16))).unwrap();
    let e = store
        .reflect("ada", 0, &ReflectionConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs an LLM"), "{e}");
}

#[test]
fn working_memory_summarises_into_long_term_on_overflow() {
    let long_term = Arc::new(VecMemory::new());
    let llm = Arc::new(ScriptedLlm::new([
        r#"{"summary": "Ada walked to the cafe and met Bob."}"#,
    ]));
    // ScriptedLlm counts whitespace-separated words as tokens.
    let mut wm = WorkingMemory::new("ada", 12, long_term.clone(), llm.clone());
    wm.summary_importance = Some(4);
    assert_eq!(wm.push("Ada left home", 0).unwrap(), None);
    assert_eq!(wm.push("Ada walked to the cafe", 1).unwrap(), None);
    assert_eq!(wm.used_tokens(), 8);
    let id = wm
        .push("Ada met Bob at the counter", 2)
        .unwrap()
        .expect("overflowed");
    assert!(wm.used_tokens() <= 12);
    assert_eq!(wm.items().last(), Some("Ada met Bob at the counter"));
    let stored = long_term.all();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].text, "Ada walked to the cafe and met Bob.");
    assert_eq!(stored[0].importance, 4);
    assert_eq!(stored[0].metadata["source"], "working_memory");
    let prompt = format!("{:?}", llm.requests()[0].prompt);
    assert!(prompt.contains("Ada left home"));
    assert!(wm.push("  ", 3).is_err());
}

#[test]
fn working_memory_flush_empties_the_buffer() {
    let long_term: Arc<dyn MemoryStream> = Arc::new(VecMemory::new());
    let llm = Arc::new(ScriptedLlm::new([r#"{"summary": ""}"#]));
    let mut wm = WorkingMemory::new("bob", 100, long_term.clone(), llm);
    wm.push("Bob baked bread", 0).unwrap();
    assert!(wm.flush(0).unwrap().is_some());
    assert_eq!(wm.used_tokens(), 0);
    assert_eq!(wm.flush(0).unwrap(), None);
    // An empty summary keeps the items verbatim rather than losing them.
    let got = long_term.get(1).unwrap().unwrap();
    assert_eq!(got.text, "Bob baked bread");
}
