//! Unified diffs of before/after text, for `--diff` and dry runs.

use similar::TextDiff;

use crate::report::Diff;

/// The largest text we diff line by line; larger (or binary) contents are
/// summarised, because a 10 MB diff helps nobody and costs a lot.
const MAX_DIFF_BYTES: usize = 256 * 1024;

/// Renders a diff the way `diff -u` does, with the subject in the headers.
pub fn unified(diff: &Diff) -> String {
    let before = diff.before.as_deref().unwrap_or("");
    let after = diff.after.as_deref().unwrap_or("");
    let old_header = match diff.before {
        Some(_) => format!("before: {}", diff.subject),
        None => "before: (absent)".to_string(),
    };
    let new_header = match diff.after {
        Some(_) => format!("after: {}", diff.subject),
        None => "after: (absent)".to_string(),
    };
    if before.len() > MAX_DIFF_BYTES || after.len() > MAX_DIFF_BYTES {
        return format!(
            "--- {old_header}\n+++ {new_header}\n(content of {} bytes replaced by {} bytes; too large to show)\n",
            before.len(),
            after.len()
        );
    }
    let text = TextDiff::from_lines(before, after);
    let mut out = text
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &new_header)
        .missing_newline_hint(true)
        .to_string();
    if out.is_empty() {
        out = format!("--- {old_header}\n+++ {new_header}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_headers() {
        let diff = Diff {
            subject: "/etc/app.conf".into(),
            before: Some("a\nb\n".into()),
            after: Some("a\nc\n".into()),
        };
        let text = unified(&diff);
        assert!(text.starts_with("--- before: /etc/app.conf\n+++ after: /etc/app.conf\n"));
        assert!(text.contains("-b\n+c\n"), "{text}");
    }

    #[test]
    fn absent_before_is_named() {
        let diff = Diff {
            subject: "/x".into(),
            before: None,
            after: Some("new\n".into()),
        };
        assert!(unified(&diff).contains("--- before: (absent)"));
    }
}
