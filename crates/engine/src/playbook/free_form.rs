//! Free-form arguments, `copy: src=a dest="b c"`, split as Ansible's
//! `parse_kv` splits them: words at spaces outside quotes and templates,
//! escape sequences decoded in `key=value` words, one pair of quotes
//! removed from each value.

/// A `key=value` word as Ansible reads it: escapes (`\n`, `\t`, `\\`,
/// `\"`, `\x41`, `\u00e9`, octal) decoded first, then split at the first
/// `=`, then the value unquoted. `None` when the word has no `=`.
pub(crate) fn key_value(word: &str) -> Option<(String, String)> {
    let word = decode_escapes(word);
    let (k, v) = word.split_once('=')?;
    Some((k.trim().to_string(), unquote(v)))
}

/// Python's escape sequences, the ones Ansible's `_decode_escapes` finds;
/// anything else (a lone backslash, `\d` in a regex) stays as written.
fn decode_escapes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 == chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        let simple = match next {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.push(decoded);
            i += 2;
            continue;
        }
        let hex = |len: usize| -> Option<char> {
            let digits: String = chars.get(i + 2..i + 2 + len)?.iter().collect();
            if digits.chars().all(|d| d.is_ascii_hexdigit()) {
                char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
            } else {
                None
            }
        };
        let (decoded, used) = match next {
            'x' => (hex(2), 4),
            'u' => (hex(4), 6),
            'U' => (hex(8), 10),
            '0'..='7' => {
                let digits: String = chars[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| ('0'..='7').contains(*d))
                    .collect();
                let value = u32::from_str_radix(&digits, 8)
                    .ok()
                    .and_then(char::from_u32);
                (value, 1 + digits.len())
            }
            _ => (None, 0),
        };
        match decoded {
            Some(decoded) => {
                out.push(decoded);
                i += used;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Splits a free-form argument string into words, keeping quotes inside
/// each word (so the command keeps its meaning when joined again).
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    // Inside `{{ }}` and `{% %}` spaces do not split, as in Ansible's
    // `parse_kv`: `path={{ app_dir }}` is one word.
    let mut jinja = 0usize;
    let mut prev = '\0';
    for c in text.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            prev = c;
            continue;
        }
        match (prev, c) {
            ('{', '{' | '%') => jinja += 1,
            ('}' | '%', '}') => jinja = jinja.saturating_sub(1),
            _ => {}
        }
        prev = c;
        // A quote inside a template belongs to the template (`msg="a{{ ":" }}b"`
        // is one word), so only the template's end is looked for there.
        if jinja > 0 {
            cur.push(c);
            continue;
        }
        match (quote, c) {
            (_, '\\') => {
                cur.push(c);
                escaped = true;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A value without the one pair of quotes around it, if it has them.
pub(crate) fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_words_decode_escapes_then_unquote() {
        assert_eq!(
            key_value(r#"content="a\nb\t\\x\u00e9\101""#),
            Some(("content".into(), "a\nb\t\\xéA".into()))
        );
        assert_eq!(
            key_value(r"regexp=^\d+$"),
            Some(("regexp".into(), r"^\d+$".into()))
        );
        assert_eq!(key_value("plain"), None);
    }

    #[test]
    fn words_keep_quotes_and_split_on_spaces() {
        assert_eq!(
            split_words(r#"echo "a b" c=d 'e f'"#),
            vec![r#"echo"#, r#""a b""#, "c=d", "'e f'"]
        );
        assert_eq!(unquote("'x y'"), "x y");
        assert_eq!(
            split_words("path={{ app_dir }} state=directory"),
            vec!["path={{ app_dir }}", "state=directory"]
        );
    }
}
