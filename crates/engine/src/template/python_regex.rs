//! Python's regular expressions as Ansible's filters and tests use them:
//! flags from keyword arguments, `re.sub` replacement syntax, and a bounded
//! cache of compiled patterns.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::Error;
use minijinja::value::Kwargs;
use regex::Regex;

use super::filter_input::invalid;

/// A pattern with its `ignorecase` and `multiline` flags.
type RegexKey = (String, bool, bool);

/// Compiled regexes, keyed by pattern and flags: the same few patterns are
/// applied for every host, and compiling is the expensive part.
pub(crate) fn regex(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
    filter: &str,
) -> Result<Regex, Error> {
    static CACHE: OnceLock<Mutex<HashMap<RegexKey, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Ok(cache) = cache.lock()
        && let Some(regex) = cache.get(&key)
    {
        return Ok(regex.clone());
    }
    // Python spells "end of text" `\Z`; the regex crate spells it `\z`.
    let translated = pattern.replace(r"\Z", r"\z");
    let regex = regex::RegexBuilder::new(&translated)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(format!("{filter}: invalid regular expression: {e}")))?;
    if let Ok(mut cache) = cache.lock() {
        // A bound, in case patterns are built from data.
        if cache.len() >= 512 {
            cache.clear();
        }
        cache.insert(key, regex.clone());
    }
    Ok(regex)
}

pub(crate) fn regex_flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    let ignorecase: Option<bool> = kwargs.get("ignorecase")?;
    let multiline: Option<bool> = kwargs.get("multiline")?;
    Ok((ignorecase.unwrap_or(false), multiline.unwrap_or(false)))
}

pub(crate) fn regex_for_test(pattern: &str, kwargs: &Kwargs, test: &str) -> Result<Regex, Error> {
    let (ignorecase, multiline) = regex_flags(kwargs)?;
    regex(pattern, ignorecase, multiline, test)
}

/// Converts a Python `re.sub` replacement (`\1`, `\g<name>`) to the regex
/// crate's syntax (`${1}`, `${name}`), escaping literal `$`.
pub(crate) fn python_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        if group.len() == 2 {
                            break;
                        }
                        group.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}
