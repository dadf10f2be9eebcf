//! The manifest format shared by every custom task: how a user declares the
//! parameters of a task type they add.
//!
//! Both YAML task files (`tasks/<name>.yml`) and executable tasks
//! (`library/<name>` with its `library/<name>.yml`) start with a `params:`
//! mapping. It is parsed here, once, into the same `params::Param`s the
//! built-ins use, so a custom task's call is validated exactly as strictly as
//! a built-in's: unknown and missing arguments, literal values of the wrong
//! type, values outside `choices`, all reported at the call site before any
//! host is contacted.
//!
//! The manifest itself is checked just as strictly, because a mistake in it
//! would otherwise surface much later, as a puzzling error in every call. An
//! unknown type, a default that does not fit its type or its choices, a
//! parameter both required and defaulted: each is an `InputError` pointing
//! at the manifest, with a suggestion when one is likely.
//!
//! ```yaml
//! params:
//!   path: {type: path, required: true, aliases: [dest]}
//!   state: {type: str, choices: [present, absent], default: present}
//!   token: {type: str, secret: true}
//!   backup: bool            # short form: only the type
//! ```

use crate::error::InputError;
use crate::params::{Kind, Param, Spec};
use crate::suggest;
use crate::yaml::{Node, Value};

/// The keys a parameter's mapping may have.
const PARAM_KEYS: [&str; 8] = [
    "type",
    "required",
    "default",
    "choices",
    "aliases",
    "secret",
    "no_log",
    "description",
];

/// Ansible option types that dtrplay does not have, with what to use instead.
/// Ported modules declare them, so they get a precise answer rather than a
/// generic "unknown type".
const ANSIBLE_ONLY_TYPES: [(&str, &str); 6] = [
    ("float", "raw"),
    ("json", "raw"),
    ("jsonarg", "raw"),
    ("bytes", "str"),
    ("bits", "str"),
    ("sid", "str"),
];

/// Parses the value of a `params:` key into parameters, in the order written.
///
/// A null value (`params:` with nothing after it) declares no parameters.
/// Every problem is reported, not only the first.
pub fn params(node: &Node) -> Result<Vec<Param>, Vec<InputError>> {
    if node.is_null() {
        return Ok(Vec::new());
    }
    let Some(entries) = node.as_map() else {
        return Err(vec![
            InputError::at(
                node,
                format!("`params` must be a mapping, not {}", node.kind()),
            )
            .with_label("expected `name: {type: ..., ...}` entries")
            .with_help("write one entry per parameter, e.g. `path: {type: path, required: true}`"),
        ]);
    };
    let mut errors = Vec::new();
    let mut out: Vec<Param> = Vec::new();
    for (key, value) in entries {
        match param(key, value) {
            Ok(param) => {
                let clash = out.iter().find_map(|other| {
                    names_of(&param)
                        .find(|n| names_of(other).any(|m| m == *n))
                        .map(|n| (other.name.clone(), n.to_string()))
                });
                if let Some((other, taken)) = clash {
                    let message = if taken == param.name {
                        format!("parameter `{taken}` is declared twice")
                    } else {
                        format!(
                            "alias `{taken}` of parameter `{}` is already taken",
                            param.name
                        )
                    };
                    errors.push(
                        InputError::at(key, message)
                            .with_label("this name is already taken")
                            .with_help(format!(
                                "`{other}` already answers to `{taken}`; rename one of them"
                            )),
                    );
                }
                out.push(param);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks that every key of a manifest mapping is one the caller knows,
/// suggesting the closest for a typo. `what` names the mapping in messages
/// ("the manifest of `ensure_line`").
pub fn unknown_keys(map: &Node, known: &[&str], what: &str) -> Vec<InputError> {
    let Some(entries) = map.as_map() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|(k, _)| !known.contains(&k.key()))
        .map(|(k, _)| {
            let help = suggest::did_you_mean(k.key(), known.iter().copied())
                .or_else(|| ansible_key_help(k.key()))
                .unwrap_or_else(|| format!("the keys are: {}", known.join(", ")));
            InputError::at(k, format!("unknown key `{}` in {what}", k.key()))
                .with_label("not a manifest key")
                .with_help(help)
        })
        .collect()
}

/// Whether a name can name a task type or a parameter: it becomes a YAML
/// key and, for parameters of task files, a template variable, so it must be
/// a plain identifier. Task type names may also use `-`, like the built-ins.
pub fn valid_name(name: &str, allow_dash: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_dash && c == '-'))
}

/// The name and aliases a parameter answers to.
fn names_of(param: &Param) -> impl Iterator<Item = &str> {
    std::iter::once(param.name.as_str()).chain(param.aliases.iter().map(String::as_str))
}

/// Help for keys that mean something in Ansible's module documentation but
/// are spelt differently here.
fn ansible_key_help(key: &str) -> Option<String> {
    let msg = match key {
        "options" | "argument_spec" => "dtrplay calls a task's parameters `params`",
        "elements" => {
            "list elements are not typed; use `type: list` and check the items in the task"
        }
        "version_added" | "author" | "notes" | "short_description" => {
            "only `description` is kept; put the rest in comments"
        }
        _ => return None,
    };
    Some(msg.to_string())
}

/// Parses one `name: {...}` entry (or the short form `name: type`).
fn param(key: &Node, value: &Node) -> Result<Param, Vec<InputError>> {
    let name = key.key();
    if !valid_name(name, false) {
        return Err(vec![
            InputError::at(key, format!("`{name}` is not a valid parameter name"))
                .with_label("not an identifier")
                .with_help(
                    "use letters, digits and `_`, starting with a letter (names starting \
                     with `_` are reserved, e.g. for `_ansible_check_mode`)",
                ),
        ]);
    }
    match &value.value {
        // The short form names only the type.
        Value::Str(_) => {
            return kind(value)
                .map(|k| Param::new(name, k))
                .map_err(|e| vec![e]);
        }
        Value::Null => return Ok(Param::new(name, Kind::Raw)),
        Value::Map(_) => {}
        _ => {
            return Err(vec![
                InputError::at(
                    value,
                    format!(
                        "parameter `{name}` must be a mapping or a type name, not {}",
                        value.kind()
                    ),
                )
                .with_label("expected `{type: ..., ...}` or a type such as `str`")
                .with_help(format!("the types are: {}", Kind::NAMES.join(", "))),
            ]);
        }
    }
    let mut errors = unknown_keys(value, &PARAM_KEYS, &format!("parameter `{name}`"));
    let mut param = Param::new(name, Kind::Raw);
    if let Some(t) = value.get("type") {
        match kind(t) {
            Ok(k) => param.kind = k,
            Err(e) => errors.push(e),
        }
    }
    let flag = |key: &str, errors: &mut Vec<InputError>| -> bool {
        match value.get(key) {
            None => false,
            Some(Node {
                value: Value::Bool(b),
                ..
            }) => *b,
            Some(other) => {
                errors.push(
                    InputError::at(
                        other,
                        format!(
                            "`{key}` of parameter `{name}` must be true or false, not {}",
                            other.kind()
                        ),
                    )
                    .with_label("expected a boolean"),
                );
                false
            }
        }
    };
    param.required = flag("required", &mut errors);
    param.secret = flag("secret", &mut errors) | flag("no_log", &mut errors);
    if let Some(node) = value.get("description")
        && node.as_str().is_none()
        && node.as_seq().is_none()
    {
        errors.push(
            InputError::at(
                node,
                format!(
                    "`description` of parameter `{name}` must be text, not {}",
                    node.kind()
                ),
            )
            .with_label("expected a string"),
        );
    }
    if let Some(node) = value.get("aliases") {
        match strings(node) {
            Ok(list) => {
                for (alias, at) in list {
                    if valid_name(&alias, false) && alias != name {
                        param.aliases.push(alias);
                    } else {
                        errors.push(
                            InputError::at(
                                at,
                                format!("`{alias}` is not a valid alias of `{name}`"),
                            )
                            .with_label("not a distinct identifier")
                            .with_help("use letters, digits and `_`, starting with a letter"),
                        );
                    }
                }
            }
            Err(e) => {
                errors.push(e.with_help(format!("write `aliases: [other_name]` for `{name}`")))
            }
        }
    }
    if let Some(node) = value.get("choices") {
        match choices(node) {
            Ok(list) => param.choices = list,
            Err(e) => errors.push(e),
        }
    }
    // The choices and the default are checked against the type only when the
    // type itself is sound; otherwise the messages would be about a guess.
    if !errors.is_empty() {
        return Err(errors);
    }
    for (choice, at) in value
        .get("choices")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .map(|n| (n, n))
    {
        let mut plain = param.clone();
        plain.choices.clear();
        if let Some(e) = literal_error(&plain, key, choice) {
            errors.push(
                InputError::at(
                    at,
                    format!(
                        "choice {} of `{name}` is not {}",
                        choice.raw(),
                        param.kind.describe()
                    ),
                )
                .with_label(e.label)
                .with_help(format!(
                    "a choice must be a valid value of the parameter's type, `{}`",
                    kind_name(&param.kind)
                )),
            );
        }
    }
    if let Some(default) = value.get("default") {
        if param.required {
            errors.push(
                InputError::at(
                    default,
                    format!("parameter `{name}` is required and has a default"),
                )
                .with_label("a default is never used for a required parameter")
                .with_help(
                    "drop `required: true` (the default makes it optional) or drop the default",
                ),
            );
        } else if !default.is_null() {
            match literal_error(&param, key, default) {
                Some(mut e) => {
                    e.message = e.message.replacen(
                        &format!("argument `{name}`"),
                        &format!("the default of `{name}`"),
                        1,
                    );
                    errors.push(e);
                }
                None => param.default = Some(default.to_json()),
            }
        }
    }
    if errors.is_empty() {
        Ok(param)
    } else {
        Err(errors)
    }
}

/// Checks a literal value against a parameter with the same rules a call's
/// arguments get (so a default is valid exactly when writing it in a call
/// would be).
fn literal_error(param: &Param, key: &Node, value: &Node) -> Option<InputError> {
    let spec = Spec::new("manifest", vec![param.clone()]);
    spec.validate(key, &[(key.clone(), value.clone())])
        .into_iter()
        .find(|e| e.span == value.span)
}

/// Parses `type: <name>`.
fn kind(node: &Node) -> Result<Kind, InputError> {
    let Some(name) = node.as_str() else {
        return Err(
            InputError::at(node, format!("a type must be a name, not {}", node.kind()))
                .with_label("expected a type name")
                .with_help(format!("the types are: {}", Kind::NAMES.join(", "))),
        );
    };
    if let Some(kind) = Kind::parse(name) {
        return Ok(kind);
    }
    let help = match ANSIBLE_ONLY_TYPES.iter().find(|(t, _)| *t == name) {
        Some((t, instead)) => format!(
            "Ansible's `{t}` has no dtrplay equivalent; use `{instead}` and check the value in the task"
        ),
        None => suggest::did_you_mean(name, Kind::NAMES)
            .unwrap_or_else(|| format!("the types are: {}", Kind::NAMES.join(", "))),
    };
    Err(InputError::at(node, format!("unknown type `{name}`"))
        .with_label("not a parameter type")
        .with_help(help))
}

/// The manifest spelling of a kind, for messages.
fn kind_name(kind: &Kind) -> &'static str {
    Kind::NAMES
        .iter()
        .copied()
        .find(|n| Kind::parse(n).as_ref() == Some(kind))
        .unwrap_or("raw")
}

/// Parses `choices: [...]` into their text (how `params` compares them).
fn choices(node: &Node) -> Result<Vec<String>, InputError> {
    let Some(items) = node.as_seq() else {
        return Err(InputError::at(
            node,
            format!("`choices` must be a list, not {}", node.kind()),
        )
        .with_label("expected a list")
        .with_help("write the allowed values as a list: `choices: [present, absent]`"));
    };
    if items.is_empty() {
        return Err(
            InputError::at(node, "`choices` is empty, so no value would be allowed")
                .with_label("an empty list")
                .with_help("list the allowed values, or drop `choices` to allow any"),
        );
    }
    items
        .iter()
        .map(|item| {
            item.scalar_text()
                .filter(|_| !item.is_null())
                .ok_or_else(|| {
                    InputError::at(
                        item,
                        format!("a choice must be a plain value, not {}", item.kind()),
                    )
                    .with_label("expected a string, number or boolean")
                })
        })
        .collect()
}

/// A list of strings, each with its node.
fn strings(node: &Node) -> Result<Vec<(String, &Node)>, InputError> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        // A single alias may be written without brackets.
        Value::Str(_) => vec![node],
        _ => {
            return Err(InputError::at(
                node,
                format!("expected a list of names, not {}", node.kind()),
            )
            .with_label("expected a list"));
        }
    };
    items
        .into_iter()
        .map(|item| {
            item.as_str().map(|s| (s.to_string(), item)).ok_or_else(|| {
                InputError::at(item, format!("expected a name, not {}", item.kind()))
                    .with_label("expected a string")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use crate::yaml;
    use serde_json::json;

    fn parse(text: &str) -> Result<Vec<Param>, Vec<InputError>> {
        let src = SourceFile::new("library/t.yml", text);
        let doc = yaml::parse(&src).expect("test YAML parses");
        params(doc.get("params").expect("a params key"))
    }

    fn errors(text: &str) -> Vec<InputError> {
        parse(text).expect_err("the manifest is invalid")
    }

    #[test]
    fn full_and_short_forms() {
        let params = parse(
            "params:\n  path: {type: path, required: true, aliases: [dest]}\n  \
             state: {type: str, choices: [present, absent], default: present}\n  \
             token: {type: str, secret: true}\n  backup: bool\n  anything:\n",
        )
        .expect("valid");
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["path", "state", "token", "backup", "anything"]);
        assert!(params[0].required);
        assert_eq!(params[0].aliases, ["dest"]);
        assert_eq!(params[1].choices, ["present", "absent"]);
        assert_eq!(params[1].default, Some(json!("present")));
        assert!(params[2].secret);
        assert_eq!(params[3].kind, Kind::Bool);
        assert_eq!(params[4].kind, Kind::Raw);
    }

    #[test]
    fn unknown_type_suggests_the_closest() {
        let e = &errors("params:\n  x: {type: strng}\n")[0];
        assert_eq!(e.message, "unknown type `strng`");
        assert_eq!(e.help.as_deref(), Some("did you mean `str`?"));
        assert_eq!(
            e.src
                .inner()
                .get(e.span.offset()..e.span.offset() + e.span.len()),
            Some("strng")
        );
        let e = &errors("params:\n  x: float\n")[0];
        assert!(
            e.help.as_deref().is_some_and(|h| h.contains("use `raw`")),
            "{e:?}"
        );
    }

    #[test]
    fn bad_defaults_are_reported_at_the_default() {
        let e = &errors("params:\n  count: {type: int, default: many}\n")[0];
        assert!(
            e.message
                .starts_with("the default of `count` must be an integer"),
            "{}",
            e.message
        );
        let e = &errors("params:\n  s: {type: str, choices: [a, b], default: c}\n")[0];
        assert!(e.message.contains("must be one of a, b"), "{}", e.message);
        let e = &errors("params:\n  m: {type: mode, default: 644}\n")[0];
        assert!(e.message.contains("not an octal mode"), "{}", e.message);
        let e = &errors("params:\n  r: {type: str, required: true, default: x}\n")[0];
        assert_eq!(e.message, "parameter `r` is required and has a default");
    }

    #[test]
    fn shapes_and_keys_are_checked() {
        let e = &errors("params:\n  s: {type: str, choices: a}\n")[0];
        assert_eq!(e.message, "`choices` must be a list, not a string");
        let e = &errors("params:\n  s: {type: str, requried: true}\n")[0];
        assert_eq!(e.message, "unknown key `requried` in parameter `s`");
        assert_eq!(e.help.as_deref(), Some("did you mean `required`?"));
        let e = &errors("params:\n  s: {type: str, required: maybe}\n")[0];
        assert!(e.message.contains("must be true or false"), "{}", e.message);
        let e = &errors("params:\n  b: {type: bool, choices: [yes, sometimes]}\n")[0];
        assert!(
            e.message.starts_with("choice sometimes of `b`"),
            "{}",
            e.message
        );
        let e = &errors("params: [a, b]\n")[0];
        assert_eq!(e.message, "`params` must be a mapping, not a list");
        let e = &errors("params:\n  _x: str\n")[0];
        assert_eq!(e.message, "`_x` is not a valid parameter name");
    }

    #[test]
    fn every_problem_is_reported_and_duplicates_are_caught() {
        let all = errors(
            "params:\n  a: {type: str}\n  b: {type: nope}\n  c: {type: int, default: x}\n  d: {aliases: [a]}\n",
        );
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(
            all[2].message,
            "alias `a` of parameter `d` is already taken"
        );
        let twice = errors("params:\n  a: {aliases: [b]}\n  b: int\n");
        assert_eq!(twice[0].message, "parameter `b` is declared twice");
    }

    #[test]
    fn names() {
        assert!(valid_name("ensure_line", false));
        assert!(valid_name("restart-docker", true));
        assert!(!valid_name("restart-docker", false));
        assert!(!valid_name("1x", true));
        assert!(!valid_name("", true));
    }
}
