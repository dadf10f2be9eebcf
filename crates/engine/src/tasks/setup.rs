//! The `setup` task: gathers the host's facts (`facts::script`, one round
//! trip, no interpreter on the host) and returns them as `ansible_facts`,
//! which the executor stores as host data (`ansible_facts.os_family` and
//! `ansible_os_family` alike). Plays run it first, as "Gathering Facts",
//! unless `gather_facts: false`.
//!
//! It only reads, so check mode runs it too. `gather_timeout` bounds the
//! script; `fact_path` (local facts) is accepted and reads nothing, as
//! Ansible does when the directory does not exist.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::facts::{self, Subset};
use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `setup`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Setup {
    pub subset: Subset,
    pub filter: Vec<String>,
    pub timeout: Duration,
}

/// The parameters of `setup`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "setup",
        vec![
            Param::new("gather_subset", Kind::Raw),
            Param::new("filter", Kind::Raw),
            Param::new("gather_timeout", Kind::Int).default(10),
            Param::new("fact_path", Kind::Path),
        ],
    )
}

/// A list given as a YAML list or as a comma-separated string.
fn words(value: Option<&Value>) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("expected strings, not {other}")),
            })
            .collect(),
        Some(other) => Err(format!("expected a list of strings, not {other}")),
    }
}

impl TryFrom<Map<String, Value>> for Setup {
    type Error = String;

    fn try_from(args: Map<String, Value>) -> Result<Setup, String> {
        for key in args.keys() {
            if !["gather_subset", "filter", "gather_timeout", "fact_path"].contains(&key.as_str()) {
                return Err(format!("unknown field `{key}`"));
            }
        }
        let mut given =
            words(args.get("gather_subset")).map_err(|e| format!("gather_subset: {e}"))?;
        if given.is_empty() {
            given.push("all".into());
        }
        let subset = Subset::parse(&given).map_err(|e| e.to_string())?;
        let filter = words(args.get("filter")).map_err(|e| format!("filter: {e}"))?;
        let seconds = args
            .get("gather_timeout")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .max(1);
        Ok(Setup {
            subset,
            filter,
            timeout: Duration::from_secs(seconds),
        })
    }
}

impl Setup {
    async fn gather(&self, cx: &Context<'_>) -> Result<Outcome, TaskError> {
        let script = facts::script(&self.subset);
        let run = cx.run(&script, &[]);
        let out = match tokio::time::timeout(self.timeout, run).await {
            Ok(out) => out?,
            Err(_) => {
                return Err(TaskError::failed(format!(
                    "gathering facts took longer than gather_timeout ({} s)",
                    self.timeout.as_secs()
                )));
            }
        };
        if !out.success() {
            return Err(TaskError::failed(format!(
                "the fact gathering script failed (exit status {}): {}",
                out.status,
                out.stderr_text().trim()
            )));
        }
        let gathered = facts::filter(facts::parse(&out.stdout_text(), &self.subset), &self.filter);
        Ok(Outcome::ok().with_data("ansible_facts", Value::Object(gathered)))
    }
}

#[async_trait]
impl Task for Setup {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        Ok(Check::InSync(self.gather(cx).await?))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}
