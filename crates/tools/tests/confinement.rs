//! Each tool's confinement and errors: what the runtime refuses whatever the model asks.

use std::sync::Arc;
use std::time::Duration;

use hamlet_core::testing::VecMemory;
use hamlet_tools::{Policy, Registry, ToolContext, ToolError, Workspace};
use serde_json::json;

fn ctx(policy: Policy) -> (tempfile::TempDir, ToolContext) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(dir.path().join("ws")).unwrap();
    (dir, ToolContext::new(ws, policy))
}

fn call(ctx: &ToolContext, tool: &str, args: serde_json::Value) -> Result<String, ToolError> {
    Registry::builtin().call(ctx, tool, args)
}

/// The message of a call that must fail.
fn error_of(ctx: &ToolContext, tool: &str, args: serde_json::Value) -> String {
    call(ctx, tool, args).unwrap_err().to_string()
}

#[test]
fn files_round_trip_inside_the_workspace() {
    let (_d, c) = ctx(Policy::default());
    call(
        &c,
        "write_file",
        json!({"path": "notes/a.txt", "content": "alpha\n"}),
    )
    .unwrap();
    call(
        &c,
        "append_file",
        json!({"path": "notes/a.txt", "content": "beta giraffe\n"}),
    )
    .unwrap();
    assert_eq!(
        call(&c, "read_file", json!({"path": "notes/a.txt"})).unwrap(),
        "alpha\nbeta giraffe\n"
    );
    let listing = call(&c, "list_dir", json!({})).unwrap();
    assert_eq!(listing, "notes/");
    let listing = call(&c, "list_dir", json!({"path": "notes"})).unwrap();
    assert_eq!(listing, "a.txt (19 bytes, 2 lines)");
    let found = call(&c, "search_files", json!({"pattern": "GIRAFFE"})).unwrap();
    assert_eq!(found, "notes/a.txt:2: beta giraffe");
}

#[test]
fn traversal_and_absolute_paths_are_refused_by_every_file_tool() {
    let (dir, c) = ctx(Policy::default());
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    for path in ["../secret.txt", "/etc/passwd", "a/../../secret.txt"] {
        for (tool, args) in [
            ("read_file", json!({"path": path})),
            ("write_file", json!({"path": path, "content": "x"})),
            ("append_file", json!({"path": path, "content": "x"})),
            ("list_dir", json!({"path": path})),
            ("search_files", json!({"pattern": "secret", "path": path})),
        ] {
            let err = call(&c, tool, args).unwrap_err();
            assert!(matches!(err, ToolError::Refused(_)), "{tool} {path}: {err}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_that_escape_are_refused_and_inner_ones_work() {
    let (dir, c) = ctx(Policy::default());
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    std::fs::create_dir(dir.path().join("outside")).unwrap();
    let root = c.workspace.root().to_path_buf();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).unwrap();
    std::fs::write(root.join("real.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(root.join("real.txt"), root.join("alias.txt")).unwrap();

    let err = call(&c, "read_file", json!({"path": "link.txt"})).unwrap_err();
    assert!(matches!(err, ToolError::Refused(_)), "{err}");
    let err = call(
        &c,
        "write_file",
        json!({"path": "out/new.txt", "content": "x"}),
    )
    .unwrap_err();
    assert!(matches!(err, ToolError::Refused(_)), "{err}");
    assert!(!dir.path().join("outside/new.txt").exists());
    // search does not follow links out of the workspace
    let found = call(&c, "search_files", json!({"pattern": "top secret"})).unwrap();
    assert!(found.starts_with("no matches"), "{found}");
    assert_eq!(
        call(&c, "read_file", json!({"path": "alias.txt"})).unwrap(),
        "inside"
    );
}

#[test]
fn file_errors_say_what_to_do() {
    let (_d, c) = ctx(Policy::default());
    let err = error_of(&c, "read_file", json!({"path": "missing.txt"}));
    assert!(
        err.contains("missing.txt") && err.contains("list_dir"),
        "{err}"
    );
    let err = call(&c, "read_file", json!({"file": "x"})).unwrap_err();
    assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    let err = error_of(&c, "read_fil", json!({"path": "x"}));
    assert!(
        err.contains("unknown tool") && err.contains("read_file"),
        "{err}"
    );
    let err = call(&c, "search_files", json!({"pattern": "(", "regex": true})).unwrap_err();
    assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
}

#[test]
fn private_and_loopback_addresses_are_refused_by_default() {
    let (_d, c) = ctx(Policy::default());
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://10.0.0.1/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
    ] {
        let err = call(&c, "http_get", json!({"url": url})).unwrap_err();
        assert!(matches!(err, ToolError::Refused(_)), "{url}: {err}");
    }
    let err = call(&c, "http_get", json!({"url": "ftp://example.com/"})).unwrap_err();
    assert!(matches!(err, ToolError::Refused(_)), "{err}");
}

/// A one-shot local HTTP server answering every request with `body`.
fn serve(responses: Vec<(u16, &'static str, String, Option<String>)>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    std::thread::spawn(move || {
        for (status, ctype, body, location) in responses {
            let Ok(req) = server.recv() else { return };
            let mut resp = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(tiny_http::Header::from_bytes("Content-Type", ctype).unwrap());
            if let Some(loc) = location {
                resp = resp.with_header(tiny_http::Header::from_bytes("Location", loc).unwrap());
            }
            let _ = req.respond(resp);
        }
    });
    format!("http://{addr}")
}

#[test]
fn http_get_reads_html_as_text_when_loopback_is_allowed() {
    let base = serve(vec![(
        200,
        "text/html",
        "<html><head><script>var x = 1;</script></head><body><h1>Hamlet</h1><p>To be, or not to be.</p></body></html>".into(),
        None,
    )]);
    let (_d, c) = ctx(Policy {
        allow_private_network: true,
        ..Policy::default()
    });
    let text = call(&c, "http_get", json!({"url": format!("{base}/page")})).unwrap();
    assert!(
        text.contains("Hamlet") && text.contains("To be, or not to be."),
        "{text}"
    );
    assert!(!text.contains("<p>"), "{text}");
}

#[test]
fn http_get_limits_size_and_reports_status() {
    let base = serve(vec![
        (200, "text/plain", "x".repeat(5000), None),
        (404, "text/plain", "no such page".into(), None),
    ]);
    let policy = Policy {
        allow_private_network: true,
        http_max_bytes: 1000,
        ..Policy::default()
    };
    let (_d, c) = ctx(policy);
    let text = call(&c, "http_get", json!({"url": format!("{base}/big")})).unwrap();
    assert!(text.starts_with(&"x".repeat(1000)) && text.contains("[page cut at 1000 bytes]"));
    let err = error_of(&c, "http_get", json!({"url": format!("{base}/missing")}));
    assert!(err.contains("404"), "{err}");
}

#[test]
fn redirects_into_private_networks_are_refused() {
    // The local server is allowed by name; the private address it redirects to is not.
    let base = serve(vec![(
        302,
        "text/plain",
        String::new(),
        Some("http://10.0.0.1/".into()),
    )]);
    let policy = Policy {
        allow_hosts: vec!["127.0.0.1".into()],
        ..Policy::default()
    };
    let (_d, c) = ctx(policy);
    let err = error_of(&c, "http_get", json!({"url": base}));
    assert!(err.contains("10.0.0.1") && err.contains("private"), "{err}");
}

#[cfg(unix)]
#[test]
fn shell_is_off_by_default_and_allow_listed_when_on() {
    let (_d, c) = ctx(Policy::default());
    let err = call(&c, "shell", json!({"command": "echo hi"})).unwrap_err();
    assert!(matches!(err, ToolError::Refused(_)), "{err}");

    let policy = Policy {
        shell_allow: vec!["echo".into(), "sleep".into(), "pwd".into()],
        shell_timeout: Duration::from_millis(500),
        ..Policy::default()
    };
    let (_d, c) = ctx(policy);
    let out = call(&c, "shell", json!({"command": "echo hi; rm -rf / | cat"})).unwrap();
    // no shell: `;` and `|` are plain arguments of echo
    assert_eq!(out, "exit code 0\nstdout:\nhi; rm -rf / | cat");
    let out = call(&c, "shell", json!({"command": "pwd"})).unwrap();
    assert!(
        out.contains(&c.workspace.root().display().to_string()),
        "{out}"
    );
    let err = error_of(&c, "shell", json!({"command": "rm -rf x"}));
    assert!(err.contains("not allowed") && err.contains("echo"), "{err}");
    let err = call(&c, "shell", json!({"command": "/bin/echo hi"})).unwrap_err();
    assert!(matches!(err, ToolError::Refused(_)), "{err}");
    let err = error_of(&c, "shell", json!({"command": "sleep 5"}));
    assert!(err.contains("did not finish"), "{err}");
}

#[cfg(unix)]
#[test]
fn shell_timeout_holds_against_background_children() {
    // A grandchild that keeps stdout open used to hold the call until it ended, and outlived it.
    let policy = Policy {
        shell_allow: vec!["sh".into()],
        shell_timeout: Duration::from_millis(500),
        ..Policy::default()
    };
    let (_d, c) = ctx(policy);
    let marker = c.workspace.root().join("still-running");
    let started = std::time::Instant::now();
    let err = error_of(
        &c,
        "shell",
        json!({"command": "sh -c 'sleep 3 && touch still-running & sleep 30'"}),
    );
    assert!(err.contains("did not finish"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "a background child outlived the call");
}

#[test]
fn shell_output_redirection_stays_in_the_workspace() {
    let policy = Policy {
        shell_allow: vec!["echo".into()],
        ..Policy::default()
    };
    let (_d, c) = ctx(policy);
    let out = call(&c, "shell", json!({"command": "echo 102334155 > fib.txt"})).unwrap();
    assert!(
        out.contains("saved to fib.txt") && out.contains("102334155"),
        "{out}"
    );
    let saved = std::fs::read_to_string(c.workspace.root().join("fib.txt")).unwrap();
    assert_eq!(saved, "102334155\n");
    call(&c, "shell", json!({"command": "echo more >>fib.txt"})).unwrap();
    let saved = std::fs::read_to_string(c.workspace.root().join("fib.txt")).unwrap();
    assert_eq!(saved, "102334155\nmore\n");
    for escape in ["echo x > ../out.txt", "echo x > /tmp/out.txt"] {
        let err = call(&c, "shell", json!({"command": escape})).unwrap_err();
        assert!(matches!(err, ToolError::Refused(_)), "{escape}: {err}");
    }
}

#[test]
fn calculator_evaluates_and_reports_bad_expressions() {
    let (_d, c) = ctx(Policy::default());
    assert_eq!(
        call(&c, "calculator", json!({"expression": "(3 + 4) * 2 / 4"})).unwrap(),
        "3.5"
    );
    let err = call(&c, "calculator", json!({"expression": "3 +* 4"})).unwrap_err();
    assert!(matches!(err, ToolError::Failed(_)), "{err}");
}

#[test]
fn remember_and_recall_use_the_memory_stream() {
    let (_d, c) = ctx(Policy::default());
    let err = error_of(&c, "remember", json!({"text": "x"}));
    assert!(err.contains("not enabled"), "{err}");
    let memory = Arc::new(VecMemory::new());
    let c = c.with_memory(memory.clone(), "ada");
    call(
        &c,
        "remember",
        json!({"text": "The launch code is 1234", "importance": 9}),
    )
    .unwrap();
    call(&c, "remember", json!({"text": "Lunch is at noon"})).unwrap();
    let out = call(&c, "recall", json!({"query": "launch code", "k": 1})).unwrap();
    assert!(out.contains("1234") && !out.contains("noon"), "{out}");
    assert_eq!(memory.all()[0].agent, "ada");
    assert_eq!(memory.all()[0].importance, 9);
}

#[test]
fn finish_returns_its_answer() {
    let (_d, c) = ctx(Policy::default());
    assert_eq!(call(&c, "finish", json!({"answer": "42"})).unwrap(), "42");
}

/// A FIFO in the workspace used to hang `read_file` forever (open waits for a writer). Every file
/// tool now refuses it at once, and `search_files` passes over it.
#[test]
fn special_files_are_refused_without_blocking() {
    let (_d, c) = ctx(Policy::default());
    let fifo = c.workspace.root().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    std::fs::write(c.workspace.root().join("note.txt"), "pipe dreams").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let c2 = c.clone();
    std::thread::spawn(move || {
        let read = call(&c2, "read_file", json!({"path": "pipe"}));
        let write = call(&c2, "write_file", json!({"path": "pipe", "content": "x"}));
        let append = call(&c2, "append_file", json!({"path": "pipe", "content": "x"}));
        let search = call(&c2, "search_files", json!({"pattern": "pipe"}));
        let _ = tx.send((read, write, append, search));
    });
    let (read, write, append, search) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a file tool blocked on a FIFO");
    let read = read.unwrap_err();
    assert!(matches!(read, ToolError::Refused(_)), "{read}");
    assert!(read.to_string().contains("not a regular file"), "{read}");
    // With no reader, opening for writing fails at once (ENXIO) or is refused: never a hang.
    assert!(write.is_err() && append.is_err());
    let hits = search.unwrap();
    assert!(hits.contains("note.txt:1"), "{hits}");
}
