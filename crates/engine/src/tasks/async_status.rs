//! The `async_status` task: how a job that `poll: 0` started in the
//! background stands (`mode: status`), or the removal of its job directory
//! (`mode: cleanup`).
//!
//! One round trip reads the job's directory (`crate::async_job`): still
//! running gives `finished: false`; finished gives what the command would
//! have registered (`rc`, `stdout`, `stderr` and their lines), failing as
//! the command would have on a non-zero exit status. The usual shape is a
//! task with `until: result.finished`, `retries` and `delay`.
//!
//! Reading changes nothing, so check mode reads too; `cleanup` in check
//! mode says what it would remove. A job that never started a process
//! (check mode, `creates`) is answered from the run's memory.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::async_job::{self, Status};
use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `async_status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncStatus {
    pub jid: String,
    pub mode: String,
}

/// The parameters of `async_status`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "async_status",
        vec![
            Param::new("jid", Kind::Str).required(),
            Param::new("mode", Kind::Str)
                .default("status")
                .choices(&["status", "cleanup"]),
        ],
    )
}

impl AsyncStatus {
    /// The job directory's parent on the host: `ansible_async_dir`, else
    /// Ansible's default.
    fn dir(cx: &Context<'_>) -> String {
        match cx.var("ansible_async_dir") {
            Some(Value::String(dir)) if !dir.trim().is_empty() => dir.clone(),
            _ => async_job::DEFAULT_DIR.to_string(),
        }
    }

    fn base(&self, dir: &str) -> Outcome {
        Outcome::ok()
            .with_data("ansible_job_id", self.jid.clone())
            .with_data("results_file", dir)
            .with_data("started", true)
    }

    /// The job's result: as it stands, or as it ended.
    fn status(&self, dir: &str, status: Status) -> Result<Outcome, TaskError> {
        let base = self.base(dir);
        match status {
            Status::Missing => Err(TaskError::failed_with(
                "could not find job",
                base.with_data("finished", true),
            )),
            Status::Running => Ok(output(base.with_data("finished", false), "", "")),
            Status::Finished {
                timed_out: Some(_), ..
            } => Err(TaskError::failed_with(
                "Timeout exceeded",
                output(base.with_data("finished", true), "", ""),
            )),
            Status::Finished {
                rc, stdout, stderr, ..
            } => {
                let mut outcome =
                    output(base.with_data("finished", true), &stdout, &stderr).with_data("rc", rc);
                outcome.changed = true;
                if rc != 0 {
                    return Err(TaskError::failed_with("non-zero return code", outcome));
                }
                Ok(outcome.with_data("msg", ""))
            }
        }
    }

    /// The result of a job that started no process, kept by the run.
    fn remembered(&self, result: Map<String, Value>) -> Result<Outcome, TaskError> {
        let mut outcome = Outcome::ok();
        outcome.changed = result.get("changed") == Some(&Value::Bool(true));
        outcome.msg = result
            .get("msg")
            .and_then(Value::as_str)
            .map(str::to_string);
        let failed = result.get("failed") == Some(&Value::Bool(true));
        for (key, value) in result {
            if !matches!(key.as_str(), "changed" | "failed" | "msg") {
                outcome.data.insert(key, value);
            }
        }
        for key in ["stdout", "stderr"] {
            if !outcome.data.contains_key(key) {
                outcome = output_field(outcome, key);
            }
        }
        outcome = outcome
            .with_data("ansible_job_id", self.jid.clone())
            .with_data("started", true)
            .with_data("finished", true);
        if failed {
            let msg = outcome.msg.clone().unwrap_or_default();
            return Err(TaskError::failed_with(msg, outcome));
        }
        Ok(outcome)
    }
}

/// An empty output stream and its lines, for a job that printed nothing.
fn output_field(outcome: Outcome, key: &str) -> Outcome {
    outcome
        .with_data(key, "")
        .with_data(&format!("{key}_lines"), Vec::<String>::new())
}

/// A result with `stdout`, `stderr` and their lines.
fn output(outcome: Outcome, stdout: &str, stderr: &str) -> Outcome {
    outcome
        .with_data("stdout", stdout)
        .with_data("stdout_lines", async_job::lines(stdout))
        .with_data("stderr", stderr)
        .with_data("stderr_lines", async_job::lines(stderr))
}

#[async_trait]
impl Task for AsyncStatus {
    /// The job directory `cleanup` removes.
    type Drift = String;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<String>, TaskError> {
        if !async_job::valid_jid(&self.jid) {
            return Err(TaskError::failed(format!(
                "`jid` must be a job id such as j123456789012.4242 (letters, digits, `.`, `_`, `-`), not {:?}",
                self.jid
            )));
        }
        let cleanup = self.mode == "cleanup";
        if let Some(result) = async_job::settled(cx.host, &self.jid) {
            if !cleanup {
                return self.remembered(result).map(Check::InSync);
            }
            if !cx.check_mode {
                async_job::forget(cx.host, &self.jid);
            }
            return Ok(Check::InSync(
                output(self.base(""), "", "")
                    .with_data("started", false)
                    .with_data("finished", false),
            ));
        }
        let dir = Self::dir(cx);
        let out = cx
            .run(&async_job::status_script(&dir, &self.jid), &[])
            .await?;
        if !out.success() {
            return Err(TaskError::failed(format!(
                "could not read job {} (exit status {}): {}",
                self.jid,
                out.status,
                out.stderr_text().trim()
            )));
        }
        let (path, status) = async_job::parse_status(&out)
            .map_err(|e| TaskError::failed(format!("could not read job {}: {e}", self.jid)))?;
        if !cleanup {
            return self.status(&path, status).map(Check::InSync);
        }
        // Ansible's cleanup reports the job as erased, changed or not.
        let erased = output(self.base(&path), "", "")
            .with_data("erased", path.clone())
            .with_data("started", false)
            .with_data("finished", false);
        if status == Status::Missing {
            return Ok(Check::InSync(erased));
        }
        Ok(Check::Drift {
            drift: path,
            preview: erased,
        })
    }

    async fn apply(&self, cx: &Context<'_>, path: String) -> Result<Outcome, TaskError> {
        let dir = Self::dir(cx);
        let out = cx
            .run(&async_job::cleanup_script(&dir, &self.jid), &[])
            .await?;
        if !out.success() {
            return Err(TaskError::failed(format!(
                "could not remove {path} (exit status {}): {}",
                out.status,
                out.stderr_text().trim()
            )));
        }
        Ok(output(self.base(&path), "", "")
            .with_data("erased", path)
            .with_data("started", false)
            .with_data("finished", false))
    }
}
