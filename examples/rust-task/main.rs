//! A task written in Rust, registered next to the built-ins, in a binary that
//! is otherwise exactly `dtrplay`.
//!
//! The task, `daemon-json`, merges settings into the Docker daemon's
//! `/etc/docker/daemon.json` on each node: the check reads the file and
//! computes the merged document, so check mode shows the exact diff; apply
//! writes that document, atomically, and nothing else. A second run finds
//! nothing to change.
//!
//! ```sh
//! cargo run --example rust_task -- plan examples/rust-task/playbook.yml -i .lab/inventory.yml
//! cargo run --example rust_task -- apply examples/rust-task/playbook.yml -i .lab/inventory.yml
//! ```
//!
//! Everything else (arguments, inventories, output, exit codes) is the normal
//! command line: `main_with` runs `dtrplay` with one more task type.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use dtrplay::params::{Kind, Param, Spec};
use dtrplay::report::Diff;
use dtrplay::task::{Check, Context, Outcome, Task, TaskError};
use dtrplay::tasks::Registry;

fn main() -> ExitCode {
    dtrplay::run::main_with(std::env::args_os(), register)
}

/// Adds `daemon-json` to the registry of every run. Public so that the
/// integration tests can register it too.
pub fn register(registry: &mut Registry) {
    registry.register(
        spec(),
        // The arguments arrive validated and coerced against `spec()`:
        // deserializing them cannot meet an unknown or mistyped field.
        Arc::new(|args| {
            serde_json::from_value::<DaemonJson>(Value::Object(args))
                .map(|task| Box::new(task) as Box<dyn dtrplay::task::DynTask>)
                .map_err(|e| e.to_string())
        }),
    );
}

/// The parameters, validated at every call site by `dtrplay validate` and
/// before any run, like a built-in's.
fn spec() -> Spec {
    Spec::new(
        "daemon-json",
        vec![
            Param::new("path", Kind::Path).default("/etc/docker/daemon.json"),
            Param::new("settings", Kind::Dict).required(),
        ],
    )
}

/// The arguments of `daemon-json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonJson {
    path: String,
    /// Top-level keys to set; keys not named here are kept as they are.
    settings: Map<String, Value>,
}

#[async_trait]
impl Task for DaemonJson {
    /// The whole new document, computed by the check.
    type Drift = String;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<String>, TaskError> {
        // One round trip: the file's content, or a marker when it is absent.
        let script = format!(
            "if [ -e {p} ]; then cat {p}; else echo ABSENT >&2; fi",
            p = quote(&self.path)
        );
        let out = cx.run(&script, b"").await?;
        if !out.success() {
            return Err(TaskError::failed_with(
                format!("could not read {}", self.path),
                Outcome::ok().with_output(&out),
            ));
        }
        let absent = out.stderr_text().trim() == "ABSENT";
        let before = if absent {
            None
        } else {
            Some(out.stdout_text())
        };
        let mut doc = match before.as_deref().map(str::trim) {
            None | Some("") => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(TaskError::failed(format!(
                        "{} is not a JSON object; fix it by hand first",
                        self.path
                    )));
                }
            },
        };
        for (key, value) in &self.settings {
            doc.insert(key.clone(), value.clone());
        }
        let after = serde_json::to_string_pretty(&Value::Object(doc))
            .map_err(|e| TaskError::failed(e.to_string()))?
            + "\n";
        if before.as_deref() == Some(after.as_str()) {
            return Ok(Check::InSync(
                Outcome::ok().with_msg(format!("{} is as wanted", self.path)),
            ));
        }
        let preview = Outcome::changed(format!("{} updated", self.path)).with_diff(Diff {
            subject: self.path.clone(),
            before,
            after: Some(after.clone()),
        });
        Ok(Check::Drift {
            drift: after,
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, after: String) -> Result<Outcome, TaskError> {
        // Written beside the file and renamed, so the daemon never reads
        // half a document.
        let script = format!(
            "set -e; p={p}; mkdir -p \"$(dirname \"$p\")\"; cat > \"$p.dtrplay-tmp\"; chmod 0644 \"$p.dtrplay-tmp\"; mv \"$p.dtrplay-tmp\" \"$p\"",
            p = quote(&self.path)
        );
        let out = cx.run(&script, after.as_bytes()).await?;
        if !out.success() {
            return Err(TaskError::failed_with(
                format!("could not write {}", self.path),
                Outcome::ok().with_output(&out),
            ));
        }
        Ok(Outcome::changed(format!("{} updated", self.path)))
    }
}

/// Quotes a word for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}
