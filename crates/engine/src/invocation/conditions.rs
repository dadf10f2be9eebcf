//! Evaluating a task's conditions and counts for this host: `when`,
//! `changed_when`, `failed_when`, `until`, `ignore_errors`, and the
//! `retries` and `delay` numbers, with Jinja's truthiness.
//!
//! Apart from the invocation so that every condition is evaluated the same
//! way, with the same variables.

use serde_json::Value;

use super::Invocation;
use crate::error::InputError;
use crate::yaml::Node;

use crate::params::to_bool;

impl Invocation<'_> {
    pub(super) fn render(&self, node: &Node) -> Result<Value, InputError> {
        self.templates.render_node(node, &self.vars)
    }

    pub(super) fn truth(&self, node: &Node) -> Result<bool, InputError> {
        let value = self.templates.eval_node(node, &self.vars)?;
        Ok(truthy(&value))
    }

    pub(super) fn all_true(&self, nodes: &[Node]) -> Result<bool, InputError> {
        for n in nodes {
            if !self.truth(n)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) fn any_true(&self, nodes: &[Node]) -> Result<bool, InputError> {
        for n in nodes {
            if self.truth(n)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A non-negative count from `retries`/`delay` (a number or a template).
    pub(super) fn count(&self, node: Option<&Node>, default: u64) -> Result<u64, ValueError> {
        let Some(node) = node else {
            return Ok(default);
        };
        let value = self.render(node)?;
        match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or(ValueError::NotCount(value))
    }
}

/// Why a task keyword's value (`retries`, `delay`, `loop_control`) cannot
/// be used on this host; the task fails on the host with this message.
#[derive(Debug, thiserror::Error)]
pub(super) enum ValueError {
    /// Rendering or evaluating the value failed.
    #[error("{}", .0.message)]
    Render(#[from] InputError),
    /// `retries` or `delay` is not a whole number (the rendered value).
    #[error("expected a whole number, not {0}")]
    NotCount(Value),
    /// `loop_control.pause` is not a number of seconds up to a day.
    #[error("`loop_control.pause` must be a number of seconds, not {0}")]
    Pause(Value),
}

/// Jinja/Ansible truthiness of an evaluated condition.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => to_bool(value).unwrap_or(!s.is_empty()),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
