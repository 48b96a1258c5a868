//! The shape of an action: its JSON Schema (what the model is constrained to) and the parser of
//! replies (which must still cope with backends that do not constrain, and with scripted models).

use hamlet_core::trace::{Action, Thoughts};
use hamlet_tools::{Effect, Registry};
use serde_json::{json, Map, Value};

/// Longest thought field, in characters; keeps small models from rambling away the budget.
pub const THOUGHT_CHARS: u64 = 160;

/// JSON Schema of one action: thoughts first (so the model reasons before it picks), then one of
/// the allowed tools with arguments matching that tool's schema.
///
/// The thoughts are what the last result shows (`observation`), whether the goal is now met
/// (`goal_met`), and the one next step (`next`). `goal_met` is tied to the tool by the grammar:
/// "yes" can only be followed by a finishing tool and "no" only by another one, so the model's own
/// judgement of the goal decides whether the run ends.
pub fn action_schema(registry: &Registry, tools: &[String]) -> Value {
    let thought = json!({"type": "string", "maxLength": THOUGHT_CHARS});
    let alternatives: Vec<Value> = tools
        .iter()
        .filter_map(|name| registry.get(name))
        .map(|tool| {
            let met = if tool.effect() == Effect::Finishing {
                "yes"
            } else {
                "no"
            };
            let thoughts = json!({
                "type": "object",
                "properties": {
                    "observation": thought,
                    "goal_met": {"const": met},
                    "next": thought
                },
                "required": ["observation", "goal_met", "next"],
                "additionalProperties": false
            });
            json!({
                "type": "object",
                "properties": {
                    "thoughts": thoughts,
                    "tool": {"const": tool.name()},
                    "args": tool.parameters()
                },
                "required": ["thoughts", "tool", "args"],
                "additionalProperties": false
            })
        })
        .collect();
    if alternatives.len() == 1 {
        return alternatives.into_iter().next().unwrap_or(Value::Null);
    }
    json!({"anyOf": alternatives})
}

/// JSON Schema of a reflection reply.
pub fn reflection_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "progress": {"type": "string", "maxLength": 300},
            "plan": {"type": "string", "maxLength": 400}
        },
        "required": ["progress", "plan"],
        "additionalProperties": false
    })
}

/// The first JSON object in `raw` (models sometimes wrap it in prose or code fences).
fn json_object(raw: &str) -> Result<Map<String, Value>, String> {
    let start = raw
        .find('{')
        .ok_or_else(|| "the reply has no JSON object".to_string())?;
    let mut stream = serde_json::Deserializer::from_str(&raw[start..]).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Object(map))) => Ok(map),
        Some(Ok(_)) => Err("the reply is not a JSON object".into()),
        Some(Err(e)) => Err(format!("the reply is not valid JSON ({e})")),
        None => Err("the reply has no JSON object".into()),
    }
}

fn text_field(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Parses a model reply into an action. Which tools may run is decided later, by the runner.
pub fn parse_action(raw: &str) -> Result<Action, String> {
    let map = json_object(raw)?;
    let tool = match map.get("tool") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err("\"tool\" must be a tool name (a string)".into()),
        None => return Err("the action has no \"tool\"".into()),
    };
    let args = match map.get("args") {
        Some(Value::Object(a)) => Value::Object(a.clone()),
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(_) => return Err("\"args\" must be a JSON object".into()),
    };
    let thoughts = match map.get("thoughts") {
        // The schema's keys (`observation`, `next`), or AutoGPT's (`reasoning`, `plan`), which
        // unconstrained backends and older traces use.
        Some(Value::Object(t)) => Thoughts {
            reasoning: text_field(t.get("observation").or(t.get("reasoning"))),
            plan: text_field(t.get("next").or(t.get("plan"))),
            criticism: text_field(t.get("criticism")),
        },
        Some(Value::String(s)) => Thoughts {
            reasoning: s.clone(),
            ..Thoughts::default()
        },
        _ => Thoughts::default(),
    };
    Ok(Action {
        thoughts,
        tool,
        args,
    })
}

/// Parses a reflection reply into its plan (falls back to the whole reply as the plan).
pub fn parse_reflection(raw: &str) -> String {
    match json_object(raw) {
        Ok(map) => {
            let plan = text_field(map.get("plan"));
            if plan.trim().is_empty() {
                text_field(map.get("progress"))
            } else {
                plan
            }
        }
        Err(_) => raw.trim().chars().take(400).collect(),
    }
}

/// A stable key for an action's call (tool and canonical arguments), for loop detection.
pub fn call_key(action: &Action) -> String {
    format!("{} {}", action.tool, canonical(&action.args))
}

fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k:?}:{}", canonical(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        Value::String(s) => format!("{:?}", s.trim()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_actions_and_tolerates_wrapping() {
        let a = parse_action(r#"Sure! ```json
{"thoughts": {"reasoning": "r", "plan": "p", "criticism": "c"}, "tool": "read_file", "args": {"path": "a.txt"}}
```"#)
        .unwrap();
        assert_eq!(a.tool, "read_file");
        assert_eq!(a.args["path"], "a.txt");
        assert_eq!(a.thoughts.plan, "p");
        let a = parse_action(r#"{"tool": "finish"}"#).unwrap();
        assert_eq!(a.args, json!({}));
    }

    #[test]
    fn bad_replies_say_what_is_wrong() {
        for (reply, says) in [
            ("I will read the file", "no JSON"),
            ("{\"tool\": \"x\", ", "not valid JSON"),
            ("{\"args\": {}}", "no \"tool\""),
            ("{\"tool\": 3}", "tool name"),
            ("{\"tool\": \"a\", \"args\": [1]}", "object"),
        ] {
            let why = parse_action(reply).unwrap_err();
            assert!(why.contains(says), "{reply}: {why}");
        }
    }

    #[test]
    fn call_keys_ignore_key_order_and_whitespace() {
        let a = parse_action(r#"{"tool": "t", "args": {"a": 1, "b": " x "}}"#).unwrap();
        let b = parse_action(r#"{"tool": "t", "args": {"b": "x", "a": 1}}"#).unwrap();
        assert_eq!(call_key(&a), call_key(&b));
    }

    #[test]
    fn schema_has_one_alternative_per_tool() {
        let r = Registry::builtin();
        let s = action_schema(&r, &["read_file".into(), "finish".into()]);
        assert_eq!(s["anyOf"].as_array().unwrap().len(), 2);
        assert_eq!(s["anyOf"][0]["properties"]["tool"]["const"], "read_file");
        let one = action_schema(&r, &["finish".into()]);
        assert_eq!(one["properties"]["tool"]["const"], "finish");
        // "goal met" leads to finish only, "not met" to the other tools only.
        let met =
            |alt: &Value| alt["properties"]["thoughts"]["properties"]["goal_met"]["const"].clone();
        assert_eq!(met(&s["anyOf"][0]), "no");
        assert_eq!(met(&s["anyOf"][1]), "yes");
        let a = parse_action(
            r#"{"thoughts": {"observation": "o", "goal_met": "no", "next": "n"}, "tool": "t"}"#,
        )
        .unwrap();
        assert_eq!(
            (a.thoughts.reasoning.as_str(), a.thoughts.plan.as_str()),
            ("o", "n")
        );
    }
}
