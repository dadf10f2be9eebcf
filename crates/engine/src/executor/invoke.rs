//! Running one task on one host from the executor's side: taking a fork
//! (and throttle) slot, resolving where and as whom the task runs, its
//! environment, `async` and timeout, then handing an `Invocation` over.
//!
//! Everything the executor must decide before `crate::invocation` can run
//! the task lives here, so that the play and strategy code only says
//! "run this task on this host".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::Executor;
use super::connections::hint_of;
use crate::connection::{self, Connection};
use crate::invocation::{Invocation, Report};
use crate::params::text;
use crate::playbook::{Play, TaskDef};
use crate::report::{HostResult, Status};

/// The default time a task's remote script may take (`timeout:` overrides).
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(600);

impl<'a> Executor<'a> {
    /// Runs a task on a host, holding a fork slot while it works.
    pub(super) async fn invoke(
        &self,
        play: &'a Play,
        task: &TaskDef,
        host: &str,
        run_once: bool,
    ) -> Report {
        let throttle = task.throttle.map(|n| {
            let key = (task.node.src.name().to_string(), task.node.span.offset());
            self.throttles
                .borrow_mut()
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(n)))
                .clone()
        });
        let _throttled = match &throttle {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        };
        let _slot = self.forks.acquire().await;
        self.in_flight
            .borrow_mut()
            .insert(host.to_string(), self.task_name(task, host));
        let report = self.invoke_now(play, task, host, run_once).await;
        self.in_flight.borrow_mut().shift_remove(host);
        report
    }

    /// Runs a task on a host once its fork slot is held.
    pub(super) async fn invoke_now(
        &self,
        play: &'a Play,
        task: &TaskDef,
        host: &str,
        run_once: bool,
    ) -> Report {
        let Some(entry) = self.registry.get(&task.module) else {
            return failure(host, format!("unknown module `{}`", task.module));
        };
        let mut tvars = self.vars.task(host, task, self.check_mode(play, task));
        tvars.track(crate::secret::Taint::new());
        let mut secrets = self.templates.secrets(&tvars);
        // Values given to secret parameters are secrets wherever they appear:
        // the task's own (`Spec::secret_params`) and, for tasks expanded
        // from a task file, the file's.
        let secret_nodes = task
            .args
            .iter()
            .filter(|(k, _)| entry.spec.param(k.key()).is_some_and(|p| p.secret))
            .map(|(_, v)| v);
        for node in secret_nodes {
            if let Ok(Value::String(s)) = self.templates.render_node(node, &tvars) {
                secrets.add(&s);
            }
        }
        for name in &task.secret_vars {
            if let Ok(Value::String(s)) = self.templates.eval_str(name, &tvars) {
                secrets.add(&s);
            }
        }
        // Where does it run? A delegate, the control machine, or the host.
        let delegate = match &task.delegate_to {
            Some(node) => match self.templates.render_node(node, &tvars) {
                Ok(v) => Some(text(&v)),
                Err(e) => return failure(host, e.message.clone()),
            },
            None if entry.spec.on_control => Some("localhost".to_string()),
            None => None,
        };
        let conn_host = delegate.clone().unwrap_or_else(|| host.to_string());
        let conn = match self.connection(play, &conn_host).await {
            Ok(c) => c,
            Err(e) => {
                let mut r = HostResult::new(host, Status::Unreachable);
                r.msg = Some(e.to_string());
                // The hint explains the error, so it follows it.
                r.hint = hint_of(&e).into_iter().next();
                return Report {
                    results: vec![r],
                    status: Status::Unreachable,
                    ignored: false,
                    registered: json!({"unreachable": true, "msg": e.to_string()}),
                    facts: Map::new(),
                    secret: Vec::new(),
                    warnings: Vec::new(),
                    notices: Vec::new(),
                };
            }
        };
        // Tasks that run once may need other hosts of the play (dump-certs
        // on a controller): hand them every connection already open.
        let mut peer_conns: HashMap<String, Arc<dyn Connection>> = HashMap::new();
        if run_once {
            for (name, fut) in self.conns.borrow().iter() {
                if let Some(Ok(c)) = fut.peek() {
                    peer_conns.insert(name.clone(), c.clone());
                }
            }
        }
        let peers_map = &peer_conns;
        let peers = move |name: &str| peers_map.get(name).cloned();
        // Whom the task runs as: never another user for the work dtrplay
        // itself does on the control machine (API tasks). A delegated task
        // takes the become variables of the host it runs on.
        let escalation = if entry.spec.on_control && task.delegate_to.is_none() {
            None
        } else {
            let become_vars = match &delegate {
                Some(d) if d != host => self.vars.host(d),
                _ => tvars.clone(),
            };
            let var = |name: &str| {
                if !become_vars.contains(name) {
                    return Ok(None);
                }
                self.templates
                    .eval_str(name, &become_vars)
                    .map(Some)
                    .map_err(|e| e.message.clone())
            };
            let render = |node: &crate::yaml::Node| self.templates.render_node(node, &tvars);
            match crate::escalation::resolve(
                &self.cfg.escalation,
                &[&play.escalation, &task.escalation],
                &var,
                &render,
            ) {
                Ok(escalation) => escalation,
                Err(e) => return failure(host, e.message),
            }
        };
        if let Some(password) = escalation.as_ref().and_then(|e| e.password.as_ref()) {
            secrets.add(password);
        }
        let escalated = escalation.map(|escalation| connection::Escalated {
            conn: conn.as_ref(),
            escalation,
        });
        let conn: &dyn Connection = match &escalated {
            Some(view) => view,
            None => conn.as_ref(),
        };
        // `environment`, the play's then each enclosing level's, rendered
        // with the task's variables (so secrets among them taint the mask).
        let levels: Vec<&crate::yaml::Node> =
            play.environment.iter().chain(&task.environment).collect();
        let exported = if levels.is_empty() {
            None
        } else {
            let render = |node: &crate::yaml::Node| self.templates.render_node(node, &tvars);
            match crate::environment::resolve(&levels, &render) {
                Ok(vars) => {
                    for (name, value) in &vars {
                        if crate::secret::is_secret_name(name) {
                            secrets.add(value);
                        }
                    }
                    Some(connection::exported::Exported {
                        conn,
                        exports: crate::environment::exports(&vars),
                    })
                }
                Err(e) => return failure(host, e.to_string()),
            }
        };
        let conn: &dyn Connection = match &exported {
            Some(view) => view,
            None => conn,
        };
        let asynchronous = match self.async_mode(task, &tvars) {
            Ok(mode) => mode,
            Err(e) => return failure(host, e.to_string()),
        };
        // A task waited for within `async` seconds gives each of its
        // scripts that long at most (less when its `timeout` says so).
        let timeout = match &asynchronous {
            Some(crate::async_job::Mode::Deadline(limit)) => task
                .timeout
                .map_or(*limit, |t| Duration::from_secs(t).min(*limit)),
            _ => task
                .timeout
                .map_or(DEFAULT_TASK_TIMEOUT, Duration::from_secs),
        };
        let invocation = Invocation {
            task,
            entry: &entry,
            templates: &self.templates,
            host,
            conn,
            delegated_to: delegate.filter(|d| d != host),
            peers: &peers,
            check_mode: self.check_mode(play, task),
            diff: !task.no_log && task.diff.or(play.diff).unwrap_or(self.cfg.diff),
            timeout,
            asynchronous,
            vars: tvars,
            secrets,
            search_path: self.search_path(task),
            show_scripts: self.cfg.verbose >= 2,
            scripts: std::sync::Mutex::default(),
            memory: self.memory.clone(),
        };
        invocation.run().await
    }

    /// A task's `async` and `poll` on a host (`crate::async_job`): none
    /// without `async` or with `async: 0`.
    pub(super) fn async_mode(
        &self,
        task: &TaskDef,
        vars: &crate::template::Vars,
    ) -> Result<Option<crate::async_job::Mode>, AsyncError> {
        let Some(limit) = &task.async_limit else {
            return Ok(None);
        };
        let seconds = |node: &crate::yaml::Node, keyword: &'static str| {
            let value = self.templates.render_node(node, vars)?;
            match &value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or(AsyncError::Seconds { keyword, value })
        };
        let limit = seconds(limit, "async")?;
        let poll = match &task.poll {
            Some(node) => seconds(node, "poll")?,
            None => crate::async_job::DEFAULT_POLL,
        };
        let background_capable =
            crate::playbook::task_keywords::BACKGROUND_MODULES.contains(&task.module.as_str());
        if limit > 0 && poll == 0 && !background_capable {
            return Err(AsyncError::NotInBackground {
                module: task.module.clone(),
            });
        }
        let dir = if vars.contains("ansible_async_dir") {
            text(&self.templates.eval_str("ansible_async_dir", vars)?)
        } else {
            crate::async_job::DEFAULT_DIR.to_string()
        };
        Ok(crate::async_job::Mode::of(limit, poll, dir))
    }

    /// Where `src:` files of a task are looked up: its role's directory
    /// first, then the playbook's.
    pub(super) fn search_path(&self, task: &TaskDef) -> crate::search_path::SearchPath {
        let mut path = crate::search_path::SearchPath::playbook(&self.playbook.dir);
        if let Some(role) = &task.role {
            path.prepend(&role.path);
        }
        path
    }

    pub(super) fn check_mode(&self, play: &Play, task: &TaskDef) -> bool {
        task.check_mode
            .or(play.check_mode)
            .unwrap_or(self.cfg.check)
    }
}

/// Why a task's `async` and `poll` cannot be used on a host.
#[derive(Debug, thiserror::Error)]
pub(super) enum AsyncError {
    /// Rendering `async` or `poll` failed.
    #[error("{}", .0.message)]
    Render(#[from] crate::error::InputError),
    /// `async` or `poll` is not a whole number (the rendered value).
    #[error("`{keyword}` must be a whole number of seconds, not {value}")]
    Seconds { keyword: &'static str, value: Value },
    /// `poll: 0` for a module that cannot run as a background job.
    #[error(
        "`poll: 0` cannot start `{module}` in the background: dtrplay runs only command, shell and script in the background; give `poll` a number of seconds to wait for the task instead"
    )]
    NotInBackground { module: String },
    /// `ansible_async_dir` does not render.
    #[error("{}", .0.message)]
    AsyncDir(#[from] crate::template::TemplateError),
}

pub(super) fn failure(host: &str, msg: String) -> Report {
    let mut r = HostResult::new(host, Status::Failed);
    r.msg = Some(msg.clone());
    Report {
        results: vec![r],
        status: Status::Failed,
        ignored: false,
        registered: json!({"failed": true, "msg": msg}),
        facts: Map::new(),
        secret: Vec::new(),
        warnings: Vec::new(),
        notices: Vec::new(),
    }
}
