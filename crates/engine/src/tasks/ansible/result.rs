//! A module's result, as it comes back from the host, turned into the
//! task's `Outcome` or failure.
//!
//! Everything here is host data: the values go into the registered result
//! and the host's facts exactly as the module printed them, and the
//! executor stores them as data (never rendered as templates again). The
//! module's own `invocation` echo of its arguments is dropped, and
//! `_ansible_*` keys are Ansible's internals; the rest is registered as
//! Ansible registers it. Pure functions, unit-tested byte for byte.

use serde_json::{Map, Value};

use crate::connection::Output;
use crate::report::Diff;
use crate::task::{Outcome, TaskError};

/// The exit status of the runner script when the host has no Python.
pub const NO_PYTHON: i32 = 127;

/// How many lines of stderr go into a failure message.
const STDERR_LINES: usize = 10;

/// Result keys that dtrplay interprets rather than registers as they are.
const OWN_KEYS: [&str; 8] = [
    "changed",
    "failed",
    "msg",
    "diff",
    "warnings",
    "deprecations",
    "invocation",
    "skipped",
];

/// What one run of a module ended with.
#[derive(Debug)]
pub struct Reply {
    pub outcome: Outcome,
    /// The module reported `skipped` (for example it cannot check).
    pub skipped: bool,
    pub warnings: Vec<String>,
}

/// Reads a module's output. `fqcn` and `host` name it in failures.
pub fn parse(out: &Output, fqcn: &str, interpreter: &str) -> Result<Reply, TaskError> {
    let stdout = out.stdout_text();
    let Some(mut result) = json_object(&stdout) else {
        return Err(no_json(out, fqcn, interpreter));
    };
    for key in result.keys().cloned().collect::<Vec<_>>() {
        if key.starts_with("_ansible_") {
            result.remove(&key);
        }
    }
    let failed = result.get("failed").and_then(Value::as_bool) == Some(true)
        || (out.status != 0 && result.get("failed").is_none());
    let msg = result.get("msg").map(text);
    let warnings = messages(result.get("warnings"))
        .into_iter()
        .chain(
            messages(result.get("deprecations"))
                .into_iter()
                .map(|d| format!("deprecated: {d}")),
        )
        .collect();
    let diffs = diffs(result.get("diff"), fqcn);
    let skipped = result.get("skipped").and_then(Value::as_bool) == Some(true);
    let changed = result.get("changed").and_then(Value::as_bool) == Some(true);
    let facts = match result.get("ansible_facts") {
        Some(Value::Object(facts)) => facts.clone(),
        _ => Map::new(),
    };
    let mut data = Map::new();
    for (key, value) in result {
        if !OWN_KEYS.contains(&key.as_str()) {
            data.insert(key, value);
        }
    }
    if skipped {
        data.insert("skipped".into(), true.into());
    }
    if failed {
        if out.status != 0 {
            data.entry("rc").or_insert(out.status.into());
        }
        // A module that raised instead of calling fail_json has no `msg`:
        // ansible-core 2.19's wrapper reports the exception as an error
        // summary, whose message Ansible shows as "Module failed: ...".
        let msg = msg
            .or_else(|| {
                data.get("exception")
                    .map(|e| format!("Module failed: {}", message(e)))
            })
            .unwrap_or_else(|| format!("{fqcn} failed"));
        return Err(TaskError::Failed { msg, data });
    }
    Ok(Reply {
        outcome: Outcome {
            changed: changed && !skipped,
            msg,
            diffs,
            data,
            facts,
            changed_entries: None,
        },
        skipped,
        warnings,
    })
}

/// The JSON object in a module's stdout. Like Ansible, text before the
/// first line that starts with `{` and after the last `}` is ignored (a
/// login banner, a library printing to stdout).
fn json_object(stdout: &str) -> Option<Map<String, Value>> {
    let start = stdout
        .match_indices('{')
        .map(|(i, _)| i)
        .find(|&i| i == 0 || stdout.as_bytes()[i - 1] == b'\n')?;
    let end = stdout.rfind('}')?;
    if end < start {
        return None;
    }
    match serde_json::from_str(&stdout[start..=end]) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A module that printed no JSON: it crashed, or Python did not start.
fn no_json(out: &Output, fqcn: &str, interpreter: &str) -> TaskError {
    let stderr = out.stderr_text();
    let mut msg = if out.status == NO_PYTHON {
        format!(
            "{fqcn} needs Python on the host and {interpreter} was not found there; \
             install python3 or set ansible_python_interpreter"
        )
    } else {
        format!(
            "MODULE FAILURE: {fqcn} printed no JSON result (exit status {})",
            out.status
        )
    };
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.is_empty() && out.status != NO_PYTHON {
        msg.push_str("\nstderr:");
        let skip = lines.len().saturating_sub(STDERR_LINES);
        for line in &lines[skip..] {
            msg.push_str("\n  ");
            msg.push_str(&line.chars().take(240).collect::<String>());
        }
    }
    TaskError::failed_with(msg, Outcome::ok().with_output(out))
}

/// Ansible's diffs: one object or a list of them, with `before`/`after`
/// as text or as structured values (shown as JSON, as Ansible does).
fn diffs(value: Option<&Value>, fqcn: &str) -> Vec<Diff> {
    let items: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|d| {
            let side = |key: &str| -> Option<String> {
                match d.get(key)? {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => serde_json::to_string_pretty(other).ok().map(|s| s + "\n"),
                }
            };
            let (before, after) = (side("before"), side("after"));
            if before.is_none() && after.is_none() {
                return None;
            }
            let header = |key: &str| d.get(key).and_then(Value::as_str).map(str::to_string);
            let subject = header("after_header")
                .or_else(|| header("before_header"))
                .unwrap_or_else(|| fqcn.to_string());
            Some(Diff {
                subject,
                before,
                after,
            })
        })
        .collect()
}

/// Warnings and deprecations: strings, or (ansible-core 2.19) summaries
/// that carry their text under `msg`, perhaps inside `event`/`details`.
fn messages(value: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items.iter().map(message).collect()
}

fn message(value: &Value) -> String {
    if let Value::String(s) = value {
        return s.clone();
    }
    let found = value
        .get("msg")
        .or_else(|| value.get("event").and_then(|e| e.get("msg")))
        .or_else(|| {
            value
                .get("details")
                .and_then(|d| d.get(0))
                .and_then(|d| d.get("msg"))
        });
    match found {
        Some(v) => text(v),
        None => value.to_string(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_result_becomes_an_outcome_with_facts_diffs_and_data() {
        let reply = parse(
            &out(
                0,
                "banner\n{\"changed\": true, \"path\": \"/x\", \"ansible_facts\": {\"f\": 1}, \
                 \"diff\": {\"before\": \"a\\n\", \"after\": \"b\\n\", \"after_header\": \"/x\"}, \
                 \"invocation\": {\"module_args\": {\"password\": \"s\"}}, \"_ansible_no_log\": false, \
                 \"warnings\": [\"w1\", {\"event\": {\"msg\": \"w2\"}}]}\n",
                "",
            ),
            "ansible.builtin.x",
            "python3",
        )
        .expect("a good result");
        let o = reply.outcome;
        assert!(o.changed);
        assert_eq!(o.data["path"], "/x");
        assert!(
            o.data.get("invocation").is_none(),
            "the argument echo is dropped"
        );
        assert!(o.data.get("_ansible_no_log").is_none());
        assert_eq!(o.facts["f"], 1);
        assert_eq!(o.diffs.len(), 1);
        assert_eq!(o.diffs[0].subject, "/x");
        assert_eq!(o.diffs[0].before.as_deref(), Some("a\n"));
        assert_eq!(reply.warnings, ["w1", "w2"]);
    }

    #[test]
    fn failures_keep_their_message_and_data() {
        let err = parse(
            &out(
                1,
                "{\"failed\": true, \"msg\": \"no such key\", \"rc\": 2}",
                "",
            ),
            "ansible.builtin.getent",
            "python3",
        )
        .expect_err("a failure");
        match err {
            TaskError::Failed { msg, data } => {
                assert_eq!(msg, "no such key");
                assert_eq!(data["rc"], 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_exception_in_the_module_is_its_message() {
        let failed = parse(
            &out(
                1,
                "{\"failed\": true, \"exception\": {\"event\": {\"msg\": \"[Errno 21] Is a directory: '/etc'\", \"formatted_traceback\": null}}}\n",
                "",
            ),
            "community.general.ini_file",
            "/usr/bin/python3",
        );
        match failed {
            Err(TaskError::Failed { msg, .. }) => {
                assert_eq!(msg, "Module failed: [Errno 21] Is a directory: '/etc'")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_crash_without_json_names_the_module_and_shows_stderr() {
        let err = parse(
            &out(
                1,
                "",
                "Traceback (most recent call last):\nValueError: boom\n",
            ),
            "ansible.builtin.x",
            "python3",
        )
        .expect_err("a crash");
        let msg = err.to_string();
        assert!(msg.contains("MODULE FAILURE: ansible.builtin.x"), "{msg}");
        assert!(msg.contains("ValueError: boom"), "{msg}");
        let missing = parse(&out(NO_PYTHON, "", ""), "ansible.builtin.x", "/opt/py")
            .expect_err("no python")
            .to_string();
        assert!(missing.contains("/opt/py was not found"), "{missing}");
    }

    #[test]
    fn skipped_results_do_not_count_as_changes() {
        let reply = parse(
            &out(
                0,
                "{\"skipped\": true, \"changed\": true, \"msg\": \"no check mode\"}",
                "",
            ),
            "m",
            "python3",
        )
        .expect("skipped");
        assert!(reply.skipped);
        assert!(!reply.outcome.changed);
        assert_eq!(reply.outcome.data["skipped"], true);
    }
}
