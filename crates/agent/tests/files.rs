//! The shipped agent files, prompt templates and task suite load and render.

use std::path::Path;

use hamlet_agent::tasks::{load_suite, Task};
use hamlet_agent::{AgentSpec, Prompts};
use hamlet_core::trace::{ObservationStatus, RunStart, StepRecord, Usage};
use hamlet_tools::Registry;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn every_shipped_agent_file_validates() {
    let names = Registry::builtin_names();
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("agents")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = AgentSpec::load(&path, &names).unwrap_or_else(|e| panic!("{e}"));
            assert!(spec.tools.contains(&"finish".to_string()));
            n += 1;
        }
    }
    assert!(n >= 3, "ship at least three agents, found {n}");
}

#[test]
fn every_template_renders_with_the_values_the_loop_passes() {
    let prompts = Prompts::builtin();
    let spec = AgentSpec::default_agent();
    let registry = Registry::builtin();
    let system =
        hamlet_agent::history::system_prompt(&prompts, &spec, &registry, "count the files")
            .unwrap();
    assert!(
        system.contains("count the files") && system.contains("read_file {\"path\": string}"),
        "{system}"
    );
    let start = RunStart {
        goal: "g".into(),
        tools: spec.tools.clone(),
        intro: "a.txt (3 bytes)".into(),
        parent: None,
        ..RunStart::default()
    };
    let step = StepRecord {
        step: 1,
        at: 0,
        prompt: vec![],
        raw: "{}".into(),
        action: None,
        observation: hamlet_agent::history::truncate(ObservationStatus::Invalid, "bad".into(), 100),
        usage: Usage::default(),
    };
    let turns = [hamlet_agent::history::Turn::Step(&step)];
    for folded in [0, 1] {
        let msgs =
            hamlet_agent::history::build(&prompts, &spec, &system, &start, &turns, folded).unwrap();
        assert!(msgs.iter().all(|m| !m.content.trim().is_empty()));
    }
    let reflect =
        hamlet_agent::history::reflect_message(&prompts, &spec, "g", "every 5 steps", 5).unwrap();
    assert!(reflect.contains("every 5 steps"));
}

#[test]
fn a_users_template_directory_overrides_the_builtin_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("agent")).unwrap();
    std::fs::write(
        dir.path().join("agent/reflect.j2"),
        "THINK AGAIN about {{ goal }}",
    )
    .unwrap();
    let prompts = Prompts::load(Some(dir.path())).unwrap();
    let spec = AgentSpec::default_agent();
    assert_eq!(
        hamlet_agent::history::reflect_message(&prompts, &spec, "g", "r", 1).unwrap(),
        "THINK AGAIN about g"
    );
    std::fs::write(dir.path().join("agent/step.j2"), "{% if %}").unwrap();
    let err = Prompts::load(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("step.j2"), "{err}");
}

#[test]
fn the_task_suite_loads_both_formats() {
    let tasks = load_suite(&repo().join("tests/tasks")).unwrap();
    assert!(tasks.len() >= 12, "{} tasks", tasks.len());
    let agb = tasks.iter().find(|t| t.name == "agb_read_file").unwrap();
    assert!(agb.skip.is_none());
    assert_eq!(agb.check.contains, ["Hello World!"]);
    assert!(agb
        .files
        .as_ref()
        .unwrap()
        .join("file_to_read.txt")
        .exists());
    let py = tasks.iter().find(|t| t.name == "agb_python_check").unwrap();
    assert!(py.skip.is_none(), "agbenchmark python checks run now");
    for t in &tasks {
        assert!(!t.goal.trim().is_empty(), "{}", t.name);
    }
}

#[test]
fn bad_task_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("task.toml"), "goal = \"x\"\n[check]\n").unwrap();
    let e = Task::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("always passes"), "{e}");
    std::fs::write(
        dir.path().join("task.toml"),
        "goal = \"x\"\nmax-step = 3\n[check]\ncontains = [\"a\"]\n",
    )
    .unwrap();
    let e = Task::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("max-step") && e.contains("line 2"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(Task::load(empty.path())
        .unwrap_err()
        .to_string()
        .contains("task.toml"));
}
