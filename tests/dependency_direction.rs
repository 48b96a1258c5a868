//! Dependencies point one way: `hamlet-core` at the bottom (serde and thiserror only), the
//! backends above it, the binary on top. Read from `cargo metadata` so a new edge fails here.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The normal (not dev, not build) dependencies of a workspace package.
fn deps(meta: &Value, package: &str) -> BTreeSet<String> {
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .unwrap();
    pkg["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn core_depends_on_data_crates_only() {
    let core = deps(&metadata(), "hamlet-core");
    // schemars derives JSON Schemas from types (tool arguments, town replies): data, no runtime.
    let allowed: BTreeSet<String> = ["schemars", "serde", "serde_json", "thiserror"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        core.is_subset(&allowed),
        "hamlet-core must stay free of runtimes and backends: {core:?}"
    );
}

#[test]
fn library_crates_depend_downwards_only() {
    let meta = metadata();
    let internal = |p: &str| {
        deps(&meta, p)
            .into_iter()
            .filter(|d| d.starts_with("hamlet"))
            .collect::<Vec<_>>()
    };
    // Each library crate's hamlet dependencies, and why they stop there.
    #[rustfmt::skip]
    let rules: &[(&str, &[&str], &str)] = &[
        ("hamlet-core", &[], "core is the bottom"),
        ("hamlet-prompts", &[], "the template loader sits beside core, on minijinja alone"),
        ("hamlet-llm", &["hamlet-core"], "the backends implement core's traits"),
        ("hamlet-memory", &["hamlet-core", "hamlet-prompts"], "memory speaks to the Embedder/Llm traits, not to a backend (hamlet-llm is a dev-dependency only)"),
        ("hamlet-eval", &["hamlet-core"], "the evaluation runs on the Llm trait, not a backend"),
        ("hamlet-models", &[], "the registry and cache stand alone"),
        ("hamlet-tune", &["hamlet-core", "hamlet-models"], "tuning needs the model files, not the serving backend"),
        ("hamlet-tools", &["hamlet-core"], "tools speak to MemoryStream, not to the memory crate"),
        ("hamlet-mcp", &["hamlet-core", "hamlet-tools"], "MCP tools are DynTools and the server serves any MemoryStream, not the memory crate"),
        ("hamlet-agent", &["hamlet-core", "hamlet-mcp", "hamlet-prompts", "hamlet-tools"], "the loop runs on the Llm trait (and starts the agent file's MCP servers); the binary picks the backend and the memory store"),
        ("hamlet-town", &["hamlet-core", "hamlet-prompts"], "the town runs on the Llm trait and core's event types; the binary picks the backend"),
        ("hamlet-web", &["hamlet-core"], "the web viewer folds core's event types with core's folds; the binary wires it to the runner"),
        ("hamlet-tui", &["hamlet-core"], "the TUI draws snapshots and events: no agent loop, no town, no model backend"),
    ];
    for (krate, want, why) in rules {
        assert_eq!(internal(krate), want.to_vec(), "{krate}: {why}");
    }
}
