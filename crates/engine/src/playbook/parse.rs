//! Lowering a playbook's YAML into `Playbook`, reporting every problem at once.
//!
//! The loader knows Ansible's play and task keywords. Any other key of a
//! task must name a task type in the registry (built-in or custom); its
//! arguments are checked against the type's `Spec` here, before any host is
//! contacted. Features we do not support are refused by name with a hint,
//! never silently ignored: a playbook that loads is a playbook we run as
//! Ansible would.
//!
//! This file holds the loader itself and what belongs to plays (their
//! keywords, `hosts`, `serial`, `strategy`, `order`, handlers); the loader's
//! other concepts have their own files beside it: `task` (one task and its
//! module arguments), `task_keywords`, `task_file` (calls of YAML task
//! files), `vars_files`, `values` (typed keyword values), `block`,
//! `include` and `role`.

use std::path::{Path, PathBuf};

use crate::error::InputError;
use crate::escalation::BecomeKeys;
use crate::playbook::loader::{Loader, flatten};
use crate::playbook::model::{
    BatchSize, HostOrder, Meta, MetaAction, Play, Playbook, Step, Strategy, TaskDef,
};
use crate::playbook::task_keywords::legacy_sudo;
use crate::playbook::values::strip_builtin;
use crate::source::SourceFile;
use crate::suggest;
use crate::tasks::Registry;
use crate::yaml::{self, Node, Value};

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "serial",
    "strategy",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "roles",
    "tags",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "max_fail_percentage",
    "remote_user",
    "port",
    "connection",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "environment",
    "vars_prompt",
    "order",
    "collections",
];

/// Loads and checks a playbook file. `roles_path` is where roles are
/// searched after `roles/` beside the playbook (`--roles-path`, then
/// `ANSIBLE_ROLES_PATH`).
pub fn load(
    path: &Path,
    registry: &Registry,
    roles_path: &[PathBuf],
) -> Result<Playbook, Vec<InputError>> {
    let src = SourceFile::read(path).map_err(|e| {
        let src = SourceFile::new(path.display().to_string(), "");
        vec![
            InputError::new(
                &src,
                (0, 0).into(),
                format!("could not read the playbook {}: {e}", path.display()),
            )
            .with_label("")
            .with_help("check the path; playbooks are YAML files such as playbooks/integrate.yml"),
        ]
    })?;
    parse(src, registry, roles_path)
}

/// Lowers a playbook's text.
pub fn parse(
    src: SourceFile,
    registry: &Registry,
    roles_path: &[PathBuf],
) -> Result<Playbook, Vec<InputError>> {
    let root = yaml::parse(&src).map_err(|e| vec![e])?;
    let dir = src
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut loader = Loader::new(registry, &dir, roles_path);
    loader.files.push(src.path().to_path_buf());
    let plays = match &root.value {
        Value::Seq(items) => loader.plays(items),
        Value::Null => {
            loader.errors.push(
                InputError::at(&root, "the playbook is empty")
                    .with_help("a playbook is a list of plays, each with `hosts:` and `tasks:`"),
            );
            Vec::new()
        }
        _ => {
            loader.errors.push(
                InputError::at(
                    &root,
                    format!("a playbook must be a list of plays, not {}", root.kind()),
                )
                .with_label("expected a list")
                .with_help("start each play with `- name: ...` and give it `hosts:` and `tasks:`"),
            );
            Vec::new()
        }
    };
    if loader.errors.is_empty() {
        Ok(Playbook {
            src,
            dir,
            plays,
            warnings: loader.warnings,
        })
    } else {
        Err(loader.errors)
    }
}

impl Loader<'_> {
    /// The plays of a playbook, with `import_playbook` entries replaced by
    /// the plays of the playbooks they name.
    pub(crate) fn plays(&mut self, items: &[Node]) -> Vec<Play> {
        let mut plays = Vec::new();
        for item in items {
            // Before Ansible 2.16 a bare `include` between plays imported
            // a playbook; content of that time still says so.
            let import = item.as_map().and_then(|m| {
                let is_play = m.iter().any(|(k, _)| k.key() == "hosts");
                m.iter().find(|(k, _)| {
                    let key = strip_builtin(k.key());
                    key == "import_playbook" || (key == "include" && !is_play)
                })
            });
            match import {
                Some((key, value)) => plays.extend(self.import_playbook(item, key, value)),
                None => plays.extend(self.play(item)),
            }
        }
        plays
    }

    fn play(&mut self, node: &Node) -> Option<Play> {
        self.played_roles.clear();
        self.play_roles.clear();
        self.role_handlers.clear();
        self.collections.clear();
        let Some(entries) = node.as_map() else {
            self.errors.push(
                InputError::at(
                    node,
                    format!("a play must be a mapping, not {}", node.kind()),
                )
                .with_label("expected `hosts:`, `tasks:`, ..."),
            );
            return None;
        };
        let mut play = Play {
            node: node.clone(),
            name: None,
            hosts: node.clone(),
            vars: Vec::new(),
            vars_files: Vec::new(),
            serial: Vec::new(),
            strategy: Strategy::Linear,
            tags: Vec::new(),
            check_mode: None,
            diff: None,
            tasks: Vec::new(),
            handlers: Vec::new(),
            roles: Vec::new(),
            any_errors_fatal: false,
            max_fail_percentage: None,
            gather_facts: None,
            gather_args: Vec::new(),
            escalation: BecomeKeys::default(),
            environment: None,
            connection: Default::default(),
            prompts: Vec::new(),
            answers: Vec::new(),
            order: HostOrder::Inventory,
        };
        // `collections` applies to every task of the play, wherever it is
        // written among the play's keys, so it is read first.
        if let Some((_, value)) = entries.iter().find(|(k, _)| k.key() == "collections") {
            self.collections = self.collection_names(value);
        }
        let mut hosts = None;
        let (mut pre, mut main, mut post) = (Vec::new(), Vec::new(), Vec::new());
        let mut roles = Vec::new();
        let mut handlers = Vec::new();
        for (key, value) in entries {
            match key.key() {
                "name" => play.name = Some(value.clone()),
                "hosts" => hosts = self.pattern(value),
                "vars" => play.vars = self.mapping(value, "vars"),
                "vars_files" => play.vars_files = self.vars_files(value),
                "serial" => play.serial = self.serial(value),
                "strategy" => play.strategy = self.strategy(value),
                "gather_facts" => play.gather_facts = self.boolean(value, "gather_facts"),
                "gather_subset" | "gather_timeout" | "fact_path" => {
                    play.gather_args.push((key.clone(), value.clone()));
                }
                "tasks" => main = self.task_list(value, false),
                "pre_tasks" => pre = self.task_list(value, false),
                "post_tasks" => post = self.task_list(value, false),
                "handlers" => handlers = self.task_list(value, true),
                "roles" => roles = self.play_roles_list(value),
                "tags" => play.tags = self.string_list(value, "tags"),
                "check_mode" => play.check_mode = self.boolean(value, "check_mode"),
                "diff" => play.diff = self.boolean(value, "diff"),
                "any_errors_fatal" => {
                    play.any_errors_fatal =
                        self.boolean(value, "any_errors_fatal").unwrap_or(false);
                }
                "max_fail_percentage" => play.max_fail_percentage = self.percentage(value),
                "become" | "become_user" | "become_method" | "become_flags" | "become_exe" => {
                    play.escalation.take(key, value, &mut self.errors);
                }
                "environment" => {
                    self.errors.extend(crate::environment::check(value));
                    play.environment = Some(value.clone());
                }
                "remote_user" | "port" | "connection" => {
                    play.connection.take(key, value, &mut self.errors);
                }
                "vars_prompt" => play.prompts = crate::vars_prompt::parse(value, &mut self.errors),
                "order" => play.order = self.order(value),
                "collections" => {}
                other => match legacy_sudo(key, other) {
                    Some(refusal) => self.errors.push(refusal),
                    None => self.unknown_key(key, other, PLAY_KEYS, "play keyword"),
                },
            }
        }
        match hosts {
            Some(h) => play.hosts = h,
            None => {
                self.errors.push(
                    InputError::at(node, "this play has no `hosts:`")
                        .with_label("which hosts should it run on?")
                        .with_help("add `hosts: all` or a group or host pattern"),
                );
                return None;
            }
        }
        // Ansible flushes handlers after `pre_tasks`, after the roles and
        // `tasks`, and after `post_tasks` (the last flush ends each batch).
        let flush = |node: &Node| {
            Step::Meta(Meta {
                action: MetaAction::FlushHandlers,
                task: Box::new(TaskDef::keywords(node)),
            })
        };
        let mut tasks = Vec::new();
        if !pre.is_empty() {
            tasks.extend(pre);
            tasks.push(flush(node));
        }
        let rest = !post.is_empty();
        tasks.extend(roles);
        tasks.extend(main);
        if rest {
            tasks.push(flush(node));
            tasks.extend(post);
        }
        play.tasks = tasks;
        play.handlers = flatten(handlers);
        play.handlers.append(&mut self.role_handlers);
        play.roles = std::mem::take(&mut self.play_roles);
        self.check_notify(&play);
        Some(play)
    }

    /// A play's `order`.
    fn order(&mut self, node: &Node) -> HostOrder {
        match node.as_str() {
            Some("inventory") => HostOrder::Inventory,
            Some("reverse_inventory") => HostOrder::ReverseInventory,
            Some("sorted") => HostOrder::Sorted,
            Some("reverse_sorted") => HostOrder::ReverseSorted,
            Some("shuffle") => HostOrder::Shuffle,
            _ => {
                self.errors.push(
                    InputError::at(node, "`order` must be one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle")
                        .with_label("not a host order"),
                );
                HostOrder::Inventory
            }
        }
    }

    /// Every `notify` must name a handler (or a `listen` topic).
    fn check_notify(&mut self, play: &Play) {
        let names: Vec<String> = play
            .handlers
            .iter()
            .flat_map(|h| std::iter::once(h.display_name()).chain(h.listen.iter().cloned()))
            .collect();
        for task in play.all_tasks().into_iter().chain(&play.handlers) {
            for notified in &task.notify {
                if !names.iter().any(|n| n == notified) {
                    let at = task.node.get("notify").unwrap_or(&task.node);
                    self.errors.push(
                        InputError::at(at, format!("no handler is named `{notified}`"))
                            .with_label("notifies nothing")
                            .with_maybe_help(suggest::did_you_mean(
                                notified,
                                names.iter().map(String::as_str),
                            )),
                    );
                }
            }
        }
    }

    fn pattern(&mut self, node: &Node) -> Option<Node> {
        match &node.value {
            Value::Str(_) => Some(node.clone()),
            Value::Seq(items) if items.iter().all(|i| i.as_str().is_some()) => {
                let joined = items
                    .iter()
                    .filter_map(Node::as_str)
                    .collect::<Vec<_>>()
                    .join(",");
                Some(Node::new(Value::Str(joined), node.span, &node.src))
            }
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!("`hosts` must be a host pattern, not {}", node.kind()),
                    )
                    .with_help("for example `hosts: all`, `hosts: ucp`, or `hosts: web:&prod`"),
                );
                None
            }
        }
    }

    fn serial(&mut self, node: &Node) -> Vec<BatchSize> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut sizes = Vec::new();
        for item in items {
            let size = match &item.value {
                Value::Int(n) if *n > 0 => usize::try_from(*n).ok().map(BatchSize::Count),
                Value::Str(s) => match s.trim().strip_suffix('%') {
                    Some(p) => p
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|p| *p > 0.0 && *p <= 100.0)
                        .map(BatchSize::Percent),
                    None => s
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .map(BatchSize::Count),
                },
                _ => None,
            };
            match size {
                Some(size) => sizes.push(size),
                None => self.errors.push(
                    InputError::at(
                        item,
                        "`serial` must be a positive number of hosts or a percentage",
                    )
                    .with_label("expected e.g. 2 or '30%'"),
                ),
            }
        }
        sizes
    }

    fn strategy(&mut self, node: &Node) -> Strategy {
        match node.as_str() {
            Some("linear") => Strategy::Linear,
            Some("free") => Strategy::Free,
            _ => {
                self.errors.push(
                    InputError::at(node, "unknown strategy")
                        .with_label("expected `linear` or `free`"),
                );
                Strategy::Linear
            }
        }
    }

    fn percentage(&mut self, node: &Node) -> Option<f64> {
        let value = match &node.value {
            Value::Int(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().trim_end_matches('%').parse().ok(),
            _ => None,
        };
        if value.is_none() {
            self.errors
                .push(InputError::at(node, "expected a percentage such as 30"));
        }
        value
    }
}
