//! Hand-made cases for the call-count rules: simple, multiple, parallel
//! (order-free, with a full matching), irrelevance and relevance.

mod common;

use common::{answer, call, doc, expected, fails_with};
use hamlet_eval::{check, Answer, Category, FunctionDoc, Verdict};
use serde_json::json;

fn rich() -> FunctionDoc {
    doc(
        "geo.lookup",
        json!({"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

#[test]
fn call_counts_for_simple_and_multiple() {
    let ans = answer(vec![expected("geo.lookup", json!({"city": ["NYC"]}))]);
    let ok = call("geo.lookup", json!({"city": "NYC"}));
    let v = check(
        Category::SimplePython,
        &[rich()],
        Some(&ans),
        &[ok.clone(), ok.clone()],
    );
    fails_with(v, "wrong number of calls: expected 1, got 2");
    fails_with(
        check(Category::LiveSimple, &[rich()], Some(&ans), &[]),
        "wrong number of calls",
    );
    // multiple: the expected function is looked up by name among several.
    let other = doc(
        "other",
        json!({"type": "dict", "properties": {}, "required": []}),
    );
    let fns = [other, rich()];
    assert!(
        check(
            Category::Multiple,
            &fns,
            Some(&ans),
            std::slice::from_ref(&ok)
        )
        .valid
    );
    let wrong = call("other", json!({}));
    fails_with(
        check(Category::LiveMultiple, &fns, Some(&ans), &[wrong]),
        "wrong function name",
    );
    fails_with(
        check(Category::Multiple, &fns, None, &[ok]),
        "no possible answer",
    );
}

fn parallel_setup() -> (Vec<FunctionDoc>, Answer) {
    let f = doc(
        "f",
        json!({"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]}),
    );
    let g = doc(
        "g",
        json!({"type": "dict", "properties": {"s": {"type": "string"}}, "required": []}),
    );
    // Expected call 0 accepts x=1 or x=2; expected call 1 only x=1. A greedy
    // pass gives call x=1 to expected 0 and then finds nothing for 1.
    let ans = answer(vec![
        expected("f", json!({"x": [1, 2]})),
        expected("f", json!({"x": [1]})),
        expected("g", json!({"s": ["", "hi"]})),
    ]);
    (vec![f, g], ans)
}

#[test]
fn parallel_is_order_free_with_full_matching() {
    let (fns, ans) = parallel_setup();
    let calls = [
        call("g", json!({})),
        call("f", json!({"x": 1})),
        call("f", json!({"x": 2})),
    ];
    for cat in [
        Category::Parallel,
        Category::ParallelMultiple,
        Category::LiveParallel,
        Category::LiveParallelMultiple,
    ] {
        assert_eq!(
            check(cat, &fns, Some(&ans), &calls),
            Verdict::pass(),
            "{cat}"
        );
    }
    let mut reversed = calls.clone();
    reversed.reverse();
    assert!(check(Category::Parallel, &fns, Some(&ans), &reversed).valid);
}

#[test]
fn parallel_failures() {
    let (fns, ans) = parallel_setup();
    let twice_two = [
        call("f", json!({"x": 2})),
        call("f", json!({"x": 2})),
        call("g", json!({"s": "hi"})),
    ];
    fails_with(
        check(Category::Parallel, &fns, Some(&ans), &twice_two),
        "no matching call for parallel: expected call 1",
    );
    let short = [call("f", json!({"x": 1})), call("f", json!({"x": 2}))];
    fails_with(
        check(Category::Parallel, &fns, Some(&ans), &short),
        "wrong number of calls: expected 3, got 2",
    );
}

#[test]
fn irrelevance_and_relevance() {
    let c = [call("anything", json!({"a": 1}))];
    for cat in [Category::Irrelevance, Category::LiveIrrelevance] {
        assert!(check(cat, &[], None, &[]).valid);
        fails_with(check(cat, &[], None, &c), "irrelevance: made a call");
    }
    // Relevance does not look at the arguments, nor at the name.
    assert!(check(Category::LiveRelevance, &[], None, &c).valid);
    fails_with(
        check(Category::LiveRelevance, &[], None, &[]),
        "relevance: made no call",
    );
}
