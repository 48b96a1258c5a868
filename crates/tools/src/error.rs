/// Why a tool call did not succeed. The agent loop turns each into an observation the model can
/// react to; none of them ends a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The runtime refused the call (outside the workspace, not allowed, private address...).
    #[error("refused: {0}")]
    Refused(String),
    /// The arguments do not fit the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// The tool ran and failed (file not found, bad expression, HTTP error, timeout...).
    #[error("{0}")]
    Failed(String),
    /// No tool by that name exists.
    #[error("unknown tool {name:?}: the tools are {known}")]
    Unknown { name: String, known: String },
}

impl ToolError {
    pub fn failed(msg: impl Into<String>) -> Self {
        ToolError::Failed(msg.into())
    }
    pub fn refused(msg: impl Into<String>) -> Self {
        ToolError::Refused(msg.into())
    }
    /// Whether the runtime (rather than the tool) stopped the call.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ToolError::Refused(_) | ToolError::Unknown { .. })
    }
}

/// Result of a tool call.
pub type ToolResult<T> = std::result::Result<T, ToolError>;
