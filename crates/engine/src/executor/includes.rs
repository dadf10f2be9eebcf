//! Dynamic includes (`include_tasks`, `include_role`) evaluated on one
//! host: which files (or roles) they lead to, with which loop items, what
//! the include itself reports and registers, and how it counts.
//!
//! Ansible evaluates a looped include's `when` once per item, as for any
//! looped task, and counts one `ok` per file it includes, when that file
//! is loaded (its `_load_included_file`), not one per include task: a loop
//! of three items is three `ok`s. An include whose every item was skipped
//! (or whose loop is empty) is one `skipped`. Both strategies use what is
//! here, so they count alike.

use serde_json::{Map, Value, json};

use super::Executor;
use crate::invocation::{Report, truthy};
use crate::params::text;
use crate::playbook::block::push_down;
use crate::playbook::include::load_dynamic;
use crate::playbook::{Include, IncludeKind};
use crate::playbook::{Play, Step, TaskDef};
use crate::report::{HostResult, Status};
use crate::yaml::{Node, Value as YamlValue};

/// Where an include leads one host: the file (or role) name and the loop
/// item it was included with.
pub(super) type Target = (String, Option<Value>);

/// What an include evaluated to on one host: each loop item (one `None`
/// without a loop) with the file it includes, or `None` where its `when`
/// was false.
pub(super) struct Evaluated {
    looped: bool,
    items: Vec<(Option<Value>, Option<String>)>,
}

impl Evaluated {
    /// The files the host includes, in item order.
    pub(super) fn targets(&self) -> Vec<Target> {
        self.items
            .iter()
            .filter_map(|(item, file)| file.clone().map(|f| (f, item.clone())))
            .collect()
    }

    /// Nothing is included: the condition was false for every item, or
    /// the loop had none.
    fn skipped(&self) -> bool {
        self.items.iter().all(|(_, file)| file.is_none())
    }
}

/// An include's evaluation on one host, or why it failed.
pub(super) type Outcome = Result<Evaluated, String>;

impl<'a> Executor<'a> {
    /// Evaluates an include on a host: its loop items, then per item its
    /// `when` and its file name.
    pub(super) fn include_targets(&self, play: &'a Play, include: &Include, host: &str) -> Outcome {
        let task = &include.task;
        let mut tvars = self.vars.task(host, task, self.check_mode(play, task));
        let name_node = match &include.kind {
            IncludeKind::Tasks { file } => file,
            IncludeKind::Role { name, .. } => name,
        };
        let items: Vec<Option<Value>> = match &task.loop_items {
            None => vec![None],
            Some(node) => {
                let value = self
                    .templates
                    .render_node(node, &tvars)
                    .map_err(|e| e.message.clone())?;
                crate::loops::items(task.loop_kind, value, &self.search_path(task))?
                    .into_iter()
                    .map(Some)
                    .collect()
            }
        };
        let mut evaluated = Evaluated {
            looped: task.loop_items.is_some(),
            items: Vec::with_capacity(items.len()),
        };
        for item in items {
            if let Some(item) = &item {
                tvars.insert_data(task.loop_var.clone(), item.clone());
            }
            let mut holds = true;
            for cond in &task.when {
                let value = self
                    .templates
                    .eval_node(cond, &tvars)
                    .map_err(|e| e.message.clone())?;
                if !truthy(&value) {
                    holds = false;
                    break;
                }
            }
            let file = if holds {
                let name = self
                    .templates
                    .render_node(name_node, &tvars)
                    .map_err(|e| e.message.clone())?;
                Some(text(&name))
            } else {
                None
            };
            evaluated.items.push((item, file));
        }
        Ok(evaluated)
    }

    /// The steps an include leads to for one target, with the loop item.
    pub(super) fn included_steps(
        &self,
        include: &Include,
        target: &Target,
    ) -> Result<Vec<Step>, String> {
        let mut steps = match &include.loaded {
            Some(steps) => steps.clone(),
            None => load_dynamic(
                include,
                &target.0,
                self.registry,
                &self.playbook.dir,
                &self.cfg.roles_path,
            )
            .map_err(|errors| {
                errors
                    .iter()
                    .map(|e| format!("{} ({})", e.message, e.location()))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?,
        };
        if let Some(item) = &target.1 {
            let at = &include.task.node;
            let mut with_item = TaskDef::keywords(at);
            with_item.vars.push((
                Node::new(
                    YamlValue::Str(include.task.loop_var.clone()),
                    at.span,
                    &at.src,
                ),
                Node::from_json(item, at.span, &at.src),
            ));
            push_down(&mut steps, &with_item);
        }
        Ok(steps)
    }

    /// What the include task itself reports and registers on a host: one
    /// line per loop item, and Ansible's registered value (`include` and
    /// `include_args`, under `results` for a loop).
    pub(super) fn include_result(
        &self,
        include: &Include,
        host: &str,
        outcome: &Outcome,
    ) -> Report {
        let task = &include.task;
        let mut results = Vec::new();
        let (status, registered) = match outcome {
            Ok(evaluated) => {
                let mut registered_items = Vec::new();
                for (item, file) in &evaluated.items {
                    let mut result = HostResult::new(host, Status::Ok);
                    result.item = item.as_ref().map(text);
                    let mut value = match file {
                        Some(file) => {
                            result.msg = Some(format!("included: {file}"));
                            json!({"include": file, "include_args": {}})
                        }
                        None => {
                            result.status = Status::Skipped;
                            result.msg = Some("Conditional result was False".into());
                            json!({
                                "changed": false,
                                "skipped": true,
                                "skip_reason": "Conditional result was False",
                            })
                        }
                    };
                    if let (Some(item), Value::Object(map)) = (item, &mut value) {
                        map.insert("ansible_loop_var".into(), task.loop_var.clone().into());
                        map.insert(task.loop_var.clone(), item.clone());
                    }
                    results.push(result);
                    registered_items.push(value);
                }
                if evaluated.skipped() {
                    // One line for the task when no item was there to skip.
                    if results.is_empty() || !evaluated.looped {
                        results.clear();
                        let mut result = HostResult::new(host, Status::Skipped);
                        result.msg = Some(if evaluated.looped {
                            "No items in the list".into()
                        } else {
                            "Conditional result was False".into()
                        });
                        results.push(result);
                    }
                }
                let status = if evaluated.skipped() {
                    Status::Skipped
                } else {
                    Status::Ok
                };
                let registered = if evaluated.looped {
                    let mut value = json!({
                        "changed": false,
                        "results": registered_items,
                        "skipped": evaluated.skipped(),
                    });
                    if !evaluated.skipped() {
                        value["msg"] = "All items completed".into();
                    }
                    value
                } else {
                    registered_items.pop().unwrap_or_else(|| json!({}))
                };
                (status, registered)
            }
            Err(msg) => {
                let mut result = HostResult::new(host, Status::Failed);
                result.msg = Some(msg.clone());
                results.push(result);
                (
                    Status::Failed,
                    json!({"changed": false, "failed": true, "msg": msg}),
                )
            }
        };
        let ignored = status == Status::Failed
            && task
                .ignore_errors
                .as_ref()
                .and_then(|n| crate::params::to_bool(&n.to_json()))
                .unwrap_or(false);
        for result in &mut results {
            result.ignored = ignored && result.status == Status::Failed;
        }
        Report {
            status,
            ignored,
            results,
            registered,
            facts: Map::new(),
            secret: Vec::new(),
            warnings: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// Counts one `ok` for a file an include led a host to, once the file
    /// is loaded, as Ansible counts it.
    pub(super) fn count_included(&mut self, host: &str) {
        self.stats.entry(host.to_string()).or_default().ok += 1;
    }
}

/// Whether the include task's own report counts in the recap: a skip or a
/// failure does; an include that led somewhere counts per file instead
/// (`Executor::count_included`).
pub(super) fn counts_itself(report: &Report) -> bool {
    report.status != Status::Ok
}
