//! MCP end to end against real servers: `hamlet mcp tools/call` on the npm reference servers
//! (stdio and streamable HTTP), agent runs whose tools come from MCP servers (the allow-list, a
//! server that crashes or hangs, a schema no grammar can be built from, the real model through
//! the filesystem server), and `hamlet mcp serve` under the rmcp client and the inspector's CLI.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hamlet_agent::{AgentSpec, Prompts, Runner};
use hamlet_core::testing::ScriptedLlm;
use hamlet_core::trace::{ObservationStatus, StepRecord, StopReason, TraceEvent};
use hamlet_mcp::{Launch, ServerConfig, Session, Stderr};
use hamlet_tools::{Policy, Registry, ToolContext, Workspace};
use serde_json::{json, Value};

mod common;
mod mcp;
use common::{assert_one_line_error, hamlet, hamlet_default_model, ok, run_args, text, BIN};

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `hamlet mcp SUB [pre…] -- COMMAND… [-- post…]`.
fn mcp(sub: &str, pre: &[&str], command: &[String], post: &[&str]) -> std::process::Output {
    let mut args = vec!["mcp", sub];
    args.extend(pre);
    args.push("--");
    args.extend(strs(command));
    if !post.is_empty() {
        args.push("--");
        args.extend(post);
    }
    hamlet(&args)
}

#[test]
fn mcp_tools_and_call_drive_the_filesystem_server() {
    let dir = tempfile::tempdir().unwrap();
    let fs = mcp::filesystem(dir.path());
    let out = ok(&mcp("tools", &[], &fs, &[]));
    assert!(
        out.contains("read_text_file") && out.contains("write_file") && out.contains("args: {"),
        "{out}"
    );
    let listed: Value = serde_json::from_str(&ok(&mcp("tools", &["--json"], &fs, &[]))).unwrap();
    let write = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "write_file")
        .unwrap();
    assert_eq!(
        write["input_schema"]["required"],
        json!(["path", "content"])
    );
    assert!(write["input_schema"].get("$schema").is_none(), "{write}");

    let target = dir.path().join("note.txt");
    let args = json!({"path": target, "content": "written over MCP"}).to_string();
    ok(&mcp("call", &[], &fs, &["write_file", &args]));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "written over MCP"
    );
    let args = json!({"path": target}).to_string();
    let out = ok(&mcp("call", &[], &fs, &["read_text_file", &args]));
    assert!(out.contains("written over MCP"), "{out}");
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` (its output dropped) as a server on `port` and waits until it listens.
fn serve_on(port: u16, command: &mut Command) -> Killed {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Killed(child);
    wait_for_port(port);
    server
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

#[test]
fn the_everything_server_answers_over_stdio_and_streamable_http() {
    let stdio = vec!["node".to_string(), mcp::everything(), "stdio".into()];
    let out = ok(&mcp("tools", &[], &stdio, &[]));
    assert!(out.contains("echo") && out.contains("get-sum"), "{out}");
    let out = ok(&mcp(
        "call",
        &[],
        &stdio,
        &["echo", r#"{"message": "over stdio"}"#],
    ));
    assert!(out.contains("over stdio"), "{out}");

    let port = free_port();
    let mut node = Command::new("node");
    node.args([&mcp::everything(), "streamableHttp"])
        .env("PORT", port.to_string());
    let _server = serve_on(port, &mut node);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let out = ok(&hamlet(&[
        "mcp",
        "call",
        "--url",
        &url,
        "echo",
        r#"{"message": "over http"}"#,
    ]));
    assert!(out.contains("over http"), "{out}");
    let out = ok(&hamlet(&["mcp", "tools", "--url", &url]));
    assert!(out.contains("get-sum"), "{out}");
}

#[test]
fn bad_servers_and_calls_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = vec!["/nonexistent/mcp-server".to_string()];
    assert_one_line_error(
        &mcp("tools", &[], &missing, &[]),
        "cannot run `/nonexistent/mcp-server`",
    );
    let not_mcp = vec!["python3".to_string(), "-c".into(), "print('hello')".into()];
    assert_one_line_error(&mcp("tools", &[], &not_mcp, &[]), "MCP handshake");
    let fs = mcp::filesystem(dir.path());
    assert_one_line_error(
        &mcp("call", &[], &fs, &["no_such_tool", "{}"]),
        "has no tool \"no_such_tool\"; it has: ",
    );
    assert_one_line_error(
        &mcp("call", &[], &fs, &["read_text_file", "{not json"]),
        "not JSON",
    );
    // A port where nothing listens, and a web server that is not an MCP endpoint.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    assert_one_line_error(
        &hamlet(&["mcp", "tools", "--url", &url]),
        "no MCP session at",
    );
    let port = free_port();
    let mut web = Command::new("python3");
    web.args([
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .current_dir(dir.path());
    let _web = serve_on(port, &mut web);
    let url = format!("http://127.0.0.1:{port}/");
    assert_one_line_error(
        &hamlet(&["mcp", "tools", "--url", &url]),
        "streamable-HTTP MCP endpoint",
    );
    assert_one_line_error(
        &hamlet(&["mcp", "tools", "--url", "ftp://x"]),
        "not an http:// or https:// URL",
    );
}

/// The reply to the reflection the loop asks for after a failed step.
fn reflect() -> String {
    json!({"progress": "a step failed", "plan": "go on"}).to_string()
}

fn act(tool: &str, args: Value) -> String {
    json!({"thoughts": {"observation": "", "goal_met": "no", "next": ""}, "tool": tool, "args": args})
        .to_string()
}

/// An agent with `tools` and the `[[mcp]]` tables `servers`, as an agent file would give it.
fn agent(tools: &[&str], servers: &str) -> AgentSpec {
    let text = format!(
        "name = \"mcp-test\"\nrole = \"r\"\ntools = {tools:?}\n[budgets]\nreflect-every = 0\nmax-failures = 6\n{servers}"
    );
    AgentSpec::parse(&text, "agent.toml", &Registry::builtin_names()).unwrap()
}

/// Runs `spec` on the scripted `replies` in `dir`; the trace's steps and how it ended.
fn scripted_run(
    dir: &Path,
    spec: AgentSpec,
    replies: Vec<String>,
) -> (Vec<StepRecord>, StopReason) {
    let ws = Workspace::new(dir.join("ws")).unwrap();
    let llm = ScriptedLlm::new(replies);
    let prompts = Prompts::builtin();
    let ctx = ToolContext::new(ws, Policy::default());
    let out = Runner::new(spec, &llm, &prompts, ctx)
        .start(&dir.join("run"), "use the tools")
        .unwrap();
    let trace = hamlet_agent::trace::read(&dir.join("run")).unwrap();
    let steps = trace
        .events
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    (steps, out.end.reason)
}

#[test]
fn an_agent_calls_its_mcp_tools_and_the_runtime_refuses_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let fs = mcp::filesystem(Path::new(hamlet_mcp::WORKSPACE));
    let spec = agent(
        &["fs.write_file", "fs.read_text_file"],
        &mcp::table("fs", &fs, "read-only = [\"read_text_file\"]"),
    );
    let (steps, reason) = scripted_run(
        dir.path(),
        spec,
        vec![
            act(
                "fs.write_file",
                json!({"path": "plan.txt", "content": "step one"}),
            ),
            act(
                "fs.move_file",
                json!({"source": "plan.txt", "destination": "gone.txt"}),
            ),
            reflect(),
            act("fs.read_text_file", json!({"path": "plan.txt"})),
            act("finish", json!({"answer": "done"})),
        ],
    );
    assert_eq!(reason, StopReason::Finished);
    let status: Vec<ObservationStatus> = steps.iter().map(|s| s.observation.status).collect();
    assert_eq!(
        status,
        [
            ObservationStatus::Ok,
            ObservationStatus::Refused,
            ObservationStatus::Ok,
            ObservationStatus::Ok
        ],
        "{steps:#?}"
    );
    assert!(
        steps[1].observation.text.contains("fs.move_file"),
        "{}",
        steps[1].observation.text
    );
    assert!(steps[2].observation.text.contains("step one"));
    // The file the server wrote is in the run's workspace ({workspace} and the working folder).
    assert!(dir.path().join("ws/plan.txt").is_file());
    assert!(!dir.path().join("ws/gone.txt").exists());
    // The server's messages went to the run folder, not the terminal.
    let log = std::fs::read_to_string(dir.path().join("run/mcp-fs.log")).unwrap();
    assert!(log.contains("Secure MCP Filesystem Server"), "{log}");
}

#[test]
fn a_server_that_hangs_or_exits_mid_run_becomes_an_observation() {
    let dir = tempfile::tempdir().unwrap();
    let spec = agent(
        &["q.echo", "q.hang", "q.crash", "q.fails"],
        &mcp::table("q", &mcp::quirky(), "timeout-secs = 2"),
    );
    let (steps, reason) = scripted_run(
        dir.path(),
        spec,
        vec![
            act("q.echo", json!({"text": "one"})),
            act("q.fails", json!({})),
            reflect(),
            act("q.hang", json!({})),
            reflect(),
            act("q.crash", json!({})),
            reflect(),
            act("q.echo", json!({"text": "two"})),
            reflect(),
            act("finish", json!({"answer": "the run went on"})),
        ],
    );
    assert_eq!(reason, StopReason::Finished, "{steps:#?}");
    let obs: Vec<(ObservationStatus, &str)> = steps
        .iter()
        .map(|s| (s.observation.status, s.observation.text.as_str()))
        .collect();
    assert_eq!(obs[0], (ObservationStatus::Ok, "echo: one"));
    assert!(
        obs[1].0 == ObservationStatus::ToolError && obs[1].1.contains("it went wrong"),
        "{obs:?}"
    );
    assert!(
        obs[2].0 == ObservationStatus::ToolError && obs[2].1.contains("did not answer"),
        "{obs:?}"
    );
    assert_eq!(obs[3].0, ObservationStatus::ToolError, "{obs:?}");
    assert!(
        obs[4].0 == ObservationStatus::ToolError && obs[4].1.contains("has stopped"),
        "{obs:?}"
    );
    assert_eq!(obs[5].0, ObservationStatus::Ok);
}

#[test]
fn a_tool_schema_the_grammar_cannot_take_is_named_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    let write = |tools: &str| {
        let text = format!(
            "name = \"q\"\nrole = \"r\"\ntools = [{tools}]\n{}",
            mcp::table("q", &mcp::quirky(), "")
        );
        std::fs::write(&file, text).unwrap();
    };
    let run = |name: &str| {
        let run_dir = dir.path().join(name);
        hamlet(&[
            "run",
            "--yes",
            "--agent",
            file.to_str().unwrap(),
            "--goal",
            "g",
            "--run-dir",
            run_dir.to_str().unwrap(),
        ])
    };
    write("\"q.echo\", \"q.bad_schema\"");
    assert_one_line_error(&run("r1"), "the input schema of MCP tool q.bad_schema cannot constrain the model ($ref \"#/$defs/Code\" names nothing");
    write("\"q.echo\", \"q.nope\"");
    assert_one_line_error(
        &run("r2"),
        "MCP server `q` has no tool \"nope\"; it has: echo, crash, hang, fails, bad_schema",
    );
    write("\"x.echo\"");
    assert_one_line_error(
        &run("r3"),
        "agent.toml:3: field `tools[0]`: \"x.echo\" names MCP server \"x\"",
    );
    std::fs::write(
        &file,
        "name = \"q\"\nrole = \"r\"\ntools = []\n[[mcp]]\nname = \"q\"\n",
    )
    .unwrap();
    assert_one_line_error(
        &run("r4"),
        "agent.toml:4: field `mcp[0]`: give exactly one of `command`",
    );
}

#[test]
fn the_default_model_completes_a_goal_through_the_filesystem_server() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("notes.txt"),
        "Team sync moved: it is now on Thursday at 10:00 in room B.\n",
    )
    .unwrap();
    let fs = mcp::filesystem(Path::new(hamlet_mcp::WORKSPACE));
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"fs-agent\"\nrole = \"an assistant that works on files through the fs server's tools\"\n\
             tools = [\"fs.list_directory\", \"fs.read_text_file\", \"fs.write_file\", \"finish\"]\n{}",
            mcp::table("fs", &fs, "read-only = [\"list_directory\", \"read_text_file\"]")
        ),
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let goal = "Read notes.txt and write the day and time of the team sync to answer.txt.";
    let extra = ["--agent", file.to_str().unwrap(), "--max-steps", "8"];
    let o = hamlet_default_model(&run_args(&ws, &run_dir, goal, &extra))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let answer = std::fs::read_to_string(ws.join("answer.txt"))
        .unwrap_or_else(|e| panic!("no answer.txt ({e}): {}", text(&o.stdout)));
    assert!(
        answer.contains("Thursday") && answer.contains("10"),
        "{answer}"
    );
    let trace = hamlet_agent::trace::read(&run_dir).unwrap();
    let tools: Vec<String> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Step(s) => s.action.as_ref().map(|a| a.tool.clone()),
            _ => None,
        })
        .collect();
    assert!(tools.iter().any(|t| t == "fs.write_file"), "{tools:?}");
    let Some(TraceEvent::End(end)) = trace.events.last() else {
        panic!("no end")
    };
    assert_eq!(end.reason, StopReason::Finished, "{}", text(&o.stdout));
}

/// `hamlet mcp serve --db DB` as a server config (stdio).
fn memory_server(db: &Path) -> ServerConfig {
    let mut c = ServerConfig::command(
        "mem",
        BIN,
        vec![
            "mcp".into(),
            "serve".into(),
            "--db".into(),
            db.display().to_string(),
        ],
    );
    c.timeout = Duration::from_secs(120);
    c
}

fn call(session: &Session, tool: &str, args: Value) -> String {
    session
        .tool(tool)
        .unwrap_or_else(|| panic!("no {tool}"))
        .call(args)
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

#[test]
fn mcp_serve_runs_a_goal_for_a_client_with_run_goals() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("HAMLET_THREADS", "1");
    let agent = dir.path().join("scribe.toml");
    let body = "name = \"scribe\"\nrole = \"a scribe\"\ntools = [\"write_file\"]\n[budgets]\nmax-steps = 2\n";
    std::fs::write(&agent, body).unwrap();
    let (ws, runs) = (dir.path().join("ws"), dir.path().join("runs"));
    let mut server = memory_server(&dir.path().join("db"));
    let Launch::Command { args, .. } = &mut server.launch else {
        unreachable!()
    };
    for (flag, value) in [
        ("--run-goals", &agent),
        ("--workspace", &ws),
        ("--runs", &runs),
    ] {
        args.extend([flag.to_string(), value.display().to_string()]);
    }
    args.extend(["--model".into(), "smollm2-135m".into()]);
    let session = Session::start(&[server], dir.path(), Stderr::Inherit).unwrap();
    let mut names: Vec<&str> = session.names_of("mem");
    names.sort();
    assert_eq!(names, ["recall", "remember", "run_goal", "stats"]);
    let goal = "Write the word hello to hello.txt.";
    let out: Value =
        serde_json::from_str(&call(&session, "mem.run_goal", json!({"goal": goal}))).unwrap();
    // However the small model did, the run happened, in a folder of its own, and says how it ended.
    let steps = out["steps"].as_u64().unwrap();
    assert!((1..=2).contains(&steps), "{out}");
    assert!(
        out["stop"].is_string() && out["message"].is_string(),
        "{out}"
    );
    let trace = Path::new(out["trace"].as_str().unwrap());
    assert!(trace.starts_with(&runs), "{out}");
    let run = hamlet_agent::trace::read(trace.parent().unwrap()).unwrap();
    let Some(TraceEvent::Start(start)) = run.events.first() else {
        panic!("{run:?}")
    };
    assert_eq!(
        (start.goal.as_str(), start.agent.as_str()),
        (goal, "scribe")
    );
    assert_eq!(Path::new(&start.workspace), ws.canonicalize().unwrap());
}

#[test]
fn mcp_serve_gives_the_rmcp_client_the_memory_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::env::set_var("HAMLET_THREADS", "1");
    let session = Session::start(&[memory_server(&db)], dir.path(), Stderr::Inherit).unwrap();
    let mut names: Vec<&str> = session.names_of("mem");
    names.sort();
    assert_eq!(names, ["recall", "remember", "stats"]);
    for (text, agent) in [
        ("The spare key is under the blue flowerpot.", "ada"),
        ("The bakery closes at six.", "ada"),
        ("Bob keeps his bike in the shed.", "bob"),
    ] {
        let out = call(
            &session,
            "mem.remember",
            json!({"text": text, "agent": agent, "importance": 5}),
        );
        assert!(out.contains("\"id\""), "{out}");
    }
    let found: Value = serde_json::from_str(&call(
        &session,
        "mem.recall",
        json!({"query": "where is the house key?", "k": 1, "agent": "ada"}),
    ))
    .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert!(
        found[0]["text"].as_str().unwrap().contains("flowerpot"),
        "{found}"
    );
    let only_bob: Value = serde_json::from_str(&call(
        &session,
        "mem.recall",
        json!({"query": "key", "agent": "bob"}),
    ))
    .unwrap();
    assert!(
        only_bob
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["agent"] == "bob"),
        "{only_bob}"
    );
    let stats: Value = serde_json::from_str(&call(&session, "mem.stats", json!({}))).unwrap();
    assert_eq!(stats["memories"], 3, "{stats}");
    // A bad kind is the tool's error, not a broken server.
    let e = session
        .tool("mem.recall")
        .unwrap()
        .call(json!({"query": "x", "kinds": ["dream"]}))
        .unwrap_err();
    assert!(
        e.to_string().contains("unknown memory kind \"dream\""),
        "{e}"
    );
    drop(session);
    // What was remembered is in the store for the next process.
    let out = ok(&hamlet(&["memory", "stats", "--db", db.to_str().unwrap()]));
    assert!(out.contains("memories   3"), "{out}");
}

#[test]
fn mcp_serve_over_http_wants_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = Killed(
        Command::new(BIN)
            .args([
                "mcp",
                "serve",
                "--db",
                db.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--api-key",
                "s3cret",
            ])
            .env("HAMLET_THREADS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{line}"
    );
    std::env::set_var("HAMLET_TEST_MCP_TOKEN", "s3cret");
    let with = ServerConfig::http("mem", url.clone(), Some("HAMLET_TEST_MCP_TOKEN".into()));
    let session = Session::start(&[with], dir.path(), Stderr::Inherit).unwrap();
    call(
        &session,
        "mem.remember",
        json!({"text": "Over HTTP.", "importance": 4}),
    );
    let stats: Value = serde_json::from_str(&call(&session, "mem.stats", json!({}))).unwrap();
    assert_eq!(stats["memories"], 1, "{stats}");
    let without = ServerConfig::http("mem", url, None);
    let e = Session::start(&[without], dir.path(), Stderr::Inherit)
        .err()
        .unwrap();
    assert!(e.to_string().contains("no MCP session"), "{e}");
    // Only loopback without a token.
    let o = hamlet(&[
        "mcp",
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--http",
        "0.0.0.0:0",
    ]);
    assert_one_line_error(&o, "--api-key");
}

#[test]
fn mcp_serve_passes_the_inspectors_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // `--method tools/list`, or `--method tools/call --tool-name TOOL --tool-arg K=V…`.
    let inspect = |tool: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new("node");
        cmd.arg(mcp::inspector()).arg("--cli");
        cmd.args([BIN, "mcp", "serve", "--db", db.to_str().unwrap()]);
        match tool {
            None => cmd.args(["--method", "tools/list"]),
            Some(t) => cmd.args(["--method", "tools/call", "--tool-name", t]),
        };
        for a in args {
            cmd.args(["--tool-arg", a]);
        }
        let o = cmd.env("HAMLET_THREADS", "1").output().unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
    };
    let listed = inspect(None, &[]);
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"remember") && names.contains(&"recall"),
        "{listed}"
    );
    let reply = |v: &Value| {
        v["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let called = inspect(
        Some("remember"),
        &["text=Inspected memory.", "agent=inspector"],
    );
    assert!(reply(&called).contains("\"id\""), "{called}");
    let found = inspect(Some("recall"), &["query=inspected", "agent=inspector"]);
    assert!(reply(&found).contains("Inspected memory."), "{found}");
}
