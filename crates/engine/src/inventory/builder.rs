//! The inventory under construction: groups, hosts and variables added by
//! every reader (INI, YAML, host lists, `group_vars`/`host_vars`), and the
//! problems found so far.
//!
//! It sits below the readers, which fill it in, and below `loader.rs`,
//! which chooses the readers for each source and finishes the inventory.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use miette::SourceSpan;

use super::{Group, Host, Inventory, LOCALHOST_NAMES, VarValue, Vars};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::yaml::{Node, Value};

/// An error about a file that has no text to point into (it could not be
/// read at all).
pub(super) fn io_error(path: &Path, what: &str, err: &std::io::Error) -> InputError {
    let src = SourceFile::new(path.display().to_string(), "");
    // A vault that cannot be decrypted says so, with the vault's own fix.
    if let Some(vault) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<crate::vault::VaultError>())
    {
        let help = miette::Diagnostic::help(vault).map(|h| h.to_string());
        return InputError::new(&src, SourceSpan::from((0, 0)), vault.to_string())
            .with_label("encrypted with Ansible Vault")
            .with_help(help.unwrap_or_default());
    }
    InputError::new(
        &src,
        SourceSpan::from((0, 0)),
        format!("{what} {}: {err}", path.display()),
    )
    .with_label("cannot be read")
    .with_help("check that the path exists and is readable")
}

/// The inventory under construction, and every problem found so far.
pub(super) struct Builder {
    inv: Inventory,
    errors: Vec<InputError>,
}

impl Builder {
    pub(super) fn new() -> Builder {
        let mut b = Builder {
            inv: Inventory {
                hosts: indexmap::IndexMap::new(),
                groups: indexmap::IndexMap::new(),
                implicit: Vec::new(),
                vars_dirs: 0,
            },
            errors: Vec::new(),
        };
        // Like Ansible, `ungrouped` is the first child of `all`, so it comes
        // first in `all`'s children.
        for name in ["all", "ungrouped"] {
            b.inv
                .groups
                .insert(name.to_string(), Group::new(name, None));
        }
        b.link("all", "ungrouped");
        b
    }

    pub(super) fn error(&mut self, err: InputError) {
        self.errors.push(err);
    }

    pub(super) fn has_group(&self, name: &str) -> bool {
        self.inv.groups.contains_key(name)
    }

    pub(super) fn has_host(&self, name: &str) -> bool {
        self.inv.hosts.contains_key(name)
    }

    /// The error for `names` (the hosts one range at `at` names) when
    /// adding them would take the inventory over
    /// [`MAX_HOSTS`](super::hostrange::MAX_HOSTS); hosts it already has are
    /// not counted again.
    pub(super) fn host_limit_error(&self, names: &[String], at: &Node) -> Option<InputError> {
        let new = names
            .iter()
            .filter(|n| !self.inv.hosts.contains_key(n.as_str()))
            .count();
        let limit = super::hostrange::MAX_HOSTS;
        (self.inv.hosts.len() + new > limit).then(|| {
            InputError::at(
                at,
                format!("the inventory would have more than {limit} hosts"),
            )
            .with_label(format!(
                "this adds {new} hosts to the {} already defined",
                self.inv.hosts.len()
            ))
            .with_help(format!(
                "{limit} hosts is dtrplay's limit for one inventory; check the range's bounds"
            ))
        })
    }

    pub(super) fn group_names(&self) -> impl Iterator<Item = &str> {
        self.inv.groups.keys().map(String::as_str)
    }

    /// Declares a group (again); `at` is where, for later messages.
    pub(super) fn add_group(&mut self, name: &str, at: &Node) {
        match self.inv.groups.get_mut(name) {
            Some(group) => {
                if group.defined_at.is_none() {
                    group.defined_at = Some(at.clone());
                }
            }
            None => {
                let group = Group::new(name, Some(at.clone()));
                self.inv.groups.insert(name.to_string(), group);
            }
        }
    }

    /// Adds a host (if new) and puts it in `group`. A `:port` written after
    /// the host name sets `ansible_port` when the host is first defined, as
    /// in Ansible.
    pub(super) fn add_host(&mut self, name: &str, group: &str, port: Option<u64>, at: &Node) {
        if !self.inv.hosts.contains_key(name) {
            let mut vars = Vars::new();
            if let Some(port) = port.filter(|&p| p != 0) {
                let origin = Node::new(Value::Int(port_value(port)), at.span, &at.src);
                vars.insert(
                    "ansible_port".to_string(),
                    VarValue::new(serde_json::Value::from(port), origin),
                );
            }
            let host = Host {
                name: name.to_string(),
                vars,
                file_vars: Vec::new(),
                groups: indexmap::IndexSet::new(),
                sorted_groups: Vec::new(),
                defined_at: at.clone(),
                implicit: false,
            };
            self.inv.hosts.insert(name.to_string(), host);
        }
        if let Some(g) = self.inv.groups.get_mut(group) {
            g.hosts.insert(name.to_string());
        }
        if let Some(h) = self.inv.hosts.get_mut(name) {
            h.groups.insert(group.to_string());
        }
    }

    /// Makes `child` a child of `parent` (both must exist), refusing loops.
    pub(super) fn add_child(&mut self, parent: &str, child: &str, at: &Node) {
        if parent == child {
            self.error(
                InputError::at(at, format!("group `{child}` cannot be a child of itself"))
                    .with_label("the group's own name")
                    .with_help("remove this entry from the group's children"),
            );
            return;
        }
        if self.ancestors(parent).contains(child) {
            self.error(
                InputError::at(
                    at,
                    format!("making `{child}` a child of `{parent}` creates a loop"),
                )
                .with_label(format!("`{child}` is already an ancestor of `{parent}`"))
                .with_help("a group cannot be, directly or indirectly, its own child"),
            );
            return;
        }
        self.link(parent, child);
    }

    fn link(&mut self, parent: &str, child: &str) {
        if let Some(p) = self.inv.groups.get_mut(parent) {
            p.children.insert(child.to_string());
        }
        if let Some(c) = self.inv.groups.get_mut(child) {
            c.parents.insert(parent.to_string());
        }
    }

    /// Every group above `name` (not `name` itself).
    fn ancestors(&self, name: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(g) = stack.pop() {
            if let Some(group) = self.inv.groups.get(&g) {
                for p in &group.parents {
                    if seen.insert(p.clone()) {
                        stack.push(p.clone());
                    }
                }
            }
        }
        seen
    }

    /// Sets a group variable. `ansible_group_priority` is not a variable in
    /// Ansible but the group's priority, and must be a whole number.
    pub(super) fn set_group_var(&mut self, group: &str, key: &str, value: VarValue) {
        if key == "ansible_group_priority" {
            match priority_of(value.value()) {
                Some(priority) => {
                    if let Some(g) = self.inv.groups.get_mut(group) {
                        g.priority = priority;
                    }
                }
                None => self.error(
                    InputError::at(value.origin(), "`ansible_group_priority` must be a whole number")
                        .with_label(format!("found {}", value.origin().kind()))
                        .with_help("groups of the same depth apply their variables in priority order; the default is 1"),
                ),
            }
            return;
        }
        if let Some(g) = self.inv.groups.get_mut(group) {
            g.vars.insert(key.to_string(), value);
        }
    }

    pub(super) fn set_host_var(&mut self, host: &str, key: &str, value: VarValue) {
        if let Some(h) = self.inv.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Applies Ansible's post-parse rules and precomputes what lookups need.
    pub(super) fn finish(mut self) -> (Inventory, Vec<InputError>) {
        // Every group without a parent is a child of `all`.
        let orphans: Vec<String> = self
            .inv
            .groups
            .values()
            .filter(|g| g.name != "all" && g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for name in orphans {
            self.link("all", &name);
        }
        self.reconcile_ungrouped();
        self.compute_depths();
        self.sort_host_groups();
        self.add_implicit_localhost();
        (self.inv, self.errors)
    }

    /// A host listed in no group (or only in `all`) goes to `ungrouped`; a
    /// host that the INI reader put in `ungrouped` and that is listed in a
    /// real group later leaves it.
    fn reconcile_ungrouped(&mut self) {
        let mut leave: HashSet<String> = HashSet::new();
        let mut join: Vec<String> = Vec::new();
        for host in self.inv.hosts.values_mut() {
            let real = host.groups.iter().any(|g| g != "all" && g != "ungrouped");
            if host.groups.contains("ungrouped") {
                if real {
                    host.groups.shift_remove("ungrouped");
                    leave.insert(host.name.clone());
                }
            } else if !real {
                host.groups.insert("ungrouped".to_string());
                join.push(host.name.clone());
            }
        }
        if let Some(ungrouped) = self.inv.groups.get_mut("ungrouped") {
            if !leave.is_empty() {
                ungrouped.hosts.retain(|h| !leave.contains(h));
            }
            ungrouped.hosts.extend(join);
        }
    }

    /// A group's depth is the longest path to it from `all`; variables of
    /// deeper (more specific) groups override shallower ones.
    fn compute_depths(&mut self) {
        let count = self.inv.groups.len();
        let mut depth: Vec<Option<usize>> = vec![None; count];
        for start in 0..count {
            // An explicit stack instead of recursion: nesting depth is user
            // input. Loops were refused in `add_child`, so this terminates.
            let mut stack = vec![start];
            while let Some(&i) = stack.last() {
                if depth[i].is_some() {
                    stack.pop();
                    continue;
                }
                let Some((_, group)) = self.inv.groups.get_index(i) else {
                    stack.pop();
                    continue;
                };
                let parents: Vec<usize> = group
                    .parents
                    .iter()
                    .filter_map(|p| self.inv.groups.get_index_of(p))
                    .collect();
                let pending: Vec<usize> = parents
                    .iter()
                    .copied()
                    .filter(|&p| depth[p].is_none())
                    .collect();
                if pending.is_empty() {
                    let d = parents
                        .iter()
                        .filter_map(|&p| depth[p])
                        .max()
                        .map_or(0, |d| d + 1);
                    depth[i] = Some(d);
                    stack.pop();
                } else {
                    stack.extend(pending);
                }
            }
        }
        for (i, group) in self.inv.groups.values_mut().enumerate() {
            group.depth = depth[i].unwrap_or(0);
        }
    }

    /// Gives each host the list of its groups (direct and inherited, without
    /// `all`) in the order their variables apply.
    fn sort_host_groups(&mut self) {
        let groups = &self.inv.groups;
        // Ancestors per group, computed once: many hosts share groups.
        let mut closure: HashMap<usize, Vec<usize>> = HashMap::new();
        for host in self.inv.hosts.values_mut() {
            let mut mine: Vec<usize> = Vec::new();
            for g in &host.groups {
                let Some(i) = groups.get_index_of(g) else {
                    continue;
                };
                let up = closure
                    .entry(i)
                    .or_insert_with(|| with_ancestors(groups, i));
                mine.extend(up.iter().copied());
            }
            mine.sort_unstable();
            mine.dedup();
            mine.retain(|&i| groups.get_index(i).is_some_and(|(name, _)| name != "all"));
            mine.sort_by(|&a, &b| {
                let (ga, gb) = (&groups[a], &groups[b]);
                (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
            });
            host.sorted_groups = mine;
        }
    }

    /// Ansible answers a pattern naming `localhost` with an implicit local
    /// host unless the inventory defines one of the localhost names itself.
    fn add_implicit_localhost(&mut self) {
        if LOCALHOST_NAMES
            .iter()
            .any(|name| self.inv.hosts.contains_key(*name))
        {
            return;
        }
        let src = SourceFile::new("implicit localhost", "ansible_connection: local");
        let span = SourceSpan::from((20, 5));
        for name in LOCALHOST_NAMES {
            let origin = Node::new(Value::Str("local".to_string()), span, &src);
            let mut vars = Vars::new();
            vars.insert(
                "ansible_connection".to_string(),
                VarValue::new(serde_json::Value::from("local"), origin.clone()),
            );
            self.inv.implicit.push(Host {
                name: name.to_string(),
                vars,
                file_vars: Vec::new(),
                groups: indexmap::IndexSet::new(),
                sorted_groups: Vec::new(),
                defined_at: origin,
                implicit: true,
            });
        }
    }
}

/// A group and every group above it, as indexes.
fn with_ancestors(groups: &indexmap::IndexMap<String, Group>, start: usize) -> Vec<usize> {
    let mut seen = vec![start];
    let mut stack = vec![start];
    while let Some(i) = stack.pop() {
        let Some((_, group)) = groups.get_index(i) else {
            continue;
        };
        for p in &group.parents {
            if let Some(pi) = groups.get_index_of(p)
                && !seen.contains(&pi)
            {
                seen.push(pi);
                stack.push(pi);
            }
        }
    }
    seen
}

/// Ansible reads the priority with Python's `int()`: numbers and numeric
/// strings work, anything else is an error.
fn priority_of(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        serde_json::Value::Bool(b) => Some(i64::from(*b)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn port_value(port: u64) -> i64 {
    i64::try_from(port).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_accepts_numbers_and_numeric_strings() {
        assert_eq!(priority_of(&serde_json::json!(10)), Some(10));
        assert_eq!(priority_of(&serde_json::json!("7")), Some(7));
        assert_eq!(priority_of(&serde_json::json!("high")), None);
        assert_eq!(priority_of(&serde_json::json!([1])), None);
    }
}
