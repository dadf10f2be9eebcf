//! The `script` task: a script of the control machine (found like `copy`'s
//! `src`, in `files/` first) run on the host with its arguments, as
//! Ansible's `script` does, and like it always a change unless `creates` or
//! `removes` say there is nothing to do, in which case it is skipped.
//!
//! One round trip: the script travels on standard input into a private
//! temporary directory, is made executable and run from `chdir` (with
//! `executable` in front when given); the directory goes when it ends. As
//! in Ansible, what follows the script's name in the command line is shell
//! text, so arguments are quoted and expanded by the host's shell.
//!
//! Check mode: with `creates` or `removes` the check answers them and
//! reports a change; without, the task is skipped ("Check mode is not
//! supported for this task."), as in Ansible.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::search_path::SrcKind;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `script`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub cmd: String,
    pub creates: Option<String>,
    pub removes: Option<String>,
    pub chdir: Option<String>,
    pub executable: Option<String>,
    pub decrypt: Option<bool>,
}

/// The parameters of `script`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "script",
        vec![
            Param::new("cmd", Kind::Str).required(),
            Param::new("creates", Kind::Path),
            Param::new("removes", Kind::Path),
            Param::new("chdir", Kind::Path),
            Param::new("executable", Kind::Str),
            Param::new("decrypt", Kind::Bool),
        ],
    )
    .free_form("cmd")
}

/// The largest script sent: it travels with the request.
pub const SCRIPT_LIMIT: u64 = 16 * 1024 * 1024;

impl Script {
    /// The script's name as written, and the shell text after it.
    fn split(&self) -> Result<(String, String), TaskError> {
        let line = self.cmd.trim();
        let words = remote::shlex_split(line)
            .map_err(|e| TaskError::failed(format!("could not read the command line: {e}")))?;
        let Some(first) = words.first().cloned() else {
            return Err(TaskError::failed("the command line names no script"));
        };
        // Ansible puts the script's path where its name was and leaves the
        // rest of the line as it was written.
        let rest = match line.strip_prefix(first.as_str()) {
            Some(rest) => rest.to_string(),
            None => words[1..]
                .iter()
                .map(|w| format!(" {}", remote::shell_quote(w)))
                .collect(),
        };
        Ok((first, rest))
    }

    /// `creates` and `removes`, answered on the host: the reason to skip.
    async fn skip_reason(&self, cx: &Context<'_>) -> Result<Option<String>, TaskError> {
        if self.creates.is_none() && self.removes.is_none() {
            return Ok(None);
        }
        let mut script = String::new();
        if let Some(creates) = &self.creates {
            script.push_str(&format!(
                "[ -e {} ] && echo creates\n",
                remote::path_arg(creates)
            ));
        }
        if let Some(removes) = &self.removes {
            script.push_str(&format!(
                "[ -e {} ] || echo removes\n",
                remote::path_arg(removes)
            ));
        }
        script.push_str("exit 0\n");
        let out = cx.run(&script, &[]).await?;
        let text = out.stdout_text();
        Ok(if text.contains("creates") {
            Some(format!(
                "{} exists, matching creates option",
                self.creates.as_deref().unwrap_or_default()
            ))
        } else if text.contains("removes") {
            Some(format!(
                "{} does not exist, matching removes option",
                self.removes.as_deref().unwrap_or_default()
            ))
        } else {
            None
        })
    }
}

/// A result that says the task did nothing, which the run counts as skipped.
fn skipped(msg: String) -> Outcome {
    Outcome::ok().with_msg(msg).with_data("skipped", true)
}

#[async_trait]
impl Task for Script {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        if let Some(chdir) = &self.chdir {
            if !chdir.starts_with('/') {
                return Err(TaskError::failed(format!(
                    "chdir {chdir} must be an absolute path for a Unix-aware remote node"
                )));
            }
        }
        let (name, _) = self.split()?;
        let path = cx.find_src(SrcKind::Files, &name);
        if !path.is_file() {
            return Err(TaskError::failed(format!(
                "Could not find or access '{name}' on the Ansible Controller."
            )));
        }
        if let Some(reason) = self.skip_reason(cx).await? {
            return Ok(Check::InSync(skipped(reason)));
        }
        let preview = if self.creates.is_some() || self.removes.is_some() {
            Outcome::changed(format!("would run {name}"))
        } else {
            skipped("Check mode is not supported for this task.".into())
        };
        Ok(Check::Drift { drift: (), preview })
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        let (name, rest) = self.split()?;
        let path = cx.find_src(SrcKind::Files, &name);
        let too_big = std::fs::metadata(&path).is_ok_and(|m| m.len() > SCRIPT_LIMIT);
        if too_big {
            return Err(TaskError::failed(format!(
                "{} is larger than {} MiB, too large to send as a script",
                path.display(),
                SCRIPT_LIMIT / (1024 * 1024)
            )));
        }
        let content = std::fs::read(&path)
            .map_err(|e| TaskError::failed(format!("could not read {}: {e}", path.display())))?;
        let base = remote::shell_quote(remote::base_name(&name));
        let mut script = format!(
            "{}t=$(mktemp -d) || fail tmp\ntrap 'rm -rf \"$t\"' EXIT\n\
             cat > \"$t\"/{base} && chmod 0700 \"$t\"/{base} || fail tmp\n",
            remote::FAIL_FN
        );
        if let Some(chdir) = &self.chdir {
            script.push_str(&format!("cd {} || fail chdir\n", remote::path_arg(chdir)));
        }
        let executable = self
            .executable
            .as_deref()
            .map(|e| format!("{e} "))
            .unwrap_or_default();
        script.push_str(&format!("{executable}\"$t\"/{base}{rest} </dev/null\n"));
        let out = cx.run(&script, &content).await?;
        match remote::failure(&out).code.as_deref() {
            Some("tmp") => {
                return Err(remote::with_detail(
                    "could not put the script in a temporary directory on the host".into(),
                    &remote::failure(&out),
                ));
            }
            Some("chdir") => {
                return Err(remote::with_detail(
                    format!(
                        "Unable to change directory before execution: {}",
                        self.chdir.as_deref().unwrap_or_default()
                    ),
                    &remote::failure(&out),
                ));
            }
            _ => {}
        }
        let mut outcome = Outcome::ok().with_output(&out);
        if !out.success() {
            return Err(TaskError::failed_with("non-zero return code", outcome));
        }
        outcome.changed = true;
        Ok(outcome)
    }
}
