//! The protocol between dtrplay and an executable task, both ways.
//!
//! In: one JSON file whose path is the program's only argument
//! ([`request`]). Out: one JSON object on standard output ([`parse_reply`]).
//! Between them sits the POSIX `sh` script ([`script`]) that runs the
//! program in a private temporary directory, enforces the timeout and
//! frames what came back, so that a whole run is one round trip.
//!
//! The reply is read strictly. A misspelt `changed` would otherwise read as
//! "nothing changed" and hide a real change, so every top-level field must be
//! one dtrplay knows, one Ansible modules commonly print, or one the
//! manifest declares under `returns:`. Everything here is pure: no IO, so the
//! protocol is unit-tested byte for byte.

use serde_json::{Map, Value, json};

use crate::report::Diff;
use crate::suggest;

/// The version of the input format, sent as `dtrplay.version`.
pub const VERSION: u64 = 1;

/// The first line the script prints: `dtrplay-task <status> <timed out>`.
const HEADER: &str = "dtrplay-task";

/// The script's exit status when it could not make its temporary directory.
pub const NO_TMPDIR: i32 = 97;

/// The script's exit status when it could not put the program or its
/// arguments in place.
pub const NO_SETUP: i32 = 98;

/// How long a program gets after SIGTERM before SIGKILL, in seconds.
pub const KILL_GRACE_SECS: u64 = 2;

/// Top-level reply fields dtrplay interprets.
const OWN_FIELDS: [&str; 10] = [
    "changed",
    "failed",
    "msg",
    "diff",
    "data",
    "skipped",
    "warnings",
    "deprecations",
    "ansible_facts",
    "exception",
];

/// Fields Ansible modules print that are registered as they are.
const REGISTERED_FIELDS: [&str; 5] = ["rc", "stdout", "stderr", "stdout_lines", "stderr_lines"];

/// Fields AnsibleModule adds that are dropped: `invocation` echoes the
/// arguments (secrets included).
const DROPPED_FIELDS: [&str; 1] = ["invocation"];

/// Keys of one diff object.
const DIFF_KEYS: [&str; 4] = ["before", "after", "before_header", "after_header"];

/// Names a manifest may not declare under `returns:`, because the reply
/// already gives them a meaning.
pub fn reserved_field(name: &str) -> bool {
    OWN_FIELDS.contains(&name)
        || REGISTERED_FIELDS.contains(&name)
        || DROPPED_FIELDS.contains(&name)
        || name.starts_with("_ansible_")
}

/// What one run of the program is told.
pub struct Request<'a> {
    /// The coerced arguments of the call.
    pub args: &'a Map<String, Value>,
    pub check_mode: bool,
    pub diff: bool,
    /// The inventory name of the host the task runs for.
    pub host: &'a str,
    /// The task type's name.
    pub task: &'a str,
}

/// The JSON file handed to the program.
///
/// Besides dtrplay's own layout, the arguments carry Ansible's
/// `_ansible_check_mode` and `_ansible_diff`, and the whole is repeated under
/// `ANSIBLE_MODULE_ARGS`: that is what a module built on Ansible's
/// `AnsibleModule` reads from an arguments file, so such a module runs
/// unchanged wherever its `ansible.module_utils` can be imported.
pub fn request(req: &Request<'_>) -> Vec<u8> {
    let mut args = req.args.clone();
    args.insert("_ansible_check_mode".into(), req.check_mode.into());
    args.insert("_ansible_diff".into(), req.diff.into());
    let body = json!({
        "args": Value::Object(args.clone()),
        "check_mode": req.check_mode,
        "diff": req.diff,
        "dtrplay": {"version": VERSION, "host": req.host, "task": req.task},
        "ANSIBLE_MODULE_ARGS": Value::Object(args),
    });
    // Serializing a `Value` cannot fail: its keys are strings.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Where the program comes from in the script.
pub enum Program<'a> {
    /// Shipped on the script's standard input, as the file `name`.
    Stdin { name: &'a str },
    /// Already on the machine, at this absolute path.
    Path(&'a str),
}

/// The script that runs the program once.
///
/// It makes a private directory (mode 0700, `$TMPDIR` honoured), writes the
/// program (from stdin) and the arguments file there, runs the program from
/// it in the background with a watchdog that sends SIGTERM after
/// `timeout_secs` and SIGKILL `KILL_GRACE_SECS` later, then prints the
/// header line, the program's stdout, and (on stderr) its stderr. The
/// directory is removed on every exit path. The watchdog polls once a
/// second rather than sleeping for the whole timeout, so it never outlives
/// the program by more than a second.
pub fn script(program: &Program<'_>, request: &[u8], timeout_secs: u64) -> String {
    let mut s = String::new();
    s.push_str("umask 077\n");
    s.push_str(&format!("d=$(mktemp -d) || exit {NO_TMPDIR}\n"));
    s.push_str("trap 'rm -rf \"$d\"' EXIT\n");
    s.push_str("trap 'exit 143' HUP INT TERM\n");
    let exe = match program {
        Program::Stdin { name } => {
            let file = format!("\"$d\"/{}", quote(name));
            s.push_str(&format!(
                "cat > {file} && chmod 700 {file} || exit {NO_SETUP}\n"
            ));
            file
        }
        Program::Path(path) => quote(path),
    };
    s.push_str(&format!(
        "printf {} > \"$d/args.json\" || exit {NO_SETUP}\n",
        printf_format(request)
    ));
    s.push_str(&format!("cd \"$d\" || exit {NO_SETUP}\n"));
    s.push_str(&format!(
        "{exe} \"$d/args.json\" < /dev/null > \"$d/out\" 2> \"$d/err\" &\n"
    ));
    s.push_str("p=$!\n");
    s.push_str(&format!(
        "( n=0; while kill -0 \"$p\" 2> /dev/null; do \
         if [ \"$n\" -ge {timeout_secs} ]; then : > \"$d/timed-out\"; kill -TERM \"$p\" 2> /dev/null; \
         sleep {KILL_GRACE_SECS}; kill -KILL \"$p\" 2> /dev/null; exit 0; fi; \
         sleep 1; n=$((n + 1)); done ) < /dev/null > /dev/null 2>&1 &\n"
    ));
    s.push_str("w=$!\n");
    s.push_str("wait \"$p\"; rc=$?\n");
    s.push_str("kill \"$w\" 2> /dev/null\n");
    s.push_str("t=0; [ -e \"$d/timed-out\" ] && t=1\n");
    s.push_str(&format!("printf '{HEADER} %s %s\\n' \"$rc\" \"$t\"\n"));
    s.push_str("cat \"$d/out\"; cat \"$d/err\" >&2\n");
    s
}

/// How the program's process ended, read from the script's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The program's exit status (128 + N when killed by signal N).
    pub status: i32,
    pub timed_out: bool,
    /// What the program printed on stdout.
    pub stdout: Vec<u8>,
}

/// Splits the script's stdout into the header and the program's output.
/// `None` when there is no header: the script stopped before running the
/// program (see `NO_TMPDIR` and `NO_SETUP`).
pub fn ran(script_stdout: &[u8]) -> Option<Ran> {
    let newline = script_stdout.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&script_stdout[..newline]).ok()?;
    let mut words = header.split(' ');
    if words.next() != Some(HEADER) {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    let timed_out = words.next()? == "1";
    Some(Ran {
        status,
        timed_out,
        stdout: script_stdout[newline + 1..].to_vec(),
    })
}

/// What the program answered, read strictly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub diffs: Vec<Diff>,
    /// Registered fields: `data`, the fields under `returns:`, and
    /// Ansible's `rc`/`stdout`/`stderr` family.
    pub registered: Map<String, Value>,
    /// `ansible_facts`, set on the host from now on.
    pub facts: Map<String, Value>,
    /// `warnings` and `deprecations`, for the report.
    pub warnings: Vec<String>,
    /// A traceback (`exception`), shown when the program failed.
    pub exception: Option<String>,
}

/// Why a reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("printed nothing on stdout; a task must print one JSON object")]
    Empty,
    #[error("printed output that is not JSON ({reason})")]
    NotJson { reason: String },
    #[error("printed {found} instead of a JSON object")]
    NotObject { found: &'static str },
    #[error("printed an unknown field `{field}`{}", suggestion.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    UnknownField {
        field: String,
        suggestion: Option<String>,
    },
    #[error("printed `{field}` as {found}; it must be {expected}")]
    BadField {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// Reads the program's stdout. `default_subject` names diffs that carry no
/// header; `returns` are the extra fields the manifest declares.
pub fn parse_reply(
    stdout: &[u8],
    default_subject: &str,
    returns: &[String],
) -> Result<Reply, ReplyError> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(ReplyError::Empty);
    }
    let value: Value = serde_json::from_slice(stdout).map_err(|e| ReplyError::NotJson {
        reason: e.to_string(),
    })?;
    let Value::Object(fields) = value else {
        return Err(ReplyError::NotObject {
            found: json_kind(&value),
        });
    };
    let mut reply = Reply::default();
    for (field, value) in fields {
        match field.as_str() {
            "changed" => reply.changed = boolean(&field, &value)?,
            "failed" => reply.failed = boolean(&field, &value)?,
            "skipped" => reply.skipped = boolean(&field, &value)?,
            "msg" => reply.msg = text(&value),
            "exception" => reply.exception = text(&value),
            "diff" => reply.diffs = diffs(&value, default_subject)?,
            "data" => {
                reply.registered.insert(field, value);
            }
            "ansible_facts" => match value {
                Value::Object(facts) => reply.facts = facts,
                other => return Err(bad(&field, "a mapping", &other)),
            },
            "warnings" | "deprecations" => reply.warnings.extend(warnings(&field, &value)?),
            f if REGISTERED_FIELDS.contains(&f) || returns.iter().any(|r| r == f) => {
                reply.registered.insert(field, value);
            }
            f if DROPPED_FIELDS.contains(&f) || f.starts_with("_ansible_") => {}
            _ => {
                let known = OWN_FIELDS
                    .iter()
                    .chain(REGISTERED_FIELDS.iter())
                    .copied()
                    .chain(returns.iter().map(String::as_str));
                let suggestion = suggest::did_you_mean(&field, known).or_else(|| {
                    Some(
                        "put extra results under `data`, or declare the field under \
                         `returns:` in the manifest"
                            .to_string(),
                    )
                });
                return Err(ReplyError::UnknownField { field, suggestion });
            }
        }
    }
    Ok(reply)
}

fn boolean(field: &str, value: &Value) -> Result<bool, ReplyError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(bad(field, "true or false", other)),
    }
}

fn bad(field: &str, expected: &'static str, found: &Value) -> ReplyError {
    ReplyError::BadField {
        field: field.to_string(),
        expected,
        found: json_kind(found),
    }
}

/// A message field as text; non-strings (Ansible allows any) are printed as
/// JSON.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One diff object, or a list of them.
fn diffs(value: &Value, default_subject: &str) -> Result<Vec<Diff>, ReplyError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => Ok(vec![one_diff(map, default_subject)?]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(map) => one_diff(map, default_subject),
                other => Err(bad("diff", "a mapping or a list of mappings", other)),
            })
            .collect(),
        other => Err(bad("diff", "a mapping or a list of mappings", other)),
    }
}

fn one_diff(map: &Map<String, Value>, default_subject: &str) -> Result<Diff, ReplyError> {
    if let Some(key) = map.keys().find(|k| !DIFF_KEYS.contains(&k.as_str())) {
        return Err(ReplyError::UnknownField {
            field: format!("diff.{key}"),
            suggestion: suggest::did_you_mean(key, DIFF_KEYS)
                .or_else(|| Some(format!("a diff has only {}", DIFF_KEYS.join(", ")))),
        });
    }
    let header = |k: &str| map.get(k).and_then(text);
    let subject = header("after_header")
        .or_else(|| header("before_header"))
        .unwrap_or_else(|| default_subject.to_string());
    Ok(Diff {
        subject,
        before: map.get("before").and_then(diff_side),
        after: map.get("after").and_then(diff_side),
    })
}

/// One side of a diff. Ansible modules also diff structured state (the
/// `file` module's `{"state": "absent"}`); that is shown as pretty JSON.
fn diff_side(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => serde_json::to_string_pretty(other).ok().map(|s| s + "\n"),
    }
}

/// `warnings` (strings) or `deprecations` (strings or `{msg: ...}`).
fn warnings(field: &str, value: &Value) -> Result<Vec<String>, ReplyError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(bad(field, "a list", other)),
    };
    Ok(items
        .iter()
        .filter_map(|item| match item {
            Value::Object(map) => map.get("msg").and_then(text),
            other => text(other),
        })
        .map(|w| {
            if field == "deprecations" {
                format!("deprecated: {w}")
            } else {
                w
            }
        })
        .collect())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Quotes a word for `sh`.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A `printf` format string, single-quoted, that prints exactly `bytes`.
/// Only `'`, `\`, `%` and NUL need care; everything else, newlines and
/// non-ASCII included, passes through unchanged.
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\'' => out.push_str("'\\''"),
                '\\' => out.push_str("\\\\"),
                '%' => out.push_str("%%"),
                '\0' => out.push_str("\\000"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Result<Reply, ReplyError> {
        parse_reply(text.as_bytes(), "t", &["path".to_string()])
    }

    #[test]
    fn request_carries_dtrplay_and_ansible_layouts() {
        let args = json!({"path": "/x"});
        let body = request(&Request {
            args: args.as_object().expect("object"),
            check_mode: true,
            diff: false,
            host: "node1",
            task: "ensure_line",
        });
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["args"]["path"], "/x");
        assert_eq!(v["args"]["_ansible_check_mode"], true);
        assert_eq!(v["check_mode"], true);
        assert_eq!(
            v["dtrplay"],
            json!({"version": 1, "host": "node1", "task": "ensure_line"})
        );
        assert_eq!(v["ANSIBLE_MODULE_ARGS"], v["args"]);
    }

    #[test]
    fn a_full_reply() {
        let r = reply(
            r#"{"changed": true, "msg": "added", "path": "/x", "data": {"n": 1},
                "diff": {"before": "a\n", "after": "a\nb\n", "after_header": "/x"},
                "warnings": ["careful"], "invocation": {"module_args": {"token": "s"}},
                "ansible_facts": {"f": 1}, "rc": 0}"#,
        )
        .expect("valid");
        assert!(r.changed && !r.failed);
        assert_eq!(r.msg.as_deref(), Some("added"));
        assert_eq!(
            r.diffs,
            [Diff {
                subject: "/x".into(),
                before: Some("a\n".into()),
                after: Some("a\nb\n".into())
            }]
        );
        assert_eq!(
            Value::Object(r.registered),
            json!({"path": "/x", "data": {"n": 1}, "rc": 0})
        );
        assert_eq!(r.facts["f"], 1);
        assert_eq!(r.warnings, ["careful"]);
    }

    #[test]
    fn strictness() {
        assert_eq!(reply("  \n"), Err(ReplyError::Empty));
        assert!(matches!(
            reply("Traceback (most recent call last):"),
            Err(ReplyError::NotJson { .. })
        ));
        assert!(matches!(
            reply("{} trailing"),
            Err(ReplyError::NotJson { .. })
        ));
        assert_eq!(reply("[1]"), Err(ReplyError::NotObject { found: "a list" }));
        let e = reply(r#"{"chnaged": true}"#).expect_err("typo");
        assert_eq!(
            e.to_string(),
            "printed an unknown field `chnaged` (did you mean `changed`?)"
        );
        assert_eq!(
            reply(r#"{"changed": "yes"}"#),
            Err(ReplyError::BadField {
                field: "changed".into(),
                expected: "true or false",
                found: "a string"
            })
        );
        let e =
            reply(r#"{"diff": {"before": "", "prepared": "x"}}"#).expect_err("unknown diff key");
        assert!(e.to_string().contains("`diff.prepared`"), "{e}");
    }

    #[test]
    fn structured_diffs_and_lists() {
        let r = reply(r#"{"diff": [{"before": {"state": "absent"}, "after": {"state": "file"}}, {"after": "x"}]}"#)
            .expect("valid");
        assert_eq!(r.diffs.len(), 2);
        assert_eq!(r.diffs[0].subject, "t");
        assert_eq!(
            r.diffs[0].before.as_deref(),
            Some("{\n  \"state\": \"absent\"\n}\n")
        );
        assert_eq!(r.diffs[1].before, None);
    }

    #[test]
    fn header_framing() {
        let out = ran(b"dtrplay-task 3 1\n{\"x\":1}").expect("a header");
        assert_eq!(
            out,
            Ran {
                status: 3,
                timed_out: true,
                stdout: b"{\"x\":1}".to_vec()
            }
        );
        assert_eq!(ran(b"something else\n"), None);
        assert_eq!(ran(b""), None);
    }

    #[test]
    fn printf_formats_are_exact() {
        assert_eq!(printf_format(b"it's 100%\\n"), "'it'\\''s 100%%\\\\n'");
        assert_eq!(printf_format(b"a\0b\xff"), "'a\\000b\\377'");
        assert_eq!(quote("a b'c"), "'a b'\\''c'");
    }
}
