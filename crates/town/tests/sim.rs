//! The simulation on the deterministic fake model: determinism, batching, diffusion through
//! conversations, and kill-and-resume.

mod common;

use std::path::Path;

use common::{open_memory, smallville, tiny_world};
use hamlet_core::town::{EventRecord, SimTime, TownEvent, EVENTS_FILE};
use hamlet_town::testing::TownFake;
use hamlet_town::{replay, Run, RunConfig, SimConfig};

fn config(world: &Path, scenario: Option<&str>, agents: Option<usize>, until: &str) -> RunConfig {
    RunConfig {
        world: world.to_path_buf(),
        scenario: scenario.map(str::to_string),
        agents: Vec::new(),
        agent_count: agents,
        until: Some(SimTime::parse(until).expect("time")),
        seed: 7,
        prompts_dir: None,
        checkpoint_every: 50,
        sim: SimConfig::default(),
        model: "fake".into(),
        embedder: "hash-64".into(),
    }
}

/// A new run in `dir` (see [`config`]) with its memory in the run folder.
fn create(
    dir: &Path,
    world: &Path,
    scenario: Option<&str>,
    agents: Option<usize>,
    until: &str,
) -> Run {
    Run::create(dir, &config(world, scenario, agents, until), &open_memory).expect("run")
}

/// A new run of smallville's valentines scenario with `agents` agents (see [`create`]).
fn valentines(dir: &Path, agents: usize, until: &str) -> Run {
    create(dir, &smallville(), Some("valentines"), Some(agents), until)
}

/// The log without the final metrics line (it holds wall time).
fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(EVENTS_FILE))
        .expect("log")
        .lines()
        .filter(|l| !l.contains("\"type\":\"metrics\""))
        .map(str::to_string)
        .collect()
}

fn records(dir: &Path) -> Vec<EventRecord> {
    log(dir)
        .iter()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

#[test]
fn same_seed_same_log() {
    let llm = TownFake::new().with_news(["party", "valentine"]);
    let mut logs = Vec::new();
    for _ in 0..2 {
        let d = tempfile::tempdir().expect("tmp");
        let mut run = valentines(d.path(), 5, "day 1 10:00");
        run.run(&llm, None, &mut |_| {}).expect("steps");
        run.finish().expect("finish");
        logs.push(log(d.path()));
    }
    assert!(logs[0].len() > 1000);
    assert_eq!(logs[0], logs[1]);
}

#[test]
fn one_batch_per_step_and_idle_agents_cost_nothing() {
    let llm = TownFake::new();
    let d = tempfile::tempdir().expect("tmp");
    let mut run = create(d.path(), &smallville(), None, Some(6), "day 1 12:00");
    run.run(&llm, None, &mut |_| {}).expect("steps");
    let (m, _) = run.finish().expect("finish");
    let recs = records(d.path());
    let batches: Vec<u32> = recs
        .iter()
        .filter_map(|r| match r.event {
            TownEvent::ModelBatch { requests, .. } => Some(requests),
            _ => None,
        })
        .collect();
    // generate_batch was called exactly once per step that had requests.
    assert_eq!(llm.batches(), batches.len() as u64);
    assert_eq!(
        llm.calls(),
        batches.iter().map(|n| u64::from(*n)).sum::<u64>()
    );
    assert!(
        batches.iter().any(|n| *n > 1),
        "several agents' requests share a batch"
    );
    // Agents in the middle of an action cost nothing: far fewer calls than agent-steps.
    assert!(m.calls_per_agent_step < 0.1, "{}", m.calls_per_agent_step);
    // The log is complete enough to draw the town.
    for kind in [
        "agent_moved",
        "action_started",
        "plan_set",
        "memory_written",
        "utterance",
    ] {
        assert!(
            log(d.path())
                .iter()
                .any(|l| l.contains(&format!("\"type\":\"{kind}\""))),
            "no {kind}"
        );
    }
    // Every request had a schema and the agent's cache key (checked through the batch sizes
    // above; here the snapshot from the log equals the state).
    let rep = replay(d.path(), &mut |_, _| {}).expect("replay");
    for a in &run.state.agents {
        assert_eq!(rep.snapshot.agents[&a.name].tile, a.tile, "{}", a.name);
    }
}

#[test]
fn news_spreads_from_a_to_b_to_c_and_is_counted() {
    let d = tempfile::tempdir().expect("tmp");
    tiny_world(d.path());
    let run_dir = d.path().join("run");
    let llm = TownFake::new().with_news(["party"]);
    let mut run = create(&run_dir, d.path(), Some("news"), None, "day 1 09:00");
    run.run(&llm, None, &mut |_| {}).expect("steps");
    let (m, checks) = run.finish().expect("finish");
    let learned = &m.diffusion["party"];
    let chain: Vec<(&str, Option<&str>)> = learned
        .iter()
        .map(|l| (l.agent.as_str(), l.from.as_deref()))
        .collect();
    assert_eq!(
        chain,
        vec![("Ann", None), ("Ben", Some("Ann")), ("Cal", Some("Ben"))],
        "{m:#?}"
    );
    assert!(learned[1].time < learned[2].time);
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    assert!(m.density_after > m.density_before);
    // Cal heard it in a conversation with Ben, and remembers it.
    let cal = run
        .state
        .agents
        .iter()
        .find(|a| a.name == "Cal")
        .expect("Cal");
    let q = hamlet_core::RecallQuery::new("party", 5, i64::MAX / 2).agent("Cal");
    let recalled = run.memory().recall(&q).expect("recall");
    assert!(
        recalled
            .iter()
            .any(|r| r.record.text.starts_with("Ben told me") && r.record.text.contains("party")),
        "{recalled:#?}"
    );
    assert!(cal.recent.iter().any(|n| n.text.contains("party")));
}

#[test]
fn noticing_an_object_in_use_re_plans_the_next_minutes() {
    let d = tempfile::tempdir().expect("tmp");
    tiny_world(d.path());
    let world = d.path().join("world.toml");
    let mut toml = std::fs::read_to_string(&world).expect("world");
    toml.push_str(
        "\n[[object]]\npath = \"Cafe:room:espresso machine\"\nat = [10, 1]\nverbs = [\"coffee\"]\n",
    );
    std::fs::write(&world, toml).expect("write");
    let run_dir = d.path().join("run");
    let llm = TownFake::new().reacting();
    let mut run = create(&run_dir, d.path(), None, None, "day 1 08:30");
    run.run(&llm, None, &mut |_| {}).expect("steps");
    run.finish().expect("finish");
    let recs = records(&run_dir);
    // Ben's coffee puts the machine to use; Cal, at home in the cafe, sees it...
    let seen = recs.iter().position(|r| {
        matches!(&r.event, TownEvent::MemoryWritten { agent, text, .. }
            if agent == "Cal" && text == "the espresso machine at Cafe:room is in use: have coffee")
    });
    let seen = seen.expect("Cal perceives the machine in use");
    // ... and reacts: a new current plan, and the action starts at once.
    let reacted = recs[seen..].iter().any(|r| {
        matches!(&r.event, TownEvent::ActionStarted { agent, description, .. }
            if agent == "Cal" && description == "take a look")
    });
    assert!(reacted, "Cal's reaction re-plans the next minutes");
    // Ben, whose own action it is, does not notice his own coffee.
    assert!(!recs.iter().any(|r| matches!(&r.event,
        TownEvent::MemoryWritten { agent, text, .. } if agent == "Ben" && text.contains("espresso"))));
}

#[test]
fn killed_and_resumed_run_ends_like_an_uninterrupted_one() {
    let llm = TownFake::new().with_news(["party", "valentine"]);
    let whole = tempfile::tempdir().expect("tmp");
    let mut run = valentines(whole.path(), 4, "day 1 09:00");
    run.run(&llm, None, &mut |_| {}).expect("steps");
    run.finish().expect("finish");
    let final_state = serde_json::to_value(&run.state).expect("state");

    let broken = tempfile::tempdir().expect("tmp");
    {
        let mut run = valentines(broken.path(), 4, "day 1 09:00");
        // 437 steps: the last checkpoint is at 400; the 37 steps after it are in the log only,
        // and the run is dropped without a final checkpoint, as a crash would leave it.
        run.run(&llm, Some(437), &mut |_| {}).expect("steps");
    }
    let mut resumed = Run::resume(broken.path(), &open_memory).expect("resume");
    assert_eq!(resumed.state.step, 400);
    resumed.run(&llm, None, &mut |_| {}).expect("steps");
    resumed.finish().expect("finish");
    assert_eq!(
        serde_json::to_value(&resumed.state).expect("state"),
        final_state
    );
    assert_eq!(log(broken.path()), log(whole.path()));
    // Resuming a finished run does nothing more.
    let again = Run::resume(broken.path(), &open_memory).expect("resume");
    assert!(again.is_done());
}

#[test]
fn resume_without_its_memory_snapshot_is_a_clear_error_and_keeps_the_log() {
    let llm = TownFake::new();
    let d = tempfile::tempdir().expect("tmp");
    {
        let mut run = create(d.path(), &smallville(), None, Some(3), "day 1 09:00");
        run.run(&llm, Some(120), &mut |_| {}).expect("steps");
    }
    let log_len = std::fs::metadata(d.path().join(EVENTS_FILE))
        .expect("log")
        .len();
    for e in std::fs::read_dir(d.path()).expect("dir").flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with("checkpoint-memory-")
        {
            std::fs::remove_dir_all(e.path()).expect("remove snapshot");
        }
    }
    let err = Run::resume(d.path(), &open_memory)
        .err()
        .expect("resume fails")
        .to_string();
    assert!(err.contains("memory snapshot is missing"), "{err}");
    assert_eq!(
        std::fs::metadata(d.path().join(EVENTS_FILE))
            .expect("log")
            .len(),
        log_len,
        "a failed resume leaves the log as it was"
    );
}
