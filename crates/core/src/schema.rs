//! JSON Schemas derived from Rust types, in the plain form a grammar converter accepts.
//!
//! Tool arguments and the town's replies are Rust structs that derive both their schema
//! (schemars) and their parsing (serde), so what the model is constrained to and what the parser
//! accepts cannot drift apart. llama.cpp's converter wants one self-contained object, so
//! subschemas are inlined and `$schema`, `title`, `format` and `null` alternatives are dropped.

use schemars::JsonSchema;
use serde_json::Value;

/// The JSON Schema of `T`: optional fields are simply not required (no `null` types), no
/// `$schema`, `title` or `format`, subschemas inlined.
pub fn schema_of<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
    }
    drop_null(&mut value);
    value
}

/// Optional fields are already left out of `required`; a `null` alternative on top would only let
/// the model write `null` where leaving the field out says the same.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alts)) = map.get_mut(key) {
                    alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                }
            }
            map.remove("format");
            for child in map.values_mut() {
                drop_null(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Args {
        /// A path.
        path: String,
        limit: Option<u32>,
    }

    #[test]
    fn optional_fields_are_not_required_and_never_null() {
        let s = schema_of::<Args>();
        assert_eq!(s["required"], json!(["path"]));
        assert_eq!(s["properties"]["limit"]["type"], json!("integer"));
        assert!(s.get("$schema").is_none() && s.get("title").is_none());
        assert!(s["properties"]["limit"].get("format").is_none());
    }
}
