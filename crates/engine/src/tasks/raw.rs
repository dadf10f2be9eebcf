//! The `raw` task: a command line handed to the host's shell as written,
//! with no quoting, no module and nothing else around it, the way Ansible's
//! `raw` sends it over SSH. It is what bootstraps hosts that lack
//! everything else, and like Ansible's it always counts as a change and
//! does not run in check mode.
//!
//! With `executable`, the line runs as `<executable> -c <line>`; without,
//! it is the script of the request itself, run by the session's `sh`.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `raw`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub free_form: String,
    pub executable: Option<String>,
}

/// The parameters of `raw`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "raw",
        vec![
            Param::new("free_form", Kind::Str).required(),
            Param::new("executable", Kind::Path),
        ],
    )
    .free_form("free_form")
}

#[async_trait]
impl Task for Raw {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let mut preview = Outcome::ok().with_msg(format!("would run: {}", self.free_form));
        preview.changed = true;
        Ok(Check::Drift { drift: (), preview })
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        let script = match &self.executable {
            Some(exe) => format!(
                "exec {} -c {}\n",
                remote::path_arg(exe),
                shell_quote(&self.free_form)
            ),
            None => format!("{}\n", self.free_form),
        };
        let out = cx.run(&script, &[]).await?;
        let mut outcome = Outcome::ok().with_output(&out);
        if !out.success() {
            return Err(TaskError::failed_with("non-zero return code", outcome));
        }
        outcome.changed = true;
        Ok(outcome)
    }
}
