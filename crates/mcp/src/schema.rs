//! An MCP tool's input schema made fit to sit inside the agent's action schema.
//!
//! The action schema nests each tool's arguments under `args`, so a tool's own local references
//! (`#/$defs/X`, `#/definitions/X`) would point at the wrong root: they are written in place.
//! Markers that mean nothing there (`$schema`, `$id`) go. What cannot be made to fit (a remote
//! or recursive reference) is left as it is, for the backend's schema check to name.

use serde_json::{Map, Value};

/// How deep references may nest before the schema counts as recursive.
const MAX_DEPTH: usize = 24;

/// The schema the agent's grammar uses for an MCP tool's arguments.
pub fn prepare(input: &Map<String, Value>) -> Result<Value, String> {
    let root = Value::Object(input.clone());
    let mut out = inline(&root, &root, 0)?;
    if let Value::Object(map) = &mut out {
        for key in ["$schema", "$id", "$defs", "definitions"] {
            map.remove(key);
        }
        // MCP says arguments are an object; a schema that leaves the type out means one.
        map.entry("type").or_insert_with(|| "object".into());
    }
    Ok(out)
}

/// The schema as [`prepare`] makes it, or, when it cannot be, the input without `$schema` (so
/// the backend's own check reports what is wrong with it).
pub fn prepare_or_raw(input: &Map<String, Value>) -> (Value, Option<String>) {
    match prepare(input) {
        Ok(v) => (v, None),
        Err(e) => {
            let mut raw = input.clone();
            raw.remove("$schema");
            (Value::Object(raw), Some(e))
        }
    }
}

fn inline(v: &Value, root: &Value, depth: usize) -> Result<Value, String> {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                if depth >= MAX_DEPTH {
                    return Err(format!("$ref {r:?} nests more than {MAX_DEPTH} deep (a recursive schema cannot become a grammar)"));
                }
                let target = resolve(root, r)?;
                let mut out = inline(target, root, depth + 1)?;
                // Siblings of $ref (a description, say) are kept beside the target's keys.
                if let Value::Object(out_map) = &mut out {
                    for (k, v) in map {
                        if k != "$ref" && !out_map.contains_key(k) {
                            out_map.insert(k.clone(), inline(v, root, depth)?);
                        }
                    }
                }
                return Ok(out);
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), inline(v, root, depth)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| inline(i, root, depth))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(format!(
            "$ref {reference:?} points outside the schema (only local references like \"#/$defs/Name\" can be used)"
        ));
    };
    root.pointer(pointer)
        .ok_or_else(|| format!("$ref {reference:?} names nothing in the schema"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn local_references_are_written_in_place() {
        let s = map(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"Role": {"enum": ["a", "b"], "type": "string"}},
            "properties": {"role": {"$ref": "#/$defs/Role", "description": "who"}},
            "required": ["role"]
        }));
        let out = prepare(&s).unwrap();
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {"role": {"enum": ["a", "b"], "type": "string", "description": "who"}},
                "required": ["role"]
            })
        );
    }

    #[test]
    fn remote_and_recursive_references_are_named() {
        let remote = map(json!({"properties": {"x": {"$ref": "https://example.com/s.json"}}}));
        assert!(prepare(&remote).unwrap_err().contains("outside the schema"));
        let recursive = map(json!({
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "properties": {"head": {"$ref": "#/$defs/Node"}}
        }));
        assert!(prepare(&recursive).unwrap_err().contains("recursive"));
        let (raw, why) = prepare_or_raw(&remote);
        assert!(why.is_some());
        assert_eq!(raw["properties"]["x"]["$ref"], "https://example.com/s.json");
    }
}
