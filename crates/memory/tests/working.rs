//! Working memory with a scripted LLM, summarising into a memory stream.

use std::sync::Arc;

use hamlet_core::testing::{ScriptedLlm, VecMemory};
use hamlet_core::MemoryStream;
use hamlet_memory::WorkingMemory;

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
