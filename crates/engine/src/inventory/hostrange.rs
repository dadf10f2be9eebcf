//! Host names as inventories write them: `name:port` suffixes and
//! `[begin:end:step]` ranges (`node[01:20]`, `rack[a:c]-db`).
//!
//! These follow Ansible's `parse_address` and `expand_hostname_range`
//! exactly, including their quirks (a port is split off only when what is
//! left is a valid host name or address; leading zeros set the width), so an
//! inventory expands to the same hosts in both tools. One difference: a range
//! that expands to nothing (`[5:1]`) is an error here, since Ansible's silent
//! empty result always hides a typo.

use std::net::Ipv6Addr;

/// The help line for every range error.
pub(super) const HELP: &str = "a range is `[begin:end]` or `[begin:end:step]` with numbers (`[01:20]`) or single letters (`[a:f]`)";

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Why a range could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RangeError {
    #[error("`[` without a closing `]`")]
    Unclosed,
    #[error("a range must be `begin:end` or `begin:end:step`, found `[{0}]`")]
    Shape(String),
    #[error("the range `[{0}]` has no end value")]
    NoEnd(String),
    #[error(
        "`{begin}` and `{end}` must have the same number of digits when `{begin}` has leading zeros"
    )]
    Width { begin: String, end: String },
    #[error("the range `[{0}]` is empty: its begin comes after its end")]
    Empty(String),
    #[error("`{0}` is not a number or a single letter")]
    Bound(String),
    #[error("the step of `[{0}]` must be a whole number of at least 1")]
    Step(String),
    #[error("this expands to more than {MAX_HOSTS} hosts, dtrplay's limit for a whole inventory")]
    TooMany,
}

/// The most hosts one inventory may hold, ranges expanded: a bound on what
/// a typo like `w[1:100000000]` can cost (every host is a few hundred
/// bytes), far above any real fleet.
pub const MAX_HOSTS: usize = 1_000_000;

/// Splits a `:port` suffix off a host written with one (`web1:2222`,
/// `[::1]:22`, `10.0.0.1:22`). When what would be left is not a host name or
/// address, Ansible keeps the whole text as the name, and so does this.
pub(super) fn split_port(text: &str) -> (String, Option<u64>) {
    parse_address(text).unwrap_or_else(|| (text.to_string(), None))
}

/// Ansible's `parse_address` with ranges allowed: the host and port of a
/// valid host name or IPv4/IPv6 address with an optional port, or `None`.
pub(super) fn parse_address(text: &str) -> Option<(String, Option<u64>)> {
    let mut address = text;
    let mut port = None;
    if let Some((inner, p)) = bracketed_host_port(address) {
        address = inner;
        port = Some(p);
    }
    if let Some((host, p)) = host_port(address) {
        address = host;
        port = Some(p);
    }
    (is_hostname(address) || is_ipv6(address)).then(|| (address.to_string(), port))
}

/// `[host]:port`.
fn bracketed_host_port(text: &str) -> Option<(&str, u64)> {
    let rest = text.strip_prefix('[')?;
    let close = rest.rfind("]:")?;
    let (inner, port) = (&rest[..close], &rest[close + 2..]);
    if inner.is_empty() {
        return None;
    }
    Some((inner, parse_port(port)?))
}

/// `host:port`, where the host has no `:` outside `[...]` ranges.
fn host_port(text: &str) -> Option<(&str, u64)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => {
                let close = text[i..].find(']')?;
                i += close + 1;
            }
            b']' => return None,
            b':' => return Some((&text[..i], parse_port(&text[i + 1..])?)),
            _ => i += 1,
        }
    }
    None
}

fn parse_port(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Absurdly long digit strings are not ports; treat them as not parsed.
    text.parse().ok()
}

/// Ansible's `hostname` pattern: dot-separated labels of word characters,
/// `-` and ranges, each starting with a word character or a range and not
/// ending in `-` or `_`.
fn is_hostname(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(is_label)
}

fn is_label(label: &str) -> bool {
    let mut rest = label;
    let mut first = true;
    let mut last = None;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            let Some(close) = rest.find(']') else {
                return false;
            };
            if !is_alphanumeric_range(&rest[1..close]) {
                return false;
            }
            rest = &rest[close + 1..];
            last = Some(']');
        } else if c.is_alphanumeric() || c == '_' || (c == '-' && !first) {
            rest = &rest[c.len_utf8()..];
            last = Some(c);
        } else {
            return false;
        }
        first = false;
    }
    !matches!(last, None | Some('-' | '_'))
}

/// `a:z` or `1:10`, optionally followed by `:step`.
fn is_alphanumeric_range(inner: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    let parts: Vec<&str> = inner.split(':').collect();
    let (a, b) = match parts.as_slice() {
        [a, b] => (*a, *b),
        [a, b, step] if digits(step) => (*a, *b),
        _ => return false,
    };
    (letter(a) && letter(b)) || (digits(a) && digits(b))
}

/// An IPv6 address, where hexadecimal ranges may stand for components.
fn is_ipv6(text: &str) -> bool {
    if !text.contains(':') {
        return false;
    }
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        plain.push_str(&rest[..open]);
        let Some(close) = rest[open..].find(']') else {
            return false;
        };
        let inner = &rest[open + 1..open + close];
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        let parts: Vec<&str> = inner.split(':').collect();
        let ok = match parts.as_slice() {
            [a, b] => hex(a) && hex(b),
            [a, b, step] => hex(a) && hex(b) && step.bytes().all(|c| c.is_ascii_digit()),
            _ => false,
        };
        if !ok {
            return false;
        }
        plain.push('0');
        rest = &rest[open + close + 1..];
    }
    plain.push_str(rest);
    plain.parse::<Ipv6Addr>().is_ok()
}

/// Expands every range in a host pattern, left to right; a name without
/// ranges is returned as is. At most `room` names are made: a pattern that
/// names more is [`RangeError::TooMany`], found before the names are made.
pub(super) fn expand(pattern: &str, room: usize) -> Result<Vec<String>, RangeError> {
    let mut out = Vec::new();
    expand_into(pattern, room, &mut out)?;
    Ok(out)
}

fn expand_into(pattern: &str, room: usize, out: &mut Vec<String>) -> Result<(), RangeError> {
    let Some(open) = pattern.find('[') else {
        if out.len() >= room {
            return Err(RangeError::TooMany);
        }
        out.push(pattern.to_string());
        return Ok(());
    };
    // Ansible splits at the first `[` and the first `]`.
    let close = pattern
        .find(']')
        .filter(|&c| c > open)
        .ok_or(RangeError::Unclosed)?;
    let (head, range, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let bounds: Vec<&str> = range.split(':').collect();
    let (begin, end, step) = match bounds.as_slice() {
        [b, e] => (*b, *e, "1"),
        [b, e, s] => (*b, *e, *s),
        _ => return Err(RangeError::Shape(range.to_string())),
    };
    let begin = if begin.is_empty() { "0" } else { begin };
    if end.is_empty() {
        return Err(RangeError::NoEnd(range.to_string()));
    }
    let step: usize = step
        .trim()
        .parse()
        .ok()
        .filter(|&s| s >= 1)
        .ok_or_else(|| RangeError::Step(range.to_string()))?;
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(RangeError::Width {
                begin: begin.to_string(),
                end: end.to_string(),
            });
        }
        begin.len()
    } else {
        0
    };
    let items: Vec<String> = match (LETTERS.find(begin), LETTERS.find(end)) {
        (Some(b), Some(e)) if begin.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err(RangeError::Empty(range.to_string()));
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let b: u64 = begin
                .parse()
                .map_err(|_| RangeError::Bound(begin.to_string()))?;
            let e: u64 = end
                .parse()
                .map_err(|_| RangeError::Bound(end.to_string()))?;
            if b > e {
                return Err(RangeError::Empty(range.to_string()));
            }
            // Every item makes at least one name, so a range with more
            // items than there is room for is refused before it is made.
            let count = (e - b) / step as u64 + 1;
            if count > (room - out.len().min(room)) as u64 {
                return Err(RangeError::TooMany);
            }
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };
    for item in items {
        expand_into(&format!("{head}{item}{tail}"), room, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand(p, MAX_HOSTS).expect("valid range")
    }

    #[test]
    fn numeric_ranges_keep_leading_zeros() {
        assert_eq!(
            names("node[01:03].example.com"),
            [
                "node01.example.com",
                "node02.example.com",
                "node03.example.com"
            ]
        );
        assert_eq!(names("db[1:5:2]"), ["db1", "db3", "db5"]);
        assert_eq!(names("x[:2]"), ["x0", "x1", "x2"]);
    }

    #[test]
    fn letter_ranges_and_several_ranges() {
        assert_eq!(names("gpu[a:c]"), ["gpua", "gpub", "gpuc"]);
        assert_eq!(names("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert_eq!(names("plain.example.com"), ["plain.example.com"]);
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert_eq!(
            expand("x[1:]", MAX_HOSTS),
            Err(RangeError::NoEnd("1:".into()))
        );
        assert_eq!(
            expand("x[5:1]", MAX_HOSTS),
            Err(RangeError::Empty("5:1".into()))
        );
        assert_eq!(
            expand("x[1]", MAX_HOSTS),
            Err(RangeError::Shape("1".into()))
        );
        assert_eq!(expand("x[1:3", MAX_HOSTS), Err(RangeError::Unclosed));
        assert!(matches!(
            expand("x[01:100]", MAX_HOSTS),
            Err(RangeError::Width { .. })
        ));
        assert!(matches!(
            expand("x[1:3:0]", MAX_HOSTS),
            Err(RangeError::Step(_))
        ));
        assert!(matches!(
            expand("x[a:9]", MAX_HOSTS),
            Err(RangeError::Bound(_))
        ));
    }

    #[test]
    fn ports_split_only_off_valid_hosts() {
        assert_eq!(split_port("web1:2222"), ("web1".into(), Some(2222)));
        assert_eq!(split_port("10.0.0.1:22"), ("10.0.0.1".into(), Some(22)));
        assert_eq!(split_port("[::1]:22"), ("::1".into(), Some(22)));
        assert_eq!(split_port("fe80::1"), ("fe80::1".into(), None));
        assert_eq!(split_port("node[1:3]:22"), ("node[1:3]".into(), Some(22)));
        assert_eq!(split_port("node[1:3]"), ("node[1:3]".into(), None));
        assert_eq!(split_port("bad_:22"), ("bad_:22".into(), None));
        assert_eq!(split_port("web:db"), ("web:db".into(), None));
    }
}
