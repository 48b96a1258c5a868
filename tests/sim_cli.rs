//! `hamlet sim` end to end on the deterministic stand-in model: a scenario run prints its metrics
//! and checks and writes its files; resuming a finished run reprints them; replay needs no model;
//! a broken world file is one clear error naming file and line.

mod common;
use common::{hamlet, hamlet_cmd, text};

#[test]
fn sim_runs_resumes_and_replays() {
    let d = tempfile::tempdir().expect("tmp");
    let run = d.path().join("run");
    let run_s = run.to_str().expect("utf-8 path");
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
    let valentines = |run: &str| {
        hamlet(&[
            "sim",
            world,
            "--scenario",
            "valentines",
            "--until",
            "day 1 10:00",
            "--seed",
            "3",
            "--run-dir",
            run,
            "--fake-model",
            "-q",
        ])
    };
    let o = valentines(run_s);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    for want in [
        "model calls per agent-step",
        "tokens per simulated hour",
        "relationship density",
        "knows \"party\"",
        "check the invitation spreads",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    for f in [
        "events.jsonl",
        "checkpoint.json",
        "metrics.json",
        "diffusion.svg",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let svg = std::fs::read_to_string(run.join("diffusion.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));

    let o = hamlet(&["sim", "--resume", run_s]);
    assert!(
        o.status.success() && text(&o.stdout).contains("model calls per agent-step"),
        "{}",
        text(&o.stderr)
    );

    let o = hamlet(&["sim", "--replay", run_s]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains("replayed") && out.contains("→") && out.contains("learns \"party\""),
        "{out}"
    );

    // The same seed again gives the same log (apart from the metrics line with wall time).
    let run2 = d.path().join("run2");
    let o = valentines(run2.to_str().expect("utf-8"));
    assert!(o.status.success());
    assert_eq!(log_lines(&run), log_lines(&run2));

    // A run directory is never overwritten.
    let o = hamlet(&["sim", world, "--run-dir", run_s, "--fake-model", "-q"]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("--resume"),
        "{}",
        text(&o.stderr)
    );

    // The memory stream lives in the run, with exactly one snapshot beside the checkpoint.
    assert!(run.join("memory/memory.sqlite").is_file());
    let snapshots: Vec<String> = std::fs::read_dir(&run)
        .expect("run dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("checkpoint-memory-"))
        .collect();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");

    // A run keeps its model: one started on a real model is not resumed on the stand-in.
    let cp_path = run2.join("checkpoint.json");
    let cp = std::fs::read_to_string(&cp_path).expect("checkpoint");
    std::fs::write(
        &cp_path,
        cp.replace("\"model\":\"fake\"", "\"model\":\"smollm2-135m\""),
    )
    .expect("write");
    let o = hamlet(&[
        "sim",
        "--resume",
        run2.to_str().expect("utf-8"),
        "--fake-model",
    ]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("resume it without --fake-model"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn broken_world_is_one_clear_error() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(
        d.path().join("world.toml"),
        "name = \"X\"\nmap = \"map.txt\"\n[legend]\na = \"Home\"\n",
    )
    .expect("write");
    std::fs::write(d.path().join("map.txt"), "###\n#a#\n###\n").expect("write");
    let o = hamlet(&[
        "sim",
        d.path().to_str().expect("utf-8"),
        "--fake-model",
        "--run-dir",
        d.path().join("r").to_str().expect("utf-8"),
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("world.toml:4") && err.contains("Sector:arena"),
        "{err}"
    );
}

/// Runs `hamlet sim SMALLVILLE --scenario valentines ARGS` to the end in one directory, and in another SIGKILLs it once its log
/// holds half as many bytes as the whole run's, then resumes it without repeating the model
/// options. Returns both logs (without the metrics line, which holds wall time) and the step of
/// the checkpoint the resume started from (`None`: the run ended before the kill).
fn whole_and_killed(args: &[&str]) -> (Vec<String>, Vec<String>, Option<u64>) {
    let d = tempfile::tempdir().expect("tmp");
    let run = |dir: &std::path::Path| -> Vec<String> {
        let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
        let mut a: Vec<String> = vec![
            "sim".into(),
            world.into(),
            "--scenario".into(),
            "valentines".into(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        a.extend([
            "--run-dir".into(),
            dir.to_str().expect("utf-8").into(),
            "-q".into(),
        ]);
        a
    };
    let whole = d.path().join("whole");
    let a = run(&whole);
    let o = hamlet(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let half = std::fs::metadata(whole.join("events.jsonl"))
        .expect("log")
        .len()
        / 2;

    let killed = d.path().join("killed");
    let a = run(&killed);
    let mut child = hamlet_cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let log = killed.join("events.jsonl");
    let mut midway = true;
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) < half {
        if child.try_wait().expect("wait").is_some() {
            midway = false;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let checkpoint: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(killed.join("checkpoint.json")).expect("checkpoint"),
    )
    .expect("checkpoint json");
    let from = checkpoint["state"]["step"].as_u64().filter(|_| midway);
    // No model options: the run remembers the model and embedder it was started with.
    let o = hamlet(&["sim", "--resume", killed.to_str().expect("utf-8"), "-q"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    (log_lines(&whole), log_lines(&killed), from)
}

#[test]
fn killed_process_resumes_to_the_same_log() {
    let (whole, killed, _) = whole_and_killed(&[
        "--until",
        "day 3 12:00",
        "--seed",
        "5",
        "--fake-model",
        "--checkpoint-mins",
        "20",
    ]);
    assert_same_log(&killed, &whole);
}

/// The lines of a run's event log, without the metrics line (it holds wall time).
fn log_lines(run: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(run.join("events.jsonl"))
        .expect("log")
        .lines()
        .filter(|l| !l.contains("\"type\":\"metrics\""))
        .map(str::to_string)
        .collect()
}

/// Compares two logs and shows only the first difference (a log is thousands of lines).
fn assert_same_log(got: &[String], want: &[String]) {
    if let Some(i) = (0..got.len().max(want.len())).find(|i| got.get(*i) != want.get(*i)) {
        panic!(
            "the logs differ first at line {} (of {} and {}):\n  resumed: {:?}\n  whole:   {:?}",
            i + 1,
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

/// The same on the real default model and MiniLM. The resumed run restarts from the checkpoint
/// with exactly the state and memories it had: the log up to the checkpoint is kept byte for byte,
/// the first model batch after it sends the same prompts, no step is lost or repeated, and memory
/// ids continue without a gap. What the model answers from there may differ from the first run:
/// the new process starts with a cold KV cache, and llama.cpp's arithmetic for a prompt depends on
/// how much of it came from the cache, so a greedy choice can flip (docs/BENCHMARKS.md, Town).
#[test]
fn killed_real_model_run_resumes_from_its_checkpoint() {
    let (whole, killed, from) = whole_and_killed(&[
        "--agents",
        "4",
        "--until",
        "day 1 08:00",
        "--seed",
        "9",
        "--checkpoint-mins",
        "15",
    ]);
    let from = from.expect("the run was killed before its end");
    let parse = |log: &[String]| -> Vec<serde_json::Value> {
        log.iter()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect()
    };
    let (w, k) = (parse(&whole), parse(&killed));
    let step = |r: &serde_json::Value| r["step"].as_u64().expect("step");
    let upto = |rs: &[serde_json::Value]| rs.iter().take_while(|r| step(r) <= from).count();
    assert!(upto(&w) > 1);
    assert_same_log(&killed[..upto(&k)], &whole[..upto(&w)]);
    let first_batch = |rs: &[serde_json::Value]| {
        rs.iter()
            .find(|r| step(r) > from && r["type"] == "model_batch")
            .map(|r| (step(r), r["requests"].clone(), r["prompt_tokens"].clone()))
    };
    assert!(
        first_batch(&w).is_some(),
        "the model was asked after the checkpoint"
    );
    assert_eq!(
        first_batch(&k),
        first_batch(&w),
        "the same prompts after the checkpoint"
    );
    let ticks: Vec<u64> = k.iter().filter(|r| r["type"] == "tick").map(step).collect();
    let last = *ticks.last().expect("ticks");
    assert_eq!(
        ticks,
        (1..=last).collect::<Vec<_>>(),
        "every step exactly once"
    );
    assert_eq!(
        last,
        w.iter().filter(|r| r["type"] == "tick").count() as u64
    );
    let ids: Vec<i64> = k
        .iter()
        .filter(|r| r["type"] == "memory_written")
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "memory ids continue"
    );
}
