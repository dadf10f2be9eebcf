//! Variables that read an environment variable which is not set.
//!
//! `lookup('env', 'UCP_PASSWORD')` with `UCP_PASSWORD` unset evaluates to an
//! empty string, as in Ansible. What fails later ("`ucp_password` is not
//! set") then blames the inventory, while the fix is an `export`. So before
//! anything connects, `apply`, `plan` and `doctor` name each such variable
//! and the environment variable it waits for. The scan reads the variables
//! as written (nothing is rendered) and only recognises literal names; a
//! lookup with a `default=` is left alone, since its author planned for an
//! unset variable.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::inventory::Inventory;
use crate::playbook::Playbook;

/// `lookup('env', 'NAME' ...)` or `lookup("env", "NAME" ...)`, up to the
/// closing parenthesis, to see whether a default follows.
static ENV_LOOKUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]([^)]*)\)"#)
        .expect("a valid regex")
});

/// A variable that reads an unset environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetEnv {
    /// The variable, e.g. `ucp_password`.
    pub var: String,
    /// The environment variable it reads, e.g. `UCP_PASSWORD`.
    pub env: String,
}

impl UnsetEnv {
    /// The warning people read.
    pub fn message(&self) -> String {
        format!(
            "`{}` reads lookup('env', '{}'), but the environment variable {} is not set, so `{}` is empty: export {} before running",
            self.var, self.env, self.env, self.var, self.env
        )
    }
}

/// The unset environment variables behind the inventory's variables (every
/// group and host) and, when given, the playbook's play variables. Each
/// variable is named once, in the order it is first seen.
pub fn unset(inventory: &Inventory, playbook: Option<&Playbook>) -> Vec<UnsetEnv> {
    let mut found = Vec::new();
    let groups = inventory.groups().flat_map(|g| g.vars().iter());
    let hosts = inventory.hosts().flat_map(|h| h.vars().iter());
    for (name, value) in groups.chain(hosts) {
        scan(name, value.value(), &mut found);
    }
    for play in playbook.iter().flat_map(|p| p.plays.iter()) {
        for (key, value) in &play.vars {
            scan(
                &key.scalar_text().unwrap_or_default(),
                &value.to_json(),
                &mut found,
            );
        }
    }
    found
}

fn scan(var: &str, value: &Value, found: &mut Vec<UnsetEnv>) {
    match value {
        Value::String(text) => {
            for caps in ENV_LOOKUP.captures_iter(text) {
                let env = &caps[1];
                if caps[2].contains("default") || std::env::var_os(env).is_some() {
                    continue;
                }
                let entry = UnsetEnv {
                    var: var.to_string(),
                    env: env.to_string(),
                };
                if !found.contains(&entry) {
                    found.push(entry);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| scan(var, v, found)),
        Value::Object(map) => map.values().for_each(|v| scan(var, v, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<UnsetEnv> {
        let mut found = Vec::new();
        scan("v", &Value::from(text), &mut found);
        found
    }

    #[test]
    fn names_only_unset_variables_without_a_default() {
        let unset = "DTRPLAY_TEST_SURELY_UNSET_VARIABLE";
        assert_eq!(
            vars(&format!("{{{{ lookup('env', '{unset}') }}}}")),
            [UnsetEnv {
                var: "v".into(),
                env: unset.into()
            }]
        );
        assert_eq!(
            vars(&format!("{{{{ lookup(\"env\",\"{unset}\") }}}}")).len(),
            1
        );
        assert!(vars(&format!("{{{{ lookup('env', '{unset}', default='x') }}}}")).is_empty());
        assert!(vars("{{ lookup('env', 'PATH') }}").is_empty());
        assert!(vars(&format!("{{{{ lookup('file', '{unset}') }}}}")).is_empty());
    }
}
