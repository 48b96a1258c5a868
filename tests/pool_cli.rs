//! A town on a pool of two `hamlet serve` processes (the small model), one of them killed with
//! SIGKILL while it answers: the run finishes, every step is in its log exactly once, and the
//! metrics show the failover. Also: a bad pool member gives one clear line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{assert_error_line, ok};

/// A `hamlet serve` child, killed on drop; `completions` counts the completion requests it has
/// logged.
struct Server {
    child: Child,
    url: String,
    completions: Arc<AtomicUsize>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    let mut child = Command::new(common::BIN)
        .args(["serve", "--port", "0", "--threads", "1", "--parallel", "4"])
        .env("HAMLET_MODEL", common::MECHANICS_MODEL)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hamlet serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let completions = Arc::new(AtomicUsize::new(0));
    let count = completions.clone();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("request") && line.contains("completions") {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Server {
        child,
        url,
        completions,
    }
}

#[test]
fn a_town_survives_a_killed_pool_server() {
    let servers = [serve(), serve()];
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let sim = common::hamlet_cmd(&[
        "sim",
        "worlds/smallville",
        "--agents",
        "4",
        "--until",
        "day 1 09:00",
        "--seed",
        "9",
        "--run-dir",
        &run.display().to_string(),
        "-q",
        "--server",
        &servers[0].url,
        "--server",
        &servers[1].url,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start the town");
    // Kill whichever server is asked first, while it answers (the first batch is every agent's
    // day plan, so its requests are in flight).
    let started = Instant::now();
    let killed = loop {
        if let Some(i) = (0..2).find(|&i| servers[i].completions.load(Ordering::SeqCst) > 0) {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no server was asked within 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let [mut a, mut b] = servers;
    let (dead, alive) = if killed == 0 {
        (&mut a, &b)
    } else {
        (&mut b, &a)
    };
    dead.child.kill().expect("SIGKILL the server");
    let _ = dead.child.wait();

    let out = ok(&sim.wait_with_output().expect("the town"));
    assert!(out.contains("ended day 1 09:00"), "{out}");
    let log = std::fs::read_to_string(run.join("events.jsonl")).expect("log");
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let ticks: Vec<u64> = records
        .iter()
        .filter(|r| r["type"] == "tick")
        .map(|r| r["step"].as_u64().expect("step"))
        .collect();
    assert_eq!(
        ticks,
        (1..=ticks.len() as u64).collect::<Vec<_>>(),
        "every step exactly once"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).expect("metrics"))
            .expect("metrics json");
    let servers = metrics["servers"].as_array().expect("per-server figures");
    let of = |url: &str| {
        servers
            .iter()
            .find(|s| s["url"] == url)
            .unwrap_or_else(|| panic!("{url} not in {servers:?}"))
    };
    let (d, l) = (of(&dead.url), of(&alive.url));
    assert!(d["moved_away"].as_u64() >= Some(1), "{d}");
    assert!(l["taken_over"].as_u64() >= Some(1), "{l}");
    assert_eq!(
        metrics["failed_calls"].as_u64(),
        Some(0),
        "no model call failed: {metrics}"
    );
    assert!(
        out.contains(&format!("server {}", dead.url)) && out.contains("moved to another server"),
        "{out}"
    );
}

#[test]
fn a_pool_member_that_is_not_a_url_is_one_clear_line() {
    assert_error_line(
        &common::hamlet(&[
            "generate",
            "hi",
            "--server",
            "http://127.0.0.1:9/v1",
            "--server",
            "localhost:8080",
        ]),
        "must start with http:// or https://",
    );
}
