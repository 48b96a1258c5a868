//! The default agent model (Qwen2.5-Coder-1.5B) doing real work end to end: the README's goal,
//! and tasks of the suite. These are the few real-model tests that need the capable model; the
//! loop's mechanics are tested on SmolLM2-135M and scripted models elsewhere.
//!
//! Needs `hamlet models pull qwen2.5-coder-1.5b` (scripts/test.sh does it).

mod common;

use common::{eval_tasks_args, hamlet_default_model, run_args, stderr, stdout, task_results};

fn need_default_model() {
    if let Err(e) = hamlet_models::ModelCache::open_default().resolve("qwen2.5-coder-1.5b") {
        panic!(
            "the default agent model is missing ({e}); run `hamlet models pull qwen2.5-coder-1.5b`"
        );
    }
}

#[test]
fn the_readme_goal_is_solved_by_the_default_model() {
    need_default_model();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    for f in ["notes.txt", "README.md"] {
        let from = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workspace/").to_string() + f;
        std::fs::copy(from, ws.join(f)).unwrap();
    }
    let run_dir = dir.path().join("run");
    let goal = "Read notes.txt and write the day of the launch review meeting to answer.txt.";
    let o = hamlet_default_model(&run_args(&ws, &run_dir, goal, &["--max-steps", "6"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let answer = std::fs::read_to_string(ws.join("answer.txt"))
        .unwrap_or_else(|e| panic!("no answer.txt ({e}):\n{}", stdout(&o)));
    assert!(answer.contains("Thursday"), "{answer:?}\n{}", stdout(&o));
    let trace = hamlet_agent::trace::read(&run_dir).unwrap();
    let Some(hamlet_core::trace::TraceEvent::End(end)) = trace.events.last() else {
        panic!("no end event")
    };
    assert_eq!(
        end.reason,
        hamlet_core::trace::StopReason::Finished,
        "{end:?}"
    );
}

#[test]
fn suite_tasks_pass_on_the_default_model() {
    need_default_model();
    let dir = tempfile::tempdir().unwrap();
    let args = eval_tasks_args(&["copy_file", "answer_from_doc"], dir.path(), &[]);
    let o = hamlet_default_model(&args).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let results = task_results(dir.path());
    assert_eq!(results.len(), 2, "{}", stdout(&o));
    for r in &results {
        assert_eq!(r["passed"], true, "{r}\n{}", stdout(&o));
        assert_eq!(r["stop"], "finished", "{r}");
    }
}
