//! Schema conversion for every BFCL type, and the shape of `calls_schema`.

use hamlet_eval::{calls_schema, params_to_json_schema, Error, FunctionDoc};
use serde_json::{json, Value};

fn convert(v: Value) -> Value {
    match params_to_json_schema(&v) {
        Ok(s) => s,
        Err(e) => panic!("{v}: {e}"),
    }
}

#[test]
fn every_bfcl_type() {
    let cases = [
        ("dict", json!({"type": "object"})),
        ("float", json!({"type": "number"})),
        ("integer", json!({"type": "integer"})),
        ("string", json!({"type": "string"})),
        ("boolean", json!({"type": "boolean"})),
        ("array", json!({"type": "array"})),
        ("tuple", json!({"type": "array"})),
        ("any", json!({})),
    ];
    for (bfcl, want) in cases {
        assert_eq!(convert(json!({"type": bfcl})), want, "{bfcl}");
    }
}

#[test]
fn nested_structure_is_converted() {
    let bfcl = json!({
        "type": "dict",
        "required": ["a"],
        "properties": {
            "a": {"type": "tuple", "items": {"type": "float"}, "description": "pair"},
            "b": {"type": "dict", "properties": {"c": {"type": "any", "description": "x"}}, "required": []},
            "d": {"type": "string", "enum": ["x", "y"], "default": "x", "format": "date"},
            "e": {"type": "array", "items": {"type": "dict", "properties": {"f": {"type": "boolean"}}}},
        }
    });
    let want = json!({
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "array", "items": {"type": "number"}, "description": "pair"},
            "b": {"type": "object", "properties": {"c": {"description": "x"}}, "required": []},
            "d": {"type": "string", "enum": ["x", "y"]},
            "e": {"type": "array", "items": {"type": "object", "properties": {"f": {"type": "boolean"}}}},
        }
    });
    assert_eq!(convert(bfcl), want);
}

#[test]
fn bfcl_conventions() {
    // An enum on a list constrains its elements.
    let s = convert(json!({"type": "array", "items": {"type": "string"}, "enum": ["a", "b"]}));
    assert_eq!(
        s,
        json!({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}})
    );
    // A null default admits null.
    let s = convert(json!({"type": "string", "default": null}));
    assert_eq!(s, json!({"type": ["string", "null"]}));
    let s = convert(json!({"type": "string", "enum": ["a"], "default": null}));
    assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
}

#[test]
fn unknown_type_names_function_and_path() {
    let f = FunctionDoc {
        name: "math.f".into(),
        description: String::new(),
        parameters: json!({"type": "dict", "properties": {"opts": {"type": "dict", "properties": {"z": {"type": "complex"}}}}}),
    };
    let e = calls_schema(&[f], 1).expect_err("unknown type");
    assert!(matches!(e, Error::Schema { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("math.f") && msg.contains("parameters.opts.z") && msg.contains("complex"),
        "{msg}"
    );
    assert!(
        params_to_json_schema(&json!({"properties": {}})).is_err(),
        "missing type"
    );
    assert!(params_to_json_schema(&json!({"type": "dict", "properties": {"a": 3}})).is_err());
}

#[test]
fn calls_schema_shape() {
    let f = FunctionDoc {
        name: "math.factorial".into(),
        description: "n!".into(),
        parameters: json!({"type": "dict", "properties": {"number": {"type": "integer"}}, "required": ["number"]}),
    };
    let g = FunctionDoc {
        name: "noop".into(),
        description: String::new(),
        parameters: json!({"type": "dict", "properties": {}, "required": []}),
    };
    let s = calls_schema(&[f, g], 3).expect("schema");
    let call_branches = json!([
        {"type": "object",
         "properties": {"name": {"const": "math.factorial"},
                        "arguments": {"type": "object", "properties": {"number": {"type": "integer"}},
                                      "required": ["number"], "additionalProperties": false}},
         "required": ["name", "arguments"], "additionalProperties": false},
        {"type": "object",
         "properties": {"name": {"const": "noop"},
                        "arguments": {"type": "object", "properties": {}, "required": [],
                                      "additionalProperties": false}},
         "required": ["name", "arguments"], "additionalProperties": false}
    ]);
    let thought = json!({"type": "string", "maxLength": 240});
    let no_call = json!({"type": "object",
        "properties": {"thought": thought, "no_call": {"type": "string", "maxLength": 200}},
        "required": ["thought", "no_call"], "additionalProperties": false});
    let want = json!({"anyOf": [
        {"type": "object",
         "properties": {"thought": thought, "calls": {"type": "array", "minItems": 1, "maxItems": 3,
                                  "items": {"anyOf": call_branches}}},
         "required": ["thought", "calls"],
         "additionalProperties": false},
        no_call.clone()
    ]});
    assert_eq!(s, want);
    let text = s.to_string();
    for banned in ["oneOf", "pattern", "format"] {
        assert!(!text.contains(banned), "{banned}");
    }
    // No functions: only the refusal fits.
    let empty = calls_schema(&[], 5).expect("schema");
    assert_eq!(empty, no_call);
}

#[test]
fn calls_schema_validates_replies() {
    let f = FunctionDoc {
        name: "f".into(),
        description: String::new(),
        parameters: json!({"type": "dict", "properties": {"x": {"type": "float"}}, "required": ["x"]}),
    };
    let s = calls_schema(&[f], 2).expect("schema");
    let v = jsonschema::validator_for(&s).expect("valid schema");
    let t = "t";
    assert!(v.is_valid(&json!({"thought": t, "no_call": "nothing fits"})));
    assert!(
        !v.is_valid(&json!({"no_call": "nothing fits"})),
        "the thought comes first"
    );
    assert!(
        !v.is_valid(&json!({"thought": t, "calls": []})),
        "no call has its own branch"
    );
    assert!(!v.is_valid(&json!({"thought": t, "calls": [], "no_call": "x"})));
    assert!(v.is_valid(&json!({"thought": t, "calls": [{"name": "f", "arguments": {"x": 1.5}}]})));
    assert!(!v.is_valid(&json!({"thought": t, "calls": [{"name": "g", "arguments": {"x": 1.5}}]})));
    assert!(!v.is_valid(
        &json!({"thought": t, "calls": [{"name": "f", "arguments": {"x": 1.5, "y": 1}}]})
    ));
    assert!(!v.is_valid(&json!({"thought": t, "calls": [{"name": "f", "arguments": {}}]})));
    let three = json!({"name": "f", "arguments": {"x": 1}});
    assert!(!v.is_valid(&json!({"thought": t, "calls": [three.clone(), three.clone(), three]})));
    assert!(!v.is_valid(&json!({"thought": t, "no_call": "x", "extra": 1})));
}
