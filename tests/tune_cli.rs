//! `hamlet tune` end to end: clear one-line errors, a one-step real run that writes an adapter
//! `hamlet generate --lora` serves, and `export-trajectories` on a hand-written trace.

mod common;
use common::{assert_error_line, hamlet, text};

const RECORD: &str = r#"{"messages": [{"role": "user", "content": "Say the word."}, {"role": "assistant", "content": "Pelican."}]}"#;

#[test]
fn tune_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.gguf");
    let out_s = out.to_str().unwrap();
    assert_error_line(&hamlet(&["tune", "--out", out_s]), "pass --data FILE");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{RECORD}\n{{\"messages\": 3}}\n")).unwrap();
    let bad_s = bad.to_str().unwrap();
    assert_error_line(
        &hamlet(&["tune", "--data", bad_s, "--out", out_s]),
        "bad.jsonl:2: 'messages' must be an array",
    );
    assert_error_line(
        &hamlet(&["tune", "--data", bad_s, "--out", out_s, "--base", "minilm"]),
        "architecture 'bert' cannot be tuned",
    );
    assert_error_line(
        &hamlet(&["tune", "--data", bad_s, "--out", out_s, "--targets", "qq"]),
        "unknown LoRA target 'qq'",
    );
    assert!(!out.exists());
}

#[test]
fn one_step_writes_an_adapter_that_generate_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, format!("{RECORD}\n{RECORD}\n{{oops\n")).unwrap();
    let out = dir.path().join("a.gguf");
    let o = hamlet(&[
        "tune",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-steps",
        "1",
        "--batch-size",
        "1",
        "--rank",
        "2",
        "--targets",
        "q,v",
        "--skip-bad",
        "--eval-fraction",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("skipped 1 records"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("trained 1 steps"),
        "{}",
        text(&o.stdout)
    );
    let g = hamlet(&[
        "generate",
        "--lora",
        out.to_str().unwrap(),
        "--max-tokens",
        "4",
        "Say the word.",
    ]);
    assert!(g.status.success(), "{}", text(&g.stderr));
}

#[test]
fn export_trajectories_writes_chat_records() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run1");
    std::fs::create_dir_all(&run).unwrap();
    let trace = [
        r#"{"type":"start","run_id":"r","agent":"a","goal":"g","model":"m","workspace":".","started":0,"tools":["finish"]}"#,
        r#"{"type":"step","step":1,"at":0,"prompt":[{"role":"system","content":"s"},{"role":"user","content":"Goal: g"}],"raw":"{\"tool\":\"finish\"}","action":{"thoughts":{},"tool":"finish","args":{"answer":"x"}},"observation":{"status":"ok","text":"done"},"usage":{"prompt_tokens":1,"cached_tokens":0,"completion_tokens":1,"model_ms":1.0,"tool_ms":0.0}}"#,
        r#"{"type":"end","step":1,"at":0,"reason":"finished","answer":"x","message":"done","usage":{"prompt_tokens":1,"cached_tokens":0,"completion_tokens":1,"model_ms":1.0,"tool_ms":0.0}}"#,
    ];
    std::fs::write(run.join("trace.jsonl"), trace.join("\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let o = hamlet(&[
        "tune",
        "export-trajectories",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("1 of 1 runs used, 1 chat records"),
        "{}",
        text(&o.stdout)
    );
    let line = std::fs::read_to_string(&out).unwrap();
    assert!(
        line.contains(r#""role":"assistant","content":"{\"tool\":\"finish\"}""#),
        "{line}"
    );
}
