//! The `getent` task: one of the host's name service databases (`passwd`,
//! `group`, `hosts`, `services`, ...) read through the host's own
//! `getent`, and set as the fact `getent_<database>`, exactly as
//! ansible-core's module builds it: a dict from each record's first field
//! to the list of its other fields, and, when several records share a
//! first field, a list of those lists.
//!
//! Records are split at `split`; without it, at `:` for `passwd`,
//! `shadow`, `group` and `gshadow`, and at runs of white space for every
//! other database (Python's `str.split()`). `getent`'s exit status means
//! what it means to Ansible: 1 a missing argument or an unknown database,
//! 2 a key that is not there (with `fail_key: false`, the key is set to
//! `null` and the task succeeds), 3 a database that cannot be enumerated.
//!
//! Read-only: check mode reads too, and the task never reports a change.
//! One round trip.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `getent`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Getent {
    pub database: String,
    pub key: Option<String>,
    pub service: Option<String>,
    pub split: Option<String>,
    pub fail_key: bool,
}

/// The parameters of `getent`, as Ansible names them.
pub fn spec() -> Spec {
    let mut spec = Spec::new(
        "getent",
        vec![
            Param::new("database", Kind::Str).required(),
            Param::new("key", Kind::Str),
            Param::new("service", Kind::Str),
            Param::new("split", Kind::Str),
            Param::new("fail_key", Kind::Bool).default(true),
        ],
    );
    spec.facts = vec!["getent_*".into()];
    spec
}

/// The databases whose records are colon-separated.
const COLON: [&str; 4] = ["passwd", "shadow", "group", "gshadow"];

/// Why a `getent` task failed, in ansible-core's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum GetentError {
    #[error(
        "getent is not installed on the host (it comes with the C library, e.g. Debian's libc-bin)"
    )]
    NoTool,
    #[error("Missing arguments, or database unknown.")]
    Unknown,
    #[error("One or more supplied key could not be found in the database.")]
    NoKey,
    #[error("Enumeration not supported on this database.")]
    NoEnumeration,
    #[error("Unexpected failure!")]
    Unexpected,
}

impl From<GetentError> for TaskError {
    fn from(err: GetentError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// Splits one record as Python's `str.split(sep)` does: at every `sep`,
/// or, without one, at runs of white space with the ends trimmed.
fn split_record(line: &str, sep: Option<&str>) -> Vec<String> {
    match sep {
        Some(sep) if !sep.is_empty() => line.split(sep).map(str::to_string).collect(),
        _ => line.split_whitespace().map(str::to_string).collect(),
    }
}

/// The fact's value from `getent`'s output, as ansible-core builds it.
fn records(stdout: &str, sep: Option<&str>) -> Map<String, Value> {
    let mut tree = Map::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in stdout.lines() {
        let record = split_record(line, sep);
        let first = record.first().cloned().unwrap_or_default();
        let rest = Value::from(record.into_iter().skip(1).collect::<Vec<_>>());
        match seen.get_mut(&first) {
            Some(count) => {
                // A second record with the same first field turns the
                // entry into a list of records.
                let entry = tree.entry(first.clone()).or_insert(Value::Null);
                if *count == 1 {
                    *entry = Value::Array(vec![entry.take()]);
                }
                if let Value::Array(list) = entry {
                    list.push(rest);
                }
                *count += 1;
            }
            None => {
                tree.insert(first.clone(), rest);
                seen.insert(first, 1);
            }
        }
    }
    tree
}

impl Getent {
    fn script(&self) -> String {
        let mut command = format!("getent {}", shell_quote(&self.database));
        if let Some(key) = &self.key {
            command.push_str(&format!(" {}", shell_quote(key)));
        }
        if let Some(service) = &self.service {
            command.push_str(&format!(" -s {}", shell_quote(service)));
        }
        format!(
            "{}command -v getent >/dev/null 2>&1 || fail notool\nLC_ALL=C {command}\n",
            remote::FAIL_FN
        )
    }

    fn separator(&self) -> Option<&str> {
        match &self.split {
            Some(sep) => Some(sep.as_str()),
            None if COLON.contains(&self.database.as_str()) => Some(":"),
            None => None,
        }
    }

    fn facts(&self, tree: Map<String, Value>) -> Value {
        let mut facts = Map::new();
        facts.insert(format!("getent_{}", self.database), Value::Object(tree));
        Value::Object(facts)
    }
}

#[async_trait]
impl Task for Getent {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let out = cx.run(&self.script(), &[]).await?;
        if remote::failure(&out).code.as_deref() == Some("notool") {
            return Err(GetentError::NoTool.into());
        }
        match out.status {
            0 => {
                let tree = records(&out.stdout_text(), self.separator());
                Ok(Check::InSync(
                    Outcome::ok().with_data("ansible_facts", self.facts(tree)),
                ))
            }
            1 => Err(GetentError::Unknown.into()),
            2 if !self.fail_key => {
                let mut tree = Map::new();
                tree.insert(self.key.clone().unwrap_or_default(), Value::Null);
                Ok(Check::InSync(
                    Outcome::ok()
                        .with_msg(GetentError::NoKey.to_string())
                        .with_data("ansible_facts", self.facts(tree)),
                ))
            }
            2 => Err(GetentError::NoKey.into()),
            3 => Err(GetentError::NoEnumeration.into()),
            _ => Err(GetentError::Unexpected.into()),
        }
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_split_and_repeated_keys_become_lists() {
        let tree = records("root:x:0:\ndocker:x:999:a,b\n", Some(":"));
        assert_eq!(tree["docker"], serde_json::json!(["x", "999", "a,b"]));
        let tree = records("ssh 22/tcp\nssh  22/udp  # x\n", None);
        assert_eq!(
            tree["ssh"],
            serde_json::json!([["22/tcp"], ["22/udp", "#", "x"]])
        );
    }
}
