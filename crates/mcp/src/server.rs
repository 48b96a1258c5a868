//! The server side: Hamlet's memory store as MCP tools (`hamlet mcp serve`), so other agents and
//! editors can remember into it and recall from it.
//!
//! The tools are `remember`, `recall` (with the store's filters: agent, kinds, time window) and
//! `stats`. The store is any [`MemoryStream`]; its calls block, so each runs on tokio's blocking
//! pool. Served on stdio, or on streamable HTTP bound to loopback unless told otherwise, with an
//! optional bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use hamlet_core::{now_ms, MemoryKind, MemoryStream, NewMemory, RecallQuery};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::tower::StreamableHttpService;
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::Error;

/// The most memories one `recall` returns.
pub const MAX_RECALL: usize = 50;

/// The store's figures for `stats` (the store's own type, as JSON).
pub type Stats = Arc<dyn Fn() -> std::result::Result<Value, String> + Send + Sync>;

/// Arguments of `remember`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberArgs {
    /// The fact or event to store, as a sentence.
    pub text: String,
    /// Whose memory it is (default "mcp").
    #[serde(default)]
    pub agent: Option<String>,
    /// observation, reflection, plan, chat or tool_result (default observation).
    #[serde(default)]
    pub kind: Option<String>,
    /// 1 (mundane) to 10 (poignant); rated by the store when left out.
    #[serde(default)]
    pub importance: Option<u8>,
}

/// Arguments of `recall`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallArgs {
    /// What to look for.
    pub query: String,
    /// How many memories (default 5, at most 50).
    #[serde(default)]
    pub k: Option<usize>,
    /// Only this agent's memories.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only these kinds (observation, reflection, plan, chat, tool_result).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only memories created at or after this time (milliseconds since the Unix epoch).
    #[serde(default)]
    pub after: Option<i64>,
    /// Only memories created before this time (milliseconds since the Unix epoch).
    #[serde(default)]
    pub before: Option<i64>,
}

/// Arguments of `run_goal`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunGoalArgs {
    /// What the agent should achieve, in a sentence or two.
    pub goal: String,
}

/// Runs one goal with the agent the server was started for, and says how it went (a JSON
/// object: answer, stop reason, steps, trace path). Only the binary can run agents, so it
/// hands this in; without it `run_goal` is not served.
pub type GoalRunner = Arc<dyn Fn(String) -> std::result::Result<Value, String> + Send + Sync>;

/// Arguments of `stats` (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// The memory store as an MCP server.
#[derive(Clone)]
pub struct MemoryServer {
    memory: Arc<dyn MemoryStream>,
    stats: Stats,
    goals: Option<GoalRunner>,
    tool_router: ToolRouter<Self>,
}

fn text(result: std::result::Result<String, String>) -> CallToolResult {
    match result {
        Ok(t) => CallToolResult::success(vec![ContentBlock::text(t)]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
    }
}

/// Runs a blocking store call off the async threads.
async fn blocking<F>(f: F) -> CallToolResult
where
    F: FnOnce() -> std::result::Result<String, String> + Send + 'static,
{
    text(
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(format!("the store call failed: {e}"))),
    )
}

#[tool_router]
impl MemoryServer {
    /// The memory tools only.
    pub fn new(memory: Arc<dyn MemoryStream>, stats: Stats) -> Self {
        let mut tool_router = Self::tool_router();
        tool_router.remove_route("run_goal");
        MemoryServer {
            memory,
            stats,
            goals: None,
            tool_router,
        }
    }

    /// Also serves `run_goal`, which runs goals with `runner`.
    pub fn with_goals(mut self, runner: GoalRunner) -> Self {
        self.goals = Some(runner);
        self.tool_router = Self::tool_router();
        self
    }

    #[tool(description = "Store a fact or event in Hamlet's long-term memory. Returns its id.")]
    async fn remember(&self, Parameters(args): Parameters<RememberArgs>) -> CallToolResult {
        let memory = self.memory.clone();
        blocking(move || {
            let kind = match &args.kind {
                Some(k) => MemoryKind::parse(k)?,
                None => MemoryKind::Observation,
            };
            let agent = args.agent.unwrap_or_else(|| "mcp".into());
            let mut new = NewMemory::new(agent, kind, args.text, now_ms());
            if let Some(i) = args.importance {
                new = new.importance(i);
            }
            let id = memory.add(new).map_err(|e| e.to_string())?;
            Ok(json!({ "id": id }).to_string())
        })
        .await
    }

    #[tool(
        description = "Find the memories most relevant to a query (recency, importance and relevance combined), optionally only one agent's, some kinds, or a time window. Returns a JSON list."
    )]
    async fn recall(&self, Parameters(args): Parameters<RecallArgs>) -> CallToolResult {
        let memory = self.memory.clone();
        blocking(move || {
            let k = args.k.unwrap_or(5).clamp(1, MAX_RECALL);
            let kinds = args
                .kinds
                .iter()
                .map(|k| MemoryKind::parse(k))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let mut query = RecallQuery::new(args.query, k, now_ms())
                .kinds(kinds)
                .window(args.after, args.before);
            if let Some(agent) = args.agent {
                query = query.agent(agent);
            }
            let found = memory.recall(&query).map_err(|e| e.to_string())?;
            let rows: Vec<Value> = found
                .iter()
                .map(|r| {
                    json!({
                        "id": r.record.id,
                        "agent": r.record.agent,
                        "kind": r.record.kind.as_str(),
                        "text": r.record.text,
                        "created": r.record.created,
                        "importance": r.record.importance,
                        "score": r.score,
                    })
                })
                .collect();
            Ok(Value::Array(rows).to_string())
        })
        .await
    }

    #[tool(
        description = "Start a Hamlet agent run on a goal and wait for it to end. Returns a JSON object with its answer (or why it stopped), its steps and the path of its trace."
    )]
    async fn run_goal(&self, Parameters(args): Parameters<RunGoalArgs>) -> CallToolResult {
        let Some(run) = self.goals.clone() else {
            return text(Err("run_goal is not served here".into()));
        };
        blocking(move || run(args.goal).map(|v| v.to_string())).await
    }

    #[tool(description = "The memory store's figures: how many memories, per agent and kind.")]
    async fn stats(&self, Parameters(_): Parameters<NoArgs>) -> CallToolResult {
        let stats = self.stats.clone();
        blocking(move || stats().map(|v| v.to_string())).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "hamlet-memory",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Hamlet's long-term memory: remember facts, recall them by meaning and keywords.",
            )
    }
}

impl MemoryServer {
    /// Serves on this process's stdin and stdout until the client closes them.
    pub fn serve_stdio(self) -> crate::Result<()> {
        let runtime = runtime()?;
        runtime.block_on(async move {
            let running = self
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| Error::Serve(format!("the MCP handshake on stdio failed: {e}")))?;
            running
                .waiting()
                .await
                .map_err(|e| Error::Serve(e.to_string()))?;
            Ok(())
        })
    }

    /// Serves streamable HTTP at `http://ADDR/mcp` until the process ends; `on_bound` is told
    /// the address once it listens. With `api_key`, every request must carry
    /// `Authorization: Bearer <key>`.
    pub fn serve_http(
        self,
        addr: SocketAddr,
        api_key: Option<String>,
        on_bound: impl FnOnce(SocketAddr),
    ) -> crate::Result<()> {
        let runtime = runtime()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Serve(format!("cannot listen on {addr}: {e}")))?;
            let bound = listener
                .local_addr()
                .map_err(|e| Error::Serve(e.to_string()))?;
            let mut config = StreamableHttpServerConfig::default();
            if !bound.ip().is_loopback() {
                // rmcp accepts only loopback Host headers by default (DNS-rebinding guard).
                config.allowed_hosts.clear();
            }
            let service: StreamableHttpService<MemoryServer, LocalSessionManager> =
                StreamableHttpService::new(move || Ok(self.clone()), Default::default(), config);
            let key = api_key.map(|k| Arc::new(format!("Bearer {k}")));
            let router = axum::Router::new().nest_service("/mcp", service).layer(
                axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let key = key.clone();
                    async move {
                        if let Some(key) = key {
                            let given = req
                                .headers()
                                .get(axum::http::header::AUTHORIZATION)
                                .and_then(|v| v.to_str().ok());
                            if given != Some(key.as_str()) {
                                return axum::response::IntoResponse::into_response((
                                    axum::http::StatusCode::UNAUTHORIZED,
                                    "a bearer token is required: send Authorization: Bearer <the --api-key>",
                                ));
                            }
                        }
                        next.run(req).await
                    }
                }),
            );
            on_bound(bound);
            axum::serve(listener, router)
                .await
                .map_err(|e| Error::Serve(e.to_string()))
        })
    }
}

fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))
}
