//! INI variable values, typed the way Ansible types them.
//!
//! Ansible runs every INI value through Python's `ast.literal_eval` and keeps
//! the text as a string when that fails. So `port=22` is a number,
//! `on=True` a boolean, `v='"x"'` the string `x`, `l="[1, 2]"` a list, but
//! `on=true` and `on=yes` stay strings (they are not Python literals). This
//! module parses the Python literal subset that matters for inventories:
//! `None`, `True`, `False`, integers (with `0x`/`0o`/`0b` and `_`), floats,
//! quoted strings with the common escapes, lists, tuples, sets and dicts.
//! Anything else is "not a literal", and the caller keeps the text.

use serde_json::{Map, Number, Value};

/// The value of an INI value text: its Python literal, or the text itself.
pub(super) fn ini_value(text: &str) -> Value {
    parse(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// The Python literal `text` spells, if it is one.
pub(super) fn parse(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let value = p.expr()?;
    p.skip_space();
    if p.i == p.s.len() { Some(value) } else { None }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips spaces and Python comments (`# …` to the end of the line).
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.i += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// One literal, possibly signed; adjacent strings concatenate as in
    /// Python (`'a' 'b'`).
    fn expr(&mut self) -> Option<Value> {
        self.skip_space();
        match self.peek()? {
            b'-' | b'+' => {
                let negative = self.peek() == Some(b'-');
                self.i += 1;
                let value = self.expr()?;
                match value {
                    Value::Number(n) if negative => negate(&n),
                    Value::Number(n) => Some(Value::Number(n)),
                    _ => None,
                }
            }
            b'[' => self.sequence(b']').map(Value::Array),
            b'(' => self.tuple(),
            b'{' => self.braces(),
            b'\'' | b'"' => {
                let mut out = self.string()?;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'\'' | b'"') => out.push_str(&self.string()?),
                        _ => break,
                    }
                }
                Some(Value::String(out))
            }
            c if c.is_ascii_digit() || c == b'.' => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => self.word(),
            _ => None,
        }
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        match &self.text[start..self.i] {
            "None" => Some(Value::Null),
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            // String prefixes: r'…' (raw), b'…' and u'…' (plain text here).
            prefix @ ("r" | "R" | "u" | "U" | "b" | "B" | "br" | "rb")
                if matches!(self.peek(), Some(b'\'' | b'"')) =>
            {
                let raw = prefix.to_ascii_lowercase().contains('r');
                let s = if raw {
                    self.raw_string()?
                } else {
                    self.string()?
                };
                Some(Value::String(s))
            }
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            || (self.i > start
                && matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s.get(self.i - 1), Some(b'e' | b'E'))
                && !self.text[start..self.i].starts_with("0x"))
        {
            self.i += 1;
        }
        let token = &self.text[start..self.i];
        if token.starts_with('_') || token.ends_with('_') || token.contains("__") {
            return None;
        }
        let digits = token.replace('_', "");
        let lower = digits.to_ascii_lowercase();
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return i64::from_str_radix(rest, radix).ok().map(Value::from);
            }
        }
        if lower.bytes().all(|c| c.is_ascii_digit()) {
            // Python 3 rejects `0777`: leading zeros only in `0`, `00`, ….
            if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|c| c != b'0') {
                return None;
            }
            return match lower.parse::<i64>() {
                Ok(i) => Some(Value::from(i)),
                // Beyond 64 bits: Python keeps an exact big integer; the
                // closest JSON can hold is a float.
                Err(_) => lower.parse::<f64>().ok().and_then(float),
            };
        }
        // A float needs a digit, and only digits, `.`, and an exponent.
        let valid = lower.bytes().any(|c| c.is_ascii_digit())
            && lower
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'));
        if !valid || lower.ends_with('j') {
            return None;
        }
        lower.parse::<f64>().ok().and_then(float)
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[quote, quote, quote]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.i..)?;
            let c = rest.chars().next()?;
            if triple && self.s[self.i..].starts_with(&[quote, quote, quote]) {
                self.i += 3;
                return Some(out);
            }
            if !triple && c as u32 == u32::from(quote) {
                self.i += 1;
                return Some(out);
            }
            if !triple && c == '\n' {
                return None;
            }
            self.i += c.len_utf8();
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.text.get(self.i..)?.chars().next()?;
            self.i += e.len_utf8();
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '\'' | '"' => out.push(e),
                '\n' => {}
                'x' => out.push(self.hex_escape(2)?),
                'u' => out.push(self.hex_escape(4)?),
                'U' => out.push(self.hex_escape(8)?),
                // Python keeps unknown escapes as written.
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    fn raw_string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.i += 1;
        let start = self.i;
        while self.peek()? != quote {
            self.i += if self.peek() == Some(b'\\') { 2 } else { 1 };
        }
        let out = self.text.get(start..self.i)?.to_string();
        self.i += 1;
        Some(out)
    }

    fn hex_escape(&mut self, len: usize) -> Option<char> {
        let hex = self.text.get(self.i..self.i + len)?;
        self.i += len;
        char::from_u32(u32::from_str_radix(hex, 16).ok()?)
    }

    /// Items up to `close`, with an optional trailing comma.
    fn sequence(&mut self, close: u8) -> Option<Vec<Value>> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    /// `(x)` is just `x`; `()`, `(x,)` and `(x, y)` are tuples, which
    /// Ansible turns into lists.
    fn tuple(&mut self) -> Option<Value> {
        self.i += 1;
        if self.eat(b')') {
            return Some(Value::Array(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(b')') {
            return Some(first);
        }
        if !self.eat(b',') {
            return None;
        }
        let mut items = vec![first];
        loop {
            if self.eat(b')') {
                return Some(Value::Array(items));
            }
            items.push(self.expr()?);
            if !self.eat(b',') {
                return self.eat(b')').then_some(Value::Array(items));
            }
        }
    }

    /// `{}` and `{k: v, …}` are dicts; `{a, b}` is a set (a list here).
    fn braces(&mut self) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        if self.eat(b'}') {
            return Some(Value::Object(map));
        }
        let first = self.expr()?;
        if !self.eat(b':') {
            let mut items = vec![first];
            loop {
                if !self.eat(b',') {
                    return self.eat(b'}').then_some(Value::Array(items));
                }
                if self.eat(b'}') {
                    return Some(Value::Array(items));
                }
                items.push(self.expr()?);
            }
        }
        let mut key = first;
        loop {
            let value = self.expr()?;
            map.insert(key_text(&key)?, value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            key = self.expr()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }
}

/// Python's `json.dumps` writes non-string dict keys as text.
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn float(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    n.as_f64().and_then(|f| float(-f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_literals_become_json() {
        assert_eq!(ini_value("22"), json!(22));
        assert_eq!(ini_value("-5"), json!(-5));
        assert_eq!(ini_value("0x1F"), json!(31));
        assert_eq!(ini_value("1_000"), json!(1000));
        assert_eq!(ini_value("3.5"), json!(3.5));
        assert_eq!(ini_value("1e3"), json!(1000.0));
        assert_eq!(ini_value("True"), json!(true));
        assert_eq!(ini_value("None"), json!(null));
        assert_eq!(ini_value("'a' \"b\""), json!("ab"));
        assert_eq!(ini_value(r"'tab\there'"), json!("tab\there"));
        assert_eq!(ini_value("[1, 'two', [3]]"), json!([1, "two", [3]]));
        assert_eq!(ini_value("(1,)"), json!([1]));
        assert_eq!(ini_value("(1)"), json!(1));
        assert_eq!(ini_value("{'x': 1, 2: None}"), json!({"x": 1, "2": null}));
        assert_eq!(ini_value("{1, 2}"), json!([1, 2]));
        assert_eq!(ini_value("5 # a comment"), json!(5));
    }

    #[test]
    fn everything_else_stays_text() {
        for text in [
            "true",
            "yes",
            "0777",
            "1.2.3",
            "web01",
            "just words",
            "[1, 2",
            "1j",
            "",
            "'open",
            "http://x:80/",
            "-x",
        ] {
            assert_eq!(ini_value(text), json!(text), "{text:?}");
        }
    }
}
