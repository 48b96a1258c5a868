//! Fixed event logs and a screen-capture helper shared by the view tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use hamlet_core::memory::MemoryKind;
use hamlet_core::town::{
    AgentInfo, EventRecord, PlaceInfo, PlaceKind, PlanItem, PlanLevel, SimTime, Tile, TownEvent,
};
use hamlet_core::trace::{
    Action, ChildEvent, ChildRun, DelegateRecord, Observation, ObservationStatus, ReflectRecord,
    RunEnd, RunStart, StepRecord, StopReason, Thoughts, TraceEvent, Usage,
};
use hamlet_tui::Screen;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn usage(p: u64, c: u64) -> Usage {
    Usage {
        tokens: hamlet_core::TokenUsage::new(p, p / 2, c),
        model_ms: 1200.0,
        tool_ms: 3.0,
        sub_steps: 0,
    }
}

fn step(
    n: u32,
    tool: &str,
    args: serde_json::Value,
    reasoning: &str,
    plan: &str,
    status: ObservationStatus,
    obs: &str,
) -> TraceEvent {
    TraceEvent::Step(StepRecord {
        step: n,
        at: 1_700_000_000_000 + i64::from(n) * 1000,
        prompt: vec![],
        raw: String::new(),
        action: Some(Action {
            thoughts: Thoughts {
                reasoning: reasoning.into(),
                plan: plan.into(),
                criticism: String::new(),
            },
            tool: tool.into(),
            args,
        }),
        observation: Observation {
            status,
            text: obs.into(),
            truncated_from: None,
        },
        usage: usage(400, 60),
    })
}

/// A short finished agent run: four steps and a reflection.
pub fn agent_trace() -> Vec<TraceEvent> {
    use serde_json::json;
    vec![
        TraceEvent::Start(RunStart {
            run_id: "r1".into(),
            agent: "researcher".into(),
            agent_file: None,
            goal: "Find the population of Lyon in notes.txt and write it to answer.txt".into(),
            model: "smollm2-135m".into(),
            workspace: "/tmp/ws".into(),
            started: 1_700_000_000_000,
            tools: vec!["read_file".into(), "write_file".into(), "finish".into()],
            intro: String::new(),
            parent: None,
        }),
        step(
            1,
            "list_files",
            json!({}),
            "See what is in the workspace.",
            "1. list 2. read notes 3. write",
            ObservationStatus::Ok,
            "notes.txt",
        ),
        step(
            2,
            "read_file",
            json!({"path": "note.txt"}),
            "Read the notes.",
            "read notes then write",
            ObservationStatus::ToolError,
            "no such file: note.txt",
        ),
        TraceEvent::Reflect(ReflectRecord {
            step: 2,
            at: 1_700_000_003_000,
            reason: "after a failed action".into(),
            prompt: vec![],
            raw: String::new(),
            plan: "Read notes.txt (not note.txt), then write the number.".into(),
            usage: usage(300, 40),
        }),
        step(
            3,
            "read_file",
            json!({"path": "notes.txt"}),
            "Read the right file.",
            "",
            ObservationStatus::Ok,
            "Lyon: 522,250 people (2019)\nParis: 2.1M",
        ),
        step(
            4,
            "finish",
            json!({"answer": "522,250"}),
            "Done.",
            "",
            ObservationStatus::Ok,
            "finished",
        ),
        TraceEvent::End(RunEnd {
            step: 4,
            at: 1_700_000_006_000,
            reason: StopReason::Finished,
            answer: Some("522,250".into()),
            message: "the agent finished".into(),
            usage: usage(1900, 280),
        }),
    ]
}

fn rec(step: u64, time: SimTime, event: TownEvent) -> EventRecord {
    EventRecord { step, time, event }
}

/// A small town: three agents, a conversation that spreads news of a party, a check.
pub fn town_log() -> Vec<EventRecord> {
    let t = |h, m| SimTime::at(1, h, m);
    let map: Vec<String> = [
        "####################",
        "#hhhh#....#cccccc..#",
        "#hhhh#....#cccccc..#",
        "#..................#",
        "#pppppppp....ssss..#",
        "####################",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let legend: BTreeMap<String, String> = [
        ("h", "Home:kitchen"),
        ("c", "Cafe:counter"),
        ("p", "Park:lawn"),
        ("s", "Shop:floor"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let agent = |name: &str, initials: &str, occupation: &str, x, y| AgentInfo {
        name: name.into(),
        initials: initials.into(),
        age: 30,
        occupation: occupation.into(),
        home: "Home:kitchen".into(),
        tile: Tile::new(x, y),
    };
    let mv = |s, time, a: &str, fx, fy, tx, ty| {
        rec(
            s,
            time,
            TownEvent::AgentMoved {
                agent: a.into(),
                from: Tile::new(fx, fy),
                to: Tile::new(tx, ty),
            },
        )
    };
    let act = |s, time, a: &str, d: &str, p: &str| {
        rec(
            s,
            time,
            TownEvent::ActionStarted {
                agent: a.into(),
                description: d.into(),
                place: p.into(),
                emoji: None,
                minutes: 10,
            },
        )
    };
    vec![
        rec(
            0,
            t(7, 0),
            TownEvent::RunStarted {
                world: "smallville".into(),
                scenario: Some("party".into()),
                seed: 7,
                step_secs: 600,
                start: t(7, 0),
                until: t(9, 0),
                map,
                legend,
                places: vec![PlaceInfo {
                    path: "Cafe:counter:stove".into(),
                    kind: PlaceKind::Object,
                    tile: Some(Tile::new(12, 1)),
                    state: Some("idle".into()),
                }],
                agents: vec![
                    agent("Isabella", "IR", "cafe owner", 12, 2),
                    agent("Klaus", "KM", "student", 2, 1),
                    agent("Maria", "ML", "student", 8, 3),
                ],
            },
        ),
        rec(
            0,
            t(7, 0),
            TownEvent::PlanSet {
                agent: "Isabella".into(),
                level: PlanLevel::Hourly,
                items: vec![
                    PlanItem {
                        start: t(7, 0),
                        minutes: 60,
                        place: Some("Cafe:counter".into()),
                        description: "open the cafe".into(),
                    },
                    PlanItem {
                        start: t(8, 0),
                        minutes: 60,
                        place: None,
                        description: "invite people to the party".into(),
                    },
                ],
            },
        ),
        rec(
            0,
            t(7, 0),
            TownEvent::TopicLearned {
                agent: "Isabella".into(),
                topic: "party".into(),
                from: None,
                conversation: None,
            },
        ),
        act(1, t(7, 10), "Isabella", "opening the cafe", "Cafe:counter"),
        act(1, t(7, 10), "Klaus", "reading a paper", "Home:kitchen"),
        mv(1, t(7, 10), "Maria", 8, 3, 10, 3),
        act(1, t(7, 10), "Maria", "walking to the cafe", "Town:street"),
        rec(1, t(7, 10), TownEvent::Tick),
        mv(2, t(7, 20), "Maria", 10, 3, 13, 2),
        act(2, t(7, 20), "Maria", "ordering coffee", "Cafe:counter"),
        rec(
            2,
            t(7, 20),
            TownEvent::ConversationStarted {
                id: 1,
                agents: vec!["Isabella".into(), "Maria".into()],
                place: "Cafe:counter".into(),
                topic: None,
            },
        ),
        rec(
            2,
            t(7, 20),
            TownEvent::Utterance {
                conversation: 1,
                speaker: "Isabella".into(),
                listener: "Maria".into(),
                text: "Morning! I'm throwing a party on Friday at 5.".into(),
            },
        ),
        rec(
            2,
            t(7, 20),
            TownEvent::Utterance {
                conversation: 1,
                speaker: "Maria".into(),
                listener: "Isabella".into(),
                text: "I'd love to come!".into(),
            },
        ),
        rec(
            2,
            t(7, 20),
            TownEvent::TopicLearned {
                agent: "Maria".into(),
                topic: "party".into(),
                from: Some("Isabella".into()),
                conversation: Some(1),
            },
        ),
        rec(
            2,
            t(7, 20),
            TownEvent::MemoryWritten {
                agent: "Maria".into(),
                kind: MemoryKind::Chat,
                text: "Isabella is throwing a party on Friday".into(),
                importance: 7,
                id: 1,
            },
        ),
        rec(2, t(7, 20), TownEvent::Tick),
        rec(
            3,
            t(7, 30),
            TownEvent::ConversationEnded {
                id: 1,
                turns: 2,
                reason: "said goodbye".into(),
            },
        ),
        rec(
            3,
            t(7, 30),
            TownEvent::Reflection {
                agent: "Maria".into(),
                insights: vec!["Isabella is a good friend".into()],
                evidence: vec![1],
            },
        ),
        rec(
            3,
            t(7, 30),
            TownEvent::CheckResult {
                name: "maria-knows".into(),
                passed: true,
                detail: "Maria knows by 07:30".into(),
            },
        ),
        rec(3, t(7, 30), TownEvent::Tick),
        mv(4, t(8, 0), "Klaus", 2, 1, 3, 3),
        rec(4, t(8, 0), TownEvent::Tick),
    ]
}

/// The screen as text, one string per row (trailing spaces kept: the buffer is the truth).
pub fn draw<S: Screen>(app: &S, w: u16, h: u16) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|f| app.render(f)).expect("draw");
    let buf = terminal.backend().buffer().clone();
    let lines = (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect();
    (lines, buf)
}

/// Compares a screen with `tests/screens/NAME.txt`; writes the file when it is missing or when
/// `UPDATE_SCREENS=1` (review the diff before committing it).
pub fn assert_screen(name: &str, lines: &[String]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/screens")
        .join(format!("{name}.txt"));
    let actual = lines
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    if std::env::var_os("UPDATE_SCREENS").is_some() {
        std::fs::write(&path, &actual).expect("write expected screen");
        return;
    }
    // A missing golden file is a failure, not a pass: a test must not bless its own first output.
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "screen {name}: no golden file at {} ({e}); check the screen below and record it with UPDATE_SCREENS=1\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "screen {name} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A lead's run whose first step delegated to a writer, as the live runner's observer sends it:
/// the child's events nested under step 1, then step 1's record, then the lead's finish.
pub fn delegated_trace() -> Vec<TraceEvent> {
    use serde_json::json;
    let start = |agent: &str, goal: &str| {
        TraceEvent::Start(RunStart {
            run_id: format!("{agent}-run"),
            agent: agent.into(),
            goal: goal.into(),
            model: "qwen2.5-coder-1.5b".into(),
            workspace: "/tmp/ws".into(),
            ..RunStart::default()
        })
    };
    let end = |step, answer: &str| {
        TraceEvent::End(RunEnd {
            step,
            at: 1_700_000_009_000,
            reason: StopReason::Finished,
            answer: Some(answer.into()),
            message: format!("finished at step {step}"),
            usage: usage(900, 90),
        })
    };
    let child = |event| {
        TraceEvent::Child(ChildEvent {
            step: 1,
            event: Box::new(event),
        })
    };
    let goal = "Write a two-line poem about rain to poem.txt.";
    let delegate = Action {
        thoughts: Thoughts::default(),
        tool: "delegate".into(),
        args: json!({"agent": "writer", "goal": goal}),
    };
    let TraceEvent::Step(mut step1) = step(1, "delegate", delegate.args.clone(), "Hand the poem to the writer.", "", ObservationStatus::Ok, "The sub-agent writer finished in 2 steps. Its answer: wrote poem.txt\nIts files are in writer-1/.") else {
        unreachable!()
    };
    step1.usage.sub_steps = 2;
    vec![
        start(
            "lead",
            "Have the writer write a poem about rain, then report it.",
        ),
        TraceEvent::Delegate(Box::new(DelegateRecord {
            step: 1,
            at: 1_700_000_001_000,
            prompt: vec![],
            raw: String::new(),
            action: delegate,
            usage: usage(500, 40),
            child: ChildRun {
                agent: "writer".into(),
                goal: goal.into(),
                run_dir: "children/1-writer".into(),
                workspace: "writer-1".into(),
                max_steps: 19,
                max_tokens: 300_000,
                max_wall_secs: 900,
                depth_left: 0,
            },
        })),
        child(start("writer", goal)),
        child(step(
            1,
            "write_file",
            json!({"path": "poem.txt"}),
            "Write it.",
            "",
            ObservationStatus::Ok,
            "wrote 52 bytes",
        )),
        child(step(
            2,
            "finish",
            json!({"answer": "wrote poem.txt"}),
            "Done.",
            "",
            ObservationStatus::Ok,
            "finished",
        )),
        child(end(2, "wrote poem.txt")),
        TraceEvent::Step(step1),
        step(
            2,
            "finish",
            json!({"answer": "Rain on the roof"}),
            "Report.",
            "",
            ObservationStatus::Ok,
            "finished",
        ),
        end(2, "Rain on the roof"),
    ]
}
