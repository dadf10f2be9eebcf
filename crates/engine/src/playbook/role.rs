//! Roles: finding them, reading their files, and splicing their tasks into
//! the play.
//!
//! A role is a directory with `tasks/`, `handlers/`, `defaults/`, `vars/`,
//! `files/`, `templates/` and `meta/`, each read from `main.yml` (or
//! `main.yaml`, `main`, or a `main/` directory of files) unless a `*_from`
//! option names another file. It is found, as Ansible finds it, in `roles/`
//! beside the playbook, then in the roles path (`--roles-path`, then
//! `ANSIBLE_ROLES_PATH`), then beside the playbook; a name with a `/` may
//! also be a path. `meta/main.yml` lists dependencies, which run before
//! the role, and, like the roles of `roles:`, run once per play with the
//! same parameters unless the role says `allow_duplicates: true`.
//!
//! A role's tasks carry its `RoleScope`: its defaults (below every other
//! variable), its vars and parameters (above the play's), `role_name`,
//! `role_path`, and the directory where `src:` files are looked up first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::InputError;
use crate::playbook::block::push_down;
use crate::playbook::loader::{Loader, flatten};
use crate::playbook::model::{RoleFrom, RoleScope, Step, TaskDef};
use crate::source::SourceFile;
use crate::suggest;
use crate::yaml::{self, Node};

/// Where `--roles-path` and then `roles_path` (ANSIBLE_ROLES_PATH or
/// ansible.cfg) point, else Ansible's default directories, where
/// `ansible-galaxy` installs roles.
pub fn roles_path(given: &[PathBuf], settings: &crate::settings::Settings) -> Vec<PathBuf> {
    let mut path = given.to_vec();
    let configured = settings.paths(crate::settings::Key::RolesPath);
    if configured.is_empty() {
        if let Some(home) = std::env::var_os("HOME") {
            path.push(PathBuf::from(home).join(".ansible/roles"));
        }
        path.push(PathBuf::from("/usr/share/ansible/roles"));
        path.push(PathBuf::from("/etc/ansible/roles"));
    } else {
        path.extend(configured);
    }
    path
}

/// The role entry keys that are options, not parameters.
const ENTRY_OPTIONS: &[&str] = &["role", "name", "vars"];

impl Loader<'_> {
    /// A play's `roles:` list.
    pub(crate) fn play_roles_list(&mut self, node: &Node) -> Vec<Step> {
        let items: &[Node] = match &node.value {
            yaml::Value::Seq(items) => items,
            yaml::Value::Null => return Vec::new(),
            _ => {
                self.errors.push(
                    InputError::at(node, format!("`roles` must be a list, not {}", node.kind()))
                        .with_label("expected a list of roles")
                        .with_help("write `roles: [common, web]` or `- role: web` entries"),
                );
                return Vec::new();
            }
        };
        items
            .iter()
            .flat_map(|item| self.role_entry(item, true))
            .collect()
    }

    /// One entry of `roles:` or `dependencies:`: a name, or a mapping with
    /// `role:` (or `name:`), keywords, `vars:` and other parameters.
    pub(crate) fn role_entry(&mut self, node: &Node, once: bool) -> Vec<Step> {
        let mut keywords = TaskDef::keywords(node);
        let mut params = Map::new();
        let name = match &node.value {
            yaml::Value::Str(_) => node.clone(),
            yaml::Value::Map(entries) => {
                let mut name = None;
                let mut args = Vec::new();
                for (key, value) in entries {
                    match key.key() {
                        "role" | "name" => name = Some(value.clone()),
                        "vars" => {
                            for (k, v) in self.mapping(value, "vars") {
                                params.insert(k.key().to_string(), v.to_json());
                            }
                        }
                        k if ENTRY_OPTIONS.contains(&k) => {}
                        _ => {
                            if !self.keyword(key, value, &mut keywords, &mut args, false) {
                                // Other keys are parameters, as in Ansible's
                                // older `- { role: x, port: 80 }` form.
                                params.insert(key.key().to_string(), value.to_json());
                            }
                        }
                    }
                }
                match name {
                    Some(name) => name,
                    None => {
                        self.errors.push(
                            InputError::at(node, "this role entry names no role")
                                .with_label("which role?")
                                .with_help("add `role: <name>`"),
                        );
                        return Vec::new();
                    }
                }
            }
            _ => {
                self.errors.push(
                    InputError::at(
                        node,
                        format!(
                            "a role entry must be a name or a mapping, not {}",
                            node.kind()
                        ),
                    )
                    .with_label("expected a role name"),
                );
                return Vec::new();
            }
        };
        let Some(text) = self.static_name(&name, "role") else {
            return Vec::new();
        };
        self.role(&name, &text, &RoleFrom::default(), params, &keywords, once)
            .unwrap_or_default()
    }

    /// A name that must be known at load time (roles of `roles:`,
    /// `import_role`, `import_tasks`).
    pub(crate) fn static_name(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(text) if !yaml::is_template(text) => Some(text.to_string()),
            Some(_) => {
                self.errors.push(
                    InputError::at(node, format!("this {what} name is a template, but it is needed before any host is known"))
                        .with_label("templated name")
                        .with_help("use `include_role` / `include_tasks`, which are dynamic, or write the name out"),
                );
                None
            }
            None => {
                self.errors.push(
                    InputError::at(node, format!("expected a {what} name, not {}", node.kind()))
                        .with_label("expected a name"),
                );
                None
            }
        }
    }

    /// Loads a role: its dependencies' tasks, then its own, with `keywords`
    /// pushed into all of them. `once`: skip a role already run in this play
    /// with the same parameters, unless it allows duplicates.
    pub(crate) fn role(
        &mut self,
        at: &Node,
        name: &str,
        from: &RoleFrom,
        params: Map<String, Value>,
        keywords: &TaskDef,
        once: bool,
    ) -> Option<Vec<Step>> {
        let Some(path) = self.find_role(name) else {
            let searched = self.role_search_dirs();
            let known: Vec<String> = searched
                .iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .filter_map(Result::ok)
                .filter(|e| e.path().join("tasks").is_dir() || e.path().join("meta").is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect();
            let help = suggest::did_you_mean(name, known.iter().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "roles are searched in {}; add the role there, or pass --roles-path (or set ANSIBLE_ROLES_PATH)",
                    searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                )
            });
            self.errors.push(
                InputError::at(at, format!("the role `{name}` was not found"))
                    .with_label("unknown role")
                    .with_help(help),
            );
            return None;
        };
        if self.roles.iter().any(|r| r.path == path) {
            self.errors.push(
                InputError::at(at, format!("the role `{name}` depends on itself"))
                    .with_label("used again while being loaded")
                    .with_help("remove the cycle from the roles' meta/main.yml dependencies"),
            );
            return None;
        }
        let meta = self.role_vars_file(&path, "meta", None, at);
        let allow_duplicates = meta
            .get("allow_duplicates")
            .and_then(crate::params::to_bool)
            .unwrap_or(false);
        if once {
            let key = (
                path.clone(),
                format!("{}|{:?}", Value::Object(params.clone()), from.tasks),
            );
            if self.played_roles.contains(&key) && !allow_duplicates {
                return Some(Vec::new());
            }
            self.played_roles.push(key);
        }
        let role_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name)
            .to_string();
        let scope = Arc::new(RoleScope {
            name: role_name.clone(),
            path: path.clone(),
            defaults: self.role_vars_file(&path, "defaults", from.defaults.as_deref(), at),
            vars: self.role_vars_file(&path, "vars", from.vars.as_deref(), at),
            params,
        });
        let mut steps = Vec::new();
        // Dependencies come first, each a role entry of their own.
        if let Some(deps) = self
            .role_file(&path, "meta", None)
            .and_then(|f| self.read_yaml(&f, at))
        {
            if let Some(list) = deps.get("dependencies") {
                self.roles.push(scope.clone());
                let outer = self
                    .role_basedir
                    .replace(path.parent().map(Path::to_path_buf).unwrap_or_default());
                for dep in list.as_seq().unwrap_or(&[]) {
                    steps.extend(self.role_entry(dep, true));
                }
                self.role_basedir = outer;
                self.roles.pop();
            }
        }
        self.roles.push(scope.clone());
        match self.role_file(&path, "tasks", from.tasks.as_deref()) {
            Some(file) => {
                if let Some(tasks) = self.task_file(at, &file, false) {
                    let mut tasks = tasks;
                    let mut own = TaskDef::keywords(at);
                    own.role = Some(scope.clone());
                    push_down(&mut tasks, &own);
                    steps.extend(tasks);
                }
            }
            None if from.tasks.is_some() => self.errors.push(
                InputError::at(
                    at,
                    format!(
                        "the role `{name}` has no tasks file `{}`",
                        from.tasks.as_deref().unwrap_or("main")
                    ),
                )
                .with_label("tasks_from")
                .with_help(format!(
                    "tasks files live in {}",
                    path.join("tasks").display()
                )),
            ),
            None => {}
        }
        let first_time = !self.play_roles.iter().any(|r| r.path == path);
        if (first_time || from.handlers.is_some())
            && let Some(file) = self.role_file(&path, "handlers", from.handlers.as_deref())
            && let Some(handlers) = self.task_file(at, &file, true)
        {
            for mut handler in flatten(handlers) {
                if handler.role.is_none() {
                    handler.role = Some(scope.clone());
                }
                handler
                    .listen
                    .push(format!("{role_name} : {}", handler.display_name()));
                self.role_handlers.push(handler);
            }
        }
        self.roles.pop();
        if self.dynamic == 0 {
            self.play_roles.push(scope);
        }
        push_down(&mut steps, keywords);
        Some(steps)
    }

    /// The directories a role name is looked up in, in Ansible's order:
    /// `roles/` beside the playbook, the roles path, for a dependency the
    /// directory its dependent role is in (so that roles installed side by
    /// side find each other), then the playbook's own directory.
    fn role_search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.join("roles")];
        dirs.extend(self.roles_path.iter().cloned());
        dirs.extend(self.role_basedir.clone());
        dirs.push(self.dir.clone());
        dirs
    }

    fn find_role(&self, name: &str) -> Option<PathBuf> {
        let is_role = |p: &Path| p.is_dir();
        for dir in self.role_search_dirs() {
            let candidate = dir.join(name);
            if is_role(&candidate) {
                return Some(candidate);
            }
        }
        // A role given as a path: absolute, or relative to the playbook.
        let as_path = Path::new(name);
        let candidate = if as_path.is_absolute() {
            as_path.to_path_buf()
        } else {
            self.dir.join(as_path)
        };
        is_role(&candidate).then_some(candidate)
    }

    /// A role's file in `sub/`: `from` (with or without `.yml`/`.yaml`), or
    /// `main.yml`, `main.yaml`, `main`.
    pub(crate) fn role_file(&self, role: &Path, sub: &str, from: Option<&str>) -> Option<PathBuf> {
        let base = from.unwrap_or("main");
        let dir = role.join(sub);
        [
            format!("{base}.yml"),
            format!("{base}.yaml"),
            format!("{base}.json"),
            base.to_string(),
        ]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
    }

    /// A role's variables from `sub/` (`defaults`, `vars`, `meta`): one file,
    /// or every YAML file of a `main/` directory, in name order.
    fn role_vars_file(
        &mut self,
        role: &Path,
        sub: &str,
        from: Option<&str>,
        at: &Node,
    ) -> Map<String, Value> {
        let mut files = Vec::new();
        match self.role_file(role, sub, from) {
            Some(file) => files.push(file),
            None => {
                let dir = role.join(sub).join(from.unwrap_or("main"));
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            matches!(
                                p.extension().and_then(|e| e.to_str()),
                                Some("yml" | "yaml" | "json")
                            )
                        })
                        .collect();
                    found.sort();
                    files.extend(found);
                } else if from.is_some() {
                    self.errors.push(
                        InputError::at(
                            at,
                            format!("the role has no {sub} file `{}`", from.unwrap_or("main")),
                        )
                        .with_label(format!("{sub}_from"))
                        .with_help(format!("{sub} files live in {}", role.join(sub).display())),
                    );
                }
            }
        }
        let mut vars = Map::new();
        for file in files {
            let Some(node) = self.read_yaml(&file, at) else {
                continue;
            };
            match node.to_json() {
                Value::Object(map) => vars.extend(map),
                Value::Null => {}
                _ => self.errors.push(
                    InputError::at(
                        &node,
                        format!(
                            "a role's {sub} file must hold a mapping, not {}",
                            node.kind()
                        ),
                    )
                    .with_label("expected `name: value` pairs"),
                ),
            }
        }
        vars
    }

    /// Reads and parses a YAML file, reporting a problem at `at`.
    pub(crate) fn read_yaml(&mut self, path: &Path, at: &Node) -> Option<Node> {
        match SourceFile::read(path) {
            Ok(src) => match yaml::parse(&src) {
                Ok(node) => Some(node),
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
            Err(e) => {
                self.errors.push(
                    InputError::at(at, format!("could not read {}: {e}", path.display()))
                        .with_label("needed here"),
                );
                None
            }
        }
    }
}
