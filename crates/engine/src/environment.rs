//! The `environment` keyword: variables exported to a task's script on the
//! host.
//!
//! As in Ansible, `environment` may be set on the play, on every enclosing
//! block (role entry, include, task file call) and on the task; the
//! mappings are merged outermost first, so an inner level's value for a
//! name wins. Each level is a mapping (values may be templates) or a
//! template that renders to one (`environment: "{{ proxy_env }}"`). Values
//! are rendered per host when the task runs.
//!
//! The result is exported at the top of the task's script
//! ([`exports`]), inside the subshell the request runs in, after `sudo` or
//! `su` has started the escalated shell: so it reaches every program the
//! task starts, as the become user, and nothing after the task. Values are
//! quoted as single-quoted shell words, so no byte of them is interpreted.
//! A value that is a secret (by its variable's name, by origin) is masked
//! like any other in what dtrplay shows, `-vv` scripts included.

use serde_json::Value;

use crate::error::InputError;
use crate::yaml::Node;

/// Checks one level's `environment` before any host is known: a mapping
/// of valid names to scalars, or a template.
pub fn check(node: &Node) -> Vec<InputError> {
    if node.has_template() && node.as_map().is_none() {
        return Vec::new();
    }
    let Some(entries) = node.as_map() else {
        return vec![
            InputError::at(
                node,
                format!("`environment` must be a mapping, not {}", node.kind()),
            )
            .with_label("expected NAME: value pairs")
            .with_help("for example `environment: {HTTPS_PROXY: \"http://proxy:3128\"}`"),
        ];
    };
    let mut errors = Vec::new();
    for (key, value) in entries {
        if !is_name(key.key()) {
            errors.push(
                InputError::at(
                    key,
                    format!("`{}` is not an environment variable name", key.key()),
                )
                .with_label("letters, digits and `_`, not starting with a digit")
                .with_help("a shell can only export names like `HTTP_PROXY` or `app_home`"),
            );
        }
        if value.as_map().is_some() || value.as_seq().is_some() {
            errors.push(
                InputError::at(
                    value,
                    format!(
                        "the value of `{}` must be a string, not {}",
                        key.key(),
                        value.kind()
                    ),
                )
                .with_label("expected a string or a number"),
            );
        }
    }
    errors
}

/// Why a task's environment cannot be used on a host.
#[derive(Debug, Clone, thiserror::Error)]
#[error("environment: {message}")]
pub struct EnvError {
    pub message: String,
}

/// The variables of `levels` (outermost first), rendered with `render`;
/// an inner level's value for a name replaces an outer one in place.
pub fn resolve(
    levels: &[&Node],
    render: &dyn Fn(&Node) -> Result<Value, InputError>,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |name: String, value: String| match out.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => out.push((name, value)),
    };
    for level in levels {
        let rendered = render(level).map_err(|e| EnvError { message: e.message })?;
        let Value::Object(map) = rendered else {
            if rendered.is_null() {
                continue;
            }
            return Err(EnvError {
                message: format!("expected a mapping of variables, not {}", kind(&rendered)),
            });
        };
        for (name, value) in map {
            if !is_name(&name) {
                return Err(EnvError {
                    message: format!("`{name}` is not an environment variable name"),
                });
            }
            let text = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(EnvError {
                        message: format!("the value of `{name}` is {}, not a string", kind(&other)),
                    });
                }
            };
            set(name, text);
        }
    }
    Ok(out)
}

/// The shell lines that export `vars`, to put before a script.
pub fn exports(vars: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in vars {
        out.push_str("export ");
        out.push_str(name);
        out.push_str("='");
        out.push_str(&value.replace('\'', r"'\''"));
        out.push_str("'\n");
    }
    out
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn node(yaml: &str) -> Node {
        crate::yaml::parse(&SourceFile::new("t.yml", yaml)).expect("yaml")
    }

    #[test]
    fn inner_levels_win_in_place_and_values_are_quoted() {
        let play = node("A: one\nB: \"it's\"\n");
        let task = node("A: two\nC: 3\n");
        let vars = resolve(&[&play, &task], &|n| Ok(n.to_json())).expect("resolves");
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "two".to_string()),
                ("B".to_string(), "it's".to_string()),
                ("C".to_string(), "3".to_string()),
            ]
        );
        assert_eq!(exports(&vars[1..2]), "export B='it'\\''s'\n");
    }

    #[test]
    fn bad_names_and_shapes_are_refused_at_load_time() {
        assert_eq!(check(&node("1A: x\nB: [1]\n")).len(), 2);
        assert_eq!(check(&node("[A]\n")).len(), 1);
        assert!(check(&node("\"{{ proxy_env }}\"\n")).is_empty());
        assert!(check(&node("HTTP_PROXY: \"{{ proxy }}\"\n")).is_empty());
    }
}
