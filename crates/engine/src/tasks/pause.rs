//! The `pause` task: wait a number of `seconds` or `minutes`, once per
//! play (its result is registered on every host, as Ansible's pause runs
//! once for all of them).
//!
//! dtrplay runs without a terminal of its own, so the interactive forms
//! (a `prompt` with no duration, waiting for a key) are refused with an
//! error that says to give a duration; a `prompt` with a duration is shown
//! as the task's message. The wait happens in check mode too, as in
//! Ansible, and is never a change.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `pause`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    pub seconds: Option<i64>,
    pub minutes: Option<i64>,
    pub prompt: Option<String>,
    #[serde(default = "yes")]
    pub echo: bool,
}

fn yes() -> bool {
    true
}

/// The parameters of `pause`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "pause",
        vec![
            Param::new("seconds", Kind::Int),
            Param::new("minutes", Kind::Int),
            Param::new("prompt", Kind::Str),
            Param::new("echo", Kind::Bool).default(true),
        ],
    )
    .run_once()
}

/// The longest pause accepted: a day.
const LONGEST: i64 = 24 * 3600;

impl Pause {
    fn duration(&self) -> Result<Duration, TaskError> {
        let seconds = match (self.seconds, self.minutes) {
            (Some(s), None) => s,
            (None, Some(m)) => m.saturating_mul(60),
            (Some(_), Some(_)) => {
                return Err(TaskError::failed(
                    "parameters are mutually exclusive: minutes|seconds",
                ));
            }
            (None, None) => {
                return Err(TaskError::failed(
                    "pause without seconds or minutes waits for a key press, and dtrplay runs \
                     without a terminal: give `seconds:` or `minutes:`",
                ));
            }
        };
        if !(0..=LONGEST).contains(&seconds) {
            return Err(TaskError::failed(format!(
                "a pause of {seconds} seconds is out of range (0 to {LONGEST})"
            )));
        }
        Ok(Duration::from_secs(seconds.unsigned_abs()))
    }
}

#[async_trait]
impl Task for Pause {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let wait = self.duration()?;
        let stamp = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        };
        let start = stamp();
        let started = Instant::now();
        tokio::time::sleep(wait).await;
        let delta = started.elapsed().as_secs();
        let mut outcome = Outcome::ok()
            .with_data("start", start)
            .with_data("stop", stamp())
            .with_data("delta", delta)
            .with_data("user_input", "")
            .with_data("echo", self.echo)
            .with_data("stdout", format!("Paused for {} seconds", wait.as_secs()));
        outcome.msg = Some(match &self.prompt {
            Some(p) => p.clone(),
            None => format!("Paused for {} seconds", wait.as_secs()),
        });
        Ok(Check::InSync(outcome))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}
