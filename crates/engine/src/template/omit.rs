//! `omit`: the placeholder Ansible users pass to leave an argument out.
//!
//! A task argument whose rendered value is exactly the placeholder is
//! dropped before the task sees its arguments, as in Ansible.

use serde_json::{Map, Value};

/// The value Ansible users pass as `"{{ omit }}"` to leave an argument out.
pub const OMIT: &str = "__omit_place_holder__dtrplay__";

/// Removes arguments whose rendered value is the `omit` placeholder.
pub fn drop_omitted(args: &mut Map<String, Value>) {
    args.retain(|_, v| v.as_str() != Some(OMIT));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
