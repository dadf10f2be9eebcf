//! Blocks: `block`, `rescue` and `always`, and how keywords flow down.
//!
//! A block's keywords (`when`, `tags`, `vars`, `ignore_errors`,
//! `delegate_to`, ...) are inherited by every task inside it, as in Ansible,
//! where a task's `when` is its own conditions after those of every
//! enclosing block, each evaluated when the task runs. The loader pushes
//! them down once (`push_down`), so the executor only needs a block's three
//! lists: the body, what runs when a task of the body fails (`rescue`), and
//! what runs in any case (`always`).

use crate::playbook::model::{Block, Step, TaskDef};
use crate::yaml::Node;

/// Gives `child` the keywords of an enclosing `parent` (a block, an
/// import, a role entry, an include's `apply`). The child's own settings
/// win; conditions and tags add up, outer ones first; variables layer with
/// the child's on top.
pub fn inherit(child: &mut TaskDef, parent: &TaskDef) {
    if !parent.when.is_empty() {
        child.when = parent
            .when
            .iter()
            .cloned()
            .chain(child.when.drain(..))
            .collect();
    }
    for tag in &parent.tags {
        if !child.tags.contains(tag) {
            child.tags.push(tag.clone());
        }
    }
    if !parent.vars.is_empty() {
        child.vars = parent
            .vars
            .iter()
            .cloned()
            .chain(child.vars.drain(..))
            .collect();
    }
    if child.ignore_errors.is_none() {
        child.ignore_errors = parent.ignore_errors.clone();
    }
    if child.delegate_to.is_none() {
        child.delegate_to = parent.delegate_to.clone();
    }
    child.check_mode = child.check_mode.or(parent.check_mode);
    child.diff = child.diff.or(parent.diff);
    child.timeout = child.timeout.or(parent.timeout);
    child.throttle = child.throttle.or(parent.throttle);
    for handler in &parent.notify {
        if !child.notify.contains(handler) {
            child.notify.push(handler.clone());
        }
    }
    child.no_log |= parent.no_log;
    child.run_once |= parent.run_once;
    child.delegate_facts |= parent.delegate_facts;
    child.secret_vars.extend(parent.secret_vars.iter().cloned());
    child.escalation.inherit(&parent.escalation);
    if !parent.environment.is_empty() {
        child.environment = parent
            .environment
            .iter()
            .cloned()
            .chain(child.environment.drain(..))
            .collect();
    }
    if child.role.is_none() {
        child.role = parent.role.clone();
    }
}

/// Pushes `parent`'s keywords into every task of `steps`, through nested
/// blocks, and into includes (both the include itself and what it will
/// load).
pub fn push_down(steps: &mut [Step], parent: &TaskDef) {
    for step in steps {
        match step {
            Step::Task(task) => inherit(task, parent),
            Step::Block(block) => {
                push_down(&mut block.body, parent);
                push_down(&mut block.rescue, parent);
                push_down(&mut block.always, parent);
            }
            Step::Include(inc) => {
                inherit(&mut inc.task, parent);
                inherit(&mut inc.inherited, parent);
                if let Some(loaded) = &mut inc.loaded {
                    push_down(loaded, parent);
                }
            }
            Step::Meta(meta) => inherit(&mut meta.task, parent),
        }
    }
}

/// Keywords a task may have that mean nothing on a block; Ansible refuses
/// them there too.
const TASK_ONLY: &[&str] = &[
    "loop",
    "with_items",
    "with_list",
    "loop_control",
    "register",
    "listen",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "args",
    "async",
    "poll",
];

impl crate::playbook::loader::Loader<'_> {
    /// Lowers a `block:` mapping: its keywords go down into its tasks.
    pub(crate) fn block(&mut self, node: &Node, handler: bool) -> Option<Step> {
        let entries = node.as_map()?;
        let mut keywords = TaskDef::keywords(node);
        let mut args = Vec::new();
        let (mut body, mut rescue, mut always) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in entries {
            match key.key() {
                "block" => body = self.task_list(value, handler),
                "rescue" => rescue = self.task_list(value, handler),
                "always" => always = self.task_list(value, handler),
                k if TASK_ONLY.contains(&k) => self.errors.push(
                    crate::error::InputError::at(key, format!("`{k}` cannot be used on a block"))
                        .with_label("not a block keyword")
                        .with_help(
                            "put it on the tasks inside the block; a block takes `when`, `tags`, `vars`, `ignore_errors`, `delegate_to` and the like",
                        ),
                ),
                _ => {
                    if !self.keyword(key, value, &mut keywords, &mut args, handler) {
                        self.unknown_key(
                            key,
                            key.key(),
                            &[
                                "block", "rescue", "always", "name", "when", "tags", "vars",
                                "ignore_errors", "delegate_to", "delegate_facts", "check_mode", "diff", "no_log",
                                "run_once", "timeout", "throttle", "notify", "become", "become_user",
                                "become_method", "become_flags", "become_exe", "environment",
                            ],
                            "block keyword",
                        );
                    }
                }
            }
        }
        push_down(&mut body, &keywords);
        push_down(&mut rescue, &keywords);
        push_down(&mut always, &keywords);
        Some(Step::Block(Block {
            node: node.clone(),
            name: keywords.name.clone(),
            body,
            rescue,
            always,
        }))
    }
}
