//! Words the way Ansible reads them: Python's `shlex.split` for command
//! lines, and the expansion a shell word may get on the host.

use super::shell_quote;

/// A command line that Python's `shlex.split` would refuse too; the
/// messages are Python's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShlexError {
    #[error("no escaped character after the final `\\`")]
    NoEscapedCharacter,
    #[error("no closing quotation")]
    NoClosingQuotation,
}

/// A task given a command line it cannot split fails saying why.
impl From<ShlexError> for crate::task::TaskError {
    fn from(e: ShlexError) -> crate::task::TaskError {
        crate::task::TaskError::failed(e.to_string())
    }
}

/// Splits a command line into words the way Python's `shlex.split` does,
/// which is how Ansible's `command` module reads its `cmd`.
pub fn shlex_split(line: &str) -> Result<Vec<String>, ShlexError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any character or quote of it was seen, so that
    // `''` is an empty word rather than nothing.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                let next = chars.next().ok_or(ShlexError::NoEscapedCharacter)?;
                word.push(next);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err(ShlexError::NoClosingQuotation),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash only escapes `"`
                        // and itself; before anything else it stays.
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err(ShlexError::NoClosingQuotation),
                        },
                        Some(q) => word.push(q),
                        None => return Err(ShlexError::NoClosingQuotation),
                    }
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// How `expand_word` treats a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expand {
    /// Expand `~`, `~user`, `$NAME` and `${NAME}` on the host, leaving
    /// references to unset variables as written (Python's `expanduser` and
    /// `expandvars`, which Ansible applies to `command` words and paths).
    pub vars: bool,
    /// Leave `*`, `?` and `[` active, for glob patterns (`creates`).
    pub glob: bool,
}

/// Quotes a word for `sh`, letting through only the expansions `how` asks
/// for: never command substitution, splitting or anything else.
pub fn expand_word(word: &str, how: Expand) -> String {
    if word.is_empty() {
        return "''".to_string();
    }
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = word;
    if how.vars
        && let Some(after) = rest.strip_prefix('~')
    {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        let plain_user = user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !user.starts_with('-');
        if plain_user {
            out.push('~');
            out.push_str(user);
            rest = &after[end..];
            // The tilde prefix ends at the first unquoted slash, so the
            // slash must stay bare.
            if let Some(tail) = rest.strip_prefix('/') {
                out.push('/');
                rest = tail;
            }
        }
    }
    let flush = |literal: &mut String, out: &mut String| {
        if !literal.is_empty() {
            out.push_str(&shell_quote(literal));
            literal.clear();
        }
    };
    while let Some(c) = rest.chars().next() {
        if how.glob && "*?[".contains(c) {
            flush(&mut literal, &mut out);
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        if how.vars
            && c == '$'
            && let Some((name, braced, len)) = variable_at(rest)
        {
            flush(&mut literal, &mut out);
            // `"${N-\$N}"`: the value when set, the reference as written
            // when not, and never split or globbed.
            if braced {
                out.push_str(&format!("\"${{{name}-\\${{{name}\\}}}}\""));
            } else {
                out.push_str(&format!("\"${{{name}-\\${name}}}\""));
            }
            rest = &rest[len..];
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut literal, &mut out);
    out
}

/// A variable reference at the start of `text` (which starts with `$`):
/// its name, whether it is braced, and its length in bytes. Only names `sh`
/// can expand count; anything else stays literal.
fn variable_at(text: &str) -> Option<(&str, bool, usize)> {
    let after = &text[1..];
    let valid = |name: &str| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(inner) = after.strip_prefix('{') {
        let end = inner.find('}')?;
        let name = &inner[..end];
        return valid(name).then_some((name, true, end + 3));
    }
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..end];
    valid(name).then_some((name, false, end + 1))
}
