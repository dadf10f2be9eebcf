//! Ansible-compatible inventories: which hosts exist, how they are grouped,
//! and which variables each host gets from its inventory sources.
//!
//! An inventory is read once, at the start of a run, from one or more
//! sources (`-i` may repeat): YAML files (`yaml.rs`), INI files (`ini.rs`),
//! or directories of them (`loader.rs`), plus the `group_vars/` and
//! `host_vars/` directories beside each source (`vars_dir.rs`). The result is
//! the same graph Ansible builds: hosts in definition order, groups with
//! parents and children, the built-in `all` and `ungrouped` groups, and an
//! implicit `localhost` that patterns can name without defining it.
//!
//! Users move inventories between Ansible and dtrplay, so every rule here
//! (variable precedence, which files are read, how a host line is split, what
//! `ansible-inventory --list` prints) follows ansible-core, and the tests
//! compare against output recorded from it. Where dtrplay is stricter (an
//! unknown key in a YAML group, a reversed host range), it reports an error
//! with the file position instead of Ansible's warning, because a silently
//! ignored line in an inventory means a host that is silently not configured.
//!
//! Everything here is computed up front; looking a host's variables up is a
//! walk over its (pre-sorted) groups, so a 1000-host inventory stays cheap.

mod builder;
mod hostrange;
mod ini;
mod list;
mod literal;
mod loader;
mod pattern;
mod shlex;
mod target;
mod vars_dir;
mod yaml;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

use crate::error::InputError;
use crate::yaml::Node;

pub use list::{ansible_json, cli_output};
pub use pattern::Pattern;
pub use shlex::split_shell_words;
pub use target::{literal_connection_vars, render_connection_vars};

/// The names Ansible treats as the control machine. A pattern naming one of
/// them selects an implicit local host when the inventory does not define it.
pub const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// One variable's value, with the YAML node (or INI text) it came from, so a
/// later error about the value ("`ansible_port` is not a number") can point
/// at where the user wrote it.
///
/// Values are shared, not copied, between the hosts that inherit them: a
/// group variable of a 1000-host group is one allocation.
#[derive(Clone)]
pub struct VarValue {
    inner: Arc<VarInner>,
}

struct VarInner {
    value: serde_json::Value,
    origin: Node,
}

impl VarValue {
    pub fn new(value: serde_json::Value, origin: Node) -> VarValue {
        VarValue {
            inner: Arc::new(VarInner { value, origin }),
        }
    }

    /// A value read from YAML: its JSON form, remembering the node.
    pub fn from_node(node: &Node) -> VarValue {
        VarValue::new(node.to_json(), node.clone())
    }

    pub fn value(&self) -> &serde_json::Value {
        &self.inner.value
    }

    /// Where the value was written.
    pub fn origin(&self) -> &Node {
        &self.inner.origin
    }
}

impl fmt::Debug for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {:?}", self.inner.value, self.inner.origin)
    }
}

/// Variables in the order they were first set; a later source replaces a
/// value but keeps its position, as Python's dict update does.
pub type Vars = IndexMap<String, VarValue>;

/// A host of the inventory.
#[derive(Debug)]
pub struct Host {
    name: String,
    /// Variables written in inventory sources (YAML host mappings, INI
    /// `key=value` pairs, a `:port` suffix).
    vars: Vars,
    /// Variables from `host_vars/`, one map per source directory, in source
    /// order.
    file_vars: Vec<Vars>,
    /// The groups the host was put in directly, in order.
    groups: IndexSet<String>,
    /// Every group the host is in, directly or through children, without
    /// `all`, sorted the way Ansible applies group variables (by depth, then
    /// `ansible_group_priority`, then name). Indexes into `Inventory::groups`.
    sorted_groups: Vec<usize>,
    /// Where the host was first defined.
    defined_at: Node,
    /// The implicit `localhost`: not in the inventory, not in `all`.
    implicit: bool,
}

impl Host {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The variables written for this host in inventory sources (not those
    /// from groups or `host_vars/`; see `Inventory::host_vars`).
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The groups the host was listed under directly.
    pub fn direct_groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(String::as_str)
    }

    /// Where the host was first defined (for "defined here" messages).
    pub fn defined_at(&self) -> &Node {
        &self.defined_at
    }

    /// Whether this is the implicit `localhost`, which no source defines.
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }
}

/// A group of the inventory.
#[derive(Debug)]
pub struct Group {
    name: String,
    vars: Vars,
    /// Variables from `group_vars/`, one map per source directory.
    file_vars: Vec<Vars>,
    /// Hosts listed directly under the group, in order.
    hosts: IndexSet<String>,
    children: IndexSet<String>,
    parents: IndexSet<String>,
    /// `ansible_group_priority` (default 1): among groups of the same depth,
    /// a higher priority is applied later and so wins.
    priority: i64,
    /// The length of the longest path from `all` (0 for `all` itself).
    depth: usize,
    defined_at: Option<Node>,
}

impl Group {
    fn new(name: &str, defined_at: Option<Node>) -> Group {
        Group {
            name: name.to_string(),
            vars: Vars::new(),
            file_vars: Vec::new(),
            hosts: IndexSet::new(),
            children: IndexSet::new(),
            parents: IndexSet::new(),
            priority: 1,
            depth: 0,
            defined_at,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The variables written for this group in inventory sources.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// Hosts listed directly under the group (not those of its children).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(String::as_str)
    }

    pub fn children(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(String::as_str)
    }

    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.parents.iter().map(String::as_str)
    }

    pub fn priority(&self) -> i64 {
        self.priority
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Where the group was first defined; `None` for `all` and `ungrouped`
    /// unless a source names them.
    pub fn defined_at(&self) -> Option<&Node> {
        self.defined_at.as_ref()
    }
}

/// Hosts and groups read from inventory sources.
#[derive(Debug)]
pub struct Inventory {
    hosts: IndexMap<String, Host>,
    groups: IndexMap<String, Group>,
    /// One implicit host per name in `LOCALHOST_NAMES` that no source
    /// defines; patterns reach them only by naming them.
    implicit: Vec<Host>,
    /// How many source directories `group_vars/` and `host_vars/` were
    /// looked for in (the length of every `file_vars`).
    vars_dirs: usize,
}

impl Inventory {
    /// Loads one or more sources (`-i` may repeat), in order: YAML or INI
    /// files, or directories of them, plus the `group_vars/` and
    /// `host_vars/` beside each source (inside it, for a directory). Every
    /// problem in every file is reported, not just the first.
    pub fn load(paths: &[PathBuf]) -> Result<Inventory, Vec<InputError>> {
        loader::load(paths)
    }

    /// Every host, in the order the sources define them (the implicit
    /// `localhost` is not among them).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// Every group, in the order they were created (`all` and `ungrouped`
    /// first).
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A host by name, including the implicit `localhost` (and `127.0.0.1`,
    /// `::1`) when the inventory does not define it.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .get(name)
            .or_else(|| self.implicit.iter().find(|h| h.name == name))
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// The host's `group_names`: every group it is in, directly or through
    /// child groups, sorted, without `all`. Like Ansible, a host in no group
    /// is in `ungrouped`, and that name is listed.
    pub fn groups_of(&self, host: &str) -> Vec<&str> {
        let Some(host) = self.host(host) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = host
            .sorted_groups
            .iter()
            .filter_map(|&i| self.groups.get_index(i))
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// The hosts of a group and of all its descendants, in Ansible's order:
    /// the group's own hosts, then its children's (breadth first). This is
    /// `groups['name']` in templates and what `name[0]` indexes.
    pub fn group_hosts(&self, name: &str) -> Vec<&str> {
        let Some(group) = self.groups.get(name) else {
            return Vec::new();
        };
        let mut seen_groups: HashSet<&str> = HashSet::new();
        let mut seen_hosts: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        let mut level = vec![group];
        seen_groups.insert(&group.name);
        while !level.is_empty() {
            let mut next = Vec::new();
            for g in level {
                for h in &g.hosts {
                    if seen_hosts.insert(h) {
                        out.push(h.as_str());
                    }
                }
                for child in &g.children {
                    if seen_groups.insert(child)
                        && let Some(c) = self.groups.get(child)
                    {
                        next.push(c);
                    }
                }
            }
            level = next;
        }
        out
    }

    /// The `groups` magic variable: every group's hosts (see `group_hosts`).
    pub fn groups_dict(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|name| {
                let hosts = self.group_hosts(name).into_iter().map(String::from);
                (name.clone(), hosts.collect())
            })
            .collect()
    }

    /// The host's variables from inventory sources, merged with Ansible's
    /// precedence (each step overrides the ones before it):
    ///
    /// 1. `all`'s inline variables,
    /// 2. every other group's inline variables, parents before children
    ///    (by depth, then `ansible_group_priority`, then name),
    /// 3. `group_vars/all`,
    /// 4. `group_vars/<group>` in the same group order,
    /// 5. the host's inline variables,
    /// 6. `host_vars/<host>`.
    ///
    /// With several sources, steps 3, 4 and 6 go source by source. An
    /// unknown host has no variables.
    pub fn host_vars(&self, host: &str) -> Vars {
        let mut out = Vars::new();
        let Some(host) = self.host(host) else {
            return out;
        };
        let extend = |out: &mut Vars, vars: &Vars| {
            for (k, v) in vars {
                out.insert(k.clone(), v.clone());
            }
        };
        let groups: Vec<&Group> = host
            .sorted_groups
            .iter()
            .filter_map(|&i| self.groups.get_index(i).map(|(_, g)| g))
            .collect();
        let all = self.groups.get("all");
        if let Some(all) = all {
            extend(&mut out, &all.vars);
        }
        for g in &groups {
            extend(&mut out, &g.vars);
        }
        for source in 0..self.vars_dirs {
            if let Some(vars) = all.and_then(|all| all.file_vars.get(source)) {
                extend(&mut out, vars);
            }
        }
        for source in 0..self.vars_dirs {
            for g in &groups {
                if let Some(vars) = g.file_vars.get(source) {
                    extend(&mut out, vars);
                }
            }
        }
        extend(&mut out, &host.vars);
        for vars in &host.file_vars {
            extend(&mut out, vars);
        }
        out
    }

    /// The host's variables as plain JSON (origins dropped).
    pub fn host_vars_json(&self, host: &str) -> serde_json::Map<String, serde_json::Value> {
        self.host_vars(host)
            .into_iter()
            .map(|(k, v)| (k, v.value().clone()))
            .collect()
    }
}
