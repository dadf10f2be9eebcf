//! A loop whose items run side by side: for a task whose spec batches
//! (`Spec::batches`, `user` and `group` on `name`), every item keeps its
//! own arguments, check, apply and result, but their scripts reach the
//! host together (`connection::batched`): one round trip for every item's
//! check, one for every apply that is due, where the item loop pays two
//! per item.
//!
//! Items are told apart by the batching argument: the loop is batched only
//! when every item that runs names a different one (a user created and
//! then changed by the next item must see the first item's work, so such
//! a loop runs item by item). `when` is evaluated per item beforehand, and
//! items whose condition is false are skipped as in the item loop. Each
//! item's failure is its own, as in Ansible's loop.

use std::time::Instant;

use serde_json::Value;

use super::attempt::{Ended, registered_value};
use super::collapse::Collapsed;
use super::loops::LoopSettings;
use super::{Invocation, fill_done, fill_output, skipped};
use crate::connection::batched::Batched;
use crate::report::{HostResult, Status};

impl Invocation<'_> {
    /// Runs the loop's items side by side when the task batches.
    pub(super) async fn batched(
        &mut self,
        items: &[Value],
        control: &LoopSettings,
        warnings: &mut Vec<String>,
    ) -> Collapsed {
        let Some(param) = self.entry.spec.batches.clone() else {
            return Collapsed::No;
        };
        let started = Instant::now();
        let task = self.task;
        // Each item's rendered arguments, `None` for a skipped item.
        let mut plan = Vec::new();
        let mut keys: Vec<Value> = Vec::new();
        for index in 0..items.len() {
            self.enter_item(items, index, control);
            let mut runs = true;
            for cond in &task.when {
                match self.truth(cond) {
                    Ok(holds) => runs &= holds,
                    Err(_) => return Collapsed::No,
                }
            }
            if !runs {
                plan.push(None);
                continue;
            }
            let Ok(args) = self.arguments() else {
                return Collapsed::No;
            };
            self.note_secret_args(&args);
            let key = args.get(&param).cloned().unwrap_or(Value::Null);
            if key.is_null() || keys.contains(&key) {
                return Collapsed::No;
            }
            keys.push(key);
            plan.push(Some(args));
        }
        let running = keys.len();
        if running < 2 {
            return Collapsed::No;
        }
        let this = &*self;
        let kept = this.show_scripts.then_some(&this.scripts);
        let batch = Batched::new(this.conn, running, kept);
        let attempts = plan.iter().flatten().map(|args| {
            let batch = &batch;
            async move {
                let mut own = Vec::new();
                let ended = this.attempt_with(args.clone(), Some(batch), &mut own).await;
                batch.leave().await;
                (ended, own)
            }
        });
        let mut ended = futures::future::join_all(attempts).await.into_iter();
        let mut scripts =
            std::mem::take(&mut *self.scripts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut results = Vec::new();
        let mut registered_items = Vec::new();
        for (index, step) in plan.iter().enumerate() {
            self.enter_item(items, index, control);
            let info = control
                .extended
                .then(|| crate::loops::extended(items, index, control.allitems));
            let item = &items[index];
            let mut result = HostResult::new(self.host, Status::Ok);
            result.delegated_to = self.delegated_to.clone();
            result.item = Some(self.item_label(item));
            let this_item = match step {
                Some(_) => ended.next(),
                None => None,
            };
            let (mut result, mut registered) = match this_item {
                Some((end, own)) => {
                    warnings.extend(own);
                    let registered = registered_value(&end);
                    match end {
                        Ended::Done(outcome) => fill_done(&mut result, &outcome),
                        Ended::Failed { msg, data } => {
                            result.status = Status::Failed;
                            result.msg = Some(msg);
                            fill_output(&mut result, &data);
                            if let Some(ignore) = &task.ignore_errors
                                && matches!(self.truth(ignore), Ok(true))
                            {
                                result.ignored = true;
                            }
                        }
                        Ended::Unreachable(msg) => {
                            result.status = Status::Unreachable;
                            result.msg = Some(msg);
                        }
                    }
                    // The scripts were sent for every item together: the
                    // first item that ran shows them.
                    result.scripts = std::mem::take(&mut scripts);
                    (result, registered)
                }
                None => {
                    let (result, registered, _) = skipped(result);
                    (result, registered)
                }
            };
            result.duration = started.elapsed();
            self.mask(&mut result, &mut registered);
            self.label_item(&mut registered, item, index, info);
            let stop = result.status == Status::Unreachable;
            results.push(result);
            registered_items.push(registered);
            if stop {
                break;
            }
        }
        let notice = format!(
            "{}: `{}` ran {running} items in one call (their checks, then their applies, batched)",
            self.host, self.entry.spec.name
        );
        Collapsed::Ran(results, registered_items, notice)
    }
}
