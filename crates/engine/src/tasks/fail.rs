//! The `fail` task: stop the host with a message. It fails in check mode
//! too, like Ansible's, because its check is where it fails.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::debug::display;

/// Ansible's message when none is given.
pub const DEFAULT_MSG: &str = "Failed as requested from task";

/// The arguments of `fail`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fail {
    /// The message, already rendered; any value.
    pub msg: Option<Value>,
}

/// The parameters of `fail`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "fail",
        vec![Param::new("msg", Kind::Raw).default(DEFAULT_MSG)],
    )
}

impl Fail {
    fn error(&self) -> TaskError {
        let msg = self
            .msg
            .as_ref()
            .filter(|m| !m.is_null())
            .map_or_else(|| DEFAULT_MSG.to_string(), display);
        TaskError::failed(msg)
    }
}

#[async_trait]
impl Task for Fail {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        Err(self.error())
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        Err(self.error())
    }
}
