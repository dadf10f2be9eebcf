//! The variables of a run, layered by Ansible's precedence, in one model:
//! `template::Vars` layers, with every value's origin said where it enters.
//!
//! From lowest to highest, as Ansible's "Understanding variable
//! precedence" lists them: role defaults, inventory variables (group, then
//! host, already merged by `inventory`) with the magic variables
//! (`inventory_hostname`, `group_names`, `playbook_dir`, ...), host facts
//! (gathered, or from `*_facts` modules), play `vars`, `vars_prompt`,
//! `vars_files`, role vars, block and task `vars`, `include_vars`,
//! registered values and `set_fact` values, role and include parameters,
//! extra variables (`-e`).
//!
//! The layers (ARCHITECTURE.md, "The variable model"):
//! - one **host entry** per inventory host, kept in the run's
//!   [`HostTable`], a chain of four layers (see [`HostLayers`]): the
//!   host's base (inventory and magic variables, role defaults), its facts,
//!   the current play's variables (play vars, `vars_files`, role vars and
//!   extra variables: user-written templates, rendered lazily), and what
//!   the host learned (registered results, `set_fact` and `include_vars`
//!   values). Facts sit below the play, so a play variable named like a
//!   fact wins over it, while `ansible_facts.<name>` still gives the fact.
//!   `hostvars` is a lazy view over this table;
//! - one **task layer** per invocation: task `vars`, `ansible_check_mode`,
//!   `hostvars`, then the loop item and the registered value while the task
//!   runs.
//!
//! Extra variables win over everything: a registered value or fact with the
//! name of an extra variable is not stored, and task `vars` named like a
//! learned value or an extra variable are left out, which is what their
//! precedence means.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::inventory::Inventory;
use crate::playbook::{Play, TaskDef};
use crate::template::{HostTable, Shared, Templates, Vars};

pub use crate::template::OMIT;

/// The variables of every host of a run.
pub struct RunVars {
    table: Arc<HostTable>,
    extra: Map<String, Value>,
    /// `groups`, replaced when `meta: refresh_inventory` reads the
    /// inventory again.
    groups: std::sync::RwLock<Shared>,
    playbook_dir: String,
    /// `playbook_dir` as Ansible gives it: absolute.
    playbook_dir_absolute: String,
    check: bool,
    diff: bool,
    /// The hosts of the play now running, as its magic variables show them.
    play_hosts: std::sync::RwLock<Option<PlayHosts>>,
    /// Run-wide magic variables (`ansible_run_tags`, `ansible_version`,
    /// ...; `magic_vars::run_magic`).
    run_magic: Map<String, Value>,
}

/// The play's hosts as Ansible's magic variables give them, converted once
/// each time they change and shared by every task that reads them.
#[derive(Clone)]
struct PlayHosts {
    /// `ansible_play_hosts_all`: every host the play targets.
    all: Shared,
    /// `ansible_play_hosts`: those not failed or unreachable.
    active: Shared,
    /// `ansible_play_batch` (and the older `play_hosts`): the active hosts
    /// of the current `serial` batch.
    batch: Shared,
}

/// Whether a value a host learned is plain host data or a secret (what a
/// `no_log` task registered, or a value that holds a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    Data,
    Secret,
    /// What users wrote, learned at run time (`include_vars`): rendered
    /// lazily like any user-written variable.
    Template,
}

impl RunVars {
    /// Every inventory host with its inventory, magic and extra variables.
    pub fn new(
        inventory: &Inventory,
        extra: &Map<String, Value>,
        playbook_dir: &Path,
        check: bool,
        diff: bool,
    ) -> RunVars {
        let groups = inventory_groups(inventory);
        let mut run = RunVars {
            table: Arc::default(),
            extra: extra.clone(),
            groups: std::sync::RwLock::new(Shared::new(&groups)),
            playbook_dir: playbook_dir.display().to_string(),
            playbook_dir_absolute: crate::search_path::absolute(playbook_dir)
                .display()
                .to_string(),
            check,
            diff,
            play_hosts: std::sync::RwLock::new(None),
            run_magic: Map::new(),
        };
        let hosts: Vec<(String, Vars)> = inventory
            .hosts()
            .map(|h| (h.name().to_string(), run.before_play(inventory, h.name())))
            .collect();
        run.table = HostTable::new(hosts);
        run
    }

    /// A host's entry before any play set it up: its base, no facts, the
    /// extra variables and nothing learned (see [`HostLayers`]).
    fn before_play(&self, inventory: &Inventory, host: &str) -> Vars {
        let base = self.host_base(inventory, host);
        let mut play = base.child().child();
        self.add_extra(&mut play);
        play.child()
    }

    /// `meta: refresh_inventory`: `groups` as the inventory read again
    /// gives them, and an entry for every host it adds. Hosts already
    /// known keep what they learned; their inventory variables are read
    /// again when the next play starts (`start_play`), so the play now
    /// running keeps its own.
    pub fn refresh(&self, inventory: &Inventory) {
        *self
            .groups
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Shared::new(&inventory_groups(inventory));
        for host in inventory.hosts() {
            self.table
                .add(host.name(), || self.before_play(inventory, host.name()));
        }
    }

    fn groups(&self) -> Shared {
        self.groups
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Inventory and magic variables of a host.
    /// Adds the run-wide magic variables every host sees.
    pub fn with_run_magic(mut self, magic: Map<String, Value>) -> RunVars {
        self.run_magic = magic;
        self
    }

    fn host_base(&self, inventory: &Inventory, host: &str) -> Vars {
        let mut vars = Vars::templates(&inventory.host_vars_json(host));
        for (name, value) in &self.run_magic {
            vars.insert_magic(name.clone(), value.clone());
        }
        vars.insert_magic("inventory_hostname", host.into());
        vars.insert_magic(
            "inventory_hostname_short",
            host.split('.').next().unwrap_or(host).into(),
        );
        vars.insert_magic("group_names", inventory.groups_of(host).into());
        vars.insert_magic("playbook_dir", self.playbook_dir_absolute.clone().into());
        let (file, dir) = inventory_source(inventory, host);
        vars.insert_magic("inventory_file", file);
        vars.insert_magic("inventory_dir", dir);
        vars.insert_magic("ansible_check_mode", self.check.into());
        vars.insert_magic("ansible_diff_mode", self.diff.into());
        vars.insert_magic("omit", OMIT.into());
        vars.insert_shared("groups", &self.groups());
        vars
    }

    fn add_extra(&self, vars: &mut Vars) {
        for (name, value) in &self.extra {
            vars.insert_template(name.clone(), value.clone());
        }
    }

    /// Puts a play's variables under a host's learned values: inventory,
    /// magic, play `vars`, `vars_files`, then extra variables.
    pub fn start_play(
        &self,
        templates: &Templates,
        inventory: &Inventory,
        play: &Play,
        play_name: &str,
        host: &str,
    ) -> Result<(), Error> {
        let mut vars = self.host_base(inventory, host);
        vars.insert_magic("ansible_play_name", play_name.into());
        let mut roles: Vec<String> = Vec::new();
        for role in &play.roles {
            if !roles.contains(&role.name) {
                roles.push(role.name.clone());
            }
        }
        vars.insert_magic("ansible_role_names", roles.clone().into());
        vars.insert_magic("role_names", roles.into());
        vars.insert_magic("ansible_dependent_role_names", Value::Array(Vec::new()));
        // The defaults of the play's roles sit below everything else.
        for role in &play.roles {
            for (k, v) in &role.defaults {
                if !vars.contains(k) {
                    vars.insert_template(k.clone(), v.clone());
                }
            }
        }
        // The host's facts stay from play to play, on the new base; the
        // play's own variables go above them.
        let facts = self
            .table
            .get(host)
            .map(|learned| HostLayers::of(&learned).facts.rebase(&vars))
            .unwrap_or_else(|| vars.child());
        let mut vars = facts.child();
        self.add_extra(&mut vars);
        for (k, v) in &play.vars {
            vars.insert_template(k.key(), v.to_json());
        }
        for answer in &play.answers {
            let value = crate::vars_prompt::value(answer);
            if answer.secret {
                vars.insert_secret(answer.name.clone(), value);
            } else {
                vars.insert_template(answer.name.clone(), value);
            }
        }
        for file in &play.vars_files {
            let node = match &file.loaded {
                Some(n) => n.clone(),
                None => {
                    let path = match file.name.as_seq() {
                        // A list: the first file that exists. An entry that
                        // cannot be rendered yet (a fact before gathering)
                        // is passed over, as Ansible passes over it.
                        Some(alternatives) => alternatives
                            .iter()
                            .filter_map(|a| templates.render_node(a, &vars).ok())
                            .map(|name| {
                                Path::new(&self.playbook_dir).join(crate::params::text(&name))
                            })
                            .find(|path| path.is_file())
                            .ok_or_else(|| {
                                Error::Input(Box::new(
                                    crate::error::InputError::at(
                                        &file.name,
                                        "none of these vars files exists for this host",
                                    )
                                    .with_label("the first one found is read"),
                                ))
                            })?,
                        None => {
                            let name =
                                crate::params::text(&templates.render_node(&file.name, &vars)?);
                            Path::new(&self.playbook_dir).join(&name)
                        }
                    };
                    let src = crate::source::SourceFile::read(&path).map_err(|source| {
                        // Pointing at the entry tells which play and which
                        // line; no task of the play has run yet.
                        Error::Input(Box::new(
                            crate::error::InputError::at(
                                &file.name,
                                format!(
                                    "could not read the vars file {}: {source}",
                                    path.display()
                                ),
                            )
                            .with_label("this play's vars file")
                            .with_help(
                                "write the file, or remove it from `vars_files`; \
                                 no task of this play was run",
                            ),
                        ))
                    })?;
                    crate::yaml::parse(&src)?
                }
            };
            if let Value::Object(map) = node.to_json() {
                for (k, v) in map {
                    vars.insert_template(k, v);
                }
            }
        }
        // The vars of the play's roles are seen by the whole play, above
        // its own vars (Ansible's default, `private_role_vars = false`).
        for role in &play.roles {
            for (k, v) in &role.vars {
                vars.insert_template(k.clone(), v.clone());
            }
        }
        // Extra variables win over everything, so they go on last again.
        self.add_extra(&mut vars);
        // A play on the implicit `localhost` gives it an entry of its own.
        self.table.add(host, || self.before_play(inventory, host));
        self.table
            .update(host, |learned| *learned = learned.rebase(&vars));
        Ok(())
    }

    /// A host's variables as they are now (play and learned values).
    pub fn host(&self, host: &str) -> Vars {
        self.table.get(host).unwrap_or_default()
    }

    /// The variables one task sees on a host: the host's, with a task layer
    /// on top.
    pub fn task(&self, host: &str, task: &TaskDef, check_mode: bool) -> Vars {
        let host_vars = self.host(host);
        let mut vars = host_vars.child();
        if let Some(role) = &task.role {
            // A role's defaults count only where nothing else defines the
            // name; its vars and parameters sit with task vars, below
            // learned values and extra vars.
            for (name, value) in &role.defaults {
                if !host_vars.contains(name) {
                    vars.insert_template(name.clone(), value.clone());
                }
            }
            for (name, value) in role.vars.iter().chain(&role.params) {
                if !host_vars.contains_own(name) && !self.extra.contains_key(name) {
                    vars.insert_template(name.clone(), value.clone());
                }
            }
            vars.insert_magic("role_name", role.name.clone().into());
            let role_path = crate::search_path::absolute(&role.path);
            vars.insert_magic("role_path", role_path.display().to_string().into());
        }
        for (k, v) in &task.vars {
            let name = k.key();
            // Task vars sit below learned values and extra vars.
            if !host_vars.contains_own(name) && !self.extra.contains_key(name) {
                vars.insert_template(name, v.to_json());
            }
        }
        vars.insert_magic("ansible_check_mode", check_mode.into());
        // `groups` as the inventory gives them now, also after a
        // `meta: refresh_inventory` in the middle of the play.
        vars.insert_shared("groups", &self.groups());
        // The address the host is reached at, as the connection gives it
        // to a host's own tasks in Ansible, when the inventory says none.
        if !host_vars.contains("ansible_host") {
            vars.insert_magic("ansible_host", host.into());
        }
        vars.insert_hostvars(&self.table);
        let play_hosts = self
            .play_hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(hosts) = play_hosts {
            vars.insert_shared("ansible_play_hosts_all", &hosts.all);
            vars.insert_shared("ansible_play_hosts", &hosts.active);
            vars.insert_shared("ansible_play_batch", &hosts.batch);
            vars.insert_shared("play_hosts", &hosts.batch);
        }
        vars
    }

    /// Sets the play's hosts for the magic variables: all it targets, the
    /// active ones, and the active ones of the current batch.
    pub fn set_play_hosts(&self, all: &[String], active: &[String], batch: &[String]) {
        let shared = |hosts: &[String]| Shared::new(&Value::from(hosts.to_vec()));
        *self
            .play_hosts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(PlayHosts {
            all: shared(all),
            active: shared(active),
            batch: shared(batch),
        });
    }

    /// What a play-level value (name, hosts) is rendered with before any
    /// host is known: extra variables and `groups`, as Ansible does.
    pub fn play_level(&self) -> Vars {
        let mut vars = Vars::templates(&self.extra);
        vars.insert_shared("groups", &self.groups());
        vars
    }

    /// Stores a value a host learned (a registered result, a fact), for the
    /// rest of the run.
    pub fn learn(&self, host: &str, name: &str, value: &Value, origin: Learned) {
        if self.extra.contains_key(name) {
            return;
        }
        self.table.update(host, |vars| match origin {
            Learned::Data => vars.insert_data(name, value.clone()),
            Learned::Secret => vars.insert_secret(name, value.clone()),
            Learned::Template => vars.insert_template(name, value.clone()),
        });
    }
}

impl RunVars {
    /// Stores facts a host reported (`setup`'s `ansible_facts`): each one
    /// as a variable of its own (`ansible_os_family`) and, without the
    /// prefix, in `ansible_facts`, merged with the facts known before, as
    /// Ansible injects them. Facts are host data, never rendered.
    pub fn learn_facts(&self, host: &str, facts: &Map<String, Value>) {
        self.table.update(host, |entry| {
            let layers = HostLayers::of(entry);
            let mut known = layers.facts.clone();
            let mut all = match known.get("ansible_facts") {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            for (name, value) in facts {
                all.insert(crate::facts::short_name(name).to_string(), value.clone());
                if !self.extra.contains_key(name) {
                    known.insert_data(name.clone(), value.clone());
                }
            }
            known.insert_data("ansible_facts", Value::Object(all));
            *entry = layers.with_facts(&known);
        });
    }

    /// `meta: clear_facts`: forgets the facts a host learned (gathered or
    /// from `*_facts` modules): `ansible_facts` becomes empty and the
    /// injected `ansible_*` variables go. Registered values and `set_fact`
    /// variables stay, as Ansible keeps its non-persistent facts.
    pub fn forget_facts(&self, host: &str) {
        self.table.update(host, |entry| {
            let layers = HostLayers::of(entry);
            let mut none = layers.facts.parent().cloned().unwrap_or_default().child();
            none.insert_data("ansible_facts", Value::Object(Map::new()));
            *entry = layers.with_facts(&none);
        });
    }
}

/// The layers of a host's entry in the table, innermost first, each a
/// child of the next and the last one a child of the host's base. Every
/// entry has this shape: `RunVars::new` builds it, `start_play` replaces
/// the play layer (and the base under the facts), `learn_facts` and
/// `forget_facts` the facts layer.
struct HostLayers {
    /// Registered values, `set_fact` and `include_vars` values.
    learned: Vars,
    /// The play's variables, `vars_files`, role vars, extra variables.
    play: Vars,
    /// Gathered facts and those of `*_facts` modules, from play to play.
    facts: Vars,
}

impl HostLayers {
    fn of(entry: &Vars) -> HostLayers {
        let play = entry.parent().cloned().unwrap_or_default();
        let facts = play.parent().cloned().unwrap_or_default();
        HostLayers {
            learned: entry.clone(),
            play,
            facts,
        }
    }

    /// The host's entry with `facts` in place of its facts layer: the play
    /// and learned layers keep their own entries, on top of it.
    fn with_facts(&self, facts: &Vars) -> Vars {
        self.learned.rebase(&self.play.rebase(facts))
    }
}

fn inventory_groups(inventory: &Inventory) -> Value {
    let mut groups = Map::new();
    for (name, hosts) in inventory.groups_dict() {
        groups.insert(name, hosts.into());
    }
    Value::Object(groups)
}

/// The named variables of a scope, rendered (Ansible renders variables
/// lazily, so `dtr_password: "{{ lookup('env', 'DTR_PASSWORD') }}"` and
/// variables built from other variables become plain values), for callers
/// that need plain values up front: `doctor`, which reads the integration
/// contract's variables once per node. Names the scope does not define are
/// left out.
pub fn rendered(
    templates: &Templates,
    scope: &Vars,
    names: &[&str],
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for name in names {
        if scope.contains(name) {
            let value = templates
                .eval_str(name, scope)
                .map_err(|e| format!("`{name}`: {e}"))?;
            out.insert((*name).to_string(), value);
        }
    }
    Ok(out)
}

/// Layers `higher` over `lower`, key by key (no deep merge, as Ansible's
/// default `hash_behaviour: replace`).
pub fn layer(lower: &mut Map<String, Value>, higher: &Map<String, Value>) {
    for (k, v) in higher {
        lower.insert(k.clone(), v.clone());
    }
}

/// `inventory_file` and `inventory_dir` of a host, as Ansible sets them:
/// the absolute path of the first inventory source that defined the host
/// and that file's directory. A host from a host list (`-i a,b,`) has the
/// list as its file and no directory; the implicit `localhost` has neither.
fn inventory_source(inventory: &Inventory, host: &str) -> (Value, Value) {
    let Some(host) = inventory.host(host).filter(|h| !h.is_implicit()) else {
        return (Value::Null, Value::Null);
    };
    let src = &host.defined_at().src;
    if !src.path().is_file() {
        return (src.text().into(), Value::Null);
    }
    let file = crate::search_path::absolute(src.path());
    let dir = file
        .parent()
        .map_or(Value::Null, |d| d.display().to_string().into());
    (file.display().to_string().into(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn higher_layers_replace_whole_values() {
        let mut low = json!({"a": {"x": 1}, "b": 1})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let high = json!({"a": {"y": 2}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        layer(&mut low, &high);
        assert_eq!(Value::Object(low), json!({"a": {"y": 2}, "b": 1}));
    }
}
