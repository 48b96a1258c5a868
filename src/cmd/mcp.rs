//! `hamlet mcp`: wire an MCP server up (`tools`, `call`), or serve the memory store as one
//! (`serve`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hamlet_mcp::{MemoryServer, ServerConfig, Session, Stderr};
use hamlet_tools::DynTool;
use serde_json::{json, Value};

use hamlet_agent::{AgentSpec, Prompts, Runner};
use hamlet_core::memory::MemoryStream;
use hamlet_core::Llm;
use hamlet_tools::{Registry, ToolContext, Workspace};

use crate::cmd::memory::StoreArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a server's tools with their input schemas: `hamlet mcp tools -- COMMAND ARGS…` or
    /// `hamlet mcp tools --url URL`.
    Tools(ToolsArgs),
    /// Call one tool: `hamlet mcp call -- COMMAND ARGS… -- TOOL 'JSON'` or
    /// `hamlet mcp call --url URL TOOL 'JSON'`.
    Call(CallArgs),
    /// Serve a memory store as MCP tools (remember, recall, stats), on stdio or `--http ADDR`;
    /// with `--run-goals AGENT_FILE` also `run_goal`, which runs that agent on a client's goal.
    Serve(Box<ServeArgs>),
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// A streamable-HTTP MCP endpoint (instead of a command).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// With --url: the environment variable that holds a bearer token.
    #[arg(long, value_name = "VAR", requires = "url")]
    pub token_env: Option<String>,
    /// How long the server may take to start or to answer a call, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_secs: u64,
}

#[derive(Debug, clap::Args)]
pub struct ToolsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the tools as JSON (name, description, read-only hint, input schema).
    #[arg(long)]
    pub json: bool,
    /// The command that starts the server, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// `[--] COMMAND ARGS… -- TOOL JSON` (with --url: `TOOL JSON`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub rest: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:3100).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// With --http: require `Authorization: Bearer KEY` on every request (needed to bind to an
    /// address other than loopback).
    #[arg(
        long,
        env = "HAMLET_MCP_API_KEY",
        value_name = "KEY",
        requires = "http"
    )]
    pub api_key: Option<String>,
    /// Also serve `run_goal`: a run of this agent file (its tools, policy and budgets) on the goal
    /// a client sends, approved without asking, one run at a time, its memory this store.
    #[arg(long, value_name = "AGENT_FILE")]
    pub run_goals: Option<PathBuf>,
    /// With --run-goals: the agent's workspace (default: $HAMLET_HOME/mcp-workspace).
    #[arg(long, value_name = "DIR", requires = "run_goals")]
    pub workspace: Option<PathBuf>,
    /// With --run-goals: where the run folders go (default: $HAMLET_HOME/runs).
    #[arg(long, value_name = "DIR", requires = "run_goals")]
    pub runs: Option<PathBuf>,
    /// With --run-goals: the model (a GGUF path or a cache name).
    #[arg(long, env = "HAMLET_MODEL", default_value = crate::opts::DEFAULT_MODEL)]
    pub model: String,
    /// With --run-goals: CPU threads for llama.cpp (default: all cores).
    #[arg(long, env = "HAMLET_THREADS")]
    pub threads: Option<usize>,
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Tools(a) => tools(a),
        Command::Call(a) => call(a),
        Command::Serve(a) => serve(*a),
    }
}

/// The server the command line names: `--url`, or the command.
fn server(a: &ServerArgs, command: &[String]) -> Result<ServerConfig> {
    let mut config = match (&a.url, command.split_first()) {
        (Some(url), None) => ServerConfig::http("server", url.clone(), a.token_env.clone()),
        (None, Some((program, args))) => ServerConfig::command("server", program.clone(), args.to_vec()),
        (Some(_), Some(_)) => bail!("give either --url or a command after `--`, not both"),
        (None, None) => bail!("name the server: a command after `--` (e.g. `-- npx -y @modelcontextprotocol/server-everything`) or --url URL"),
    };
    config.timeout = Duration::from_secs(a.timeout_secs);
    Ok(config)
}

/// Starts the server in the current folder. Its standard error goes to a log file (shown in
/// part when it fails to start), so the output is the tools' alone; `RUST_LOG=debug` shows it.
fn connect(config: &ServerConfig) -> Result<Session> {
    let here = std::env::current_dir().context("reading the current folder")?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        return Ok(Session::start(
            std::slice::from_ref(config),
            &here,
            Stderr::Inherit,
        )?);
    }
    let logs = std::env::temp_dir().join(format!("hamlet-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let session = Session::start(std::slice::from_ref(config), &here, Stderr::LogIn(&logs));
    if session.is_ok() {
        // The log is only kept for a server that failed to start.
        let _ = std::fs::remove_dir_all(&logs);
    }
    Ok(session?)
}

fn tools(a: ToolsArgs) -> Result<()> {
    let config = server(&a.server, &a.command)?;
    let session = connect(&config)?;
    if a.json {
        let list: Vec<Value> = session
            .tools()
            .iter()
            .map(|t| {
                json!({
                    "name": t.tool(),
                    "description": t.description(),
                    "read_only_hint": t.read_only_hint(),
                    "input_schema": t.parameters(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!("{} tools from {}", session.tools().len(), config.describe());
    for t in session.tools() {
        let hint = match t.read_only_hint() {
            Some(true) => " (says: read-only)",
            _ => "",
        };
        println!("\n{}{hint}", t.tool());
        let description = t.description();
        for line in description.lines().filter(|l| !l.trim().is_empty()).take(3) {
            println!("  {}", crate::cmd::clip(line.trim(), 160));
        }
        println!("  args: {}", t.parameters());
        if let Some(problem) = t.schema_problem() {
            println!("  warning: {problem}");
        }
    }
    println!("\nIn an agent file, name them as SERVER.TOOL in `tools`, with an [[mcp]] table named SERVER.");
    Ok(())
}

fn call(a: CallArgs) -> Result<()> {
    let rest = a.rest.strip_prefix(&["--".to_string()]).unwrap_or(&a.rest);
    let (command, tool_args) = match &a.server.url {
        Some(_) => (&[][..], rest),
        None => match rest.iter().rposition(|s| s == "--") {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => bail!("separate the server's command from the tool with `--`: hamlet mcp call -- COMMAND ARGS… -- TOOL 'JSON'"),
        },
    };
    let (tool, args) = match tool_args {
        [tool] => (tool, Value::Object(Default::default())),
        [tool, json] => {
            let args: Value = serde_json::from_str(json).with_context(|| {
                format!("the arguments of {tool} are not JSON: {json:?} (write them as one JSON object, e.g. '{{\"path\": \"a.txt\"}}')")
            })?;
            if !args.is_object() {
                bail!("the arguments of {tool} must be a JSON object, not {args}");
            }
            (tool, args)
        }
        [] => bail!("name the tool to call after the server: … -- TOOL 'JSON'"),
        _ => bail!(
            "after the tool's name give one JSON object (quote it), got {} words",
            tool_args.len() - 1
        ),
    };
    let config = server(&a.server, command)?;
    let session = connect(&config)?;
    let name = format!("{}.{tool}", config.name);
    let Some(found) = session.tool(&name) else {
        bail!(
            "the server has no tool {tool:?}; it has: {}",
            session.names_of(&config.name).join(", ")
        );
    };
    match found.call(args) {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}

fn serve(a: ServeArgs) -> Result<()> {
    if let Some(addr) = a.http {
        if !addr.ip().is_loopback() && a.api_key.is_none() {
            bail!("--http {addr} would let other machines read and write this memory: bind to 127.0.0.1, or require a token with --api-key (or HAMLET_MCP_API_KEY)");
        }
    }
    let store = Arc::new(crate::cmd::memory::open(&a.store)?);
    let for_stats = store.clone();
    let stats: hamlet_mcp::Stats = Arc::new(move || {
        for_stats
            .stats()
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::to_value(s).map_err(|e| e.to_string()))
    });
    let mut server = MemoryServer::new(store.clone(), stats);
    if let Some(agent) = &a.run_goals {
        server = server.with_goals(goal_runner(agent, &a, store)?);
    }
    match a.http {
        None => {
            tracing::info!(db = %a.store.db, "serving memory over MCP on stdio");
            Ok(server.serve_stdio()?)
        }
        Some(addr) => Ok(server.serve_http(addr, a.api_key, |bound| {
            // The address first, on its own line, so scripts can read it.
            println!("http://{bound}/mcp");
            eprintln!(
                "serving the memory store {} as MCP tools at http://{bound}/mcp (Ctrl-C stops)",
                a.store.db
            );
        })?),
    }
}

/// `run_goal`'s runs: the agent file read and the model loaded once, each goal a new run folder
/// under `$HAMLET_HOME/runs`, one run at a time.
fn goal_runner(
    agent: &Path,
    a: &ServeArgs,
    memory: Arc<dyn MemoryStream>,
) -> Result<hamlet_mcp::GoalRunner> {
    let spec = AgentSpec::load(agent, &Registry::builtin_names())?;
    let model = crate::opts::ModelOpts {
        model: spec.model.clone().unwrap_or_else(|| a.model.clone()),
        threads: a.threads,
        context: spec.context,
        gpu_layers: 0,
        server: Vec::new(),
        servers: None,
        routing: crate::opts::RoutingOpt::Affinity,
        server_parallel: 4,
        server_timeout: 300,
        api_key: None,
    };
    let llm: Arc<dyn Llm> = Arc::from(model.backend(1, &Default::default())?);
    let prompts = Arc::new(Prompts::load(None)?);
    let home = hamlet_models::default_home();
    let runs = a.runs.clone().unwrap_or_else(|| home.join("runs"));
    let root = a
        .workspace
        .clone()
        .unwrap_or_else(|| home.join("mcp-workspace"));
    let workspace =
        Workspace::new(&root).with_context(|| format!("opening workspace {}", root.display()))?;
    let one_at_a_time = Mutex::new(());
    let count = AtomicU32::new(0);
    Ok(Arc::new(move |goal: String| {
        let _turn = one_at_a_time
            .lock()
            .map_err(|_| "an earlier run panicked".to_string())?;
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let name = format!("{}-{}-mcp{n}", crate::cmd::run::timestamp(), spec.name);
        let run_dir = runs.join(name);
        let ctx = ToolContext::new(workspace.clone(), spec.policy.clone())
            .with_memory(memory.clone(), spec.name.clone());
        let out = Runner::new(spec.clone(), &*llm, &prompts, ctx)
            .start(&run_dir, &goal)
            .map_err(|e| format!("the run could not go on: {e}"))?;
        Ok(json!({
            "answer": out.end.answer,
            "stop": out.end.reason,
            "message": out.end.message,
            "steps": out.steps,
            "trace": run_dir.join(hamlet_core::trace::TRACE_FILE),
        }))
    }))
}
