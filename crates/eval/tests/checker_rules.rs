//! Hand-made cases for each rule of the checker.

mod common;

use common::{answer, call, doc, expected, fails_with};
use hamlet_eval::{check, Answer, Category, FunctionDoc, Verdict};
use serde_json::{json, Value};

/// A function with one parameter of every kind.
fn rich() -> FunctionDoc {
    doc(
        "geo.lookup",
        json!({"type": "dict", "properties": {
            "city": {"type": "string"},
            "count": {"type": "integer"},
            "radius": {"type": "float"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "points": {"type": "array", "items": {"type": "float"}},
            "pair": {"type": "tuple", "items": {"type": "integer"}},
            "opts": {"type": "dict", "properties": {"a": {"type": "string"}}},
            "rows": {"type": "array", "items": {"type": "dict"}},
            "extra": {"type": "any"}
        }, "required": ["city"]}),
    )
}

fn rich_answer() -> Answer {
    answer(vec![expected(
        "geo.lookup",
        json!({
            "city": ["New York, NY", "NYC"],
            "count": [3, ""],
            "radius": [2.5, ""],
            "exact": [true, ""],
            "tags": [["Red Fox", "b"], ""],
            "points": [[1.5, 2.0], ""],
            "pair": [[1, 2], ""],
            "opts": [{"a": ["Hello World"], "b": ["", 1]}, ""],
            "rows": [[{"k": ["x"]}, {"k": ["y"]}], ""],
            "extra": ["anything", ""]
        }),
    )])
}

fn simple(args: Value) -> Verdict {
    check(
        Category::SimplePython,
        &[rich()],
        Some(&rich_answer()),
        &[call("geo.lookup", args)],
    )
}

#[test]
fn minimal_and_full_calls_pass() {
    assert_eq!(simple(json!({"city": "NYC"})), Verdict::pass());
    let full = json!({
        "city": "new york ny", "count": 3, "radius": 2.5, "exact": true,
        "tags": ["red-fox", "B"], "points": [1.5, 2.0], "pair": [1, 2],
        "opts": {"a": "hello, world"}, "rows": [{"k": "X"}, {"k": "y"}], "extra": "Anything"
    });
    assert_eq!(simple(full), Verdict::pass());
}

#[test]
fn function_name_dotted_or_underscored() {
    let ans = rich_answer();
    for name in ["geo.lookup", "geo_lookup"] {
        let v = check(
            Category::SimplePython,
            &[rich()],
            Some(&ans),
            &[call(name, json!({"city": "NYC"}))],
        );
        assert!(v.valid, "{name}: {v:?}");
    }
    let v = check(
        Category::SimplePython,
        &[rich()],
        Some(&ans),
        &[call("geo.lookups", json!({"city": "NYC"}))],
    );
    fails_with(v, "wrong function name");
}

#[test]
fn required_unexpected_and_optional() {
    fails_with(
        simple(json!({"count": 3})),
        "missing required parameter \"city\"",
    );
    fails_with(
        simple(json!({"city": "NYC", "zzz": 1})),
        "unexpected parameter \"zzz\"",
    );
    // In the schema but not in the answer: unexpected too.
    let d = doc(
        "f",
        json!({"type": "dict", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": []}),
    );
    let a = answer(vec![expected("f", json!({"a": [1]}))]);
    let v = check(
        Category::SimplePython,
        std::slice::from_ref(&d),
        Some(&a),
        &[call("f", json!({"a": 1, "b": 2}))],
    );
    fails_with(v, "unexpected parameter \"b\"");
    // In the answer without "": must be given even when not required.
    let v = check(
        Category::SimplePython,
        &[d],
        Some(&a),
        &[call("f", json!({}))],
    );
    fails_with(v, "not optional");
}

#[test]
fn scalar_types() {
    // int is fine for float, but not float for int, nor bool for int.
    assert!(simple(json!({"city": "NYC", "radius": 2.5})).valid);
    let d = doc(
        "f",
        json!({"type": "dict", "properties": {"x": {"type": "float"}}, "required": ["x"]}),
    );
    let a = answer(vec![expected("f", json!({"x": [3.0]}))]);
    let v = check(
        Category::SimplePython,
        &[d],
        Some(&a),
        &[call("f", json!({"x": 3}))],
    );
    assert!(v.valid, "{v:?}");
    for (args, want) in [
        (
            json!({"city": "NYC", "count": 3.0}),
            "wrong type: expected int, got float",
        ),
        (
            json!({"city": "NYC", "count": true}),
            "expected int, got bool",
        ),
        (json!({"city": "NYC", "exact": 1}), "expected bool, got int"),
        (
            json!({"city": "NYC", "count": "3"}),
            "expected int, got str",
        ),
        (json!({"city": 5}), "expected str, got int"),
        // "any" is checked as a string, as BFCL does for Python.
        (json!({"city": "NYC", "extra": 5}), "expected str, got int"),
    ] {
        fails_with(simple(args), want);
    }
}

#[test]
fn values_and_string_standardisation() {
    for (args, want) in [
        (
            json!({"city": "Boston"}),
            "value not among allowed values for parameter \"city\"",
        ),
        (
            json!({"city": "NYC", "count": 4}),
            "value not among allowed",
        ),
        (
            json!({"city": "NYC", "exact": false}),
            "value not among allowed",
        ),
    ] {
        fails_with(simple(args), want);
    }
    assert!(simple(json!({"city": "n_y_c"})).valid);
    assert!(simple(json!({"city": "N.Y.C."})).valid);
}

#[test]
fn nested_lists() {
    let d = doc(
        "f",
        json!({"type": "dict", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "dict"}}
    }, "required": []}),
    );
    let a = answer(vec![expected(
        "f",
        json!({"tags": [["a", "b"]], "rows": [[{"k": ["x"]}]]}),
    )]);
    let run = |args: Value| {
        check(
            Category::SimplePython,
            std::slice::from_ref(&d),
            Some(&a),
            &[call("f", args)],
        )
    };
    assert!(run(json!({"tags": ["A", "b"], "rows": [{"k": "x"}]})).valid);
    fails_with(
        run(json!({"tags": ["a", 2], "rows": [{"k": "x"}]})),
        "expected list of str",
    );
    fails_with(
        run(json!({"tags": ["a", "b"], "rows": ["k"]})),
        "expected list of dict",
    );
    // With "" among the allowed values BFCL skips the element type check,
    // and the value check still refuses.
    fails_with(
        simple(json!({"city": "NYC", "tags": ["Red Fox", 2]})),
        "value not among allowed",
    );
    fails_with(
        simple(json!({"city": "NYC", "tags": ["Red Fox"]})),
        "value not among allowed",
    );
    fails_with(
        simple(json!({"city": "NYC", "tags": ["b", "Red Fox"]})),
        "value not among allowed",
    );
    // BFCL does not turn ints into floats inside lists.
    let d = doc(
        "p",
        json!({"type": "dict", "properties": {"v": {"type": "array", "items": {"type": "float"}}}, "required": ["v"]}),
    );
    let a = answer(vec![expected("p", json!({"v": [[1.5, 2.0]]}))]);
    let v = check(
        Category::SimplePython,
        &[d],
        Some(&a),
        &[call("p", json!({"v": [1.5, 2]}))],
    );
    fails_with(v, "expected list of float");
    assert!(simple(json!({"city": "NYC", "points": [1.5, 2.0]})).valid);
    fails_with(
        simple(json!({"city": "NYC", "pair": [1, 2, 3]})),
        "value not among allowed",
    );
    fails_with(
        simple(json!({"city": "NYC", "pair": "1,2"})),
        "expected list, got str",
    );
}

#[test]
fn dicts_and_lists_of_dicts() {
    assert!(simple(json!({"city": "NYC", "opts": {"a": "Hello World", "b": 1}})).valid);
    fails_with(
        simple(json!({"city": "NYC", "opts": {"a": "Hello"}})),
        "dict key \"a\"",
    );
    fails_with(
        simple(json!({"city": "NYC", "opts": {"a": "Hello World", "c": 1}})),
        "unexpected dict key \"c\"",
    );
    fails_with(
        simple(json!({"city": "NYC", "opts": {}})),
        "missing dict key \"a\"",
    );
    fails_with(
        simple(json!({"city": "NYC", "opts": ["a"]})),
        "expected dict, got list",
    );
    fails_with(
        simple(json!({"city": "NYC", "rows": [{"k": "y"}, {"k": "x"}]})),
        "dict key \"k\"",
    );
    fails_with(
        simple(json!({"city": "NYC", "rows": [{"k": "x"}]})),
        "wrong number of dicts",
    );
    fails_with(
        simple(json!({"city": "NYC", "rows": [{"k": "x"}, 3]})),
        "is not a dict",
    );
    assert!(
        simple(json!({"city": "NYC", "rows": []})).valid,
        "\"\" allows the empty list"
    );
}

#[test]
fn variable_style_answers_compare_exactly() {
    // The answer is a string for an integer parameter (a variable name):
    // a string is then accepted, and compared without standardisation.
    let d = doc(
        "f",
        json!({"type": "dict", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
    );
    let a = answer(vec![expected("f", json!({"n": ["count"]}))]);
    let run = |v: Value| {
        check(
            Category::SimplePython,
            std::slice::from_ref(&d),
            Some(&a),
            &[call("f", json!({"n": v}))],
        )
    };
    assert!(run(json!("count")).valid);
    fails_with(run(json!("Count")), "value not among allowed");
    fails_with(run(json!(3)), "value not among allowed");
    fails_with(run(json!(3.5)), "expected int, got float");
}
