//! Reading template text without evaluating it: where a byte of a template
//! sits in the YAML file, whether a string is one bare `{{ expr }}`, where a
//! variable is used, and whether a use is guarded by `default` or
//! `is defined`.
//!
//! minijinja reports positions inside the template string; users need them
//! inside their playbook. For plain and quoted single-line scalars the
//! template is the scalar's text shifted by the opening quote. Otherwise
//! (escapes, folded lines, block scalars) the failing text is searched for in
//! the raw scalar, and when that is ambiguous the whole scalar is blamed.

use std::ops::Range;

use miette::SourceSpan;

use crate::yaml::{Node, ScalarStyle};

/// Maps a byte range of a scalar's string value to a span in its file.
pub(crate) fn locate(node: &Node, range: Option<Range<usize>>) -> SourceSpan {
    let whole = node.span;
    let (Some(value), Some(range)) = (node.as_str(), range) else {
        return whole;
    };
    let Some(needle) = value.get(range.clone()).filter(|n| !n.trim().is_empty()) else {
        return whole;
    };
    let raw = node.raw();
    let quote = match node.style() {
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if raw.len() >= 2 => 1,
        _ => 0,
    };
    let inner = raw.get(quote..raw.len() - quote).unwrap_or("");
    if inner == value {
        return SourceSpan::from((whole.offset() + quote + range.start, range.len()));
    }
    // The value differs from the raw text: find the same occurrence of the
    // failing text in the raw scalar, if the occurrences line up one to one.
    let in_value: Vec<usize> = value.match_indices(needle).map(|(i, _)| i).collect();
    let in_raw: Vec<usize> = raw.match_indices(needle).map(|(i, _)| i).collect();
    match in_value.iter().position(|&i| i == range.start) {
        Some(nth) if in_value.len() == in_raw.len() => {
            SourceSpan::from((whole.offset() + in_raw[nth], needle.len()))
        }
        _ => whole,
    }
}

/// The range of the expression inside a string that is exactly one
/// `{{ expr }}` (whitespace control markers allowed), which keeps its type
/// when rendered. Brackets and string literals are followed the way Jinja's
/// lexer follows them, so `{{ {'a': {'b': 1}} }}` is one expression.
pub(crate) fn single_expression(text: &str) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    if !text.starts_with("{{") {
        return None;
    }
    let start = 2 + usize::from(matches!(bytes.get(2), Some(b'-' | b'+')));
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.checked_sub(1)?,
            b'}' if depth > 0 => depth -= 1,
            b'-' if depth == 0 && text[i..].starts_with("-}}") => {
                return (i + 3 == text.len() && !text[start..i].trim().is_empty())
                    .then_some(start..i);
            }
            b'}' if text[i..].starts_with("}}") => {
                return (i + 2 == text.len() && !text[start..i].trim().is_empty())
                    .then_some(start..i);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The literal text of a template between its `{{ }}`, `{% %}` and `{# #}`
/// blocks, in order, trimmed unless only whitespace (whitespace control may
/// strip what is around them), empty parts left out.
pub(crate) fn literal_parts(source: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = source;
    loop {
        let open = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|o| rest.find(o).map(|i| (i, *o)))
            .min();
        let Some((start, opener)) = open else {
            parts.push(rest);
            break;
        };
        parts.push(&rest[..start]);
        let closer = match opener {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        match rest[start + 2..].find(closer) {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => break,
        }
    }
    // Text that is only whitespace still separates two expressions.
    parts
        .into_iter()
        .map(|p| if p.trim().is_empty() { p } else { p.trim() })
        .filter(|p| !p.is_empty())
        .collect()
}

/// For an undefined-value error at `range`, the chain of lookups around it
/// (`foo.bar['x']`) if that chain is guarded by `| default(...)`, `| d(...)`
/// or `is [not] defined/undefined`. Ansible lets `foo.bar | default('z')`
/// work when `foo` itself is undefined; minijinja's strict mode does not.
pub(crate) fn guarded_chain(source: &str, range: &Range<usize>) -> Option<Range<usize>> {
    let bytes = source.as_bytes();
    let mut start = range.start.min(bytes.len());
    // Walk back over the chain's root and any lookups before the range.
    loop {
        match start.checked_sub(1).map(|i| bytes[i]) {
            Some(b) if is_ident_byte(b) || b == b'.' => start -= 1,
            Some(b']') => start = matching_open(bytes, start - 1)?,
            _ => break,
        }
    }
    if !bytes
        .get(start)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return None;
    }
    let end = chain_end(bytes, range.end.clamp(start, bytes.len()));
    if end - start < 2 || !is_guarded(source.get(end..)?) {
        return None;
    }
    Some(start..end)
}

/// Where a chain of `.name` and `[...]` lookups starting before `pos` ends.
pub(crate) fn chain_end(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        match bytes.get(pos) {
            Some(b) if is_ident_byte(*b) => pos += 1,
            Some(b'.') if bytes.get(pos + 1).is_some_and(|b| is_ident_byte(*b)) => pos += 1,
            Some(b'[') => match matching_close(bytes, pos) {
                Some(close) => pos = close + 1,
                None => return pos,
            },
            _ => return pos,
        }
    }
}

/// Whether the text after a chain applies `default`/`d` or tests
/// `defined`/`undefined` to it.
pub(crate) fn is_guarded(after: &str) -> bool {
    // `(foo.bar) is defined` guards the chain as well.
    let rest = after.trim_start_matches(|c: char| c == ')' || c.is_whitespace());
    if let Some(filter) = rest.strip_prefix('|') {
        let name = leading_ident(filter.trim_start());
        return name == "default" || name == "d";
    }
    if let Some(test) = rest.strip_prefix("is")
        && test.starts_with(char::is_whitespace)
    {
        let test = test.trim_start();
        let test = match test.strip_prefix("not") {
            Some(t) if t.starts_with(char::is_whitespace) => t.trim_start(),
            _ => test,
        };
        let name = leading_ident(test);
        return name == "defined" || name == "undefined";
    }
    false
}

fn leading_ident(text: &str) -> &str {
    let end = text
        .bytes()
        .position(|b| !is_ident_byte(b))
        .unwrap_or(text.len());
    &text[..end]
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn matching_open(bytes: &[u8], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in (0..=close).rev() {
        match bytes[i] {
            b']' => depth += 1,
            b'[' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn matching_close(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// One place a name is used as a variable in template code.
pub(crate) struct Use {
    pub(crate) range: Range<usize>,
    /// Whether this use is guarded by `default` or `is defined`.
    pub(crate) guarded: bool,
}

/// Every use of `name` as a variable (not as an attribute, keyword argument,
/// filter or test name, nor inside a string literal). `expression` says the
/// whole text is code; otherwise only `{{ }}` and `{% %}` blocks are.
pub(crate) fn uses_of(text: &str, name: &str, expression: bool) -> Vec<Use> {
    let mut uses = Vec::new();
    for code in code_regions(text, expression) {
        scan_code(text, code, name, &mut uses);
    }
    uses
}

fn code_regions(text: &str, expression: bool) -> Vec<Range<usize>> {
    if expression {
        return std::iter::once(0..text.len()).collect();
    }
    let mut regions = Vec::new();
    let mut pos = 0;
    while let Some(found) = text[pos..].find('{') {
        let open = pos + found;
        let close = match text.get(open + 1..open + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            Some("#") => "#}",
            _ => {
                pos = open + 1;
                continue;
            }
        };
        let body = open + 2;
        let end = text[body..].find(close).map_or(text.len(), |i| body + i);
        if close != "#}" {
            regions.push(body..end);
        }
        pos = (end + 2).min(text.len());
    }
    regions
}

fn scan_code(text: &str, code: Range<usize>, name: &str, uses: &mut Vec<Use>) {
    let bytes = text.as_bytes();
    let mut i = code.start;
    while i < code.end {
        let b = bytes[i];
        if b == b'\'' || b == b'"' {
            // Skip a string literal, honouring backslash escapes.
            i += 1;
            while i < code.end && bytes[i] != b {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if !(b.is_ascii_alphabetic() || b == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < code.end && is_ident_byte(bytes[i]) {
            i += 1;
        }
        if &text[start..i] != name {
            continue;
        }
        let before = text[code.start..start].trim_end();
        let after = text[i..code.end].trim_start();
        let attribute = before.ends_with('.');
        let filter_or_test = before.ends_with('|')
            || before.ends_with(" is")
            || before.ends_with(" is not")
            || before == "is";
        let keyword_arg = after.starts_with('=') && !after.starts_with("==");
        if attribute || filter_or_test || keyword_arg {
            continue;
        }
        let end = chain_end(bytes, i).min(code.end);
        uses.push(Use {
            range: start..i,
            guarded: is_guarded(&text[end..code.end]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use crate::yaml;

    fn scalar(text: &str) -> Node {
        let src = SourceFile::new("t.yml", text);
        let doc = yaml::parse(&src).expect("test YAML parses");
        doc.get("v").expect("key v").clone()
    }

    fn located(text: &str, value_range: Range<usize>) -> String {
        let node = scalar(text);
        let span = locate(&node, Some(value_range));
        node.src.slice(span).to_string()
    }

    #[test]
    fn locates_in_plain_and_quoted_scalars() {
        assert_eq!(located("v: a {{ x }}\n", 5..6), "x");
        assert_eq!(located("v: 'a {{ x }}'\n", 5..6), "x");
        assert_eq!(located("v: \"a {{ x }}\"\n", 5..6), "x");
    }

    #[test]
    fn locates_by_search_in_escaped_and_block_scalars() {
        assert_eq!(located("v: \"\\t{{ x }}\"\n", 4..5), "x");
        assert_eq!(located("v: |\n  line\n  {{ nope }}\n", 8..12), "nope");
        assert_eq!(located("v: \"\\t{{ x }} {{ x }}\"\n", 12..13), "x");
        // Ambiguous (the escape `\x41` holds an `x` too): blame the whole scalar.
        assert_eq!(located("v: \"\\x41{{ x }}\"\n", 4..5), "\"\\x41{{ x }}\"");
    }

    #[test]
    fn single_expressions() {
        assert_eq!(single_expression("{{ ports }}"), Some(2..9));
        assert_eq!(single_expression("{{- x -}}"), Some(3..6));
        assert_eq!(single_expression("{{ a }}-{{ b }}"), None);
        assert_eq!(single_expression(" {{ a }}"), None);
        assert_eq!(single_expression("{{ }}"), None);
        assert_eq!(single_expression("{{ {'a': {'b': 1}} }}"), Some(2..19));
        assert_eq!(single_expression("{{ '}}' }}"), Some(2..8));
        assert_eq!(single_expression("{{ a }}{% if b %}{% endif %}"), None);
    }

    #[test]
    fn guarded_chains() {
        let src = "{{ foo.bar['x'].baz | default('z') }}";
        assert_eq!(guarded_chain(src, &(3..10)), Some(3..19));
        let src = "{{ d.missing.x is not defined }}";
        assert_eq!(guarded_chain(src, &(4..14)), Some(3..14));
        assert_eq!(guarded_chain("{{ foo.bar }}", &(3..10)), None);
        assert_eq!(guarded_chain("{{ foo.bar | upper }}", &(3..10)), None);
    }

    #[test]
    fn finds_variable_uses_but_not_attributes_or_strings() {
        let text = "{{ x.nope }} {{ 'nope' }} {{ nope | default(1) }} {{ f(nope=1) }} {{ nope }}";
        let uses = uses_of(text, "nope", false);
        let found: Vec<_> = uses.iter().map(|u| (u.range.clone(), u.guarded)).collect();
        assert_eq!(found, vec![(29..33, true), (69..73, false)]);
    }
}
