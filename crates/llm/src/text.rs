//! Turning token pieces into streamed text: UTF-8 assembly and stop strings.
//!
//! A token can end in the middle of a multi-byte character, and a stop string can span tokens.
//! [`TextStream`] only emits text that is both whole characters and cannot turn out to be the start
//! of a stop string, so the streamed pieces always add up to the final text.

/// Assembles token pieces into text, honouring stop strings.
#[derive(Debug)]
pub(crate) struct TextStream {
    pending: Vec<u8>,
    text: String,
    emitted: usize,
    stops: Vec<String>,
    holdback: usize,
    stopped: bool,
}

impl TextStream {
    pub(crate) fn new(stops: &[String]) -> Self {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        let holdback = stops
            .iter()
            .map(|s| s.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        TextStream {
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
            stops,
            holdback,
            stopped: false,
        }
    }

    /// Adds a token's bytes. Returns the text that is now safe to show, and whether a stop string
    /// was produced (then the text ends before it and nothing more is accepted).
    pub(crate) fn push(&mut self, piece: &[u8]) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.pending.extend_from_slice(piece);
        self.decode_pending(false);
        if let Some(at) = self.find_stop() {
            self.text.truncate(at);
            self.stopped = true;
            let out = self.text[self.emitted..].to_string();
            self.emitted = self.text.len();
            return (out, true);
        }
        let mut safe = self
            .text
            .len()
            .saturating_sub(self.holdback)
            .max(self.emitted);
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        let out = self.text[self.emitted..safe].to_string();
        self.emitted = safe;
        (out, false)
    }

    /// Ends the stream: flushes held-back text (and any incomplete character, lossily).
    pub(crate) fn finish(&mut self) -> String {
        if !self.stopped {
            self.decode_pending(true);
            if let Some(at) = self.find_stop() {
                self.text.truncate(at);
            }
            self.stopped = true;
        }
        let out = self.text[self.emitted.min(self.text.len())..].to_string();
        self.emitted = self.text.len();
        out
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn find_stop(&self) -> Option<usize> {
        let hay = &self.text[self.emitted..];
        self.stops
            .iter()
            .filter_map(|s| hay.find(s.as_str()))
            .min()
            .map(|i| i + self.emitted)
    }

    fn decode_pending(&mut self, flush: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: the prefix was just checked.
                    self.text
                        .push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None if flush => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.clear();
                            return;
                        }
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(chunks: &[&[u8]], stops: &[&str]) -> (String, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut ts = TextStream::new(&stops);
        let mut streamed = String::new();
        let mut stopped = false;
        for c in chunks {
            let (s, st) = ts.push(c);
            streamed.push_str(&s);
            if st {
                stopped = true;
                break;
            }
        }
        streamed.push_str(&ts.finish());
        (streamed, ts.text().to_string(), stopped)
    }

    #[test]
    fn stop_string_across_tokens_is_cut_and_not_streamed() {
        let (streamed, text, stopped) =
            run(&[b"Hello ", b"wor", b"ld\nUs", b"er: hi"], &["\nUser:"]);
        assert!(stopped);
        assert_eq!(text, "Hello world");
        assert_eq!(streamed, text);
    }

    #[test]
    fn split_multibyte_character_is_joined() {
        let bytes = "é😀".as_bytes();
        let (streamed, text, _) = run(&[&bytes[..1], &bytes[1..3], &bytes[3..]], &[]);
        assert_eq!(text, "é😀");
        assert_eq!(streamed, text);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (_, text, _) = run(&[b"a\xffb", b"\xe2\x82"], &[]);
        assert_eq!(text, "a\u{fffd}b\u{fffd}");
    }

    proptest! {
        #[test]
        fn streamed_pieces_equal_final_text(s in "[a-c é€]{0,40}", cuts in proptest::collection::vec(0usize..60, 0..8), stop in "[a-c]{1,3}") {
            let bytes = s.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let (streamed, text, _) = run(&chunks, &[stop.as_str()]);
            let expected = match s.find(stop.as_str()) { Some(i) => &s[..i], None => &s[..] };
            prop_assert_eq!(&text, expected);
            prop_assert_eq!(streamed, text);
        }
    }
}
