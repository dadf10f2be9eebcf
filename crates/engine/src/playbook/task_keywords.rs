//! The task keywords: their table, how each one is read into a `TaskDef`
//! (`keyword()`), and the checks that tie keywords together (`loop_control`,
//! `async` with `poll`, `throttle`), plus the refusal of the removed `sudo`
//! keywords.
//!
//! Apart from the rest of task loading because this is where a new task
//! keyword is added: the table and its meaning sit side by side.

use crate::error::InputError;
use crate::playbook::loader::Loader;
use crate::playbook::model::TaskDef;
use crate::yaml::{self, Node, Value};

pub(crate) const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "with_fileglob",
    "with_nested",
    "with_together",
    "with_subelements",
    "with_sequence",
    "with_indexed_items",
    "with_first_found",
    "loop_control",
    "register",
    "tags",
    "notify",
    "listen",
    "ignore_errors",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "no_log",
    "check_mode",
    "diff",
    "args",
    "vars",
    "run_once",
    "delegate_to",
    "delegate_facts",
    "timeout",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "environment",
    "action",
    "local_action",
    "throttle",
    "async",
    "poll",
];

/// The modules `poll: 0` can start in the background: their work is one
/// remote script, which `crate::async_job` runs detached.
pub const BACKGROUND_MODULES: &[&str] = &["command", "shell", "script"];

/// The escalation keywords Ansible removed in 2.9; ansible-core 2.19
/// refuses them as unknown attributes, so a playbook that still uses them
/// fails there too. The message names their replacements.
pub(crate) const LEGACY_SUDO: &[(&str, &str)] = &[
    ("sudo", "write `become: true` instead of `sudo: true`"),
    (
        "sudo_user",
        "write `become_user: NAME` instead of `sudo_user: NAME`",
    ),
    (
        "sudo_pass",
        "give the password with `--ask-become-pass` or `ansible_become_password`",
    ),
    (
        "sudo_flags",
        "write `become_flags: ...` instead of `sudo_flags: ...`",
    ),
];

/// The refusal of a legacy `sudo*` keyword, when `name` is one.
pub(crate) fn legacy_sudo(key: &Node, name: &str) -> Option<InputError> {
    let (_, help) = LEGACY_SUDO.iter().find(|(k, _)| *k == name)?;
    Some(
        InputError::at(
            key,
            format!("`{name}` was removed from Ansible in 2.9; use the `become` keywords"),
        )
        .with_label("removed keyword")
        .with_help(*help),
    )
}

impl Loader<'_> {
    /// Handles one task keyword; false when `key` is not a task keyword.
    pub(crate) fn keyword(
        &mut self,
        key: &Node,
        value: &Node,
        def: &mut TaskDef,
        extra_args: &mut Vec<(Node, Node)>,
        handler: bool,
    ) -> bool {
        match key.key() {
            "name" => def.name = Some(value.clone()),
            "when" => def.when = self.conditions(value),
            loop_key if crate::loop_kind::LoopKind::from_keyword(loop_key).is_some() => {
                if def.loop_items.is_some() {
                    self.errors.push(
                        InputError::at(key, "this task has two loops")
                            .with_help("keep one of `loop` and the `with_*` keywords"),
                    );
                }
                def.loop_items = Some(value.clone());
                def.loop_kind =
                    crate::loop_kind::LoopKind::from_keyword(loop_key).unwrap_or_default();
            }
            "loop_control" => self.loop_control(value, def),
            "register" => def.register = self.identifier(value, "register"),
            "tags" => def.tags = self.string_list(value, "tags"),
            "notify" => def.notify = self.string_list(value, "notify"),
            "listen" if handler => def.listen = self.string_list(value, "listen"),
            "ignore_errors" => def.ignore_errors = Some(value.clone()),
            "changed_when" => def.changed_when = self.conditions(value),
            "failed_when" => def.failed_when = self.conditions(value),
            "until" => def.until = Some(value.clone()),
            "retries" => def.retries = Some(value.clone()),
            "delay" => def.delay = Some(value.clone()),
            // A templated `no_log` (`"{{ hide_secrets }}"`) is taken as
            // true: its value is known only per host, and hiding output
            // that could have been shown is the side that leaks nothing.
            "no_log" if value.as_str().is_some_and(yaml::is_template) => def.no_log = true,
            "no_log" => def.no_log = self.boolean(value, "no_log").unwrap_or(false),
            "throttle" => def.throttle = self.throttle(value),
            "check_mode" => def.check_mode = self.boolean(value, "check_mode"),
            "diff" => def.diff = self.boolean(value, "diff"),
            "run_once" => def.run_once = self.boolean(value, "run_once").unwrap_or(false),
            "delegate_to" => def.delegate_to = Some(value.clone()),
            "delegate_facts" => {
                def.delegate_facts = self.boolean(value, "delegate_facts").unwrap_or(false)
            }
            "args" => *extra_args = self.mapping(value, "args"),
            "vars" => def.vars = self.mapping(value, "vars"),
            "timeout" => def.timeout = self.seconds(value, "timeout"),
            "async" => def.async_limit = self.whole_or_template(value, "async"),
            "poll" => def.poll = self.whole_or_template(value, "poll"),
            "become" | "become_user" | "become_method" | "become_flags" | "become_exe" => {
                def.escalation.take(key, value, &mut self.errors);
            }
            "environment" => {
                self.errors.extend(crate::environment::check(value));
                def.environment.push(value.clone());
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn loop_control(&mut self, node: &Node, def: &mut TaskDef) {
        for (key, value) in self.mapping(node, "loop_control") {
            match key.key() {
                "loop_var" => {
                    if let Some(name) = self.identifier(&value, "loop_var") {
                        def.loop_var = name;
                    }
                }
                "label" => def.loop_label = Some(value.clone()),
                "index_var" => {
                    def.loop_control.index_var = self.identifier(&value, "index_var");
                }
                "pause" => def.loop_control.pause = Some(value.clone()),
                "extended" => def.loop_control.extended = Some(value.clone()),
                "extended_allitems" => {
                    def.loop_control.extended_allitems = Some(value.clone());
                }
                other => self.unknown_key(
                    &key,
                    other,
                    &[
                        "loop_var",
                        "label",
                        "pause",
                        "index_var",
                        "extended",
                        "extended_allitems",
                    ],
                    "loop_control key",
                ),
            }
        }
    }

    /// `poll: 0` starts the task in the background, which only the modules
    /// whose work is one remote script can do; others are refused here
    /// when both keywords are written as numbers (templated ones are
    /// checked when they are known, per host).
    pub(crate) fn check_background(&mut self, def: &TaskDef) {
        let (Some(limit), Some(poll)) = (&def.async_limit, &def.poll) else {
            return;
        };
        if literal_seconds(limit) == Some(0) || literal_seconds(poll) != Some(0) {
            return;
        }
        if BACKGROUND_MODULES.contains(&def.module.as_str()) {
            return;
        }
        self.errors.push(
            InputError::at(
                poll,
                format!(
                    "`poll: 0` cannot start `{}` in the background",
                    def.module_key.key()
                ),
            )
            .with_label("background job")
            .with_help(
                "dtrplay runs only command, shell and script in the background; give `poll` a number of seconds to wait for the task instead",
            ),
        );
    }

    /// `throttle`: at most this many hosts run the task at once.
    pub(crate) fn throttle(&mut self, node: &Node) -> Option<usize> {
        let n = match &node.value {
            Value::Int(n) => usize::try_from(*n).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if n.is_none() {
            self.errors.push(
                InputError::at(
                    node,
                    format!("`throttle` must be a whole number, not {}", node.kind()),
                )
                .with_label("how many hosts at once?")
                .with_help(
                    "write `throttle: 1` to run the task on one host at a time; 0 means no limit",
                ),
            );
        }
        n.filter(|n| *n > 0)
    }
}

/// The number of seconds an `async` or `poll` value is, when written as one.
pub fn literal_seconds(node: &Node) -> Option<u64> {
    match &node.value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Str(text) => text.trim().parse().ok(),
        _ => None,
    }
}
