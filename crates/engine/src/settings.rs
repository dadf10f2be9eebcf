//! Ansible's configuration as users bring it: `ansible.cfg` and the
//! `ANSIBLE_*` environment variables, for every setting dtrplay has.
//!
//! Ansible reads one configuration file, the first that exists of
//! `$ANSIBLE_CONFIG` (a file, or a directory holding `ansible.cfg`),
//! `./ansible.cfg`, `~/.ansible.cfg` and `/etc/ansible/ansible.cfg`; it
//! skips `./ansible.cfg` when the current directory is world-writable,
//! because anyone could have put it there. Each setting is then taken from
//! its environment variable if set, else from the file; the command line
//! wins over both, and inventory variables (`ansible_user`, ...) win over
//! the connection defaults, as in Ansible.
//!
//! Paths written in the file are relative to the file's directory; paths
//! in environment variables are relative to the current directory. A value
//! that does not parse (`forks = many`, `host_key_checking = Fasle`) is an
//! error that points at it: Ansible would read an unknown boolean as false,
//! and a typo must not turn host key checking off. Settings dtrplay has no
//! use for are ignored, as Ansible ignores those it does not know.

use std::path::{Path, PathBuf};

use miette::SourceSpan;

use crate::error::{Error, InputError};
use crate::source::SourceFile;

/// A setting dtrplay understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Inventory,
    Forks,
    RemoteUser,
    RolesPath,
    VaultPasswordFile,
    HostKeyChecking,
    PrivateKeyFile,
    Timeout,
    NoColor,
    Become,
    BecomeMethod,
    BecomeUser,
    BecomeAskPass,
}

/// How a setting's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Count,
    Text,
    Path,
    /// Comma-separated paths (`inventory`).
    PathList,
    /// Colon-separated paths (`roles_path`).
    PathSpec,
}

struct Spec {
    key: Key,
    section: &'static str,
    names: &'static [&'static str],
    env: &'static [&'static str],
    kind: Kind,
}

/// Every setting: its section and names in `ansible.cfg` (the first name
/// is the current one, later ones are the older spellings Ansible still
/// reads) and its environment variables.
const SPECS: &[Spec] = &[
    Spec {
        key: Key::Inventory,
        section: "defaults",
        names: &["inventory", "hostfile"],
        env: &["ANSIBLE_INVENTORY"],
        kind: Kind::PathList,
    },
    Spec {
        key: Key::Forks,
        section: "defaults",
        names: &["forks"],
        env: &["ANSIBLE_FORKS"],
        kind: Kind::Count,
    },
    Spec {
        key: Key::RemoteUser,
        section: "defaults",
        names: &["remote_user"],
        env: &["ANSIBLE_REMOTE_USER"],
        kind: Kind::Text,
    },
    Spec {
        key: Key::RolesPath,
        section: "defaults",
        names: &["roles_path"],
        env: &["ANSIBLE_ROLES_PATH"],
        kind: Kind::PathSpec,
    },
    Spec {
        key: Key::VaultPasswordFile,
        section: "defaults",
        names: &["vault_password_file"],
        env: &["ANSIBLE_VAULT_PASSWORD_FILE"],
        kind: Kind::Path,
    },
    Spec {
        key: Key::HostKeyChecking,
        section: "defaults",
        names: &["host_key_checking"],
        env: &["ANSIBLE_HOST_KEY_CHECKING"],
        kind: Kind::Bool,
    },
    Spec {
        key: Key::PrivateKeyFile,
        section: "defaults",
        names: &["private_key_file"],
        env: &["ANSIBLE_PRIVATE_KEY_FILE"],
        kind: Kind::Path,
    },
    Spec {
        key: Key::Timeout,
        section: "defaults",
        names: &["timeout"],
        env: &["ANSIBLE_TIMEOUT"],
        kind: Kind::Count,
    },
    Spec {
        key: Key::NoColor,
        section: "defaults",
        names: &["nocolor"],
        env: &["ANSIBLE_NOCOLOR"],
        kind: Kind::Bool,
    },
    Spec {
        key: Key::Become,
        section: "privilege_escalation",
        names: &["become"],
        env: &["ANSIBLE_BECOME"],
        kind: Kind::Bool,
    },
    Spec {
        key: Key::BecomeMethod,
        section: "privilege_escalation",
        names: &["become_method"],
        env: &["ANSIBLE_BECOME_METHOD"],
        kind: Kind::Text,
    },
    Spec {
        key: Key::BecomeUser,
        section: "privilege_escalation",
        names: &["become_user"],
        env: &["ANSIBLE_BECOME_USER"],
        kind: Kind::Text,
    },
    Spec {
        key: Key::BecomeAskPass,
        section: "privilege_escalation",
        names: &["become_ask_pass"],
        env: &["ANSIBLE_BECOME_ASK_PASS"],
        kind: Kind::Bool,
    },
];

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Count(u64),
    Text(String),
    Paths(Vec<PathBuf>),
}

/// Where a setting came from, for `-v` and for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Env(&'static str),
    File { path: PathBuf, line: usize },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Env(name) => write!(f, "${name}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

#[derive(Debug, Clone)]
struct Setting {
    key: Key,
    value: Value,
    origin: Origin,
}

/// The settings of this process, from the environment and one file.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The configuration file that was read.
    pub file: Option<PathBuf>,
    /// What `-v` tells about the configuration: the file read or skipped.
    pub notes: Vec<String>,
    values: Vec<Setting>,
}

/// Where the configuration file is looked for and what it says.
pub struct Sources<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
}

impl Settings {
    /// The settings of this process: its environment, current directory
    /// and home directory.
    pub fn load() -> Result<Settings, Error> {
        let env = |name: &str| std::env::var(name).ok();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Settings::load_from(&Sources {
            env: &env,
            cwd,
            home,
        })
    }

    pub fn load_from(sources: &Sources<'_>) -> Result<Settings, Error> {
        let mut settings = Settings::default();
        if let Some(path) = config_file(sources, &mut settings.notes)? {
            let src = SourceFile::read(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            settings.values = parse_file(&src, &path)?;
            settings
                .notes
                .push(format!("configuration: {}", path.display()));
            settings.file = Some(path);
        }
        for spec in SPECS {
            let Some((name, text)) = spec
                .env
                .iter()
                .find_map(|name| (sources.env)(name).map(|v| (*name, v)))
            else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let value =
                convert(spec.kind, &text, &sources.cwd).map_err(|expected| Error::Usage {
                    message: format!("the environment variable {name}={text} is not {expected}"),
                    help: Some(format!("set {name} to {expected}, or unset it")),
                })?;
            settings.values.retain(|s| s.key != spec.key);
            settings.values.push(Setting {
                key: spec.key,
                value,
                origin: Origin::Env(name),
            });
        }
        Ok(settings)
    }

    fn get(&self, key: Key) -> Option<&Setting> {
        self.values.iter().find(|s| s.key == key)
    }

    /// A setting's value and where it came from.
    pub fn value(&self, key: Key) -> Option<(&Value, &Origin)> {
        self.get(key).map(|s| (&s.value, &s.origin))
    }

    pub fn flag(&self, key: Key) -> Option<bool> {
        match self.get(key)?.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn count(&self, key: Key) -> Option<u64> {
        match self.get(key)?.value {
            Value::Count(n) => Some(n),
            _ => None,
        }
    }

    pub fn text(&self, key: Key) -> Option<&str> {
        match &self.get(key)?.value {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// A path or a list of paths.
    pub fn paths(&self, key: Key) -> Vec<PathBuf> {
        match self.get(key).map(|s| &s.value) {
            Some(Value::Paths(p)) => p.clone(),
            _ => Vec::new(),
        }
    }

    pub fn path(&self, key: Key) -> Option<PathBuf> {
        self.paths(key).into_iter().next()
    }

    pub fn origin(&self, key: Key) -> Option<&Origin> {
        self.get(key).map(|s| &s.origin)
    }
}

/// The one configuration file Ansible would read, if any.
fn config_file(sources: &Sources<'_>, notes: &mut Vec<String>) -> Result<Option<PathBuf>, Error> {
    if let Some(given) = (sources.env)("ANSIBLE_CONFIG").filter(|v| !v.is_empty()) {
        let mut path = expand_home(&given, sources.home.as_deref());
        if path.is_relative() {
            path = sources.cwd.join(path);
        }
        if path.is_dir() {
            path = path.join("ansible.cfg");
        }
        if path.is_file() {
            return Ok(Some(path));
        }
        return Err(Error::Usage {
            message: format!("ANSIBLE_CONFIG names {}, which is not a file", path.display()),
            help: Some("point ANSIBLE_CONFIG at an ansible.cfg file (or a directory holding one), or unset it".into()),
        });
    }
    let local = sources.cwd.join("ansible.cfg");
    if local.is_file() {
        if world_writable(&sources.cwd) {
            notes.push(format!(
                "{} was not read: its directory is world-writable, so anyone could have put it there (as Ansible, set ANSIBLE_CONFIG to read it anyway)",
                local.display()
            ));
        } else {
            return Ok(Some(local));
        }
    }
    let mut candidates = Vec::new();
    if let Some(home) = &sources.home {
        candidates.push(home.join(".ansible.cfg"));
    }
    candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Reads the settings dtrplay knows from an INI file, as Python's
/// configparser does for Ansible: `[section]` headers, `name = value` or
/// `name: value`, whole-line `#` and `;` comments and inline `;` comments.
fn parse_file(src: &SourceFile, path: &Path) -> Result<Vec<Setting>, Error> {
    if let Some(err) = src.utf8_error() {
        return Err(err.into());
    }
    let text = src.text();
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut section = String::new();
    let mut values: Vec<Setting> = Vec::new();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                let span = SourceSpan::from((start, content.len()));
                return Err(
                    InputError::new(src, span, "a section header must end with `]`")
                        .with_label("expected `[section]`")
                        .into(),
                );
            };
            section = name.trim().to_string();
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            let span = SourceSpan::from((start, content.len()));
            return Err(
                InputError::new(src, span, "a setting must be `name = value`")
                    .with_label("no `=` on this line")
                    .with_help("write `name = value` under a `[section]` header")
                    .into(),
            );
        };
        let name = trimmed[..split].trim().to_ascii_lowercase();
        let mut value = trimmed[split + 1..].trim();
        if let Some(at) = inline_comment(value) {
            value = value[..at].trim_end();
        }
        let Some(spec) = SPECS
            .iter()
            .find(|s| s.section == section && s.names.contains(&name.as_str()))
        else {
            continue;
        };
        let lead = content.len() - content.trim_start().len();
        let value_at = start + lead + trimmed.find(value).unwrap_or(split + 1);
        let converted = convert(spec.kind, value, &base).map_err(|expected| {
            let span = SourceSpan::from((value_at, value.len().max(1)));
            InputError::new(src, span, format!("`{name}` must be {expected}"))
                .with_label(format!("expected {expected}"))
                .with_help(help_for(spec.kind))
        })?;
        values.retain(|s| s.key != spec.key);
        values.push(Setting {
            key: spec.key,
            value: converted,
            origin: Origin::File {
                path: path.to_path_buf(),
                line: index + 1,
            },
        });
    }
    Ok(values)
}

/// Where an inline `;` comment starts: configparser needs whitespace
/// before it, so `a;b` stays a value.
fn inline_comment(value: &str) -> Option<usize> {
    value
        .char_indices()
        .find(|&(i, c)| c == ';' && value[..i].ends_with([' ', '\t']))
        .map(|(i, _)| i)
}

fn help_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "write `true` or `false` (`yes`/`no`, `on`/`off` and `1`/`0` work too)",
        Kind::Count => "write a whole number such as 10",
        _ => "write the value after `=`",
    }
}

/// Converts a setting's text, or says what was expected.
fn convert(kind: Kind, text: &str, base: &Path) -> Result<Value, &'static str> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let path = |p: &str| {
        let p = expand_home(p.trim(), home.as_deref());
        if p.is_relative() { base.join(p) } else { p }
    };
    match kind {
        Kind::Bool => boolean(text).map(Value::Bool).ok_or("a boolean"),
        Kind::Count => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Value::Count)
            .ok_or("a whole number above 0"),
        Kind::Text if text.trim().is_empty() => Err("a non-empty value"),
        Kind::Text => Ok(Value::Text(text.trim().to_string())),
        Kind::Path if text.trim().is_empty() => Err("a path"),
        Kind::Path => Ok(Value::Paths(vec![path(text)])),
        Kind::PathList => Ok(Value::Paths(
            text.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(path)
                .collect(),
        )),
        Kind::PathSpec => Ok(Value::Paths(
            text.split(':')
                .filter(|p| !p.trim().is_empty())
                .map(path)
                .collect(),
        )),
    }
}

/// Ansible's boolean words, case-insensitively; anything else is `None`.
pub fn boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
        "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
        _ => None,
    }
}

fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home.map_or_else(|| PathBuf::from(path), Path::to_path_buf),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Setting>, Error> {
        let src = SourceFile::new("/cfg/ansible.cfg", text);
        parse_file(&src, Path::new("/cfg/ansible.cfg"))
    }

    #[test]
    fn sections_comments_and_relative_paths() {
        let values = parse(
            "# comment\n[defaults]\ninventory = hosts.ini, /abs/inv ; inline\nforks: 7\n\n[privilege_escalation]\nbecome = True\n[other]\nforks = 1\n",
        )
        .unwrap_or_default();
        let find = |k: Key| values.iter().find(|s| s.key == k).map(|s| s.value.clone());
        assert_eq!(
            find(Key::Inventory),
            Some(Value::Paths(vec![
                PathBuf::from("/cfg/hosts.ini"),
                PathBuf::from("/abs/inv")
            ]))
        );
        assert_eq!(find(Key::Forks), Some(Value::Count(7)));
        assert_eq!(find(Key::Become), Some(Value::Bool(true)));
    }

    #[test]
    fn a_mistyped_boolean_is_an_error_not_false() {
        assert!(parse("[defaults]\nhost_key_checking = Fasle\n").is_err());
        assert!(parse("[defaults]\nforks = many\n").is_err());
    }
}
