//! `remember` / `recall`: the agent's long-term memory (any [`hamlet_core::MemoryStream`]).

use hamlet_core::{MemoryKind, MemoryStream, NewMemory, RecallQuery};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{now_ms, ToolContext, ToolError, ToolResult};

fn store(ctx: &ToolContext) -> ToolResult<&dyn MemoryStream> {
    ctx.memory.as_deref().ok_or_else(|| {
        ToolError::failed("long-term memory is not enabled for this run (use --memory DB)")
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberArgs {
    /// The fact to keep, as one self-contained sentence.
    pub text: String,
    /// 1 (mundane) to 10 (crucial); rated by the model when left out.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    pub importance: Option<u8>,
}

pub(crate) fn remember(ctx: &ToolContext, a: RememberArgs) -> ToolResult<String> {
    if a.text.trim().is_empty() {
        return Err(ToolError::InvalidArgs("text is empty".into()));
    }
    let mut memory = NewMemory::new(&ctx.agent, MemoryKind::ToolResult, a.text, now_ms());
    memory.importance = a.importance.map(|i| i.clamp(1, 10));
    let id = store(ctx)?
        .add(memory)
        .map_err(|e| ToolError::failed(format!("cannot save the memory: {e}")))?;
    Ok(format!("remembered as memory #{id}"))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallArgs {
    /// What to look for.
    pub query: String,
    /// How many memories to return (default 5, at most 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub k: Option<u8>,
}

pub(crate) fn recall(ctx: &ToolContext, a: RecallArgs) -> ToolResult<String> {
    let k = usize::from(a.k.unwrap_or(5).clamp(1, 20));
    let query = RecallQuery::new(a.query, k, now_ms()).agent(&ctx.agent);
    let hits = store(ctx)?
        .recall(&query)
        .map_err(|e| ToolError::failed(format!("cannot search memory: {e}")))?;
    if hits.is_empty() {
        return Ok("no memories found".into());
    }
    Ok(hits
        .iter()
        .map(|h| format!("#{} ({:.2}) {}", h.record.id, h.score, h.record.text))
        .collect::<Vec<_>>()
        .join("\n"))
}
