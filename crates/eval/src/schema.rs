//! Converting BFCL parameter schemas to standard JSON Schema.
//!
//! BFCL writes schemas in a Python-flavoured dialect: `"dict"` for objects,
//! `"float"` for numbers, `"tuple"` for arrays and `"any"` for anything. The
//! output here sticks to the subset of JSON Schema that llama.cpp's
//! json-schema-to-grammar understands (`type`, `properties`, `required`,
//! `items`, `enum`, `const`, `anyOf`, `additionalProperties: false`,
//! `maxItems`) plus `description` annotations.

use serde_json::{json, Map, Value};

use crate::data::FunctionDoc;
use crate::error::{Error, Result};

/// Converts one BFCL parameter schema (normally the `parameters` object of a
/// function, `{"type": "dict", "properties", "required"}`) to JSON Schema.
///
/// `"dict"` becomes `"object"`, `"float"` `"number"`, `"tuple"` `"array"`,
/// and `"any"` drops the type constraint. `properties`, `items`, `required`,
/// `enum` and `description` are kept (converted recursively); `default` and
/// other keywords are dropped. Two BFCL conventions are made explicit: an
/// `enum` on an array constrains its elements (it moves into `items`), and
/// `"default": null` admits `null` (`"type": [T, "null"]`, and `null` joins
/// any `enum`). An unknown type is an error naming the path.
pub fn params_to_json_schema(params: &Value) -> Result<Value> {
    convert(params, "", "parameters")
}

fn schema_err(function: &str, path: &str, message: impl Into<String>) -> Error {
    Error::Schema {
        function: function.to_string(),
        path: path.to_string(),
        message: message.into(),
    }
}

fn convert(schema: &Value, function: &str, path: &str) -> Result<Value> {
    let obj = schema
        .as_object()
        .ok_or_else(|| schema_err(function, path, format!("schema is not an object: {schema}")))?;
    let mut out = Map::new();
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) => {
            return Err(schema_err(
                function,
                path,
                format!("\"type\" is not a string: {other}"),
            ))
        }
        None => return Err(schema_err(function, path, "missing \"type\"")),
    };
    let json_type = match ty {
        "dict" | "object" => Some("object"),
        "float" | "number" => Some("number"),
        "tuple" | "array" => Some("array"),
        "integer" => Some("integer"),
        "string" => Some("string"),
        "boolean" => Some("boolean"),
        "any" => None,
        other => {
            return Err(schema_err(
                function,
                path,
                format!("unknown type {other:?}"),
            ))
        }
    };
    // BFCL's `"default": null` means Python's None is a legitimate value.
    let nullable = json_type.is_some() && obj.get("default").is_some_and(Value::is_null);
    if let Some(t) = json_type {
        let t = Value::String(t.into());
        let ty = if nullable { json!([t, "null"]) } else { t };
        out.insert("type".into(), ty);
    }
    if let Some(d) = obj.get("description").and_then(Value::as_str) {
        out.insert("description".into(), Value::String(d.into()));
    }
    let mut item_enum = None;
    if let Some(e) = obj.get("enum") {
        let Some(values) = e.as_array() else {
            return Err(schema_err(function, path, "\"enum\" is not a list"));
        };
        let mut values = values.clone();
        if json_type == Some("array") && !values.iter().any(Value::is_array) {
            // BFCL puts the allowed element values of a list on the list.
            item_enum = Some(values);
        } else {
            if nullable && !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
            out.insert("enum".into(), Value::Array(values));
        }
    }
    match json_type {
        Some("object") => {
            if let Some(props) = obj.get("properties") {
                let props = props
                    .as_object()
                    .ok_or_else(|| schema_err(function, path, "\"properties\" is not an object"))?;
                let mut converted = Map::new();
                for (name, sub) in props {
                    let sub_path = format!("{path}.{name}");
                    converted.insert(name.clone(), convert(sub, function, &sub_path)?);
                }
                out.insert("properties".into(), Value::Object(converted));
            }
            if let Some(req) = obj.get("required") {
                let ok = req
                    .as_array()
                    .is_some_and(|r| r.iter().all(Value::is_string));
                if !ok {
                    return Err(schema_err(
                        function,
                        path,
                        "\"required\" is not a list of names",
                    ));
                }
                out.insert("required".into(), req.clone());
            }
        }
        Some("array") => {
            let mut items = match obj.get("items") {
                Some(items) => convert(items, function, &format!("{path}[]"))?,
                None => json!({}),
            };
            if let (Some(values), Some(items)) = (item_enum, items.as_object_mut()) {
                items.entry("enum").or_insert(Value::Array(values));
            }
            if items.as_object().is_some_and(|i| !i.is_empty()) {
                out.insert("items".into(), items);
            }
        }
        _ => {}
    }
    Ok(Value::Object(out))
}

/// Converts a function's parameter schema, naming the function in errors.
pub fn function_params_schema(function: &FunctionDoc) -> Result<Value> {
    convert(&function.parameters, &function.name, "parameters")
}

/// The key of a reply that makes no call (its value says why).
pub const NO_CALL: &str = "no_call";
/// The key of the short thought every constrained reply starts with: what the question asks and
/// whether a function does exactly that (and how many calls it needs), before the model commits.
pub const THOUGHT: &str = "thought";
/// Longest thought, in characters.
const THOUGHT_CHARS: u64 = 240;

/// The JSON Schema of a whole reply in constrained mode: a short thought, then either calls or an
/// explicit refusal (`"thought"` is a required first property of both branches below),
///
/// ```json
/// {"anyOf": [
///   {"type": "object",
///    "properties": {"calls": {"type": "array", "minItems": 1, "maxItems": MAX,
///      "items": {"anyOf": [{"type": "object",
///         "properties": {"name": {"const": NAME}, "arguments": PARAMS},
///         "required": ["name", "arguments"], "additionalProperties": false}]}}},
///    "required": ["calls"], "additionalProperties": false},
///   {"type": "object", "properties": {"no_call": {"type": "string", "maxLength": 200}},
///    "required": ["no_call"], "additionalProperties": false}]}
/// ```
///
/// with one `anyOf` branch per function, and `additionalProperties: false` on each function's
/// arguments. The model chooses at the first key whether to call at all: once a grammar has it
/// inside `{"calls": [`, closing the list at once is unlikely, so "no function fits" needs its
/// own branch ([`NO_CALL`]). With no functions at all, only `no_call` fits.
pub fn calls_schema(functions: &[FunctionDoc], max_calls: usize) -> Result<Value> {
    let mut branches = Vec::with_capacity(functions.len());
    for f in functions {
        let mut args = function_params_schema(f)?;
        if let Some(obj) = args.as_object_mut() {
            if obj.get("type") != Some(&json!("object")) {
                return Err(schema_err(
                    &f.name,
                    "parameters",
                    "top-level parameters are not a dict",
                ));
            }
            obj.entry("properties").or_insert_with(|| json!({}));
            obj.insert("additionalProperties".into(), Value::Bool(false));
        }
        branches.push(json!({
            "type": "object",
            "properties": {
                "name": {"const": f.name},
                "arguments": args,
            },
            "required": ["name", "arguments"],
            "additionalProperties": false,
        }));
    }
    let thought = json!({"type": "string", "maxLength": THOUGHT_CHARS});
    let no_call = json!({
        "type": "object",
        "properties": {THOUGHT: thought, NO_CALL: {"type": "string", "maxLength": 200}},
        "required": [THOUGHT, NO_CALL],
        "additionalProperties": false,
    });
    if branches.is_empty() || max_calls == 0 {
        return Ok(no_call);
    }
    let calls = json!({
        "type": "object",
        "properties": {THOUGHT: thought, "calls": {
            "type": "array",
            "minItems": 1,
            "maxItems": max_calls,
            "items": {"anyOf": branches},
        }},
        "required": [THOUGHT, "calls"],
        "additionalProperties": false,
    });
    Ok(json!({"anyOf": [calls, no_call]}))
}
