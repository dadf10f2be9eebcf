//! Shell-like word splitting, as Python's `shlex.split` does it.
//!
//! Ansible splits INI host lines (`web1 user=admin note="two words" # c`)
//! and `ansible_ssh_common_args` with `shlex.split`; using the same rules
//! means a quoted value or an ssh option is read identically by both tools.
//! Each word remembers where every one of its characters was in the input,
//! so a problem with a value can be underlined exactly, quotes and all.

/// One word of the input, with its quotes and escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub text: String,
    /// Byte offsets into the input: where the word's text starts and ends
    /// (quotes included).
    pub start: usize,
    pub end: usize,
    /// The input offset of each character of `text`, for spans inside a
    /// word (the value after `key=`).
    pub offsets: Vec<usize>,
}

/// Why the input could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SplitError {
    #[error("no closing quotation")]
    Unclosed { quote_at: usize },
    #[error("no escaped character after the final backslash")]
    TrailingEscape { at: usize },
}

impl SplitError {
    /// Where the problem starts in the input.
    pub fn offset(&self) -> usize {
        match self {
            SplitError::Unclosed { quote_at } => *quote_at,
            SplitError::TrailingEscape { at } => *at,
        }
    }
}

/// Splits a command line into words the way a POSIX shell would, without
/// expanding anything (`shlex.split`): whitespace separates words, `'…'`
/// keeps everything literally, `"…"` lets a backslash escape `"` and `\`,
/// and a backslash outside quotes escapes any character. Used for
/// `ansible_ssh_common_args`.
pub fn split_shell_words(input: &str) -> Result<Vec<String>, String> {
    split(input, false)
        .map(|words| words.into_iter().map(|w| w.text).collect())
        .map_err(|err| err.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unquoted,
    Quoted(char),
}

/// Splits `input`; with `comments`, an unquoted `#` ends the line.
pub(super) fn split(input: &str, comments: bool) -> Result<Vec<Word>, SplitError> {
    let mut words = Vec::new();
    let mut state = State::Unquoted;
    let mut current: Option<Word> = None;
    // Where the quote now open was, for the error if it never closes.
    let mut quote_at = 0;
    let mut chars = input.char_indices();
    while let Some((at, c)) = chars.next() {
        if let State::Quoted(quote) = state {
            let Some(word) = current.as_mut() else {
                continue;
            };
            word.end = at + c.len_utf8();
            if c == quote {
                state = State::Unquoted;
            } else if quote == '"' && c == '\\' {
                // Inside double quotes only `"` and `\` can be escaped;
                // before anything else the backslash stays.
                let (escaped_at, escaped) =
                    chars.next().ok_or(SplitError::Unclosed { quote_at })?;
                if escaped != '"' && escaped != '\\' {
                    word.text.push('\\');
                    word.offsets.push(at);
                }
                word.text.push(escaped);
                word.offsets.push(escaped_at);
                word.end = escaped_at + escaped.len_utf8();
            } else {
                word.text.push(c);
                word.offsets.push(at);
            }
            continue;
        }
        if c.is_ascii_whitespace() || (comments && c == '#') {
            words.extend(current.take());
            state = State::Unquoted;
            if c == '#' {
                // The rest of the line is a comment.
                for (_, next) in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
            }
            continue;
        }
        let word = current.get_or_insert_with(|| Word {
            text: String::new(),
            start: at,
            end: at,
            offsets: Vec::new(),
        });
        word.end = at + c.len_utf8();
        match c {
            '\'' | '"' => {
                state = State::Quoted(c);
                quote_at = at;
            }
            '\\' => {
                let (escaped_at, escaped) =
                    chars.next().ok_or(SplitError::TrailingEscape { at })?;
                word.text.push(escaped);
                word.offsets.push(escaped_at);
                word.end = escaped_at + escaped.len_utf8();
            }
            _ => {
                word.text.push(c);
                word.offsets.push(at);
            }
        }
    }
    if let State::Quoted(_) = state {
        return Err(SplitError::Unclosed { quote_at });
    }
    words.extend(current.take());
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str, comments: bool) -> Vec<String> {
        split(input, comments)
            .expect("splits")
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn quotes_escapes_and_comments_follow_python_shlex() {
        assert_eq!(
            texts(r#"web1 a="two words" b='x y' c=\"q\" # comment"#, true),
            ["web1", "a=two words", "b=x y", "c=\"q\""]
        );
        assert_eq!(texts("url=http://x/#frag next", true), ["url=http://x/"]);
        assert_eq!(texts(r#"a="\n\"" ''"#, false), ["a=\\n\"", ""]);
        assert_eq!(
            texts("-o 'ProxyJump=bastion -p 22' -v", false),
            ["-o", "ProxyJump=bastion -p 22", "-v"]
        );
    }

    #[test]
    fn offsets_point_into_the_input() {
        let words = split(r#"h k="v w""#, true).expect("splits");
        assert_eq!((words[1].start, words[1].end), (2, 9));
        // The `v` of the value sits after `k="`.
        assert_eq!(words[1].offsets[2], 5);
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        let err = split("h k='oops", true).expect_err("unclosed");
        assert_eq!(err, SplitError::Unclosed { quote_at: 4 });
        assert_eq!(
            split("h k\\", true),
            Err(SplitError::TrailingEscape { at: 3 })
        );
    }
}
