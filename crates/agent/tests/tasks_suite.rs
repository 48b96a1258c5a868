//! The task suite checks itself: every task's check fails on its starting workspace and passes on
//! its reference solution (Python checks run for real), web tasks serve their site, and the
//! suite covers every category.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hamlet_agent::tasks::{check_task, copy_tree, load_suite, SiteServer, Task};
use hamlet_tools::{Policy, Registry, ToolContext, Workspace};
use serde_json::json;

const CATEGORIES: [&str; 9] = [
    "files",
    "data",
    "extraction",
    "multistep",
    "search",
    "web",
    "coder",
    "memory",
    "safety",
];

fn suite() -> Vec<Task> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tasks");
    load_suite(&root).unwrap()
}

/// A fresh workspace holding `task`'s starting files, plus `extra` laid over them.
fn workspace(task: &Task, start: Option<&Path>, extra: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for from in [start, extra].into_iter().flatten() {
        copy_tree(from, dir.path()).unwrap_or_else(|e| panic!("{}: {e}", task.name));
    }
    dir
}

#[test]
fn the_suite_covers_every_category_and_runs_offline() {
    let tasks = suite();
    assert!(tasks.len() >= 40, "{} tasks", tasks.len());
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &tasks {
        assert!(
            CATEGORIES.contains(&t.category.as_str()),
            "{}: category {:?} is not one of {CATEGORIES:?}",
            t.name,
            t.category
        );
        *per.entry(t.category.as_str()).or_default() += 1;
        assert!(t.skip.is_none(), "{} is skipped: {:?}", t.name, t.skip);
        assert!(!t.goal.trim().is_empty(), "{}", t.name);
        assert!(
            t.solution.is_some() || t.solution_answer.is_some(),
            "{} has no reference solution (solution/ or solution-answer)",
            t.name
        );
    }
    for c in CATEGORIES {
        assert!(per.get(c).copied().unwrap_or(0) >= 4, "{c}: {per:?}");
    }
    // the agbenchmark challenges load, and the python one runs instead of being skipped
    let agb = tasks.iter().find(|t| t.name == "agb_read_file").unwrap();
    assert_eq!(agb.check.contains, ["Hello World!"]);
    let py = tasks.iter().find(|t| t.name == "agb_python_check").unwrap();
    assert!(py.check.execute_files && py.check_files.is_some(), "{py:?}");
    assert_eq!(py.category, "coder");
    // coder tasks get the shell, memory tasks a first run, web tasks a site
    for t in &tasks {
        match t.category.as_str() {
            "coder" if t.name != "agb_python_check" => {
                assert_eq!(t.shell_allow, ["python3"], "{}", t.name)
            }
            "memory" => assert!(t.first.is_some() && t.needs_memory(), "{}", t.name),
            "web" => assert!(t.site.is_some(), "{}", t.name),
            _ => {}
        }
    }
}

#[test]
fn every_check_fails_on_the_start_and_passes_on_the_reference_solution() {
    let mut problems = Vec::new();
    for task in suite() {
        let scratch = tempfile::tempdir().unwrap();
        let start = workspace(&task, task.files.as_deref(), None);
        if let Ok(()) = check_task(&task, start.path(), None, scratch.path()) {
            problems.push(format!(
                "{}: the check passes on the untouched workspace",
                task.name
            ));
        }
        if let Some(first) = task.first.as_ref().and_then(|f| f.files.as_deref()) {
            let ws = workspace(&task, Some(first), None);
            if check_task(&task, ws.path(), None, scratch.path()).is_ok() {
                problems.push(format!(
                    "{}: the check passes on the first run's files",
                    task.name
                ));
            }
        }
        let solved = workspace(&task, task.files.as_deref(), task.solution.as_deref());
        if let Err(why) = check_task(
            &task,
            solved.path(),
            task.solution_answer.as_deref(),
            scratch.path(),
        ) {
            problems.push(format!(
                "{}: the check fails on the reference solution: {why}",
                task.name
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn web_tasks_serve_their_site_and_fill_in_its_address() {
    let registry = Registry::builtin();
    let ws = tempfile::tempdir().unwrap();
    let open = ToolContext::new(
        Workspace::new(ws.path()).unwrap(),
        Policy {
            allow_private_network: true,
            ..Policy::default()
        },
    );
    let closed = ToolContext::new(Workspace::new(ws.path()).unwrap(), Policy::default());
    let mut web = 0;
    for task in suite() {
        let Some(site) = &task.site else { continue };
        web += 1;
        let server = SiteServer::start(site).unwrap();
        let base = server.base_url();
        let goal = task.goal_for(&task.goal, Some(&base));
        assert!(
            goal.contains(&base) && !goal.contains("{site}"),
            "{}: {goal}",
            task.name
        );
        for file in files_under(site) {
            let rel = file.strip_prefix(site).unwrap().to_string_lossy();
            let url = format!("{base}/{rel}");
            let text = registry
                .call(&open, "http_get", json!({ "url": url }))
                .unwrap_or_else(|e| panic!("{}: GET {url}: {e}", task.name));
            assert!(!text.trim().is_empty(), "{}: {url} is empty", task.name);
        }
        // every URL the goal names is served
        for word in goal.split_whitespace() {
            if let Some(u) = word.strip_prefix(&base) {
                let url = format!("{base}{}", u.trim_end_matches(['.', ',']));
                assert!(
                    registry
                        .call(&open, "http_get", json!({ "url": url }))
                        .is_ok(),
                    "{}: the goal names {url}, which is not served",
                    task.name
                );
            }
        }
        // without the task's policy, loopback stays refused
        let refused = registry
            .call(&closed, "http_get", json!({ "url": format!("{base}/") }))
            .unwrap_err();
        assert!(refused.to_string().contains("loopback"), "{refused}");
        server.stop();
    }
    assert!(web >= 4, "{web} web tasks");
}
