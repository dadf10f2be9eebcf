//! The `debug` task: show a message or a variable. It never changes
//! anything and always succeeds, except when `var` cannot be evaluated for a
//! reason other than being undefined.
//!
//! An undefined `var` shows `VARIABLE IS NOT DEFINED!`, Ansible's words. A
//! `verbosity` above the run's (`ansible_verbosity`, set by the executor
//! from `-v`) makes the task a no-op registered as skipped.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// What Ansible shows for a variable that is not defined.
pub const NOT_DEFINED: &str = "VARIABLE IS NOT DEFINED!";

/// The arguments of `debug`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debug {
    /// The message, already rendered; any value.
    pub msg: Option<Value>,
    /// An expression (usually a variable name) to show with its value.
    pub var: Option<String>,
    /// The `-v` count from which the message shows.
    #[serde(default)]
    pub verbosity: i64,
}

/// The parameters of `debug`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "debug",
        vec![
            Param::new("msg", Kind::Raw),
            Param::new("var", Kind::Str),
            Param::new("verbosity", Kind::Int).default(0),
        ],
    )
}

/// How a value is shown in a message: strings bare, the rest as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Debug {
    fn outcome(&self, cx: &Context<'_>) -> Result<Outcome, TaskError> {
        let run_verbosity = cx
            .var("ansible_verbosity")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if self.verbosity > run_verbosity {
            return Ok(Outcome::ok()
                .with_data("skipped", true)
                .with_data("skipped_reason", "Verbosity threshold not met."));
        }
        match (&self.msg, &self.var) {
            (Some(_), Some(_)) => Err(TaskError::failed(
                "'msg' and 'var' are incompatible options",
            )),
            (_, Some(var)) => {
                let value = evaluate(cx, var)?;
                Ok(Outcome::ok()
                    .with_msg(format!("{var}: {}", display(&value)))
                    .with_data(var, value))
            }
            (msg, None) => {
                let msg = msg.clone().unwrap_or_else(|| "Hello world!".into());
                Ok(Outcome::ok().with_msg(display(&msg)).with_data("msg", msg))
            }
        }
    }
}

/// Evaluates `var`, turning "undefined" into Ansible's marker text.
fn evaluate(cx: &Context<'_>, var: &str) -> Result<Value, TaskError> {
    let error = match (cx.eval)(var) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let undefined = error.to_ascii_lowercase().contains("undefined")
        || (cx.eval)(&format!("({var}) is defined")) == Ok(Value::Bool(false));
    if undefined {
        return Ok(Value::from(NOT_DEFINED));
    }
    Err(TaskError::failed(format!(
        "could not evaluate `{var}`: {error}"
    )))
}

#[async_trait]
impl Task for Debug {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        self.outcome(cx).map(Check::InSync)
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // `check` never reports drift, so this only runs if called directly.
        self.outcome(cx)
    }
}
