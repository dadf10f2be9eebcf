//! Variables of a host, layered by Ansible's precedence.
//!
//! From lowest to highest: inventory variables (group, then host, already
//! merged by `inventory`), play `vars`, play `vars_files`, task `vars`, facts
//! (`register` and `set_fact`), extra variables (`-e`). Magic variables
//! (`inventory_hostname`, `group_names`, `groups`, `hostvars`,
//! `playbook_dir`, `ansible_check_mode`, ...) are added on top, as Ansible
//! does.

use serde_json::{Map, Value};

use crate::template::Templates;

/// The value Ansible users pass as `"{{ omit }}"` to leave an argument out.
pub const OMIT: &str = "__omit_place_holder__dtrplay__";

/// Layers `higher` over `lower`, key by key (no deep merge, as Ansible's
/// default `hash_behaviour: replace`).
pub fn layer(lower: &mut Map<String, Value>, higher: &Map<String, Value>) {
    for (k, v) in higher {
        lower.insert(k.clone(), v.clone());
    }
}

/// Renders variables whose values are templates, in passes, so that a
/// variable may use another one (Ansible templates variables lazily). One
/// that cannot be rendered yet stays as written, and fails with a precise
/// message where a task uses it.
pub fn resolve(templates: &Templates, mut vars: Map<String, Value>) -> Map<String, Value> {
    for _ in 0..8 {
        let pending: Vec<String> = vars
            .iter()
            .filter(|(_, v)| has_template(v))
            .map(|(k, _)| k.clone())
            .collect();
        if pending.is_empty() {
            break;
        }
        let mut progress = false;
        for key in pending {
            let Some(value) = vars.get(&key).cloned() else {
                continue;
            };
            let scope = crate::template::Vars::from(vars.clone());
            if let Ok(rendered) = render_value(templates, &value, &scope)
                && rendered != value
            {
                vars.insert(key, rendered);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    vars
}

/// Renders every string inside a JSON value.
pub fn render_value(
    templates: &Templates,
    value: &Value,
    vars: &crate::template::Vars,
) -> Result<Value, crate::template::TemplateError> {
    Ok(match value {
        Value::String(s) => templates.render_str(s, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(templates, v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), render_value(templates, v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Whether a value holds a template anywhere inside.
pub fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => crate::yaml::is_template(s),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(o) => o.values().any(has_template),
        _ => false,
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
