//! JSON Schema → llama.cpp grammar, and checking replies against the schema.
//!
//! Constrained decoding is what lets a small local model drive tools: the grammar makes every
//! reply parse as JSON of the right shape. The schema is checked before it reaches llama.cpp (so a
//! bad schema is a clear error, never an abort), and every reply is validated again afterwards, so
//! a truncated reply (max tokens reached mid-object) is reported instead of passed on.

use serde_json::Value;

use hamlet_core::{Error, Result};

/// A checked schema that validates replies (for backends that constrain decoding themselves).
pub struct SchemaValidator {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaValidator").finish_non_exhaustive()
    }
}

impl SchemaValidator {
    /// Checks `schema` against the JSON Schema meta-schema.
    pub fn new(schema: &Value) -> Result<Self> {
        check(schema)?;
        let validator = jsonschema::validator_for(schema).map_err(|e| {
            Error::InvalidRequest(format!("JSON schema: {e} (at {})", e.schema_path()))
        })?;
        Ok(SchemaValidator { validator })
    }

    /// Parses `text` as JSON and validates it, saying what is wrong and where.
    pub fn parse(&self, text: &str) -> Result<Value> {
        let value: Value = serde_json::from_str(text.trim()).map_err(|e| Error::InvalidOutput {
            reason: format!("not JSON: {e}"),
            text: text.to_string(),
        })?;
        if let Some(err) = self.validator.iter_errors(&value).next() {
            let at = err.instance_path().to_string();
            return Err(Error::InvalidOutput {
                reason: format!("{err} (at '{}')", if at.is_empty() { "/" } else { &at }),
                text: text.to_string(),
            });
        }
        Ok(value)
    }
}

/// A schema that has been checked and compiled: the grammar for decoding, a validator for replies.
#[derive(Debug)]
pub struct CompiledSchema {
    pub grammar: String,
    validator: SchemaValidator,
}

impl CompiledSchema {
    /// Checks `schema` against the JSON Schema meta-schema and converts it to a GBNF grammar.
    pub fn new(schema: &Value) -> Result<Self> {
        let validator = SchemaValidator::new(schema)?;
        let grammar = to_grammar(schema)?;
        Ok(CompiledSchema { grammar, validator })
    }

    /// Parses `text` as JSON and validates it against the schema.
    pub fn parse(&self, text: &str) -> Result<Value> {
        self.validator.parse(text)
    }
}

/// Checks that `schema` is a JSON Schema that a grammar can be built from.
pub fn check(schema: &Value) -> Result<()> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(Error::InvalidRequest(format!(
            "JSON schema must be an object (like {{\"type\": \"object\", ...}}), got {}",
            kind(schema)
        )));
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        let at = e.instance_path().to_string();
        return Err(Error::InvalidRequest(format!(
            "JSON schema is not valid at '{}': {e}",
            if at.is_empty() { "/" } else { &at }
        )));
    }
    check_bounds(schema, &mut String::new())
}

/// The largest length, item count or property count a schema may ask for: llama.cpp's grammar
/// builder writes a rule per repetition, and `maxLength: 100000000` exhausted memory.
pub const MAX_REPEAT: u64 = 10_000;

/// Bounds that no value can meet (`minLength` above `maxLength`, and the same for items,
/// properties and numbers) and repetition counts above [`MAX_REPEAT`], anywhere in the schema.
/// Both are valid under the meta-schema; the grammar builder would then allocate until it fails.
fn check_bounds(schema: &Value, at: &mut String) -> Result<()> {
    let bad = |at: &str, what: String| {
        Error::InvalidRequest(format!(
            "JSON schema at '{}': {what}",
            if at.is_empty() { "/" } else { at }
        ))
    };
    match schema {
        Value::Object(map) => {
            for (lo, hi) in [
                ("minLength", "maxLength"),
                ("minItems", "maxItems"),
                ("minProperties", "maxProperties"),
                ("minContains", "maxContains"),
            ] {
                for key in [lo, hi] {
                    if let Some(n) = map.get(key).and_then(Value::as_u64) {
                        if n > MAX_REPEAT {
                            return Err(bad(at, format!("{key} {n} is more than {MAX_REPEAT}, too many repetitions to build a grammar for: use at most {MAX_REPEAT}")));
                        }
                    }
                }
                if let (Some(min), Some(max)) = (
                    map.get(lo).and_then(Value::as_u64),
                    map.get(hi).and_then(Value::as_u64),
                ) {
                    if min > max {
                        return Err(bad(
                            at,
                            format!("{lo} {min} is more than {hi} {max}: no value can meet both"),
                        ));
                    }
                }
            }
            let number = |key: &str| map.get(key).and_then(Value::as_f64);
            let low = number("minimum").or(number("exclusiveMinimum"));
            let high = number("maximum").or(number("exclusiveMaximum"));
            if let (Some(low), Some(high)) = (low, high) {
                let exclusive =
                    map.contains_key("exclusiveMinimum") || map.contains_key("exclusiveMaximum");
                if low > high || (exclusive && low >= high) {
                    return Err(bad(at, format!("the lower bound {low} is not below the upper bound {high}: no number can meet both")));
                }
            }
            for (key, value) in map {
                let len = at.len();
                at.push('/');
                at.push_str(key);
                check_bounds(value, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                check_bounds(value, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Converts a JSON Schema to a GBNF grammar with llama.cpp's own converter.
///
/// llama.cpp's grammar lets the model put up to two newlines and twenty spaces between tokens;
/// small models fill that room with whitespace until `max_tokens` cuts the reply off. We allow at
/// most one space, which keeps replies compact and still parses as the same JSON.
pub fn to_grammar(schema: &Value) -> Result<String> {
    let text = serde_json::to_string(schema)
        .map_err(|e| Error::InvalidRequest(format!("JSON schema: {e}")))?;
    let grammar = llama_cpp_2::json_schema_to_grammar(&text).map_err(|e| {
        Error::InvalidRequest(format!(
            "llama.cpp cannot build a grammar from this JSON schema ({e}); \
             supported: type, properties, required, items, enum, const, anyOf/oneOf, min/maxItems, min/maxLength, local $ref"
        ))
    })?;
    Ok(compact_space(&grammar))
}

fn compact_space(grammar: &str) -> String {
    grammar
        .lines()
        .map(|line| {
            if line.starts_with("space ::=") {
                "space ::= \" \"?"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Valid under the meta-schema, and each used to make llama.cpp's grammar builder allocate
    /// gigabytes (or forever): refused before the grammar is built, naming the place.
    #[test]
    fn impossible_bounds_and_absurd_repetitions_are_refused() {
        for (schema, want) in [
            (
                json!({"type": "string", "minLength": 10, "maxLength": 5}),
                "minLength 10 is more than maxLength 5",
            ),
            (
                json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 100000000u64}}}),
                "/properties/name",
            ),
            (
                json!({"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 2}),
                "minItems 3",
            ),
            (
                json!({"type": "array", "maxItems": 1000000}),
                "maxItems 1000000 is more than 10000",
            ),
            (
                json!({"type": "integer", "minimum": 5, "maximum": 1}),
                "lower bound 5",
            ),
            (
                json!({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}),
                "lower bound 1",
            ),
            (
                json!({"anyOf": [{"type": "string"}, {"type": "string", "minLength": 20000}]}),
                "/anyOf/1",
            ),
            (
                json!({"type": "object", "minProperties": 4, "maxProperties": 1}),
                "minProperties 4",
            ),
        ] {
            let started = std::time::Instant::now();
            let e = CompiledSchema::new(&schema).unwrap_err().to_string();
            assert!(e.contains(want), "{schema}: {e}");
            assert!(started.elapsed().as_secs() < 2, "{schema}");
        }
        // Tight but possible bounds still build.
        for schema in [
            json!({"type": "string", "minLength": 3, "maxLength": 3}),
            json!({"type": "integer", "minimum": 1, "maximum": 1}),
            json!({"type": "array", "items": {"type": "string"}, "maxItems": 100}),
        ] {
            CompiledSchema::new(&schema).unwrap_or_else(|e| panic!("{schema}: {e}"));
        }
    }

    fn tool_call_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "tool": {"enum": ["read_file", "finish"]},
                "args": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
            },
            "required": ["tool", "args"]
        })
    }

    #[test]
    fn grammar_has_root_and_tool_names() {
        let g = to_grammar(&tool_call_schema()).unwrap();
        assert!(g.contains("root ::="), "{g}");
        assert!(g.contains("read_file") && g.contains("finish"), "{g}");
    }

    #[test]
    fn whitespace_between_tokens_is_at_most_one_space() {
        let g = to_grammar(&tool_call_schema()).unwrap();
        let space: Vec<&str> = g.lines().filter(|l| l.starts_with("space ::=")).collect();
        assert_eq!(space, vec!["space ::= \" \"?"], "{g}");
    }

    #[test]
    fn enum_and_integer_rules() {
        let g = to_grammar(&json!({"type": "integer"})).unwrap();
        assert!(g.contains("[0-9]"), "{g}");
        let g = to_grammar(&json!({"type": "array", "items": {"type": "boolean"}, "maxItems": 3}))
            .unwrap();
        assert!(g.contains("true") && g.contains("false"), "{g}");
    }

    #[test]
    fn non_object_schema_is_refused_with_a_reason() {
        let err = CompiledSchema::new(&json!([1, 2])).unwrap_err().to_string();
        assert!(err.contains("must be an object"), "{err}");
    }

    #[test]
    fn meta_invalid_schema_names_the_place() {
        let err = CompiledSchema::new(
            &json!({"type": "object", "properties": {"a": {"type": "strnig"}}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not valid"), "{err}");
        assert!(err.contains("properties"), "{err}");
    }

    #[test]
    fn parse_checks_required_enum_and_json() {
        let s = CompiledSchema::new(&tool_call_schema()).unwrap();
        assert!(s
            .parse(r#"{"tool": "finish", "args": {"path": "a"}}"#)
            .is_ok());
        let e = s
            .parse(r#"{"tool": "rm", "args": {"path": "a"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/tool"), "{e}");
        let e = s
            .parse(r#"{"tool": "finish", "args": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("path"), "{e}");
        let e = s
            .parse(r#"{"tool": "finish", "args": {"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
    }
}
