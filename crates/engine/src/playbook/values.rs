//! Typed keyword values: booleans, seconds, identifiers, string lists,
//! conditions and mappings, each read from its YAML node with a clear error
//! naming the keyword when the node has another type; and unknown keys
//! reported with the nearest known one.
//!
//! Every keyword of plays, blocks, roles and tasks is read through these,
//! so that the same mistake gets the same message wherever it is made.

use crate::error::InputError;
use crate::params::to_bool;
use crate::playbook::loader::Loader;
use crate::suggest;
use crate::yaml::{self, Node, Value};

impl Loader<'_> {
    pub(crate) fn unknown_key(&mut self, key: &Node, name: &str, known: &[&str], what: &str) {
        let help = suggest::did_you_mean(name, known.iter().copied())
            .unwrap_or_else(|| format!("known keys: {}", known.join(", ")));
        self.errors.push(
            InputError::at(key, format!("unknown {what} `{name}`"))
                .with_label(format!("not a {what}"))
                .with_help(help),
        );
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

    pub(crate) fn seconds(&mut self, node: &Node, what: &str) -> Option<u64> {
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
    pub(crate) fn whole_or_template(&mut self, node: &Node, what: &str) -> Option<Node> {
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

/// A module or keyword name without Ansible's collection prefixes.
pub(crate) fn strip_builtin(key: &str) -> &str {
    ["ansible.builtin.", "ansible.legacy."]
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key)
}
