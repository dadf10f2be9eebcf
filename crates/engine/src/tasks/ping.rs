//! The `ping` task: one round trip to the host's shell, answered with
//! `ping: <data>` (`pong` by default), as Ansible's `ping` module answers.
//!
//! Ansible's `ping` proves that the host can run its Python; dtrplay needs
//! no interpreter on the host, so reaching the host's shell and getting the
//! answer back is the whole proof. It changes nothing, so check mode runs
//! it too. `data: crash` fails the task, as in Ansible.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `ping`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    pub data: String,
}

/// The parameters of `ping`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new("ping", vec![Param::new("data", Kind::Str).default("pong")])
}

#[async_trait]
impl Task for Ping {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        if self.data == "crash" {
            return Err(TaskError::failed("boom"));
        }
        // The host's shell prints the data back with its `printf` builtin,
        // so the answer comes from the host and no program starts there.
        let script = format!("printf '%s' {}", remote::shell_quote(&self.data));
        let out = cx.run(&script, &[]).await?;
        let answer = out.stdout_text();
        if !out.success() || answer != self.data {
            return Err(TaskError::failed(format!(
                "the host answered {answer:?} (exit status {}) instead of {:?}",
                out.status, self.data
            )));
        }
        Ok(Check::InSync(Outcome::ok().with_data("ping", answer)))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}
