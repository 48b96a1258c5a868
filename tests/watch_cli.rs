//! `hamlet watch` end to end: the real binary in a real terminal (tmux), on recorded runs written
//! by hand (no model needed). Keys go in with send-keys; the screen comes back with capture-pane.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hamlet_core::town::{AgentInfo, EventRecord, SimTime, Tile, TownEvent};
use hamlet_core::trace::{
    Action, Observation, ObservationStatus, RunEnd, RunStart, StepRecord, StopReason, Thoughts,
    TraceEvent, Usage,
};
use serde_json::json;

mod common;

/// A tmux server of our own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `None` (after a loud message) when tmux is not installed: scripts/setup.sh installs it.
    /// A detached tmux session running `command`; fails the test when tmux is missing (the test
    /// set-up installs it).
    fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        if Command::new("tmux")
            .arg("-V")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            panic!("tmux is not installed, and the TUI end-to-end tests drive the binary in it: install it (Debian: apt-get install tmux; scripts/setup.sh does this)");
        }
        let t = Tmux {
            socket: format!("hamlet-test-{}-{name}", std::process::id()),
        };
        let ok = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Waits (up to 20 s) until the screen shows `want`; returns the screen.
    /// Quits the UI with `q` and waits for the command to exit 0: the screen after it.
    fn quit(&self) -> String {
        self.keys(&["q"]);
        let screen = self.wait_for("hamlet-exit=");
        assert!(screen.contains("hamlet-exit=0"), "{screen}");
        screen
    }

    fn wait_for(&self, want: &str) -> String {
        self.wait_long(want, Duration::from_secs(20))
    }

    fn wait_long(&self, want: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(want) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{want:?} never showed; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) {
    let text: String = items
        .iter()
        .map(|i| serde_json::to_string(i).expect("serialize") + "\n")
        .collect();
    std::fs::write(path, text).expect("write log");
}

fn agent_run(dir: &Path) {
    let usage = Usage {
        tokens: hamlet_core::TokenUsage::new(500, 200, 50),
        model_ms: 900.0,
        tool_ms: 2.0,
        sub_steps: 0,
    };
    let step = |n: u32, tool: &str, args: serde_json::Value, thought: &str, obs: &str| {
        TraceEvent::Step(StepRecord {
            step: n,
            at: 1_700_000_000_000 + i64::from(n),
            prompt: vec![],
            raw: String::new(),
            action: Some(Action {
                thoughts: Thoughts {
                    reasoning: thought.into(),
                    plan: "read the notes, then answer".into(),
                    criticism: String::new(),
                },
                tool: tool.into(),
                args,
            }),
            observation: Observation {
                status: ObservationStatus::Ok,
                text: obs.into(),
                truncated_from: None,
            },
            usage,
        })
    };
    write_jsonl(
        &dir.join("trace.jsonl"),
        &[
            TraceEvent::Start(RunStart {
                run_id: "demo".into(),
                agent: "assistant".into(),
                agent_file: None,
                goal: "When is the meeting? The answer is in notes.txt.".into(),
                model: "smollm2-135m".into(),
                workspace: dir.display().to_string(),
                started: 1_700_000_000_000,
                tools: vec!["read_file".into(), "finish".into()],
                intro: String::new(),
                parent: None,
            }),
            step(
                1,
                "list_files",
                json!({}),
                "Look around first.",
                "notes.txt",
            ),
            step(
                2,
                "read_file",
                json!({"path": "notes.txt"}),
                "The notes should say.",
                "The meeting is on Tuesday.",
            ),
            step(
                3,
                "finish",
                json!({"answer": "Tuesday"}),
                "Found it.",
                "finished",
            ),
            TraceEvent::End(RunEnd {
                step: 3,
                at: 1_700_000_000_004,
                reason: StopReason::Finished,
                answer: Some("Tuesday".into()),
                message: "the agent finished".into(),
                usage,
            }),
        ],
    );
}

fn town_run(dir: &Path) {
    let t = |m| SimTime::at(1, 8, m);
    let agent = |name: &str, initials: &str, x| AgentInfo {
        name: name.into(),
        initials: initials.into(),
        age: 30,
        occupation: "villager".into(),
        home: "Home:room".into(),
        tile: Tile::new(x, 1),
    };
    let rec = |step, time, event| EventRecord { step, time, event };
    write_jsonl(
        &dir.join("events.jsonl"),
        &[
            rec(
                0,
                t(0),
                TownEvent::RunStarted {
                    world: "tinytown".into(),
                    scenario: Some("party".into()),
                    seed: 1,
                    step_secs: 60,
                    start: t(0),
                    until: t(30),
                    map: vec![
                        "##########".into(),
                        "#........#".into(),
                        "#........#".into(),
                        "##########".into(),
                    ],
                    legend: Default::default(),
                    places: vec![],
                    agents: vec![agent("Ana", "AN", 1), agent("Ben", "BE", 7)],
                },
            ),
            rec(
                1,
                t(1),
                TownEvent::AgentMoved {
                    agent: "Ben".into(),
                    from: Tile::new(7, 1),
                    to: Tile::new(2, 2),
                },
            ),
            rec(
                1,
                t(1),
                TownEvent::ConversationStarted {
                    id: 1,
                    agents: vec!["Ana".into(), "Ben".into()],
                    place: "Town:square".into(),
                    topic: None,
                },
            ),
            rec(
                1,
                t(1),
                TownEvent::Utterance {
                    conversation: 1,
                    speaker: "Ana".into(),
                    listener: "Ben".into(),
                    text: "Party at noon!".into(),
                },
            ),
            rec(
                1,
                t(1),
                TownEvent::TopicLearned {
                    agent: "Ben".into(),
                    topic: "party".into(),
                    from: Some("Ana".into()),
                    conversation: Some(1),
                },
            ),
            rec(1, t(1), TownEvent::Tick),
        ],
    );
}

fn hamlet_cmd(args: &str) -> String {
    // Show how the process ended once the TUI has left the alternate screen.
    format!("{} {args}; echo hamlet-exit=$?; sleep 30", common::BIN)
}

#[test]
fn watch_replays_an_agent_run_in_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    agent_run(dir.path());
    let tmux = Tmux::start(
        "agent",
        80,
        24,
        &hamlet_cmd(&format!("watch {}", dir.path().display())),
    );
    let screen = tmux.wait_for("When is the meeting?");
    assert!(screen.contains("finished"), "{screen}");
    assert!(screen.contains("2 ✓ read_file"), "{screen}");
    assert!(
        screen.contains("Answer"),
        "the end is selected on replay: {screen}"
    );
    // Select step 2 and see its observation.
    tmux.keys(&["Up", "Up"]);
    let screen = tmux.wait_for("The meeting is on Tuesday.");
    assert!(
        screen.contains("Thought: The notes should say."),
        "{screen}"
    );
    tmux.keys(&["?"]);
    tmux.wait_for("press ? or Esc to close");
    tmux.keys(&["?"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while tmux.screen().contains("press ? or Esc to close") {
        assert!(Instant::now() < deadline, "help never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let screen = tmux.quit();
    assert!(
        !screen.contains("Goal"),
        "the alternate screen is gone: {screen}"
    );
    assert!(
        dir.path().join("watch.log").exists(),
        "logs go to a file while the TUI runs"
    );
}

#[test]
fn watch_replays_a_town_run_and_seeks() {
    let dir = tempfile::tempdir().expect("tempdir");
    town_run(dir.path());
    let args = format!("watch --paused {}", dir.path().display());
    let tmux = Tmux::start("town", 80, 24, &hamlet_cmd(&args));
    let screen = tmux.wait_for("tinytown");
    assert!(screen.contains("day 1 08:00"), "{screen}");
    assert!(screen.contains("AN"), "{screen}");
    tmux.keys(&["g"]);
    tmux.keys(&["-l", "08:01"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Ana: Party at noon!");
    assert!(
        screen.contains("party: 1/2 know"),
        "Ben learned it from Ana: {screen}"
    );
    // Ctrl-C quits and restores the terminal too.
    tmux.keys(&["C-c"]);
    let screen = tmux.wait_for("hamlet-exit=");
    assert!(screen.contains("hamlet-exit=0"), "{screen}");
}

#[test]
fn watch_names_what_a_folder_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(common::BIN)
        .args(["watch"])
        .arg(dir.path())
        .output()
        .expect("run hamlet");
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("neither trace.jsonl") && err.contains("events.jsonl"),
        "{err}"
    );
}

#[test]
fn sim_tui_shows_a_live_town_and_restores_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = Path::new(env!("CARGO_MANIFEST_DIR")).join("worlds/smallville");
    let args = format!(
        "sim {} --fake-model --agents 3 --until 'day 1 07:00' --run-dir {} --tui",
        world.display(),
        dir.path().join("run").display()
    );
    let tmux = Tmux::start("sim", 100, 30, &hamlet_cmd(&args));
    let screen = tmux.wait_for("the run has ended");
    assert!(screen.contains("live"), "{screen}");
    assert!(screen.contains("Agents"), "{screen}");
    let screen = tmux.quit();
    assert!(
        screen.contains("wrote "),
        "the summary prints after the UI: {screen}"
    );
}

#[test]
fn run_tui_asks_for_approval_in_the_ui_with_the_real_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("workspace");
    std::fs::write(ws.join("notes.txt"), "The meeting is on Tuesday.").expect("notes");
    let args = format!(
        "run --goal 'When is the meeting? Read notes.txt' --workspace {} --run-dir {} --max-steps 2 --tui",
        ws.display(),
        dir.path().join("run").display()
    );
    let command = format!(
        "HAMLET_THREADS=${{HAMLET_THREADS:-1}} {}",
        hamlet_cmd(&args)
    );
    let tmux = Tmux::start("run", 90, 26, &command);
    let model_step = Duration::from_secs(300);
    let screen = tmux.wait_long("approve?", model_step);
    assert!(screen.contains("Step 1 wants to run:"), "{screen}");
    assert!(screen.contains("waiting for you"), "{screen}");
    tmux.keys(&["n"]);
    tmux.keys(&["-l", "read the file instead"]);
    tmux.wait_for("> read the file instead");
    tmux.keys(&["Enter"]);
    // The declined step shows up; then the next action asks, and `a` approves it and the rest.
    let screen = tmux.wait_long("1 ⊘", model_step);
    assert!(!screen.contains("> read the file instead"), "{screen}");
    // (Unless the runtime refuses step 2 by itself, e.g. as a repeat: then nothing asks.)
    let deadline = Instant::now() + model_step;
    let screen = loop {
        let screen = tmux.screen();
        if screen.contains("Step 2 wants to run:") {
            tmux.keys(&["a"]);
        }
        if screen.contains("press q") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "the run never ended; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        screen.contains("step 2/2") || screen.contains("finished"),
        "{screen}"
    );
    let screen = tmux.quit();
    assert!(
        screen.contains("run: "),
        "the run's summary prints after the UI: {screen}"
    );
    let trace = std::fs::read_to_string(dir.path().join("run/trace.jsonl")).expect("trace");
    assert!(
        trace.contains("read the file instead"),
        "the feedback reached the model's next prompt"
    );
}
