//! Walking a play's task stream: tasks, blocks with `rescue`/`always`,
//! dynamic includes and `meta`, for the linear and the free strategy.
//!
//! Both strategies walk the same tree of `Step`s. The linear one walks it
//! once for all hosts, each task finishing on every host before the next
//! starts; a block's rescue runs on the hosts that failed in its body, its
//! always section on every host that entered it. The free one walks it once
//! per host, each host on its own. An include is evaluated per host (its
//! `when`, `loop` and file name); the linear strategy then runs each
//! included file on the hosts that included it, together.
//!
//! A failure inside a block that has a rescue counts as `rescued` instead
//! of `failed`, and the rescue sees `ansible_failed_task` and
//! `ansible_failed_result`, as in Ansible.

use std::collections::HashSet;

use futures::future::{FutureExt, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};

use super::includes::{Target, counts_itself};
use super::{Executor, HostState};
use crate::invocation::{Report, truthy};
use crate::playbook::Include;
use crate::playbook::{MetaAction, Play, Step, TaskDef};
use crate::report::{Event, Reporter, Status};

/// How a walk over steps ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// `meta: end_play`, or `any_errors_fatal` stopped every host.
    EndPlay,
}

/// How one host's walk ended in the free strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostFlow {
    Continue,
    Failed,
    Unreachable,
    Ended,
}

/// One result of the free strategy, sent to the executor to record.
struct FreeReport {
    host: String,
    task: TaskDef,
    report: Report,
    /// Whether it counts in the recap (an include that led somewhere
    /// counts per file it loaded instead).
    counted: bool,
    rescuable: bool,
}

/// The count of one file an include loaded, in the free strategy, where
/// counts are recorded once the batch is done: an `ok` with nothing to show.
fn included_count() -> Report {
    Report {
        status: Status::Ok,
        ignored: false,
        results: Vec::new(),
        registered: Value::Null,
        facts: Map::new(),
        secret: Vec::new(),
        warnings: Vec::new(),
        notices: Vec::new(),
    }
}

/// The variables a rescue sees about the failure it rescues.
pub fn failed_facts(task: &TaskDef, report: &Report) -> Map<String, Value> {
    let mut facts = Map::new();
    facts.insert(
        "ansible_failed_task".into(),
        json!({
            "name": task.display_name(),
            "action": task.module,
        }),
    );
    facts.insert("ansible_failed_result".into(), report.registered.clone());
    facts
}

impl<'a> Executor<'a> {
    fn selected(&self, play: &Play, task: &TaskDef) -> bool {
        if !self.started.get() {
            match &self.cfg.start_at_task {
                Some(wanted) if crate::start_at::matches(wanted, task) => self.started.set(true),
                _ => return false,
            }
        }
        let tags: Vec<String> = task.tags.iter().chain(&play.tags).cloned().collect();
        self.cfg.tags.selects(&tags) && self.step_allows(task)
    }

    /// `--step`: asks whether to run `task`, as Ansible asks: an empty
    /// answer is no, `c` runs this task and every later one without
    /// asking again. A terminal that cannot be read any more stops the
    /// asking and skips the task, since nobody said yes.
    fn step_allows(&self, task: &TaskDef) -> bool {
        if !self.stepping.get() {
            return true;
        }
        let name = match &task.role {
            Some(role) => format!("{} : {}", role.name, task.display_name()),
            None => task.display_name(),
        };
        let prompt = format!("Perform task: TASK: {name} (N)o/(y)es/(c)ontinue: ");
        match crate::tty::ask(&prompt, "answer") {
            Ok(answer) => match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => true,
                "c" | "continue" => {
                    self.stepping.set(false);
                    true
                }
                _ => false,
            },
            Err(_) => {
                self.stepping.set(false);
                false
            }
        }
    }

    /// Runs a play's top-level steps on `hosts` with the linear strategy,
    /// and stops the play, saying so, once no host is left to run the rest:
    /// Ansible's "NO MORE HOSTS LEFT". Only the top level stops this way,
    /// because inside a block the rescue and always sections still run.
    pub(super) async fn linear_play(
        &mut self,
        play: &'a Play,
        hosts: &[String],
        reporter: &mut dyn Reporter,
    ) -> Flow {
        for (i, step) in play.tasks.iter().enumerate() {
            let flow = self
                .linear_steps(play, std::slice::from_ref(step), hosts, false, reporter)
                .await;
            if flow == Flow::EndPlay {
                return flow;
            }
            let left: usize = play.tasks[i + 1..].iter().map(|s| s.tasks().len()).sum();
            let any_active = hosts
                .iter()
                .any(|h| self.hosts.get(h.as_str()).is_some_and(HostState::active));
            if left > 0
                && !any_active
                && let Some(task) = step.tasks().last()
            {
                let name = self.task_name(task, &hosts[0]);
                reporter.report(&Event::Warning {
                    host: None,
                    message: no_hosts_left(&name, self.runs_once(task), left),
                });
                return Flow::Continue;
            }
        }
        Flow::Continue
    }

    /// Runs `steps` on `hosts` with the linear strategy.
    pub(super) fn linear_steps<'s>(
        &'s mut self,
        play: &'a Play,
        steps: &'s [Step],
        hosts: &'s [String],
        rescuable: bool,
        reporter: &'s mut dyn Reporter,
    ) -> LocalBoxFuture<'s, Flow> {
        async move {
            for step in steps {
                let flow = match step {
                    Step::Task(task) => {
                        if !self.selected(play, task) {
                            continue;
                        }
                        if self
                            .linear_task(play, task, hosts, false, rescuable, reporter)
                            .await
                        {
                            Flow::EndPlay
                        } else {
                            Flow::Continue
                        }
                    }
                    Step::Block(block) => {
                        let entered = self.running(hosts);
                        if entered.is_empty() {
                            continue;
                        }
                        let has_rescue = !block.rescue.is_empty();
                        let mut flow = self
                            .linear_steps(
                                play,
                                &block.body,
                                &entered,
                                rescuable || has_rescue,
                                reporter,
                            )
                            .await;
                        let failed = self.failed_among(&entered);
                        if flow == Flow::Continue && has_rescue && !failed.is_empty() {
                            self.set_failed(&failed, false);
                            flow = self
                                .linear_steps(play, &block.rescue, &failed, rescuable, reporter)
                                .await;
                        }
                        if flow == Flow::Continue && !block.always.is_empty() {
                            let failed = self.failed_among(&entered);
                            self.set_failed(&failed, false);
                            flow = self
                                .linear_steps(play, &block.always, &entered, rescuable, reporter)
                                .await;
                            self.set_failed(&failed, true);
                        }
                        flow
                    }
                    Step::Include(include) => {
                        if !self.selected(play, &include.task) {
                            continue;
                        }
                        self.linear_include(play, include, hosts, rescuable, reporter)
                            .await
                    }
                    Step::Meta(meta) => {
                        let implicit = meta.action == MetaAction::FlushHandlers;
                        if !implicit && !self.selected(play, &meta.task) {
                            continue;
                        }
                        let chosen: Vec<String> = self
                            .running(hosts)
                            .into_iter()
                            .filter(|h| self.condition_holds(play, &meta.task, h))
                            .collect();
                        match meta.action {
                            MetaAction::FlushHandlers => {
                                self.handlers(play, hosts, reporter).await;
                                Flow::Continue
                            }
                            MetaAction::EndPlay if !chosen.is_empty() => {
                                for h in hosts {
                                    self.state(h).ended = true;
                                }
                                Flow::EndPlay
                            }
                            MetaAction::EndHost => {
                                for h in &chosen {
                                    self.state(h).ended = true;
                                }
                                Flow::Continue
                            }
                            MetaAction::ResetConnection => {
                                let this = &*self;
                                futures::future::join_all(
                                    chosen.iter().map(|h| this.reset_connection(play, h)),
                                )
                                .await;
                                Flow::Continue
                            }
                            MetaAction::ClearFacts => {
                                // As in Ansible, one host for which the
                                // condition holds clears every play host.
                                if !chosen.is_empty() {
                                    for h in hosts {
                                        self.vars.forget_facts(h);
                                    }
                                }
                                Flow::Continue
                            }
                            MetaAction::RefreshInventory => {
                                self.linear_refresh(&meta.task, &chosen, rescuable, reporter);
                                Flow::Continue
                            }
                            MetaAction::EndPlay | MetaAction::Noop => Flow::Continue,
                        }
                    }
                };
                if flow == Flow::EndPlay {
                    return flow;
                }
            }
            Flow::Continue
        }
        .boxed_local()
    }

    /// `meta: refresh_inventory` in the linear strategy: read once for the
    /// hosts it runs on. Like Ansible's, it shows and counts nothing when
    /// it works; when the inventory no longer loads, each host fails.
    fn linear_refresh(
        &mut self,
        task: &TaskDef,
        chosen: &[String],
        rescuable: bool,
        reporter: &mut dyn Reporter,
    ) {
        let failed: Vec<(String, Report)> = chosen
            .iter()
            .map(|h| (h.clone(), self.refresh_inventory(task, h)))
            .filter(|(_, report)| report.status == Status::Failed)
            .collect();
        let Some((first, _)) = failed.first() else {
            return;
        };
        reporter.report(&Event::TaskStart {
            name: self.task_name(task, first),
            module: task.module.clone(),
            hosts: failed.iter().map(|(h, _)| h.clone()).collect(),
            runner: self.runner(task),
        });
        for (host, report) in &failed {
            for r in &report.results {
                reporter.report(&Event::Host(r.clone()));
            }
            self.record(task, host, report, true, false, rescuable);
        }
    }

    fn state(&mut self, host: &str) -> &mut HostState {
        self.hosts.entry(host.to_string()).or_default()
    }

    fn running(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| self.hosts.get(h.as_str()).is_some_and(HostState::running))
            .cloned()
            .collect()
    }

    /// Hosts among `hosts` that failed (and are still reachable).
    fn failed_among(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| {
                self.hosts
                    .get(h.as_str())
                    .is_some_and(|s| s.failed && !s.unreachable)
            })
            .cloned()
            .collect()
    }

    fn set_failed(&mut self, hosts: &[String], failed: bool) {
        for h in hosts {
            self.state(h).failed = failed;
        }
    }

    /// Whether every `when` of `task` holds on `host`.
    fn condition_holds(&self, play: &'a Play, task: &TaskDef, host: &str) -> bool {
        if task.when.is_empty() {
            return true;
        }
        let tvars = self.vars.task(host, task, self.check_mode(play, task));
        task.when.iter().all(|cond| {
            self.templates
                .eval_node(cond, &tvars)
                .map(|v| truthy(&v))
                .unwrap_or(false)
        })
    }

    async fn linear_include(
        &mut self,
        play: &'a Play,
        include: &Include,
        hosts: &[String],
        rescuable: bool,
        reporter: &mut dyn Reporter,
    ) -> Flow {
        let targets = self.running(hosts);
        if targets.is_empty() {
            return Flow::Continue;
        }
        reporter.report(&Event::TaskStart {
            name: self.task_name(&include.task, &targets[0]),
            module: include.task.module.clone(),
            hosts: targets.clone(),
            runner: self.runner(&include.task),
        });
        // Every target of every host, in the order first seen, with the
        // hosts that include it. A host that includes the same target twice
        // (a repeated loop item) runs it twice, as in Ansible.
        let mut groups: Vec<(Target, Vec<String>)> = Vec::new();
        for host in &targets {
            let outcome = self.include_targets(play, include, host);
            let report = self.include_result(include, host, &outcome);
            for r in &report.results {
                reporter.report(&Event::Host(r.clone()));
            }
            let counted = counts_itself(&report);
            self.record(&include.task, host, &report, counted, true, rescuable);
            if let Ok(evaluated) = outcome {
                for target in evaluated.targets() {
                    match groups
                        .iter_mut()
                        .find(|(t, members)| *t == target && !members.contains(host))
                    {
                        Some((_, members)) => members.push(host.clone()),
                        None => groups.push((target, vec![host.clone()])),
                    }
                }
            }
        }
        for (target, members) in groups {
            let steps = match self.included_steps(include, &target) {
                Ok(steps) => steps,
                Err(msg) => {
                    reporter.report(&Event::TaskStart {
                        name: self.task_name(&include.task, &members[0]),
                        module: include.task.module.clone(),
                        hosts: members.clone(),
                        runner: self.runner(&include.task),
                    });
                    for host in &members {
                        let outcome = Err(msg.clone());
                        let report = self.include_result(include, host, &outcome);
                        for r in &report.results {
                            reporter.report(&Event::Host(r.clone()));
                        }
                        self.record(&include.task, host, &report, true, true, rescuable);
                    }
                    continue;
                }
            };
            for host in &members {
                self.count_included(host);
            }
            if self
                .linear_steps(play, &steps, &members, rescuable, reporter)
                .await
                == Flow::EndPlay
            {
                return Flow::EndPlay;
            }
        }
        Flow::Continue
    }

    /// `strategy: free`: each host walks the steps on its own.
    pub(super) async fn free(
        &mut self,
        play: &'a Play,
        steps: &[Step],
        batch: &[String],
        reporter: &mut dyn Reporter,
    ) {
        let hosts = self.running(batch);
        // Under `free` each host runs on its own; the play's hosts are
        // those of the batch's start.
        self.publish_play_hosts();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<FreeReport>();
        let mut started: HashSet<(String, usize)> = HashSet::new();
        // Reports are recorded once every runner is done, because recording
        // needs `&mut self` while the runners borrow it.
        let mut pending: Vec<FreeReport> = Vec::new();
        let mut ends: Vec<(String, HostFlow)> = Vec::new();
        {
            let this = &*self;
            let mut runners: FuturesUnordered<_> = hosts
                .iter()
                .map(|host| {
                    let tx = tx.clone();
                    async move {
                        let flow = this.free_steps(play, steps, host, &tx, false).await;
                        (host.clone(), flow)
                    }
                })
                .collect();
            drop(tx);
            let mut show = |r: &FreeReport, reporter: &mut dyn Reporter| {
                let key = (
                    r.task.node.src.name().to_string(),
                    r.task.node.span.offset(),
                );
                if started.insert(key) {
                    reporter.report(&Event::TaskStart {
                        name: this.task_name(&r.task, &r.host),
                        module: r.task.module.clone(),
                        hosts: hosts.clone(),
                        runner: this.runner(&r.task),
                    });
                }
                for res in &r.report.results {
                    reporter.report(&Event::Host(res.clone()));
                }
            };
            loop {
                tokio::select! {
                    done = runners.next() => match done {
                        Some(end) => ends.push(end),
                        None => break,
                    },
                    Some(r) = rx.recv() => {
                        show(&r, reporter);
                        pending.push(r);
                    }
                }
            }
            while let Ok(r) = rx.try_recv() {
                show(&r, reporter);
                pending.push(r);
            }
        }
        self.announce(&hosts, reporter);
        // What the hosts learned is already stored; counts are recorded now.
        for r in pending {
            self.record(&r.task, &r.host, &r.report, r.counted, false, r.rescuable);
        }
        // The walk knows whether a failure was rescued.
        for (host, flow) in ends {
            let state = self.state(&host);
            match flow {
                HostFlow::Continue => state.failed = false,
                HostFlow::Ended => {
                    state.failed = false;
                    state.ended = true;
                }
                HostFlow::Failed => state.failed = true,
                HostFlow::Unreachable => state.unreachable = true,
            }
        }
    }

    /// One host's walk over `steps` in the free strategy.
    fn free_steps<'s>(
        &'s self,
        play: &'a Play,
        steps: &'s [Step],
        host: &'s str,
        tx: &'s tokio::sync::mpsc::UnboundedSender<FreeReport>,
        rescuable: bool,
    ) -> LocalBoxFuture<'s, HostFlow> {
        async move {
            for step in steps {
                let flow = match step {
                    Step::Task(task) => {
                        if !self.selected(play, task) || self.registry.get(&task.module).is_none() {
                            continue;
                        }
                        let report = self.invoke(play, task, host, false).await;
                        // The host's next task sees what this one learned.
                        self.learn(task, host, &report);
                        let flow = match report.status {
                            Status::Failed if !report.ignored => {
                                if rescuable {
                                    self.learn_failure(task, host, &report);
                                }
                                HostFlow::Failed
                            }
                            Status::Unreachable => HostFlow::Unreachable,
                            _ => HostFlow::Continue,
                        };
                        let _ = tx.send(FreeReport {
                            host: host.to_string(),
                            task: (**task).clone(),
                            report,
                            counted: true,
                            rescuable,
                        });
                        flow
                    }
                    Step::Block(block) => {
                        let has_rescue = !block.rescue.is_empty();
                        let mut flow = self
                            .free_steps(play, &block.body, host, tx, rescuable || has_rescue)
                            .await;
                        if flow == HostFlow::Failed && has_rescue {
                            flow = self
                                .free_steps(play, &block.rescue, host, tx, rescuable)
                                .await;
                        }
                        if matches!(flow, HostFlow::Continue | HostFlow::Failed)
                            && !block.always.is_empty()
                        {
                            let always = self
                                .free_steps(play, &block.always, host, tx, rescuable)
                                .await;
                            if always != HostFlow::Continue {
                                flow = always;
                            }
                        }
                        flow
                    }
                    Step::Include(include) => {
                        if !self.selected(play, &include.task) {
                            continue;
                        }
                        let outcome = self.include_targets(play, include, host);
                        let report = self.include_result(include, host, &outcome);
                        let failed = report.status == Status::Failed && !report.ignored;
                        // The host's next task sees what the include registered.
                        self.learn(&include.task, host, &report);
                        let _ = tx.send(FreeReport {
                            host: host.to_string(),
                            task: include.task.clone(),
                            counted: counts_itself(&report),
                            report,
                            rescuable,
                        });
                        let mut flow = if failed {
                            HostFlow::Failed
                        } else {
                            HostFlow::Continue
                        };
                        let targets = outcome.map(|e| e.targets()).unwrap_or_default();
                        for target in targets {
                            if flow != HostFlow::Continue {
                                break;
                            }
                            flow = match self.included_steps(include, &target) {
                                Ok(steps) => {
                                    let _ = tx.send(FreeReport {
                                        host: host.to_string(),
                                        task: include.task.clone(),
                                        report: included_count(),
                                        counted: true,
                                        rescuable,
                                    });
                                    self.free_steps(play, &steps, host, tx, rescuable).await
                                }
                                Err(msg) => {
                                    let report = self.include_result(include, host, &Err(msg));
                                    let _ = tx.send(FreeReport {
                                        host: host.to_string(),
                                        task: include.task.clone(),
                                        report,
                                        counted: true,
                                        rescuable,
                                    });
                                    HostFlow::Failed
                                }
                            };
                        }
                        flow
                    }
                    Step::Meta(meta) => {
                        if meta.action != MetaAction::FlushHandlers
                            && (!self.selected(play, &meta.task)
                                || !self.condition_holds(play, &meta.task, host))
                        {
                            continue;
                        }
                        match meta.action {
                            MetaAction::EndPlay | MetaAction::EndHost => HostFlow::Ended,
                            MetaAction::ResetConnection => {
                                self.reset_connection(play, host).await;
                                HostFlow::Continue
                            }
                            MetaAction::ClearFacts => {
                                for h in &self.play_hosts {
                                    self.vars.forget_facts(h);
                                }
                                HostFlow::Continue
                            }
                            MetaAction::RefreshInventory => {
                                let report = self.refresh_inventory(&meta.task, host);
                                if report.status == Status::Failed {
                                    let _ = tx.send(FreeReport {
                                        host: host.to_string(),
                                        task: (*meta.task).clone(),
                                        report,
                                        counted: true,
                                        rescuable,
                                    });
                                    HostFlow::Failed
                                } else {
                                    HostFlow::Continue
                                }
                            }
                            // Handlers run when the batch is done in the
                            // free strategy.
                            MetaAction::FlushHandlers | MetaAction::Noop => HostFlow::Continue,
                        }
                    }
                };
                if flow != HostFlow::Continue {
                    return flow;
                }
            }
            HostFlow::Continue
        }
        .boxed_local()
    }
}

/// Why a play ends before its last task: Ansible's "NO MORE HOSTS LEFT",
/// with the task that took the last host out.
fn no_hosts_left(task: &str, run_once: bool, left: usize) -> String {
    let tasks = if left == 1 { "task" } else { "tasks" };
    let why = if run_once {
        format!("`{task}` runs once for every host, and it did not succeed")
    } else {
        format!("after `{task}`, every host has failed or is unreachable")
    };
    format!("NO MORE HOSTS LEFT: the play stopped: {why}; its {left} remaining {tasks} did not run")
}
