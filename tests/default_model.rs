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

/// A temporary folder with an empty workspace `ws` in it, once the model is there.
fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    need_default_model();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    (dir, ws)
}

#[test]
fn the_readme_goal_is_solved_by_the_default_model() {
    let (dir, ws) = workspace();
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

#[test]
fn a_lead_delegates_to_a_writer_on_the_default_model() {
    let (dir, ws) = workspace();
    let lead = dir.path().join("lead.toml");
    std::fs::write(
        &lead,
        "name = \"lead\"\nrole = \"a lead who hands writing to the writer sub-agent, then reads what it wrote\"\ntools = [\"list_dir\", \"read_file\", \"delegate\"]\n[budgets]\nmax-steps = 12\n[delegate]\nagents = [\"writer.toml\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("writer.toml"),
        "name = \"writer\"\nrole = \"a writer who writes short texts to files\"\ntools = [\"write_file\"]\n[budgets]\nmax-steps = 5\n",
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let goal = "Use the writer sub-agent to write a short poem about rain to a file. Then read the poem it wrote and finish with the poem as your answer.";
    let extra = ["--agent", lead.to_str().unwrap()];
    let o = hamlet_default_model(&run_args(&ws, &run_dir, goal, &extra))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    use hamlet_core::trace::{StopReason, TraceEvent};
    let parent = hamlet_agent::trace::read(&run_dir).unwrap().events;
    let Some(d) = parent.iter().find_map(|e| match e {
        TraceEvent::Delegate(d) => Some(d),
        _ => None,
    }) else {
        panic!("the lead never delegated:\n{}", stdout(&o))
    };
    assert_eq!(d.child.agent, "writer");
    let child = hamlet_agent::trace::read(&run_dir.join(&d.child.run_dir))
        .unwrap()
        .events;
    let TraceEvent::Start(start) = &child[0] else {
        panic!()
    };
    assert_eq!(start.parent.as_ref().map(|p| p.step), Some(d.step));
    let ended = |events: &[TraceEvent]| match events.last() {
        Some(TraceEvent::End(end)) => end.reason,
        other => panic!("no end: {other:?}"),
    };
    assert_eq!(ended(&child), StopReason::Finished, "{}", stdout(&o));
    assert_eq!(ended(&parent), StopReason::Finished, "{}", stdout(&o));
    // The poem is a file in the writer's subfolder.
    let folder = ws.join(&d.child.workspace);
    let poem = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .find(|t| !t.trim().is_empty())
        .unwrap_or_else(|| panic!("nothing written in {}:\n{}", folder.display(), stdout(&o)));
    assert!(poem.to_lowercase().contains("rain"), "{poem:?}");
    // The run's printout shows the child's steps under the lead's.
    assert!(stdout(&o).contains("    │ "), "{}", stdout(&o));
}
