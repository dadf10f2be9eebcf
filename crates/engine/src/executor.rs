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
//!
//! This file holds the run and the play loop; the rest is cut by concept so
//! that each part can be read alone: `connections` (opening, replacing and
//! closing each host's connection), `invoke` (what the executor resolves
//! before a task runs on a host), `learn` (what it keeps of a result),
//! `names` (how plays and tasks are shown), `walk` (the task tree and the
//! free strategy), `gather` (facts), `host_order` and `summary`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use indexmap::IndexMap;
use tokio::sync::Semaphore;

use crate::config::RunConfig;
use crate::connection::{ConnectOptions, Target};
use crate::error::Error;
use crate::inventory::{Inventory, Pattern};
use crate::invocation::Report;
use crate::plan::batches;
use crate::playbook::{Play, Playbook, Strategy, TaskDef};
use crate::report::{Event, HostStats, Reporter, Status};
use crate::tasks::Registry;
use crate::template::Templates;
use crate::vars::RunVars;

mod connections;
mod gather;
mod host_order;
mod includes;
mod invoke;
mod learn;
mod names;
mod refresh;
mod summary;
mod walk;

use connections::ConnFuture;
pub use connections::connect_options;
use host_order::order_hosts;
pub use summary::Summary;

/// How often live progress is reported while a task runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

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
    /// `--limit`, applied to the inventory each play reads (the one given,
    /// or one `meta: refresh_inventory` read again).
    limit: Option<Pattern>,
    /// The inventory read again by `meta: refresh_inventory`, when a play
    /// asked for it; `inventory` until then.
    refreshed: std::cell::RefCell<Option<Arc<Inventory>>>,
    /// What each `meta: refresh_inventory` task did in the current batch:
    /// the first host to reach it reads the inventory, the others share
    /// the outcome (`refresh.rs`).
    refreshes: std::cell::RefCell<HashMap<(String, usize), Result<(), String>>>,
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
            Some(text) => Some(crate::selection::limit_pattern(text)?),
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
            refreshed: std::cell::RefCell::new(None),
            refreshes: std::cell::RefCell::new(HashMap::new()),
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
        let inventory = self.inventory();
        let mut hosts: Vec<String> = inventory.select(&pattern);
        if let Some(limit) = &self.limit {
            let allowed = inventory.select(limit);
            hosts.retain(|h| allowed.contains(h));
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
                .start_play(&self.templates, &inventory, play, &name, host)?;
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
            self.forget_refreshes();
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
            for message in &report.notices {
                reporter.report(&Event::Notice {
                    message: message.clone(),
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
