//! Running one task on one host: conditions, loops, retries, check then
//! apply, `changed_when`/`failed_when`, and the registered result.
//!
//! This is the only place that calls `check` and `apply`, and it is where
//! check mode is enforced: `apply` is called only when the run (or the task)
//! is not in check mode. Results leave this module with secrets already
//! masked.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::connection::{ConnError, Connection};
use crate::error::InputError;
use crate::params::to_bool;
use crate::playbook::TaskDef;
use crate::report::{HostResult, Status};
use crate::search_path::SearchPath;
use crate::secret::{MASK, Secrets};
use crate::task::{Check, Context, Outcome, TaskError};
use crate::tasks::Entry;
use crate::template::{Templates, Vars};
use crate::vars;
use crate::yaml::Node;

/// What Ansible prints instead of a `no_log` task's output.
const NO_LOG_MSG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

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
}

/// `loop_control` settings as rendered for one host.
struct LoopSettings {
    pause: Duration,
    extended: bool,
    allitems: bool,
}

/// One attempt's end: an outcome, a task failure, or an unreachable host.
enum Ended {
    Done(Outcome),
    Failed {
        msg: String,
        data: Map<String, Value>,
    },
    Unreachable(String),
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
            };
        };
        let mut results = Vec::new();
        let mut registered_items = Vec::new();
        let mut facts = Map::new();
        let control = match self.loop_control() {
            Ok(control) => control,
            Err(msg) => return self.input_failure(msg, started),
        };
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
            // Each item's result says which item it was, as Ansible's do.
            if let Value::Object(map) = &mut registered {
                map.insert(loop_var.clone(), item.clone());
                map.insert("ansible_loop_var".into(), loop_var.clone().into());
                if let Some(name) = &self.task.loop_control.index_var {
                    map.insert(name.clone(), index.into());
                    map.insert("ansible_index_var".into(), name.clone().into());
                }
                if let Some(info) = info {
                    map.insert("ansible_loop".into(), info);
                }
            }
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
        let status = aggregate(&results);
        let ignored = results.iter().any(|r| r.ignored) && status == Status::Failed;
        let changed = results.iter().any(|r| r.status == Status::Changed);
        let failed = results.iter().any(|r| r.status == Status::Failed);
        let skipped = !results.is_empty() && results.iter().all(|r| r.status == Status::Skipped);
        let mut registered = json!({
            "changed": changed,
            "failed": failed,
            "skipped": skipped || results.is_empty(),
            "results": registered_items,
        });
        if failed {
            registered["msg"] = Value::from("One or more items failed");
        }
        let secret = self.secret_names(&registered, &facts);
        Report {
            results,
            status,
            ignored,
            registered,
            facts,
            secret,
            warnings,
        }
    }

    /// `loop_control`'s `pause` (seconds, fractions allowed), `extended`
    /// and `extended_allitems`, rendered for this host.
    fn loop_control(&self) -> Result<LoopSettings, String> {
        let lc = &self.task.loop_control;
        let pause = match &lc.pause {
            None => Duration::ZERO,
            Some(node) => {
                let value = self.render(node).map_err(|e| e.message.clone())?;
                let secs = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .ok_or_else(|| {
                    format!("`loop_control.pause` must be a number of seconds, not {value}")
                })?;
                Duration::from_secs_f64(secs)
            }
        };
        let flag = |node: &Option<Node>, default: bool| -> Result<bool, String> {
            match node {
                None => Ok(default),
                Some(n) => self.truth(n).map_err(|e| e.message.clone()),
            }
        };
        Ok(LoopSettings {
            pause,
            extended: flag(&lc.extended, false)?,
            allitems: flag(&lc.extended_allitems, true)?,
        })
    }

    /// The names of the registered value and facts that must be kept as
    /// secrets: all of them under `no_log`, else those holding a secret
    /// (`set_fact: {pw2: "{{ ucp_password }}"}`).
    fn secret_names(&self, registered: &Value, facts: &Map<String, Value>) -> Vec<String> {
        let holds_secret =
            |value: &Value| self.task.no_log || self.secrets.mask_json(value) != *value;
        let mut names = Vec::new();
        if let Some(name) = &self.task.register
            && holds_secret(registered)
        {
            names.push(name.clone());
        }
        for (name, value) in facts {
            if holds_secret(value) {
                names.push(name.clone());
            }
        }
        names
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
        }
        // `when`: every condition must hold.
        for cond in &self.task.when {
            match self.truth(cond) {
                Ok(true) => {}
                Ok(false) => {
                    result.status = Status::Skipped;
                    result.msg = Some("Conditional result was False".into());
                    let registered = json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"});
                    return (result, registered, Map::new());
                }
                Err(e) => return self.item_failure(result, e.message.clone(), started),
            }
        }
        let retries = match self.count(self.task.retries.as_ref(), 0) {
            Ok(n) => n,
            Err(e) => return self.item_failure(result, e, started),
        };
        let delay = match self.count(self.task.delay.as_ref(), 5) {
            Ok(n) => Duration::from_secs(n),
            Err(e) => return self.item_failure(result, e, started),
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
                // A task that decided not to act at all (`unarchive` whose
                // `creates` exists) says so as Ansible's modules do, with
                // `skipped: true` in its result.
                result.status = if outcome.changed {
                    Status::Changed
                } else if outcome.data.get("skipped") == Some(&Value::Bool(true)) {
                    Status::Skipped
                } else {
                    Status::Ok
                };
                result.msg = outcome.msg.clone();
                result.diffs = outcome.diffs.clone();
                fill_output(&mut result, &outcome.data);
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

    /// One attempt, within the `async` limit when there is one.
    async fn attempt_in_time(&self, warnings: &mut Vec<String>) -> Ended {
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
    async fn attempt(&self, warnings: &mut Vec<String>) -> Ended {
        let args = match self.arguments() {
            Ok(args) => args,
            Err(msg) => {
                return Ended::Failed {
                    msg,
                    data: Map::new(),
                };
            }
        };
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
        let render_file = |text: &str, trim_blocks: bool, lstrip_blocks: bool| {
            self.templates
                .render_file(text, &self.vars, trim_blocks, lstrip_blocks)
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
        let conn: &dyn Connection = if self.show_scripts {
            &recorded
        } else {
            self.conn
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
    fn settled_job(
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
    fn ended_from(&self, e: TaskError) -> Ended {
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

    /// Renders and coerces the task's arguments for this host.
    fn arguments(&self) -> Result<Map<String, Value>, String> {
        let mut rendered = Map::new();
        for (key, value) in &self.task.args {
            let v = self.render(value).map_err(|e| e.message.clone())?;
            self.note_secret_flags(&v);
            rendered.insert(key.key().to_string(), v);
        }
        vars::drop_omitted(&mut rendered);
        self.entry.spec.coerce(&rendered)
    }

    /// Command lines written with a secret in them (`--ucp-password S3cret`)
    /// make that value a secret, wherever it is shown later.
    fn note_secret_flags(&self, value: &Value) {
        let Some(taint) = self.vars.taint() else {
            return;
        };
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) => {
                    for secret in crate::secret::flag_values(s) {
                        taint.add(secret);
                    }
                }
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }

    fn render(&self, node: &Node) -> Result<Value, InputError> {
        self.templates.render_node(node, &self.vars)
    }

    fn truth(&self, node: &Node) -> Result<bool, InputError> {
        let value = self.templates.eval_node(node, &self.vars)?;
        Ok(truthy(&value))
    }

    fn all_true(&self, nodes: &[Node]) -> Result<bool, InputError> {
        for n in nodes {
            if !self.truth(n)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn any_true(&self, nodes: &[Node]) -> Result<bool, InputError> {
        for n in nodes {
            if self.truth(n)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A non-negative count from `retries`/`delay` (a number or a template).
    fn count(&self, node: Option<&Node>, default: u64) -> Result<u64, String> {
        let Some(node) = node else {
            return Ok(default);
        };
        let value = self.render(node).map_err(|e| e.message.clone())?;
        match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("expected a whole number, not {value}"))
    }

    fn item_label(&self, item: &Value) -> String {
        if let Some(label) = &self.task.loop_label
            && let Ok(v) = self.render(label)
        {
            return text(&v);
        }
        text(item)
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
        }
    }

    /// Masks the host's secrets and every value a vault decrypted.
    fn hide(&self, text: &str) -> String {
        crate::vault::secrets().mask(&self.secrets.mask(text))
    }

    /// Masks secrets in what is shown and registered. `no_log` hides
    /// everything but the status.
    fn mask(&self, result: &mut HostResult, registered: &mut Value) {
        if self.task.no_log {
            result.msg = Some(NO_LOG_MSG.into());
            result.diffs.clear();
            result.stdout = None;
            result.stderr = None;
            result.scripts.clear();
            result.item = result.item.as_ref().map(|_| MASK.to_string());
            return;
        }
        let vault = crate::vault::secrets();
        let m = |s: &mut Option<String>| {
            if let Some(t) = s {
                *t = vault.mask(&self.secrets.mask(t));
            }
        };
        m(&mut result.msg);
        m(&mut result.stdout);
        m(&mut result.stderr);
        m(&mut result.item);
        for script in &mut result.scripts {
            *script = vault.mask(&self.secrets.mask(script));
        }
        for d in &mut result.diffs {
            d.subject = self.secrets.mask(&d.subject);
            let holds_secret =
                |t: &Option<String>| t.as_ref().is_some_and(|t| self.secrets.mask(t) != *t);
            if holds_secret(&d.before) || holds_secret(&d.after) {
                // A diff of secret contents would show the secret's
                // surroundings and length; its digests say that it changed.
                let line = format!(
                    "(secret content changed: sha256 {} → {})\n",
                    short_digest(d.before.as_deref()),
                    short_digest(d.after.as_deref())
                );
                if d.after.is_some() {
                    d.before = d.before.as_ref().map(|_| String::new());
                    d.after = Some(line);
                } else {
                    d.before = Some(line);
                }
            }
        }
        // The registered value is data for later tasks, not output; it is
        // masked only when it is shown (debug), by the same Secrets.
        let _ = registered;
    }
}

/// The first hex digits of a text's SHA-256, for secret diffs.
fn short_digest(text: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match text {
        None => "(none)".to_string(),
        Some(text) => {
            let digest = Sha256::digest(text.as_bytes());
            let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
            format!("{hex}…")
        }
    }
}

fn ended_from(e: TaskError) -> Ended {
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
fn started_job(jid: &str, results_file: Option<String>) -> Outcome {
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
fn registered_value(ended: &Ended) -> Value {
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

/// The status of a looped task: failed beats unreachable beats changed
/// beats ok; all items skipped means skipped.
fn aggregate(results: &[HostResult]) -> Status {
    let has = |s: Status| {
        results
            .iter()
            .any(|r| r.status == s && !(s == Status::Failed && r.ignored))
    };
    if has(Status::Unreachable) {
        Status::Unreachable
    } else if results.iter().any(|r| r.status == Status::Failed) {
        Status::Failed
    } else if has(Status::Changed) {
        Status::Changed
    } else if !results.is_empty() && results.iter().all(|r| r.status == Status::Skipped) {
        Status::Skipped
    } else {
        Status::Ok
    }
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

/// How a value is shown to people: strings bare, the rest as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
