//! A small recursive-descent parser for the Python-literal subset that BFCL
//! replies use: calls with keyword arguments, strings, numbers, `True`,
//! `False`, `None`, lists, tuples and dicts. JSON's `true`, `false` and
//! `null` are accepted too, so JSON text parses with the same code.

use serde_json::{Map, Value};

use crate::parse::{Call, ParseError};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// A parsed expression: a call, a sequence (list or tuple) or a plain value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Call(Call),
    Seq(Vec<Expr>),
    Value(Value),
}

impl Expr {
    /// The expression as a JSON value; a nested call becomes
    /// `{"name": {args}}` as in BFCL's decoder.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Expr::Call(c) => {
                let mut m = Map::new();
                m.insert(c.name, Value::Object(c.args));
                Value::Object(m)
            }
            Expr::Seq(items) => Value::Array(items.into_iter().map(Expr::into_value).collect()),
            Expr::Value(v) => v,
        }
    }
}

pub(crate) struct Parser<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
    depth: usize,
}

pub(crate) type PResult<T> = Result<T, ParseError>;

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, pos: usize) -> Self {
        Parser { src, pos, depth: 0 }
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips whitespace and consumes `c` if it comes next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn err(&self, expected: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            expected: expected.into(),
            found: match self.peek() {
                Some(c) => format!("{c:?}"),
                None => "end of input".to_string(),
            },
        }
    }

    fn expect(&mut self, c: char) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(format!("{c:?}")))
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_ident_start(c) => self.pos += c.len_utf8(),
            _ => return None,
        }
        while let Some(c) = self.peek() {
            if !is_ident_char(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.src.get(start..self.pos)
    }

    /// Parses one expression.
    pub(crate) fn expr(&mut self) -> PResult<Expr> {
        self.skip_ws();
        if self.depth >= MAX_DEPTH {
            return Err(self.err("less deeply nested value"));
        }
        self.depth += 1;
        let out = self.expr_inner();
        self.depth -= 1;
        out
    }

    fn expr_inner(&mut self) -> PResult<Expr> {
        match self.peek() {
            Some('[') => {
                self.pos += 1;
                Ok(Expr::Seq(self.items(']')?.0))
            }
            Some('(') => {
                self.pos += 1;
                let (items, trailing_comma) = self.items(')')?;
                // `(x)` is just `x`; `(x,)` is a one-element tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Expr::Seq(Vec::new())))
                } else {
                    Ok(Expr::Seq(items))
                }
            }
            Some('{') => {
                self.pos += 1;
                self.dict()
            }
            Some('"') | Some('\'') => Ok(Expr::Value(Value::String(self.string()?))),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                Ok(Expr::Value(self.number()?))
            }
            Some(c) if is_ident_start(c) => self.name_or_call(),
            _ => Err(self.err("a value or a call")),
        }
    }

    /// Comma-separated expressions up to `close`; also says whether a
    /// trailing comma was seen.
    fn items(&mut self, close: char) -> PResult<(Vec<Expr>, bool)> {
        let mut items = Vec::new();
        let trailing = self.separated(close, |p| {
            items.push(p.expr()?);
            Ok(())
        })?;
        Ok((items, trailing))
    }

    /// Reads `item`s separated by commas up to `close`; says whether the list ended right after
    /// a comma (or was empty).
    fn separated(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> PResult<()>,
    ) -> PResult<bool> {
        loop {
            if self.eat(close) {
                return Ok(true);
            }
            item(self)?;
            if self.eat(close) {
                return Ok(false);
            }
            if !self.eat(',') {
                return Err(self.err(format!("',' or {close:?}")));
            }
        }
    }

    fn dict(&mut self) -> PResult<Expr> {
        let mut map = Map::new();
        self.separated('}', |p| {
            p.skip_ws();
            let key_at = p.pos;
            let key = match p.expr()?.into_value() {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                _ => {
                    p.pos = key_at;
                    return Err(p.err("a string or number as dict key"));
                }
            };
            p.expect(':')?;
            let value = p.expr()?.into_value();
            map.insert(key, value);
            Ok(())
        })?;
        Ok(Expr::Value(Value::Object(map)))
    }

    fn name_or_call(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let first = self.ident().ok_or_else(|| self.err("a name"))?;
        let mut end = self.pos;
        // Dotted names: `math.factorial`, `a.b.c`.
        while self.peek() == Some('.') {
            self.pos += 1;
            if self.ident().is_none() {
                return Err(self.err("a name after '.'"));
            }
            end = self.pos;
        }
        let name = self.src.get(start..end).unwrap_or(first);
        let after_name = self.pos;
        if self.eat('(') {
            return Ok(Expr::Call(self.call_args(name.to_string())?));
        }
        self.pos = after_name;
        Ok(Expr::Value(match name {
            "True" | "true" => Value::Bool(true),
            "False" | "false" => Value::Bool(false),
            "None" | "null" => Value::Null,
            // BFCL's decoder turns a bare name (a variable) into its text.
            other => Value::String(other.to_string()),
        }))
    }

    fn call_args(&mut self, name: String) -> PResult<Call> {
        let mut args = Map::new();
        self.separated(')', |p| {
            p.skip_ws();
            let key_at = p.pos;
            let Some(key) = p.ident() else {
                return Err(p.err("a keyword argument name or ')'"));
            };
            if !p.eat('=') {
                return Err(p.err(format!("'=' after argument name {key:?}")));
            }
            if args.contains_key(key) {
                p.pos = key_at;
                return Err(p.err(format!("no repeated argument {key:?}")));
            }
            let value = p.expr()?.into_value();
            args.insert(key.to_string(), value);
            Ok(())
        })?;
        Ok(Call { name, args })
    }
}
