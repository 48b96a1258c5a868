//! The TUI draws snapshots and events: among Hamlet's crates it depends on `hamlet-core` only
//! (no agent loop, no town, no model backend).

use std::process::Command;

#[test]
fn tui_depends_on_core_only() {
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
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let tui = packages
        .iter()
        .find(|p| p["name"] == "hamlet-tui")
        .expect("hamlet-tui in the workspace");
    let internal: Vec<&str> = tui["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
        .filter_map(|d| d["name"].as_str())
        .filter(|n| n.starts_with("hamlet"))
        .collect();
    assert_eq!(internal, vec!["hamlet-core"]);
}
