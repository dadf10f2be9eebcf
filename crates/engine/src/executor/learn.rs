//! What the run keeps of a task's result on a host: its registered value
//! and facts (`learn`), and its counts, failure and notified handlers
//! (`record`).
//!
//! Both strategies record results the same way, so this is shared by the
//! linear task loop and the free strategy's walk.

use serde_json::Value;

use super::{Executor, walk};
use crate::invocation::Report;
use crate::playbook::TaskDef;
use crate::report::{HostResult, Status};
use crate::vars::Learned;

impl<'a> Executor<'a> {
    /// Stores what a rescue sees about the failure it rescues.
    pub(super) fn learn_failure(&self, task: &TaskDef, host: &str, report: &Report) {
        for (name, value) in walk::failed_facts(task, report) {
            self.vars.learn(host, &name, &value, Learned::Data);
        }
    }

    /// Stores what a task learned on a host: its registered value and facts.
    pub(super) fn learn(&self, task: &TaskDef, host: &str, report: &Report) {
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
    pub(super) fn record(
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
}
