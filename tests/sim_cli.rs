//! `hamlet sim` end to end on the deterministic stand-in model: a scenario run prints its metrics
//! and checks and writes its files; resuming a finished run reprints them; replay needs no model;
//! a broken world file is one clear error naming file and line.

use std::process::Command;

mod common;
use common::{hamlet, text};

#[test]
fn sim_runs_resumes_and_replays() {
    let d = tempfile::tempdir().expect("tmp");
    let run = d.path().join("run");
    let run_s = run.to_str().expect("utf-8 path");
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
    let o = hamlet(&[
        "sim",
        world,
        "--scenario",
        "valentines",
        "--until",
        "day 1 10:00",
        "--seed",
        "3",
        "--run-dir",
        run_s,
        "--fake-model",
        "-q",
    ]);
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
    let o = hamlet(&[
        "sim",
        world,
        "--scenario",
        "valentines",
        "--until",
        "day 1 10:00",
        "--seed",
        "3",
        "--run-dir",
        run2.to_str().expect("utf-8"),
        "--fake-model",
        "-q",
    ]);
    assert!(o.status.success());
    let log = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p.join("events.jsonl"))
            .expect("log")
            .lines()
            .filter(|l| !l.contains("\"type\":\"metrics\""))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(log(&run), log(&run2));

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

#[test]
fn killed_process_resumes_to_the_same_log() {
    let d = tempfile::tempdir().expect("tmp");
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
    let args = |dir: &str| -> Vec<String> {
        [
            "sim",
            world,
            "--scenario",
            "valentines",
            "--until",
            "day 3 12:00",
            "--seed",
            "5",
            "--run-dir",
            dir,
            "--fake-model",
            "-q",
            "--checkpoint-mins",
            "20",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let whole = d.path().join("whole");
    let o = hamlet(
        &args(whole.to_str().expect("utf-8"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));

    // SIGKILL once the first checkpoints exist (if the run is already over, resume just finishes).
    let killed = d.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hamlet"))
        .args(args(killed.to_str().expect("utf-8")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let log = killed.join("events.jsonl");
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) < 200_000 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    // No --fake-model: the run remembers the model it was started with.
    let o = hamlet(&["sim", "--resume", killed.to_str().expect("utf-8"), "-q"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p.join("events.jsonl"))
            .expect("log")
            .lines()
            .filter(|l| !l.contains("\"type\":\"metrics\""))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&killed), lines(&whole));
}
