//! Python's view of JSON values, as BFCL's checker sees them after
//! `json.load`: type names, equality (`1 == 1.0`, `True == 1`) and the
//! string standardisation used for comparing answers.

use std::fmt;

use serde_json::Value;

/// A Python type as BFCL's checker maps schema types onto (`type(x)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PyType {
    Str,
    Int,
    Float,
    Bool,
    List,
    Dict,
    None,
}

impl PyType {
    /// The Python type BFCL expects for a schema type name (Python rules:
    /// `"any"` means `str`, `"tuple"` means `list`).
    pub(crate) fn from_schema(name: &str) -> Option<PyType> {
        Some(match name {
            "string" | "any" => PyType::Str,
            "integer" => PyType::Int,
            "float" | "number" => PyType::Float,
            "boolean" => PyType::Bool,
            "array" | "tuple" => PyType::List,
            "dict" | "object" => PyType::Dict,
            _ => return None,
        })
    }

    /// `type(value)` for a decoded JSON value.
    pub(crate) fn of(value: &Value) -> PyType {
        match value {
            Value::Null => PyType::None,
            Value::Bool(_) => PyType::Bool,
            Value::Number(n) if n.is_f64() => PyType::Float,
            Value::Number(_) => PyType::Int,
            Value::String(_) => PyType::Str,
            Value::Array(_) => PyType::List,
            Value::Object(_) => PyType::Dict,
        }
    }
}

impl fmt::Display for PyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PyType::Str => "str",
            PyType::Int => "int",
            PyType::Float => "float",
            PyType::Bool => "bool",
            PyType::List => "list",
            PyType::Dict => "dict",
            PyType::None => "NoneType",
        })
    }
}

/// The numeric value of a bool or number, as Python compares them.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Python's `a == b` for JSON-decoded values.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Python's `value in list`.
pub(crate) fn py_in(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|x| py_eq(value, x))
}

/// BFCL's `standardize_string`: drops spaces and `,./-_*^`, lowercases,
/// and turns `'` into `"`.
pub(crate) fn standardize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .flat_map(char::to_lowercase)
        .map(|c| if c == '\'' { '"' } else { c })
        .collect()
}

/// A value with its strings standardised when it is a string (BFCL only
/// standardises the top level, never inside nested lists or dicts).
pub(crate) fn standardize_if_str(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize(s)),
        other => other.clone(),
    }
}

/// Python's `repr`-like short rendering for messages.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_equality() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(!py_eq(&json!("1"), &json!(1)));
        assert!(!py_eq(&json!(""), &json!(0)));
        assert!(py_eq(&json!([1, {"a": 2.0}]), &json!([1.0, {"a": 2}])));
        assert!(!py_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!py_eq(&json!([1]), &json!([1, 2])));
    }

    #[test]
    fn standardisation_matches_bfcl() {
        assert_eq!(standardize("April 1, 2024"), "april12024");
        assert_eq!(standardize("New_York/NY-*^."), "newyorkny");
        assert_eq!(standardize("it's"), "it\"s");
        assert_eq!(standardize("Tab\there"), "tab\there");
    }

    #[test]
    fn python_types() {
        assert_eq!(PyType::of(&json!(1)), PyType::Int);
        assert_eq!(PyType::of(&json!(1.0)), PyType::Float);
        assert_eq!(PyType::of(&json!(true)), PyType::Bool);
        assert_eq!(PyType::from_schema("any"), Some(PyType::Str));
        assert_eq!(PyType::from_schema("tuple"), Some(PyType::List));
        assert_eq!(PyType::from_schema("complex"), None);
    }
}
