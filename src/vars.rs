//! Variables of a host, layered by Ansible's precedence.
//!
//! From lowest to highest: inventory variables (group, then host, already
//! merged by `inventory`), play `vars`, play `vars_files`, task `vars`, facts
//! (`register` and `set_fact`), extra variables (`-e`). Magic variables
//! (`inventory_hostname`, `group_names`, `groups`, `hostvars`,
//! `playbook_dir`, `ansible_check_mode`, ...) are added on top, as Ansible
//! does.

use serde_json::{Map, Value};

/// The value Ansible users pass as `"{{ omit }}"` to leave an argument out.
pub const OMIT: &str = "__omit_place_holder__dtrplay__";

/// Layers `higher` over `lower`, key by key (no deep merge, as Ansible's
/// default `hash_behaviour: replace`).
pub fn layer(lower: &mut Map<String, Value>, higher: &Map<String, Value>) {
    for (k, v) in higher {
        lower.insert(k.clone(), v.clone());
    }
}

/// Removes arguments whose rendered value is the `omit` placeholder.
pub fn drop_omitted(args: &mut Map<String, Value>) {
    args.retain(|_, v| v.as_str() != Some(OMIT));
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

    #[test]
    fn omitted_arguments_are_dropped() {
        let mut args = json!({"a": OMIT, "b": 1})
            .as_object()
            .cloned()
            .unwrap_or_default();
        drop_omitted(&mut args);
        assert_eq!(Value::Object(args), json!({"b": 1}));
    }
}
