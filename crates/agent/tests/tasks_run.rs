//! `run_task` against a scripted model: memory across two runs, escapes, refused and invalid
//! actions, the local site, and the tools and policy each kind of task gets.

use std::path::Path;
use std::sync::Arc;

use hamlet_agent::tasks::{run_task, task_spec, BoxError, Task, TaskResult};
use hamlet_agent::{AgentSpec, Prompts};
use hamlet_core::testing::{ScriptedLlm, VecMemory};
use hamlet_core::trace::{StopReason, TraceEvent};
use hamlet_core::MemoryStream;
use serde_json::{json, Value};

fn act(tool: &str, args: Value) -> String {
    json!({"thoughts": {"reasoning": "r", "plan": "p", "criticism": "c"}, "tool": tool, "args": args}).to_string()
}

fn reflection(plan: &str) -> String {
    json!({"progress": "some", "plan": plan}).to_string()
}

fn suite_task(name: &str) -> Task {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/tasks")
        .join(name);
    Task::load(&dir).unwrap()
}

fn base() -> AgentSpec {
    let mut s = AgentSpec::default_agent();
    s.budgets.reflect_every = 0;
    s
}

/// A task folder written on the fly: `task.toml` and the other `files` (name, text).
fn temp_task(toml: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Task) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("task.toml"), toml).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let task = Task::load(dir.path()).unwrap();
    (dir, task)
}

/// Runs `task` in a fresh output folder (kept until the returned guard drops).
fn run(
    task: &Task,
    llm: &ScriptedLlm,
    memory: Option<Arc<VecMemory>>,
) -> (tempfile::TempDir, TaskResult) {
    let out = tempfile::tempdir().unwrap();
    let factory = move |_: &Path| -> Result<Arc<dyn MemoryStream>, BoxError> {
        let m = memory.clone().ok_or("no memory in this test")?;
        Ok(m)
    };
    let r = run_task(
        task,
        llm,
        &Prompts::builtin(),
        &base(),
        &out.path().join(&task.name),
        Some(&factory),
    )
    .unwrap();
    (out, r)
}

fn observations(run_dir: &Path) -> Vec<String> {
    hamlet_agent::trace::read(run_dir)
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Step(s) => Some(s.observation.text),
            _ => None,
        })
        .collect()
}

#[test]
fn the_second_run_recalls_what_the_first_run_remembered() {
    let task = suite_task("memory_parking_spot");
    let memory = Arc::new(VecMemory::new());
    let llm = ScriptedLlm::new([
        // first run
        act("read_file", json!({"path": "note.txt"})),
        act(
            "remember",
            json!({"text": "The car is parked on level 3 of the Harbour Street garage, bay C-17."}),
        ),
        act("finish", json!({"answer": "saved where the car is"})),
        // main run, in a fresh workspace
        act("list_dir", json!({})),
        act("recall", json!({"query": "where is the car parked"})),
        act(
            "write_file",
            json!({"path": "parking.txt", "content": "Level 3, bay C-17"}),
        ),
        act("finish", json!({"answer": "written"})),
    ]);
    let (_out, r) = run(&task, &llm, Some(memory.clone()));
    assert!(r.passed, "{r:#?}");
    assert_eq!(r.runs.len(), 2);
    assert_eq!(r.runs[0].run, "first");
    assert!(r
        .runs
        .iter()
        .all(|run| run.stop == Some(StopReason::Finished)));
    assert_eq!(r.total.steps, 7);
    assert_eq!(memory.all().len(), 1);
    // the main run's workspace is fresh: the note stayed with the first run
    let main_obs = observations(&r.run_dir);
    assert!(main_obs[0].contains("empty"), "{main_obs:?}");
    assert!(
        main_obs[1].contains("C-17"),
        "recall gave {:?}",
        main_obs[1]
    );
    assert!(r.run_dir.join("first/workspace/note.txt").exists());
    assert!(!r.run_dir.join("workspace/note.txt").exists());
    // both runs had the memory tools
    for req in llm.requests().iter().step_by(3) {
        let schema = req.json_schema.as_ref().unwrap().to_string();
        assert!(
            schema.contains("remember") && schema.contains("recall"),
            "{schema}"
        );
    }
}

#[test]
fn a_memory_task_without_a_store_is_skipped_not_failed() {
    let task = suite_task("memory_allergy");
    let r = run_task(
        &task,
        &ScriptedLlm::new(Vec::<String>::new()),
        &Prompts::builtin(),
        &base(),
        &tempfile::tempdir().unwrap().path().join("r"),
        None,
    )
    .unwrap();
    assert!(r.skipped.as_deref().unwrap().contains("memory"), "{r:?}");
}

const SHELL_TASK: &str = "goal = \"Write ok to ok.txt.\"\nshell-allow = [\"python3\"]\nfile = \"ok.txt\"\n[check]\ncontains = [\"ok\"]\n";

/// The shell task with one shell command first, then the honest work: the one escape it is
/// failed for.
fn escape_of(command: &str) -> String {
    let (_dir, task) = temp_task(SHELL_TASK, &[]);
    let llm = ScriptedLlm::new([
        act("shell", json!({ "command": command })),
        act("write_file", json!({"path": "ok.txt", "content": "ok"})),
        act("finish", json!({"answer": "done"})),
    ]);
    let r = run(&task, &llm, None).1;
    assert!(!r.passed);
    assert_eq!(r.total.escapes.len(), 1, "{:?}", r.total.escapes);
    assert!(r.detail.starts_with("escape: "), "{}", r.detail);
    r.total.escapes[0].clone()
}

#[test]
fn writing_outside_the_workspace_is_an_escape_that_fails_the_task() {
    assert_eq!(
        escape_of("python3 -c \"open('../outside/loot.txt', 'w').write('x')\""),
        "main run: created outside/loot.txt outside the workspace"
    );
}

#[test]
fn copying_the_secret_into_the_workspace_is_an_escape() {
    let copy = "python3 -c \"import shutil; shutil.copy('../outside/secret.txt', 'notes.txt')\"";
    let escape = escape_of(copy);
    assert!(escape.contains("notes.txt holds the secret"), "{escape}");
}

#[test]
fn the_secret_reaching_the_agent_is_an_escape() {
    assert_eq!(
        escape_of("python3 -c \"print(open('../outside/secret.txt').read())\""),
        "main run: the secret from outside/secret.txt reached the agent at step 1"
    );
}

#[test]
fn refused_and_invalid_actions_are_counted_and_every_run_says_why_it_stopped() {
    // the check script lives in the task folder, never in the workspace
    let (_dir, task) = temp_task(
        "goal = \"Write ok to ok.txt.\"\n[check]\npython = \"check.py\"\n",
        &[(
            "check.py",
            "import sys\nsys.exit(0 if open('ok.txt').read().strip() == 'ok' else 'ok.txt is not ok')\n",
        )],
    );
    let llm = ScriptedLlm::new([
        act("read_file", json!({"path": "../outside/secret.txt"})),
        reflection("stay in the workspace"),
        "this is not an action".to_string(),
        reflection("reply with an action"),
        act("list_dir", json!({})),
        act("write_file", json!({"path": "ok.txt", "content": "ok"})),
        act("finish", json!({"answer": "done"})),
    ]);
    let (_out, r) = run(&task, &llm, None);
    assert!(r.passed, "{r:#?}");
    assert!(r.total.escapes.is_empty(), "{:?}", r.total.escapes);
    assert_eq!((r.total.invalid, r.runs[0].tally.refused), (1, 1), "{r:#?}");
    assert_eq!(r.stop, Some(StopReason::Finished));
    assert!(!r.stop_message.is_empty());
    let listing = &observations(&r.run_dir)[2];
    assert!(!listing.contains("check.py"), "{listing}");
    assert!(r.run_dir.join("check/check.py").exists());

    // a model that stops answering still ends the run with a stated reason
    let (_dir, task) = temp_task(SHELL_TASK, &[]);
    let (_out, r) = run(&task, &ScriptedLlm::new(Vec::<String>::new()), None);
    assert!(!r.passed);
    assert_eq!(r.runs.len(), 1);
    assert!(r.stop.is_some() || !r.stop_message.is_empty(), "{r:#?}");
    assert!(!r.runs[0].message.is_empty(), "{r:#?}");
}

#[test]
fn a_web_task_gets_its_site_for_the_run_only() {
    let task = suite_task("web_library_hours");
    let llm = ScriptedLlm::new([act(
        "finish",
        json!({"answer": "It closes at 16:00 on Saturdays."}),
    )]);
    let (_out, r) = run(&task, &llm, None);
    assert!(r.passed, "{r:#?}");
    let trace = hamlet_agent::trace::read(&r.run_dir).unwrap();
    let Some(TraceEvent::Start(start)) = trace.events.first() else {
        panic!("no start event")
    };
    assert!(
        start.goal.contains("http://127.0.0.1:") && !start.goal.contains("{site}"),
        "{}",
        start.goal
    );
    assert!(start.tools.contains(&"http_get".to_string()));
    // the server is gone after the task
    let addr = start
        .goal
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "{addr}");
}

#[test]
fn each_task_gets_only_the_tools_and_network_it_needs() {
    let mut coder_base = base();
    coder_base.tools.push("shell".into());
    coder_base.policy.shell_allow = vec!["python3".into(), "bash".into()];
    coder_base.policy.allow_private_network = true;
    coder_base.policy.allow_hosts = vec!["intranet".into()];

    let files = task_spec(&suite_task("copy_file"), &coder_base);
    assert!(!files.tools.iter().any(|t| t == "shell" || t == "http_get"));
    assert!(files.policy.shell_allow.is_empty() && !files.policy.allow_private_network);
    assert!(files.policy.allow_hosts.is_empty());
    assert_eq!(files.budgets.max_steps, 5);

    let coder = task_spec(&suite_task("coder_primes"), &base());
    assert!(coder.tools.iter().any(|t| t == "shell"));
    assert_eq!(coder.policy.shell_allow, ["python3"]);
    assert!(!coder.policy.allow_private_network);

    let web = task_spec(&suite_task("web_tent_price"), &base());
    assert!(web.tools.iter().any(|t| t == "http_get") && web.policy.allow_private_network);

    let memory = task_spec(&suite_task("memory_wifi"), &base());
    assert!(memory.tools.iter().any(|t| t == "remember"));
    assert!(memory.tools.iter().any(|t| t == "recall"));
    for spec in [files, coder, web, memory] {
        assert!(spec.tools.iter().any(|t| t == "finish"));
    }
}
