//! Helpers shared by the checker tests.

use std::collections::BTreeMap;

use hamlet_eval::{Answer, Call, ExpectedCall, FunctionDoc, Verdict};
use serde_json::{Map, Value};

pub fn doc(name: &str, params: Value) -> FunctionDoc {
    FunctionDoc {
        name: name.into(),
        description: String::new(),
        parameters: params,
    }
}

pub fn expected(name: &str, args: Value) -> ExpectedCall {
    let args: BTreeMap<String, Vec<Value>> = serde_json::from_value(args).expect("test args");
    ExpectedCall {
        name: name.into(),
        args,
    }
}

pub fn answer(calls: Vec<ExpectedCall>) -> Answer {
    Answer {
        id: "t".into(),
        ground_truth: calls,
    }
}

pub fn call(name: &str, args: Value) -> Call {
    let args: Map<String, Value> = serde_json::from_value(args).expect("test args");
    Call::new(name, args)
}

pub fn fails_with(v: Verdict, needle: &str) {
    assert!(!v.valid, "expected failure with {needle:?}");
    let reason = v.reason.unwrap_or_default();
    assert!(
        reason.contains(needle),
        "reason {reason:?} lacks {needle:?}"
    );
}
