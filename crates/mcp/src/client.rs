//! The client side: MCP servers started (or reached) for a run, and their tools as [`DynTool`]s.
//!
//! A [`Session`] owns a small tokio runtime and one connection per server. Each of a server's
//! tools becomes an [`McpTool`] named `server.tool`; its `call_json` sends `tools/call` on the
//! session's runtime and waits for the answer from whatever thread the agent loop runs on. What
//! can go wrong with a server after it started (it exits, hangs, answers with an error) comes back
//! as a [`ToolError`], which the loop shows the model as an observation; the run goes on. Dropping
//! the session stops the servers it started.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hamlet_tools::{DynTool, Effect, ToolContext, ToolError, ToolResult};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, ServiceError, ServiceExt};
use serde_json::Value;

use crate::config::{clip, Launch, ServerConfig};
use crate::{schema, Error, Result};

/// The MCP servers of one run.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    services: Vec<RunningService<RoleClient, ()>>,
    tools: Vec<McpTool>,
}

/// Where the servers' standard error goes.
#[derive(Debug, Clone, Copy)]
pub enum Stderr<'a> {
    /// The terminal's (for `hamlet mcp`).
    Inherit,
    /// `DIR/mcp-<server>.log` (for a run: its folder).
    LogIn(&'a Path),
}

impl Session {
    /// Starts (or connects to) every server and lists its tools. `workspace` replaces
    /// `{workspace}` in the commands and is their working folder unless they name one.
    pub fn start(configs: &[ServerConfig], workspace: &Path, stderr: Stderr) -> Result<Session> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hamlet-mcp")
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let mut session = Session {
            runtime,
            services: Vec::new(),
            tools: Vec::new(),
        };
        for config in configs {
            let (service, tools) = session.runtime.block_on(async {
                tokio::time::timeout(config.timeout, connect(config, workspace, stderr))
                    .await
                    .map_err(|_| Error::Start {
                        server: config.describe(),
                        message: format!("it did not answer within {} s", config.timeout.as_secs()),
                    })?
            })?;
            let peer = service.peer().clone();
            let handle = session.runtime.handle().clone();
            for tool in tools {
                session
                    .tools
                    .push(McpTool::new(config, &tool, peer.clone(), handle.clone()));
            }
            session.services.push(service);
        }
        Ok(session)
    }

    /// Every tool of every server, named `server.tool`.
    pub fn tools(&self) -> &[McpTool] {
        &self.tools
    }

    /// The tool called `name` (`server.tool`).
    pub fn tool(&self, name: &str) -> Option<&McpTool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// The names of `server`'s tools, for "it has: …" messages.
    pub fn names_of(&self, server: &str) -> Vec<&str> {
        self.tools
            .iter()
            .filter(|t| t.server == server)
            .map(|t| t.tool.as_str())
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Close each connection on the runtime (a child process is killed by its guard there).
        let services = std::mem::take(&mut self.services);
        self.runtime.block_on(async {
            for mut s in services {
                let _ = s.close_with_timeout(Duration::from_secs(5)).await;
            }
        });
    }
}

async fn connect(
    config: &ServerConfig,
    workspace: &Path,
    stderr: Stderr<'_>,
) -> Result<(RunningService<RoleClient, ()>, Vec<rmcp::model::Tool>)> {
    let failed = |message: String| Error::Start {
        server: config.describe(),
        message,
    };
    let service = match config.launch_in(workspace) {
        Launch::Command {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(&command);
            cmd.args(&args).envs(&env);
            if let Some(cwd) = &cwd {
                cmd.current_dir(cwd);
            }
            let err: Stdio = match stderr {
                Stderr::Inherit => Stdio::inherit(),
                Stderr::LogIn(dir) => {
                    let path = dir.join(format!("mcp-{}.log", config.name));
                    File::create(&path)
                        .map_err(|e| failed(format!("cannot create {}: {e}", path.display())))?
                        .into()
                }
            };
            let (transport, _) = TokioChildProcess::builder(cmd)
                .stderr(err)
                .spawn()
                .map_err(|e| {
                    failed(format!(
                        "cannot run `{command}`: {e}; check `command` (is it installed and on PATH?)"
                    ))
                })?;
            ().serve(transport).await.map_err(|e| {
                let said = match stderr {
                    Stderr::LogIn(dir) => last_words(&dir.join(format!("mcp-{}.log", config.name))),
                    Stderr::Inherit => String::new(),
                };
                failed(format!(
                    "it did not complete the MCP handshake ({e}); is it an MCP server speaking on stdio?{said}"
                ))
            })?
        }
        Launch::Http { url, token_env } => {
            check_url(&url).map_err(failed)?;
            // reqwest is built without a crypto provider; ring's serves every connection.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut transport = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            if let Some(var) = &token_env {
                let token = std::env::var(var).map_err(|_| {
                    failed(format!(
                        "the bearer token's environment variable {var} is not set"
                    ))
                })?;
                transport = transport.auth_header(token);
            }
            let transport = StreamableHttpClientTransport::from_config(transport);
            ().serve(transport).await.map_err(|e| {
                failed(format!(
                    "no MCP session at {url} ({}); is it a streamable-HTTP MCP endpoint (often ending in /mcp), and is the token right?",
                    match &e {
                        ClientInitializeError::TransportError { error, .. } => {
                            match error.error.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
                                Some(StreamableHttpError::Client(e)) => root_cause(e),
                                _ => root_cause(&*error.error),
                            }
                        }
                        e => root_cause(e),
                    }
                ))
            })?
        }
    };
    let tools = service
        .list_all_tools()
        .await
        .map_err(|e| failed(format!("listing its tools failed: {e}")))?;
    Ok((service, tools))
}

/// The innermost cause of `e` (a refused connection, a 404), not the transport's type names.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The last lines a server wrote to its log, as " It said: …" (empty when it said nothing).
fn last_words(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    format!(
        " It said: {} (all of it in {})",
        clip(&tail, 300),
        log.display()
    )
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("http" | "https") if url.len() > "http://".len() => Ok(()),
        _ => Err(format!(
            "{:?} is not an http:// or https:// URL",
            clip(url, 80)
        )),
    }
}

/// One tool of an MCP server, as the agent's registry sees it.
#[derive(Clone)]
pub struct McpTool {
    /// `server.tool`.
    name: String,
    server: String,
    tool: String,
    description: String,
    parameters: Value,
    /// Why the schema could not be prepared (the backend's check then names the tool).
    schema_problem: Option<String>,
    effect: Effect,
    /// What the server says of itself (shown by `hamlet mcp tools`, never trusted).
    read_only_hint: Option<bool>,
    timeout: Duration,
    peer: Peer<RoleClient>,
    runtime: tokio::runtime::Handle,
}

impl McpTool {
    fn new(
        config: &ServerConfig,
        tool: &rmcp::model::Tool,
        peer: Peer<RoleClient>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let (parameters, schema_problem) = schema::prepare_or_raw(&tool.input_schema);
        let name = tool.name.to_string();
        let effect = if config.read_only.contains(&name) {
            Effect::Read
        } else {
            Effect::Mutating
        };
        McpTool {
            name: format!("{}.{name}", config.name),
            server: config.name.clone(),
            description: tool
                .description
                .as_deref()
                .unwrap_or("(no description)")
                .to_string(),
            tool: name,
            parameters,
            schema_problem,
            effect,
            read_only_hint: tool.annotations.as_ref().and_then(|a| a.read_only_hint),
            timeout: config.timeout,
            peer,
            runtime,
        }
    }

    /// The tool's name on its server.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Why the input schema could not be fitted into the action schema, if it could not.
    pub fn schema_problem(&self) -> Option<&str> {
        self.schema_problem.as_deref()
    }

    /// The server's own `readOnlyHint`.
    pub fn read_only_hint(&self) -> Option<bool> {
        self.read_only_hint
    }

    /// Calls the tool with `args` (a JSON object), waiting at most the server's time limit.
    pub fn call(&self, args: Value) -> ToolResult<String> {
        let arguments = match args {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                return Err(ToolError::InvalidArgs(format!(
                    "{}: arguments must be a JSON object, not {other}",
                    self.name
                )))
            }
        };
        let mut params = CallToolRequestParams::new(self.tool.clone());
        params.arguments = arguments;
        let peer = self.peer.clone();
        let timeout = self.timeout;
        let (tx, rx) = std::sync::mpsc::channel();
        // On the session's runtime, so this works from any thread (even one inside another
        // runtime); a timed-out request is dropped, which cancels it.
        self.runtime.spawn(async move {
            let reply = tokio::time::timeout(timeout, peer.call_tool(params)).await;
            let _ = tx.send(reply);
        });
        match rx.recv() {
            Ok(Ok(Ok(result))) => self.render(result),
            Ok(Ok(Err(e))) => Err(self.failure(e)),
            Ok(Err(_)) => Err(ToolError::failed(format!(
                "MCP server `{}` did not answer {} within {} s; it may be stuck (the call was cancelled)",
                self.server,
                self.tool,
                timeout.as_secs()
            ))),
            Err(_) => Err(self.gone()),
        }
    }

    fn gone(&self) -> ToolError {
        ToolError::failed(format!(
            "MCP server `{}` has stopped (it exited or closed the connection), so {} cannot run; its tools are gone for the rest of this run",
            self.server, self.name
        ))
    }

    fn failure(&self, e: ServiceError) -> ToolError {
        match e {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => self.gone(),
            ServiceError::McpError(data) => {
                ToolError::failed(format!("{} refused the call: {}", self.name, data.message))
            }
            ServiceError::Timeout { timeout } => ToolError::failed(format!(
                "MCP server `{}` did not answer {} within {} s",
                self.server,
                self.tool,
                timeout.as_secs()
            )),
            other => ToolError::failed(format!("{}: {other}", self.name)),
        }
    }

    /// The result's content as text: text blocks as they are, other blocks described, the
    /// structured result when there is no content. A result flagged as an error is a failure.
    fn render(&self, result: CallToolResult) -> ToolResult<String> {
        let mut parts: Vec<String> = result.content.iter().map(describe_block).collect();
        if parts.is_empty() {
            if let Some(v) = &result.structured_content {
                parts.push(v.to_string());
            }
        }
        let text = parts.join("\n");
        if result.is_error == Some(true) {
            let text = if text.trim().is_empty() {
                "(no message)"
            } else {
                &text
            };
            return Err(ToolError::failed(format!("{} failed: {text}", self.name)));
        }
        Ok(text)
    }
}

/// One content block as text.
fn describe_block(block: &impl serde::Serialize) -> String {
    let v = serde_json::to_value(block).unwrap_or(Value::Null);
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match v.get("type").and_then(Value::as_str) {
        Some("text") => field("text"),
        Some(kind @ ("image" | "audio")) => {
            let bytes = field("data").len() / 4 * 3;
            format!("[{kind} {}, about {bytes} bytes]", field("mimeType"))
        }
        Some("resource") => {
            let r = v.get("resource").cloned().unwrap_or(Value::Null);
            match r.get("text").and_then(Value::as_str) {
                Some(text) => text.to_string(),
                None => format!(
                    "[resource {}]",
                    r.get("uri").and_then(Value::as_str).unwrap_or("?")
                ),
            }
        }
        Some("resource_link") => format!("[link {} {}]", field("name"), field("uri")),
        _ => v.to_string(),
    }
}

impl DynTool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }
    fn effect(&self) -> Effect {
        self.effect
    }
    fn description(&self) -> String {
        self.description.clone()
    }
    fn parameters(&self) -> Value {
        self.parameters.clone()
    }
    fn call_json(&self, _ctx: &ToolContext, args: Value) -> ToolResult<String> {
        self.call(args)
    }
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool")
            .field("name", &self.name)
            .field("effect", &self.effect)
            .finish()
    }
}
