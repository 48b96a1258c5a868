//! The MCP servers the tests run: the npm reference servers (installed by `scripts/test.sh`
//! into `$HAMLET_HOME/mcp`, found through `HAMLET_MCP_NODE_MODULES`) and `quirky.py`, a server
//! whose tools misbehave on purpose.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};

/// The folder holding the npm packages; panics with the fix when they are missing.
pub fn node_modules() -> PathBuf {
    let dir = std::env::var_os("HAMLET_MCP_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| hamlet_models::default_home().join("mcp/node_modules"));
    let probe = dir.join("@modelcontextprotocol/server-filesystem/package.json");
    assert!(
        probe.is_file(),
        "the MCP test servers are not installed in {}: run scripts/test.sh (it runs ensure_mcp_servers from scripts/setup.sh), or `npm install --prefix DIR @modelcontextprotocol/server-filesystem @modelcontextprotocol/server-everything @modelcontextprotocol/inspector` and set HAMLET_MCP_NODE_MODULES=DIR/node_modules",
        dir.display()
    );
    dir
}

fn package(path: &str) -> String {
    node_modules().join(path).display().to_string()
}

/// `node …/server-filesystem ROOT`: file tools confined to `root`.
pub fn filesystem(root: &Path) -> Vec<String> {
    vec![
        "node".into(),
        package("@modelcontextprotocol/server-filesystem/dist/index.js"),
        root.display().to_string(),
    ]
}

/// The "everything" reference server's entry point (`stdio` or `streamableHttp` after it).
pub fn everything() -> String {
    package("@modelcontextprotocol/server-everything/dist/index.js")
}

/// The inspector's command-line entry point.
pub fn inspector() -> String {
    package("@modelcontextprotocol/inspector/cli/build/cli.js")
}

/// `python3 tests/mcp/quirky.py`.
pub fn quirky() -> Vec<String> {
    vec![
        "python3".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/quirky.py").into(),
    ]
}

/// `[[mcp]]` table text for a server started by `command`.
pub fn table(name: &str, command: &[String], extra: &str) -> String {
    let quoted: Vec<String> = command[1..].iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[mcp]]\nname = \"{name}\"\ncommand = {:?}\nargs = [{}]\n{extra}\n",
        command[0],
        quoted.join(", ")
    )
}
