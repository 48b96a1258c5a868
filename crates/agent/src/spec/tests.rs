//! The agent-file rules, each with the place its error names.

use super::*;

const KNOWN: &[&str] = &["read_file", "write_file", "shell", "finish", "calculator"];

fn parse(text: &str) -> Result<AgentSpec> {
    AgentSpec::parse(text, "agents/t.toml", KNOWN)
}

/// The error for an agent file that begins `name = "t"`, `role = "r"` and goes on with `rest`.
fn error(rest: &str) -> String {
    let text = format!("name = \"t\"\nrole = \"r\"\n{rest}");
    parse(&text).unwrap_err().to_string()
}

#[test]
fn minimal_file_gets_defaults_and_finish() {
    let s = parse("name = \"t\"\nrole = \"r\"\ntools = [\"read_file\"]\n").unwrap();
    assert_eq!(s.tools, ["read_file", "finish"]);
    assert_eq!(s.budgets, Budgets::default());
    assert!(s.policy.shell_allow.is_empty());
}

#[test]
fn unknown_tool_names_line_field_and_fix() {
    let e = error("tools = [\n  \"read_file\",\n  \"read_fil\",\n]\n");
    assert!(e.contains("agents/t.toml:5"), "{e}");
    assert!(
        e.contains("tools[1]") && e.contains("did you mean \"read_file\""),
        "{e}"
    );
}

#[test]
fn unknown_fields_and_bad_types_are_reported_with_lines() {
    let e = error("tools = []\n[budgets]\nmax-step = 3\n");
    assert!(e.contains("max-step") && e.contains("line 5"), "{e}");
    let e = error("tools = []\n[budgets]\nmax-steps = \"ten\"\n");
    assert!(e.contains("line 5"), "{e}");
    let e = error("tools = []\n[budgets]\nmax-steps = 0\n");
    assert!(
        e.contains("agents/t.toml:5") && e.contains("at least 1"),
        "{e}"
    );
}

#[test]
fn shell_needs_an_allow_list() {
    let e = error("tools = [\"shell\"]\n");
    assert!(e.contains("[shell]") && e.contains("allow"), "{e}");
    let s =
        parse("name = \"t\"\nrole = \"r\"\ntools = [\"shell\"]\n[shell]\nallow = [\"python3\"]\n")
            .unwrap();
    assert_eq!(s.policy.shell_allow, ["python3"]);
    let e = error("tools = []\n[shell]\nallow = [\"ls\"]\n");
    assert!(e.contains("not in `tools`"), "{e}");
}

#[test]
fn bad_names_and_sampling_are_refused() {
    let e = parse("name = \"a b/c\"\nrole = \"r\"\ntools = []\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("agents/t.toml:1") && e.contains("field `name`"),
        "{e}"
    );
    let e = error("tools = []\n[sampling]\ntemperature = -1.0\n");
    assert!(e.contains("[sampling]"), "{e}");
}

#[test]
fn a_spec_written_as_an_agent_file_reads_back_the_same() {
    let names = hamlet_tools::Registry::builtin_names();
    let coder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../agents/coder.toml");
    let shipped = AgentSpec::load(Path::new(coder), &names).unwrap();
    let mut tuned = AgentSpec::default_agent();
    tuned.model = Some("qwen".into());
    tuned.policy.allow_hosts = vec!["example.org".into()];
    tuned.sampling.temperature = 0.7;
    tuned.memory_db = Some("postgres://ada@db/town?schema=town_a".into());
    tuned.policy.web_search = Some(SearchEngine::Brave {
        key_env: "KEY".into(),
        url: None,
    });
    tuned
        .tools
        .extend(["web_search".into(), "fs.read_text_file".into()]);
    let mut fs = hamlet_mcp::ServerConfig::command("fs", "npx", vec!["{workspace}".into()]);
    fs.read_only = vec!["read_text_file".into()];
    tuned.mcp = vec![
        fs,
        hamlet_mcp::ServerConfig::http("web", "http://127.0.0.1:3/mcp", Some("T".into())),
    ];
    for spec in [AgentSpec::default_agent(), shipped, tuned] {
        let text = spec.to_toml().unwrap();
        let back = AgentSpec::parse(&text, "run/agent.toml", &names).unwrap();
        let source = Some("run/agent.toml".to_string());
        assert_eq!(back, AgentSpec { source, ..spec }, "{text}");
    }
}

#[test]
fn check_holds_every_spec_to_the_file_rules() {
    let ok = AgentSpec::default_agent();
    assert_eq!(ok.check(KNOWN), Err(Invalid {
        field: "tools[0]".into(),
        message: "unknown tool \"list_dir\": the tools are read_file, write_file, shell, finish, calculator".into(),
    }));
    let names = hamlet_tools::Registry::builtin_names();
    assert_eq!(ok.check(&names), Ok(()));
    let mut s = ok.clone();
    s.budgets.max_steps = 0;
    let e = s.check(&names).unwrap_err();
    assert_eq!(e.field, "budgets.max-steps");
    let e = e.at("--max-steps").to_string();
    assert!(
        e.starts_with("--max-steps: field `budgets.max-steps`") && e.contains("at least 1"),
        "{e}"
    );
    let mut s = ok.clone();
    s.tools.retain(|t| t != "finish");
    assert_eq!(s.check(&names).unwrap_err().field, "tools");
    let mut s = ok.clone();
    s.tools.push("shell".into());
    assert!(s.check(&names).unwrap_err().message.contains("[shell]"));
    let mut s = ok;
    s.context = 1024;
    assert_eq!(s.check(&names).unwrap_err().field, "model.max-step-tokens");
}

#[test]
fn absurd_numbers_and_names_are_refused_with_their_line() {
    let cases: [(&str, &[&str]); 3] = [
        // 2^31 passed the half-context check through `* 2` overflowing u32.
        (
            "tools = []\n[model]\nmax-step-tokens = 2147483648\n",
            &["t.toml:5", "max-step-tokens", "too large"],
        ),
        // llama.cpp failed with "null reference" instead.
        (
            "tools = []\n[model]\ncontext = 4294967295\n",
            &["model.context", "at most 1048576"],
        ),
        (
            "tools = [\"shell\"]\n[shell]\nallow = [\"echo\"]\ntimeout-secs = 0\n",
            &["t.toml:", "timeout-secs", "1 to 86400"],
        ),
    ];
    for (rest, wants) in cases {
        let e = error(rest);
        assert!(wants.iter().all(|w| e.contains(w)), "{e}");
    }
    // A huge unknown name is neither searched for a near miss nor echoed whole.
    let long = "x".repeat(1_000_000);
    let started = std::time::Instant::now();
    let e = error(&format!("tools = [\"{long}\"]\n"));
    assert!(
        started.elapsed().as_secs() < 2,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        e.len() < 400 && e.contains("unknown tool") && e.contains('…'),
        "{}",
        &e[..400.min(e.len())]
    );
    let e = error_named(&"n".repeat(65));
    assert!(e.contains("at most 64") && e.len() < 400, "{e}");
}

#[test]
fn mcp_and_web_search_tables_are_checked_with_their_lines() {
    let cases: [(&str, &[&str]); 6] = [
        ("tools = [\"fs.read\"]\n", &["tools[0]", "no [[mcp]] table declares", "there are none"]),
        ("tools = []\n[[mcp]]\nname = \"fs\"\ncommand = \"x\"\nurl = \"http://h/mcp\"\n", &["t.toml:4", "mcp[0]", "exactly one of `command`"]),
        ("tools = []\n[[mcp]]\nname = \"a.b\"\ncommand = \"x\"\n", &["t.toml:4", "mcp[0].name", "not a usable server name"]),
        ("tools = []\n[[mcp]]\nname = \"a\"\ncommand = \"x\"\n[[mcp]]\nname = \"a\"\nurl = \"ftp://h\"\n", &["t.toml:7", "mcp[1].name", "a second server"]),
        ("tools = [\"web_search\"]\n", &["tools", "[web-search]"]),
        ("tools = [\"web_search\"]\n[web-search]\nprovider = \"bing\"\n", &["t.toml:4", "web-search", "unknown provider \"bing\""]),
    ];
    let names = hamlet_tools::Registry::builtin_names();
    for (rest, wants) in cases {
        let text = format!("name = \"t\"\nrole = \"r\"\n{rest}");
        let e = AgentSpec::parse(&text, "agents/t.toml", &names)
            .unwrap_err()
            .to_string();
        assert!(wants.iter().all(|w| e.contains(w)), "{e}");
    }
    let s = parse("name = \"t\"\nrole = \"r\"\ntools = [\"fs.read\"]\n[[mcp]]\nname = \"fs\"\ncommand = \"node\"\nargs = [\"s.js\"]\ntimeout-secs = 5\n").unwrap();
    assert_eq!(s.mcp[0].timeout, Duration::from_secs(5));
    // A server added to a run folder's agent is more than the agent file allowed.
    let mut wider = s.clone();
    wider
        .mcp
        .push(hamlet_mcp::ServerConfig::command("sh", "bash", vec![]));
    assert!(wider
        .wider_than(&s)
        .iter()
        .any(|w| w.contains("MCP server `sh`")));
}

fn error_named(name: &str) -> String {
    parse(&format!("name = \"{name}\"\nrole = \"r\"\ntools = []\n"))
        .unwrap_err()
        .to_string()
}
