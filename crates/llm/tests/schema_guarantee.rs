//! The schema guarantee on the real model: sampled with 50 seeds, every reply to every schema
//! parses as JSON and validates.

mod common;

use hamlet_core::{GenerateRequest, Llm, Message, Sampling};
use serde_json::{json, Value};

fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Pick a tool to read the file notes.txt.",
            json!({
                "type": "object",
                "properties": {
                    "tool": {"enum": ["read_file", "write_file", "finish"]},
                    "args": {
                        "type": "object",
                        "properties": {"path": {"type": "string", "maxLength": 30}},
                        "required": ["path"],
                        "additionalProperties": false
                    }
                },
                "required": ["tool", "args"],
                "additionalProperties": false
            }),
        ),
        (
            "Describe a person living in a small town.",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 24},
                    "age": {"type": "integer", "minimum": 0, "maximum": 120},
                    "home": {
                        "type": "object",
                        "properties": {"street": {"type": "string", "maxLength": 30}, "number": {"type": "integer"}},
                        "required": ["street"]
                    },
                    "traits": {"type": "array", "items": {"type": "string", "maxLength": 16}, "minItems": 1, "maxItems": 3}
                },
                "required": ["name", "age", "home", "traits"]
            }),
        ),
        (
            "Rate how important this memory is: 'I ate breakfast.'",
            json!({
                "type": "object",
                "properties": {
                    "importance": {"type": "integer", "minimum": 1, "maximum": 10},
                    "kind": {"enum": ["event", "thought", "chat"]},
                    "urgent": {"type": "boolean"}
                },
                "required": ["importance", "kind", "urgent"]
            }),
        ),
        (
            "List up to four numbers and a label.",
            json!({
                "type": "object",
                "properties": {
                    "values": {"type": "array", "items": {"type": "number"}, "maxItems": 4},
                    "label": {"type": ["string", "null"], "maxLength": 20}
                },
                "required": ["values", "label"]
            }),
        ),
    ]
}

#[test]
fn every_seed_gives_valid_json_for_every_schema() {
    let llm = common::llm(8);
    let mut checked = 0;
    for (task, schema) in schemas() {
        let validator = jsonschema::validator_for(&schema).unwrap();
        let reqs: Vec<GenerateRequest> = (0..50)
            .map(|seed| {
                GenerateRequest::chat(vec![Message::user(format!("{task} Answer in JSON."))])
                    .with_schema(schema.clone())
                    .with_max_tokens(200)
                    .with_sampling(Sampling {
                        temperature: 0.9,
                        seed,
                        ..Default::default()
                    })
            })
            .collect();
        for (seed, r) in llm.generate_batch(&reqs).into_iter().enumerate() {
            let c = r.unwrap_or_else(|e| panic!("schema for {task:?}, seed {seed}: {e}"));
            let parsed: Value = serde_json::from_str(&c.text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}: {}", c.text));
            assert!(
                validator.is_valid(&parsed),
                "seed {seed}: {} does not validate",
                c.text
            );
            assert_eq!(c.json.as_ref(), Some(&parsed));
            checked += 1;
        }
    }
    assert_eq!(checked, 200);
}

#[test]
fn a_reply_cut_off_by_max_tokens_is_reported_not_passed_on() {
    let llm = common::llm(1);
    let (_, schema) = &schemas()[1];
    let req = GenerateRequest::chat(vec![Message::user("Describe a person.")])
        .with_schema(schema.clone())
        .with_max_tokens(4);
    let err = llm.generate(&req).unwrap_err().to_string();
    assert!(err.contains("cut off"), "{err}");
}
