//! Lowering one task: its module (written as a key, through `action` or
//! `local_action`, by a short or collection name), its arguments checked
//! against the module's `Spec`, and its keywords; a list of tasks, blocks
//! and includes becomes a list of `Step`s.
//!
//! Apart from the play loader because a task is lowered the same way in a
//! play, a role, a block and an included file.

use crate::error::InputError;
use crate::playbook::free_form::{key_value, split_words};
use crate::playbook::loader::Loader;
use crate::playbook::model::{Step, TaskDef};
use crate::playbook::task_keywords::{TASK_KEYS, legacy_sudo};
use crate::playbook::values::strip_builtin;
use crate::suggest;
use crate::yaml::{Node, Value};

impl Loader<'_> {
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
    pub(crate) fn task(&mut self, node: &Node, handler: bool) -> Vec<Step> {
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

    pub(crate) fn single_task(&mut self, node: &Node, handler: bool) -> Option<TaskDef> {
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
    pub(crate) fn resolve_module(&self, name: &str) -> Option<String> {
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
    pub(crate) fn collection_names(&mut self, value: &Node) -> Vec<String> {
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
    pub(crate) fn action_entries(
        &mut self,
        entries: &[(Node, Node)],
        def: &mut TaskDef,
    ) -> Vec<(Node, Node)> {
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
    pub(crate) fn module_args(
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
}
