//! The `cron` task: one job (or one environment variable) in a user's
//! crontab or in a file under `/etc/cron.d`, marked the way Ansible marks
//! it, so that playbooks can move between Ansible and dtrplay and find
//! their own jobs again.
//!
//! Every job is two lines: `#Ansible: <name>` and the job itself
//! (`<minute> <hour> <day> <month> <weekday> [<user>] <job>`, or
//! `@<special_time> [<user>] <job>`, commented out with `#` when
//! `disabled`). The edit follows ansible-core's cron module step by step,
//! including how it adopts an unmarked identical job line and when it
//! reports a change. A user's crontab is read with `crontab -l` and
//! installed with `crontab -`, both run as that user's (`-u`) when it is
//! not the connecting one; a `cron_file` is edited like `lineinfile` edits
//! (fetched, changed on the control machine, written atomically) and
//! removed once its last job is. Check mode reports the diff and changes
//! nothing.
//!
//! Differences from Ansible: `backup` is accepted and ignored; a
//! `cron_file` does not need the `crontab` program; variable names in
//! `insertafter`/`insertbefore` and `env` names are matched literally, not
//! as regular expressions; lines split at `\n`, `\r\n` and `\r` only.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::crontab::{Crontab, Found, marker, split_lines, user_crontab};
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::{self, FileKind, shell_quote};

/// The arguments of `cron`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cron {
    pub name: String,
    pub user: Option<String>,
    pub job: Option<String>,
    pub cron_file: Option<String>,
    pub state: String,
    pub backup: bool,
    pub minute: String,
    pub hour: String,
    pub day: String,
    pub month: String,
    pub weekday: String,
    pub special_time: Option<String>,
    pub disabled: bool,
    pub env: bool,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
}

/// The parameters of `cron`, as Ansible names them.
pub fn spec() -> Spec {
    let time = |name: &str| Param::new(name, Kind::Str).default("*");
    Spec::new(
        "cron",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("user", Kind::Str),
            Param::new("job", Kind::Str).aliases(&["value"]),
            Param::new("cron_file", Kind::Path),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("backup", Kind::Bool).default(false),
            time("minute"),
            time("hour"),
            time("day").aliases(&["dom"]),
            time("month"),
            time("weekday").aliases(&["dow"]),
            Param::new("special_time", Kind::Str).choices(&[
                "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
            ]),
            Param::new("disabled", Kind::Bool).default(false),
            Param::new("env", Kind::Bool).default(false),
            Param::new("insertafter", Kind::Str),
            Param::new("insertbefore", Kind::Str),
        ],
    )
}

/// What the edit comes to.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    changed: bool,
    /// The `cron_file` lost its last job and goes.
    remove_file: bool,
    after: String,
    jobs: Vec<String>,
    envs: Vec<String>,
    msg: String,
}

/// What `apply` writes.
#[derive(Debug)]
pub enum CronDrift {
    /// The `cron_file`'s new content.
    File {
        edit: Box<EditDrift>,
        jobs: Vec<String>,
        envs: Vec<String>,
    },
    /// The `cron_file` goes.
    RemoveFile,
    /// The user's crontab to install.
    Crontab {
        content: String,
        jobs: Vec<String>,
        envs: Vec<String>,
        msg: String,
    },
}

impl Cron {
    /// The crontab file, when the task edits one rather than a user's.
    fn file(&self) -> Option<String> {
        self.cron_file.as_ref().map(|f| match f.starts_with('/') {
            true => f.clone(),
            false => format!("/etc/cron.d/{f}"),
        })
    }

    fn present(&self) -> bool {
        self.state == "present"
    }

    /// Refuses what Ansible refuses, before asking the host.
    fn validate(&self, cx: &Context<'_>) -> Result<(), TaskError> {
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: insertafter|insertbefore",
            ));
        }
        if let Some(file) = &self.cron_file {
            if file == "/etc/crontab" {
                return Err(TaskError::failed(
                    "Will not manage /etc/crontab via cron_file, see documentation.",
                ));
            }
            let base = remote::base_name(file);
            let plain = !base.is_empty()
                && base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !plain {
                cx.warn(format!(
                    "Filename portion of cron_file (\"{base}\") should consist solely of upper- and lower-case letters, digits, underscores, and hyphens"
                ));
            }
        }
        let times = [
            &self.minute,
            &self.hour,
            &self.day,
            &self.month,
            &self.weekday,
        ];
        if self.special_time.is_some() && times.iter().any(|t| t.as_str() != "*") {
            return Err(TaskError::failed(
                "You cannot combine special_time with any of the time or day/date parameters.",
            ));
        }
        if self.present() {
            if self.cron_file.is_some() && self.user.is_none() {
                return Err(TaskError::failed(
                    "To use cron_file=... parameter you must specify user=... as well",
                ));
            }
            if self.job.is_none() {
                return Err(TaskError::failed(
                    "You must specify 'job' to install a new cron job or variable",
                ));
            }
            if (self.insertafter.is_some() || self.insertbefore.is_some()) && !self.env {
                return Err(TaskError::failed(
                    "Insertafter and insertbefore parameters are valid only with env=yes",
                ));
            }
        }
        if self.env && self.name.contains(' ') {
            return Err(TaskError::failed("Invalid name for environment variable"));
        }
        if !self.env
            && self.present()
            && self
                .job
                .as_deref()
                .is_some_and(|j| j.trim_matches(['\r', '\n']).contains(['\r', '\n']))
        {
            cx.warn("Job should not contain line breaks");
        }
        Ok(())
    }

    /// The job's line, as Ansible writes it.
    fn job_line(&self) -> String {
        let job = self.job.as_deref().unwrap_or_default();
        let job = job.trim_matches(['\r', '\n']);
        let prefix = if self.disabled { "#" } else { "" };
        let user = match (&self.cron_file, &self.user) {
            (Some(_), Some(user)) => format!("{user} "),
            _ => String::new(),
        };
        match &self.special_time {
            Some(special) => format!("{prefix}@{special} {user}{job}"),
            None => format!(
                "{prefix}{} {} {} {} {} {user}{job}",
                self.minute, self.hour, self.day, self.month, self.weekday
            ),
        }
    }

    /// Edits the crontab as ansible-core would; `existing` is its text.
    fn plan(&self, mut tab: Crontab, existing: &str) -> Result<Plan, TaskError> {
        let name = self.name.as_str();
        let mut changed = false;
        let mut msg = String::new();
        if self.env {
            let decl = format!("{name}=\"{}\"", self.job.as_deref().unwrap_or_default());
            let old = tab.find_env(name).map(|i| tab.lines[i].clone());
            match (self.present(), old) {
                (true, None) => {
                    let other = self.insertafter.as_ref().or(self.insertbefore.as_ref());
                    let at = match other {
                        None => 0,
                        Some(other) => match tab.find_env(other) {
                            Some(i) if self.insertafter.is_some() => i + 1,
                            Some(i) => i,
                            None => {
                                return Err(TaskError::failed(format!(
                                    "Variable named '{other}' not found."
                                )));
                            }
                        },
                    };
                    tab.lines.insert(at, decl);
                    changed = true;
                    msg = format!("variable {name} added");
                }
                (true, Some(old)) if old != decl => {
                    tab.update_env(name, Some(&decl));
                    changed = true;
                    msg = format!("variable {name} changed");
                }
                (false, Some(_)) => {
                    tab.update_env(name, None);
                    changed = true;
                    msg = format!("variable {name} removed");
                }
                _ => {}
            }
        } else if self.present() {
            let job = self.job_line();
            match tab.find_job(name, Some(&job)) {
                Found::Missing => {
                    tab.lines.push(marker(name));
                    tab.lines.push(job);
                    changed = true;
                    msg = format!("job {name:?} added");
                }
                Found::Job(old) if old == job => {}
                Found::Job(_) | Found::Adopted => {
                    tab.update_job(name, Some(&job));
                    changed = true;
                    msg = format!("job {name:?} changed");
                }
            }
        } else if tab.find_job(name, None) != Found::Missing {
            tab.update_job(name, None);
            changed = true;
            msg = format!("job {name:?} removed");
            if self.cron_file.is_some() && tab.is_empty() {
                return Ok(Plan {
                    changed,
                    remove_file: true,
                    after: String::new(),
                    jobs: Vec::new(),
                    envs: Vec::new(),
                    msg: format!("{msg}; the file had no other line"),
                });
            }
        }
        if !changed && !existing.is_empty() && !existing.ends_with(['\r', '\n']) {
            changed = true;
            msg = "final newline added".to_string();
        }
        Ok(Plan {
            changed,
            remove_file: false,
            after: tab.render(),
            jobs: tab.job_names(),
            envs: tab.env_names(),
            msg,
        })
    }

    fn result(&self, jobs: &[String], envs: &[String]) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("jobs", jobs.to_vec())
            .with_data("envs", envs.to_vec());
        if let Some(file) = &self.cron_file {
            outcome = outcome.with_data("cron_file", file.clone());
        }
        outcome
    }

    /// Sets `$@` to `-u USER` when the crontab is another user's than the
    /// connecting one: crontab refuses `-u` to unprivileged users even for
    /// their own name.
    fn user_args(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str("command -v crontab >/dev/null 2>&1 || fail nocrontab\nset --\n");
        if let Some(user) = &self.user {
            let u = shell_quote(user);
            s.push_str(&format!(
                "id -u -- {u} >/dev/null 2>&1 || fail nouser\n\
                 if [ \"$(id -un)\" != {u} ]; then set -- -u {u}; fi\n"
            ));
        }
        s
    }

    fn header(&self) -> String {
        match &self.user {
            Some(user) => format!("crontab for user \"{user}\""),
            None => "crontab".to_string(),
        }
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let msg = match failure.code.as_deref() {
            Some("nocrontab") => {
                "crontab was not found on the host: install it (Debian: apt-get install cron), or use cron_file".to_string()
            }
            Some("nouser") => format!(
                "user {} does not exist on the host",
                self.user.as_deref().unwrap_or_default()
            ),
            Some("read") => format!("Unable to read {}", self.header()),
            Some("write") => format!("crontab could not install the new {}", self.header()),
            _ => format!("crontab failed on the {}", self.header()),
        };
        remote::with_detail(msg, &failure)
    }

    async fn check_file(
        &self,
        cx: &Context<'_>,
        path: String,
    ) -> Result<Check<CronDrift>, TaskError> {
        let stat = edit::fetch(cx, &path).await?;
        let existing = String::from_utf8_lossy(edit::text(&stat)).into_owned();
        let tab = Crontab {
            lines: split_lines(&existing),
        };
        let plan = self.plan(tab, &existing)?;
        if !plan.changed {
            return Ok(Check::InSync(self.result(&plan.jobs, &plan.envs)));
        }
        if plan.remove_file {
            let mut preview = Outcome::changed(format!("would remove {path}: {}", plan.msg))
                .with_data("cron_file", self.cron_file.clone().unwrap_or_default())
                .with_data("state", self.state.clone());
            if cx.diff {
                preview = preview.with_diff(Diff {
                    subject: path.clone(),
                    before: Some(existing),
                    after: None,
                });
            }
            return Ok(Check::Drift {
                drift: CronDrift::RemoveFile,
                preview,
            });
        }
        // A new file gets the mode Ansible's umask 022 gives it; cron
        // ignores files that others can write.
        let mode = (stat.kind == FileKind::Absent).then_some("0644");
        let options = FileOptions {
            mode,
            owner: None,
            group: None,
            force: true,
            backup: false,
            validate: None,
        };
        let new = plan.after.clone().into_bytes();
        let check = edit::check(cx, &path, stat, new, options, false, Some(plan.msg))?;
        let with = |o: Outcome| {
            let mut o = o;
            for (k, v) in self.result(&plan.jobs, &plan.envs).data {
                o.data.insert(k, v);
            }
            edit::drop_file_fields(&mut o);
            o
        };
        Ok(match check {
            Check::InSync(outcome) => Check::InSync(with(outcome)),
            Check::Drift { drift, preview } => Check::Drift {
                drift: CronDrift::File {
                    edit: Box::new(drift),
                    jobs: plan.jobs.clone(),
                    envs: plan.envs.clone(),
                },
                preview: with(preview),
            },
        })
    }

    async fn check_user(&self, cx: &Context<'_>) -> Result<Check<CronDrift>, TaskError> {
        // `crontab -l` exits 1 when the user has no crontab yet.
        let script = format!(
            "{}crontab \"$@\" -l; rc=$?\n[ \"$rc\" -le 1 ] || fail read\n",
            self.user_args()
        );
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let (tab, existing) = user_crontab(&out.stdout_text());
        let plan = self.plan(tab, &existing)?;
        let result = self.result(&plan.jobs, &plan.envs);
        if !plan.changed {
            return Ok(Check::InSync(result));
        }
        let mut preview =
            result.with_msg(format!("would change the {}: {}", self.header(), plan.msg));
        preview.changed = true;
        if cx.diff {
            preview = preview.with_diff(Diff {
                subject: self.header(),
                before: Some(existing),
                after: Some(plan.after.clone()),
            });
        }
        Ok(Check::Drift {
            drift: CronDrift::Crontab {
                content: plan.after,
                jobs: plan.jobs,
                envs: plan.envs,
                msg: plan.msg,
            },
            preview,
        })
    }
}

#[async_trait]
impl Task for Cron {
    type Drift = CronDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<CronDrift>, TaskError> {
        self.validate(cx)?;
        match self.file() {
            Some(path) => self.check_file(cx, path).await,
            None => self.check_user(cx).await,
        }
    }

    async fn apply(&self, cx: &Context<'_>, drift: CronDrift) -> Result<Outcome, TaskError> {
        match drift {
            CronDrift::File { edit, jobs, envs } => {
                let mut outcome = edit::apply(cx, *edit).await?;
                for (k, v) in self.result(&jobs, &envs).data {
                    outcome.data.insert(k, v);
                }
                edit::drop_file_fields(&mut outcome);
                Ok(outcome)
            }
            CronDrift::RemoveFile => {
                let path = self.file().unwrap_or_default();
                let script = format!(
                    "{}rm -f -- {} || fail remove\n",
                    remote::FAIL_FN,
                    remote::path_arg(&path)
                );
                let out = cx.run(&script, &[]).await?;
                if !out.success() {
                    return Err(remote::with_detail(
                        format!("could not remove {path}"),
                        &remote::failure(&out),
                    ));
                }
                Ok(Outcome::changed(format!("removed {path}"))
                    .with_data("cron_file", self.cron_file.clone().unwrap_or_default())
                    .with_data("state", self.state.clone()))
            }
            CronDrift::Crontab {
                content,
                jobs,
                envs,
                msg,
            } => {
                let script = format!("{}crontab \"$@\" - || fail write\n", self.user_args());
                let out = cx.run(&script, content.as_bytes()).await?;
                if !out.success() {
                    return Err(self.failure(&out));
                }
                let mut outcome = self.result(&jobs, &envs).with_msg(msg);
                outcome.changed = true;
                Ok(outcome)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The `Value` of a list of names, for comparisons.
    fn names(v: &[&str]) -> Value {
        Value::from(v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn task(args: Value) -> Cron {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(Value::Object(coerced)).expect("deserializes")
    }

    fn plan(args: Value, existing: &str) -> Plan {
        let t = task(args);
        let tab = Crontab {
            lines: split_lines(existing),
        };
        t.plan(tab, existing).expect("plans")
    }

    #[test]
    fn a_job_is_added_with_its_marker_and_found_again() {
        let args =
            json!({"name": "backup", "minute": "0", "hour": "5", "job": "/usr/local/bin/backup"});
        let p = plan(args.clone(), "MAILTO=root\n");
        assert!(p.changed);
        assert_eq!(
            p.after,
            "MAILTO=root\n#Ansible: backup\n0 5 * * * /usr/local/bin/backup\n"
        );
        assert_eq!(Value::from(p.jobs.clone()), names(&["backup"]));
        assert_eq!(Value::from(p.envs.clone()), names(&["MAILTO"]));
        let again = plan(args, &p.after);
        assert!(!again.changed);
        assert_eq!(again.after, p.after);
    }

    #[test]
    fn a_changed_job_is_replaced_in_place_and_absent_removes_it() {
        let before = "#Ansible: a\n* * * * * old\n#Ansible: b\n@daily b\n";
        let p = plan(json!({"name": "a", "job": "new", "disabled": true}), before);
        assert_eq!(
            p.after,
            "#Ansible: a\n#* * * * * new\n#Ansible: b\n@daily b\n"
        );
        let p = plan(json!({"name": "a", "state": "absent"}), before);
        assert_eq!(p.after, "#Ansible: b\n@daily b\n");
        assert!(!p.remove_file);
        assert!(!plan(json!({"name": "zz", "state": "absent"}), before).changed);
    }

    #[test]
    fn cron_files_carry_the_user_and_go_with_their_last_job() {
        let args = json!({"name": "x", "special_time": "reboot", "user": "root", "job": "run", "cron_file": "dtr"});
        let p = plan(args, "");
        assert_eq!(p.after, "#Ansible: x\n@reboot root run\n");
        let p = plan(
            json!({"name": "x", "state": "absent", "cron_file": "dtr"}),
            "#Ansible: x\n@reboot root run\n\n",
        );
        assert!(p.remove_file && p.changed);
    }

    #[test]
    fn an_identical_unmarked_job_is_adopted() {
        let p = plan(json!({"name": "a", "job": "run"}), "* * * * * run\n");
        assert!(p.changed);
        assert_eq!(p.after, "#Ansible: a\n* * * * * run\n");
    }

    #[test]
    fn variables_go_first_or_next_to_another() {
        let p = plan(json!({"name": "PATH", "env": true, "job": "/bin"}), "A=1\n");
        assert_eq!(p.after, "PATH=\"/bin\"\nA=1\n");
        let p = plan(
            json!({"name": "B", "env": true, "job": "2", "insertafter": "A"}),
            "A=1\nC=3\n",
        );
        assert_eq!(p.after, "A=1\nB=\"2\"\nC=3\n");
        assert!(!plan(json!({"name": "B", "env": true, "job": "2"}), &p.after).changed);
        let t = task(json!({"name": "B", "env": true, "job": "2", "insertbefore": "Q"}));
        let err = t.plan(Crontab { lines: vec![] }, "").err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("Variable named 'Q' not found.")
        );
    }

    #[test]
    fn a_missing_final_newline_is_a_change() {
        let p = plan(
            json!({"name": "a", "job": "run"}),
            "#Ansible: a\n* * * * * run",
        );
        assert!(p.changed);
        assert_eq!(p.after, "#Ansible: a\n* * * * * run\n");
    }
}
