//! Rendering one template or expression with minijinja, and the errors it
//! gives.
//!
//! Everything that renders goes through these functions: `Templates` for
//! task arguments and files, and the lazily templated variables in
//! `vars.rs`. They rewrite the undefined chains Ansible's idioms guard
//! (`foo.bar | default('z')`) and keep error positions true to the text
//! that was written.

use std::borrow::Cow;
use std::ops::Range;

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind};

use super::convert;
use super::text;
use crate::yaml::is_template;

/// How many guarded undefined chains (`a.b | default(..)` with `a`
/// undefined) one render may rewrite; each rewrite fixes one chain, and the
/// bound keeps a pathological template from looping for long.
const MAX_CHAIN_REWRITES: usize = 32;

/// A template that failed to render or evaluate.
///
/// The message quotes the template and names variables; it never contains
/// a rendered value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// The failing part, as a byte range of the text that was rendered,
    /// when minijinja knows it.
    pub range: Option<Range<usize>>,
    /// The variable whose being undefined caused the error, if that is what
    /// happened.
    pub undefined: Option<String>,
    /// Whether the text is not valid Jinja at all.
    pub syntax: bool,
}

impl TemplateError {
    pub(super) fn from_minijinja(err: &minijinja::Error) -> TemplateError {
        let detail = err.detail().unwrap_or("").to_string();
        let message = match err.kind() {
            ErrorKind::OutOfFuel => OUT_OF_FUEL.to_string(),
            ErrorKind::UndefinedError | ErrorKind::InvalidOperation if !detail.is_empty() => {
                detail.clone()
            }
            kind if detail.is_empty() => kind.to_string(),
            kind => format!("{kind}: {detail}"),
        };
        TemplateError {
            undefined: undefined_name(&detail),
            message,
            range: err.range(),
            syntax: err.kind() == ErrorKind::SyntaxError,
        }
    }

    pub(super) fn shifted(mut self, by: usize) -> TemplateError {
        self.range = self.range.map(|r| r.start + by..r.end + by);
        self
    }

    pub(super) fn shifted_back(mut self, by: usize) -> TemplateError {
        self.range = self
            .range
            .and_then(|r| Some(r.start.checked_sub(by)?..r.end.checked_sub(by)?));
        self
    }

    /// The error with the line of `text` it is on, for multi-line
    /// templates (files) where a range alone means little.
    pub(super) fn in_file(self, text: &str) -> FileError {
        let line = self.range.as_ref().map(|range| {
            let before = text.get(..range.start).unwrap_or(text);
            before.matches('\n').count() + 1
        });
        FileError { line, error: self }
    }
}

/// A template file (the `template` module) that failed to render: the
/// message, prefixed with the file's line when minijinja knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub error: TemplateError,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.error.message),
            None => f.write_str(&self.error.message),
        }
    }
}

impl std::error::Error for FileError {}

/// The root variable in "`foo.bar` is undefined".
fn undefined_name(detail: &str) -> Option<String> {
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')? + 1;
    let expr = &detail[start..end];
    let root = expr
        .split(['.', '['])
        .next()
        .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_alphanumeric() || c == '_'))?;
    Some(root.to_string())
}

/// The message of a render that used up [`super::MAX_FUEL`].
const OUT_OF_FUEL: &str = "this template makes more data or does more work than dtrplay's limit for one template (256 MiB of strings and lists, or 4 million steps)";

/// Renders a template string to a value: typed for a single expression,
/// a string otherwise.
pub(crate) fn render_value(
    env: &Environment<'static>,
    text: &str,
    scope: &Value,
) -> Result<Value, TemplateError> {
    if let Some(inner) = text::single_expression(text) {
        match eval_expression(env, &text[inner.clone()], scope) {
            Ok(value) if !value.is_undefined() => return Ok(value),
            // An undefined result is reported by rendering the whole text:
            // strict printing names the undefined part and its position.
            Ok(_) => {}
            // Not rendering again on errors matters: lazily templated
            // variables render inside renders, and a retry at every level
            // would cost 2^depth.
            Err(err) => return Err(TemplateError::from_minijinja(&err).shifted(inner.start)),
        }
    }
    render_template(env, text, scope)
        .map(Value::from)
        .map_err(|err| TemplateError::from_minijinja(&err))
}

/// Renders data kept as written (a lazily templated variable).
pub(crate) fn render_json(
    env: &Environment<'static>,
    json: &serde_json::Value,
    scope: &Value,
) -> Result<Value, TemplateError> {
    use serde_json::Value as J;
    match json {
        J::String(s) if is_template(s) => render_value(env, s, scope),
        J::Array(items) => items
            .iter()
            .map(|item| render_json(env, item, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from),
        J::Object(map) => {
            let mut pairs = Vec::with_capacity(map.len());
            for (key, item) in map {
                pairs.push((Value::from(key.as_str()), render_json(env, item, scope)?));
            }
            Ok(convert::map_value(pairs))
        }
        _ => Ok(convert::from_json(json)),
    }
}

/// Evaluates an expression whose result must be defined.
pub(super) fn eval_checked(
    env: &Environment<'static>,
    expr: &str,
    scope: &Value,
) -> Result<Value, TemplateError> {
    let value =
        eval_expression(env, expr, scope).map_err(|err| TemplateError::from_minijinja(&err))?;
    if !value.is_undefined() {
        return Ok(value);
    }
    // Strict printing of the same expression says which part is undefined,
    // and where.
    let wrapped = format!("{{{{ {expr} }}}}");
    match render_template(env, &wrapped, scope) {
        Err(err) if err.kind() != ErrorKind::SyntaxError => {
            Err(TemplateError::from_minijinja(&err).shifted_back(3))
        }
        Err(_) => Err(TemplateError {
            message: format!("`{}` is undefined", expr.trim()),
            range: Some(0..expr.len()),
            undefined: None,
            syntax: false,
        }),
        // An `if` without `else` that is false yields "nothing", as in Jinja.
        Ok(_) => Ok(Value::from(())),
    }
}

/// Evaluates an expression, rewriting guarded undefined chains.
fn eval_expression(
    env: &Environment<'static>,
    expr: &str,
    scope: &Value,
) -> Result<Value, minijinja::Error> {
    let mut source = Cow::Borrowed(expr);
    let mut rewrites = 0;
    loop {
        let result = env
            .compile_expression_owned(source.to_string())
            .and_then(|compiled| compiled.eval(scope.clone()));
        match result {
            Err(err) if rewrites < MAX_CHAIN_REWRITES => match defuse(&source, &err) {
                Some(rewritten) => {
                    source = Cow::Owned(rewritten);
                    rewrites += 1;
                }
                None => return Err(err),
            },
            other => return other,
        }
    }
}

/// Renders a template to text, rewriting guarded undefined chains.
pub(super) fn render_template(
    env: &Environment<'static>,
    text: &str,
    scope: &Value,
) -> Result<String, minijinja::Error> {
    let mut source = Cow::Borrowed(text);
    let mut rewrites = 0;
    loop {
        match env.render_str(&source, scope.clone()) {
            Err(err) if rewrites < MAX_CHAIN_REWRITES => match defuse(&source, &err) {
                Some(rewritten) => {
                    source = Cow::Owned(rewritten);
                    rewrites += 1;
                }
                None => return Err(err),
            },
            other => return other.map(|out| restore_trailing_newlines(text, out)),
        }
    }
}

/// Ansible's `preserve_trailing_newlines`: Jinja drops the source's last
/// newline, and Ansible adds newlines back until the result ends with at
/// least as many as the source did. So `a={{ x }}\n` with `x` ending in a
/// newline gives one newline, not two, and a source ending in a block tag
/// and a newline keeps that newline.
fn restore_trailing_newlines(source: &str, mut out: String) -> String {
    let trailing = |s: &str| s.bytes().rev().take_while(|b| *b == b'\n').count();
    let missing = trailing(source).saturating_sub(trailing(&out));
    out.extend(std::iter::repeat_n('\n', missing));
    out
}

/// For an undefined error inside a chain guarded by `default` or
/// `is defined` (Ansible's idiom `foo.bar | default('z')` with `foo`
/// undefined, which strict minijinja rejects), the source with that chain
/// replaced by a name that is certainly undefined and exactly as long, so
/// that every position in later errors stays true.
fn defuse(source: &str, err: &minijinja::Error) -> Option<String> {
    if err.kind() != ErrorKind::UndefinedError {
        return None;
    }
    let chain = text::guarded_chain(source, &err.range()?)?;
    let mut rewritten = String::with_capacity(source.len());
    rewritten.push_str(&source[..chain.start]);
    rewritten.push_str(&"_".repeat(chain.len()));
    rewritten.push_str(&source[chain.end..]);
    Some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_names() {
        assert_eq!(
            undefined_name("`foo.bar` is undefined").as_deref(),
            Some("foo")
        );
        assert_eq!(
            undefined_name("tried to use + operator on unsupported types number and undefined (`nope` is undefined)").as_deref(),
            Some("nope")
        );
        assert_eq!(undefined_name("something else"), None);
    }
}
