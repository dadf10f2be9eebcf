//! `meta: refresh_inventory`: the inventory sources are read again (their
//! files, `group_vars/` and `host_vars/`), as Ansible's
//! `InventoryManager.refresh_inventory` does. From then on `groups` shows
//! the new inventory, and each later play selects its hosts from it and
//! starts with its variables; the play now running keeps its hosts.
//!
//! The sources are read once per task and batch, by the first host that
//! reaches it (under the free strategy hosts reach it one by one), and
//! every host shares the outcome: when the inventory no longer loads, each
//! of them fails with the problems found, and the inventory in use stays.

use std::ops::Deref;
use std::sync::Arc;

use super::Executor;
use crate::inventory::Inventory;
use crate::invocation::Report;
use crate::playbook::TaskDef;
use crate::report::{HostResult, Status};

/// The inventory in use: the one the run was given, or the one a
/// `meta: refresh_inventory` read.
pub(super) enum Current<'a> {
    Given(&'a Inventory),
    Refreshed(Arc<Inventory>),
}

impl Deref for Current<'_> {
    type Target = Inventory;

    fn deref(&self) -> &Inventory {
        match self {
            Current::Given(inventory) => inventory,
            Current::Refreshed(inventory) => inventory,
        }
    }
}

impl<'a> Executor<'a> {
    /// The inventory in use now.
    pub(super) fn inventory(&self) -> Current<'a> {
        match self.refreshed.borrow().as_ref() {
            Some(inventory) => Current::Refreshed(inventory.clone()),
            None => Current::Given(self.inventory),
        }
    }

    /// Runs a `meta: refresh_inventory` task for one host: reads the
    /// sources if no host of the batch did for this task yet. The report
    /// is the host's result.
    pub(super) fn refresh_inventory(&self, task: &TaskDef, host: &str) -> Report {
        let key = (task.node.src.name().to_string(), task.node.span.offset());
        let known = self.refreshes.borrow().get(&key).cloned();
        let outcome = match known {
            Some(outcome) => outcome,
            None => {
                let outcome = self.read_inventory_again();
                self.refreshes.borrow_mut().insert(key, outcome.clone());
                outcome
            }
        };
        let mut result = HostResult::new(host, Status::Ok);
        let registered = match &outcome {
            Ok(()) => {
                result.msg = Some("inventory successfully refreshed".into());
                serde_json::json!({"changed": false, "msg": "inventory successfully refreshed"})
            }
            Err(msg) => {
                result.status = Status::Failed;
                result.msg = Some(msg.clone());
                serde_json::json!({"changed": false, "failed": true, "msg": msg})
            }
        };
        Report {
            status: result.status,
            ignored: false,
            results: vec![result],
            registered,
            facts: serde_json::Map::new(),
            secret: Vec::new(),
            warnings: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// A new batch (or play) reads the sources again when it reaches a
    /// `meta: refresh_inventory`, even one an earlier batch ran.
    pub(super) fn forget_refreshes(&self) {
        self.refreshes.borrow_mut().clear();
    }

    fn read_inventory_again(&self) -> Result<(), String> {
        let inventory = Inventory::load(&self.cfg.inventory).map_err(|errors| {
            let problems: Vec<String> = errors
                .iter()
                .map(|e| format!("{} ({})", e.message, e.location()))
                .collect();
            format!(
                "the inventory could not be read again: {}",
                problems.join("; ")
            )
        })?;
        self.vars.refresh(&inventory);
        *self.refreshed.borrow_mut() = Some(Arc::new(inventory));
        Ok(())
    }
}
