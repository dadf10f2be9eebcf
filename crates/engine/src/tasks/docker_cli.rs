//! The host's `docker` command line, as the `docker_*` tasks drive it: no
//! Python and no Docker SDK on the host, only the client that talks to the
//! host's engine (as `docker` on the host's PATH finds it, `DOCKER_HOST`
//! included).
//!
//! Every task's check is one script that inspects what it needs with
//! `docker <kind> inspect --format '{{json .}}'` and prints one line per
//! object (`<tag> <json>`, or `<tag> null` when the engine has no such
//! object); its apply is one script that runs the changes and inspects
//! again, so the registered result is what the engine says afterwards.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::connection::Output;
use crate::task::{Outcome, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// Why a Docker task failed, beyond what its own checks say.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "the docker command line is not installed on the host (no `docker` on its PATH); the docker_* tasks drive the host's engine through it"
    )]
    Missing,
    #[error("the host's Docker engine does not answer: {detail}")]
    Daemon { detail: String },
    #[error("docker {action} failed: {detail}")]
    Tool { action: String, detail: String },
    #[error("docker printed something dtrplay cannot read ({what}): {detail}")]
    Unreadable { what: String, detail: String },
    #[error("{0}")]
    Refused(String),
}

impl DockerError {
    /// The failure with the tools' output kept in the registered result.
    pub fn with_output(self, out: &Output) -> TaskError {
        TaskError::failed_with(
            self.to_string(),
            Outcome::ok().with_output(&remote::without_marker(out)),
        )
    }
}

impl From<DockerError> for TaskError {
    fn from(err: DockerError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// The script line that points the client at `docker_host`, when the task
/// names one (else the host's own `DOCKER_HOST` or default socket applies).
pub fn shell_env(docker_host: Option<&str>) -> String {
    match docker_host {
        Some(host) => format!("DOCKER_HOST={}; export DOCKER_HOST\n", shell_quote(host)),
        None => String::new(),
    }
}

/// A script that fails with `no-docker` when the host has no client, then
/// runs `body`.
pub fn script(body: &str) -> String {
    format!(
        "{}command -v docker >/dev/null 2>&1 || fail no-docker\n{body}",
        remote::FAIL_FN
    )
}

/// One line of a script that inspects `name` (of `kind`: `image`,
/// `container`, `volume`, `network`) and prints `@<tag> <json>`, or
/// `@<tag> null` when the engine has no such object. Any other failure
/// (the engine is down) ends the script with `fail daemon`.
pub fn inspect_line(kind: &str, name: &str, tag: &str) -> String {
    format!(
        "if o=$(docker {kind} inspect --format '{{{{json .}}}}' -- {name} 2>&1); then printf '@{tag} %s\\n' \"$o\"; \
         else case $o in *'No such'*|*'no such'*|*'not found'*) echo '@{tag} null' ;; *) printf '%s\\n' \"$o\" >&2; fail daemon ;; esac; fi\n",
        name = shell_quote(name)
    )
}

/// A script line that runs a docker command and, when it fails, ends the
/// script with `fail <action>` (its own words on standard error).
pub fn step(action: &str, command: &str) -> String {
    format!("{command} >&2 || fail {}\n", shell_quote(action))
}

/// The objects a script inspected, by tag (`None`: the engine has none).
#[derive(Debug, Default)]
pub struct Inspected {
    objects: BTreeMap<String, Option<Value>>,
}

impl Inspected {
    /// The object inspected under `tag`, if the engine had it.
    pub fn take(&mut self, tag: &str) -> Result<Option<Value>, DockerError> {
        self.objects
            .remove(tag)
            .ok_or_else(|| DockerError::Unreadable {
                what: format!("no answer for {tag}"),
                detail: "the inspect line is missing".to_string(),
            })
    }
}

/// Reads the `@<tag> <json>` lines of a script; other lines are ignored
/// (commands whose output went to standard output).
pub fn parse(stdout: &str) -> Result<Inspected, DockerError> {
    let mut inspected = Inspected::default();
    for line in stdout.lines() {
        let Some((tag, json)) = line.split_once(' ') else {
            continue;
        };
        if !tag.starts_with('@') {
            continue;
        }
        let value: Value = serde_json::from_str(json).map_err(|e| DockerError::Unreadable {
            what: format!("the inspection of {}", &tag[1..]),
            detail: e.to_string(),
        })?;
        let value = (!value.is_null()).then_some(value);
        inspected.objects.insert(tag[1..].to_string(), value);
    }
    Ok(inspected)
}

/// Runs `body` (made with [`script`]) and reads what it inspected; a
/// failing script becomes the matching [`DockerError`].
pub async fn run(
    cx: &crate::task::Context<'_>,
    body: &str,
) -> Result<(Output, Inspected), TaskError> {
    let out = cx.run(&script(body), &[]).await?;
    if !out.success() {
        return Err(failure(&out).with_output(&out));
    }
    let inspected = parse(&out.stdout_text())?;
    Ok((out, inspected))
}

/// What a failed script's `fail` code and output mean.
pub fn failure(out: &Output) -> DockerError {
    let failed = remote::failure(out);
    let detail = if failed.detail.is_empty() {
        format!("exit status {}", out.status)
    } else {
        failed.detail.clone()
    };
    match failed.code.as_deref() {
        Some("no-docker") => DockerError::Missing,
        Some("daemon") => DockerError::Daemon { detail },
        Some(_) if detail.contains("Cannot connect to the Docker daemon") => {
            DockerError::Daemon { detail }
        }
        Some(action) => DockerError::Tool {
            action: action.to_string(),
            detail,
        },
        None => DockerError::Tool {
            action: "script".to_string(),
            detail,
        },
    }
}

/// Refuses a name that the docker command line could read as an option or
/// that no engine accepts, before it reaches a script.
pub fn check_name(what: &str, name: &str) -> Result<(), DockerError> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 255
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        return Ok(());
    }
    Err(DockerError::Refused(format!(
        "{name:?} is not a valid {what} name: it must be non-empty, without spaces, and not start with `-`"
    )))
}

/// A mapping of the task's arguments as text, in key order, for `--label`
/// and `--opt` flags and for comparing with what the engine reports.
pub fn pairs(map: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .collect()
}

/// A scalar as the command line wants it (strings unquoted).
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Repeated flags (`--label k=v --label k2=v2`), quoted.
pub fn flags(flag: &str, pairs: &BTreeMap<String, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!(" {flag} {}", shell_quote(&format!("{k}={v}"))))
        .collect()
}

/// The string map at `path` in an inspect result (`Labels`, `Options`),
/// empty when absent or null.
pub fn string_map(value: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let mut at = value;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return BTreeMap::new(),
        }
    }
    at.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
        .unwrap_or_default()
}

/// A short `key: value` listing for diffs.
pub fn describe(lines: &[(&str, String)]) -> String {
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_lines_are_read_by_tag() {
        let mut inspected = parse("@v {\"Name\":\"data\"}\nnoise\n@n null\n").expect("parses");
        assert_eq!(
            inspected.take("v").expect("tagged").expect("present")["Name"],
            "data"
        );
        assert!(inspected.take("n").expect("tagged").is_none());
        assert!(inspected.take("x").is_err());
    }

    #[test]
    fn names_that_could_be_options_are_refused() {
        assert!(check_name("volume", "app-data").is_ok());
        assert!(check_name("volume", "--rm").is_err());
        assert!(check_name("volume", "a b").is_err());
        assert!(check_name("volume", "").is_err());
    }
}
