//! BFCL's value rules for one argument: the type check (with its
//! "variable" escape hatch and one level of element checks for lists) and
//! the comparison against the allowed values (strings standardised, lists
//! element-wise, dicts key by key, lists of dicts position by position).

use serde_json::{Map, Value};

use crate::pyvalue::{py_eq, py_in, show, standardize, standardize_if_str, PyType};

/// The outcome of BFCL's `type_checker`.
pub(crate) enum TypeCheck {
    /// The type is acceptable; `is_variable` when the allowed values are of
    /// another type than the schema's (BFCL then compares values exactly).
    Ok { is_variable: bool },
    /// The type is wrong; the message lacks the parameter name.
    Wrong(String),
}

/// The type of the first allowed value that is not `""` (the omission mark).
fn allowed_type(allowed: &[Value]) -> Option<PyType> {
    allowed
        .iter()
        .find(|v| v.as_str() != Some(""))
        .map(PyType::of)
}

/// BFCL's `type_checker` for `value` against the schema type `expected`
/// (with element type `nested` for lists) and the `allowed` values.
pub(crate) fn type_check(
    value: &Value,
    allowed: &[Value],
    expected: PyType,
    nested: Option<PyType>,
) -> TypeCheck {
    let allowed_ty = allowed_type(allowed);
    let is_variable = allowed_ty.is_some_and(|t| t != expected);
    let actual = PyType::of(value);
    if actual == expected {
        let Some(nested) = nested else {
            return TypeCheck::Ok { is_variable };
        };
        let items = value.as_array().map(Vec::as_slice).unwrap_or(&[]);
        // Each element must fit the element type, judged against some
        // allowed list (an allowed value that is not a list passes, as in
        // BFCL).
        let fits_some = allowed.iter().any(|candidate| match candidate {
            Value::Array(candidate) => items.iter().all(|item| {
                matches!(
                    type_check(item, candidate, nested, None),
                    TypeCheck::Ok { .. }
                )
            }),
            _ => true,
        });
        if fits_some {
            return TypeCheck::Ok { is_variable };
        }
        return TypeCheck::Wrong(format!(
            "wrong type: expected {expected} of {nested}, got {}",
            show(value)
        ));
    }
    if allowed_ty == Some(actual) {
        return TypeCheck::Ok { is_variable: true };
    }
    TypeCheck::Wrong(format!(
        "wrong type: expected {expected}, got {actual} ({})",
        show(value)
    ))
}

fn not_allowed(param: &str, value: &Value, allowed: &[Value]) -> String {
    format!(
        "value not among allowed values for parameter {param:?}: got {}, allowed {}",
        show(value),
        show(&Value::Array(allowed.to_vec()))
    )
}

/// Compares a type-checked `value` with the `allowed` values, dispatching
/// like BFCL's `simple_function_checker`.
pub(crate) fn check_value(
    param: &str,
    value: &Value,
    allowed: &[Value],
    expected: PyType,
    nested: Option<PyType>,
    is_variable: bool,
) -> Result<(), String> {
    let ok = if is_variable {
        py_in(value, allowed)
    } else {
        match (expected, nested, value) {
            (PyType::Dict, _, Value::Object(map)) => {
                return dict_check(map, allowed).map_err(|e| format!("{e} in parameter {param:?}"))
            }
            (PyType::List, Some(PyType::Dict), Value::Array(items)) => {
                return list_dict_check(items, allowed)
                    .map_err(|e| format!("{e} in parameter {param:?}"))
            }
            (PyType::Str, _, Value::String(s)) => {
                let s = standardize(s);
                allowed
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| standardize(a) == s))
            }
            (PyType::List, _, Value::Array(items)) => {
                let mine: Vec<Value> = items.iter().map(standardize_if_str).collect();
                allowed
                    .iter()
                    .filter_map(standardized_list)
                    .any(|a| py_eq(&Value::Array(mine.clone()), &Value::Array(a)))
            }
            _ => py_in(value, allowed),
        }
    };
    if ok {
        Ok(())
    } else {
        Err(not_allowed(param, value, allowed))
    }
}

/// An allowed value of a list parameter as BFCL's `list_checker` sees it:
/// a list with its string elements standardised. BFCL indexes the allowed
/// value, so `""` acts as the empty list and a string as its characters.
fn standardized_list(allowed: &Value) -> Option<Vec<Value>> {
    match allowed {
        Value::Array(items) => Some(items.iter().map(standardize_if_str).collect()),
        Value::String(s) => Some(
            s.chars()
                .map(|c| Value::String(standardize(&c.to_string())))
                .collect(),
        ),
        _ => None,
    }
}

/// BFCL's `dict_checker`: the dict must match one allowed dict: no keys
/// beyond its keys, each value among its allowed values (strings
/// standardised at the top level), and every key present unless `""` is
/// allowed for it.
fn dict_check(value: &Map<String, Value>, allowed: &[Value]) -> Result<(), String> {
    let mut last = "no allowed dict to compare with".to_string();
    for candidate in allowed {
        if candidate.as_str() == Some("") {
            continue;
        }
        let Value::Object(candidate) = candidate else {
            last = format!("allowed value {} is not a dict", show(candidate));
            continue;
        };
        match dict_matches(value, candidate) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn dict_matches(value: &Map<String, Value>, allowed: &Map<String, Value>) -> Result<(), String> {
    for (key, v) in value {
        let Some(options) = allowed.get(key) else {
            return Err(format!("unexpected dict key {key:?}"));
        };
        let options: Vec<Value> = match options {
            Value::Array(o) => o.iter().map(standardize_if_str).collect(),
            other => vec![standardize_if_str(other)],
        };
        if !py_in(&standardize_if_str(v), &options) {
            return Err(format!(
                "value not among allowed values for dict key {key:?}: got {}, allowed {}",
                show(v),
                show(&Value::Array(options))
            ));
        }
    }
    for (key, options) in allowed {
        let omittable = options
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x.as_str() == Some("")));
        if !value.contains_key(key) && !omittable {
            return Err(format!("missing dict key {key:?}"));
        }
    }
    Ok(())
}

/// BFCL's `list_dict_checker`: the list must match one allowed list of
/// dicts position by position (`""` acts as the empty list).
fn list_dict_check(items: &[Value], allowed: &[Value]) -> Result<(), String> {
    let mut last = "no allowed list of dicts to compare with".to_string();
    let mut seen_list = false;
    for candidate in allowed {
        let candidate: &[Value] = match candidate {
            Value::Array(c) => {
                seen_list = true;
                c
            }
            Value::String(s) if s.is_empty() => {
                // `""` matches the empty list; keep a real list's error.
                if items.is_empty() {
                    return Ok(());
                }
                if !seen_list {
                    last = "wrong number of dicts in the list: expected none".to_string();
                }
                continue;
            }
            other => {
                last = format!("allowed value {} is not a list of dicts", show(other));
                continue;
            }
        };
        if candidate.len() != items.len() {
            last = format!(
                "wrong number of dicts in the list: expected {}, got {}",
                candidate.len(),
                items.len()
            );
            continue;
        }
        let all = items.iter().zip(candidate).try_for_each(|(item, want)| {
            let Value::Object(item) = item else {
                return Err(format!("list element {} is not a dict", show(item)));
            };
            dict_check(item, std::slice::from_ref(want))
        });
        match all {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}
