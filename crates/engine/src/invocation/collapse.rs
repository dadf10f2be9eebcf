//! A loop run as one task: for a task whose spec collapses loops on a
//! list argument (`Spec::collapses`, the package managers' `name`), a loop
//! whose items render the same arguments but for that one runs once, given
//! every item's entries: one check, one apply, one round trip, one
//! apt-get. The task then says which items changed
//! (`Task::item_outcome`), and each item is reported and registered as
//! Ansible reports a loop, in item order.
//!
//! `when` is still evaluated per item: items whose condition is false are
//! skipped, as in the item loop, and take no part in the call. A loop
//! collapses only when nothing about it is per attempt or per item
//! beyond its entries: no `until`, `changed_when`, `failed_when`, `async`
//! or `loop_control.pause`, and at least two items that run. A collapsed
//! call that fails is run again item by item, so that the failure names
//! the item that failed and the others' results are their own, exactly as
//! Ansible's loop gives them; a failure costs the extra round trips, a
//! success never does.

use std::time::Instant;

use serde_json::{Map, Value};

use super::attempt::{Ended, registered_value};
use super::loops::LoopSettings;
use super::{Invocation, fill_done, skipped};
use crate::report::{HostResult, Status};

/// What became of the attempt to collapse a loop.
pub(super) enum Collapsed {
    /// The loop does not collapse; the items run one by one.
    No,
    /// The loop ran as one task: every item's result and registered value,
    /// and what `-v` says about it.
    Ran(Vec<HostResult>, Vec<Value>, String),
    /// The one call failed; the items run one by one, and `-v` says why.
    Failed(String),
}

/// One item as the collapsed loop sees it.
enum Item {
    Skipped,
    /// The item's entries of the collapsing argument.
    Runs(Vec<String>),
}

impl Invocation<'_> {
    /// Runs the loop as one task when it collapses.
    pub(super) async fn collapsed(
        &mut self,
        items: &[Value],
        control: &LoopSettings,
        warnings: &mut Vec<String>,
    ) -> Collapsed {
        if !self.loop_may_join(items, control) {
            return Collapsed::No;
        }
        let Some(param) = self.entry.spec.collapses.clone() else {
            return self.batched(items, control, warnings).await;
        };
        let task = self.task;
        let started = Instant::now();
        let mut shape: Option<Map<String, Value>> = None;
        let mut plan = Vec::new();
        let mut infos = Vec::new();
        for index in 0..items.len() {
            self.enter_item(items, index, control);
            let info = control
                .extended
                .then(|| crate::loops::extended(items, index, control.allitems));
            infos.push(info);
            let mut runs = true;
            for cond in &task.when {
                match self.truth(cond) {
                    Ok(holds) => runs &= holds,
                    // The item loop reports the error, at its item.
                    Err(_) => return Collapsed::No,
                }
            }
            if !runs {
                plan.push(Item::Skipped);
                continue;
            }
            let Ok(mut args) = self.arguments() else {
                return Collapsed::No;
            };
            let Some(entries) = args.remove(&param).and_then(|v| strings(&v)) else {
                return Collapsed::No;
            };
            match &shape {
                Some(first) if *first != args => return Collapsed::No,
                Some(_) => {}
                None => shape = Some(args),
            }
            plan.push(Item::Runs(entries));
        }
        let running = plan.iter().filter(|p| matches!(p, Item::Runs(_))).count();
        let Some(mut args) = shape.filter(|_| running >= 2) else {
            return Collapsed::No;
        };
        let mut all: Vec<String> = Vec::new();
        for item in &plan {
            if let Item::Runs(entries) = item {
                for entry in entries {
                    if !all.contains(entry) {
                        all.push(entry.clone());
                    }
                }
            }
        }
        args.insert(param.clone(), all.into());
        let mut own_warnings = Vec::new();
        let ended = self
            .attempt_with(args.clone(), None, &mut own_warnings)
            .await;
        let whole = match ended {
            Ended::Done(outcome) => outcome,
            Ended::Failed { .. } | Ended::Unreachable(_) => {
                self.scripts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                return Collapsed::Failed(format!(
                    "{}: `{}` failed for {running} items in one call; running them one by one",
                    self.host, self.entry.spec.name
                ));
            }
        };
        warnings.extend(own_warnings);
        let built = match (self.entry.build)(args) {
            Ok(built) => built,
            Err(_) => return Collapsed::No,
        };
        let mut scripts =
            std::mem::take(&mut *self.scripts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut results = Vec::new();
        let mut registered_items = Vec::new();
        for ((index, item), (info, step)) in
            items.iter().enumerate().zip(infos.into_iter().zip(plan))
        {
            self.enter_item(items, index, control);
            let mut result = HostResult::new(self.host, Status::Ok);
            result.delegated_to = self.delegated_to.clone();
            result.item = Some(self.item_label(item));
            let (mut result, mut registered) = match step {
                Item::Skipped => {
                    let (result, registered, _) = skipped(result);
                    (result, registered)
                }
                Item::Runs(entries) => {
                    let share = built.item_outcome_dyn(&whole, &entries);
                    fill_done(&mut result, &share);
                    // The scripts were sent once, for every item: the
                    // first item that ran shows them.
                    result.scripts = std::mem::take(&mut scripts);
                    let registered = registered_value(&Ended::Done(share));
                    (result, registered)
                }
            };
            result.duration = started.elapsed();
            self.mask(&mut result, &mut registered);
            self.label_item(&mut registered, item, index, info);
            results.push(result);
            registered_items.push(registered);
        }
        let notice = format!(
            "{}: `{}` ran {running} items in one call",
            self.host, self.entry.spec.name
        );
        Collapsed::Ran(results, registered_items, notice)
    }

    /// Whether a loop's items may run together: nothing about them is per
    /// attempt, and there are at least two.
    fn loop_may_join(&self, items: &[Value], control: &LoopSettings) -> bool {
        let task = self.task;
        let per_attempt = task.until.is_some()
            || task.retries.is_some()
            || !task.changed_when.is_empty()
            || !task.failed_when.is_empty()
            || self.asynchronous.is_some()
            || !control.pause.is_zero();
        !per_attempt && items.len() >= 2
    }

    /// Sets the loop variables of item `index`, as the item loop does.
    pub(super) fn enter_item(&mut self, items: &[Value], index: usize, control: &LoopSettings) {
        let loop_var = self.task.loop_var.clone();
        if let Some(name) = &self.task.loop_control.index_var {
            self.vars.insert_data(name.clone(), index.into());
        }
        self.vars
            .insert_magic("ansible_loop_var", loop_var.clone().into());
        if control.extended {
            let info = crate::loops::extended(items, index, control.allitems);
            self.vars.insert_data("ansible_loop", info);
        }
        self.vars.insert_data(loop_var, items[index].clone());
    }
}

/// A coerced list argument's entries, when every one is a string.
fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}
