//! Generation on the real default model: answers, streaming, stop strings, prefix reuse, batching.

mod common;

use hamlet_core::{FinishReason, GenerateRequest, Llm, Message, Sampling};

fn ask(q: &str) -> GenerateRequest {
    GenerateRequest::chat(vec![Message::user(q)]).with_max_tokens(48)
}

#[test]
fn answers_a_question() {
    let llm = common::llm(1);
    let question = ask("What is the capital of France?");
    let c = llm.generate(&question).unwrap();
    assert!(c.text.contains("Paris"), "{:?}", c.text);
    assert!(c.usage.completion_tokens > 0 && c.usage.prompt_tokens > 5);
}

#[test]
fn streaming_delivers_the_final_text() {
    let llm = common::llm(1);
    let mut streamed = String::new();
    let mut pieces = 0;
    let req = ask("Write two sentences about the sea.").with_sampling(Sampling {
        temperature: 0.7,
        seed: 7,
        ..Default::default()
    });
    let c = llm
        .generate_stream(&req, &mut |p| {
            streamed.push_str(p);
            pieces += 1;
        })
        .unwrap();
    assert_eq!(streamed, c.text);
    assert!(pieces > 3, "text came in {pieces} pieces");
}

#[test]
fn seeds_reproduce_and_differ() {
    let llm = common::llm(1);
    let req = |seed| {
        ask("Name a colour and an animal.").with_sampling(Sampling {
            temperature: 1.0,
            seed,
            ..Default::default()
        })
    };
    let a = llm.generate(&req(1)).unwrap().text;
    let b = llm.generate(&req(1)).unwrap().text;
    assert_eq!(a, b, "the same seed gives the same text");
    let others: Vec<String> = (2..6)
        .map(|s| llm.generate(&req(s)).unwrap().text)
        .collect();
    assert!(
        others.iter().any(|o| *o != a),
        "different seeds should not all agree"
    );
}

#[test]
fn stop_strings_and_max_tokens_end_generation() {
    let llm = common::llm(1);
    let count = ask("Count from 1 to 20, separated by commas.");
    let full = llm.generate(&count).unwrap();
    assert!(full.text.contains("5"), "{:?}", full.text);
    let cut = llm.generate(&count.clone().with_stop("5")).unwrap();
    assert_eq!(cut.finish, FinishReason::StopString);
    assert!(
        !cut.text.contains('5') && full.text.starts_with(&cut.text),
        "{:?} vs {:?}",
        cut.text,
        full.text
    );
    let short = llm
        .generate(&ask("Tell me a long story.").with_max_tokens(5))
        .unwrap();
    assert_eq!(short.finish, FinishReason::Length);
    assert_eq!(short.usage.completion_tokens, 5);
}

#[test]
fn prefix_reuse_gives_the_same_greedy_text() {
    let llm = common::llm(2);
    let context =
        "Hobbs Cafe opens at 8. Isabella runs it. The party is on February 14 at 5pm. ".repeat(12);
    let q = |question: &str| {
        GenerateRequest::chat(vec![
            Message::system(context.clone()),
            Message::user(question),
        ])
        .with_max_tokens(24)
        .with_cache_key("isabella")
    };
    let first = llm.generate(&q("Who runs the cafe?")).unwrap();
    assert_eq!(first.usage.cached_tokens, 0);
    let warm = llm.generate(&q("When is the party?")).unwrap();
    assert!(
        warm.usage.cached_tokens > 100,
        "only {} of {} tokens were reused",
        warm.usage.cached_tokens,
        warm.usage.prompt_tokens
    );
    llm.clear_cache().unwrap();
    let cold = llm.generate(&q("When is the party?")).unwrap();
    assert_eq!(cold.usage.cached_tokens, 0);
    assert_eq!(warm.text, cold.text);
}

#[test]
fn batch_matches_one_by_one() {
    let llm = common::llm(4);
    let reqs: Vec<GenerateRequest> = ["a baker", "a storm", "a library", "a cat", "a clock"]
        .iter()
        .map(|t| ask(&format!("Write one sentence about {t}.")).with_max_tokens(32))
        .collect();
    let one_by_one: Vec<String> = reqs
        .iter()
        .map(|r| {
            llm.clear_cache().unwrap();
            llm.generate(r).unwrap().text
        })
        .collect();
    llm.clear_cache().unwrap();
    // Five requests on four slots: one batch of four, then one.
    let batched: Vec<String> = llm
        .generate_batch(&reqs)
        .into_iter()
        .map(|r| r.unwrap().text)
        .collect();
    assert_eq!(one_by_one, batched);
}

#[test]
fn a_bad_request_in_a_batch_fails_alone() {
    let llm = common::llm(2);
    let reqs = vec![
        ask("Say hi."),
        GenerateRequest::raw(""),
        ask("Say bye.").with_max_tokens(0),
    ];
    let out = llm.generate_batch(&reqs);
    assert!(out[0].is_ok());
    assert!(out[1]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("prompt is empty"));
    assert!(out[2]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("max_tokens"));
}

#[test]
fn raw_prompt_continues_text_and_counts_tokens() {
    let llm = common::llm(1);
    let c = llm
        .generate(&GenerateRequest::raw("1, 2, 3, 4,").with_max_tokens(6))
        .unwrap();
    assert!(c.text.contains('5'), "{:?}", c.text);
    assert!(llm.count_tokens("hello world").unwrap() >= 2);
}
