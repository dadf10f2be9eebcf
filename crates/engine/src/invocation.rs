//! Running one task on one host: conditions, loops, retries, check then
//! apply, `changed_when`/`failed_when`, and the registered result.
//!
//! This is the only place that calls `check` and `apply`, and it is where
//! check mode is enforced: `apply` is called only when the run (or the task)
//! is not in check mode. Results leave this module with secrets already
//! masked.
//!
//! This file holds the task's run on a host (conditions, the item loop,
//! retries, `changed_when`/`failed_when`, the report); its parts have their
//! own files: `attempt` (one check-then-apply, where `check` and `apply` are
//! called), `collapse` (a loop run as one task, for the tasks whose spec
//! collapses), `batch` (a loop's items run side by side, their scripts
//! sent together), `conditions`, `loops` (`loop_control`) and `masking`
//! (secrets and `no_log`).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::connection::Connection;
use crate::playbook::TaskDef;
use crate::report::{HostResult, Status};
use crate::search_path::SearchPath;
use crate::secret::Secrets;
use crate::tasks::Entry;
use crate::template::{Templates, Vars};
use crate::vars;

mod attempt;
mod batch;
mod collapse;
mod conditions;
mod loops;
mod masking;

use attempt::{Ended, registered_value};
pub use conditions::truthy;

/// Everything one invocation needs, borrowed from the executor.
pub struct Invocation<'a> {
    pub task: &'a TaskDef,
    pub entry: &'a Entry,
    pub templates: &'a Templates,
    pub host: &'a str,
    /// Where the task runs: the host, its delegate, or the control machine.
    pub conn: &'a dyn Connection,
    pub delegated_to: Option<String>,
    pub peers: crate::task::Peers<'a>,
    pub check_mode: bool,
    pub diff: bool,
    pub timeout: Duration,
    /// `async` and `poll`, rendered for this host (`crate::async_job`).
    pub asynchronous: Option<crate::async_job::Mode>,
    /// The host's variables for this task (every layer, magic included),
    /// tracking the secrets renders derive (`Vars::track`).
    pub vars: Vars,
    /// The secrets known for the host, tracking the same taint.
    pub secrets: Secrets,
    /// Where `src:` of copy and template is looked up: the task's role
    /// directory (if any), then the playbook's.
    pub search_path: SearchPath,
    /// Keep the scripts sent to the host for the result (`-vv`).
    pub show_scripts: bool,
    /// The scripts kept so far for the current item.
    pub scripts: std::sync::Mutex<Vec<String>>,
    /// What the run computes once for all its hosts.
    pub memory: std::sync::Arc<crate::run_memory::RunMemory>,
}

/// How a task ended on a host, with what the executor must record.
pub struct Report {
    /// One result per loop item (or one for the task), secrets masked.
    pub results: Vec<HostResult>,
    /// The status that counts in the recap.
    pub status: Status,
    pub ignored: bool,
    /// The registered value (stored under `register:` when given).
    pub registered: Value,
    pub facts: Map<String, Value>,
    /// The names, among the registered value and the facts, that are
    /// secrets by origin (a `no_log` task's, or values holding a secret).
    pub secret: Vec<String>,
    pub warnings: Vec<String>,
    /// What `-v` says about how the task ran on the host (a loop
    /// collapsed into one call).
    pub notices: Vec<String>,
}

impl Invocation<'_> {
    pub async fn run(mut self) -> Report {
        let started = Instant::now();
        let mut warnings = Vec::new();
        // A loop renders its list first; `when` is evaluated per item.
        let items: Option<Vec<Value>> = match &self.task.loop_items {
            None => None,
            Some(node) => match self.render(node) {
                Ok(value) => {
                    match crate::loops::items(self.task.loop_kind, value, &self.search_path) {
                        Ok(items) => Some(items),
                        Err(msg) => return self.input_failure(msg, started),
                    }
                }
                Err(e) => return self.input_failure(e.message.clone(), started),
            },
        };
        let Some(items) = items else {
            let single = self.run_item(None, &mut warnings).await;
            let status = single.0.status;
            let ignored = single.0.ignored;
            let mut result = single.0;
            result.duration = started.elapsed();
            let secret = self.secret_names(&single.1, &single.2);
            return Report {
                results: vec![result],
                status,
                ignored,
                registered: single.1,
                facts: single.2,
                secret,
                warnings,
                notices: Vec::new(),
            };
        };
        let mut results = Vec::new();
        let mut registered_items = Vec::new();
        let mut facts = Map::new();
        let control = match self.loop_control() {
            Ok(control) => control,
            Err(e) => return self.input_failure(e.to_string(), started),
        };
        let mut notices = Vec::new();
        match self.collapsed(&items, &control, &mut warnings).await {
            collapse::Collapsed::Ran(results, registered_items, notice) => {
                notices.push(notice);
                return self.loop_report(results, registered_items, Map::new(), warnings, notices);
            }
            collapse::Collapsed::Failed(notice) => notices.push(notice),
            collapse::Collapsed::No => {}
        }
        let loop_var = self.task.loop_var.clone();
        for (index, item) in items.iter().enumerate() {
            if index > 0 && !control.pause.is_zero() {
                tokio::time::sleep(control.pause).await;
            }
            // `index_var` and `ansible_loop` are loop data, like the item.
            if let Some(name) = &self.task.loop_control.index_var {
                self.vars.insert_data(name.clone(), index.into());
            }
            self.vars
                .insert_magic("ansible_loop_var", loop_var.clone().into());
            let info = control
                .extended
                .then(|| crate::loops::extended(&items, index, control.allitems));
            if let Some(info) = &info {
                self.vars.insert_data("ansible_loop", info.clone());
            }
            let (result, mut registered, item_facts) =
                self.run_item(Some(item.clone()), &mut warnings).await;
            self.label_item(&mut registered, item, index, info);
            registered_items.push(registered);
            // The next item sees what this one set (`set_fact` accumulating
            // over a loop), as in Ansible.
            for (name, value) in &item_facts {
                if self.task.no_log {
                    self.vars.insert_secret(name.clone(), value.clone());
                } else {
                    self.vars.insert_data(name.clone(), value.clone());
                }
            }
            vars::layer(&mut facts, &item_facts);
            let stop = result.status == Status::Unreachable;
            results.push(result);
            if stop {
                break;
            }
        }
        self.loop_report(results, registered_items, facts, warnings, notices)
    }

    /// Stores the registered value in the task's own variables, for
    /// `until`, `changed_when` and `failed_when`: host data, or a secret
    /// under `no_log`.
    fn register(&mut self, registered: &Value) {
        if let Some(name) = &self.task.register {
            if self.task.no_log {
                self.vars.insert_secret(name.clone(), registered.clone());
            } else {
                self.vars.insert_data(name.clone(), registered.clone());
            }
        }
    }

    /// Runs the task once (for one loop item, if any).
    async fn run_item(
        &mut self,
        item: Option<Value>,
        warnings: &mut Vec<String>,
    ) -> (HostResult, Value, Map<String, Value>) {
        let started = Instant::now();
        let mut result = HostResult::new(self.host, Status::Ok);
        result.delegated_to = self.delegated_to.clone();
        if let Some(item) = &item {
            // Loop items are rendered already: data from here on.
            self.vars
                .insert_data(self.task.loop_var.clone(), item.clone());
            result.item = Some(self.item_label(item));
            if self.entry.spec.params.iter().any(|p| p.secret)
                && let Ok(args) = self.arguments()
            {
                self.note_secret_args(&args);
            }
        }
        // `when`: every condition must hold.
        for cond in &self.task.when {
            match self.truth(cond) {
                Ok(true) => {}
                Ok(false) => return skipped(result),
                Err(e) => return self.item_failure(result, e.message.clone(), started),
            }
        }
        let retries = match self.count(self.task.retries.as_ref(), 0) {
            Ok(n) => n,
            Err(e) => return self.item_failure(result, e.to_string(), started),
        };
        let delay = match self.count(self.task.delay.as_ref(), 5) {
            Ok(n) => Duration::from_secs(n),
            Err(e) => return self.item_failure(result, e.to_string(), started),
        };
        let attempts_allowed = if self.task.until.is_some() {
            u32::try_from(retries.max(1)).unwrap_or(u32::MAX)
        } else {
            1
        };
        let mut attempt: u32 = 0;
        let (ended, mut registered) = loop {
            attempt += 1;
            let ended = self.attempt_in_time(warnings).await;
            let mut registered = registered_value(&ended);
            self.register(&registered);
            let retry = match (&self.task.until, &ended) {
                (_, Ended::Unreachable(_)) => false,
                (Some(until), _) => match self.truth(until) {
                    Ok(done) => !done,
                    Err(e) => {
                        break (
                            Ended::Failed {
                                msg: e.message.clone(),
                                data: Map::new(),
                            },
                            registered,
                        );
                    }
                },
                (None, _) => false,
            };
            if !retry || attempt >= attempts_allowed {
                if retry {
                    registered["failed"] = Value::Bool(true);
                    let msg = format!("`until` still false after {attempt} attempts");
                    registered["msg"] = Value::from(msg.clone());
                    break (
                        Ended::Failed {
                            msg,
                            data: Map::new(),
                        },
                        registered,
                    );
                }
                break (ended, registered);
            }
            tokio::time::sleep(delay).await;
        };
        if attempt > 1 {
            result.attempts = Some(attempt);
            registered["attempts"] = attempt.into();
        }
        let mut facts = Map::new();
        match ended {
            Ended::Unreachable(msg) => {
                result.status = Status::Unreachable;
                result.msg = Some(msg);
            }
            Ended::Failed { msg, data } => {
                result.status = Status::Failed;
                result.msg = Some(msg);
                fill_output(&mut result, &data);
            }
            Ended::Done(outcome) => {
                fill_done(&mut result, &outcome);
                facts = outcome.facts;
            }
        }
        // `changed_when` and `failed_when` see the registered result.
        if result.status != Status::Unreachable {
            self.register(&registered);
            if !self.task.changed_when.is_empty() && result.status != Status::Failed {
                match self.all_true(&self.task.changed_when) {
                    Ok(changed) => {
                        result.status = if changed { Status::Changed } else { Status::Ok };
                        registered["changed"] = Value::Bool(changed);
                    }
                    Err(e) => return self.item_failure(result, e.message.clone(), started),
                }
            }
            if !self.task.failed_when.is_empty() {
                match self.any_true(&self.task.failed_when) {
                    Ok(failed) => {
                        if failed && result.status != Status::Failed {
                            result.status = Status::Failed;
                            result.msg = Some("the `failed_when` condition holds".into());
                        } else if !failed && result.status == Status::Failed {
                            result.status = if registered["changed"] == Value::Bool(true) {
                                Status::Changed
                            } else {
                                Status::Ok
                            };
                            result.msg = None;
                        }
                        registered["failed"] = Value::Bool(failed);
                    }
                    Err(e) => return self.item_failure(result, e.message.clone(), started),
                }
            }
        }
        if result.status == Status::Failed {
            match self.task.ignore_errors.as_ref().map(|n| self.truth(n)) {
                Some(Ok(true)) => result.ignored = true,
                Some(Err(e)) => result.msg = Some(e.message.clone()),
                _ => {}
            }
        }
        result.duration = started.elapsed();
        result.scripts =
            std::mem::take(&mut *self.scripts.lock().unwrap_or_else(|e| e.into_inner()));
        self.mask(&mut result, &mut registered);
        (result, registered, facts)
    }

    /// Renders and coerces the task's arguments for this host.
    fn arguments(&self) -> Result<Map<String, Value>, String> {
        let mut rendered = Map::new();
        for (key, value) in &self.task.args {
            let v = self.render(value).map_err(|e| e.message.clone())?;
            self.note_secret_flags(&v);
            rendered.insert(key.key().to_string(), v);
        }
        crate::template::drop_omitted(&mut rendered);
        self.entry.spec.coerce(&rendered)
    }

    fn item_failure(
        &self,
        mut result: HostResult,
        msg: String,
        started: Instant,
    ) -> (HostResult, Value, Map<String, Value>) {
        result.status = Status::Failed;
        result.msg = Some(self.hide(&msg));
        result.duration = started.elapsed();
        if let Some(ignore) = &self.task.ignore_errors
            && matches!(self.truth(ignore), Ok(true))
        {
            result.ignored = true;
        }
        let registered = json!({"changed": false, "failed": true, "msg": result.msg});
        (result, registered, Map::new())
    }

    fn input_failure(&self, msg: String, started: Instant) -> Report {
        let (result, registered, facts) =
            self.item_failure(HostResult::new(self.host, Status::Failed), msg, started);
        Report {
            status: Status::Failed,
            ignored: result.ignored,
            results: vec![result],
            registered,
            facts,
            secret: Vec::new(),
            warnings: Vec::new(),
            notices: Vec::new(),
        }
    }
}

/// An item (or task) whose `when` is false.
fn skipped(mut result: HostResult) -> (HostResult, Value, Map<String, Value>) {
    result.status = Status::Skipped;
    result.msg = Some("Conditional result was False".into());
    let registered =
        json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"});
    (result, registered, Map::new())
}

/// A result from what the task did.
fn fill_done(result: &mut HostResult, outcome: &crate::task::Outcome) {
    // A task that decided not to act at all (`unarchive` whose `creates`
    // exists) says so as Ansible's modules do, with `skipped: true` in its
    // result.
    result.status = if outcome.changed {
        Status::Changed
    } else if outcome.data.get("skipped") == Some(&Value::Bool(true)) {
        Status::Skipped
    } else {
        Status::Ok
    };
    result.msg = outcome.msg.clone();
    result.diffs = outcome.diffs.clone();
    fill_output(result, &outcome.data);
}

fn fill_output(result: &mut HostResult, data: &Map<String, Value>) {
    result.rc = data
        .get("rc")
        .and_then(Value::as_i64)
        .and_then(|rc| i32::try_from(rc).ok());
    result.stdout = data
        .get("stdout")
        .and_then(Value::as_str)
        .map(str::to_string);
    result.stderr = data
        .get("stderr")
        .and_then(Value::as_str)
        .map(str::to_string);
}
