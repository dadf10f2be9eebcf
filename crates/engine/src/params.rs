//! Typed task parameters: one description serves validation, coercion and
//! secret masking, for built-in and custom tasks alike.
//!
//! Every task type (built-in, YAML task file, executable plugin, Rust) is
//! described by a `Spec`: its name and its `Param`s. `dtrplay validate` and
//! the loader use the spec to reject unknown or missing arguments and
//! literal values of the wrong type, pointing at the YAML, before any host is
//! contacted. At run time the rendered arguments are coerced the way Ansible
//! users expect (`"yes"` is a boolean, `"0644"` is a mode) and then
//! deserialized into the task's own argument struct.

use serde_json::{Map, Value};

use crate::error::InputError;
use crate::suggest;
use crate::yaml::{self, Node};

/// The name of a parameter that stands for any key (see `Spec::param`).
pub const ANY: &str = "*";

/// The type of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    /// A filesystem path on the host (a string).
    Path,
    /// A file mode: an octal string (`"0644"`) or a YAML 1.1 octal number.
    Mode,
    List,
    Dict,
    /// A PEM document (a string), checked when the task runs.
    Pem,
    /// A SHA-256 certificate fingerprint (64 hex digits, colons and a
    /// `sha256:` prefix allowed), checked as written.
    Fingerprint,
    /// Anything.
    Raw,
}

impl Kind {
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean (true/false, yes/no)",
            Kind::Int => "an integer",
            Kind::Path => "a path",
            Kind::Mode => "a file mode such as '0644'",
            Kind::List => "a list",
            Kind::Dict => "a mapping",
            Kind::Pem => "a PEM document",
            Kind::Fingerprint => "a SHA-256 fingerprint",
            Kind::Raw => "any value",
        }
    }

    /// Parses a kind name as written in task manifests (`type: bool`).
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "str" | "string" => Kind::Str,
            "bool" | "boolean" => Kind::Bool,
            "int" | "integer" => Kind::Int,
            "path" => Kind::Path,
            "mode" => Kind::Mode,
            "list" => Kind::List,
            "dict" | "map" | "mapping" => Kind::Dict,
            "pem" => Kind::Pem,
            "fingerprint" => Kind::Fingerprint,
            "raw" | "any" => Kind::Raw,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 10] = [
        "str",
        "bool",
        "int",
        "path",
        "mode",
        "list",
        "dict",
        "pem",
        "fingerprint",
        "raw",
    ];
}

/// One parameter of a task.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<Value>,
    /// The only values allowed, when not empty.
    pub choices: Vec<String>,
    /// Other names accepted for it (Ansible's `dest`/`path`/`name`).
    pub aliases: Vec<String>,
    /// Masked in every output; never shown in diffs.
    pub secret: bool,
}

impl Param {
    pub fn new(name: &str, kind: Kind) -> Param {
        Param {
            name: name.to_string(),
            kind,
            required: false,
            default: None,
            choices: Vec::new(),
            aliases: Vec::new(),
            secret: false,
        }
    }

    pub fn required(mut self) -> Param {
        self.required = true;
        self
    }

    pub fn default(mut self, value: impl Into<Value>) -> Param {
        self.default = Some(value.into());
        self
    }

    pub fn choices(mut self, choices: &[&str]) -> Param {
        self.choices = choices.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn aliases(mut self, aliases: &[&str]) -> Param {
        self.aliases = aliases.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn secret(mut self) -> Param {
        self.secret = true;
        self
    }

    fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// The description of a task type.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The YAML key, e.g. `copy` or `upload-ca`.
    pub name: String,
    pub params: Vec<Param>,
    /// The parameter a bare string fills (`command: echo hi` fills `cmd`).
    pub free_form: Option<String>,
    /// Runs once per play, not once per host (its result is registered on
    /// every host), like Ansible's `run_once`.
    pub run_once: bool,
    /// Runs on the control machine (the API tasks), like
    /// `delegate_to: localhost`.
    pub on_control: bool,
    /// The host variables (facts) the task may set, for `validate`'s
    /// undefined-variable check: names, or prefixes ending in `*`.
    pub facts: Vec<String>,
    /// Arguments ansible-core removed, each with what to write instead:
    /// refused by name, since Ansible refuses them too.
    pub removed: Vec<(String, String)>,
    /// The list argument a loop may collapse on: when every item's
    /// arguments render the same but for this one, the loop runs as one
    /// task given every item's entries (one check, one apply, one round
    /// trip), and the task splits the outcome per item
    /// (`Task::item_outcome`). Package managers install a list at once.
    pub collapses: Option<String>,
    /// The argument that tells a loop's items apart for a task whose items
    /// may run side by side (`user`, `group`): when every item's value of
    /// it differs, the items' checks go to the host as one script, and so
    /// do their applies (`connection::batched`), each item with its own
    /// arguments and result.
    pub batches: Option<String>,
}

impl Spec {
    pub fn new(name: &str, params: Vec<Param>) -> Spec {
        Spec {
            name: name.to_string(),
            params,
            free_form: None,
            run_once: false,
            on_control: false,
            facts: Vec::new(),
            removed: Vec::new(),
            collapses: None,
            batches: None,
        }
    }

    /// Loops over this task run their items side by side, batched, when
    /// every item's `param` differs.
    pub fn batches(mut self, param: &str) -> Spec {
        self.batches = Some(param.to_string());
        self
    }

    /// Loops over this task collapse on the list argument `param`.
    pub fn collapses(mut self, param: &str) -> Spec {
        self.collapses = Some(param.to_string());
        self
    }

    /// An argument ansible-core no longer has, and what replaces it.
    pub fn removed(mut self, name: &str, instead: &str) -> Spec {
        self.removed.push((name.to_string(), instead.to_string()));
        self
    }

    pub fn free_form(mut self, param: &str) -> Spec {
        self.free_form = Some(param.to_string());
        self
    }

    pub fn run_once(mut self) -> Spec {
        self.run_once = true;
        self
    }

    pub fn on_control(mut self) -> Spec {
        self.on_control = true;
        self
    }

    /// The parameter a name refers to. A parameter named `*` (`ANY`)
    /// accepts every other name, for tasks such as `set_fact` whose keys are
    /// the user's own.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| p.answers_to(name))
            .or_else(|| self.params.iter().find(|p| p.name == ANY))
    }

    /// Names of secret parameters, for masking.
    pub fn secret_params(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|p| p.secret)
            .map(|p| p.name.as_str())
    }

    /// Checks a call's arguments as written, before templating: names,
    /// required parameters, and the types of literal (untemplated) values.
    /// `call` is the module key, underlined for missing parameters.
    pub fn validate(&self, call: &Node, args: &[(Node, Node)]) -> Vec<InputError> {
        let mut errors = Vec::new();
        // A built-in called by its collection name (`community.mysql.mysql_user`)
        // is named as the playbook writes it.
        let shown = match call.key().strip_suffix(self.name.as_str()) {
            Some(prefix) if prefix.ends_with('.') => call.key(),
            _ => self.name.as_str(),
        };
        for (key, value) in args {
            let name = key.key();
            if let Some((_, instead)) = self.removed.iter().find(|(r, _)| r == name) {
                errors.push(
                    InputError::at(
                        key,
                        format!(
                            "argument `{name}` of `{}` was removed from Ansible",
                            self.name
                        ),
                    )
                    .with_label("ansible-core 2.19 refuses it too")
                    .with_help(instead.clone()),
                );
                continue;
            }
            let Some(param) = self.param(name) else {
                let names = self.params.iter().flat_map(|p| {
                    std::iter::once(p.name.as_str()).chain(p.aliases.iter().map(String::as_str))
                });
                let help = suggest::did_you_mean(name, names)
                    .unwrap_or_else(|| format!("`{}` takes: {}", self.name, self.param_list()));
                errors.push(
                    InputError::at(key, format!("unknown argument `{name}` for `{shown}`"))
                        .with_label("not an argument of this task")
                        .with_help(help),
                );
                continue;
            };
            if let Err(e) = check_literal(param, value) {
                errors.push(e);
            }
        }
        for param in self
            .params
            .iter()
            .filter(|p| p.required && p.default.is_none())
        {
            if !args.iter().any(|(k, _)| param.answers_to(k.key())) {
                errors.push(
                    InputError::at(
                        call,
                        format!("`{shown}` needs the argument `{}`", param.name),
                    )
                    .with_label(format!("`{}` is missing", param.name))
                    .with_help(format!(
                        "add `{}:` ({})",
                        param.name,
                        param.kind.describe()
                    )),
                );
            }
        }
        errors
    }

    fn param_list(&self) -> String {
        let mut names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.join(", ")
    }

    /// Turns rendered arguments into their final form: aliases resolved,
    /// defaults filled, values coerced to their kinds. The message of an
    /// error names the parameter; the caller adds the task and host.
    pub fn coerce(&self, args: &Map<String, Value>) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for (name, value) in args {
            let param = self
                .param(name)
                .ok_or_else(|| format!("unknown argument `{name}` for `{}`", self.name))?;
            let value = coerce_value(param, value)
                .map_err(|why| format!("argument `{}` {why}", param.name))?;
            let key = if param.name == ANY { name } else { &param.name };
            out.insert(key.clone(), value);
        }
        for param in self.params.iter().filter(|p| p.name != ANY) {
            if out.contains_key(&param.name) {
                continue;
            }
            match (&param.default, param.required) {
                (Some(default), _) => {
                    out.insert(param.name.clone(), default.clone());
                }
                (None, true) => {
                    return Err(format!(
                        "`{}` needs the argument `{}`",
                        self.name, param.name
                    ));
                }
                (None, false) => {}
            }
        }
        Ok(out)
    }
}

/// Type-checks a value as written, when it is not a template.
fn check_literal(param: &Param, value: &Node) -> Result<(), InputError> {
    if value.has_template() {
        return Ok(());
    }
    if param.kind == Kind::Mode {
        return check_mode_literal(param, value);
    }
    let json = value.to_json();
    coerce_value(param, &json).map(|_| ()).map_err(|why| {
        let expected = if param.choices.is_empty() {
            param.kind.describe().to_string()
        } else {
            format!("one of {}", param.choices.join(", "))
        };
        InputError::at(value, format!("argument `{}` {why}", param.name))
            .with_label(format!("expected {expected}"))
    })
}

/// Modes get a stricter check than Ansible's: an unquoted `644` is the
/// decimal number 644 (octal 1204), almost never what was meant, so it is
/// an error rather than a silently wrong permission.
fn check_mode_literal(param: &Param, value: &Node) -> Result<(), InputError> {
    let raw = value.raw().trim();
    if let yaml::Value::Int(_) = value.value
        && !raw.starts_with('0')
    {
        return Err(InputError::at(
            value,
            format!(
                "argument `{}` is the decimal number {raw}, not an octal mode",
                param.name
            ),
        )
        .with_label("read as a decimal number")
        .with_help(format!(
            "write the mode quoted and with a leading zero: '0{raw}'"
        )));
    }
    coerce_value(param, &value.to_json())
        .map(|_| ())
        .map_err(|why| {
            InputError::at(value, format!("argument `{}` {why}", param.name))
                .with_label("expected a file mode")
                .with_help("write it as a quoted octal string such as '0644'")
        })
}

/// Why a value does not fit its parameter: the words after "argument
/// `name`", which every caller adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Mismatch {
    #[error("is not a SHA-256 fingerprint (64 hex digits, colons allowed), not {0:?}")]
    Fingerprint(String),
    #[error("must be a boolean (true/false, yes/no)")]
    Bool,
    #[error("must be an integer, not {0:?}")]
    Int(String),
    #[error("is not an octal mode: {0:?}")]
    OctalMode(String),
    /// A number that is no mode at all (negative, or past `u32`).
    #[error("is not a mode: {0}")]
    NumberMode(serde_json::Number),
    #[error("must be a file mode, not {0}")]
    ModeKind(&'static str),
    #[error("is not a file mode: {0:o} is larger than 7777")]
    ModeTooLarge(u32),
    /// The value's JSON kind is not the parameter's.
    #[error("must be {expected}, not {found}")]
    Kind {
        expected: &'static str,
        found: &'static str,
    },
    /// Not one of the choices; `help` is a "; did you mean …" or empty.
    #[error("must be one of {choices}, not {value:?}{help}")]
    Choice {
        choices: String,
        value: String,
        help: String,
    },
}

fn coerce_value(param: &Param, value: &Value) -> Result<Value, Mismatch> {
    let coerced = match (&param.kind, value) {
        (_, Value::Null) if !param.required => Value::Null,
        (Kind::Raw, v) => v.clone(),
        (Kind::Str | Kind::Path | Kind::Pem, Value::String(s)) => Value::String(s.clone()),
        (Kind::Fingerprint, Value::String(s)) => match crate::cert::normalize_pin(s) {
            Ok(_) => Value::String(s.clone()),
            Err(_) => return Err(Mismatch::Fingerprint(s.clone())),
        },
        (Kind::Str | Kind::Path, Value::Number(n)) => Value::String(n.to_string()),
        (Kind::Str, Value::Bool(b)) => Value::String(b.to_string()),
        (Kind::Bool, v) => Value::Bool(to_bool(v).ok_or(Mismatch::Bool)?),
        (Kind::Int, Value::Number(n)) if n.is_i64() => value.clone(),
        (Kind::Int, Value::String(s)) => Value::from(
            s.trim()
                .parse::<i64>()
                .map_err(|_| Mismatch::Int(s.clone()))?,
        ),
        (Kind::Mode, v) => Value::String(format!("{:04o}", to_mode(v)?)),
        (Kind::List, Value::Array(_)) => value.clone(),
        // Ansible accepts a comma-separated string where a list is expected.
        (Kind::List, Value::String(s)) => Value::Array(
            s.split(',')
                .map(|p| Value::String(p.trim().to_string()))
                .filter(|p| p.as_str() != Some(""))
                .collect(),
        ),
        // A lone number is a one-item list, as Ansible's `check_type_list`
        // makes it (`status_code: 201`).
        (Kind::List, Value::Number(n)) => Value::Array(vec![Value::String(n.to_string())]),
        (Kind::Dict, Value::Object(_)) => value.clone(),
        (kind, other) => {
            return Err(Mismatch::Kind {
                expected: kind.describe(),
                found: json_kind(other),
            });
        }
    };
    if !param.choices.is_empty() {
        let text = match &coerced {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !param.choices.contains(&text) {
            let help = suggest::did_you_mean(&text, param.choices.iter().map(String::as_str))
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Err(Mismatch::Choice {
                choices: param.choices.join(", "),
                value: text,
                help,
            });
        }
    }
    Ok(coerced)
}

/// How a value is shown to people: strings bare, the rest as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Ansible's boolean spellings.
pub fn to_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "on" | "1" => Some(true),
            "no" | "n" | "false" | "off" | "0" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A mode from a string (always octal) or a number (already the value).
fn to_mode(value: &Value) -> Result<u32, Mismatch> {
    let mode = match value {
        Value::String(s) => {
            let digits = s.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).map_err(|_| Mismatch::OctalMode(s.clone()))?
        }
        Value::Number(n) => n
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| Mismatch::NumberMode(n.clone()))?,
        other => return Err(Mismatch::ModeKind(json_kind(other))),
    };
    if mode > 0o7777 {
        return Err(Mismatch::ModeTooLarge(mode));
    }
    Ok(mode)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
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
    use serde_json::json;

    fn spec() -> Spec {
        Spec::new(
            "file",
            vec![
                Param::new("path", Kind::Path)
                    .required()
                    .aliases(&["dest", "name"]),
                Param::new("state", Kind::Str)
                    .choices(&["file", "directory", "absent"])
                    .default("file"),
                Param::new("mode", Kind::Mode),
                Param::new("force", Kind::Bool),
            ],
        )
    }

    fn validate(text: &str) -> Vec<InputError> {
        let src = SourceFile::new("t.yml", text);
        let node = yaml::parse(&src).expect("parses");
        let (call, args) = &node.as_map().expect("map")[0];
        spec().validate(call, args.as_map().expect("args map"))
    }

    #[test]
    fn unknown_argument_suggests_the_closest() {
        let errors = validate("file: {pth: /x}\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].message, "unknown argument `pth` for `file`");
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `path`?"));
        assert_eq!(errors[1].message, "`file` needs the argument `path`");
    }

    #[test]
    fn literal_types_are_checked_but_templates_wait() {
        assert!(
            validate("file: {path: /x, force: maybe}\n")[0]
                .message
                .contains("boolean")
        );
        assert!(validate("file: {path: /x, force: '{{ f }}'}\n").is_empty());
        assert!(
            validate("file: {path: /x, state: dir}\n")[0]
                .message
                .contains("one of")
        );
    }

    #[test]
    fn decimal_modes_are_refused_with_a_fix() {
        let errors = validate("file: {path: /x, mode: 644}\n");
        assert_eq!(
            errors[0].help.as_deref(),
            Some("write the mode quoted and with a leading zero: '0644'")
        );
        assert!(validate("file: {path: /x, mode: 0644}\n").is_empty());
        assert!(validate("file: {path: /x, mode: '0755'}\n").is_empty());
    }

    #[test]
    fn coercion_resolves_aliases_defaults_and_kinds() {
        let args = json!({"dest": "/x", "mode": 420, "force": "yes"});
        let out = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        assert_eq!(
            Value::Object(out),
            json!({"path": "/x", "mode": "0644", "force": true, "state": "file"})
        );
    }
}
