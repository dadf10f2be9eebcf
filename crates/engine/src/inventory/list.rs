//! `dtrplay inventory --list` and `--host`: the inventory as
//! `ansible-inventory` prints it.
//!
//! Tools (and people) compare these outputs with Ansible's, so the shape is
//! Ansible's exactly: every non-empty group with its direct `hosts` and its
//! `children` (empty lists omitted, empty groups omitted, `all` without
//! `hosts`), and `_meta.hostvars` with each host's merged variables (hosts
//! without variables omitted). `to_list_string` also reproduces Ansible's
//! formatting (sorted keys, four-space indent), so the two outputs can be
//! diffed directly.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Inventory;
use crate::error::Error;
use crate::suggest::did_you_mean;

/// What `dtrplay inventory -i … [--list | --host NAME]` prints (without a
/// trailing newline): the whole inventory, or one host's variables, in
/// `ansible-inventory`'s format.
pub fn cli_output(paths: &[PathBuf], host: Option<&str>) -> Result<String, Error> {
    let inv = Inventory::load(paths)?;
    let Some(name) = host else {
        return Ok(inv.to_list_string());
    };
    match inv.host_json(name) {
        Some(vars) => Ok(ansible_json(&vars)),
        None => Err(Error::Usage {
            message: format!("`{name}` is not a host of the inventory"),
            help: did_you_mean(name, inv.hosts.keys().map(String::as_str))
                .or_else(|| Some("`dtrplay inventory --list` shows every host".to_string())),
        }),
    }
}

impl Inventory {
    /// The `ansible-inventory --list` JSON.
    pub fn to_list_json(&self) -> Value {
        let mut out = Map::new();
        let mut seen: HashSet<&str> = HashSet::new();
        self.format_group("all", &mut seen, &mut out);
        let mut hostvars = Map::new();
        for host in self.hosts.keys() {
            let vars = self.host_vars_json(host);
            if !vars.is_empty() {
                hostvars.insert(host.clone(), Value::Object(vars));
            }
        }
        out.insert(
            "_meta".to_string(),
            json!({ "hostvars": hostvars, "profile": "inventory_legacy" }),
        );
        Value::Object(out)
    }

    /// One group and, the first time each is met, its descendants, as
    /// Ansible's `json_inventory` walks them.
    fn format_group<'a>(
        &'a self,
        name: &'a str,
        seen: &mut HashSet<&'a str>,
        out: &mut Map<String, Value>,
    ) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let mut entry = Map::new();
        if name != "all" && !group.hosts.is_empty() {
            entry.insert("hosts".to_string(), json!(group.hosts));
        }
        if !group.children.is_empty() {
            entry.insert("children".to_string(), json!(group.children));
        }
        for child in &group.children {
            if seen.insert(child) {
                self.format_group(child, seen, out);
            }
        }
        if !entry.is_empty() {
            out.insert(name.to_string(), Value::Object(entry));
        }
    }

    /// The `ansible-inventory --host <name>` JSON: the host's merged
    /// variables. `None` for a name that is neither in the inventory nor a
    /// localhost name.
    pub fn host_json(&self, host: &str) -> Option<Value> {
        self.host(host)
            .map(|_| Value::Object(self.host_vars_json(host)))
    }

    /// `to_list_json` formatted as `ansible-inventory --list` prints it.
    pub fn to_list_string(&self) -> String {
        ansible_json(&self.to_list_json())
    }
}

/// JSON as Python's `json.dumps(sort_keys=True, indent=4)` writes it, which
/// is how `ansible-inventory` prints.
pub fn ansible_json(value: &Value) -> String {
    let sorted = sort_keys(value);
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    // Serializing a `Value` into memory cannot fail.
    if sorted.serialize(&mut ser).is_err() {
        return sorted.to_string();
    }
    String::from_utf8(buf).unwrap_or_else(|_| sorted.to_string())
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}
