use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use hamlet_core::schema_of;

use crate::{ToolContext, ToolError, ToolResult};

/// What a successful call does to the world, as the runtime's policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only looks (read, list, search, compute, fetch): repeating it with nothing changed is a loop.
    Read,
    /// Changes files, memory or the outside world: later reads may see something new.
    Mutating,
    /// Ends the run with an answer.
    Finishing,
}

/// A typed tool.
pub trait Tool: Send + Sync + 'static {
    /// The name the model calls it by.
    const NAME: &'static str;
    /// What a successful call does (the loop's repeat rule and approval depend on it).
    const EFFECT: Effect = Effect::Read;
    /// What the model's JSON deserializes into; its JSON Schema constrains the model.
    type Args: DeserializeOwned + JsonSchema;
    /// What the tool returns; strings are shown as they are, anything else as JSON.
    type Output: Serialize;

    /// One or two sentences for the model.
    const DESCRIPTION: &'static str;

    fn call(&self, ctx: &ToolContext, args: Self::Args) -> ToolResult<Self::Output>;
}

/// Declares a built-in tool: a unit struct and its [`Tool`] impl, whose `call` is the function
/// `$call(ctx, args)` (written out below the declaration, as ordinary code).
macro_rules! tool {
    (
        $(#[$doc:meta])*
        $tool:ident = $name:literal, $effect:ident, $args:ty, $call:path,
        $description:expr $(,)?
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $tool;

        impl $crate::Tool for $tool {
            const NAME: &'static str = $name;
            const EFFECT: $crate::Effect = $crate::Effect::$effect;
            type Args = $args;
            type Output = String;
            const DESCRIPTION: &'static str = $description;
            fn call(
                &self,
                ctx: &$crate::ToolContext,
                args: $args,
            ) -> $crate::ToolResult<String> {
                $call(ctx, args)
            }
        }
    };
}

/// The object-safe form of [`Tool`], for a registry chosen at run time.
pub trait DynTool: Send + Sync {
    fn name(&self) -> &str;
    fn effect(&self) -> Effect;
    fn description(&self) -> String;
    /// JSON Schema of the arguments.
    fn parameters(&self) -> Value;
    /// Runs the tool on JSON arguments and renders its output as text.
    fn call_json(&self, ctx: &ToolContext, args: Value) -> ToolResult<String>;
}

impl<T: Tool> DynTool for T {
    fn name(&self) -> &str {
        T::NAME
    }
    fn effect(&self) -> Effect {
        T::EFFECT
    }
    fn description(&self) -> String {
        T::DESCRIPTION.into()
    }
    fn parameters(&self) -> Value {
        schema_of::<T::Args>()
    }
    fn call_json(&self, ctx: &ToolContext, args: Value) -> ToolResult<String> {
        let args: T::Args = serde_json::from_value(args)
            .map_err(|e| ToolError::InvalidArgs(format!("{}: {e}", T::NAME)))?;
        let out = self.call(ctx, args)?;
        Ok(match serde_json::to_value(out) {
            Ok(Value::String(s)) => s,
            Ok(v) => v.to_string(),
            Err(e) => return Err(ToolError::failed(format!("cannot render output: {e}"))),
        })
    }
}

/// Arguments of `finish`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    /// The final answer to the goal.
    pub answer: String,
}

// The built-in tools, each a unit struct implementing `Tool` through `$call`, written in
// its module as an ordinary function.
tool! {
    /// Reads a text file.
    ReadFile = "read_file", Read, crate::fs::PathArgs, crate::fs::read_file,
    "Read a text file from the workspace."
}

tool! {
    /// Writes (replaces) a text file.
    WriteFile = "write_file", Mutating, crate::fs::WriteArgs, crate::fs::write_file,
    "Write text to a file in the workspace, replacing what was there."
}

tool! {
    /// Appends to a text file.
    AppendFile = "append_file", Mutating, crate::fs::WriteArgs, crate::fs::append_file,
    "Append text to the end of a file in the workspace (created if missing)."
}

tool! {
    /// Lists a folder.
    ListDir = "list_dir", Read, crate::fs::ListArgs, crate::fs::list_dir,
    "List the files and folders in a workspace folder, with sizes."
}

tool! {
    /// Searches file names and contents.
    SearchFiles = "search_files", Read, crate::fs::SearchArgs, crate::fs::search_files,
    "Find text in the workspace's files; returns matching file names and lines as path:line: text."
}

tool! {
    /// Evaluates arithmetic.
    Calculator = "calculator", Read, crate::calc::CalcArgs, crate::calc::calculator,
    "Evaluate an arithmetic expression over numbers you write out: + - * / % ^ and parentheses; sum, avg, min, max (any number of arguments), round(x) or round(x, digits), sqrt, abs, floor, ceil, ln, log10. It cannot read files or columns."
}

tool! {
    /// Fetches a URL.
    HttpGet = "http_get", Read, crate::http::HttpArgs, crate::http::http_get,
    "Fetch a web page by URL and return its readable text."
}

tool! {
    /// Runs an allowed program.
    Shell = "shell", Mutating, crate::shell::ShellArgs, crate::shell::shell,
    "Run an allowed program in the workspace, e.g. \"python3 main.py\", and return its exit code and output. A trailing \"> out.txt\" (or \">> out.txt\") saves its stdout to that file; there are no pipes, and files are written with write_file."
}

tool! {
    /// Searches the web through the agent's configured provider.
    WebSearch = "web_search", Read, crate::search::WebSearchArgs, crate::search::web_search,
    "Search the web; returns numbered results with title, URL and snippet. Fetch a result's page with http_get."
}

tool! {
    /// Stores a fact in long-term memory.
    Remember = "remember", Mutating, crate::memory::RememberArgs, crate::memory::remember,
    "Save a fact to long-term memory so it can be recalled in this or a later run."
}

tool! {
    /// Retrieves memories relevant to a query.
    Recall = "recall", Read, crate::memory::RecallArgs, crate::memory::recall,
    "Search long-term memory for facts related to a query."
}

tool! {
    /// Ends the run with an answer (the loop stops when it sees this tool).
    Finish = "finish", Finishing, FinishArgs, finish,
    "End the task and give the final answer. Call it once the goal is achieved."
}

fn finish(_ctx: &ToolContext, args: FinishArgs) -> ToolResult<String> {
    Ok(args.answer)
}

/// The tools by name.
pub struct Registry {
    tools: BTreeMap<String, Box<dyn DynTool>>,
}

impl Registry {
    /// No tools.
    pub fn empty() -> Self {
        Registry {
            tools: BTreeMap::new(),
        }
    }

    /// Every built-in tool.
    pub fn builtin() -> Self {
        let mut r = Registry::empty();
        r.add(crate::ReadFile);
        r.add(crate::WriteFile);
        r.add(crate::AppendFile);
        r.add(crate::ListDir);
        r.add(crate::SearchFiles);
        r.add(crate::Calculator);
        r.add(crate::HttpGet);
        r.add(crate::WebSearch);
        r.add(crate::Shell);
        r.add(crate::Remember);
        r.add(crate::Recall);
        r.add(Finish);
        r
    }

    /// The built-in tools' names, sorted (what an agent file may list besides MCP tools).
    pub fn builtin_names() -> Vec<&'static str> {
        static BUILTIN: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(Registry::builtin);
        BUILTIN.names()
    }

    /// Adds (or replaces) a tool.
    pub fn add(&mut self, tool: impl DynTool + 'static) {
        self.tools.insert(tool.name().to_string(), Box::new(tool));
    }

    pub fn get(&self, name: &str) -> Option<&dyn DynTool> {
        self.tools.get(name).map(|t| t.as_ref())
    }

    /// Tool names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }

    /// Runs a tool by name. Unknown names are an error the model sees, not a crash.
    pub fn call(&self, ctx: &ToolContext, name: &str, args: Value) -> ToolResult<String> {
        let tool = self.get(name).ok_or_else(|| ToolError::Unknown {
            name: name.to_string(),
            known: self.names().join(", "),
        })?;
        let _span = tracing::info_span!("tool", name).entered();
        let result = tool.call_json(ctx, args);
        if let Err(e) = &result {
            tracing::debug!(error = %e, "tool failed");
        }
        result
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_plain_objects() {
        let r = Registry::builtin();
        for name in r.names() {
            let s = r.get(name).unwrap().parameters();
            assert_eq!(s["type"], "object", "{name}: {s}");
            assert!(s.get("$schema").is_none());
            let text = s.to_string();
            assert!(!text.contains("\"null\""), "{name}: {text}");
        }
    }
}
