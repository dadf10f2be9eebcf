//! Everything that can be checked without contacting a host.
//!
//! `load` reads the playbook, the inventory and the custom tasks, and checks
//! them together: modules and their arguments (done while lowering the
//! playbook), host patterns against the inventory, template syntax, and
//! variables used but defined nowhere. All problems are collected and
//! reported at once; when there is any, no host is contacted at all.
//!
//! A variable counts as defined if any inventory host defines it, if the play
//! or a vars file defines it, if it is an extra variable or a magic
//! variable, or if an earlier task of the play defines it (`register`,
//! `set_fact`, the task's own `loop` variable and `vars`).

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, InputError};
use crate::facts::needed::{gathers, is_fact_name};
use crate::inventory::{Inventory, Pattern};
use crate::playbook::{MetaAction, Play, Playbook, Step, TaskDef};
use crate::suggest;
use crate::tasks::Registry;
use crate::template::Templates;
use crate::yaml::Node;

/// Names every template may use: Ansible's magic variables and the
/// template engine's globals.
const ALWAYS_DEFINED: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "playbook_dir",
    "inventory_file",
    "inventory_dir",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "play_hosts",
    "ansible_play_name",
    "ansible_role_names",
    "role_names",
    "ansible_dependent_role_names",
    "ansible_run_tags",
    "ansible_limit",
    "ansible_skip_tags",
    "ansible_forks",
    "ansible_verbosity",
    "ansible_inventory_sources",
    "ansible_version",
    "ansible_host",
    "ansible_failed_task",
    "ansible_failed_result",
    "omit",
    "item",
    "loop",
    "range",
    "dict",
    "lookup",
    "query",
    "q",
    "namespace",
    "joiner",
    "cycler",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
];

/// In the set of defined names: any name may be defined from here on (an
/// `include_vars` of a file read at run time).
const ANY_NAME: &str = "*";

/// A playbook with everything it runs against, all checked.
pub struct Loaded {
    pub playbook: Playbook,
    pub inventory: Inventory,
    pub registry: Registry,
}

/// Loads and checks a playbook as [`load_quietly`] does, and prints the
/// warnings it found on stderr, whether or not the input is valid.
pub fn load(
    base: &Registry,
    playbook_path: &Path,
    inventory_paths: &[PathBuf],
    extra_vars: &Map<String, Value>,
    task_path: &[PathBuf],
    roles_path: &[PathBuf],
) -> Result<Loaded, Error> {
    let (loaded, warnings) = load_quietly(
        base,
        playbook_path,
        inventory_paths,
        extra_vars,
        task_path,
        roles_path,
    );
    crate::report::diagnostics::print_warnings(&warnings);
    loaded
}

/// Loads and checks a playbook (and an inventory, when given). `base` is
/// the registry the run starts from: the built-ins, plus any Rust tasks
/// (see `run::main_with`); custom tasks found beside the playbook are added.
/// The warnings come back beside the result: problems that do not stop a
/// run, each pointing where it was written.
pub fn load_quietly(
    base: &Registry,
    playbook_path: &Path,
    inventory_paths: &[PathBuf],
    extra_vars: &Map<String, Value>,
    task_path: &[PathBuf],
    roles_path: &[PathBuf],
) -> (Result<Loaded, Error>, Vec<InputError>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let playbook_dir = playbook_path.parent().unwrap_or(Path::new("."));
    let registry = match crate::tasks::custom::registry_with(base.clone(), playbook_dir, task_path)
    {
        Ok(registry) => registry,
        Err(e) => return (Err(Error::from(e)), warnings),
    };
    let inventory = match Inventory::load(inventory_paths) {
        Ok(inv) => Some(inv),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let playbook = match crate::playbook::parse::load(playbook_path, &registry, roles_path) {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            Some(p)
        }
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    if let Some(inventory) = &inventory {
        errors.extend(connection_errors(inventory));
        let mut seen = HashSet::new();
        for host in inventory.hosts().filter(|h| !h.is_implicit()) {
            for (name, value) in inventory.host_vars(host.name()) {
                if let Some(err) = contract_error(&name, value.value(), value.origin())
                    && seen.insert(err.location())
                {
                    errors.push(err);
                }
            }
        }
    }
    if let Some(playbook) = &playbook {
        errors.extend(playbook.plays.iter().flat_map(play_contract_errors));
    }
    errors.extend(extra_contract_errors(extra_vars));
    if let (Some(playbook), Some(inventory)) = (&playbook, &inventory)
        && errors.is_empty()
    {
        let checker = Checker {
            inventory,
            registry: &registry,
            templates: Templates::new(),
            check_variables: !inventory_paths.is_empty(),
            inventory_names: variable_names(inventory),
            extra: extra_vars.keys().cloned().collect(),
            warnings: RefCell::new(Vec::new()),
        };
        // Facts stay known for the rest of the run once a play gathered them.
        let mut gathered = false;
        // After a `meta: refresh_inventory`, plays may target hosts, groups
        // and variables the inventory does not have yet.
        let mut refreshed = false;
        for play in &playbook.plays {
            gathered |= play.gather_facts != Some(false);
            errors.extend(checker.play(play, gathered, refreshed));
            refreshed |= refreshes_inventory(&play.tasks);
            gathered |= play.all_tasks().iter().any(|t| gathers(&t.module));
        }
        warnings.extend(checker.warnings.into_inner());
    }
    let loaded = match (playbook, inventory) {
        (Some(playbook), Some(inventory)) if errors.is_empty() => Ok(Loaded {
            playbook,
            inventory,
            registry,
        }),
        _ => Err(Error::from(errors)),
    };
    (loaded, warnings)
}

/// The connection variables of every inventory host (`ansible_host`,
/// `ansible_port`, `ansible_connection`, ...), read as the run reads them
/// when it connects, so that a bad one is an input error here, pointing at
/// where it was written, and not a failure to connect later.
///
/// A group variable is every member's, so each place is reported once.
fn connection_errors(inventory: &Inventory) -> Vec<InputError> {
    let mut seen = HashSet::new();
    inventory
        .hosts()
        .filter(|h| !h.is_implicit())
        .filter_map(|h| {
            inventory
                .target(
                    h.name(),
                    &crate::inventory::literal_connection_vars(inventory.host_vars(h.name())),
                )
                .err()
        })
        .filter(|e| seen.insert((e.location(), e.message.clone())))
        .collect()
}

/// The error for a variable of the integration's contract whose literal
/// value can never work: a `ucp_flavor` other than `ucp1`/`ucp3`, a CA pin
/// that is not a SHA-256 fingerprint. Templates are checked when rendered.
fn contract_error(name: &str, value: &Value, at: &Node) -> Option<InputError> {
    let Value::String(text) = value else {
        return None;
    };
    if crate::yaml::is_template(text) {
        return None;
    }
    match name {
        "ucp_flavor" if crate::api::Flavor::parse(text).is_none() => {
            let help = suggest::did_you_mean(text, ["ucp1", "ucp3"]).unwrap_or_else(|| {
                "`ucp1` is UCP 1.x with DTR 2.0, `ucp3` UCP 3.x/MKE with DTR 2.5+/MSR; leave it out to detect it".into()
            });
            Some(
                InputError::at(
                    at,
                    format!("`ucp_flavor` must be `ucp1` or `ucp3`, not `{text}`"),
                )
                .with_label("unknown flavor")
                .with_help(help),
            )
        }
        "ucp_ca_fingerprint" | "dtr_ca_fingerprint"
            if crate::cert::normalize_pin(text).is_err() =>
        {
            Some(
                InputError::at(at, format!("`{name}` is not a SHA-256 fingerprint"))
                    .with_label("expected 64 hex digits, colons allowed")
                    .with_help(
                        "print it with `openssl x509 -in ca.pem -noout -fingerprint -sha256`",
                    ),
            )
        }
        _ => None,
    }
}

/// The contract errors of the variables a play writes out: its `vars`,
/// the `vars_files` read at load time, and the `vars` of its tasks,
/// blocks and handlers (a block's variables are its tasks'), so that a
/// bad literal is caught wherever the user wrote it.
fn play_contract_errors(play: &Play) -> Vec<InputError> {
    let files = play
        .vars_files
        .iter()
        .filter_map(|file| file.loaded.as_ref().and_then(Node::as_map));
    let tasks = play
        .all_tasks()
        .into_iter()
        .chain(play.handlers.iter())
        .map(|task| task.vars.as_slice());
    let roles = role_var_files(play);
    let role_maps = roles.iter().filter_map(Node::as_map);
    let mut seen = HashSet::new();
    std::iter::once(play.vars.as_slice())
        .chain(files)
        .chain(tasks)
        .chain(role_maps)
        .flatten()
        .filter_map(|(name, value)| contract_error(name.key(), &value.to_json(), value))
        .filter(|err| seen.insert(err.location()))
        .collect()
}

/// The `defaults/main.yml` and `vars/main.yml` of a play's roles, read
/// again with their spans (the role keeps only their values), so that a
/// bad pin in a role points at its line. Files the role loader already
/// refused are not read twice.
fn role_var_files(play: &Play) -> Vec<Node> {
    let mut nodes = Vec::new();
    for role in &play.roles {
        for sub in ["defaults", "vars"] {
            let Some(path) = ["main.yml", "main.yaml"]
                .iter()
                .map(|f| role.path.join(sub).join(f))
                .find(|p| p.is_file())
            else {
                continue;
            };
            if let Ok(src) = crate::source::SourceFile::read(&path)
                && let Ok(node) = crate::yaml::parse(&src)
            {
                nodes.push(node);
            }
        }
    }
    nodes
}

/// The contract errors of extra variables (`-e ucp_flavor=ucp9`), each
/// pointing at the command line as `Inventory::connection_vars` does.
fn extra_contract_errors(extra: &Map<String, Value>) -> Vec<InputError> {
    extra
        .iter()
        .filter_map(|(name, value)| {
            let text = format!("-e {name}={value}");
            let src = crate::source::SourceFile::new("the command line", text.as_str());
            let start = name.len() + 4;
            let span = miette::SourceSpan::from((start, text.len() - start));
            let node = Node::from_json(value, span, &src);
            contract_error(name, value, &node)
        })
        .collect()
}

/// Every variable name some inventory host defines.
fn variable_names(inventory: &Inventory) -> HashSet<String> {
    let mut names = HashSet::new();
    for host in inventory.hosts() {
        names.extend(inventory.host_vars(host.name()).into_keys());
    }
    names
}

struct Checker<'a> {
    inventory: &'a Inventory,
    registry: &'a Registry,
    templates: Templates,
    /// Without an inventory, most variables come from places we cannot see,
    /// so undefined variables are only reported when one is given.
    check_variables: bool,
    inventory_names: HashSet<String>,
    extra: HashSet<String>,
    /// Variables a role uses that nothing visible defines: its callers may
    /// still give them, so these do not stop a run.
    warnings: RefCell<Vec<InputError>>,
}

impl Checker<'_> {
    /// `facts`: facts are gathered when the play starts (by it, or by an
    /// earlier play).
    /// `refreshed`: an earlier play read the inventory again, so its hosts,
    /// groups and variables are only known when this play starts.
    fn play(&self, play: &Play, facts: bool, refreshed: bool) -> Vec<InputError> {
        let mut errors = Vec::new();
        if let Some(text) = play.hosts.as_str()
            && !crate::yaml::is_template(text)
        {
            match Pattern::parse(text, Some(&play.hosts)) {
                Ok(pattern) => {
                    if self.check_variables && !refreshed {
                        errors.extend(self.inventory.unknown_names(&pattern));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let mut defined: HashSet<String> = self.inventory_names.clone();
        if refreshed {
            defined.insert(ANY_NAME.into());
        }
        defined.extend(self.extra.iter().cloned());
        defined.extend(ALWAYS_DEFINED.iter().map(|s| s.to_string()));
        if facts {
            // Every fact name counts as defined once `ansible_facts` is.
            defined.insert("ansible_facts".into());
        }
        defined.extend(play.vars.iter().map(|(k, _)| k.key().to_string()));
        defined.extend(play.prompts.iter().map(|p| p.name.clone()));
        for file in &play.vars_files {
            match &file.loaded {
                Some(node) => {
                    if let Some(map) = node.as_map() {
                        defined.extend(map.iter().map(|(k, _)| k.key().to_string()));
                    }
                }
                // A file read when the play starts (a templated name, or
                // one not written yet) may define any name.
                None => {
                    defined.insert(ANY_NAME.into());
                }
            }
        }
        for (_, value) in &play.vars {
            errors.extend(self.syntax(value, false));
        }
        // Handlers run after the tasks, so they see everything the tasks define.
        for role in &play.roles {
            defined.extend(role.names().map(str::to_string));
        }
        self.steps(&play.tasks, &mut defined, &mut Vec::new(), &mut errors);
        for handler in &play.handlers {
            errors.extend(self.task(handler, &mut defined, &[]));
        }
        errors
    }

    /// Checks steps in the order they run. `scope`: the names the looped
    /// includes around them define for them (the loop variable and its
    /// companions), which their tasks see and later tasks do not.
    fn steps(
        &self,
        steps: &[Step],
        defined: &mut HashSet<String>,
        scope: &mut Vec<String>,
        errors: &mut Vec<InputError>,
    ) {
        for step in steps {
            match step {
                Step::Task(task) => errors.extend(self.task(task, defined, scope)),
                Step::Meta(meta) => errors.extend(self.task(&meta.task, defined, scope)),
                Step::Block(block) => {
                    for part in [&block.body, &block.rescue, &block.always] {
                        self.steps(part, defined, scope, errors);
                    }
                }
                Step::Include(include) => {
                    let task = &include.task;
                    errors.extend(self.task(task, defined, scope));
                    let Some(loaded) = &include.loaded else {
                        continue;
                    };
                    let outer = scope.len();
                    if task.loop_items.is_some() {
                        scope.push(task.loop_var.clone());
                        scope.extend(task.loop_control.index_var.iter().cloned());
                    }
                    self.steps(loaded, defined, scope, errors);
                    scope.truncate(outer);
                }
            }
        }
    }

    fn task(
        &self,
        task: &TaskDef,
        defined: &mut HashSet<String>,
        scope: &[String],
    ) -> Vec<InputError> {
        let mut errors = Vec::new();
        let mut local = defined.clone();
        local.extend(scope.iter().cloned());
        local.insert(task.loop_var.clone());
        local.extend(task.loop_control.index_var.iter().cloned());
        local.insert("ansible_loop".into());
        local.insert("ansible_loop_var".into());
        local.extend(task.vars.iter().map(|(k, _)| k.key().to_string()));
        if let Some(role) = &task.role {
            local.extend(role.names().map(str::to_string));
        }
        if let Some(name) = &task.register {
            // `register` is visible to the task's own until/changed_when/failed_when.
            local.insert(name.clone());
        }
        let templates = task
            .args
            .iter()
            .map(|(_, v)| v)
            .chain(task.loop_items.iter())
            .chain(task.delegate_to.iter())
            .chain(task.loop_label.iter())
            .chain(task.vars.iter().map(|(_, v)| v));
        let role = task.role.as_deref().map(|r| r.name.as_str());
        for node in templates {
            errors.extend(self.variables(node, false, &local, role));
        }
        let expressions = task
            .when
            .iter()
            .chain(&task.changed_when)
            .chain(&task.failed_when)
            .chain(task.until.iter())
            .chain(task.ignore_errors.iter());
        for node in expressions {
            errors.extend(self.variables(node, true, &local, role));
        }
        if let Some(name) = &task.register {
            defined.insert(name.clone());
        }
        if task.module == "set_fact" {
            defined.extend(task.args.iter().map(|(k, _)| k.key().to_string()));
        }
        if gathers(&task.module) {
            defined.insert("ansible_facts".into());
        }
        if task.module == "include_vars" {
            match task.args.iter().find(|(k, _)| k.key() == "name") {
                Some((_, name)) => defined.extend(name.as_str().map(str::to_string)),
                // The file's names are known when it runs: later tasks of
                // the play are not checked for undefined variables.
                None => {
                    defined.insert(ANY_NAME.into());
                }
            }
        }
        if let Some(entry) = self.registry.get(&task.module) {
            defined.extend(entry.spec.facts.iter().cloned());
            // A module that sets facts returns them under `ansible_facts`
            // too (`ansible_facts.getent_group` after `getent`).
            if !entry.spec.facts.is_empty() {
                defined.insert("ansible_facts".into());
            }
        }
        errors
    }

    fn syntax(&self, node: &Node, expression: bool) -> Vec<InputError> {
        match self.templates.undeclared(node, expression) {
            Ok(_) => self.templates.unknown_names(node, expression),
            Err(e) => vec![e],
        }
    }

    /// The undefined variables `node` uses, as errors. Inside a role
    /// (`role`), a name defined nowhere and near no defined name is a
    /// warning instead: roles take inputs from their callers.
    fn variables(
        &self,
        node: &Node,
        expression: bool,
        defined: &HashSet<String>,
        role: Option<&str>,
    ) -> Vec<InputError> {
        let used = match self.templates.undeclared(node, expression) {
            Ok(used) => used,
            Err(e) => return vec![e],
        };
        let unknown = self.templates.unknown_names(node, expression);
        if !unknown.is_empty() {
            return unknown;
        }
        if !self.check_variables {
            return Vec::new();
        }
        if defined.contains(ANY_NAME) {
            return Vec::new();
        }
        let facts = defined.contains("ansible_facts");
        // A task's facts may be a family of names (`getent_*`).
        let family = |name: &str| {
            defined
                .iter()
                .filter_map(|d| d.strip_suffix('*'))
                .any(|prefix| name.starts_with(prefix))
        };
        used.into_iter()
            .filter(|(name, _)| !defined.contains(name) && !family(name))
            .filter(|(name, _)| !(facts && is_fact_name(name)))
            .filter_map(|(name, span)| {
                if is_fact_name(&name) {
                    return Some(InputError::new(
                        &node.src,
                        span,
                        format!("`{name}` is a fact, but this play does not gather facts"),
                    )
                    .with_label("read here, while the play has `gather_facts: false`")
                    .with_help(
                        "remove `gather_facts: false` from the play, or run `setup` \
                         (or `ansible.builtin.setup`) in a task before this one",
                    ));
                }
                let near = suggest::did_you_mean(&name, defined.iter().map(String::as_str));
                if let (Some(role), None) = (role, &near) {
                    self.warnings.borrow_mut().push(
                        InputError::new(
                            &node.src,
                            span,
                            format!("`{name}` is used by role {role} and defined nowhere"),
                        )
                        .with_label("a run fails here if nothing gives it")
                        .with_help("give it in the inventory, vars or -e"),
                    );
                    return None;
                }
                let help = near.unwrap_or_else(|| {
                    "define it in the inventory, in the play's `vars`, with `-e`, or register it in an earlier task".into()
                });
                Some(
                    InputError::new(&node.src, span, format!("undefined variable `{name}`"))
                        .with_label("not defined anywhere")
                        .with_help(help),
                )
            })
            .collect()
    }
}

/// Whether steps hold a `meta: refresh_inventory` (in blocks and in the
/// files includes read at load time too).
fn refreshes_inventory(steps: &[Step]) -> bool {
    steps.iter().any(|step| match step {
        Step::Meta(meta) => meta.action == MetaAction::RefreshInventory,
        Step::Block(block) => [&block.body, &block.rescue, &block.always]
            .into_iter()
            .any(|part| refreshes_inventory(part)),
        Step::Include(include) => include.loaded.as_deref().is_some_and(refreshes_inventory),
        Step::Task(_) => false,
    })
}
