//! Lowering a playbook's YAML into `Playbook`, reporting every problem at once.
//!
//! The loader knows Ansible's play and task keywords. Any other key of a
//! task must name a task type in the registry (built-in or custom); its
//! arguments are checked against the type's `Spec` here, before any host is
//! contacted. Features we do not support are refused by name with a hint,
//! never silently ignored: a playbook that loads is a playbook we run as
//! Ansible would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::InputError;
use crate::escalation::BecomeKeys;
use crate::params::to_bool;
use crate::playbook::free_form::{key_value, split_words};
use crate::playbook::role::RoleScope;
use crate::playbook::{
    BatchSize, HostOrder, Meta, MetaAction, Play, Playbook, Step, Strategy, TaskDef, VarsFile,
};
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

const TASK_KEYS: &[&str] = &[
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
const LEGACY_SUDO: &[(&str, &str)] = &[
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
fn legacy_sudo(key: &Node, name: &str) -> Option<InputError> {
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

pub(crate) struct Loader<'a> {
    pub(crate) registry: &'a Registry,
    /// The playbook's directory.
    pub(crate) dir: PathBuf,
    pub(crate) roles_path: &'a [PathBuf],
    pub(crate) errors: Vec<InputError>,
    /// Problems that do not stop a run from starting (a vars file that may
    /// still be written before the play starts).
    pub(crate) warnings: Vec<InputError>,
    /// The task files being expanded, innermost last, to refuse recursion.
    pub(crate) expanding: Vec<String>,
    /// The files being read (playbooks, task files), innermost last: the
    /// base of relative names, and the guard against recursive imports.
    pub(crate) files: Vec<PathBuf>,
    /// The role whose files are being read, innermost last.
    pub(crate) roles: Vec<Arc<RoleScope>>,
    /// The current play's roles, as (path, parameters), to run each once.
    pub(crate) played_roles: Vec<(PathBuf, String)>,
    /// Every role loaded for the current play, for its variables.
    pub(crate) play_roles: Vec<Arc<RoleScope>>,
    /// Handlers that roles of the current play bring.
    pub(crate) role_handlers: Vec<TaskDef>,
    /// Whether dynamic includes are being loaded: their roles are not
    /// added to the play.
    pub(crate) dynamic: usize,
    /// While a role's dependencies load: the directory that role is in,
    /// searched for them after the roles path.
    pub(crate) role_basedir: Option<PathBuf>,
    /// The current play's `collections:`, searched in order for a module
    /// written by its short name.
    pub(crate) collections: Vec<String>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(registry: &'a Registry, dir: &Path, roles_path: &'a [PathBuf]) -> Loader<'a> {
        Loader {
            registry,
            dir: dir.to_path_buf(),
            roles_path,
            errors: Vec::new(),
            warnings: Vec::new(),
            expanding: Vec::new(),
            files: Vec::new(),
            roles: Vec::new(),
            played_roles: Vec::new(),
            play_roles: Vec::new(),
            role_handlers: Vec::new(),
            dynamic: 0,
            role_basedir: None,
            collections: Vec::new(),
        }
    }

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

    pub(crate) fn task_list(&mut self, node: &Node, handlers: bool) -> Vec<Step> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items.iter().flat_map(|t| self.task(t, handlers)).collect(),
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!("expected a list of tasks, not {}", node.kind()),
                    )
                    .with_label("expected a list")
                    .with_help("write each task as a list item: `- name: ...`"),
                );
                Vec::new()
            }
        }
    }

    /// Lowers one task; a call of a YAML task file becomes its body's
    /// tasks, a block its block, an import the tasks it imports.
    fn task(&mut self, node: &Node, handler: bool) -> Vec<Step> {
        if let Some(entries) = node.as_map() {
            if entries.iter().any(|(k, _)| k.key() == "block") {
                return self.block(node, handler).into_iter().collect();
            }
            if let Some((key, value)) = entries
                .iter()
                .find(|(k, _)| crate::playbook::include::is_include_key(strip_builtin(k.key())))
            {
                return self.include(node, key, value, handler);
            }
        }
        let Some(def) = self.single_task(node, handler) else {
            return Vec::new();
        };
        match self.registry.get(&def.module).and_then(|e| e.body.clone()) {
            Some(body) => self.expand(def, &body, handler),
            None => vec![Step::Task(Box::new(def))],
        }
    }

    /// Expands a task file call: each body task gets the call's arguments
    /// (and the parameters' defaults) as variables, and inherits the call's
    /// conditions, tags, notifications and modes.
    fn expand(&mut self, call: TaskDef, body: &Node, handler: bool) -> Vec<Step> {
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
            loop_key if crate::loops::LoopKind::from_keyword(loop_key).is_some() => {
                if def.loop_items.is_some() {
                    self.errors.push(
                        InputError::at(key, "this task has two loops")
                            .with_help("keep one of `loop` and the `with_*` keywords"),
                    );
                }
                def.loop_items = Some(value.clone());
                def.loop_kind = crate::loops::LoopKind::from_keyword(loop_key).unwrap_or_default();
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

    fn single_task(&mut self, node: &Node, handler: bool) -> Option<TaskDef> {
        let Some(entries) = node.as_map() else {
            self.errors.push(
                InputError::at(
                    node,
                    format!("a task must be a mapping, not {}", node.kind()),
                )
                .with_label("expected `name:` and a module")
                .with_help("for example: `- name: Say hi` then `  debug: {msg: hi}`"),
            );
            return None;
        };
        let mut def = TaskDef::keywords(node);
        let mut module: Option<(Node, Node, String)> = None;
        let mut extra_args: Vec<(Node, Node)> = Vec::new();
        let errors_before = self.errors.len();
        let entries = self.action_entries(entries, &mut def);
        for (key, value) in &entries {
            if self.keyword(key, value, &mut def, &mut extra_args, handler) {
                continue;
            }
            let other = key.key();
            if let Some(refusal) = legacy_sudo(key, other) {
                self.errors.push(refusal);
            } else if let Some(resolved) = self.resolve_module(other) {
                if let Some((first, _, _)) = &module {
                    self.errors.push(
                        InputError::at(
                            key,
                            format!(
                                "this task names two modules, `{}` and `{other}`",
                                first.key()
                            ),
                        )
                        .with_label("second module")
                        .with_help("a task runs exactly one module; split it into two tasks"),
                    );
                } else {
                    module = Some((key.clone(), value.clone(), resolved));
                }
            } else if let Some(why) = self.registry.not_a_module(other) {
                self.errors.push(
                    InputError::at(key, why.message)
                        .with_label("not a module dtrplay can run")
                        .with_help(why.help),
                );
            } else {
                let candidates = TASK_KEYS.iter().copied().chain(self.registry.names());
                let help = suggest::did_you_mean(other, candidates).unwrap_or_else(|| {
                            "a task has keywords (name, when, loop, register, ...) and exactly one module; \
                             custom tasks live in `tasks/<name>.yml` or `library/<name>` beside the playbook"
                                .to_string()
                        });
                self.errors.push(
                    InputError::at(key, format!("unknown task keyword or module `{other}`"))
                        .with_label("not a keyword or a known module")
                        .with_help(help),
                );
            }
        }
        let Some((key, value, resolved)) = module else {
            if self.errors.len() == errors_before {
                self.errors.push(
                    InputError::at(node, "this task has no module")
                        .with_label("what should it do?")
                        .with_help("add a module such as `command:`, `copy:` or `debug:`"),
                );
            }
            return None;
        };
        let entry = self.registry.get(&resolved)?;
        def.module = entry.spec.name.clone();
        def.module_key = key.clone();
        let mut args = self.module_args(&key, &value, &entry.spec);
        // Inline arguments win over `args:`, as in Ansible.
        for (k, v) in extra_args {
            if !args.iter().any(|(a, _)| a.key() == k.key()) {
                args.push((k, v));
            }
        }
        self.errors.extend(entry.spec.validate(&key, &args));
        def.args = args;
        self.check_background(&def);
        if let (Some(_), None) = (&def.until, &def.retries) {
            // Ansible's default when `until` is given without `retries`.
            def.retries = Some(Node::new(Value::Int(3), key.span, &key.src));
        }
        Some(def)
    }

    /// The module a task key names: as written, or, for a short name, the
    /// first of the play's `collections` that has it (Ansible searches the
    /// play's collections before `ansible.builtin`). `None` when nothing
    /// has it.
    fn resolve_module(&self, name: &str) -> Option<String> {
        if !name.contains('.') {
            for collection in &self.collections {
                let qualified = format!("{collection}.{name}");
                if self.registry.get(&qualified).is_some() {
                    return Some(qualified);
                }
            }
        }
        self.registry.get(name).map(|_| name.to_string())
    }

    /// The names of a `collections:` list: `namespace.collection` each.
    fn collection_names(&mut self, value: &Node) -> Vec<String> {
        let mut names = Vec::new();
        for name in self.string_list(value, "collections") {
            let valid = name.split('.').count() == 2
                && name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if valid {
                names.push(name);
            } else {
                self.errors.push(
                    InputError::at(value, format!("`{name}` is not a collection name"))
                        .with_label("expected `namespace.collection`")
                        .with_help(
                            "name collections as Galaxy does, for example `community.docker`",
                        ),
                );
            }
        }
        names
    }

    /// A task's entries with `action:` and `local_action:` written the
    /// modern way: the module's name as the key, its arguments as the
    /// value (`action: copy src=a dest=b` is `copy: src=a dest=b`).
    /// `local_action` also delegates the task to `localhost`, as Ansible
    /// does. The key keeps the span of the module's name.
    fn action_entries(&mut self, entries: &[(Node, Node)], def: &mut TaskDef) -> Vec<(Node, Node)> {
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let keyword = key.key();
            if keyword != "action" && keyword != "local_action" {
                out.push((key.clone(), value.clone()));
                continue;
            }
            let synth = |v: Value| Node::new(v, value.span, &value.src);
            let (name, args) = match &value.value {
                Value::Str(text) => {
                    let text = text.trim_start();
                    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
                    let args = match rest.trim() {
                        "" => Value::Null,
                        rest => Value::Str(rest.to_string()),
                    };
                    (name.to_string(), synth(args))
                }
                Value::Map(pairs) => {
                    let name = pairs
                        .iter()
                        .find(|(k, _)| k.key() == "module")
                        .and_then(|(_, v)| v.as_str())
                        .unwrap_or_default()
                        .to_string();
                    let rest: Vec<(Node, Node)> = pairs
                        .iter()
                        .filter(|(k, _)| k.key() != "module")
                        .cloned()
                        .collect();
                    (name, synth(Value::Map(rest)))
                }
                _ => (String::new(), synth(Value::Null)),
            };
            if name.is_empty() {
                self.errors.push(
                    InputError::at(value, format!("`{keyword}` needs a module name"))
                        .with_label("which module?")
                        .with_help(format!(
                            "write `{keyword}: <module> <arguments>` or `{keyword}: {{module: <module>, ...}}`"
                        )),
                );
                continue;
            }
            if keyword == "local_action" {
                if entries.iter().any(|(k, _)| k.key() == "delegate_to") {
                    self.errors.push(
                        InputError::at(key, "`local_action` cannot be combined with `delegate_to`")
                            .with_label("already delegated")
                            .with_help("keep `delegate_to`, with the module as the task's key"),
                    );
                }
                def.delegate_to = Some(synth(Value::Str("localhost".into())));
            }
            let span = match &value.value {
                Value::Map(pairs) => pairs
                    .iter()
                    .find(|(k, _)| k.key() == "module")
                    .map_or(value.span, |(_, v)| v.span),
                _ => value.span,
            };
            out.push((Node::new(Value::Str(name), span, &value.src), args));
        }
        out
    }

    /// The module's value as argument pairs: a mapping as is, a free-form
    /// string split the way Ansible splits it.
    fn module_args(
        &mut self,
        key: &Node,
        value: &Node,
        spec: &crate::params::Spec,
    ) -> Vec<(Node, Node)> {
        match &value.value {
            Value::Null => Vec::new(),
            Value::Map(entries) => entries.clone(),
            Value::Str(text) => {
                let synth = |s: &str| Node::new(Value::Str(s.to_string()), value.span, &value.src);
                let words = split_words(text);
                match &spec.free_form {
                    Some(free) => {
                        // `command: cmd creates=/x chdir=/tmp`: known
                        // `k=v` words become arguments, the rest is the command.
                        let mut args = Vec::new();
                        let mut rest = Vec::new();
                        for word in words {
                            match key_value(&word) {
                                Some((k, v)) if k != *free && spec.param(&k).is_some() => {
                                    args.push((synth(&k), synth(&v)));
                                }
                                _ => rest.push(word),
                            }
                        }
                        let command = if args.is_empty() {
                            text.trim().to_string()
                        } else {
                            rest.join(" ")
                        };
                        let mut cmd_node = synth(&command);
                        if args.is_empty() {
                            cmd_node = value.clone();
                        }
                        args.insert(0, (synth(free), cmd_node));
                        args
                    }
                    None => {
                        let mut args = Vec::new();
                        for word in words {
                            match key_value(&word) {
                                Some((k, v)) => args.push((synth(&k), synth(&v))),
                                None => {
                                    self.errors.push(
                                        InputError::at(
                                            value,
                                            format!(
                                                "`{}` takes `key=value` arguments or a mapping",
                                                key.key()
                                            ),
                                        )
                                        .with_label(format!("`{word}` is not key=value"))
                                        .with_help(
                                            format!(
                                                "write the arguments as a mapping under `{}:`",
                                                key.key()
                                            ),
                                        ),
                                    );
                                    return Vec::new();
                                }
                            }
                        }
                        args
                    }
                }
            }
            Value::Seq(_) if spec.free_form.is_some() && spec.param("argv").is_some() => {
                vec![(
                    Node::new(Value::Str("argv".into()), key.span, &key.src),
                    value.clone(),
                )]
            }
            _ => {
                self.errors.push(
                    InputError::at(
                        value,
                        format!(
                            "the arguments of `{}` must be a mapping, not {}",
                            key.key(),
                            value.kind()
                        ),
                    )
                    .with_label("expected a mapping"),
                );
                Vec::new()
            }
        }
    }

    fn loop_control(&mut self, node: &Node, def: &mut TaskDef) {
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

    pub(crate) fn unknown_key(&mut self, key: &Node, name: &str, known: &[&str], what: &str) {
        let help = suggest::did_you_mean(name, known.iter().copied())
            .unwrap_or_else(|| format!("known keys: {}", known.join(", ")));
        self.errors.push(
            InputError::at(key, format!("unknown {what} `{name}`"))
                .with_label(format!("not a {what}"))
                .with_help(help),
        );
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

    pub(crate) fn mapping(&mut self, node: &Node, what: &str) -> Vec<(Node, Node)> {
        match &node.value {
            Value::Map(entries) => entries.clone(),
            Value::Null => Vec::new(),
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!("`{what}` must be a mapping, not {}", node.kind()),
                    )
                    .with_label("expected `name: value` pairs"),
                );
                Vec::new()
            }
        }
    }

    fn vars_files(&mut self, node: &Node) -> Vec<VarsFile> {
        let names: Vec<Node> = match &node.value {
            Value::Str(_) => vec![node.clone()],
            Value::Seq(items) => items.clone(),
            _ => {
                self.errors.push(InputError::at(
                    node,
                    "`vars_files` must be a list of file names",
                ));
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for name in names {
            if let Value::Seq(alternatives) = &name.value {
                files.extend(self.first_found_vars_file(&name, alternatives));
                continue;
            }
            let Some(text) = name.as_str() else {
                self.errors.push(InputError::at(
                    &name,
                    format!("expected a file name, not {}", name.kind()),
                ));
                continue;
            };
            let loaded = if yaml::is_template(text) {
                None
            } else {
                self.load_vars_file(&name, text)
            };
            files.push(VarsFile {
                name: name.clone(),
                loaded,
            });
        }
        files
    }

    /// A `vars_files` entry that is itself a list: the first of these files
    /// that exists, as in Ansible. Names without templates are settled now;
    /// with one, the choice is made per host when the play starts.
    fn first_found_vars_file(&mut self, entry: &Node, alternatives: &[Node]) -> Option<VarsFile> {
        let mut texts = Vec::new();
        for alternative in alternatives {
            match alternative.as_str() {
                Some(text) => texts.push(text),
                None => {
                    self.errors.push(InputError::at(
                        alternative,
                        format!("expected a file name, not {}", alternative.kind()),
                    ));
                    return None;
                }
            }
        }
        if texts.iter().any(|t| yaml::is_template(t)) {
            return Some(VarsFile {
                name: entry.clone(),
                loaded: None,
            });
        }
        match alternatives
            .iter()
            .zip(&texts)
            .find(|(_, t)| self.dir.join(t).is_file())
        {
            Some((alternative, text)) => Some(VarsFile {
                name: alternative.clone(),
                loaded: self.load_vars_file(alternative, text),
            }),
            None => {
                self.errors.push(
                    InputError::at(entry, "none of these vars files exists")
                        .with_label("the first one found is read")
                        .with_help(format!(
                            "looked for {} in {}",
                            texts.join(", "),
                            self.dir.display()
                        )),
                );
                None
            }
        }
    }

    fn load_vars_file(&mut self, at: &Node, name: &str) -> Option<Node> {
        let path = self.dir.join(name);
        match SourceFile::read(&path) {
            Ok(src) => match yaml::parse(&src) {
                Ok(node) if node.as_map().is_some() || node.is_null() => Some(node),
                Ok(node) => {
                    self.errors.push(
                        InputError::at(
                            &node,
                            format!("a vars file must hold a mapping, not {}", node.kind()),
                        )
                        .with_label("expected `name: value` pairs"),
                    );
                    None
                }
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.missing_vars_file(at, &path);
                None
            }
            Err(e) => {
                self.errors.push(
                    InputError::at(
                        at,
                        format!("could not read the vars file {}: {e}", path.display()),
                    )
                    .with_label("this file")
                    .with_help("paths in `vars_files` are relative to the playbook's directory"),
                );
                None
            }
        }
    }

    /// A `vars_files` entry naming a file that does not exist. Ansible reads
    /// vars files only when the play starts, and content often names one the
    /// user writes first (credentials, a vault), so this is a warning; a
    /// sibling with a near name is more likely a typo, and that is an error.
    fn missing_vars_file(&mut self, at: &Node, path: &Path) {
        let wanted = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A playbook named without a directory has "" as its directory.
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let siblings: Vec<String> = std::fs::read_dir(dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        match crate::suggest::closest(&wanted, siblings.iter().map(String::as_str)) {
            Some(near) => self.errors.push(
                InputError::at(
                    at,
                    format!("the vars file {} does not exist", path.display()),
                )
                .with_label("this file")
                .with_help(format!("did you mean `{near}`?")),
            ),
            None => self.warnings.push(
                InputError::at(
                    at,
                    format!("the vars file {} does not exist", path.display()),
                )
                .with_label("the play fails when it starts if it is still missing")
                .with_help(
                    "write the file before running the playbook; paths in `vars_files` \
                         are relative to the playbook's directory",
                ),
            ),
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

    fn seconds(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.value {
            Value::Int(n) if *n > 0 => u64::try_from(*n).ok(),
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!("`{what}` must be a positive number of seconds"),
                    )
                    .with_label("expected seconds"),
                );
                None
            }
        }
    }

    /// `async` and `poll`: a whole number of seconds, 0 included, or a
    /// template that gives one per host.
    fn whole_or_template(&mut self, node: &Node, what: &str) -> Option<Node> {
        match &node.value {
            Value::Int(n) if *n >= 0 => Some(node.clone()),
            Value::Str(text) if yaml::is_template(text) => Some(node.clone()),
            Value::Str(text) if text.trim().parse::<u64>().is_ok() => Some(node.clone()),
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!(
                            "`{what}` must be a whole number of seconds, not {}",
                            node.kind()
                        ),
                    )
                    .with_label("expected seconds"),
                );
                None
            }
        }
    }

    /// `poll: 0` starts the task in the background, which only the modules
    /// whose work is one remote script can do; others are refused here
    /// when both keywords are written as numbers (templated ones are
    /// checked when they are known, per host).
    fn check_background(&mut self, def: &TaskDef) {
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

    pub(crate) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        let value = to_bool(&node.to_json());
        if value.is_none() {
            self.errors.push(
                InputError::at(
                    node,
                    format!("`{what}` must be true or false, not {}", node.kind()),
                )
                .with_label("expected true or false"),
            );
        }
        value
    }

    /// `throttle`: at most this many hosts run the task at once.
    fn throttle(&mut self, node: &Node) -> Option<usize> {
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

    pub(crate) fn identifier(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = node.as_str().unwrap_or("");
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            Some(name.to_string())
        } else {
            self.errors.push(
                InputError::at(node, format!("`{what}` must be a variable name"))
                    .with_label("letters, digits and `_`, not starting with a digit"),
            );
            None
        }
    }

    /// `when:`-style conditions: one expression, a list of them (all must
    /// hold), or a boolean.
    pub(crate) fn conditions(&mut self, node: &Node) -> Vec<Node> {
        match &node.value {
            Value::Seq(items) => items.clone(),
            Value::Null => Vec::new(),
            Value::Map(_) => {
                self.errors.push(
                    InputError::at(node, "a condition must be an expression or a list of them")
                        .with_help("write `when: x == 1` (no braces), or a list of such lines"),
                );
                Vec::new()
            }
            _ => vec![node.clone()],
        }
    }

    pub(crate) fn string_list(&mut self, node: &Node, what: &str) -> Vec<String> {
        match &node.value {
            Value::Str(s) => s
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            Value::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.errors.push(InputError::at(
                    node,
                    format!(
                        "`{what}` must be a name or a list of names, not {}",
                        node.kind()
                    ),
                ));
                Vec::new()
            }
        }
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

/// A module or keyword name without Ansible's collection prefixes.
pub(crate) fn strip_builtin(key: &str) -> &str {
    ["ansible.builtin.", "ansible.legacy."]
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key)
}

/// Handlers are a flat list: blocks and imports among them give their tasks.
pub(crate) fn flatten(steps: Vec<Step>) -> Vec<TaskDef> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Task(t) => out.push(*t),
            Step::Block(b) => {
                out.extend(flatten(b.body));
                out.extend(flatten(b.rescue));
                out.extend(flatten(b.always));
            }
            Step::Include(inc) => out.extend(flatten(inc.loaded.unwrap_or_default())),
            Step::Meta(_) => {}
        }
    }
    out
}
