//! Bad input gets a clear error, never a panic or a llama.cpp abort.

mod common;

use std::io::Write;

use hamlet_core::{Error, GenerateRequest, Llm, Message};
use hamlet_llm::{LlamaConfig, LlamaLlm};
use serde_json::json;

fn load_err(path: &std::path::Path) -> String {
    let mut c = LlamaConfig::new(path);
    c.threads = 1;
    let err = LlamaLlm::load(c).unwrap_err();
    assert!(matches!(err, Error::ModelFile(_)), "{err:?}");
    err.to_string()
}

#[test]
fn missing_model_file() {
    let err = load_err(std::path::Path::new("/nonexistent/model.gguf"));
    assert!(
        err.contains("/nonexistent/model.gguf") && err.contains("models pull"),
        "{err}"
    );
}

/// The load error of a model file holding `bytes`.
fn load_err_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.gguf");
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    load_err(&p)
}

#[test]
fn a_file_that_is_not_gguf() {
    let err = load_err_of(b"hello, I am a text file");
    assert!(err.contains("not a GGUF file"), "{err}");
}

#[test]
fn a_truncated_model_file() {
    let bytes = std::fs::read(common::chat_model()).unwrap();
    let err = load_err_of(&bytes[..bytes.len() / 2]);
    assert!(err.contains("corrupt"), "{err}");
}

#[test]
fn a_gguf_header_with_garbage_after_it() {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let err = load_err_of(&bytes);
    assert!(err.contains("corrupt"), "{err}");
}

/// `--gpu-layers` on a CPU-only build is an error that says how to get a GPU build, not a
/// silent CPU run.
#[cfg(not(feature = "cuda"))]
#[test]
fn gpu_layers_on_a_build_without_cuda() {
    let mut c = LlamaConfig::new(common::chat_model());
    c.gpu_layers = 8;
    let err = LlamaLlm::load(c).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("built without cuda") && err.contains("--features cuda"),
        "{err}"
    );
}

#[test]
fn bad_requests() {
    let llm = common::llm(1);
    let cases: Vec<(GenerateRequest, &str)> = vec![
        (
            GenerateRequest::chat(vec![Message::user("  ")]),
            "prompt is empty",
        ),
        (
            GenerateRequest::raw("hi").with_schema(json!({"type": "objekt"})),
            "not valid",
        ),
        (
            GenerateRequest::raw("hi").with_schema(json!("string")),
            "must be an object",
        ),
        (
            GenerateRequest::raw("hi").with_schema(json!({"$ref": "#/definitions/missing"})),
            "JSON schema",
        ),
        (GenerateRequest::raw("hi").with_stop(""), "stop strings"),
        (
            GenerateRequest::raw("hi").with_sampling(hamlet_core::Sampling {
                temperature: -1.0,
                ..Default::default()
            }),
            "temperature",
        ),
        (GenerateRequest::raw("word ".repeat(3000)), "context holds"),
    ];
    for (req, want) in cases {
        let err = llm.generate(&req).unwrap_err();
        assert!(err.to_string().contains(want), "{want:?} not in {err}");
        assert!(
            matches!(
                err,
                Error::InvalidRequest(_) | Error::ContextOverflow { .. }
            ),
            "{err:?}"
        );
    }
    // The engine still works afterwards.
    assert!(llm
        .generate(&GenerateRequest::raw("Hello").with_max_tokens(2))
        .is_ok());
}
