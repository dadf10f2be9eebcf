//! Host patterns, for a play's `hosts:` and for `--limit`.
//!
//! A pattern is a list of terms separated by `,` (or `:`): host names,
//! group names, `all` or `*`, shell globs (`web*`, `*.example.com`),
//! regular expressions (`~web\d+`), each optionally prefixed by `&`
//! (intersection) or `!` (exclusion) and suffixed by a subscript (`web[0]`,
//! `web[1:3]`, `web[-1]`). Selection follows Ansible's `InventoryManager`
//! step for step: plain terms first, then `&` terms, then `!` terms; a group
//! contributes its hosts and its children's; a glob may match groups and
//! hosts alike; `localhost` works without being in the inventory. The
//! resulting order is Ansible's (term by term, each group in its own order),
//! which is the definition order for the common single-group pattern.
//!
//! Ansible warns about a term that matches nothing and carries on; here the
//! caller gets those terms as `InputError`s (`Inventory::unknown_names`),
//! with a suggestion, and decides whether they are fatal.

use std::collections::HashSet;
use std::fmt;

use miette::SourceSpan;
use regex::Regex;

use super::{Inventory, LOCALHOST_NAMES, hostrange};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::suggest::did_you_mean;
use crate::yaml::{Node, ScalarStyle, Value};

/// A parsed host pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    /// In evaluation order: plain terms, then `&` terms, then `!` terms.
    terms: Vec<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone)]
struct Term {
    op: Op,
    /// The term as written, operator included; Ansible checks it against
    /// host names before anything else.
    raw: String,
    /// The term without operator and subscript.
    expr: String,
    matcher: Matcher,
    subscript: Option<Subscript>,
    /// The term's text in its file, for messages. `None` for the implicit
    /// `all` that a pattern of only `&`/`!` terms starts from.
    at: Option<Node>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    /// A shell glob or a `~` regular expression.
    Regex(Regex),
}

/// `[i]` (a single host, negative counts from the end) or `[start:end]`
/// (inclusive; an empty end means the last host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Subscript {
    start: i64,
    end: Option<i64>,
}

impl Pattern {
    /// Parses a pattern. `at` is the YAML node it was written in (a play's
    /// `hosts:`), so errors can underline the exact term; without it (a
    /// command-line `--limit`), errors show the pattern on its own. To name
    /// that source in messages, wrap the text in a node of a
    /// `SourceFile::new("--limit", text)`.
    pub fn parse(text: &str, at: Option<&Node>) -> Result<Pattern, InputError> {
        let owned;
        let node = match at {
            Some(node) => node,
            None => {
                let src = SourceFile::new("pattern", text);
                owned = Node::new(
                    Value::Str(text.to_string()),
                    SourceSpan::from((0, text.len())),
                    &src,
                );
                &owned
            }
        };
        let terms = parse_terms(text, node)?;
        Pattern::from_terms(text.to_string(), terms, node)
    }

    /// Parses a play's `hosts:` value: a pattern string, or a list of them
    /// (which Ansible treats as one pattern joined with `,`).
    pub fn from_node(node: &Node) -> Result<Pattern, InputError> {
        match &node.value {
            Value::Seq(items) => {
                let mut terms = Vec::new();
                let mut texts = Vec::new();
                for item in items {
                    let Some(text) = item.scalar_text().filter(|_| !item.is_null()) else {
                        return Err(InputError::at(item, "a host pattern must be a string")
                            .with_label(format!("found {}", item.kind()))
                            .with_help("list host or group names, such as `- webservers`"));
                    };
                    terms.extend(parse_terms(&text, item)?);
                    texts.push(text);
                }
                Pattern::from_terms(texts.join(","), terms, node)
            }
            Value::Map(_) | Value::Null => {
                Err(InputError::at(node, "`hosts` must be a host pattern")
                    .with_label(format!(
                        "expected a string or a list, found {}",
                        node.kind()
                    ))
                    .with_help("name a group or host, `all`, or a pattern such as `web:&prod`"))
            }
            _ => {
                let text = node.scalar_text().unwrap_or_default();
                Pattern::parse(&text, Some(node))
            }
        }
    }

    /// Every host (`all`).
    pub fn all() -> Pattern {
        let src = SourceFile::new("pattern", "all");
        let node = Node::new(Value::Str("all".into()), SourceSpan::from((0, 3)), &src);
        Pattern {
            text: "all".to_string(),
            terms: vec![Term::implicit_all(Some(node))],
        }
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn from_terms(text: String, terms: Vec<Term>, node: &Node) -> Result<Pattern, InputError> {
        if terms.is_empty() {
            return Err(InputError::at(node, "the host pattern is empty")
                .with_label("expected a host, a group or a pattern")
                .with_help("use `all` for every host of the inventory"));
        }
        // Ansible applies plain terms, then intersections, then exclusions,
        // whatever order they were written in; with no plain term, it starts
        // from `all`.
        let mut ordered: Vec<Term> = Vec::with_capacity(terms.len() + 1);
        if terms.iter().all(|t| t.op != Op::Union) {
            ordered.push(Term::implicit_all(None));
        }
        for op in [Op::Union, Op::Intersect, Op::Exclude] {
            ordered.extend(terms.iter().filter(|t| t.op == op).cloned());
        }
        Ok(Pattern {
            text,
            terms: ordered,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Term {
    fn implicit_all(at: Option<Node>) -> Term {
        Term {
            op: Op::Union,
            raw: "all".to_string(),
            expr: "all".to_string(),
            matcher: Matcher::Exact,
            subscript: None,
            at,
        }
    }
}

/// Splits one pattern string into terms, with nodes spanning each term.
fn parse_terms(text: &str, node: &Node) -> Result<Vec<Term>, InputError> {
    // Where `text` starts in the file, when the node shows it verbatim;
    // otherwise (escapes, block scalars) terms underline the whole node.
    let base = match node.style() {
        ScalarStyle::Plain if node.raw() == text => Some(node.span.offset()),
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
            if node.raw().get(1..node.raw().len().saturating_sub(1)) == Some(text) =>
        {
            Some(node.span.offset() + 1)
        }
        _ => None,
    };
    let at = |from: usize, to: usize, part: &str| -> Node {
        let span = match base {
            Some(base) => SourceSpan::from((base + from, to - from)),
            None => node.span,
        };
        Node::new(Value::Str(part.to_string()), span, &node.src)
    };
    if let Some((at_byte, c)) = unbalanced_bracket(text) {
        let len = c.len_utf8();
        return Err(InputError::at(
            &at(at_byte, at_byte + len, &c.to_string()),
            format!("`{text}` is not a valid host pattern: `{c}` is not closed or opened"),
        )
        .with_label(if c == '[' { "never closed" } else { "never opened" })
        .with_help("a subscript is `group[0]` or `group[0:2]`; `~` starts a regular expression such as `~web[0-9]+`"));
    }
    let mut terms = Vec::new();
    for (start, end) in split_terms(text) {
        let raw = &text[start..end];
        let (op, body_start) = match raw.as_bytes().first() {
            Some(b'&') => (Op::Intersect, 1),
            Some(b'!') => (Op::Exclude, 1),
            _ => (Op::Union, 0),
        };
        let body = &raw[body_start..];
        let body_at = at(start + body_start, end, body);
        if body.is_empty() {
            return Err(InputError::at(
                &at(start, end, raw),
                format!("`{raw}` names no host or group"),
            )
            .with_label("expected a name after the operator")
            .with_help("write `&group` to intersect or `!group` to exclude"));
        }
        let (expr, subscript) = split_subscript(body);
        let matcher = matcher(expr, &body_at)?;
        terms.push(Term {
            op,
            raw: raw.to_string(),
            expr: expr.to_string(),
            matcher,
            subscript,
            at: Some(body_at),
        });
    }
    Ok(terms)
}

/// The first `[` without its `]` (or `]` without its `[`), with its byte
/// offset. Ansible would read such a pattern as something else entirely
/// (`ucp[0` as `ucp` and `0`, `~[` as "every host").
fn unbalanced_bracket(text: &str) -> Option<(usize, char)> {
    let mut open: Vec<usize> = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '[' => open.push(i),
            ']' if open.pop().is_none() => return Some((i, ']')),
            _ => {}
        }
    }
    open.first().map(|&i| (i, '['))
}

/// Ansible's `split_host_pattern`: commas separate terms; without commas, a
/// valid address (`fe80::1`, `web[1:3]`) is one term, and anything else is
/// split at `:` outside brackets (and at whitespace). Returns byte ranges of
/// the trimmed terms.
fn split_terms(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if text.contains(',') {
        let mut start = 0;
        for part in text.split(',') {
            let lead = part.len() - part.trim_start().len();
            let trimmed = part.trim();
            if !trimmed.is_empty() {
                out.push((start + lead, start + lead + trimmed.len()));
            }
            start += part.len() + 1;
        }
        return out;
    }
    if hostrange::parse_address(text).is_some() {
        let lead = text.len() - text.trim_start().len();
        out.push((lead, lead + text.trim().len()));
        return out;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut current: Option<usize> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'[' {
            if let Some(close) = text[i..].find(']') {
                current.get_or_insert(i);
                i += close + 1;
                continue;
            }
        }
        if c == b':' || c == b'[' || c == b']' || c.is_ascii_whitespace() {
            if let Some(start) = current.take() {
                out.push((start, i));
            }
        } else {
            current.get_or_insert(i);
        }
        i += 1;
    }
    if let Some(start) = current {
        out.push((start, bytes.len()));
    }
    out
}

/// Splits a trailing `[i]` / `[start:end]` off a term (not off a `~`
/// regex, where brackets are regex syntax).
fn split_subscript(body: &str) -> (&str, Option<Subscript>) {
    match parse_subscript(body) {
        Some((base, sub)) => (base, Some(sub)),
        None => (body, None),
    }
}

/// Ansible's `^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`.
fn parse_subscript(body: &str) -> Option<(&str, Subscript)> {
    if body.starts_with('~') {
        return None;
    }
    let inside = body.strip_suffix(']')?;
    let open = inside.rfind('[')?;
    let (base, inner) = (&inside[..open], &inside[open + 1..]);
    if base.is_empty() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(inner.strip_prefix('-').unwrap_or(inner)) {
        let start = inner.parse().ok()?;
        return Some((base, Subscript { start, end: None }));
    }
    let (start, end) = inner.split_once([':', '-'])?;
    if !digits(start) || !(end.is_empty() || digits(end)) {
        return None;
    }
    let start = start.parse().ok()?;
    let end: i64 = if end.is_empty() {
        -1
    } else {
        end.parse().ok()?
    };
    // Ansible reads `[x:0]` as the single host `x` (0 is "no end").
    let end = (end != 0).then_some(end);
    Some((base, Subscript { start, end }))
}

fn matcher(expr: &str, at: &Node) -> Result<Matcher, InputError> {
    if let Some(re) = expr.strip_prefix('~') {
        // Python's `re.match`: anchored at the start only.
        return Regex::new(&format!("^(?:{re})")).map(Matcher::Regex).map_err(|err| {
            InputError::at(at, format!("`{expr}` is not a valid regular expression"))
                .with_label(first_line(&err.to_string()))
                .with_help("a `~` pattern is a regular expression matched against host and group names")
        });
    }
    if expr.contains(['*', '?', '[']) {
        return Regex::new(&glob_to_regex(expr))
            .map(Matcher::Regex)
            .map_err(|err| {
                InputError::at(at, format!("`{expr}` is not a valid pattern"))
                    .with_label(first_line(&err.to_string()))
                    .with_help(
                        "`*` matches any text, `?` one character, `[abc]` one of those characters",
                    )
            });
    }
    Ok(Matcher::Exact)
}

fn first_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`, the rest
/// literal, matching the whole name.
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^(?:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                    continue;
                }
                let body: String = chars[i..j].iter().collect();
                i = j + 1;
                let (negate, body) = match body.strip_prefix('!') {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, body),
                };
                out.push('[');
                if negate {
                    out.push('^');
                }
                for (k, ch) in body.chars().enumerate() {
                    match ch {
                        // Special inside a regex class, literal in a glob.
                        '\\' | '[' | ']' | '&' | '~' => {
                            out.push('\\');
                            out.push(ch);
                        }
                        '^' if k == 0 && !negate => out.push_str("\\^"),
                        _ => out.push(ch),
                    }
                }
                out.push(']');
            }
            _ => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push_str(")$");
    out
}

/// What one term matched.
struct TermMatch<'a> {
    hosts: Vec<&'a str>,
    matched_groups: bool,
    /// A single-host subscript past the end (`web[5]` of two hosts).
    out_of_range: bool,
}

impl Inventory {
    /// The names of the hosts a pattern selects, in Ansible's order, without
    /// duplicates. `localhost` may be among them without being in the
    /// inventory (see `host`).
    pub fn select(&self, pattern: &Pattern) -> Vec<String> {
        self.evaluate(pattern)
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// `select`, then keep only the hosts `limit` also selects (`--limit`),
    /// in the pattern's order.
    pub fn select_limited(&self, pattern: &Pattern, limit: Option<&Pattern>) -> Vec<String> {
        let hosts = self.evaluate(pattern);
        let Some(limit) = limit else {
            return hosts.into_iter().map(String::from).collect();
        };
        let allowed: HashSet<&str> = self.evaluate(limit).into_iter().collect();
        hosts
            .into_iter()
            .filter(|h| allowed.contains(h))
            .map(String::from)
            .collect()
    }

    /// The terms of a pattern that match no host and no group (Ansible's
    /// "Could not match supplied host pattern" warning), and subscripts past
    /// the end of what they index, as errors pointing at each term.
    pub fn unknown_names(&self, pattern: &Pattern) -> Vec<InputError> {
        let mut errors = Vec::new();
        for term in &pattern.terms {
            let Some(at) = &term.at else {
                continue;
            };
            if term.op == Op::Union && self.hosts.contains_key(&term.raw) {
                continue;
            }
            let found = self.match_term(term);
            if found.out_of_range {
                let count = self
                    .match_term(&Term {
                        subscript: None,
                        ..term.clone()
                    })
                    .hosts
                    .len();
                errors.push(
                    InputError::at(
                        at,
                        format!("`{}` is past the end of `{}`", term_body(term), term.expr),
                    )
                    .with_label(format!(
                        "`{}` matches {count} host{}",
                        term.expr,
                        plural(count)
                    ))
                    .with_help(format!(
                        "indexes start at 0; `{}[-1]` is the last host",
                        term.expr
                    )),
                );
                continue;
            }
            if !found.hosts.is_empty() || found.matched_groups || term.expr == "all" {
                continue;
            }
            let err = match term.matcher {
                Matcher::Exact => {
                    let names = self
                        .groups
                        .keys()
                        .chain(self.hosts.keys())
                        .map(String::as_str);
                    let help = did_you_mean(&term.expr, names).unwrap_or_else(|| {
                        "check the spelling, or add the host or group to the inventory".to_string()
                    });
                    InputError::at(at, format!("no host or group is named `{}`", term.expr))
                        .with_label("not in the inventory")
                        .with_help(help)
                }
                Matcher::Regex(_) => InputError::at(
                    at,
                    format!("`{}` matches no host or group", term.expr),
                )
                .with_label("matches nothing in the inventory")
                .with_help(
                    "check the pattern against the inventory's names (`dtrplay inventory --list`)",
                ),
            };
            errors.push(err);
        }
        errors
    }

    fn evaluate(&self, pattern: &Pattern) -> Vec<&str> {
        let mut hosts: Vec<&str> = Vec::new();
        for term in &pattern.terms {
            // Like Ansible, a plain term that is exactly a host name is that
            // host, even if a group has the same name.
            if term.op == Op::Union
                && let Some((name, _)) = self.hosts.get_key_value(&term.raw)
            {
                hosts.push(name);
                continue;
            }
            let that = self.match_term(term).hosts;
            match term.op {
                Op::Exclude => {
                    let that: HashSet<&str> = that.into_iter().collect();
                    hosts.retain(|h| !that.contains(h));
                }
                Op::Intersect => {
                    let that: HashSet<&str> = that.into_iter().collect();
                    hosts.retain(|h| that.contains(h));
                }
                Op::Union => {
                    let existing: HashSet<&str> = hosts.iter().copied().collect();
                    hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
                }
            }
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(*h));
        hosts
    }

    /// Ansible's `_match_one_pattern` for one term, operator ignored.
    fn match_term(&self, term: &Term) -> TermMatch<'_> {
        let expr = term.expr.as_str();
        let groups: Vec<&str> = match &term.matcher {
            Matcher::Exact => self
                .groups
                .get_key_value(expr)
                .map(|(k, _)| k.as_str())
                .into_iter()
                .collect(),
            Matcher::Regex(re) => self
                .groups
                .keys()
                .filter(|g| re.is_match(g))
                .map(String::as_str)
                .collect(),
        };
        let mut hosts: Vec<&str> = Vec::new();
        for g in &groups {
            hosts.extend(self.group_hosts(g));
        }
        let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            match &term.matcher {
                Matcher::Exact => {
                    hosts.extend(self.hosts.get_key_value(expr).map(|(k, _)| k.as_str()))
                }
                Matcher::Regex(re) => hosts.extend(
                    self.hosts
                        .keys()
                        .filter(|h| re.is_match(h))
                        .map(String::as_str),
                ),
            }
        }
        if hosts.is_empty()
            && LOCALHOST_NAMES.contains(&expr)
            && let Some(local) = self.localhost(expr)
        {
            hosts.push(local);
        }
        let mut out_of_range = false;
        if let Some(sub) = term.subscript
            && !hosts.is_empty()
        {
            match apply_subscript(&hosts, sub) {
                Some(picked) => hosts = picked,
                None => {
                    hosts.clear();
                    out_of_range = true;
                }
            }
        }
        TermMatch {
            hosts,
            matched_groups: !groups.is_empty(),
            out_of_range,
        }
    }

    /// The host a localhost name stands for: the first localhost-like host
    /// the inventory defines, or else the implicit one of that name.
    fn localhost(&self, name: &str) -> Option<&str> {
        self.hosts
            .keys()
            .find(|h| LOCALHOST_NAMES.contains(&h.as_str()))
            .map(String::as_str)
            .or_else(|| {
                self.implicit
                    .iter()
                    .find(|h| h.name == name)
                    .map(|h| h.name.as_str())
            })
    }
}

/// Python list indexing and inclusive slicing; `None` for a single index
/// out of range (Ansible's "No hosts matched the subscripted pattern").
fn apply_subscript<'a>(hosts: &[&'a str], sub: Subscript) -> Option<Vec<&'a str>> {
    let len = i64::try_from(hosts.len()).unwrap_or(i64::MAX);
    let at = |i: i64| usize::try_from(i).ok().and_then(|i| hosts.get(i).copied());
    match sub.end {
        None => {
            let i = if sub.start < 0 {
                len + sub.start
            } else {
                sub.start
            };
            at(i).map(|h| vec![h])
        }
        Some(end) => {
            let end = if end == -1 { len - 1 } else { end };
            let from = sub.start.clamp(0, len);
            let to = (end + 1).clamp(from, len);
            Some((from..to).filter_map(at).collect())
        }
    }
}

fn term_body(term: &Term) -> &str {
    term.raw.trim_start_matches(['&', '!'])
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_on_commas_or_colons_outside_brackets() {
        let texts = |t: &str| -> Vec<String> {
            split_terms(t)
                .into_iter()
                .map(|(a, b)| t[a..b].to_string())
                .collect()
        };
        assert_eq!(texts("web:&prod:!web3"), ["web", "&prod", "!web3"]);
        assert_eq!(texts("a, b[1] ,c[2:3]"), ["a", "b[1]", "c[2:3]"]);
        assert_eq!(texts("web[1:3]:db"), ["web[1:3]", "db"]);
        assert_eq!(texts("fe80::1"), ["fe80::1"]);
        assert_eq!(texts("web*"), ["web*"]);
    }

    #[test]
    fn subscripts_follow_ansible() {
        assert_eq!(
            split_subscript("web[0]"),
            (
                "web",
                Some(Subscript {
                    start: 0,
                    end: None
                })
            )
        );
        assert_eq!(
            split_subscript("web[-1]"),
            (
                "web",
                Some(Subscript {
                    start: -1,
                    end: None
                })
            )
        );
        assert_eq!(
            split_subscript("web[1:3]"),
            (
                "web",
                Some(Subscript {
                    start: 1,
                    end: Some(3)
                })
            )
        );
        assert_eq!(
            split_subscript("web[1:]"),
            (
                "web",
                Some(Subscript {
                    start: 1,
                    end: Some(-1)
                })
            )
        );
        assert_eq!(split_subscript("web[ab]"), ("web[ab]", None));
        assert_eq!(split_subscript("~web[0]"), ("~web[0]", None));
    }

    #[test]
    fn globs_translate_like_fnmatch() {
        let matches = |glob: &str, name: &str| {
            Regex::new(&glob_to_regex(glob)).is_ok_and(|re| re.is_match(name))
        };
        assert!(matches("web*", "web01"));
        assert!(!matches("web*", "dbweb"));
        assert!(matches("*.example.com", "a.example.com"));
        assert!(!matches("*.example.com", "a.example.org"));
        assert!(matches("db[12]", "db2"));
        assert!(!matches("db[!12]", "db2"));
        assert!(matches("n?de", "node"));
        assert!(matches("odd[", "odd["));
    }

    #[test]
    fn slices_are_inclusive_and_clamped() {
        let hosts = ["a", "b", "c"];
        let sub = |start, end| Subscript { start, end };
        assert_eq!(
            apply_subscript(&hosts, sub(1, Some(-1))),
            Some(vec!["b", "c"])
        );
        assert_eq!(
            apply_subscript(&hosts, sub(0, Some(5))),
            Some(vec!["a", "b", "c"])
        );
        assert_eq!(apply_subscript(&hosts, sub(-1, None)), Some(vec!["c"]));
        assert_eq!(apply_subscript(&hosts, sub(3, None)), None);
    }
}
