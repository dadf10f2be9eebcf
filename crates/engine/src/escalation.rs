//! The `become` keywords and variables, from what the user wrote at each
//! level to whom one task runs as on one host.
//!
//! Ansible's names and precedence, lowest first:
//!
//! 1. the command line: `-b/--become`, `--become-user`, `--become-method`
//!    (and the password from `-K` or `--become-password-file`);
//! 2. the play's keywords, then each enclosing block's, then the task's
//!    (`become`, `become_user`, `become_method`, `become_flags`,
//!    `become_exe`), the innermost one that is set winning;
//! 3. the host's variables (`ansible_become`, `ansible_become_user`,
//!    `ansible_become_method`, `ansible_become_password` or
//!    `ansible_become_pass`, `ansible_become_exe`, `ansible_become_flags`),
//!    from any source: inventory, play or task `vars`, extra variables.
//!
//! `become_user` defaults to root and `become_method` to sudo.
//!
//! The loader keeps each level's keywords as written ([`BecomeKeys`], one
//! per play, block and task; a block's go into its tasks with
//! [`BecomeKeys::inherit`]); the executor renders and resolves them per task
//! and host with [`resolve`], which yields the connection's
//! [`Escalation`], or `None` when the task runs as the login user.

use serde_json::Value;

use crate::connection::escalate::{Escalation, Method};
use crate::error::InputError;
use crate::params::to_bool;
use crate::yaml::Node;

/// The `become` keywords of one play, block or task, as written (values may
/// be templates, rendered per host).
#[derive(Debug, Clone, Default)]
pub struct BecomeKeys {
    pub enabled: Option<Node>,
    pub user: Option<Node>,
    pub method: Option<Node>,
    pub flags: Option<Node>,
    pub exe: Option<Node>,
}

impl BecomeKeys {
    /// Takes `key: value` if it is a become keyword, checking what can be
    /// checked before any host is known; returns whether it was one.
    pub fn take(&mut self, key: &Node, value: &Node, errors: &mut Vec<InputError>) -> bool {
        let slot = match key.key() {
            "become" => &mut self.enabled,
            "become_user" => &mut self.user,
            "become_method" => &mut self.method,
            "become_flags" => &mut self.flags,
            "become_exe" => &mut self.exe,
            _ => return false,
        };
        if let Some(error) = check(key.key(), value) {
            errors.push(error);
        }
        *slot = Some(value.clone());
        true
    }

    /// Fills what is not set here from an enclosing level (a block's or a
    /// task file call's keywords for the tasks inside it).
    pub fn inherit(&mut self, outer: &BecomeKeys) {
        for (mine, theirs) in [
            (&mut self.enabled, &outer.enabled),
            (&mut self.user, &outer.user),
            (&mut self.method, &outer.method),
            (&mut self.flags, &outer.flags),
            (&mut self.exe, &outer.exe),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// What the command line says about becoming.
#[derive(Clone, Default)]
pub struct BecomeDefaults {
    /// `-b/--become`.
    pub enabled: bool,
    /// `--become-user`.
    pub user: Option<String>,
    /// `--become-method`.
    pub method: Option<Method>,
    /// From `-K` (asked once per run) or `--become-password-file`.
    pub password: Option<String>,
}

impl std::fmt::Debug for BecomeDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BecomeDefaults")
            .field("enabled", &self.enabled)
            .field("user", &self.user)
            .field("method", &self.method)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

/// Refuses values that cannot be right whatever the host: a `become` that
/// is not a boolean, an unknown method. Templates are checked per host.
fn check(keyword: &str, value: &Node) -> Option<InputError> {
    if value.has_template() {
        return None;
    }
    let json = value.to_json();
    match keyword {
        "become" => to_bool(&json).is_none().then(|| {
            InputError::at(value, "`become` must be a boolean")
                .with_label("expected true or false")
                .with_help("write `become: true` to run the tasks with sudo (as root by default)")
        }),
        "become_method" => {
            let text = json.as_str().unwrap_or("");
            Method::parse(text).is_none().then(|| {
                InputError::at(
                    value,
                    format!("unsupported become method `{}`", scalar(&json)),
                )
                .with_label("expected sudo or su")
                .with_help("dtrplay becomes other users with `sudo` or `su`")
            })
        }
        _ if !matches!(json, Value::String(_)) => Some(
            InputError::at(value, format!("`{keyword}` must be a string"))
                .with_label("expected a string"),
        ),
        _ => None,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why a task's become settings cannot be used on a host.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    pub message: String,
}

/// A host's variable, rendered: `Ok(None)` when it is not defined.
pub type Lookup<'a> = dyn Fn(&str) -> Result<Option<Value>, String> + 'a;

/// Whom a task runs as on a host: `levels` are the play's, the blocks' and
/// the task's keywords, outermost first; `render` renders a keyword's value
/// with the host's variables; `var` looks up the host's variables for the
/// task.
pub fn resolve(
    defaults: &BecomeDefaults,
    levels: &[&BecomeKeys],
    var: &Lookup<'_>,
    render: &dyn Fn(&Node) -> Result<Value, InputError>,
) -> Result<Option<Escalation>, ResolveError> {
    let keyword = |pick: fn(&BecomeKeys) -> &Option<Node>| -> Result<Option<Value>, ResolveError> {
        match levels.iter().rev().find_map(|level| pick(level).as_ref()) {
            Some(node) => render(node)
                .map(Some)
                .map_err(|e| ResolveError { message: e.message }),
            None => Ok(None),
        }
    };
    let var = |names: &[&str]| -> Result<Option<Value>, ResolveError> {
        for name in names {
            if let Some(value) = var(name).map_err(|message| ResolveError { message })? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    };

    let enabled = match var(&["ansible_become"])? {
        Some(v) => Some(v),
        None => keyword(|k| &k.enabled)?,
    };
    let enabled = match enabled {
        Some(v) => to_bool(&v).ok_or_else(|| ResolveError {
            message: format!("`become` must be a boolean, not {}", scalar(&v)),
        })?,
        None => defaults.enabled,
    };
    if !enabled {
        return Ok(None);
    }
    let text = |v: Value| scalar(&v).trim().to_string();
    let user = match var(&["ansible_become_user"])? {
        Some(v) => Some(text(v)),
        None => keyword(|k| &k.user)?.map(text),
    };
    let user = user
        .filter(|u| !u.is_empty())
        .or_else(|| defaults.user.clone())
        .unwrap_or_else(|| "root".to_string());
    let method = match var(&["ansible_become_method"])? {
        Some(v) => Some(text(v)),
        None => keyword(|k| &k.method)?.map(text),
    };
    let method = match method {
        Some(name) => Method::parse(&name).ok_or_else(|| ResolveError {
            message: format!("unsupported become method `{name}`: expected sudo or su"),
        })?,
        None => defaults.method.unwrap_or(Method::Sudo),
    };
    let exe = match var(&["ansible_become_exe"])? {
        Some(v) => Some(text(v)),
        None => keyword(|k| &k.exe)?.map(text),
    }
    .filter(|e| !e.is_empty());
    let flags = match var(&["ansible_become_flags"])? {
        Some(v) => Some(text(v)),
        None => keyword(|k| &k.flags)?.map(text),
    };
    let password = match var(&["ansible_become_password", "ansible_become_pass"])? {
        Some(Value::Null) | None => defaults.password.clone(),
        Some(v) => Some(scalar(&v)),
    };
    Ok(Some(Escalation {
        method,
        user,
        exe,
        flags,
        password,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use serde_json::Map;

    fn keys(yaml: &str) -> BecomeKeys {
        let src = SourceFile::new("t.yml", yaml);
        let node = crate::yaml::parse(&src).expect("yaml");
        let mut keys = BecomeKeys::default();
        let mut errors = Vec::new();
        for (k, v) in node.as_map().expect("map") {
            assert!(keys.take(k, v, &mut errors));
        }
        assert!(errors.is_empty());
        keys
    }

    fn render(node: &Node) -> Result<Value, InputError> {
        Ok(node.to_json())
    }

    fn lookup(vars: &Map<String, Value>) -> impl Fn(&str) -> Result<Option<Value>, String> + '_ {
        |name| Ok(vars.get(name).cloned())
    }

    #[test]
    fn inner_levels_win_and_variables_win_over_keywords() {
        let play = keys("become: true\nbecome_user: app\n");
        let task = keys("become_user: www\nbecome_method: su\n");
        let d = BecomeDefaults::default();
        let e = resolve(&d, &[&play, &task], &lookup(&Map::new()), &render)
            .expect("resolves")
            .expect("becomes");
        assert_eq!((e.user.as_str(), e.method), ("www", Method::Su));
        let mut vars = Map::new();
        vars.insert("ansible_become_user".into(), "db".into());
        vars.insert("ansible_become_pass".into(), "pw".into());
        let e = resolve(&d, &[&play, &task], &lookup(&vars), &render)
            .expect("resolves")
            .expect("becomes");
        assert_eq!((e.user.as_str(), e.password.as_deref()), ("db", Some("pw")));
        vars.insert("ansible_become".into(), false.into());
        assert!(
            resolve(&d, &[&play], &lookup(&vars), &render)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn the_command_line_is_the_default() {
        let d = BecomeDefaults {
            enabled: true,
            user: Some("ops".into()),
            method: None,
            password: Some("pw".into()),
        };
        let e = resolve(&d, &[], &lookup(&Map::new()), &render)
            .expect("ok")
            .expect("becomes");
        assert_eq!((e.user.as_str(), e.method), ("ops", Method::Sudo));
        assert_eq!(e.password.as_deref(), Some("pw"));
        let off = keys("become: false\n");
        assert!(
            resolve(&d, &[&off], &lookup(&Map::new()), &render)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn bad_values_are_refused_at_load_time() {
        let src = SourceFile::new("t.yml", "become: maybe\nbecome_method: doas\n");
        let node = crate::yaml::parse(&src).expect("yaml");
        let mut keys = BecomeKeys::default();
        let mut errors = Vec::new();
        for (k, v) in node.as_map().expect("map") {
            keys.take(k, v, &mut errors);
        }
        assert_eq!(errors.len(), 2);
    }
}
