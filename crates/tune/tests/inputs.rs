//! Bad inputs get clear errors: malformed dataset records (file and line, or skipped with a count),
//! a base model that is not a llama chat model; agent traces become chat records.

mod common;

use candle_core::Device;
use hamlet_core::trace::{
    Action, Observation, ObservationStatus, RunEnd, RunStart, StepRecord, StopReason, Thoughts,
    TraceEvent, Usage,
};
use hamlet_core::{Message, Role};
use hamlet_tune::data::read_conversations;
use hamlet_tune::trajectories::{export, ExportOptions};
use hamlet_tune::Backbone;

const GOOD: &str = r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#;

#[test]
fn bad_records_name_file_and_line_or_are_skipped_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.jsonl");
    let cases = [
        ("{not json", "invalid JSON"),
        (r#"{"messages": [{"content": "x"}]}"#, "no string 'role'"),
        (
            r#"{"messages": [{"role": "user", "content": "x"}]}"#,
            "last message must be the assistant",
        ),
        (
            r#"{"messages": [{"role": "robot", "content": "x"}]}"#,
            "unknown role 'robot'",
        ),
        (r#"{"instruction": "x"}"#, "no 'output'"),
        (
            r#"{"prompt": "x", "completion": "y"}"#,
            "neither 'messages'",
        ),
        (r#"[1, 2]"#, "JSON object"),
    ];
    for (bad, expect) in cases {
        std::fs::write(&path, format!("{GOOD}\n\n{bad}\n{GOOD}\n")).unwrap();
        let err = read_conversations(&path, false).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:3:", path.display())), "{err}");
        assert!(err.contains(expect), "{err}");
        assert!(err.contains("--skip-bad"), "{err}");
        let (convs, skipped) = read_conversations(&path, true).unwrap();
        assert_eq!((convs.len(), skipped), (2, 1));
    }
    // A JSON array: the record number; Alpaca records become user + assistant.
    let json = dir.path().join("data.json");
    std::fs::write(&json, r#"[{"instruction": "Add", "input": "2 and 3", "output": "5", "system": "Be brief."}, {"output": "x"}]"#).unwrap();
    let err = read_conversations(&json, false).unwrap_err().to_string();
    assert!(
        err.contains(":2:") && err.contains("no 'instruction'"),
        "{err}"
    );
    let (convs, _) = read_conversations(&json, true).unwrap();
    assert_eq!(
        convs[0],
        vec![
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Add\n\n2 and 3"),
            Message::new(Role::Assistant, "5"),
        ]
    );
    // Nothing usable at all.
    std::fs::write(&path, "{not json\n").unwrap();
    let err = read_conversations(&path, true).unwrap_err().to_string();
    assert!(err.contains("no usable records (1 skipped)"), "{err}");
}

#[test]
fn an_unsupported_base_model_is_refused_clearly() {
    let err = Backbone::load(&common::cached("minilm"), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("architecture 'bert' cannot be tuned"), "{err}");
    assert!(err.contains("--base smollm2-135m"), "{err}");
    assert!(err.contains("--base qwen2.5-coder-1.5b"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("x.gguf");
    std::fs::write(&not_gguf, b"not a model").unwrap();
    let err = Backbone::load(&not_gguf, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a GGUF file"), "{err}");
}

fn step(n: u32, action: bool, status: ObservationStatus) -> TraceEvent {
    TraceEvent::Step(StepRecord {
        step: n,
        at: 0,
        prompt: vec![
            Message::new(Role::System, "You are an agent."),
            Message::new(Role::User, format!("Goal: step {n}")),
        ],
        raw: format!("{{\"tool\": \"list_dir\", \"step\": {n}}}"),
        action: action.then(|| Action {
            thoughts: Thoughts::default(),
            tool: "list_dir".into(),
            args: serde_json::json!({"path": "."}),
        }),
        observation: Observation {
            status,
            text: "ok".into(),
            truncated_from: None,
        },
        usage: Usage::default(),
    })
}

fn write_run(dir: &std::path::Path, events: &[TraceEvent]) {
    std::fs::create_dir_all(dir).unwrap();
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("trace.jsonl"), text).unwrap();
}

#[test]
fn successful_runs_become_chat_records() {
    let dir = tempfile::tempdir().unwrap();
    let start = TraceEvent::Start(RunStart {
        goal: "g".into(),
        tools: vec!["list_dir".into()],
        ..RunStart::default()
    });
    let end = |reason| {
        TraceEvent::End(RunEnd {
            step: 3,
            at: 0,
            reason,
            answer: None,
            message: String::new(),
            usage: Usage::default(),
        })
    };
    let ok = dir.path().join("ok");
    write_run(
        &ok,
        &[
            start.clone(),
            step(1, true, ObservationStatus::Ok),
            step(2, false, ObservationStatus::Invalid),
            step(3, true, ObservationStatus::ToolError),
            end(StopReason::Finished),
        ],
    );
    let stuck = dir.path().join("stuck");
    write_run(
        &stuck,
        &[
            start.clone(),
            step(1, true, ObservationStatus::Ok),
            end(StopReason::Stuck),
        ],
    );
    let out = dir.path().join("out.jsonl");
    let report = export(
        &[ok.clone(), stuck.clone()],
        &out,
        &ExportOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (report.runs_read, report.runs_used, report.examples),
        (2, 1, 2)
    );
    assert!(report.runs_skipped[0].1.contains("Stuck"));
    // The records read back as chat data ending in the raw reply.
    let (convs, skipped) = read_conversations(&out, false).unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(convs[0].len(), 3);
    assert_eq!(
        convs[0][2],
        Message::new(Role::Assistant, "{\"tool\": \"list_dir\", \"step\": 1}")
    );
    // Only successful tool calls, and a minimum run length.
    let export_ok = |ok_only, min_steps| {
        let opts = ExportOptions { ok_only, min_steps };
        export(std::slice::from_ref(&ok), &out, &opts).unwrap()
    };
    assert_eq!(export_ok(true, 0).examples, 1);
    assert_eq!(export_ok(false, 5).runs_used, 0);
    // A broken trace line is an error naming the file and line.
    std::fs::write(ok.join("trace.jsonl"), "{\"type\": \"start\"}\n").unwrap();
    let err = export(&[ok], &out, &ExportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("trace.jsonl:1"), "{err}");
}
