//! What the YAML reader says when it refuses a file, as an `InputError`
//! framed at the real line and column.
//!
//! serde-saphyr gives most errors a byte offset, but some (a bracket closed
//! by the wrong one, an indentation error, a tab) only a line and a column,
//! and a few only a sentence that names them; a frame at 1:1 would send the
//! user to the wrong place, so each of the three is tried in turn.
//!
//! The reader also has budgets that bound what a file can cost (nodes,
//! events, nesting depth). A file over one is valid YAML, so it is not
//! reported as invalid: the message names the limit that was hit, and for
//! the two that large real files reach (nodes and events) how to raise it.

use std::sync::OnceLock;

use miette::SourceSpan;
use serde_saphyr::budget::BudgetBreach;

use crate::error::InputError;
use crate::source::SourceFile;

/// The environment variable that raises the node budget.
pub const MAX_NODES_VAR: &str = "DTRPLAY_YAML_MAX_NODES";

/// The most nodes (scalars, lists and mappings) one YAML file may have
/// unless [`MAX_NODES_VAR`] says otherwise: serde-saphyr's default, about
/// a 10 MB vars file of short values.
pub const DEFAULT_MAX_NODES: usize = 250_000;

/// The node budget of this run: [`MAX_NODES_VAR`] when it is a positive
/// number, else [`DEFAULT_MAX_NODES`]. Read once, because every file of a
/// run must be held to the same limit.
pub fn max_nodes() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var(MAX_NODES_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_NODES)
    })
}

/// The reader's budget for one file. A node is at most a few events, so
/// the event budget follows the node budget.
pub fn budget() -> serde_saphyr::Budget {
    let nodes = max_nodes();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = nodes;
    budget.max_events = nodes.saturating_mul(4).max(budget.max_events);
    budget
}

/// The `InputError` for a file the reader refused.
pub fn input_error(src: &SourceFile, err: &serde_saphyr::Error) -> InputError {
    let inner = original(err);
    let span = span(src, err);
    if let serde_saphyr::Error::Budget { breach, .. } = inner {
        return budget_error(src, span, breach, err);
    }
    if nests_too_deep(inner) {
        return InputError::new(
            src,
            span,
            format!(
                "{} nests flow lists or mappings (`[...]`, `{{...}}`) more than {} levels deep, the YAML reader's limit",
                src.name(),
                serde_saphyr::Budget::default().flow_nesting_limit
            ),
        )
        .with_label("the limit was reached here")
        .with_help("flatten the structure; no playbook or vars file needs this depth");
    }
    let reason = err.without_snippet().render();
    InputError::new(src, span, format!("{} is not valid YAML", src.name()))
        .with_label(reason)
        .with_help("check the indentation and the quoting around this point")
}

/// The error under the wrappers that add alias locations and snippets.
fn original(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = err
    {
        err = error;
    }
    err
}

/// Whether the parser stopped at its limit of nested flow collections.
fn nests_too_deep(err: &serde_saphyr::Error) -> bool {
    use serde_saphyr::granit_parser::ErrorKind;
    match err {
        serde_saphyr::Error::ExternalMessage { source, .. } => matches!(
            source.as_ref(),
            serde_saphyr::ExternalMessageSource::Parser(scan)
                if matches!(scan.kind(), ErrorKind::RecursionLimitExceeded)
        ),
        _ => false,
    }
}

fn budget_error(
    src: &SourceFile,
    span: SourceSpan,
    breach: &BudgetBreach,
    err: &serde_saphyr::Error,
) -> InputError {
    let raise = format!(
        "if the file is meant to be this large, raise the limit for this run: {MAX_NODES_VAR}={} dtrplay ...",
        max_nodes().saturating_mul(4)
    );
    let (what, help) = match breach {
        BudgetBreach::Nodes { .. } => (
            format!(
                "has more than {} YAML nodes (values, lists and mappings), dtrplay's limit for one file",
                max_nodes()
            ),
            raise,
        ),
        BudgetBreach::Events { .. } => (
            format!(
                "has more YAML parser events than dtrplay's limit for one file ({})",
                budget().max_events
            ),
            raise,
        ),
        BudgetBreach::Depth { depth } => (
            format!(
                "nests lists and mappings {depth} levels deep, more than dtrplay's limit of {}",
                serde_saphyr::Budget::default().max_depth
            ),
            "flatten the structure; no playbook or vars file needs this depth".to_string(),
        ),
        _ => (
            format!(
                "is over a limit of the YAML reader: {}",
                err.without_snippet().render()
            ),
            "split the file, or use fewer anchors and aliases".to_string(),
        ),
    };
    InputError::new(src, span, format!("{} {what}", src.name()))
        .with_label("the limit was reached here")
        .with_help(help)
}

/// Where the error is: its byte offset, else its line and column, else
/// the `line N, column M` its message names, else the start of the file.
fn span(src: &SourceFile, err: &serde_saphyr::Error) -> SourceSpan {
    let location = err.location();
    let offset = location
        .and_then(|loc| loc.span().byte_offset())
        .and_then(|o| usize::try_from(o).ok())
        .or_else(|| {
            let loc = location?;
            offset_of(src.text(), loc.line(), loc.column())
        })
        .or_else(|| {
            let (line, column) = named_position(&err.to_string())?;
            offset_of(src.text(), line, column)
        })
        .unwrap_or(0);
    let offset = offset.min(src.text().len());
    let len = src.text()[offset..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    SourceSpan::from((offset, len))
}

/// The byte offset of a 1-based line and (character) column, if the text
/// has them.
fn offset_of(text: &str, line: u64, column: u64) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let line = usize::try_from(line).ok()?;
    let column = usize::try_from(column.max(1)).ok()?;
    let start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[start..];
    let end = rest.find('\n').unwrap_or(rest.len());
    let within = rest[..end]
        .char_indices()
        .nth(column - 1)
        .map_or(end, |(i, _)| i);
    Some(start + within)
}

/// The last `line N, column M` a message names.
fn named_position(message: &str) -> Option<(u64, u64)> {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(r"line (\d+),? col(?:umn)? (\d+)").expect("a valid pattern")
    });
    let found = pattern.captures_iter(message).last()?;
    Some((found[1].parse().ok()?, found[2].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_become_a_byte_offset() {
        let text = "a: 1\nbé: [1,\n  2}\n";
        assert_eq!(offset_of(text, 1, 1), Some(0));
        assert_eq!(offset_of(text, 2, 3), Some(8));
        assert_eq!(offset_of(text, 3, 4), Some(17));
        assert_eq!(offset_of(text, 9, 1), None);
        assert_eq!(
            named_position("mismatched bracket '[' closed by '}' at line 4, column 20"),
            Some((4, 20))
        );
    }
}
