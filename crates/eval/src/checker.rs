//! Judging calls by BFCL's AST-checker rules (Python).
//!
//! * simple categories: exactly one call, checked against the one expected;
//! * multiple: exactly one call, of the expected function;
//! * parallel: as many calls as expected, matched one-to-one in any order
//!   (a full bipartite matching, so no valid pairing is missed);
//! * irrelevance: valid iff no call; live_relevance: valid iff any call.
//!
//! One call is checked like BFCL's `simple_function_checker`: the name (a
//! dotted name may also come with `_` for `.`), required parameters,
//! unexpected parameters, the Python type of each value, then the value
//! against the allowed ones (strings standardised, `""` meaning "may be
//! omitted"). See [`crate::values`] for the value rules.

use serde_json::Value;

use crate::data::{Answer, Category, ExpectedCall, FunctionDoc};
use crate::parse::Call;
use crate::pyvalue::{show, PyType};
use crate::values::{check_value, type_check, TypeCheck};

/// The outcome of checking one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the calls are acceptable.
    pub valid: bool,
    /// Why not, naming the rule that failed; `None` when valid.
    pub reason: Option<String>,
}

impl Verdict {
    /// A passing verdict.
    pub fn pass() -> Self {
        Verdict {
            valid: true,
            reason: None,
        }
    }

    /// A failing verdict with its reason.
    pub fn fail(reason: impl Into<String>) -> Self {
        Verdict {
            valid: false,
            reason: Some(reason.into()),
        }
    }
}

/// Checks `calls` for a case of `category` whose offered functions are
/// `functions`, against the possible `answer` (needed by every category
/// except irrelevance, live_irrelevance and live_relevance).
pub fn check(
    category: Category,
    functions: &[FunctionDoc],
    answer: Option<&Answer>,
    calls: &[Call],
) -> Verdict {
    match category {
        Category::Irrelevance | Category::LiveIrrelevance => {
            return if calls.is_empty() {
                Verdict::pass()
            } else {
                Verdict::fail(format!(
                    "irrelevance: made a call ({} call(s), expected none)",
                    calls.len()
                ))
            };
        }
        Category::LiveRelevance => {
            return if calls.is_empty() {
                Verdict::fail("relevance: made no call, expected at least one")
            } else {
                Verdict::pass()
            };
        }
        _ => {}
    }
    let Some(answer) = answer else {
        return Verdict::fail(format!("no possible answer given for a {category} case"));
    };
    let expected = &answer.ground_truth;
    if calls.len() != expected.len() {
        return Verdict::fail(format!(
            "wrong number of calls: expected {}, got {}",
            expected.len(),
            calls.len()
        ));
    }
    if category.is_parallel() {
        return check_parallel(functions, expected, calls);
    }
    let (Some(exp), Some(call)) = (expected.first(), calls.first()) else {
        return Verdict::fail("wrong number of calls: expected 1, got 0");
    };
    // BFCL's simple checker uses the first (only) function; the multiple
    // checker looks the expected function up by name.
    let doc = find_doc(functions, &exp.name).or(match category {
        Category::SimplePython | Category::LiveSimple => functions.first(),
        _ => None,
    });
    let Some(doc) = doc else {
        return missing_doc(&exp.name);
    };
    match check_call(doc, exp, call) {
        Ok(()) => Verdict::pass(),
        Err(reason) => Verdict::fail(reason),
    }
}

fn find_doc<'a>(functions: &'a [FunctionDoc], name: &str) -> Option<&'a FunctionDoc> {
    functions.iter().find(|f| f.name == name)
}

fn missing_doc(name: &str) -> Verdict {
    Verdict::fail(format!(
        "data error: expected function {name:?} is not among the offered functions"
    ))
}

fn check_parallel(functions: &[FunctionDoc], expected: &[ExpectedCall], calls: &[Call]) -> Verdict {
    // fits[i][j]: the reason call j does not fit expected call i, if any.
    let mut fits: Vec<Vec<Result<(), String>>> = Vec::with_capacity(expected.len());
    for exp in expected {
        let Some(doc) = find_doc(functions, &exp.name) else {
            return missing_doc(&exp.name);
        };
        fits.push(calls.iter().map(|c| check_call(doc, exp, c)).collect());
    }
    let adj: Vec<Vec<bool>> = fits
        .iter()
        .map(|row| row.iter().map(Result::is_ok).collect())
        .collect();
    match unmatched(&adj, calls.len()) {
        None => Verdict::pass(),
        Some(i) => {
            let why: Vec<String> = fits[i]
                .iter()
                .enumerate()
                .filter_map(|(j, r)| r.as_ref().err().map(|e| format!("call {j}: {e}")))
                .collect();
            let why = if why.is_empty() {
                "each fitting call is needed by another expected call".to_string()
            } else {
                why.join("; ")
            };
            Verdict::fail(format!(
                "no matching call for parallel: expected call {i} ({}) has no partner ({why})",
                expected[i].name
            ))
        }
    }
}

/// Maximum bipartite matching (Kuhn's augmenting paths) of expected calls
/// (rows of `adj`) to `n` actual calls; returns the first expected call
/// left unmatched, or `None` for a perfect matching.
fn unmatched(adj: &[Vec<bool>], n: usize) -> Option<usize> {
    fn augment(
        i: usize,
        adj: &[Vec<bool>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for j in 0..seen.len() {
            if adj[i].get(j).copied().unwrap_or(false) && !seen[j] {
                seen[j] = true;
                let free = match owner[j] {
                    None => true,
                    Some(k) => augment(k, adj, seen, owner),
                };
                if free {
                    owner[j] = Some(i);
                    return true;
                }
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; n];
    for i in 0..adj.len() {
        let mut seen = vec![false; n];
        if !augment(i, adj, &mut seen, &mut owner) {
            return Some(i);
        }
    }
    None
}

/// Checks one call against one expected call of function `doc`, like BFCL's
/// `simple_function_checker`.
pub(crate) fn check_call(doc: &FunctionDoc, exp: &ExpectedCall, call: &Call) -> Result<(), String> {
    let underscored = doc.name.replace('.', "_");
    if call.name != doc.name && call.name != underscored {
        return Err(format!(
            "wrong function name: expected {:?}, got {:?}",
            doc.name, call.name
        ));
    }
    let props = doc.parameters.get("properties").and_then(Value::as_object);
    let required = doc.parameters.get("required").and_then(Value::as_array);
    for param in required.into_iter().flatten().filter_map(Value::as_str) {
        if !call.args.contains_key(param) {
            return Err(format!("missing required parameter {param:?}"));
        }
    }
    for (param, value) in &call.args {
        let (Some(details), Some(allowed)) =
            (props.and_then(|p| p.get(param)), exp.args.get(param))
        else {
            return Err(format!("unexpected parameter {param:?}"));
        };
        let type_name = details.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(expected_type) = PyType::from_schema(type_name) else {
            return Err(format!(
                "data error: parameter {param:?} has unknown type {type_name:?}"
            ));
        };
        let nested_type = match expected_type {
            PyType::List => details
                .get("items")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str)
                .and_then(PyType::from_schema),
            _ => None,
        };
        // Python lets an int stand for a float.
        let value = match (expected_type, value) {
            (PyType::Float, Value::Number(n)) if !n.is_f64() => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| value.clone(), Value::Number),
            _ => value.clone(),
        };
        let is_variable = match type_check(&value, allowed, expected_type, nested_type) {
            TypeCheck::Ok { is_variable } => is_variable,
            TypeCheck::Wrong(e) => return Err(format!("{e} for parameter {param:?}")),
        };
        check_value(
            param,
            &value,
            allowed,
            expected_type,
            nested_type,
            is_variable,
        )?;
    }
    for (param, allowed) in &exp.args {
        let omittable = allowed.iter().any(|v| v.as_str() == Some(""));
        if !call.args.contains_key(param) && !omittable {
            return Err(format!(
                "missing parameter {param:?}: not provided and not optional (allowed: {})",
                show(&Value::Array(allowed.clone()))
            ));
        }
    }
    Ok(())
}

impl Answer {
    /// The ground truth as concrete calls, one per expected call: each
    /// argument takes its first allowed value other than `""`, and is left
    /// out when it may be omitted and either its first allowed value is
    /// `""` (and the function does not require it) or the function's doc
    /// does not list it.
    pub fn reference_calls(&self, functions: &[FunctionDoc]) -> Vec<Call> {
        self.ground_truth
            .iter()
            .map(|exp| {
                let doc = functions.iter().find(|f| f.name == exp.name);
                let props = doc.and_then(|d| d.parameters.get("properties"));
                let required = doc
                    .and_then(|d| d.parameters.get("required"))
                    .and_then(Value::as_array);
                let mut args = serde_json::Map::new();
                for (name, allowed) in &exp.args {
                    let is_blank = |v: &Value| v.as_str() == Some("");
                    let omittable = allowed.iter().any(is_blank);
                    let is_required =
                        required.is_some_and(|r| r.iter().any(|x| x.as_str() == Some(name)));
                    let documented = props.is_some_and(|p| p.get(name).is_some());
                    let first_blank = allowed.first().is_some_and(is_blank);
                    if omittable && ((first_blank && !is_required) || !documented) {
                        continue;
                    }
                    if let Some(v) = allowed.iter().find(|v| !is_blank(v)) {
                        let ty = props
                            .and_then(|p| p.get(name))
                            .and_then(|p| p.get("type"))
                            .and_then(Value::as_str);
                        args.insert(name.clone(), concrete_value(ty, v));
                    }
                }
                Call::new(exp.name.clone(), args)
            })
            .collect()
    }
}

/// BFCL writes an allowed dict as `{key: [allowed values]}` (and an
/// allowed list of dicts as a list of those); picks a concrete value the
/// same way as for arguments.
fn concrete_value(schema_type: Option<&str>, allowed: &Value) -> Value {
    let concrete_dict = |m: &serde_json::Map<String, Value>| {
        let mut out = serde_json::Map::new();
        for (k, options) in m {
            let Value::Array(options) = options else {
                out.insert(k.clone(), options.clone());
                continue;
            };
            if options.first().is_some_and(|v| v.as_str() == Some("")) {
                continue;
            }
            if let Some(v) = options.iter().find(|v| v.as_str() != Some("")) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    };
    match (schema_type, allowed) {
        (Some("dict"), Value::Object(m)) => concrete_dict(m),
        (Some("array"), Value::Array(items)) if items.iter().all(Value::is_object) => Value::Array(
            items
                .iter()
                .map(|i| i.as_object().map_or_else(|| i.clone(), concrete_dict))
                .collect(),
        ),
        _ => allowed.clone(),
    }
}
