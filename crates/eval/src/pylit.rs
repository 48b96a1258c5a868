//! Literals of the Python subset: numbers (ints, floats with exponents,
//! signs, `_` separators) and strings (single, double or triple quotes,
//! with Python's and JSON's escapes).

use serde_json::{Number, Value};

use crate::pyexpr::{PResult, Parser};

impl Parser<'_> {
    pub(crate) fn number(&mut self) -> PResult<Value> {
        let start = self.pos;
        let mut text = String::new();
        if let Some(sign @ ('-' | '+')) = self.peek() {
            self.pos += 1;
            if sign == '-' {
                text.push('-');
            }
            self.skip_ws();
        }
        let mut is_float = false;
        let mut digits = 0;
        while let Some(c) = self.peek() {
            match c {
                '0'..='9' => digits += 1,
                '_' if digits > 0 => {
                    self.pos += 1;
                    continue;
                }
                '.' if !is_float => is_float = true,
                'e' | 'E' if digits > 0 => {
                    is_float = true;
                    text.push('e');
                    self.pos += 1;
                    if let Some(s @ ('-' | '+')) = self.peek() {
                        text.push(s);
                        self.pos += 1;
                    }
                    let before = self.pos;
                    while let Some(d @ '0'..='9') = self.peek() {
                        text.push(d);
                        self.pos += 1;
                    }
                    if self.pos == before {
                        return Err(self.err("exponent digits"));
                    }
                    break;
                }
                _ => break,
            }
            text.push(c);
            self.pos += 1;
        }
        if digits == 0 {
            self.pos = start;
            return Err(self.err("a number"));
        }
        if !is_float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Number(i.into()));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| {
                let mut e = self.err("a finite number");
                e.offset = start;
                e
            })
    }

    pub(crate) fn string(&mut self) -> PResult<String> {
        let start = self.pos;
        let quote = self.bump().ok_or_else(|| self.err("a string"))?;
        let triple = self.src[self.pos..].starts_with(&format!("{quote}{quote}"));
        if triple {
            self.pos += 2;
        }
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                let mut e = self.err(format!("closing {quote:?} of the string"));
                e.found = format!("end of input (string opened at byte {start})");
                return Err(e);
            };
            if c == quote {
                if !triple {
                    return Ok(out);
                }
                if self.src[self.pos..].starts_with(&format!("{quote}{quote}")) {
                    self.pos += 2;
                    return Ok(out);
                }
                out.push(c);
            } else if c == '\\' {
                self.escape(&mut out)?;
            } else if c == '\n' && !triple {
                self.pos -= 1;
                return Err(self.err(format!("closing {quote:?} before end of line")));
            } else {
                out.push(c);
            }
        }
    }

    fn hex(&mut self, n: usize) -> PResult<u32> {
        let digits = self.src.get(self.pos..self.pos + n).unwrap_or("");
        let v = (digits.len() == n && digits.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(digits, 16).ok())
            .flatten()
            .ok_or_else(|| self.err(format!("{n} hex digits")))?;
        self.pos += n;
        Ok(v)
    }

    fn escape(&mut self, out: &mut String) -> PResult<()> {
        let at = self.pos;
        let c = self.bump().ok_or_else(|| self.err("an escape character"))?;
        let ch = match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            '0' => '\0',
            '\n' => return Ok(()),
            '\\' | '\'' | '"' | '/' => c,
            'x' => char::from_u32(self.hex(2)?).unwrap_or('\u{fffd}'),
            'U' => char::from_u32(self.hex(8)?).unwrap_or('\u{fffd}'),
            'u' => {
                let hi = self.hex(4)?;
                if (0xD800..0xDC00).contains(&hi) && self.src[self.pos..].starts_with("\\u") {
                    self.pos += 2;
                    let lo = self.hex(4)?;
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                    char::from_u32(code).unwrap_or('\u{fffd}')
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            // Python keeps unknown escapes as written.
            other => {
                self.pos = at + other.len_utf8();
                out.push('\\');
                other
            }
        };
        out.push(ch);
        Ok(())
    }
}
