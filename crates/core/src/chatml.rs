//! ChatML, the chat format of SmolLM2 and Qwen2.5: what `hamlet-llm` renders for a model without
//! a chat template, and what `hamlet-tune` trains on, so that the two cannot disagree about a
//! prompt's text.

use crate::{Message, Role};

/// Opens the model's turn: a prompt ends with this, and the reply follows.
pub const ASSISTANT_START: &str = "<|im_start|>assistant\n";
/// Closes a turn (the end-of-turn token of ChatML models).
pub const END: &str = "<|im_end|>";

/// Appends one whole turn, `<|im_start|>ROLE\nCONTENT<|im_end|>\n`.
pub fn push_turn(out: &mut String, role: Role, content: &str) {
    out.push_str("<|im_start|>");
    out.push_str(role.as_str());
    out.push('\n');
    out.push_str(content);
    out.push_str(END);
    out.push('\n');
}

/// The prompt for `messages`: each turn, then the opening of the assistant's.
pub fn prompt(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        push_turn(&mut s, m.role, &m.content);
    }
    s.push_str(ASSISTANT_START);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_the_turns_then_the_assistant_opening() {
        let text = prompt(&[Message::system("Be brief."), Message::user("Hi")]);
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
