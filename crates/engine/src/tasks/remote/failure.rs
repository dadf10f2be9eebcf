//! How our scripts report a failure they expect (`fail CODE`), and how a
//! task reads it back with whatever the failing tool printed.

use crate::connection::Output;
use crate::task::TaskError;

/// Defines `fail CODE`, the way our scripts report an expected failure. The
/// leading newline keeps the marker on its own line even when the failing
/// tool's message did not end with one.
pub const FAIL_FN: &str = "fail() { printf '\\n%s%s\\n' 'dtrplay-fail:' \"$1\" >&2; exit 1; }\n";

/// The prefix of the marker line `fail` prints.
const FAIL_MARKER: &str = "dtrplay-fail:";

/// What a script that failed said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The code the script passed to `fail`, when it failed on purpose.
    pub code: Option<String>,
    /// What the tools printed on standard error, without our marker.
    pub detail: String,
}

/// Reads why a script failed from its standard error.
pub fn failure(out: &Output) -> Failure {
    let stderr = out.stderr_text();
    let mut code = None;
    let mut detail = Vec::new();
    for line in stderr.lines() {
        match line.strip_prefix(FAIL_MARKER) {
            Some(c) => code = Some(c.to_string()),
            None => detail.push(line),
        }
    }
    Failure {
        code,
        detail: detail.join("\n").trim().to_string(),
    }
}

/// The output with our failure marker taken out of standard error, for
/// registering what the tools printed.
pub fn without_marker(out: &Output) -> Output {
    let stderr = out.stderr_text();
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with(FAIL_MARKER))
        .collect();
    let mut text = kept.join("\n").trim_end().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    Output {
        status: out.status,
        stdout: out.stdout.clone(),
        stderr: text.into_bytes(),
    }
}

/// A failure message with the tools' own words appended when there are any.
pub fn with_detail(msg: String, failure: &Failure) -> TaskError {
    if failure.detail.is_empty() {
        return TaskError::failed(msg);
    }
    TaskError::failed(format!("{msg}: {}", failure.detail))
}
