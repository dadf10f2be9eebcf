//! Runs a validated playbook against an inventory, host by host in parallel.
//!
//! The executor owns the run's state (each host's facts, whether it failed
//! or is unreachable, its connection) and drives plays, `serial` batches,
//! tasks and handlers. Running one task on one host is `invocation.rs`'s job.
//!
//! Concurrency: every host of a task runs at once, bounded by `--forks`
//! (a semaphore held while a host works on a task, and while a connection is
//! being opened, since the SSH handshake is the expensive part). Connections
//! to all the hosts of a play start opening as soon as the play starts, and
//! stay open for the whole run.
//!
//! Failures are data: a host that fails or cannot be reached is reported,
//! counted and dropped from the rest of the run; every other host goes on.
//! The exit status is computed once, from the final counts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::config::RunConfig;
use crate::connection::{self, ConnError, ConnectOptions, Connection, SshClient, Target};
use crate::error::{Error, ExitStatus, InputError};
use crate::inventory::{Inventory, Pattern};
use crate::invocation::{Invocation, Report, text};
use crate::plan::batches;
use crate::playbook::{Play, Playbook, Strategy, TaskDef};
use crate::report::{Event, HostResult, HostStats, Reporter, Status};
use crate::tasks::Registry;
use crate::template::Templates;
use crate::vars::{Learned, RunVars};

mod gather;
mod walk;

/// The default time a task's remote script may take (`timeout:` overrides).
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(600);

/// How often live progress is reported while a task runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The counts of a finished run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub hosts: IndexMap<String, HostStats>,
    /// The run was interrupted before it finished.
    pub interrupted: bool,
}

impl Summary {
    /// 0 only when nothing failed and every host was reached.
    pub fn exit_status(&self) -> ExitStatus {
        if self.interrupted {
            ExitStatus::Interrupted
        } else if self.hosts.values().any(|s| s.failed > 0) {
            ExitStatus::TaskFailed
        } else if self.hosts.values().any(|s| s.unreachable > 0) {
            ExitStatus::Unreachable
        } else {
            ExitStatus::Success
        }
    }

    pub fn changed(&self) -> u32 {
        self.hosts.values().map(|s| s.changed).sum()
    }
}

type ConnFuture = Shared<BoxFuture<'static, Result<Arc<dyn Connection>, ConnError>>>;

/// What the run remembers about a host across tasks and plays (its
/// variables live in `RunVars`).
#[derive(Default)]
struct HostState {
    failed: bool,
    unreachable: bool,
    /// `meta: end_host` (or `end_play`) ended the current play for it.
    ended: bool,
    notified: HashSet<String>,
}

impl HostState {
    fn active(&self) -> bool {
        !self.failed && !self.unreachable
    }

    /// Still working on the current play.
    fn running(&self) -> bool {
        self.active() && !self.ended
    }
}

/// Connection settings shared by every connection of a run, with the SSH
/// control directory created.
pub fn connect_options(
    persist: Option<Duration>,
    ssh_client: SshClient,
) -> Result<ConnectOptions, Error> {
    Ok(ConnectOptions {
        control_dir: control_dir()?,
        persist,
        connect_timeout: Duration::from_secs(10),
        retries: 3,
        ssh_client,
        jumps: Default::default(),
    })
}

/// Runs a playbook. Input must already be validated (`validate::load`).
///
/// When `interrupt` completes first (the command line passes Ctrl-C), the
/// tasks in flight are dropped where they stand and the connections are
/// closed, which stops their remote scripts (`connection::remote_shell`).
pub async fn run(
    cfg: &RunConfig,
    playbook: &Playbook,
    inventory: &Inventory,
    registry: &Registry,
    reporter: &mut dyn Reporter,
    interrupt: impl Future<Output = ()>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let mut exec = Executor::new(cfg, playbook, inventory, registry)?;
    reporter.report(&Event::RunStart {
        playbook: playbook.src.name().to_string(),
        check: cfg.check,
        diff: cfg.diff,
    });
    let plays = async {
        for play in &playbook.plays {
            exec.play(play, reporter).await?;
        }
        Ok::<(), Error>(())
    };
    let interrupted = tokio::select! {
        finished = plays => {
            finished?;
            false
        }
        () = interrupt => true,
    };
    if interrupted {
        let running = exec.stopped();
        for (host, _) in &running {
            exec.stats.entry(host.clone()).or_default().interrupted += 1;
        }
        reporter.report(&Event::Interrupted { running });
    }
    exec.close().await;
    let summary = Summary {
        hosts: exec.stats.clone(),
        interrupted,
    };
    reporter.report(&Event::Recap {
        hosts: summary.hosts.clone(),
        elapsed: started.elapsed(),
    });
    Ok(summary)
}

struct Executor<'a> {
    cfg: &'a RunConfig,
    playbook: &'a Playbook,
    inventory: &'a Inventory,
    registry: &'a Registry,
    templates: Templates,
    options: ConnectOptions,
    forks: Arc<Semaphore>,
    hosts: IndexMap<String, HostState>,
    stats: IndexMap<String, HostStats>,
    /// Each host's connection. Interior mutability, because a host's walk
    /// under the free strategy (which shares the executor) may replace its
    /// connection (`meta: reset_connection`).
    conns: std::cell::RefCell<HashMap<String, ConnFuture>>,
    /// The target each of `conns` was opened for (`None`: it had none).
    opened: std::cell::RefCell<HashMap<String, Option<Target>>>,
    /// Connections a later play replaced (another `remote_user`, `port` or
    /// `connection`); closed with the others at the end.
    retired: std::cell::RefCell<Vec<ConnFuture>>,
    /// Hosts whose open connection was reported (`Event::Connected`).
    announced: HashSet<String>,
    /// Every host's variables, `hostvars` included.
    vars: RunVars,
    limit: Option<Vec<String>>,
    /// Whether the task `--start-at-task` names was reached (always, without it).
    started: std::cell::Cell<bool>,
    /// `--step` until the person answers `c` (continue without asking).
    stepping: std::cell::Cell<bool>,
    /// What the run computes once for all its hosts (DTR's CA, the push).
    memory: Arc<crate::run_memory::RunMemory>,
    /// One semaphore per throttled task (by where it is written), held
    /// with the fork slot while the task works on a host.
    throttles: std::cell::RefCell<HashMap<(String, usize), Arc<Semaphore>>>,
    /// The task each host is running now. An entry is removed when the
    /// task ends, not when its future is dropped, so that after Ctrl-C
    /// what is left is exactly what was stopped.
    in_flight: std::cell::RefCell<IndexMap<String, String>>,
    /// The hosts of the play running now, and of its current batch, for
    /// the magic variables `ansible_play_hosts*` and `ansible_play_batch`.
    play_hosts: Vec<String>,
    batch: Vec<String>,
}

impl<'a> Executor<'a> {
    fn new(
        cfg: &'a RunConfig,
        playbook: &'a Playbook,
        inventory: &'a Inventory,
        registry: &'a Registry,
    ) -> Result<Executor<'a>, Error> {
        let limit = match &cfg.limit {
            Some(text) => {
                let pattern = crate::selection::limit_pattern(text)?;
                Some(inventory.select(&pattern))
            }
            None => None,
        };
        Ok(Executor {
            cfg,
            playbook,
            inventory,
            registry,
            templates: Templates::new(),
            options: ConnectOptions {
                connect_timeout: cfg.connect_timeout,
                ..connect_options(cfg.ssh_persist.map(Duration::from_secs), cfg.ssh_client)?
            },
            forks: Arc::new(Semaphore::new(cfg.forks)),
            hosts: IndexMap::new(),
            stats: IndexMap::new(),
            conns: std::cell::RefCell::new(HashMap::new()),
            opened: std::cell::RefCell::new(HashMap::new()),
            retired: std::cell::RefCell::new(Vec::new()),
            announced: HashSet::new(),
            vars: RunVars::new(
                inventory,
                &cfg.extra_vars,
                &playbook.dir,
                cfg.check,
                cfg.diff,
            )
            .with_run_magic(crate::magic_vars::run_magic(cfg)),
            limit,
            started: std::cell::Cell::new(cfg.start_at_task.is_none()),
            stepping: std::cell::Cell::new(cfg.step),
            memory: Arc::new(crate::run_memory::RunMemory::new()),
            throttles: std::cell::RefCell::new(HashMap::new()),
            in_flight: std::cell::RefCell::new(IndexMap::new()),
            play_hosts: Vec::new(),
            batch: Vec::new(),
        })
    }

    async fn play(&mut self, play: &'a Play, reporter: &mut dyn Reporter) -> Result<(), Error> {
        let pattern_text = self.render_static(&play.hosts)?;
        let pattern = Pattern::parse(&pattern_text, Some(&play.hosts))?;
        let mut hosts: Vec<String> = self.inventory.select(&pattern);
        if let Some(limit) = &self.limit {
            hosts.retain(|h| limit.contains(h));
        }
        for h in &hosts {
            self.hosts.entry(h.clone()).or_default();
            self.stats.entry(h.clone()).or_default();
        }
        hosts.retain(|h| self.hosts.get(h).is_some_and(HostState::active));
        order_hosts(&mut hosts, play.order);
        let name = match &play.name {
            Some(n) => self.play_name(n)?,
            None => pattern_text.clone(),
        };
        reporter.report(&Event::PlayStart {
            name: name.clone(),
            hosts: hosts.clone(),
        });
        if hosts.is_empty() {
            reporter.report(&Event::Warning {
                host: None,
                message: "no hosts matched; skipping this play".into(),
            });
            return Ok(());
        }
        for host in &hosts {
            self.vars
                .start_play(&self.templates, self.inventory, play, &name, host)?;
            if let Some(state) = self.hosts.get_mut(host) {
                state.notified.clear();
                state.ended = false;
            }
            self.open(play, host);
        }
        let gathering = self.gathering(play, &hosts, reporter);
        self.play_hosts.clone_from(&hosts);
        for batch in batches(&hosts, &play.serial) {
            self.batch.clone_from(&batch);
            if let Some(task) = &gathering
                && self
                    .linear_task(play, task, &batch, false, false, reporter)
                    .await
            {
                break;
            }
            let ended = match play.strategy {
                Strategy::Linear => {
                    self.linear_play(play, &batch, reporter).await == walk::Flow::EndPlay
                }
                Strategy::Free => {
                    self.free(play, &play.tasks, &batch, reporter).await;
                    false
                }
            };
            self.handlers(play, &batch, reporter).await;
            let failed = batch
                .iter()
                .filter(|h| !self.hosts[h.as_str()].active())
                .count();
            if let Some(max) = play.max_fail_percentage
                && (failed as f64) * 100.0 / (batch.len() as f64) > max
            {
                reporter.report(&Event::Warning {
                    host: None,
                    message: format!("{failed} of {} hosts failed, more than max_fail_percentage {max}; stopping the play", batch.len()),
                });
                break;
            }
            if ended {
                break;
            }
        }
        Ok(())
    }

    /// Whether a task runs once for the whole batch (`run_once`, or a
    /// built-in that always does, like `dump-certs`).
    fn runs_once(&self, task: &TaskDef) -> bool {
        task.run_once
            || self
                .registry
                .get(&task.module)
                .is_some_and(|entry| entry.spec.run_once)
    }

    /// What runs a task's module, for the `task_start` event.
    fn runner(&self, task: &TaskDef) -> String {
        self.registry
            .get(&task.module)
            .map_or(crate::tasks::Runner::Native, |e| e.runner.clone())
            .describe()
    }

    /// Runs one task on every active host of the batch, then reports the
    /// results in inventory order. Returns true when the play must stop.
    async fn linear_task(
        &mut self,
        play: &'a Play,
        task: &TaskDef,
        batch: &[String],
        handler: bool,
        rescuable: bool,
        reporter: &mut dyn Reporter,
    ) -> bool {
        let hosts: Vec<String> = batch
            .iter()
            .filter(|h| self.hosts[h.as_str()].running())
            .filter(|h| !handler || notified(&self.hosts[h.as_str()], task))
            .cloned()
            .collect();
        if hosts.is_empty() {
            return false;
        }
        let Some(entry) = self.registry.get(&task.module) else {
            return false;
        };
        self.publish_play_hosts();
        reporter.report(&Event::TaskStart {
            name: self.task_name(task, &hosts[0]),
            module: task.module.clone(),
            hosts: hosts.clone(),
            runner: entry.runner.describe(),
        });
        let run_once = task.run_once || entry.spec.run_once;
        let targets: Vec<String> = if run_once {
            vec![hosts[0].clone()]
        } else {
            hosts.clone()
        };
        let mut reports: HashMap<String, Report> = HashMap::new();
        {
            let this = &*self;
            let mut running: FuturesUnordered<_> =
                targets
                    .iter()
                    .map(|host| async move {
                        (host.clone(), this.invoke(play, task, host, run_once).await)
                    })
                    .collect();
            let total = targets.len();
            let mut ticker = tokio::time::interval(PROGRESS_EVERY);
            ticker.tick().await;
            loop {
                tokio::select! {
                    next = running.next() => match next {
                        Some((host, report)) => { reports.insert(host, report); }
                        None => break,
                    },
                    _ = ticker.tick() => {
                        let pending: Vec<String> = targets.iter().filter(|h| !reports.contains_key(*h)).cloned().collect();
                        reporter.report(&Event::Progress { done: reports.len(), total, pending });
                    }
                }
            }
        }
        self.announce(&targets, reporter);
        let mut any_failed = false;
        for host in &targets {
            let Some(report) = reports.remove(host) else {
                continue;
            };
            any_failed |= report.status == Status::Failed && !report.ignored && !rescuable;
            if run_once {
                // A run-once result is registered (and its facts set) on
                // every host of the batch, as in Ansible.
                for other in &hosts {
                    self.record(task, other, &report, other == host, true, rescuable);
                }
            } else {
                self.record(task, host, &report, true, true, rescuable);
            }
            for w in &report.warnings {
                reporter.report(&Event::Warning {
                    host: Some(host.clone()),
                    message: w.clone(),
                });
            }
            for r in &report.results {
                reporter.report(&Event::Host(r.clone()));
            }
        }
        if any_failed && play.any_errors_fatal {
            for host in batch {
                if let Some(state) = self.hosts.get_mut(host) {
                    state.failed = true;
                }
            }
            reporter.report(&Event::Warning {
                host: None,
                message: "a host failed and the play has `any_errors_fatal`; stopping every host"
                    .into(),
            });
            return true;
        }
        false
    }

    /// Runs the handlers notified on the batch's hosts, in the order they
    /// are defined.
    async fn handlers(&mut self, play: &'a Play, batch: &[String], reporter: &mut dyn Reporter) {
        let any = batch
            .iter()
            .any(|h| !self.hosts[h.as_str()].notified.is_empty());
        if !any {
            return;
        }
        reporter.report(&Event::HandlersStart);
        for handler in &play.handlers {
            self.linear_task(play, handler, batch, true, false, reporter)
                .await;
        }
        for host in batch {
            if let Some(state) = self.hosts.get_mut(host) {
                state.notified.clear();
            }
        }
    }

    /// Stores what a rescue sees about the failure it rescues.
    fn learn_failure(&self, task: &TaskDef, host: &str, report: &Report) {
        for (name, value) in walk::failed_facts(task, report) {
            self.vars.learn(host, &name, &value, Learned::Data);
        }
    }

    /// Stores what a task learned on a host: its registered value and facts.
    fn learn(&self, task: &TaskDef, host: &str, report: &Report) {
        let origin = |name: &str| {
            if report.secret.iter().any(|n| n == name) {
                Learned::Secret
            } else {
                Learned::Data
            }
        };
        if let Some(name) = &task.register {
            self.vars
                .learn(host, name, &report.registered, origin(name));
        }
        // With `delegate_facts`, what the task learned as facts belongs to
        // the host it was delegated to; the registered value stays here.
        let delegated = report.results.first().and_then(|r| r.delegated_to.clone());
        let fact_host = match (task.delegate_facts, &delegated) {
            (true, Some(delegate)) => delegate.as_str(),
            _ => host,
        };
        for (name, value) in &report.facts {
            self.vars.learn(fact_host, name, value, origin(name));
        }
        // What `setup` and `*_facts` modules return under `ansible_facts`
        // are facts; `set_fact` returns variables there (already in
        // `report.facts`), and `include_vars` the user's own variables.
        // A looped task returns them per item, in order.
        let items: Vec<&Value> = match report.registered.get("results") {
            Some(Value::Array(results)) => results.iter().collect(),
            _ => vec![&report.registered],
        };
        for item in items {
            let Some(Value::Object(facts)) = item.get("ansible_facts") else {
                continue;
            };
            match task.module.as_str() {
                "set_fact" => {}
                "include_vars" => {
                    for (name, value) in facts {
                        let origin = match origin(name) {
                            Learned::Secret => Learned::Secret,
                            _ => Learned::Template,
                        };
                        self.vars.learn(fact_host, name, value, origin);
                    }
                }
                _ => self.vars.learn_facts(fact_host, facts),
            }
        }
    }

    /// Records a host's report: counts, registered value and facts (unless
    /// already learned), notified handlers, failure. `rescuable`: the task
    /// is inside a block with a `rescue`, so a failure counts as rescued and
    /// the rescue sees it.
    fn record(
        &mut self,
        task: &TaskDef,
        host: &str,
        report: &Report,
        counted: bool,
        learn: bool,
        rescuable: bool,
    ) {
        let rescued = rescuable && report.status == Status::Failed && !report.ignored;
        if learn {
            self.learn(task, host, report);
            if rescued {
                self.learn_failure(task, host, report);
            }
        }
        if counted {
            let stats = self.stats.entry(host.to_string()).or_default();
            if rescued {
                stats.rescued += 1;
            } else {
                let mut summary = HostResult::new(host, report.status);
                summary.ignored = report.ignored;
                stats.count(&summary);
            }
        }
        let Some(state) = self.hosts.get_mut(host) else {
            return;
        };
        match report.status {
            Status::Failed if !report.ignored => state.failed = true,
            Status::Unreachable => state.unreachable = true,
            Status::Changed => {
                for n in &task.notify {
                    state.notified.insert(n.clone());
                }
            }
            _ => {}
        }
    }

    /// Runs a task on a host, holding a fork slot while it works.
    async fn invoke(&self, play: &'a Play, task: &TaskDef, host: &str, run_once: bool) -> Report {
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

    /// Shows the play's hosts, as they stand now, to the tasks about to
    /// run: a host that failed or became unreachable has left
    /// `ansible_play_hosts` and `ansible_play_batch`.
    fn publish_play_hosts(&self) {
        let active = |hosts: &[String]| -> Vec<String> {
            hosts
                .iter()
                .filter(|h| self.hosts.get(h.as_str()).is_some_and(HostState::active))
                .cloned()
                .collect()
        };
        self.vars.set_play_hosts(
            &self.play_hosts,
            &active(&self.play_hosts),
            &active(&self.batch),
        );
    }

    /// The tasks that were running when the run was interrupted, with
    /// their hosts, in the order they started.
    fn stopped(&self) -> Vec<(String, String)> {
        self.in_flight.borrow_mut().drain(..).collect()
    }

    /// Runs a task on a host once its fork slot is held.
    async fn invoke_now(
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
            let render = |node: &crate::yaml::Node| {
                self.templates
                    .render_node(node, &tvars)
                    .map_err(|e| e.message.clone())
            };
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
            let render = |node: &crate::yaml::Node| {
                self.templates
                    .render_node(node, &tvars)
                    .map_err(|e| e.message.clone())
            };
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
            Err(msg) => return failure(host, msg),
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
    fn async_mode(
        &self,
        task: &TaskDef,
        vars: &crate::template::Vars,
    ) -> Result<Option<crate::async_job::Mode>, String> {
        let Some(limit) = &task.async_limit else {
            return Ok(None);
        };
        let seconds = |node: &crate::yaml::Node, what: &str| -> Result<u64, String> {
            let value = self
                .templates
                .render_node(node, vars)
                .map_err(|e| e.message.clone())?;
            match &value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("`{what}` must be a whole number of seconds, not {value}"))
        };
        let limit = seconds(limit, "async")?;
        let poll = match &task.poll {
            Some(node) => seconds(node, "poll")?,
            None => crate::async_job::DEFAULT_POLL,
        };
        let background_capable =
            crate::playbook::parse::BACKGROUND_MODULES.contains(&task.module.as_str());
        if limit > 0 && poll == 0 && !background_capable {
            return Err(format!(
                "`poll: 0` cannot start `{}` in the background: dtrplay runs only command, shell and script in the background; give `poll` a number of seconds to wait for the task instead",
                task.module
            ));
        }
        let dir = if vars.contains("ansible_async_dir") {
            text(
                &self
                    .templates
                    .eval_str("ansible_async_dir", vars)
                    .map_err(|e| e.message.clone())?,
            )
        } else {
            crate::async_job::DEFAULT_DIR.to_string()
        };
        Ok(crate::async_job::Mode::of(limit, poll, dir))
    }

    /// Where `src:` files of a task are looked up: its role's directory
    /// first, then the playbook's.
    fn search_path(&self, task: &TaskDef) -> crate::search_path::SearchPath {
        let mut path = crate::search_path::SearchPath::playbook(&self.playbook.dir);
        if let Some(role) = &task.role {
            path.prepend(&role.path);
        }
        path
    }

    fn check_mode(&self, play: &Play, task: &TaskDef) -> bool {
        task.check_mode
            .or(play.check_mode)
            .unwrap_or(self.cfg.check)
    }

    /// Renders a play-level value (name, hosts) with extra variables only,
    /// as Ansible does before any host is known.
    fn render_static(&self, node: &crate::yaml::Node) -> Result<String, Error> {
        Ok(text(
            &self.templates.render_node(node, &self.vars.play_level())?,
        ))
    }

    /// A play's name as shown: rendered with extra variables, and masked
    /// when it shows a secret.
    fn play_name(&self, node: &crate::yaml::Node) -> Result<String, Error> {
        let mut vars = self.vars.play_level();
        vars.track(crate::secret::Taint::new());
        let name = text(&self.templates.render_node(node, &vars)?);
        Ok(self.templates.secrets(&vars).mask(&name))
    }

    /// A task's name as shown, rendered with the first host's variables and
    /// masked when it shows a secret (or a value computed from one).
    fn task_name(&self, task: &TaskDef, host: &str) -> String {
        let name = self.plain_task_name(task, host);
        match &task.role {
            Some(role) => format!("{} : {name}", role.name),
            None => name,
        }
    }

    fn plain_task_name(&self, task: &TaskDef, host: &str) -> String {
        match &task.name {
            Some(node) if node.has_template() => {
                let mut vars = self.vars.task(host, task, self.cfg.check);
                vars.track(crate::secret::Taint::new());
                let name = self
                    .templates
                    .render_node(node, &vars)
                    .map(|v| text(&v))
                    .unwrap_or_else(|_| node.scalar_text().unwrap_or_default());
                self.templates.secrets(&vars).mask(&name)
            }
            _ => task.display_name(),
        }
    }

    /// Reports how each of `hosts` is connected, once per host, as soon as
    /// its connection is open.
    fn announce(&mut self, hosts: &[String], reporter: &mut dyn Reporter) {
        for host in hosts {
            if self.announced.contains(host) {
                continue;
            }
            let open = self
                .conns
                .borrow()
                .get(host)
                .and_then(|fut| fut.peek().and_then(|r| r.as_ref().ok()).cloned());
            let Some(conn) = open else {
                continue;
            };
            reporter.report(&Event::Connected {
                host: host.clone(),
                via: conn.describe(),
            });
            for message in conn.warnings() {
                reporter.report(&Event::Warning {
                    host: Some(host.clone()),
                    message,
                });
            }
            self.announced.insert(host.clone());
        }
    }

    /// Starts opening a host's connection in the background, once per
    /// target: a play that reaches the host differently gets a new one.
    fn open(&self, play: &Play, host: &str) {
        let target = self.target(play, host);
        let wanted = target.as_ref().ok().cloned();
        if self.conns.borrow().contains_key(host) {
            if self.opened.borrow().get(host) == Some(&wanted) {
                return;
            }
            if let Some(old) = self.conns.borrow_mut().remove(host) {
                self.retired.borrow_mut().push(old);
            }
        }
        self.opened.borrow_mut().insert(host.to_string(), wanted);
        let first = self.play_escalation(play, host);
        let options = self.options.clone();
        let forks = self.forks.clone();
        let fut: BoxFuture<'static, Result<Arc<dyn Connection>, ConnError>> = async move {
            let target = target?;
            // The handshake is the costly part of a connection, so it is
            // bounded by --forks like the work itself.
            let _slot = forks.acquire().await;
            connection::connect_as(&target, &options, first)
                .await
                .map(Arc::from)
        }
        .boxed();
        let shared = fut.shared();
        // Drive the connection now, not when the first task needs it.
        tokio::spawn(shared.clone().map(|_| ()));
        self.conns.borrow_mut().insert(host.to_string(), shared);
    }

    /// `meta: reset_connection` on `host`: its connection closes (every
    /// shell of it, escalated ones included, ends in order, so background
    /// jobs live on) and a new one starts opening, which the next task
    /// uses. A new login is how a session picks up a change of the user's
    /// groups, as in Ansible.
    async fn reset_connection(&self, play: &Play, host: &str) {
        let old = self.conns.borrow_mut().remove(host);
        self.opened.borrow_mut().remove(host);
        if let Some(Ok(conn)) = match old {
            Some(fut) => Some(fut.await),
            None => None,
        } {
            conn.reset().await;
        }
        self.open(play, host);
    }

    /// Whom a task without become keywords of its own runs as on `host` in
    /// `play`: the play's keywords, the host's `ansible_become*` and the
    /// command line. The connection opens that user's shell first, so
    /// that a fleet reached as a login user and run as root pays nothing
    /// for becoming. Anything that cannot be resolved yet (a keyword
    /// templated on facts) opens the login user's shell, as before.
    fn play_escalation(&self, play: &Play, host: &str) -> Option<connection::escalate::Escalation> {
        let vars = self.vars.host(host);
        let var = |name: &str| {
            if !vars.contains(name) {
                return Ok(None);
            }
            self.templates
                .eval_str(name, &vars)
                .map(Some)
                .map_err(|e| e.message.clone())
        };
        let render = |node: &crate::yaml::Node| {
            self.templates
                .render_node(node, &vars)
                .map_err(|e| e.message.clone())
        };
        crate::escalation::resolve(&self.cfg.escalation, &[&play.escalation], &var, &render)
            .ok()
            .flatten()
    }

    async fn connection(&self, play: &Play, host: &str) -> Result<Arc<dyn Connection>, ConnError> {
        let kept = self.conns.borrow().get(host).cloned();
        match kept {
            Some(fut) => fut.await,
            None => {
                // A delegate outside the play: connect now (not kept).
                let target = self.target(play, host)?;
                connection::connect(&target, &self.options)
                    .await
                    .map(Arc::from)
            }
        }
    }

    /// How to reach `host` in `play`: extra variables (`-e`), then its own
    /// connection variables, then the play's keywords, then the command
    /// line and settings.
    fn target(&self, play: &Play, host: &str) -> Result<Target, ConnError> {
        let bad_vars = |e: InputError| ConnError::Connect {
            host: host.to_string(),
            message: e.message.clone(),
            hint: Some(format!(
                "fix the connection variables of `{host}` ({})",
                e.location()
            )),
        };
        let vars = self.vars.host(host);
        let mut host_vars = self.inventory.connection_vars(host, &self.cfg.extra_vars);
        crate::inventory::render_connection_vars(&mut host_vars, |_, value| {
            self.templates.render_node(value.origin(), &vars)
        })
        .map_err(bad_vars)?;
        let target = self.inventory.target(host, &host_vars).map_err(bad_vars)?;
        let keys = &play.connection;
        if keys.remote_user.is_none() && keys.port.is_none() && keys.connection.is_none() {
            return Ok(self.cfg.connection.apply(target));
        }
        let has = |names: &[&str]| names.iter().any(|n| host_vars.contains_key(*n));
        let render = |node: &crate::yaml::Node| {
            self.templates
                .render_node(node, &vars)
                .map_err(|e| e.message.clone())
        };
        let target = keys
            .apply(target, &has, &render)
            .map_err(|message| ConnError::Connect {
                host: host.to_string(),
                message,
                hint: Some("fix the play's `remote_user`, `port` or `connection`".into()),
            })?;
        Ok(self.cfg.connection.apply(target))
    }

    /// Closes every connection at once: each close is a round trip (and,
    /// without `--ssh-persist`, stopping a master), so closing them in turn
    /// cost about 0.8 s at 100 hosts.
    async fn close(&mut self) {
        let conns: Vec<Arc<dyn Connection>> = self
            .conns
            .get_mut()
            .drain()
            .map(|(_, fut)| fut)
            .chain(self.retired.get_mut().drain(..))
            .filter_map(|fut| fut.peek().and_then(|r| r.as_ref().ok()).cloned())
            .collect();
        futures::future::join_all(conns.iter().map(|c| c.close())).await;
    }
}

fn failure(host: &str, msg: String) -> Report {
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
    }
}

fn hint_of(e: &ConnError) -> Vec<String> {
    match e {
        ConnError::Connect { hint: Some(h), .. } => vec![h.clone()],
        _ => Vec::new(),
    }
}

/// Whether a handler was notified on a host, by its name or one of the
/// topics it listens to.
fn notified(state: &HostState, handler: &TaskDef) -> bool {
    state.notified.contains(&handler.display_name())
        || handler
            .listen
            .iter()
            .any(|topic| state.notified.contains(topic))
}

/// A private, short directory for SSH control sockets. Unix socket paths
/// are limited to about 104 bytes, so this must stay short.
fn control_dir() -> Result<PathBuf, Error> {
    let uid = nix::unistd::getuid();
    let dir = PathBuf::from(format!("/tmp/dtrplay-{uid}"));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!(
            "could not create the SSH control directory {}",
            dir.display()
        ),
        source,
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        Error::Io {
            context: format!("could not make {} private", dir.display()),
            source,
        }
    })?;
    Ok(dir)
}

/// Puts a play's hosts in the order its `order` keyword asks for; the
/// inventory's order is the default.
fn order_hosts(hosts: &mut [String], order: crate::playbook::HostOrder) {
    use crate::playbook::HostOrder;
    match order {
        HostOrder::Inventory => {}
        HostOrder::ReverseInventory => hosts.reverse(),
        HostOrder::Sorted => hosts.sort(),
        HostOrder::ReverseSorted => {
            hosts.sort();
            hosts.reverse();
        }
        HostOrder::Shuffle => {
            // A Fisher-Yates shuffle seeded by the clock: the order only
            // has to differ between runs, not to be unpredictable.
            let mut seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
                | 1;
            for i in (1..hosts.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                hosts.swap(i, (seed % (i as u64 + 1)) as usize);
            }
        }
    }
}
