//! One call of an ansible-core module on one host: the payload travels on
//! the script's stdin through the host's long-lived shell, the host's
//! Python runs it, and its JSON result comes back in the same round trip.
//!
//! Check and apply map onto Ansible's own modes. In check mode, `check`
//! runs the module with `_ansible_check_mode` set, as Ansible does: the
//! module reports what it would change (or `skipped` when it cannot check)
//! and changes nothing. Outside check mode, `check` does not contact the
//! host at all (a module has no read-only mode that is cheaper than
//! running it) and `apply` runs the module once, which reports whether it
//! changed anything. So a task costs one round trip either way.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::shell_quote;

use super::result::{self, NO_PYTHON};
use super::{AnsibleCore, Module};

/// The interpreters tried, in order, when the host sets no
/// `ansible_python_interpreter` (or sets it to one of Ansible's `auto`
/// modes): the distribution's Python first, as Ansible's discovery does.
const DISCOVERY: [&str; 5] = [
    "/usr/bin/python3",
    "python3",
    "/usr/libexec/platform-python",
    "/usr/bin/python",
    "python",
];

/// One call of a module: its arguments, as the playbook gave them.
pub struct ModuleTask {
    pub core: Arc<AnsibleCore>,
    pub module: Arc<Module>,
    pub args: Map<String, Value>,
}

#[async_trait]
impl Task for ModuleTask {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        if !cx.check_mode {
            return Ok(Check::Drift {
                drift: (),
                preview: Outcome::changed(format!("{} runs on apply", self.module.fqcn)),
            });
        }
        let reply = self.run(cx, true).await?;
        if reply.skipped || !reply.outcome.changed {
            return Ok(Check::InSync(reply.outcome));
        }
        Ok(Check::Drift {
            drift: (),
            preview: reply.outcome,
        })
    }

    async fn apply(&self, cx: &Context<'_>, (): ()) -> Result<Outcome, TaskError> {
        Ok(self.run(cx, false).await?.outcome)
    }
}

impl ModuleTask {
    async fn run(&self, cx: &Context<'_>, check_mode: bool) -> Result<result::Reply, TaskError> {
        let payload = self
            .core
            .payload(&self.module, &self.args, check_mode, cx.diff, cx.no_log())
            .await
            .map_err(|e| TaskError::failed(format!("{}: {e}", self.module.fqcn)))?;
        let interpreter = interpreter(cx)?;
        let script = script(interpreter.as_deref());
        let out = cx.run(&script, &payload).await?;
        let shown = interpreter.as_deref().unwrap_or("python3");
        let reply = result::parse(&out, &self.module.fqcn, shown)?;
        for warning in &reply.warnings {
            cx.warn(warning.clone());
        }
        Ok(reply)
    }
}

/// The host's `ansible_python_interpreter`, unless it asks for discovery.
fn interpreter(cx: &Context<'_>) -> Result<Option<String>, TaskError> {
    if cx.var("ansible_python_interpreter").is_none() {
        return Ok(None);
    }
    let value = (cx.eval)("ansible_python_interpreter")
        .map_err(|e| TaskError::failed(format!("ansible_python_interpreter: {e}")))?;
    match value {
        Value::String(s) if s.trim().is_empty() || s.trim().starts_with("auto") => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        Value::Null => Ok(None),
        other => Err(TaskError::failed(format!(
            "ansible_python_interpreter must be a path, not {other}"
        ))),
    }
}

/// The script that runs the payload on its stdin with the host's Python.
/// The interpreter is `exec`ed in place of the request's subshell, so the
/// module is the only program the task starts.
fn script(interpreter: Option<&str>) -> String {
    let mut s = String::new();
    match interpreter {
        Some(path) => s.push_str(&format!("py={}\n", shell_quote(path))),
        None => {
            s.push_str("py=\nfor c in");
            for candidate in DISCOVERY {
                s.push(' ');
                s.push_str(candidate);
            }
            s.push_str("; do if command -v \"$c\" >/dev/null 2>&1; then py=$c; break; fi; done\n");
            s.push_str(&format!("[ -n \"$py\" ] || exit {NO_PYTHON}\n"));
        }
    }
    s.push_str("exec \"$py\" -\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_discovers_or_quotes_the_interpreter() {
        let found = script(None);
        assert!(
            found.contains("for c in /usr/bin/python3 python3"),
            "{found}"
        );
        assert!(found.ends_with("exec \"$py\" -\n"));
        let given = script(Some("/opt/my python/bin/python3"));
        assert!(
            given.starts_with("py='/opt/my python/bin/python3'\n"),
            "{given}"
        );
    }
}
