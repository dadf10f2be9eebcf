//! The `assert` task: every expression in `that` must be true. It never
//! changes anything; the first false expression fails the host.
//!
//! Expressions are evaluated by the executor's evaluator against the host's
//! variables (`Context::eval`), so `assert` behaves the same in check mode.
//! A value that is not a boolean counts by Jinja's truthiness.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::debug::display;

/// The arguments of `assert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    /// One expression or a list of them.
    pub that: Value,
    /// The message when an assertion fails (`msg` is its alias).
    pub fail_msg: Option<Value>,
    /// The message when all pass.
    pub success_msg: Option<Value>,
    /// Ansible uses this to shorten its output; ours is short already.
    #[serde(default)]
    pub quiet: bool,
}

/// The parameters of `assert`, as Ansible names them. `that` is `Raw`, not
/// `List`, because a list parameter splits strings on commas, and
/// expressions contain commas (`x in ['a', 'b']`).
pub fn spec() -> Spec {
    Spec::new(
        "assert",
        vec![
            Param::new("that", Kind::Raw).required(),
            Param::new("fail_msg", Kind::Raw).aliases(&["msg"]),
            Param::new("success_msg", Kind::Raw),
            Param::new("quiet", Kind::Bool).default(false),
        ],
    )
}

/// Jinja's idea of truth, for results that are not booleans.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

impl Assert {
    fn expressions(&self) -> Result<Vec<String>, TaskError> {
        let item = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(TaskError::failed(format!(
                "`that` must hold expressions, not {other}"
            ))),
        };
        match &self.that {
            Value::Array(items) => items.iter().map(item).collect(),
            other => Ok(vec![item(other)?]),
        }
    }

    fn outcome(&self, cx: &Context<'_>) -> Result<Outcome, TaskError> {
        for expr in self.expressions()? {
            let value = (cx.eval)(&expr).map_err(|e| {
                TaskError::failed(format!(
                    "The conditional check '{expr}' failed. The error was: {e}"
                ))
            })?;
            if truthy(&value) {
                continue;
            }
            let msg = match self.fail_msg.as_ref().filter(|m| !m.is_null()) {
                Some(msg) => display(msg),
                None => format!("Assertion failed: {expr}"),
            };
            let data = Outcome::ok()
                .with_data("assertion", expr)
                .with_data("evaluated_to", false);
            return Err(TaskError::failed_with(msg, data));
        }
        let msg = self
            .success_msg
            .as_ref()
            .filter(|m| !m.is_null())
            .map_or_else(|| "All assertions passed".to_string(), display);
        Ok(Outcome::ok().with_msg(msg.clone()).with_data("msg", msg))
    }
}

#[async_trait]
impl Task for Assert {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        self.outcome(cx).map(Check::InSync)
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // `check` never reports drift, so this only runs if called directly.
        self.outcome(cx)
    }
}
