//! Imports and includes: `import_tasks`, `include_tasks`, `import_role`,
//! `include_role`, `import_playbook` and `meta`.
//!
//! Imports are static: the loader reads the file (or role) and splices its
//! tasks in place, with the import's keywords pushed into each, so every
//! span still points into the file it came from. Includes are dynamic: they
//! stay an `Include` step that the executor evaluates per host (`when`,
//! `loop`, a templated file name), then runs the file's tasks on the hosts
//! that included it. When the name holds no template the file is read at
//! load time anyway, so that `validate` checks it and reports a missing
//! file before any host is contacted.

use std::path::{Path, PathBuf};

use crate::error::InputError;
use crate::playbook::block::push_down;
use crate::playbook::free_form::{key_value, split_words};
use crate::playbook::loader::Loader;
use crate::playbook::model::{
    Include, IncludeKind, Meta, MetaAction, Play, RoleFrom, Step, TaskDef,
};
use crate::playbook::values::strip_builtin;
use crate::tasks::Registry;
use crate::yaml::{self, Node, Value};

/// Keys that make a task an import, an include or a `meta`.
pub fn is_include_key(key: &str) -> bool {
    matches!(
        key,
        "import_tasks"
            | "include_tasks"
            | "import_role"
            | "include_role"
            | "include"
            | "import_playbook"
            | "meta"
    )
}

/// Loads, at run time, the file an include names after rendering.
pub fn load_dynamic(
    include: &Include,
    name: &str,
    registry: &Registry,
    playbook_dir: &Path,
    roles_path: &[PathBuf],
) -> Result<Vec<Step>, Vec<InputError>> {
    let mut loader = Loader::new(registry, playbook_dir, roles_path);
    loader.dynamic = 1;
    loader.collections = include.collections.clone();
    if let Some(role) = &include.task.role {
        loader.roles.push(role.clone());
    }
    let at = match &include.kind {
        IncludeKind::Tasks { file } => file,
        IncludeKind::Role { name, .. } => name,
    };
    let steps = match &include.kind {
        IncludeKind::Tasks { .. } => match find_in(&include.search, name) {
            Some(path) => loader.task_file(at, &path, false),
            None => {
                loader.errors.push(not_found(at, name, &include.search));
                None
            }
        },
        IncludeKind::Role { from, .. } => loader.role(
            at,
            name,
            from,
            serde_json::Map::new(),
            &TaskDef::keywords(at),
            false,
        ),
    };
    match steps {
        Some(mut steps) if loader.errors.is_empty() => {
            push_down(&mut steps, &include.inherited);
            Ok(steps)
        }
        _ => Err(loader.errors),
    }
}

fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    dirs.iter().map(|d| d.join(path)).find(|p| p.is_file())
}

fn not_found(at: &Node, name: &str, dirs: &[PathBuf]) -> InputError {
    InputError::at(at, format!("the task file `{name}` was not found"))
        .with_label("no such file")
        .with_help(format!(
            "it is looked up in {}",
            dirs.iter()
                .map(|d| match d.as_os_str().is_empty() {
                    true => "the current directory".to_string(),
                    false => d.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ))
}

impl Loader<'_> {
    /// Directories where a relative task file name is found: the role's
    /// `tasks/` (inside a role), the including file's directory, the
    /// playbook's directory.
    fn task_search(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(role) = self.roles.last() {
            dirs.push(role.path.join("tasks"));
            dirs.push(role.path.clone());
        }
        if let Some(dir) = self.files.last().and_then(|f| f.parent()) {
            dirs.push(dir.to_path_buf());
        }
        dirs.push(self.dir.clone());
        dirs.dedup();
        dirs
    }

    /// Reads a task file (a list of tasks).
    pub(crate) fn task_file(&mut self, at: &Node, path: &Path, handler: bool) -> Option<Vec<Step>> {
        if self.files.iter().any(|f| f == path) {
            self.errors.push(
                InputError::at(at, format!("{} imports itself", path.display()))
                    .with_label("imported again while being read")
                    .with_help(
                        "use `include_tasks` with a condition for recursion, or remove the cycle",
                    ),
            );
            return None;
        }
        let node = self.read_yaml(path, at)?;
        self.files.push(path.to_path_buf());
        let steps = match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(_) => self.task_list(&node, handler),
            _ => {
                self.errors.push(
                    InputError::at(
                        &node,
                        format!("a task file must be a list of tasks, not {}", node.kind()),
                    )
                    .with_label("expected a list")
                    .with_help("write each task as a list item: `- name: ...`"),
                );
                Vec::new()
            }
        };
        self.files.pop();
        Some(steps)
    }

    /// Lowers a task whose action is an import, an include or `meta`.
    pub(crate) fn include(
        &mut self,
        node: &Node,
        key: &Node,
        value: &Node,
        handler: bool,
    ) -> Vec<Step> {
        let action = strip_builtin(key.key());
        let mut keywords = TaskDef::keywords(node);
        keywords.module = action.to_string();
        keywords.module_key = key.clone();
        let mut args = Vec::new();
        let mut static_flag = None;
        for (k, v) in node.as_map().unwrap_or(&[]) {
            if k.span == key.span {
                continue;
            }
            if action == "include" && k.key() == "static" {
                static_flag = self.boolean(v, "static");
                continue;
            }
            if matches!(k.key(), "async" | "poll") {
                // Ansible refuses them on includes too: an include is not a
                // module run that could be waited for.
                self.errors.push(
                    InputError::at(k, format!("`{}` cannot be used on `{action}`", k.key()))
                        .with_label("not an include keyword")
                        .with_help("put it on the tasks the include brings"),
                );
                continue;
            }
            if !self.keyword(k, v, &mut keywords, &mut args, handler) {
                self.unknown_key(
                    k,
                    k.key(),
                    &[
                        "name",
                        "when",
                        "tags",
                        "vars",
                        "loop",
                        "loop_control",
                        "apply",
                    ],
                    &format!("`{action}` keyword"),
                );
            }
        }
        let options = if matches!(action, "include" | "import_playbook") {
            IncludeOptions::default()
        } else {
            self.include_options(key, value, &args, action)
        };
        match action {
            "include" => self.legacy_include(value, keywords, static_flag, handler),
            "import_playbook" => {
                self.errors.push(
                    InputError::at(key, "`import_playbook` is a play, not a task")
                        .with_label("inside a task list")
                        .with_help("move it to the top level of the playbook, between plays"),
                );
                Vec::new()
            }
            "meta" => self.meta(key, value, keywords),
            "import_tasks" => {
                if let Some(items) = &keywords.loop_items {
                    self.errors.push(
                        InputError::at(items, "`import_tasks` cannot loop")
                            .with_label("loop on a static import")
                            .with_help("use `include_tasks`, which is dynamic and can loop"),
                    );
                    return Vec::new();
                }
                let Some(file) = options.file.clone() else {
                    return Vec::new();
                };
                self.import_tasks(&file, &keywords, handler)
            }
            "import_role" => {
                if let Some(items) = &keywords.loop_items {
                    self.errors.push(
                        InputError::at(items, "`import_role` cannot loop")
                            .with_label("loop on a static import")
                            .with_help("use `include_role`, which is dynamic and can loop"),
                    );
                    return Vec::new();
                }
                let Some(name_node) = options.name.clone() else {
                    return Vec::new();
                };
                let Some(name) = self.static_name(&name_node, "role") else {
                    return Vec::new();
                };
                let params = keywords
                    .vars
                    .drain(..)
                    .map(|(k, v)| (k.key().to_string(), v.to_json()))
                    .collect();
                self.role(&name_node, &name, &options.from, params, &keywords, false)
                    .unwrap_or_default()
            }
            _ => self.dynamic_include(keywords, options, action),
        }
    }

    /// `import_tasks`: the file's tasks, read now, with the import's
    /// keywords pushed into each.
    fn import_tasks(&mut self, file: &Node, keywords: &TaskDef, handler: bool) -> Vec<Step> {
        let Some(name) = self.static_name(file, "task file") else {
            return Vec::new();
        };
        let search = self.task_search();
        let Some(path) = find_in(&search, &name) else {
            self.errors.push(not_found(file, &name, &search));
            return Vec::new();
        };
        let mut steps = self.task_file(file, &path, handler).unwrap_or_default();
        push_down(&mut steps, keywords);
        steps
    }

    /// The bare `include` of Ansible before 2.16, as those versions ran it:
    /// static (an `import_tasks`) when it can be, that is when it neither
    /// loops nor names its file with a template and `static: no` is not
    /// given; dynamic (an `include_tasks`) otherwise. Words after the file
    /// name (`include: web.yml port=80`) are variables of the included
    /// tasks, as they were then.
    fn legacy_include(
        &mut self,
        value: &Node,
        mut keywords: TaskDef,
        static_flag: Option<bool>,
        handler: bool,
    ) -> Vec<Step> {
        let Some(text) = value.as_str() else {
            self.errors.push(
                InputError::at(value, format!("expected a file name, not {}", value.kind()))
                    .with_label("expected `include: <file>.yml`")
                    .with_help("write `include_tasks: <file>.yml`, with `vars:` for variables"),
            );
            return Vec::new();
        };
        let synth = |s: &str| Node::new(Value::Str(s.to_string()), value.span, &value.src);
        let mut words = split_words(text).into_iter();
        let file = synth(&words.next().unwrap_or_default());
        let mut vars = Vec::new();
        for word in words {
            match key_value(&word) {
                Some((k, v)) if !k.is_empty() => vars.push((synth(&k), synth(&v))),
                _ => {
                    self.errors.push(
                        InputError::at(value, format!("`{word}` is not a `name=value` variable"))
                            .with_label("after the file name")
                            .with_help(
                                "an `include` takes a file name, then `name=value` variables",
                            ),
                    );
                    return Vec::new();
                }
            }
        }
        keywords.vars = vars.into_iter().chain(keywords.vars).collect();
        let dynamic = keywords.loop_items.is_some()
            || file.as_str().is_some_and(yaml::is_template)
            || static_flag == Some(false);
        if dynamic {
            keywords.module = "include_tasks".to_string();
            let options = IncludeOptions {
                file: Some(file),
                ..IncludeOptions::default()
            };
            self.dynamic_include(keywords, options, "include_tasks")
        } else {
            self.import_tasks(&file, &keywords, handler)
        }
    }

    /// `include_tasks` and `include_role`.
    fn dynamic_include(
        &mut self,
        task: TaskDef,
        options: IncludeOptions,
        action: &str,
    ) -> Vec<Step> {
        let target = match action {
            "include_tasks" => options.file.clone(),
            _ => options.name.clone(),
        };
        let Some(target) = target else {
            return Vec::new();
        };
        let Some(text) = target.as_str().map(str::to_string) else {
            self.errors.push(
                InputError::at(&target, format!("expected a name, not {}", target.kind()))
                    .with_label("expected a name"),
            );
            return Vec::new();
        };
        let mut inherited = options
            .apply
            .unwrap_or_else(|| TaskDef::keywords(&task.node));
        inherited.vars = task.vars.iter().cloned().chain(inherited.vars).collect();
        inherited.role = task.role.clone();
        let search = self.task_search();
        let kind = match action {
            "include_tasks" => IncludeKind::Tasks {
                file: target.clone(),
            },
            _ => IncludeKind::Role {
                name: target.clone(),
                from: options.from.clone(),
            },
        };
        // The loop variable is only known per host, so a name that uses it
        // (or any template) is read when the include runs.
        let loaded = if yaml::is_template(&text) {
            None
        } else {
            let steps = match &kind {
                IncludeKind::Tasks { .. } => match find_in(&search, &text) {
                    Some(path) => {
                        self.dynamic += 1;
                        let steps = self.task_file(&target, &path, false);
                        self.dynamic -= 1;
                        steps
                    }
                    None => {
                        self.errors.push(not_found(&target, &text, &search));
                        None
                    }
                },
                IncludeKind::Role { from, .. } => {
                    // Its handlers join the play's, as Ansible's do.
                    self.role(
                        &target,
                        &text,
                        from,
                        serde_json::Map::new(),
                        &TaskDef::keywords(&target),
                        false,
                    )
                }
            };
            steps.map(|mut steps| {
                push_down(&mut steps, &inherited);
                steps
            })
        };
        vec![Step::Include(Box::new(Include {
            task,
            kind,
            inherited,
            loaded,
            search,
            collections: self.collections.clone(),
        }))]
    }

    /// The arguments of an import or include: a file or role name, given
    /// bare or as `file:`/`name:`, the `*_from` options and `apply:`.
    fn include_options(
        &mut self,
        key: &Node,
        value: &Node,
        args: &[(Node, Node)],
        action: &str,
    ) -> IncludeOptions {
        let mut options = IncludeOptions::default();
        let mut pairs: Vec<(Node, Node)> = args.to_vec();
        match &value.value {
            Value::Map(entries) => pairs.extend(entries.iter().cloned()),
            Value::Str(_) if action != "meta" => {
                let name = Node::new(
                    Value::Str(
                        if action.ends_with("role") {
                            "name"
                        } else {
                            "file"
                        }
                        .into(),
                    ),
                    key.span,
                    &key.src,
                );
                pairs.push((name, value.clone()));
            }
            _ => {}
        }
        for (k, v) in pairs {
            let text = || v.as_str().map(str::to_string);
            match (action, k.key()) {
                (_, "file" | "_raw_params") if action.ends_with("tasks") => {
                    options.file = Some(v.clone())
                }
                (_, "name") if action.ends_with("role") => options.name = Some(v.clone()),
                (_, "tasks_from") if action.ends_with("role") => options.from.tasks = text(),
                (_, "vars_from") if action.ends_with("role") => options.from.vars = text(),
                (_, "defaults_from") if action.ends_with("role") => options.from.defaults = text(),
                (_, "handlers_from") if action.ends_with("role") => options.from.handlers = text(),
                (_, "allow_duplicates" | "public" | "rolespec_validate")
                    if action.ends_with("role") => {}
                ("include_tasks" | "include_role", "apply") => {
                    let mut apply = TaskDef::keywords(&v);
                    let mut ignored = Vec::new();
                    for (ak, av) in self.mapping(&v, "apply") {
                        if !self.keyword(&ak, &av, &mut apply, &mut ignored, false) {
                            self.unknown_key(
                                &ak,
                                ak.key(),
                                &[
                                    "when",
                                    "tags",
                                    "vars",
                                    "ignore_errors",
                                    "delegate_to",
                                    "no_log",
                                ],
                                "`apply` keyword",
                            );
                        }
                    }
                    options.apply = Some(apply);
                }
                ("meta", _) => {}
                (_, other) => {
                    let known: &[&str] = if action.ends_with("role") {
                        &[
                            "name",
                            "tasks_from",
                            "vars_from",
                            "defaults_from",
                            "handlers_from",
                            "allow_duplicates",
                            "public",
                            "apply",
                        ]
                    } else {
                        &["file", "apply"]
                    };
                    self.unknown_key(&k, other, known, &format!("`{action}` option"));
                }
            }
        }
        let missing = match action {
            a if a.ends_with("tasks") => options.file.is_none(),
            a if a.ends_with("role") => options.name.is_none(),
            _ => false,
        };
        if missing {
            self.errors.push(
                InputError::at(
                    key,
                    format!(
                        "`{action}` needs a {}",
                        if action.ends_with("role") {
                            "role name"
                        } else {
                            "file name"
                        }
                    ),
                )
                .with_label("what should it read?")
                .with_help(if action.ends_with("role") {
                    "write `name: <role>`"
                } else {
                    "write `import_tasks: <file>.yml`"
                }),
            );
        }
        options
    }

    /// `meta:` tasks.
    fn meta(&mut self, key: &Node, value: &Node, task: TaskDef) -> Vec<Step> {
        let action = match value.as_str().map(str::trim) {
            Some("flush_handlers") => MetaAction::FlushHandlers,
            Some("end_play") => MetaAction::EndPlay,
            Some("end_host") => MetaAction::EndHost,
            Some("noop") => MetaAction::Noop,
            Some("reset_connection") => MetaAction::ResetConnection,
            Some("clear_facts") => MetaAction::ClearFacts,
            Some("refresh_inventory") => MetaAction::RefreshInventory,
            Some(other) => {
                let hint = "known meta actions: flush_handlers, end_play, end_host, noop, \
                            reset_connection, clear_facts, refresh_inventory"
                    .to_string();
                self.errors.push(
                    InputError::at(
                        value,
                        format!("`meta: {other}` is not supported by dtrplay"),
                    )
                    .with_label("not supported")
                    .with_help(hint),
                );
                return Vec::new();
            }
            None => {
                self.errors.push(
                    InputError::at(key, "`meta` takes an action name such as `flush_handlers`")
                        .with_label("expected an action"),
                );
                return Vec::new();
            }
        };
        vec![Step::Meta(Meta {
            action,
            task: Box::new(task),
        })]
    }

    /// `- import_playbook: other.yml` between plays: the plays of that file.
    pub(crate) fn import_playbook(&mut self, entry: &Node, key: &Node, value: &Node) -> Vec<Play> {
        for (k, _) in entry.as_map().unwrap_or(&[]) {
            if k.span != key.span && !matches!(k.key(), "name" | "vars" | "when" | "tags") {
                self.unknown_key(
                    k,
                    k.key(),
                    &["import_playbook", "name"],
                    "`import_playbook` keyword",
                );
            }
        }
        let Some(name) = self.static_name(value, "playbook") else {
            return Vec::new();
        };
        let base = self
            .files
            .last()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.clone());
        let path = base.join(&name);
        if self.files.contains(&path) {
            self.errors.push(
                InputError::at(value, format!("{name} imports itself"))
                    .with_label("imported again while being read"),
            );
            return Vec::new();
        }
        let Some(root) = self.read_yaml(&path, value) else {
            return Vec::new();
        };
        let Some(items) = root.as_seq() else {
            self.errors.push(
                InputError::at(
                    &root,
                    format!("a playbook must be a list of plays, not {}", root.kind()),
                )
                .with_label("expected a list"),
            );
            return Vec::new();
        };
        self.files.push(path);
        let plays = self.plays(items);
        self.files.pop();
        plays
    }
}

#[derive(Default)]
struct IncludeOptions {
    file: Option<Node>,
    name: Option<Node>,
    from: RoleFrom,
    apply: Option<TaskDef>,
}
