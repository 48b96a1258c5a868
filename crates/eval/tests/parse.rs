//! The reply parser: JSON and Python-call syntax, fences, prose, errors.

use hamlet_eval::{parse_calls, render_python, Call};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn call(name: &str, args: Value) -> Call {
    let args: Map<String, Value> = serde_json::from_value(args).expect("test args");
    Call::new(name, args)
}

fn parsed(text: &str) -> Vec<Call> {
    match parse_calls(text) {
        Ok(c) => c,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

#[test]
fn python_syntax() {
    let text = r#"[func1(a=1, b="x"), mod.func2(c=[1, 2], d={"k": 3.5}, e=True, f=None)]"#;
    assert_eq!(
        parsed(text),
        vec![
            call("func1", json!({"a": 1, "b": "x"})),
            call(
                "mod.func2",
                json!({"c": [1, 2], "d": {"k": 3.5}, "e": true, "f": null})
            ),
        ]
    );
    // Without brackets, one or several.
    assert_eq!(
        parsed("f(x=-2.5e3)"),
        vec![call("f", json!({"x": -2500.0}))]
    );
    assert_eq!(
        parsed("f(x=1), g(y='a')"),
        vec![call("f", json!({"x": 1})), call("g", json!({"y": "a"}))]
    );
    // Tuples become lists; escapes; single quotes; trailing commas.
    assert_eq!(
        parsed(r#"[f(t=(1, 2.0), s='it\'s', u="a\"b\n", v=[],)]"#),
        vec![call(
            "f",
            json!({"t": [1, 2.0], "s": "it's", "u": "a\"b\n", "v": []})
        )]
    );
    assert_eq!(
        parsed("[a.b.c(x=False, y=-3, z=.5)]"),
        vec![call("a.b.c", json!({"x": false, "y": -3, "z": 0.5}))]
    );
    assert_eq!(parsed("[]"), vec![]);
    assert_eq!(parsed("  [ ]  "), vec![]);
    assert_eq!(parsed("f()"), vec![call("f", json!({}))]);
    assert_eq!(
        parsed("f(año_vehiculo=2020)"),
        vec![call("f", json!({"año_vehiculo": 2020}))]
    );
}

#[test]
fn ints_and_floats_keep_their_types() {
    let c = parsed("f(a=3, b=3.0, c=-0, d=1e2)");
    assert!(c[0].args["a"].is_i64());
    assert!(c[0].args["b"].is_f64());
    assert!(c[0].args["c"].is_i64());
    assert!(c[0].args["d"].is_f64());
}

#[test]
fn json_shapes() {
    let want = vec![call("math.factorial", json!({"number": 5}))];
    assert_eq!(
        parsed(r#"{"calls": [{"name": "math.factorial", "arguments": {"number": 5}}]}"#),
        want
    );
    assert_eq!(
        parsed(r#"[{"name": "math.factorial", "arguments": {"number": 5}}]"#),
        want
    );
    assert_eq!(
        parsed(r#"{"name": "math.factorial", "arguments": {"number": 5}}"#),
        want
    );
    assert_eq!(
        parsed(r#"{"name": "math.factorial", "arguments": "{\"number\": 5}"}"#),
        want
    );
    assert_eq!(parsed(r#"[{"math.factorial": {"number": 5}}]"#), want);
    assert_eq!(parsed(r#"{"calls": []}"#), vec![]);
    assert_eq!(parsed(r#"{"no_call": "no function fits"}"#), vec![]);
    assert_eq!(
        parsed(r#"{"thought": "none fits", "no_call": "no function fits"}"#),
        vec![]
    );
    assert_eq!(
        parsed(r#"{"thought": "one call", "calls": [{"name": "f", "arguments": {}}]}"#),
        vec![call("f", json!({}))]
    );
    assert_eq!(
        parsed(r#"{"calls": [{"name": "f", "arguments": {"a": true, "b": null, "c": [1.5]}}]}"#),
        vec![call("f", json!({"a": true, "b": null, "c": [1.5]}))]
    );
}

#[test]
fn fences_and_prose() {
    let want = vec![call("f", json!({"x": 1}))];
    assert_eq!(parsed("```python\n[f(x=1)]\n```"), want);
    assert_eq!(parsed("```\nf(x=1)\n```"), want);
    assert_eq!(parsed("Sure! Here you go:\n```json\n{\"calls\": [{\"name\": \"f\", \"arguments\": {\"x\": 1}}]}\n```\nDone."), want);
    assert_eq!(parsed("I will call [f(x=1)] for you."), want);
    assert_eq!(parsed("The right call (I think) is f(x=1)."), want);
    assert_eq!(
        parsed("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}}</tool_call>"),
        want
    );
}

#[test]
fn errors_say_what_and_where() {
    let e = parse_calls("[f(x=1, y=)]").expect_err("must fail");
    assert_eq!(e.offset, 10, "{e}");
    assert!(e.expected.contains("a value"), "{e}");
    let e = parse_calls("f(x=\"abc").expect_err("must fail");
    assert!(e.expected.contains("closing"), "{e}");
    let e = parse_calls("f(1)").expect_err("positional arguments are refused");
    assert_eq!(e.offset, 2, "{e}");
    assert!(e.to_string().contains("at byte 2"), "{e}");
    let e = parse_calls("There is no function for this.").expect_err("prose only");
    assert!(!e.expected.is_empty());
    assert!(parse_calls("").is_err());
    assert!(parse_calls("f(x=1, x=2)").is_err());
    assert!(parse_calls(&"[".repeat(10_000)).is_err());
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn call_strategy() -> impl Strategy<Value = Call> {
    let name = "[a-zA-Z_][a-zA-Z0-9_]{0,8}(\\.[a-zA-Z_][a-zA-Z0-9_]{0,8}){0,2}";
    let args = prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", value_strategy(), 0..5);
    (name, args).prop_map(|(n, a)| Call::new(n, a.into_iter().collect()))
}

proptest! {
    #[test]
    fn python_rendering_round_trips(calls in prop::collection::vec(call_strategy(), 0..4)) {
        let text = render_python(&calls);
        let back = parse_calls(&text);
        prop_assert_eq!(back.as_ref(), Ok(&calls), "{}", text);
        if let Some(first) = calls.first() {
            prop_assert_eq!(parse_calls(&first.to_python()), Ok(vec![first.clone()]));
        }
    }
}
