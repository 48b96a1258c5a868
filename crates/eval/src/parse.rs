//! Parsing a free-text reply into function calls (the unconstrained mode).
//!
//! Accepted shapes:
//!
//! * JSON: `{"calls": [{"name": ..., "arguments": {...}}]}`, a bare list of
//!   such objects, a single such object (`arguments` may also be a JSON
//!   string, as in OpenAI's format, or be called `parameters`), or BFCL's own
//!   `[{"fn_name": {args}}]`;
//! * Python-call syntax as BFCL's default prompt asks for:
//!   `[func1(a=1, b="x"), mod.func2(c=[1, 2], d={"k": 3.5}, e=True)]`, with or
//!   without the brackets.
//!
//! Either may sit inside a markdown code fence or among prose: the first
//! parsable span wins. `[]` means zero calls. For the irrelevance categories,
//! BFCL counts a reply that does not parse as "no call".

use std::fmt;

use serde_json::{Map, Value};

use crate::pyexpr::{Expr, Parser};

/// One function call made by the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Call {
    /// The function's name, as written (possibly dotted).
    pub name: String,
    /// The keyword arguments.
    pub args: Map<String, Value>,
}

impl Call {
    /// A call of `name` with `args`.
    pub fn new(name: impl Into<String>, args: Map<String, Value>) -> Self {
        Call {
            name: name.into(),
            args,
        }
    }

    /// The call in Python syntax, `name(a=1, b="x")`, which [`parse_calls`]
    /// reads back to the same call.
    pub fn to_python(&self) -> String {
        let mut out = format!("{}(", self.name);
        for (i, (k, v)) in self.args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(k);
            out.push('=');
            write_py_value(&mut out, v);
        }
        out.push(')');
        out
    }
}

/// Renders calls as a Python list, `[f(a=1), g(b="x")]`.
pub fn render_python(calls: &[Call]) -> String {
    let parts: Vec<String> = calls.iter().map(Call::to_python).collect();
    format!("[{}]", parts.join(", "))
}

fn write_py_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => out.push_str(&format!("{f:?}")),
            _ => out.push_str(&n.to_string()),
        },
        // JSON string escapes are valid Python string escapes.
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_py_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Why a reply could not be read as calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} at byte {offset}, found {found}")]
pub struct ParseError {
    /// Byte offset into the reply where parsing failed.
    pub offset: usize,
    /// What was expected there.
    pub expected: String,
    /// What was found instead.
    pub found: String,
}

/// Parses a reply into calls; see the [module docs](self) for the shapes.
pub fn parse_calls(text: &str) -> Result<Vec<Call>, ParseError> {
    let mut best: Option<ParseError> = None;
    let mut keep = |e: ParseError| {
        if best.as_ref().is_none_or(|b| e.offset > b.offset) {
            best = Some(e);
        }
    };
    // A fenced block first, then the whole reply, then any span in it.
    if let Some((start, end)) = fenced_block(text) {
        match parse_span(text, start, Some(end)) {
            Ok(calls) => return Ok(calls),
            Err(e) => keep(e),
        }
    }
    match parse_span(text, 0, Some(text.len())) {
        Ok(calls) => return Ok(calls),
        Err(e) => keep(e),
    }
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let word_start = (c == '_' || c.is_alphabetic())
            && !prev.is_some_and(|p| p == '_' || p == '.' || p.is_alphanumeric());
        if c == '[' || c == '{' || word_start {
            match parse_span(text, i, None) {
                Ok(calls) => return Ok(calls),
                Err(e) => keep(e),
            }
        }
        prev = Some(c);
    }
    Err(best.unwrap_or(ParseError {
        offset: 0,
        expected: "a function call".to_string(),
        found: "end of input".to_string(),
    }))
}

/// The byte range of the content of the first ``` fence, without its
/// language tag.
fn fenced_block(text: &str) -> Option<(usize, usize)> {
    let open = text.find("```")?;
    let after = open + 3;
    let rest = text.get(after..)?;
    // Skip a language tag (`python`, `json`, `tool_code`) up to the newline.
    let tag_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let start = after + tag_len;
    let end = text
        .get(start..)?
        .find("```")
        .map_or(text.len(), |e| start + e);
    Some((start, end))
}

/// Parses calls starting at `start`; with `end`, the span must reach it
/// (allowing whitespace and a trailing `;`).
fn parse_span(text: &str, start: usize, end: Option<usize>) -> Result<Vec<Call>, ParseError> {
    let src = match end {
        Some(e) => text.get(..e).unwrap_or(text),
        None => text,
    };
    let mut p = Parser::new(src, start);
    p.skip_ws();
    let at = p.pos;
    let first = p.expr()?;
    let calls = if let Expr::Call(c) = first {
        // Calls without brackets: `f(a=1), g(b=2)`.
        let mut calls = vec![c];
        while p.eat(',') {
            p.skip_ws();
            let item_at = p.pos;
            match p.expr()? {
                Expr::Call(c) => calls.push(c),
                _ => {
                    p.pos = item_at;
                    return Err(p.err("a function call"));
                }
            }
        }
        calls
    } else {
        interpret(first).ok_or_else(|| {
            let mut e = p.err("function calls");
            e.offset = at;
            e.found = "a value that is not a call or list of calls".to_string();
            e
        })?
    };
    if end.is_some() {
        p.eat(';');
        p.skip_ws();
        if !p.at_end() {
            return Err(p.err("end of the calls"));
        }
    }
    Ok(calls)
}

/// Reads a parsed expression as a list of calls, if it is one.
fn interpret(expr: Expr) -> Option<Vec<Call>> {
    match expr {
        Expr::Call(c) => Some(vec![c]),
        Expr::Seq(items) => items
            .into_iter()
            .map(|item| match item {
                Expr::Call(c) => Some(c),
                Expr::Value(v) => json_call(v),
                Expr::Seq(_) => None,
            })
            .collect(),
        Expr::Value(Value::Array(items)) => items.into_iter().map(json_call).collect(),
        Expr::Value(Value::Object(mut obj)) => {
            // The constrained reply's leading thought is not part of the calls.
            if obj.contains_key("calls") || obj.contains_key(crate::schema::NO_CALL) {
                obj.remove(crate::schema::THOUGHT);
            }
            if obj.len() == 1 {
                if let Some(Value::Array(calls)) = obj.remove("calls") {
                    return calls.into_iter().map(json_call).collect();
                }
                // `{"no_call": "why"}`: the constrained reply that makes no call.
                if obj.contains_key(crate::schema::NO_CALL) {
                    return Some(Vec::new());
                }
            }
            json_call(Value::Object(obj)).map(|c| vec![c])
        }
        Expr::Value(_) => None,
    }
}

/// One call from a JSON object: `{"name", "arguments"}` (or `parameters`,
/// arguments possibly a JSON string), `{"function": {...}}`, or BFCL's
/// `{"fn_name": {args}}`.
fn json_call(v: Value) -> Option<Call> {
    let Value::Object(mut obj) = v else {
        return None;
    };
    if let Some(Value::Object(inner)) = obj.get("function") {
        if inner.contains_key("name") {
            return json_call(Value::Object(inner.clone()));
        }
    }
    if let Some(Value::String(name)) = obj.get("name").cloned() {
        let args = obj.remove("arguments").or_else(|| obj.remove("parameters"));
        let args = match args {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(Value::String(s)) => match serde_json::from_str(&s) {
                Ok(Value::Object(m)) => m,
                _ => return None,
            },
            Some(_) => return None,
        };
        return Some(Call { name, args });
    }
    if obj.len() == 1 {
        if let Some((name, Value::Object(args))) = obj.into_iter().next() {
            return Some(Call { name, args });
        }
    }
    None
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_python())
    }
}
