//! The filters, tests and lookups a template names, found without running
//! it, so that `validate` can refuse a name dtrplay does not have
//! (`| uppr`, `is ipaddr`, `lookup('pipe', ...)`) before any host is
//! contacted, at the name and with "did you mean".
//!
//! minijinja only notices an unknown filter or test when the template runs,
//! and its parser is not public, so the names are read with a small
//! scanner over the template's code: the inside of `{{ }}` and `{% %}`
//! (comments, `raw` blocks and the text around tags are not code), with
//! string literals skipped. A filter is the name after `|`, a test the
//! name after `is` or `is not`, a lookup the string literal that starts
//! the arguments of `lookup(`, `query(` or `q(`.

use std::ops::Range;

/// What a name is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Filter,
    Test,
    Lookup,
}

impl NameKind {
    pub fn noun(self) -> &'static str {
        match self {
            NameKind::Filter => "filter",
            NameKind::Test => "test",
            NameKind::Lookup => "lookup plugin",
        }
    }
}

/// One use of a filter, test or lookup: its name and the range of the name
/// in the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameUse {
    pub kind: NameKind,
    pub name: String,
    pub range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(u8),
}

/// Every filter, test and lookup `code` names, in order. `expression` says
/// that the whole text is one expression (a `when:`), not a template.
pub fn uses(code: &str, expression: bool) -> Vec<NameUse> {
    let mut found = Vec::new();
    if expression {
        scan(code, 0..code.len(), &mut found);
        return found;
    }
    for region in code_regions(code) {
        scan(code, region, &mut found);
    }
    found
}

/// The byte ranges of a template's code: inside `{{ }}` and `{% %}`, with
/// comments and `{% raw %}` blocks left out.
fn code_regions(text: &str) -> Vec<Range<usize>> {
    let mut regions = Vec::new();
    let mut at = 0;
    let mut raw = false;
    while let Some(found) = text[at..].find('{') {
        let open = at + found;
        let close = match text.as_bytes().get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                at = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let Some(len) = text[start..].find(close) else {
            break;
        };
        let inner = start..start + len;
        at = inner.end + 2;
        let words: Vec<&str> = text[inner.clone()]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace())
            .split_whitespace()
            .collect();
        if close == "%}" {
            match words.first() {
                Some(&"raw") => raw = true,
                Some(&"endraw") => raw = false,
                _ => {}
            }
        }
        if !raw && close != "#}" {
            regions.push(inner);
        }
    }
    regions
}

/// Scans one region of code and adds the names it uses.
fn scan(text: &str, region: Range<usize>, found: &mut Vec<NameUse>) {
    let tokens = tokens(text, region);
    for (i, (token, _)) in tokens.iter().enumerate() {
        let next = |k: usize| tokens.get(i + k);
        let previous = i.checked_sub(1).and_then(|p| tokens.get(p));
        match token {
            Token::Punct(b'|') => {
                if let Some((name, at)) = dotted(&tokens[i + 1..]) {
                    found.push(NameUse {
                        kind: NameKind::Filter,
                        name,
                        range: at,
                    });
                }
            }
            Token::Ident(word) if word == "is" => {
                let after = match next(1) {
                    Some((Token::Ident(not), _)) if not == "not" => i + 2,
                    _ => i + 1,
                };
                if let Some((name, at)) = dotted(tokens.get(after..).unwrap_or(&[])) {
                    found.push(NameUse {
                        kind: NameKind::Test,
                        name,
                        range: at,
                    });
                }
            }
            Token::Ident(word)
                if matches!(word.as_str(), "lookup" | "query" | "q")
                    && !matches!(previous, Some((Token::Punct(b'.'), _))) =>
            {
                if let (Some((Token::Punct(b'('), _)), Some((Token::Str(name), at))) =
                    (next(1), next(2))
                {
                    found.push(NameUse {
                        kind: NameKind::Lookup,
                        name: name.clone(),
                        // The name inside its quotes.
                        range: at.start + 1..at.end.saturating_sub(1).max(at.start + 1),
                    });
                }
            }
            _ => {}
        }
    }
}

/// The name at the start of `tokens`, with its collection prefix when it
/// has one (`ansible.utils.ipaddr`), and the range it spans.
fn dotted(tokens: &[(Token, Range<usize>)]) -> Option<(String, Range<usize>)> {
    let Some((Token::Ident(first), at)) = tokens.first() else {
        return None;
    };
    let mut name = first.clone();
    let mut range = at.clone();
    let mut rest = &tokens[1..];
    while let [
        (Token::Punct(b'.'), dot),
        (Token::Ident(part), part_at),
        tail @ ..,
    ] = rest
    {
        if dot.start != range.end || part_at.start != dot.end {
            break;
        }
        name.push('.');
        name.push_str(part);
        range.end = part_at.end;
        rest = tail;
    }
    Some((name, range))
}

/// The tokens of a region: names, string literals (their range includes
/// the quotes) and single punctuation bytes; whitespace and numbers are
/// dropped.
fn tokens(text: &str, region: Range<usize>) -> Vec<(Token, Range<usize>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = region.start;
    while i < region.end {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'\'' || b == b'"' {
            let start = i;
            i += 1;
            let mut value = Vec::new();
            while i < region.end && bytes[i] != b {
                if bytes[i] == b'\\' && i + 1 < region.end {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
            i = (i + 1).min(region.end);
            out.push((
                Token::Str(String::from_utf8_lossy(&value).into_owned()),
                start..i,
            ));
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < region.end && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Token::Ident(text[start..i].to_string()), start..i));
        } else if b.is_ascii_digit() {
            while i < region.end && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
        } else {
            out.push((Token::Punct(b), i..i + 1));
            i += 1;
        }
    }
    out
}

/// The filter names people write (Jinja's and Ansible's), as candidates
/// for "did you mean": those the engine has are offered.
pub const FILTER_WORDS: &[&str] = &[
    "abs",
    "attr",
    "b64decode",
    "b64encode",
    "basename",
    "batch",
    "bool",
    "capitalize",
    "center",
    "checksum",
    "combine",
    "comment",
    "count",
    "d",
    "default",
    "dict2items",
    "dictsort",
    "difference",
    "dirname",
    "e",
    "escape",
    "expanduser",
    "expandvars",
    "extract",
    "fileglob",
    "filesizeformat",
    "first",
    "flatten",
    "float",
    "format",
    "from_json",
    "from_yaml",
    "from_yaml_all",
    "groupby",
    "hash",
    "human_readable",
    "human_to_bytes",
    "indent",
    "int",
    "intersect",
    "ipaddr",
    "ipv4",
    "ipv6",
    "ipwrap",
    "items",
    "items2dict",
    "join",
    "last",
    "length",
    "list",
    "log",
    "lower",
    "mandatory",
    "map",
    "max",
    "md5",
    "min",
    "password_hash",
    "path_join",
    "pow",
    "pprint",
    "quote",
    "random",
    "realpath",
    "regex_escape",
    "regex_findall",
    "regex_replace",
    "regex_search",
    "reject",
    "rejectattr",
    "relpath",
    "replace",
    "reverse",
    "root",
    "round",
    "safe",
    "select",
    "selectattr",
    "sha1",
    "shuffle",
    "slice",
    "sort",
    "split",
    "splitext",
    "string",
    "strftime",
    "subelements",
    "sum",
    "symmetric_difference",
    "ternary",
    "title",
    "to_datetime",
    "to_json",
    "to_nice_json",
    "to_nice_yaml",
    "to_uuid",
    "to_yaml",
    "tojson",
    "trim",
    "truncate",
    "type_debug",
    "union",
    "unique",
    "upper",
    "urlencode",
    "urlsplit",
    "wordcount",
    "wordwrap",
    "zip",
    "zip_longest",
];

/// The test names people write, as candidates for "did you mean".
pub const TEST_WORDS: &[&str] = &[
    "abs",
    "all",
    "any",
    "boolean",
    "callable",
    "change",
    "changed",
    "contains",
    "defined",
    "directory",
    "divisibleby",
    "eq",
    "equalto",
    "escaped",
    "even",
    "exists",
    "failed",
    "false",
    "falsy",
    "file",
    "filter",
    "finished",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "link",
    "lower",
    "lt",
    "mapping",
    "match",
    "mount",
    "ne",
    "none",
    "number",
    "odd",
    "regex",
    "same_file",
    "sameas",
    "search",
    "sequence",
    "skip",
    "skipped",
    "started",
    "string",
    "subset",
    "succeeded",
    "success",
    "superset",
    "true",
    "truthy",
    "undefined",
    "upper",
    "vault_encrypted",
    "version",
    "version_compare",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(code: &str, expression: bool) -> Vec<(NameKind, String)> {
        uses(code, expression)
            .into_iter()
            .map(|u| (u.kind, u.name))
            .collect()
    }

    #[test]
    fn filters_tests_and_lookups_are_found_outside_strings() {
        assert_eq!(
            names("a {{ x | uppr }} '|b' {{ 'y|z' | trim }}", false),
            [
                (NameKind::Filter, "uppr".to_string()),
                (NameKind::Filter, "trim".to_string())
            ]
        );
        assert_eq!(
            names("x is not ipaddr and lookup('pipe', 'ls')", true),
            [
                (NameKind::Test, "ipaddr".to_string()),
                (NameKind::Lookup, "pipe".to_string())
            ]
        );
        assert!(names("{# x | nope #}{% raw %}{{ x | nope }}{% endraw %}", false).is_empty());
        assert_eq!(
            names("{{ ip | ansible.utils.ipaddr('address') }}", false),
            [(NameKind::Filter, "ansible.utils.ipaddr".to_string())]
        );
        let found = uses("{{ lookup('env', 'HOME') }}", false);
        assert_eq!(found[0].range, 11..14);
    }
}
