//! The `wait_for_connection` task: wait until the host answers again (after
//! a reboot, a network change, a new sshd), as Ansible's action of that
//! name does.
//!
//! The wait happens on the control machine: after `delay` seconds, the
//! task sends the host's shell a one-line probe at most every `sleep`
//! seconds, each bounded by `connect_timeout`, until one answers or
//! `timeout` seconds have passed. A probe that finds the session gone makes
//! the transport open a new one (a new SSH connection when the old one is
//! dead; see `connection/native.rs` and `connection/ssh.rs`), so the
//! following tasks run on the reconnected session. Failing probes are not
//! failures of the task: only the overall timeout is, with the last error.
//! Ansible's ping needs the host's Python; dtrplay needs only its shell, so
//! the probe is the shell's own `printf`.
//!
//! Like Ansible's, it does nothing in check mode (registered as skipped),
//! and it is never a change; `elapsed` is the whole seconds it waited.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `wait_for_connection`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForConnection {
    pub connect_timeout: i64,
    pub delay: i64,
    pub sleep: i64,
    pub timeout: i64,
}

/// The parameters of `wait_for_connection`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "wait_for_connection",
        vec![
            Param::new("connect_timeout", Kind::Int).default(5),
            Param::new("delay", Kind::Int).default(0),
            Param::new("sleep", Kind::Int).default(1),
            Param::new("timeout", Kind::Int).default(600),
        ],
    )
}

/// What the probe prints; anything else is not an answer.
const ANSWER: &str = "dtrplay-connected";

impl WaitForConnection {
    fn validated(&self) -> Result<(), TaskError> {
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("delay", self.delay),
            ("sleep", self.sleep),
            ("timeout", self.timeout),
        ] {
            if value < 0 {
                return Err(TaskError::failed(format!(
                    "{name} must not be negative (it is {value})"
                )));
            }
        }
        Ok(())
    }

    /// One probe: the host's shell answers within `connect_timeout`.
    async fn probe(&self, cx: &Context<'_>) -> Result<(), String> {
        let limit = Duration::from_secs(self.connect_timeout.max(1) as u64);
        let script = format!("printf '%s' {ANSWER}");
        match tokio::time::timeout(limit, cx.conn.run(&script, &[], limit)).await {
            Ok(Ok(out)) if out.success() && out.stdout_text() == ANSWER => Ok(()),
            Ok(Ok(out)) => Err(format!(
                "the host answered {:?} (exit status {})",
                out.stdout_text(),
                out.status
            )),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within connect_timeout ({} s)",
                limit.as_secs()
            )),
        }
    }
}

#[async_trait]
impl Task for WaitForConnection {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        self.validated()?;
        // The wait happens in apply, so check mode neither waits nor
        // probes, as Ansible skips the action in check mode.
        let preview = Outcome::ok()
            .with_msg("skipped in check mode")
            .with_data("skipped", true);
        Ok(Check::Drift { drift: (), preview })
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(self.delay as u64)).await;
        let deadline = start + Duration::from_secs((self.delay + self.timeout) as u64);
        let pause = Duration::from_secs(self.sleep.max(1) as u64);
        loop {
            let last = match self.probe(cx).await {
                Ok(()) => {
                    return Ok(Outcome::ok().with_data("elapsed", start.elapsed().as_secs()));
                }
                Err(error) => error,
            };
            if Instant::now() + pause > deadline {
                let elapsed = start.elapsed().as_secs();
                return Err(TaskError::failed_with(
                    format!(
                        "timed out waiting for the connection to {}: {last}",
                        cx.host
                    ),
                    Outcome::ok().with_data("elapsed", elapsed),
                ));
            }
            tokio::time::sleep(pause).await;
        }
    }
}
