//! The Ansible tests (`x is ...`) that minijinja does not ship. They are
//! called predicates here so that their name does not clash with Rust's
//! test modules.
//!
//! The result tests (`failed`, `changed`, `skipped`, `succeeded`) read what
//! the executor registers for a task: a mapping with `failed`, `changed`,
//! `skipped` and, for commands, `rc`.

use std::cmp::Ordering;
use std::path::Path;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::filter_input::{py_str, require};
use super::python_regex::regex_for_test;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("match", |value: &Value, pattern: &str, kwargs: Kwargs| {
        regex_test(value, pattern, kwargs, MatchType::Match)
    });
    env.add_test("search", |value: &Value, pattern: &str, kwargs: Kwargs| {
        regex_test(value, pattern, kwargs, MatchType::Search)
    });
    env.add_test("regex", regex_generic);
    for name in ["success", "succeeded", "successful"] {
        env.add_test(name, |value: &Value| Ok::<_, Error>(!failed(value)?));
    }
    for name in ["failed", "failure"] {
        env.add_test(name, failed);
    }
    for name in ["changed", "change"] {
        env.add_test(name, |value: &Value| result_flag(value, "changed"));
    }
    for name in ["skipped", "skip"] {
        env.add_test(name, |value: &Value| result_flag(value, "skipped"));
    }
    env.add_test("version", version);
    env.add_test("version_compare", version);
    env.add_test("file", |value: &Value| {
        path_test(value, "file", Path::is_file)
    });
    env.add_test("directory", |value: &Value| {
        path_test(value, "directory", Path::is_dir)
    });
    env.add_test("exists", |value: &Value| {
        path_test(value, "exists", Path::exists)
    });
    env.add_test("link", |value: &Value| {
        path_test(value, "link", Path::is_symlink)
    });
    env.add_test("abs", |value: &Value| {
        path_test(value, "abs", Path::is_absolute)
    });
    env.add_test("contains", |seq: &Value, item: &Value| {
        require(seq, "contains")?;
        Ok::<_, Error>(
            seq.try_iter()
                .is_ok_and(|mut items| items.any(|i| &i == item)),
        )
    });
    env.add_test("subset", |a: &Value, b: &Value| subset(a, b));
    env.add_test("superset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("truthy", |value: &Value| {
        require(value, "truthy")?;
        Ok::<_, Error>(value.is_true())
    });
    env.add_test("falsy", |value: &Value| {
        require(value, "falsy")?;
        Ok::<_, Error>(!value.is_true())
    });
}

#[derive(Clone, Copy)]
enum MatchType {
    /// Anchored at the start, like Python's `re.match`.
    Match,
    /// Anywhere, like `re.search`.
    Search,
    /// The whole string, like `re.fullmatch`.
    Full,
}

fn regex_test(value: &Value, pattern: &str, kwargs: Kwargs, how: MatchType) -> Result<bool, Error> {
    require(value, "match")?;
    let anchored = match how {
        MatchType::Search => pattern.to_string(),
        MatchType::Match => format!(r"\A(?:{pattern})"),
        MatchType::Full => format!(r"\A(?:{pattern})\z"),
    };
    let regex = regex_for_test(&anchored, &kwargs, "match")?;
    kwargs.assert_all_used()?;
    Ok(regex.is_match(&py_str(value)))
}

fn regex_generic(value: &Value, pattern: &str, kwargs: Kwargs) -> Result<bool, Error> {
    let how = match kwargs.get::<Option<&str>>("match_type")? {
        None | Some("search") => MatchType::Search,
        Some("match") => MatchType::Match,
        Some("fullmatch") => MatchType::Full,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("regex: match_type must be search, match or fullmatch (got `{other}`)"),
            ));
        }
    };
    regex_test(value, pattern, kwargs, how)
}

/// A registered result as a mapping, or an error naming the test.
fn result(value: &Value, test: &str) -> Result<(), Error> {
    require(value, test)?;
    if value.kind() == ValueKind::Map {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "the `{test}` test expects a registered task result (a mapping), got {}",
                value.kind()
            ),
        ))
    }
}

fn result_flag(value: &Value, flag: &str) -> Result<bool, Error> {
    result(value, flag)?;
    Ok(value.get_attr(flag).is_ok_and(|v| v.is_true()))
}

/// `failed` when the result says so, or, for results that do not say, when
/// a command's `rc` is not zero.
fn failed(value: &Value) -> Result<bool, Error> {
    result(value, "failed")?;
    let flag = value.get_attr("failed").unwrap_or_default();
    if !flag.is_undefined() {
        return Ok(flag.is_true());
    }
    let rc = value.get_attr("rc").unwrap_or_default();
    Ok(rc.as_i64().is_some_and(|rc| rc != 0))
}

/// Ansible's `version` test with `LooseVersion` ordering: numbers compare
/// as numbers (`1.10 > 1.9`), words as text, and a longer version is newer
/// when the shorter one is its prefix.
fn version(
    value: &Value,
    other: &Value,
    operator: Option<&str>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    require(value, "version")?;
    require(other, "version")?;
    let operator = match operator {
        Some(op) => op.to_string(),
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".to_string()),
    };
    // Accepted for compatibility; the loose ordering handles strict versions too.
    let _: Option<bool> = kwargs.get("strict")?;
    let _: Option<String> = kwargs.get("version_type")?;
    kwargs.assert_all_used()?;
    let ordering = compare_versions(&py_str(value), &py_str(other));
    Ok(match operator.as_str() {
        "==" | "=" | "eq" => ordering == Ordering::Equal,
        "!=" | "<>" | "ne" => ordering != Ordering::Equal,
        "<" | "lt" => ordering == Ordering::Less,
        "<=" | "le" => ordering != Ordering::Greater,
        ">" | "gt" => ordering == Ordering::Greater,
        ">=" | "ge" => ordering != Ordering::Less,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "version: unknown operator `{other}` (use <, <=, >, >=, ==, != or lt, le, gt, ge, eq, ne)"
                ),
            ));
        }
    })
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    // Words sort before numbers, so `1.0.a` < `1.0.1`.
    Word(String),
    Number(u128),
}

fn version_parts(version: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = version
        .trim()
        .trim_start_matches(['v', 'V'])
        .chars()
        .peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            parts.push(Part::Number(digits.parse().unwrap_or(u128::MAX)));
        } else if c.is_alphabetic() {
            let mut word = String::new();
            while let Some(w) = chars.peek().copied().filter(|c| c.is_alphabetic()) {
                word.push(w);
                chars.next();
            }
            parts.push(Part::Word(word.to_lowercase()));
        } else {
            chars.next();
        }
    }
    parts
}

pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    version_parts(a).cmp(&version_parts(b))
}

fn path_test(value: &Value, test: &str, check: fn(&Path) -> bool) -> Result<bool, Error> {
    require(value, test)?;
    Ok(check(Path::new(&py_str(value))))
}

fn subset(a: &Value, b: &Value) -> Result<bool, Error> {
    require(a, "subset")?;
    require(b, "subset")?;
    let big: Vec<Value> = b.try_iter()?.collect();
    let mut small = a.try_iter()?;
    Ok(small.all(|item| big.contains(&item)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_version_order() {
        assert_eq!(compare_versions("20.10.7", "19.03.15"), Ordering::Greater);
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("v2.7.0", "2.7"), Ordering::Greater);
        assert_eq!(compare_versions("2.7.0", "2.7.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.a", "1.0.1"), Ordering::Less);
    }
}
