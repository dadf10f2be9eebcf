//! A module's documented options as a `params::Spec`, so that `validate`
//! checks a call of an ansible-core module the way it checks a built-in:
//! unknown options and missing required ones, at the call's YAML.
//!
//! Only names are checked here. Types, choices and defaults stay the
//! module's business: it applies them itself, with Ansible's own rules
//! (`yes` for a `str` option becomes `"True"`, a dict may be written as
//! `k=v` text), so dtrplay passes values through untouched rather than
//! coercing them by different rules.

use crate::params::{Kind, Param, Spec};

use super::helper::Doc;

/// The spec of a module, named as the playbook wrote it.
pub fn from_doc(name: &str, doc: &Doc) -> Spec {
    let params = doc
        .options
        .iter()
        .map(|(option, o)| Param {
            name: option.clone(),
            kind: Kind::Raw,
            required: o.required,
            default: None,
            choices: Vec::new(),
            aliases: o.aliases.clone(),
            secret: o.no_log,
        })
        .collect();
    let mut spec = Spec::new(name, params);
    spec.facts = doc.facts.clone();
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_names_aliases_requirements_and_secrets() {
        let doc: Doc = serde_json::from_value(serde_json::json!({
            "found": true,
            "fqcn": "ansible.builtin.x",
            "options": {
                "path": {"type": "path", "required": true, "aliases": ["dest"]},
                "password": {"type": "str", "no_log": true},
            }
        }))
        .expect("a doc");
        let spec = from_doc("x", &doc);
        assert_eq!(spec.name, "x");
        let path = spec.param("dest").expect("the alias answers");
        assert_eq!(path.name, "path");
        assert!(path.required);
        assert_eq!(path.kind, Kind::Raw);
        assert_eq!(spec.secret_params().collect::<Vec<_>>(), ["password"]);
    }
}
