//! One attempt of a task: check, then apply unless in check mode, within
//! the task's `timeout` or `async` limit, started in the background when
//! `poll: 0` asks; and how an attempt ended (`Ended`), turned into the
//! value `register:` stores.
//!
//! This is the only place that calls a task's `check` and `apply`, so the
//! check-mode guarantee can be read in one file.

use serde_json::{Map, Value};

use super::Invocation;
use crate::connection::{ConnError, Connection};
use crate::task::{Check, Context, Outcome, TaskError};

/// One attempt's end: an outcome, a task failure, or an unreachable host.
pub(super) enum Ended {
    Done(Outcome),
    Failed {
        msg: String,
        data: Map<String, Value>,
    },
    Unreachable(String),
}

impl Invocation<'_> {
    /// One attempt, within the `async` limit when there is one.
    pub(super) async fn attempt_in_time(&self, warnings: &mut Vec<String>) -> Ended {
        let Some(mode) = &self.asynchronous else {
            return self.attempt(warnings).await;
        };
        let ended = match (mode, mode.backstop()) {
            (crate::async_job::Mode::Deadline(limit), Some(backstop)) => {
                match tokio::time::timeout(backstop, self.attempt(warnings)).await {
                    Ok(ended) => ended,
                    Err(_) => Ended::Failed {
                        msg: crate::async_job::expired(*limit),
                        data: Map::new(),
                    },
                }
            }
            _ => self.attempt(warnings).await,
        };
        match (mode, ended) {
            // A task that was waited for returns what a finished job does.
            (crate::async_job::Mode::Deadline(_), Ended::Done(mut outcome)) => {
                let data = &mut outcome.data;
                data.insert("ansible_job_id".into(), crate::async_job::new_jid().into());
                data.insert("started".into(), true.into());
                data.insert("finished".into(), true.into());
                Ended::Done(outcome)
            }
            (_, ended) => ended,
        }
    }

    /// One attempt: render the arguments, build the task, check, and apply
    /// unless in check mode. A background task (`poll: 0`) applies through
    /// `async_job::Detached`, which starts its script as a job.
    pub(super) async fn attempt(&self, warnings: &mut Vec<String>) -> Ended {
        match self.arguments() {
            Ok(args) => self.attempt_with(args, None, warnings).await,
            Err(msg) => Ended::Failed {
                msg,
                data: Map::new(),
            },
        }
    }

    /// One attempt with arguments rendered already (a collapsed loop's,
    /// every item's entries in one list), through `via` when given (the
    /// view that batches a loop's items, which keeps the scripts it sends
    /// for `-vv` itself).
    pub(super) async fn attempt_with(
        &self,
        args: Map<String, Value>,
        via: Option<&dyn Connection>,
        warnings: &mut Vec<String>,
    ) -> Ended {
        let built = (self.entry.build)(args)
            .map_err(|why| format!("invalid arguments for `{}`: {why}", self.entry.spec.name));
        let task = match built {
            Ok(task) => task,
            Err(msg) => {
                return Ended::Failed {
                    msg,
                    data: Map::new(),
                };
            }
        };
        let eval = |expr: &str| {
            self.templates
                .eval_str(expr, &self.vars)
                .map_err(|e| e.to_string())
        };
        let render_file = |text: &str,
                           trim_blocks: bool,
                           lstrip_blocks: bool,
                           extra: &[(String, serde_json::Value)]| {
            if extra.is_empty() {
                return self
                    .templates
                    .render_file(text, &self.vars, trim_blocks, lstrip_blocks)
                    .map_err(|e| e.to_string());
            }
            let mut vars = self.vars.child();
            for (name, value) in extra {
                vars.insert_data(name.clone(), value.clone());
            }
            self.templates
                .render_file(text, &vars, trim_blocks, lstrip_blocks)
                .map_err(|e| e.to_string())
        };
        let search_path = &self.search_path;
        let vars = self.vars.to_json();
        let background = match &self.asynchronous {
            Some(crate::async_job::Mode::Background { limit, dir }) => {
                Some(crate::async_job::Detached::new(
                    self.conn,
                    crate::async_job::new_jid(),
                    dir.clone(),
                    *limit,
                ))
            }
            _ => None,
        };
        // The check's context and the apply's differ only in their
        // connection (the apply of a background task starts a job).
        macro_rules! context {
            ($conn:expr) => {
                Context::new(
                    self.host,
                    $conn,
                    self.check_mode,
                    self.diff,
                    self.timeout,
                    &vars,
                    &eval,
                    self.peers,
                )
                .with_files(search_path, &render_file)
                .with_no_log(self.task.no_log)
                .with_memory(self.memory.clone())
            };
        }
        let recorded = crate::connection::recorded::Recorded {
            conn: self.conn,
            scripts: &self.scripts,
        };
        let conn: &dyn Connection = match via {
            Some(via) => via,
            None if self.show_scripts => &recorded,
            None => self.conn,
        };
        let cx = context!(conn);
        let detached_recorded =
            background
                .as_ref()
                .map(|detached| crate::connection::recorded::Recorded {
                    conn: detached,
                    scripts: &self.scripts,
                });
        let apply_conn: &dyn Connection = match (&background, &detached_recorded) {
            (Some(_), Some(recorded)) if self.show_scripts => recorded,
            (Some(detached), _) => detached,
            _ => conn,
        };
        let acx = context!(apply_conn);
        let ended = match task.check_dyn(&cx).await {
            Ok(Check::InSync(outcome)) => match &background {
                Some(detached) => self.settled_job(detached, outcome, false),
                None => Ended::Done(outcome),
            },
            // The preview says whether check mode reports a change: a task
            // whose apply must always run (push-test, the integration's test)
            // may have drift without a change.
            Ok(Check::Drift { preview, .. }) if self.check_mode => match &background {
                Some(detached) => self.settled_job(detached, preview, true),
                None => Ended::Done(preview),
            },
            Ok(Check::Drift { drift, preview }) => match task.apply_dyn(&acx, drift).await {
                Ok(mut outcome) => match &background {
                    Some(detached) => match detached.launched() {
                        Some(Ok(dir)) => Ended::Done(started_job(&detached.jid, Some(dir))),
                        Some(Err(msg)) => Ended::Failed {
                            msg,
                            data: Map::new(),
                        },
                        None => self.settled_job(detached, outcome, false),
                    },
                    None => {
                        // The check's diffs describe the change; keep them
                        // when the apply did not produce its own.
                        if outcome.diffs.is_empty() {
                            outcome.diffs = preview.diffs;
                        }
                        Ended::Done(outcome)
                    }
                },
                Err(e) => self.ended_from(e),
            },
            Err(e) => self.ended_from(e),
        };
        warnings.extend(cx.take_warnings());
        warnings.extend(acx.take_warnings());
        ended
    }

    /// A background task that started no process: its result is kept for
    /// `async_status`, and the task returns a job id all the same. In check
    /// mode the job reports itself skipped, as Ansible's check-mode job does.
    pub(super) fn settled_job(
        &self,
        detached: &crate::async_job::Detached<'_>,
        outcome: Outcome,
        check_mode: bool,
    ) -> Ended {
        let mut result = outcome.data.clone();
        result.insert("changed".into(), (outcome.changed && !check_mode).into());
        if let Some(msg) = &outcome.msg {
            result.insert("msg".into(), msg.clone().into());
        }
        if check_mode {
            result.insert("skipped".into(), true.into());
        }
        crate::async_job::settle(self.host, &detached.jid, result);
        let mut job = started_job(&detached.jid, None);
        job.changed = outcome.changed;
        Ended::Done(job)
    }

    /// How a task failed, in the words of its `async` limit when a remote
    /// script outlived it.
    pub(super) fn ended_from(&self, e: TaskError) -> Ended {
        match (&self.asynchronous, e) {
            (
                Some(crate::async_job::Mode::Deadline(limit)),
                TaskError::Conn(ConnError::Timeout { .. }),
            ) => Ended::Failed {
                msg: crate::async_job::expired(*limit),
                data: Map::new(),
            },
            (_, e) => ended_from(e),
        }
    }
}

pub(super) fn ended_from(e: TaskError) -> Ended {
    match e {
        TaskError::Failed { msg, data } => Ended::Failed { msg, data },
        // sudo or su refused: the host is reachable, the task failed.
        TaskError::Conn(ConnError::Become { message, hint, .. }) => Ended::Failed {
            msg: match hint {
                Some(hint) => format!("{message}; {hint}"),
                None => message,
            },
            data: Map::new(),
        },
        // A script that outlived the task's `timeout` is the task failing,
        // as in Ansible: the connection stopped the script and stays usable,
        // so `ignore_errors` applies and the host stays in the play.
        TaskError::Conn(ConnError::Timeout { after, .. }) => Ended::Failed {
            msg: format!("timed out after {} s", after.as_secs()),
            data: Map::new(),
        },
        TaskError::Conn(c) => Ended::Unreachable(c.to_string()),
    }
}

/// What a task started in the background returns, as Ansible's does.
pub(super) fn started_job(jid: &str, results_file: Option<String>) -> Outcome {
    let mut outcome = Outcome::ok()
        .with_data("ansible_job_id", jid)
        .with_data("started", true)
        .with_data("finished", false);
    if let Some(file) = results_file {
        outcome = outcome.with_data("results_file", file);
    }
    outcome.changed = true;
    outcome
}

/// The value `register:` stores for one attempt.
pub(super) fn registered_value(ended: &Ended) -> Value {
    let mut map = Map::new();
    match ended {
        Ended::Done(outcome) => {
            map.insert("changed".into(), outcome.changed.into());
            map.insert("failed".into(), false.into());
            if let Some(msg) = &outcome.msg {
                map.insert("msg".into(), msg.clone().into());
            }
            for (k, v) in &outcome.data {
                map.insert(k.clone(), v.clone());
            }
        }
        Ended::Failed { msg, data } => {
            map.insert("changed".into(), false.into());
            map.insert("failed".into(), true.into());
            map.insert("msg".into(), msg.clone().into());
            for (k, v) in data {
                map.insert(k.clone(), v.clone());
            }
        }
        Ended::Unreachable(msg) => {
            map.insert("unreachable".into(), true.into());
            map.insert("msg".into(), msg.clone().into());
        }
    }
    Value::Object(map)
}
