//! The `hamlet` binary end to end: real model, real files, exit codes and one-line errors.

use std::process::Command;

mod common;
use common::{assert_one_line_error, hamlet, one_line_error, stderr, stdout};

#[test]
fn generate_streams_an_answer() {
    let o = hamlet(&[
        "generate",
        "What is the capital of France?",
        "--max-tokens",
        "24",
        "-v",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Paris"), "{}", stdout(&o));
    assert!(stderr(&o).contains("prompt tokens"), "{}", stderr(&o));
}

#[test]
fn generate_with_a_schema_prints_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"city":{"type":"string","maxLength":20},"temperature":{"type":"integer"}},"required":["city","temperature"]}"#,
    )
    .unwrap();
    let o = hamlet(&[
        "generate",
        "Give the weather in Paris as JSON.",
        "--json-schema",
        schema.to_str().unwrap(),
        "--temperature",
        "0.8",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["city"].is_string() && v["temperature"].is_i64(), "{v}");
}

#[test]
fn embed_prints_normalised_vectors() {
    let o = hamlet(&["embed", "a cat on a mat", "a kitten on a rug"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Vec<Vec<f32>> = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].len(), 384);
    let norm: f32 = v[0].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-3);
}

#[test]
fn models_list_shows_the_defaults() {
    let o = hamlet(&["models", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("smollm2-135m") && out.contains("minilm"),
        "{out}"
    );
}

#[test]
fn empty_prompt() {
    assert_one_line_error(&hamlet(&["generate", "  "]), "prompt is empty");
}

#[test]
fn missing_model() {
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--model", "/nope/model.gguf"]),
        "/nope/model.gguf",
    );
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--model", "no-such-model"]),
        "no-such-model",
    );
}

#[test]
fn corrupt_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--model", p.to_str().unwrap()]),
        "corrupt",
    );
    std::fs::write(&p, b"just text").unwrap();
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--model", p.to_str().unwrap()]),
        "not a GGUF file",
    );
}

#[test]
fn bad_schema_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.json");
    std::fs::write(&p, "{\n  \"type\": \"object\",\n  \"properties\": {\n}").unwrap();
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--json-schema", p.to_str().unwrap()]),
        "line 4",
    );
    std::fs::write(&p, r#"{"type": "objekt"}"#).unwrap();
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--json-schema", p.to_str().unwrap()]),
        "not valid",
    );
    assert_one_line_error(
        &hamlet(&["generate", "hi", "--json-schema", "/nope.json"]),
        "/nope.json",
    );
}

#[test]
fn bad_sampling_value() {
    assert_one_line_error(&hamlet(&["generate", "hi", "--top-p", "0"]), "top-p");
}

#[test]
fn empty_embedding_text() {
    assert_one_line_error(&hamlet(&["embed", "fine", ""]), "text 2 is empty");
}

#[test]
fn unknown_bfcl_category() {
    assert_one_line_error(
        &hamlet(&["eval", "bfcl", "--category", "simple_rust"]),
        "simple_python",
    );
}

#[test]
fn unknown_model_to_pull() {
    assert_one_line_error(
        &hamlet(&["models", "pull", "no-such-model"]),
        "known models",
    );
}

#[test]
fn bench_llm_reports_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.md");
    let o = hamlet(&[
        "bench",
        "llm",
        "--reps",
        "1",
        "--gen-tokens",
        "8",
        "--batch",
        "1,2",
        "--batch-tokens",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = std::fs::read_to_string(&out).unwrap();
    assert_eq!(report, stdout(&o));
    for want in [
        "raw llama-cpp-2",
        "ratio",
        "same greedy text from both: yes",
        "Time to first token",
        "one batch (tok/s)",
    ] {
        assert!(report.contains(want), "{want:?} missing from:\n{report}");
    }
}

/// A cache holding only the chat model: `hamlet embed` falls back to it, with a warning.
#[test]
fn embed_falls_back_to_the_chat_model_when_minilm_is_missing() {
    let real = hamlet_models::ModelCache::open_default();
    let chat = real.resolve("smollm2-135m").unwrap();
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let name = chat.file_name().unwrap();
    std::os::unix::fs::symlink(&chat, models.join(name)).unwrap();
    let manifest = format!("{}.json", chat.display());
    std::fs::copy(
        &manifest,
        models.join(format!("{}.json", name.to_string_lossy())),
    )
    .unwrap();
    let o = Command::new(common::BIN)
        .args(["embed", "a cat", "a dog"])
        .env("HAMLET_HOME", home.path())
        .env("HAMLET_THREADS", "1")
        .env_remove("HAMLET_EMBED_MODEL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("much weaker"), "{}", stderr(&o));
    let v: Vec<Vec<f32>> = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!((v.len(), v[0].len()), (2, 576), "SmolLM2's hidden size");
}

#[test]
fn a_town_without_personas_is_one_error_that_says_each_cause_once() {
    // The world's personas folder (`../../agents/town` from the world) does not exist here.
    let d = tempfile::tempdir().unwrap();
    let world = d.path().join("worlds/smallville");
    std::fs::create_dir_all(&world).unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
    for f in ["map.txt", "world.toml"] {
        std::fs::copy(format!("{src}/{f}"), world.join(f)).unwrap();
    }
    let o = hamlet(&[
        "sim",
        world.to_str().unwrap(),
        "--fake-model",
        "--until",
        "day 1 07:00",
    ]);
    let err = one_line_error(&o);
    assert!(err.contains("agents/town"), "{err}");
    assert!(
        err.matches("No such file or directory").count() <= 1,
        "{err}"
    );
}
