//! A looped task's per-host settings: `loop_control`'s `pause`, `extended`
//! and `extended_allitems`, and the label an item is shown with; and what
//! every way of running the items shares: each item's registered result
//! labelled with its item, and the loop's report over all of them.
//!
//! Apart from the invocation because these are rendered per host before
//! the items run, and read by the item loops only (one by one, collapsed,
//! batched).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::conditions::ValueError;
use super::{Invocation, Report};
use crate::params::text;
use crate::report::{HostResult, Status};
use crate::yaml::Node;

/// `loop_control` settings as rendered for one host.
pub(super) struct LoopSettings {
    pub(super) pause: Duration,
    pub(super) extended: bool,
    pub(super) allitems: bool,
}

impl Invocation<'_> {
    /// `loop_control`'s `pause` (seconds, fractions allowed), `extended`
    /// and `extended_allitems`, rendered for this host.
    pub(super) fn loop_control(&self) -> Result<LoopSettings, ValueError> {
        let lc = &self.task.loop_control;
        let pause = match &lc.pause {
            None => Duration::ZERO,
            Some(node) => {
                let value = self.render(node)?;
                let secs = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .ok_or(ValueError::Pause(value))?;
                Duration::from_secs_f64(secs)
            }
        };
        let flag = |node: &Option<Node>, default: bool| -> Result<bool, ValueError> {
            match node {
                None => Ok(default),
                Some(n) => Ok(self.truth(n)?),
            }
        };
        Ok(LoopSettings {
            pause,
            extended: flag(&lc.extended, false)?,
            allitems: flag(&lc.extended_allitems, true)?,
        })
    }

    pub(super) fn item_label(&self, item: &Value) -> String {
        if let Some(label) = &self.task.loop_label
            && let Ok(v) = self.render(label)
        {
            return text(&v);
        }
        text(item)
    }

    /// Makes an item's registered result say which item it was, as
    /// Ansible's do.
    pub(super) fn label_item(
        &self,
        registered: &mut Value,
        item: &Value,
        index: usize,
        info: Option<Value>,
    ) {
        let loop_var = &self.task.loop_var;
        if let Value::Object(map) = registered {
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
    }

    /// The report of a looped task: its status over every item, and the
    /// registered value with the items' results in item order.
    pub(super) fn loop_report(
        &self,
        results: Vec<HostResult>,
        registered_items: Vec<Value>,
        facts: Map<String, Value>,
        warnings: Vec<String>,
        notices: Vec<String>,
    ) -> Report {
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
            notices,
        }
    }
}

/// The status of a looped task: failed beats unreachable beats changed
/// beats ok; all items skipped means skipped.
pub(super) fn aggregate(results: &[HostResult]) -> Status {
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
