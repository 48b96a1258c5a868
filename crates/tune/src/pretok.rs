//! llama.cpp's pre-tokenizers: how text is cut into words before byte-level BPE merges them.
//!
//! llama.cpp does not run the regexes of `tokenizer.json` as written: for the common ones it has
//! hand-written splitters (`unicode_regex_split_custom_*` in `src/unicode.cpp`), and their
//! corner cases (the `(?!\S)` lookahead, where a run of spaces ends, what counts as a letter) are
//! what the served model sees. These functions follow those splitters step by step, with
//! llama.cpp's character classes: its whitespace set, Unicode letters (`\p{L}`) and numbers
//! (`\p{N}`), everything else "other".

use regex::Regex;

use crate::{Error, Result};

/// The pre-tokenizers this crate reproduces, by their `tokenizer.ggml.pre` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    /// Every number character alone, then the GPT-2 pattern
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (SmolLM2).
    DigitsThenGpt2,
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_QWEN2`, Qwen2 and Qwen2.5).
    Qwen2,
}

/// `tokenizer.ggml.pre` names and the pre-tokenizer llama.cpp (`llama_vocab::impl::load`) gives
/// them.
const NAMES: &[(&str, PreTokenizer)] = &[
    ("smollm", PreTokenizer::DigitsThenGpt2),
    ("starcoder", PreTokenizer::DigitsThenGpt2),
    ("refact", PreTokenizer::DigitsThenGpt2),
    ("command-r", PreTokenizer::DigitsThenGpt2),
    ("codeshell", PreTokenizer::DigitsThenGpt2),
    ("exaone", PreTokenizer::DigitsThenGpt2),
    ("minerva", PreTokenizer::DigitsThenGpt2),
    ("qwen2", PreTokenizer::Qwen2),
    ("deepseek-r1-qwen", PreTokenizer::Qwen2),
    ("kormo", PreTokenizer::Qwen2),
    ("f2llmv2", PreTokenizer::Qwen2),
    ("megrez", PreTokenizer::Qwen2),
    ("stablelm2", PreTokenizer::Qwen2),
    ("hunyuan", PreTokenizer::Qwen2),
    ("solar-open", PreTokenizer::Qwen2),
];

impl PreTokenizer {
    pub(crate) fn from_name(pre: &str) -> Result<Self> {
        NAMES
            .iter()
            .find(|(n, _)| *n == pre)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                Error::Tokenizer(format!(
                    "pre-tokenizer '{pre}' is not supported (supported: {})",
                    names.join(", ")
                ))
            })
    }
}

/// llama.cpp's whitespace set (`unicode_set_whitespace`).
fn is_space(c: char) -> bool {
    matches!(
        c as u32,
        0x09..=0x0D
            | 0x20
            | 0x85
            | 0xA0
            | 0x1680
            | 0x2000..=0x200A
            | 0x2028
            | 0x2029
            | 0x202F
            | 0x205F
            | 0x3000
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flags {
    Space,
    Letter,
    Number,
    Other,
}

/// Splits text into pre-tokenized words.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    kind: PreTokenizer,
    letter: Regex,
}

/// A text's characters with their classes; `flag(i)` is `None` past the end, like llama.cpp's
/// `OUT_OF_RANGE`.
struct Chars<'t> {
    text: &'t str,
    chars: Vec<(usize, char, Flags)>,
}

impl Chars<'_> {
    fn len(&self) -> usize {
        self.chars.len()
    }

    fn flag(&self, i: usize) -> Option<Flags> {
        self.chars.get(i).map(|c| c.2)
    }

    fn ch(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|c| c.1)
    }

    fn byte(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.text.len(), |c| c.0)
    }
}

impl Splitter {
    pub(crate) fn new(kind: PreTokenizer) -> Result<Self> {
        let letter = Regex::new(r"^\p{L}$").map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(Splitter { kind, letter })
    }

    fn flags(&self, c: char) -> Flags {
        let mut buf = [0u8; 4];
        if is_space(c) {
            Flags::Space
        } else if c.is_numeric() {
            Flags::Number
        } else if self.letter.is_match(c.encode_utf8(&mut buf)) {
            Flags::Letter
        } else {
            Flags::Other
        }
    }

    fn chars<'t>(&self, text: &'t str) -> Chars<'t> {
        Chars {
            text,
            chars: text
                .char_indices()
                .map(|(i, c)| (i, c, self.flags(c)))
                .collect(),
        }
    }

    /// The words of a text fragment (special tokens already cut out).
    pub(crate) fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut words = Vec::new();
        match self.kind {
            PreTokenizer::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, c) in text.char_indices() {
                    if c.is_numeric() {
                        if i > start {
                            self.split_gpt2(&text[start..i], &mut words);
                        }
                        words.push(&text[i..i + c.len_utf8()]);
                        start = i + c.len_utf8();
                    }
                }
                if start < text.len() {
                    self.split_gpt2(&text[start..], &mut words);
                }
            }
            PreTokenizer::Qwen2 => self.split_qwen2(text, &mut words),
        }
        words
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` within `text`
    /// (`unicode_regex_split_custom_gpt2`).
    fn split_gpt2<'t>(&self, text: &'t str, words: &mut Vec<&'t str>) {
        let cs = self.chars(text);
        let n = cs.len();
        let (mut pos, mut prev) = (0usize, 0usize);
        let mut emit = |end: usize, prev: &mut usize| {
            if end > *prev {
                words.push(&text[cs.byte(*prev)..cs.byte(end)]);
            }
            *prev = end;
        };
        while pos < n {
            let c = cs.chars[pos].1;
            if c == '\'' && pos + 1 < n {
                let c1 = cs.chars[pos + 1].1;
                if matches!(c1, 's' | 't' | 'm' | 'd') {
                    pos += 2;
                    emit(pos, &mut prev);
                    continue;
                }
                if let Some(c2) = cs.ch(pos + 2) {
                    if matches!((c1, c2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                        pos += 3;
                        emit(pos, &mut prev);
                        continue;
                    }
                }
            }
            let lead = if c == ' ' {
                cs.flag(pos + 1)
            } else {
                cs.flag(pos)
            };
            if let Some(kind @ (Flags::Letter | Flags::Number | Flags::Other)) = lead {
                pos += usize::from(c == ' ');
                while cs.flag(pos) == Some(kind) {
                    pos += 1;
                }
                emit(pos, &mut prev);
                continue;
            }
            let mut spaces = 0;
            while cs.flag(pos + spaces) == Some(Flags::Space) {
                spaces += 1;
            }
            if spaces > 1 && pos + spaces < n {
                pos += spaces - 1;
            } else if spaces > 0 {
                pos += spaces;
            } else {
                pos += 1;
            }
            emit(pos, &mut prev);
        }
    }

    /// llama.cpp's `unicode_regex_split_custom_qwen2`, branch for branch.
    fn split_qwen2<'t>(&self, text: &'t str, words: &mut Vec<&'t str>) {
        let cs = self.chars(text);
        let n = cs.len();
        let (mut pos, mut prev) = (0usize, 0usize);
        let mut emit = |end: usize, prev: &mut usize| {
            if end > *prev {
                words.push(&text[cs.byte(*prev)..cs.byte(end)]);
            }
            *prev = end;
        };
        let is_nl = |c: Option<char>| matches!(c, Some('\r' | '\n'));
        while pos < n {
            let (_, c, flags) = cs.chars[pos];
            // (?i:'s|'t|'re|'ve|'m|'ll|'d). llama.cpp lowercases with `unicode_tolower`; no
            // non-ASCII character lowercases to one of these letters, so ASCII case folding is
            // the same.
            if c == '\'' && pos + 1 < n {
                let c1 = cs.chars[pos + 1].1.to_ascii_lowercase();
                if matches!(c1, 's' | 't' | 'm' | 'd') {
                    pos += 2;
                    emit(pos, &mut prev);
                    continue;
                }
                if let Some(c2) = cs.ch(pos + 2).map(|c| c.to_ascii_lowercase()) {
                    if matches!((c1, c2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                        pos += 3;
                        emit(pos, &mut prev);
                        continue;
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == '\r' || c == '\n' || flags == Flags::Number)
                && (flags == Flags::Letter || cs.flag(pos + 1) == Some(Flags::Letter))
            {
                pos += 1;
                while cs.flag(pos) == Some(Flags::Letter) {
                    pos += 1;
                }
                emit(pos, &mut prev);
                continue;
            }
            // \p{N}
            if flags == Flags::Number {
                pos += 1;
                emit(pos, &mut prev);
                continue;
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`. A space that ends the text also lands here (llama.cpp
            // tests the space's own flags, and past the end there are none): it becomes a word
            // of its own, as `\s+` would make it.
            let next = if c == ' ' {
                cs.flag(pos + 1)
            } else {
                Some(flags)
            };
            if matches!(next, None | Some(Flags::Other)) {
                pos += usize::from(c == ' ');
                while cs.flag(pos) == Some(Flags::Other) {
                    pos += 1;
                }
                while is_nl(cs.ch(pos)) {
                    pos += 1;
                }
                emit(pos, &mut prev);
                continue;
            }
            let mut spaces = 0;
            let mut after_last_newline = None;
            while cs.flag(pos + spaces) == Some(Flags::Space) {
                if is_nl(cs.ch(pos + spaces)) {
                    after_last_newline = Some(pos + spaces + 1);
                }
                spaces += 1;
            }
            if let Some(end) = after_last_newline {
                // \s*[\r\n]+
                pos = end;
            } else if spaces > 1 && pos + spaces < n {
                // \s+(?!\S): leave the last space to the word that follows.
                pos += spaces - 1;
            } else if spaces > 0 {
                // \s+
                pos += spaces;
            } else {
                pos += 1;
            }
            emit(pos, &mut prev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(kind: PreTokenizer, text: &str) -> Vec<&str> {
        Splitter::new(kind).unwrap().split(text)
    }

    #[test]
    fn qwen2_splits_like_its_regex() {
        let q = PreTokenizer::Qwen2;
        assert_eq!(split(q, "Hello world"), ["Hello", " world"]);
        // Digits one by one; a non-letter, non-digit glues to the letters after it.
        assert_eq!(split(q, "x=12345"), ["x", "=", "1", "2", "3", "4", "5"]);
        assert_eq!(split(q, ".foo(bar)"), [".foo", "(bar", ")"]);
        // Case-insensitive contractions.
        assert_eq!(
            split(q, "I'M DON'T we'Ll"),
            ["I", "'M", " DON", "'T", " we", "'Ll"]
        );
        // Newlines: whitespace up to the last newline is one word; punctuation takes newlines.
        assert_eq!(split(q, "a  \n\n  b"), ["a", "  \n\n", " ", " b"]);
        assert_eq!(split(q, "};\n\nfn"), ["};\n\n", "fn"]);
        assert_eq!(split(q, "\r\nx"), ["\r\n", "x"]);
        // A run of spaces before a word leaves its last space to the word; at the end, not.
        assert_eq!(split(q, "a   b   "), ["a", "  ", " b", "   "]);
        assert_eq!(split(q, "a "), ["a", " "]);
        assert_eq!(split(q, "\tfoo"), ["\tfoo"]);
        assert_eq!(split(q, "日本語 テキスト"), ["日本語", " テキスト"]);
        assert_eq!(split(q, "  1"), [" ", " ", "1"]);
    }

    #[test]
    fn gpt2_splits_digits_alone() {
        let g = PreTokenizer::DigitsThenGpt2;
        assert_eq!(split(g, "abc 123"), ["abc", " ", "1", "2", "3"]);
        assert_eq!(split(g, "it's"), ["it", "'s"]);
        assert_eq!(split(g, "IT'S"), ["IT", "'", "S"]);
    }

    #[test]
    fn unknown_pre_tokenizers_are_refused_with_the_list() {
        let e = PreTokenizer::from_name("llama-bpe")
            .unwrap_err()
            .to_string();
        assert!(e.contains("qwen2") && e.contains("smollm"), "{e}");
    }
}
