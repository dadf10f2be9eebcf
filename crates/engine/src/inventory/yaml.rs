//! YAML (and JSON) inventories, read the way Ansible's `yaml` inventory
//! plugin reads them.
//!
//! The top level maps group names to groups; a group holds `hosts`,
//! `children` and `vars`, and children are groups again, to any depth. A
//! group may be written in several places (at the top level and as someone's
//! child); the definitions merge. Host names may hold ranges
//! (`node[01:20]`) and a `:port`.
//!
//! Ansible only warns about a key it does not know inside a group and then
//! ignores it, which turns a typo (`host:` for `hosts:`) into hosts that are
//! silently missing. Here it is an error with a suggestion.

use super::VarValue;
use super::builder::Builder;
use super::hostrange;
use crate::error::InputError;
use crate::suggest::did_you_mean;
use crate::yaml::{Node, Value};

const GROUP_KEYS: [&str; 3] = ["hosts", "children", "vars"];

/// Reads a parsed YAML inventory document into the builder.
pub(super) fn read(b: &mut Builder, root: &Node) {
    let entries = match &root.value {
        // Ansible rejects an empty YAML file, then its INI plugin reads it as
        // an empty inventory; the net effect is no hosts and no error.
        Value::Null => return,
        Value::Map(entries) => entries,
        _ => {
            b.error(
                InputError::at(root, format!("{} is not an inventory", root.src.name()))
                    .with_label(format!(
                        "expected a mapping of group names, found {}",
                        root.kind()
                    ))
                    .with_help("a YAML inventory starts with group names, usually `all:`"),
            );
            return;
        }
    };
    if let Some((key, _)) = entries.iter().find(|(k, _)| k.key() == "plugin") {
        b.error(
            InputError::at(key, "inventory plugin configurations are not supported")
                .with_label("a `plugin:` key configures a dynamic inventory plugin")
                .with_help("write the hosts out as a static YAML or INI inventory"),
        );
        return;
    }
    for (key, value) in entries {
        group(b, key, value);
    }
}

/// Reads one group definition and returns its name, or `None` when it is
/// unusable (the error is already recorded).
fn group(b: &mut Builder, key: &Node, value: &Node) -> Option<String> {
    let name = key.key().to_string();
    if name.is_empty() {
        b.error(
            InputError::at(key, "a group name cannot be empty")
                .with_label("empty group name")
                .with_help("give the group a name, such as `webservers:`"),
        );
        return None;
    }
    let entries = match &value.value {
        Value::Null => {
            b.add_group(&name, key);
            return Some(name);
        }
        Value::Map(entries) => entries,
        _ => {
            b.error(
                InputError::at(value, format!("group `{name}` must be a mapping"))
                    .with_label(format!(
                        "expected `hosts`, `children` or `vars`, found {}",
                        value.kind()
                    ))
                    .with_help(group_shape_help(&name)),
            );
            return None;
        }
    };
    b.add_group(&name, key);
    for (section, body) in entries {
        match section.key() {
            "vars" => vars(b, &name, body),
            "children" => children(b, &name, body),
            "hosts" => hosts(b, &name, body),
            other => {
                let help = did_you_mean(other, GROUP_KEYS).unwrap_or_else(|| {
                    format!(
                        "a group holds only `hosts`, `children` and `vars`; to make `{other}` a \
                         group inside `{name}`, put it under `children:`"
                    )
                });
                b.error(
                    InputError::at(section, format!("unknown key `{other}` in group `{name}`"))
                        .with_label("expected `hosts`, `children` or `vars`")
                        .with_help(help),
                );
            }
        }
    }
    Some(name)
}

fn group_shape_help(name: &str) -> String {
    format!("write it as `{name}:` followed by indented `hosts:`, `children:` or `vars:`")
}

fn vars(b: &mut Builder, group: &str, body: &Node) {
    match &body.value {
        Value::Null => {}
        Value::Map(entries) => {
            for (k, v) in entries {
                b.set_group_var(group, k.key(), VarValue::from_node(v));
            }
        }
        _ => b.error(not_a_mapping(body, group, "vars")),
    }
}

fn children(b: &mut Builder, group_name: &str, body: &Node) {
    match &body.value {
        Value::Null => {}
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(child) = group(b, k, v) {
                    b.add_child(group_name, &child, k);
                }
            }
        }
        // Ansible accepts a single child written as a string.
        Value::Str(child) if !child.is_empty() => {
            b.add_group(child, body);
            b.add_child(group_name, child, body);
        }
        _ => b.error(not_a_mapping(body, group_name, "children")),
    }
}

fn hosts(b: &mut Builder, group: &str, body: &Node) {
    match &body.value {
        Value::Null => {}
        Value::Map(entries) => {
            for (k, v) in entries {
                host(b, group, k, v);
            }
        }
        // Ansible accepts a single host written as a string.
        Value::Str(_) => {
            host_names(b, group, body);
        }
        _ => b.error(not_a_mapping(body, group, "hosts")),
    }
}

/// Adds the host(s) a key names and returns their names.
fn host_names(b: &mut Builder, group: &str, key: &Node) -> Vec<String> {
    let text = key.scalar_text().unwrap_or_default();
    if text.is_empty() {
        b.error(
            InputError::at(key, "a host name cannot be empty")
                .with_label("empty host name")
                .with_help("write the host's name or address"),
        );
        return Vec::new();
    }
    let (pattern, port) = hostrange::split_port(&text);
    let names = match hostrange::expand(&pattern, hostrange::MAX_HOSTS) {
        Ok(names) => names,
        Err(err) => {
            b.error(
                InputError::at(key, format!("invalid host range in `{text}`"))
                    .with_label(err.to_string())
                    .with_help(hostrange::HELP),
            );
            return Vec::new();
        }
    };
    if let Some(err) = b.host_limit_error(&names, key) {
        b.error(err);
        return Vec::new();
    }
    for name in &names {
        b.add_host(name, group, port, key);
    }
    names
}

fn host(b: &mut Builder, group: &str, key: &Node, value: &Node) {
    let entries = match &value.value {
        Value::Null => None,
        Value::Map(entries) => Some(entries),
        _ => {
            let name = key.key();
            let help = format!(
                "leave `{name}:` empty, or follow it with indented `key: value` lines of host variables"
            );
            b.error(
                InputError::at(
                    value,
                    format!("the variables of host `{name}` must be a mapping"),
                )
                .with_label(format!(
                    "expected a mapping or nothing, found {}",
                    value.kind()
                ))
                .with_help(help),
            );
            return;
        }
    };
    let names = host_names(b, group, key);
    let Some(entries) = entries else {
        return;
    };
    for name in &names {
        for (k, v) in entries {
            b.set_host_var(name, k.key(), VarValue::from_node(v));
        }
    }
}

fn not_a_mapping(body: &Node, group: &str, what: &str) -> InputError {
    let help = match (what, &body.value) {
        ("hosts", Value::Seq(_)) => {
            "list hosts as mapping keys: `hosts:` then one `name:` per line, each followed by \
             its variables or nothing"
                .to_string()
        }
        ("children", Value::Seq(_)) => {
            "list child groups as mapping keys: `children:` then one `group:` per line".to_string()
        }
        _ => format!("write `{what}` as indented `key: value` lines"),
    };
    InputError::at(
        body,
        format!("`{what}` of group `{group}` must be a mapping"),
    )
    .with_label(format!("expected a mapping, found {}", body.kind()))
    .with_help(help)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Inventory;
    use super::super::loader::load_texts;
    use crate::error::InputError;

    fn load(text: &str) -> Result<Inventory, Vec<InputError>> {
        load_texts(&[("hosts.yml", text)])
    }

    /// The (message, help) of every error of a broken inventory.
    fn errors(text: &str) -> Vec<(String, Option<String>)> {
        match load(text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.message, e.help)).collect(),
        }
    }

    #[test]
    fn groups_defined_twice_merge_and_children_may_have_two_parents() {
        let inv = load(
            "web:\n  hosts:\n    w1:\n  vars:\n    a: 1\nprod:\n  children:\n    web:\n      hosts:\n        w2:\n      vars:\n        b: 2\nstaging:\n  children:\n    web:\n",
        )
        .map_err(|e| e.len())
        .unwrap_or_else(|n| panic!("{n} errors"));
        let web = inv.group("web").unwrap_or_else(|| panic!("no web"));
        assert_eq!(web.hosts().collect::<Vec<_>>(), ["w1", "w2"]);
        assert_eq!(web.parents().collect::<Vec<_>>(), ["prod", "staging"]);
        assert_eq!(
            inv.host_vars_json("w1"),
            json!({"a": 1, "b": 2})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let found = errors("all:\n  childen:\n    web:\n  webservers:\n    x:\n");
        assert_eq!(found[0].0, "unknown key `childen` in group `all`");
        assert_eq!(found[0].1.as_deref(), Some("did you mean `children`?"));
        assert_eq!(found[1].0, "unknown key `webservers` in group `all`");
        assert!(
            found[1]
                .1
                .as_deref()
                .is_some_and(|h| h.contains("put it under `children:`"))
        );
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let found = errors("web:\n  hosts:\n    - w1\n    - w2\n");
        assert_eq!(found[0].0, "`hosts` of group `web` must be a mapping");
        assert!(
            found[0]
                .1
                .as_deref()
                .is_some_and(|h| h.contains("mapping keys"))
        );
        assert_eq!(
            errors("web: [a, b]\n")[0].0,
            "group `web` must be a mapping"
        );
        assert_eq!(
            errors("web:\n  hosts:\n    w1: 22\n")[0].0,
            "the variables of host `w1` must be a mapping"
        );
        assert_eq!(errors("- web\n")[0].0, "hosts.yml is not an inventory");
        assert_eq!(
            errors("plugin: aws_ec2\n")[0].0,
            "inventory plugin configurations are not supported"
        );
        assert_eq!(
            errors("web:\n  vars:\n    ansible_group_priority: high\n")[0].0,
            "`ansible_group_priority` must be a whole number"
        );
    }

    #[test]
    fn group_loops_are_errors() {
        let found = errors("a:\n  children:\n    b:\n      children:\n        a:\n");
        assert_eq!(found.len(), 1);
        // The inner edge (b → a) is added first, as in Ansible; the outer
        // one closes the loop.
        assert_eq!(found[0].0, "making `b` a child of `a` creates a loop");
        assert_eq!(
            errors("a:\n  children:\n    a:\n")[0].0,
            "group `a` cannot be a child of itself"
        );
    }

    #[test]
    fn shorthand_and_empty_forms_are_accepted() {
        let inv = load("web:\n  hosts: w1\n  children: api\n")
            .unwrap_or_else(|e| panic!("{} errors", e.len()));
        assert!(inv.host("w1").is_some());
        assert_eq!(
            inv.group("web").map(|g| g.children().collect::<Vec<_>>()),
            Some(vec!["api"])
        );
        let empty = load("").unwrap_or_else(|e| panic!("{} errors", e.len()));
        assert_eq!(empty.hosts().count(), 0);
    }
}
