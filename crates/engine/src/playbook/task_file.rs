//! Expanding a call of a YAML task file (a custom task written as tasks):
//! each body task gets the call's arguments as variables and inherits the
//! call's conditions, tags, notifications and modes.
//!
//! Apart from task loading because this is the one place a call turns into
//! several tasks, with its own rules (no recursion, no loop on the call).

use crate::error::InputError;
use crate::playbook::loader::Loader;
use crate::playbook::model::{Step, TaskDef};
use crate::yaml::{Node, Value};

impl Loader<'_> {
    /// Expands a task file call: each body task gets the call's arguments
    /// (and the parameters' defaults) as variables, and inherits the call's
    /// conditions, tags, notifications and modes.
    pub(crate) fn expand(&mut self, call: TaskDef, body: &Node, handler: bool) -> Vec<Step> {
        if self.expanding.contains(&call.module) {
            self.errors.push(
                InputError::at(
                    &call.module_key,
                    format!("the task file `{}` calls itself", call.module),
                )
                .with_label("called again while being expanded")
                .with_help(
                    "a task file may call other task files, but not itself, directly or indirectly",
                ),
            );
            return Vec::new();
        }
        if let Some(items) = &call.loop_items {
            self.errors.push(
                InputError::at(
                    items,
                    format!("a call of the task file `{}` cannot loop", call.module),
                )
                .with_label("loop on a task file call")
                .with_help("put the loop inside the task file, over a list parameter"),
            );
            return Vec::new();
        }
        let Some(spec) = self.registry.get(&call.module).map(|e| e.spec.clone()) else {
            return Vec::new();
        };
        let mut params: Vec<(Node, Node)> = Vec::new();
        for p in &spec.params {
            let given = call
                .args
                .iter()
                .find(|(k, _)| p.name == k.key() || p.aliases.iter().any(|a| a == k.key()));
            let value = match (given, &p.default) {
                (Some((_, v)), _) => v.clone(),
                (None, Some(default)) => {
                    Node::from_json(default, call.module_key.span, &call.module_key.src)
                }
                // An optional parameter without a default is still defined,
                // as null, so the body can test it with `is none`.
                (None, None) => Node::new(Value::Null, call.module_key.span, &call.module_key.src),
            };
            params.push((
                Node::new(
                    Value::Str(p.name.clone()),
                    call.module_key.span,
                    &call.module_key.src,
                ),
                value,
            ));
        }
        self.expanding.push(call.module.clone());
        let steps: Vec<Step> = body
            .as_seq()
            .unwrap_or(&[])
            .iter()
            .flat_map(|t| self.task(t, handler))
            .collect();
        self.expanding.pop();
        // Blocks and includes inside a task file get the call's keywords
        // and parameters the way any enclosing keyword reaches them.
        let mut keywords = call.clone();
        keywords.vars = params
            .iter()
            .cloned()
            .chain(call.vars.iter().cloned())
            .collect();
        keywords.secret_vars.extend(
            spec.params
                .iter()
                .filter(|p| p.secret)
                .map(|p| p.name.clone()),
        );
        let count = steps.len();
        steps
            .into_iter()
            .enumerate()
            .map(|(i, step)| {
                let mut t = match step {
                    Step::Task(t) => *t,
                    mut other => {
                        crate::playbook::block::push_down(
                            std::slice::from_mut(&mut other),
                            &keywords,
                        );
                        return other;
                    }
                };
                let mut vars = params.clone();
                vars.extend(call.vars.iter().cloned());
                vars.extend(t.vars);
                t.vars = vars;
                t.when = call.when.iter().cloned().chain(t.when).collect();
                t.tags = call.tags.iter().cloned().chain(t.tags).collect();
                t.notify.extend(call.notify.iter().cloned());
                t.no_log |= call.no_log;
                t.check_mode = t.check_mode.or(call.check_mode);
                t.diff = t.diff.or(call.diff);
                t.delegate_to = t.delegate_to.or_else(|| call.delegate_to.clone());
                t.delegate_facts |= call.delegate_facts;
                t.ignore_errors = t.ignore_errors.or_else(|| call.ignore_errors.clone());
                t.run_once |= call.run_once;
                t.escalation.inherit(&call.escalation);
                t.environment = call
                    .environment
                    .iter()
                    .cloned()
                    .chain(t.environment)
                    .collect();
                t.secret_vars.extend(
                    spec.params
                        .iter()
                        .filter(|p| p.secret)
                        .map(|p| p.name.clone()),
                );
                t.secret_vars.extend(call.secret_vars.iter().cloned());
                if i + 1 == count && t.register.is_none() {
                    t.register = call.register.clone();
                }
                if handler {
                    t.listen.extend(call.listen.iter().cloned());
                    if let Some(name) = &call.name {
                        t.listen.push(name.scalar_text().unwrap_or_default());
                    }
                }
                let prefix = call.display_name();
                let inner = t.display_name();
                t.name = Some(Node::new(
                    Value::Str(format!("{prefix} : {inner}")),
                    t.name.as_ref().map_or(t.module_key.span, |n| n.span),
                    &t.module_key.src,
                ));
                Step::Task(Box::new(t))
            })
            .collect()
    }
}
