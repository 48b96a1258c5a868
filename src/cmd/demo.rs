//! `hamlet demo`: the main job of the quick start until the agent loop lands: a chat reply, then a
//! tool call whose JSON is constrained by a schema built from the tools on offer.

use anyhow::Result;
use hamlet_core::{GenerateRequest, Message};
use serde_json::json;

use crate::opts::{LoraOpts, ModelOpts};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelOpts,
}

pub fn run(a: Args) -> Result<()> {
    let llm = a.model.backend(1, &LoraOpts::default())?;
    let info = llm.info();
    println!(
        "model: {} ({} tokens of context)\n",
        info.name, info.context_length
    );

    let question = "In one sentence, what is a good habit for a productive morning?";
    println!("> {question}");
    let chat = GenerateRequest::chat(vec![Message::user(question)]).with_max_tokens(80);
    let mut stdout = std::io::stdout();
    let reply = llm.generate_stream(&chat, &mut |piece| {
        use std::io::Write;
        let _ = stdout.write_all(piece.as_bytes());
        let _ = stdout.flush();
    })?;
    println!(
        "\n[{} tokens, {:.1} tok/s]\n",
        reply.usage.completion_tokens,
        super::rate(reply.usage.completion_tokens, reply.timings.generation_ms)
    );

    // The model must answer with exactly one call to one of these tools.
    let schema = json!({
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": 200},
            "tool": {"enum": ["get_weather", "calculator", "finish"]},
            "args": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 40}, "expression": {"type": "string", "maxLength": 60}},
                "additionalProperties": false
            }
        },
        "required": ["thought", "tool", "args"],
        "additionalProperties": false
    });
    let task = "What is the weather in Paris right now? Tools: get_weather(city), calculator(expression), finish(). \
                Reply with JSON: {\"thought\": ..., \"tool\": ..., \"args\": {...}}.";
    println!("> {task}");
    let call = GenerateRequest::chat(vec![
        Message::system(
            "You are an agent that acts by calling exactly one tool per reply, as JSON.",
        ),
        Message::user(task),
    ])
    .with_schema(schema)
    .with_max_tokens(160);
    let done = llm.generate(&call)?;
    let value = done.json.unwrap_or_default();
    println!("{}", serde_json::to_string_pretty(&value)?);
    println!(
        "[tool call parsed and validated against the schema: tool = {}; {} tokens]",
        value.get("tool").and_then(|t| t.as_str()).unwrap_or("?"),
        done.usage.completion_tokens
    );
    Ok(())
}
