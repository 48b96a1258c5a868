//! `hamlet run` and `hamlet eval tasks` end to end with the real default model, and the agent
//! loop's remember/recall on the real memory store.

use std::sync::Arc;

use hamlet_agent::{AgentSpec, Prompts, Runner};
use hamlet_core::testing::ScriptedLlm;
use hamlet_core::trace::{StopReason, TraceEvent};
use hamlet_tools::{Policy, ToolContext, Workspace};
use serde_json::json;

mod common;
use common::{assert_one_line_error, eval_tasks_args, hamlet, run_args, task_results, text};

#[test]
fn run_pursues_a_goal_with_the_real_model_and_leaves_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "The meeting is on Tuesday.").unwrap();
    let run_dir = dir.path().join("run");
    let goal = "Read notes.txt and say which day the meeting is.";
    let o = hamlet(&run_args(&ws, &run_dir, goal, &["--max-steps", "3"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("── step 1 ──") && out.contains("action:") && out.contains("observation:"),
        "{out}"
    );
    let trace = hamlet_agent::trace::read(&run_dir).unwrap();
    assert!(matches!(trace.events.first(), Some(TraceEvent::Start(_))));
    let Some(TraceEvent::End(end)) = trace.events.last() else {
        panic!("no end event")
    };
    // The 135M model may or may not finish; the runtime must stop cleanly either way.
    assert!(end.step <= 3, "{end:?}");
    // Every step's action was a valid, allowed action (grammar-constrained).
    for e in &trace.events {
        if let TraceEvent::Step(s) = e {
            let a = s
                .action
                .as_ref()
                .unwrap_or_else(|| panic!("invalid action from the constrained model: {}", s.raw));
            assert!(
                AgentSpec::default_agent().tools.contains(&a.tool),
                "{}",
                a.tool
            );
        }
    }
}

#[test]
fn eval_tasks_runs_two_tasks_with_the_real_model() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = ["write_hello", "agb_read_file"];
    let o = hamlet(&eval_tasks_args(&tasks, dir.path(), &["--max-steps", "3"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("write_hello") && out.contains("agb_read_file") && out.contains("passed "),
        "{out}"
    );
    let tasks = task_results(dir.path());
    assert_eq!(tasks.len(), 2);
    for r in &tasks {
        assert!(r["steps"].as_u64().unwrap() <= 3, "{r}");
        assert!(r["stop"].is_string(), "{r}");
    }
}

#[test]
fn run_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nrole = \"r\"\ntools = [\"read_fil\"]\n").unwrap();
    let o = hamlet(&[
        "run",
        "--goal",
        "g",
        "--agent",
        bad.to_str().unwrap(),
        "--yes",
    ]);
    assert_one_line_error(&o, "bad.toml:3");
    let o = hamlet(&["run", "--resume", dir.path().to_str().unwrap(), "--yes"]);
    assert_one_line_error(&o, "run folder");
    // approval needs a terminal; tests have none
    let o = hamlet(&[
        "run",
        "--goal",
        "g",
        "--run-dir",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_one_line_error(&o, "--yes");
    let o = hamlet(&["run", "--goal", "g", "--yes", "x"]);
    assert_one_line_error(&o, "--yes");
    // the command line's overrides are held to the agent file's rules
    let o = hamlet(&["run", "--goal", "g", "--yes", "--max-steps", "0"]);
    assert_one_line_error(&o, "--max-steps: field `budgets.max-steps`");
    // and so is the agent a run folder keeps, when the run is resumed
    let edited = dir.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    let agent = "name = \"x\"\nrole = \"r\"\ntools = []\n[budgets]\nmax-steps = 0\n";
    std::fs::write(edited.join("agent.toml"), agent).unwrap();
    let o = hamlet(&["run", "--resume", edited.to_str().unwrap(), "--yes"]);
    assert_one_line_error(&o, "agent.toml:5: field `budgets.max-steps`");
}

#[test]
fn remember_and_recall_go_through_the_real_memory_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = hamlet_models::ModelCache::open_default()
        .resolve("minilm")
        .expect("run `hamlet models pull minilm`");
    let mut c = hamlet_llm::EmbedConfig::new(&path);
    c.threads = 1;
    let embedder = Arc::new(hamlet_llm::LlamaEmbedder::load(c).unwrap());
    let store =
        Arc::new(hamlet_memory::MemoryStore::open(dir.path().join("mem"), embedder).unwrap());
    let mut spec = AgentSpec::default_agent();
    spec.tools
        .extend(["remember".to_string(), "recall".to_string()]);
    spec.budgets.reflect_every = 0;
    let prompts = Prompts::builtin();
    let act = |tool: &str, args: serde_json::Value| {
        json!({"thoughts": {"reasoning": "", "plan": "", "criticism": ""}, "tool": tool, "args": args}).to_string()
    };
    let ctx = || {
        ToolContext::new(
            Workspace::new(dir.path().join("ws")).unwrap(),
            Policy::default(),
        )
        .with_memory(store.clone(), "ada")
    };
    // first run: remember two facts
    let llm = ScriptedLlm::new([
        act(
            "remember",
            json!({"text": "The spare key is under the blue flowerpot.", "importance": 8}),
        ),
        act(
            "remember",
            json!({"text": "The bakery closes at six.", "importance": 3}),
        ),
        act("finish", json!({"answer": "noted"})),
    ]);
    let out = Runner::new(spec.clone(), &llm, &prompts, ctx())
        .start(&dir.path().join("run1"), "note facts")
        .unwrap();
    assert_eq!(out.end.reason, StopReason::Finished);
    // a later run recalls by meaning, from the durable store
    let llm = ScriptedLlm::new([
        act(
            "recall",
            json!({"query": "where is the key to the house?", "k": 1}),
        ),
        act("finish", json!({"answer": "under the flowerpot"})),
    ]);
    Runner::new(spec, &llm, &prompts, ctx())
        .start(&dir.path().join("run2"), "find the key")
        .unwrap();
    let trace = hamlet_agent::trace::read(&dir.path().join("run2")).unwrap();
    let TraceEvent::Step(s) = &trace.events[1] else {
        panic!()
    };
    assert!(
        s.observation.text.contains("flowerpot") && !s.observation.text.contains("bakery"),
        "{}",
        s.observation.text
    );
}

/// A run folder is data: its agent.toml edited to allow more than the agent the run was started
/// with (here a private network) is refused on resume, unless the user vouches for it.
#[test]
fn a_resume_may_not_widen_what_the_agent_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let run_dir = dir.path().join("run");
    let o = hamlet(&run_args(
        &ws,
        &run_dir,
        "Say hello.",
        &["--max-steps", "1"],
    ));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let spec = run_dir.join("agent.toml");
    let saved = std::fs::read_to_string(&spec).unwrap();
    let widened = if saved.contains("allow-private = false") {
        saved.replace("allow-private = false", "allow-private = true")
    } else {
        format!("{saved}\n[network]\nallow-private = true\n")
    };
    std::fs::write(&spec, widened).unwrap();
    let resume = |extra: &[&str]| {
        let mut args = vec!["run", "--resume", run_dir.to_str().unwrap(), "--yes"];
        args.extend(extra);
        hamlet(&args)
    };
    let o = resume(&[]);
    assert_one_line_error(
        &o,
        "allows more than the built-in agent does (private network addresses)",
    );
    let o = resume(&["--trust-run-folder"]);
    assert!(
        !text(&o.stderr).contains("allows more than"),
        "{}",
        text(&o.stderr)
    );
}
