//! The run's MCP servers: started with the run (and again on resume), their allowed tools added
//! to the registry, stopped when the run ends.

use std::path::Path;

use hamlet_core::Llm;
use hamlet_mcp::{Session, Stderr};
use hamlet_tools::{DynTool, Registry};

use crate::spec::mcp_tool;
use crate::{AgentSpec, Error, Result};

/// Starts the agent's servers (none: `None`) and registers the tools its `tools` names. Each
/// named tool must exist on its server, and its input schema must be one the backend can
/// constrain decoding to; both are errors naming the tool, before any step runs. A server's
/// standard error goes to `RUN_DIR/mcp-<server>.log`.
pub(super) fn connect(
    spec: &AgentSpec,
    llm: &dyn Llm,
    workspace: &Path,
    run_dir: &Path,
    registry: &mut Registry,
) -> Result<Option<Session>> {
    if spec.mcp.is_empty() {
        return Ok(None);
    }
    let session = Session::start(&spec.mcp, workspace, Stderr::LogIn(run_dir))?;
    let file = spec
        .source
        .clone()
        .unwrap_or_else(|| format!("agent {}", spec.name));
    for (i, name) in spec.tools.iter().enumerate() {
        let Some((server, tool)) = mcp_tool(name) else {
            continue;
        };
        let Some(found) = session.tool(name) else {
            return Err(Error::Spec {
                file,
                message: format!(
                    "field `tools[{i}]`: MCP server `{server}` has no tool {tool:?}; it has: {}",
                    session.names_of(server).join(", ")
                ),
            });
        };
        let schema = found.parameters();
        if let Err(e) = llm.check_schema(&schema) {
            let why = found
                .schema_problem()
                .map(|p| format!("{p}; "))
                .unwrap_or_default();
            return Err(Error::Spec {
                file,
                message: format!(
                    "field `tools[{i}]`: the input schema of MCP tool {name} cannot constrain the model ({why}{e}); leave the tool out of `tools`, or fix its schema on the server"
                ),
            });
        }
        registry.add(found.clone());
    }
    Ok(Some(session))
}
