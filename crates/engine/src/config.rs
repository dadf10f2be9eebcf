//! The resolved configuration of a run: the command line made concrete.
//!
//! `cli.rs` holds the arguments as typed; this module turns them into values
//! the engine can use without re-checking: extra variables parsed and
//! loaded (`-e k=v`, `-e '{"json": 1}'`, `-e @file.yml`), tag filters, the
//! output mode. The engine never sees clap types.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cli::{BecomeMethodArg, OutputFormat, RunArgs, SshClientArg};
use crate::connection::escalate::Method;
use crate::connection::{SshClient, Target};
use crate::error::{Error, InputError};
use crate::escalation::BecomeDefaults;
use crate::settings::{Key, Settings};
use crate::source::SourceFile;
use crate::yaml;

/// Everything `apply` and `plan` need.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub playbook: PathBuf,
    pub inventory: Vec<PathBuf>,
    pub check: bool,
    pub diff: bool,
    pub limit: Option<String>,
    pub tags: TagFilter,
    pub extra_vars: Map<String, Value>,
    pub forks: usize,
    pub output: OutputFormat,
    /// `--report` files, written when the run ends.
    pub reports: Vec<PathBuf>,
    pub verbose: u8,
    pub task_path: Vec<PathBuf>,
    /// `--roles-path` then `ANSIBLE_ROLES_PATH`.
    pub roles_path: Vec<PathBuf>,
    pub ssh_persist: Option<u64>,
    /// `--ssh-client`.
    pub ssh_client: SshClient,
    /// `timeout` in ansible.cfg (ANSIBLE_TIMEOUT): seconds to open a connection.
    pub connect_timeout: Duration,
    /// What the inventory's connection variables default to.
    pub connection: ConnectionDefaults,
    /// `nocolor` in ansible.cfg (ANSIBLE_NOCOLOR).
    pub no_color: bool,
    /// `--start-at-task`.
    pub start_at_task: Option<String>,
    /// `--step`: ask on the terminal before each task.
    pub step: bool,
    /// `-b`, `--become-user`, `--become-method`, and the password of
    /// `--become-password-file` (`-K` asks for it later, see
    /// [`RunConfig::ask_become_pass`]).
    pub escalation: BecomeDefaults,
    /// `-K`: ask for the become password once, before the run.
    pub ask_become_pass: bool,
}

/// Defaults for a host's connection variables, from the command line and
/// the Ansible settings; the inventory's own variables win over them, as
/// in Ansible.
#[derive(Debug, Clone, Default)]
pub struct ConnectionDefaults {
    /// `-u`, `remote_user`.
    pub user: Option<String>,
    /// `private_key_file`.
    pub key_file: Option<PathBuf>,
    /// `host_key_checking = false`: where it was turned off.
    pub host_keys_unchecked: Option<String>,
}

impl ConnectionDefaults {
    /// Fills in what a host's own variables left unset.
    pub fn apply(&self, mut target: Target) -> Target {
        if target.user.is_none() {
            target.user.clone_from(&self.user);
        }
        if target.key_file.is_none() {
            target.key_file.clone_from(&self.key_file);
        }
        if self.host_keys_unchecked.is_some() {
            // Last, so an inventory's own StrictHostKeyChecking wins: ssh
            // keeps the first value of each option.
            target
                .ssh_args
                .extend(["-o".to_string(), "StrictHostKeyChecking=no".to_string()]);
        }
        target
    }

    /// The warning a run with host key checking off starts with.
    pub fn warning(&self) -> Option<String> {
        self.host_keys_unchecked.as_ref().map(|origin| {
            format!(
                "host key checking is off ({origin}): any machine that answers at a host's address is trusted with this run; set host_key_checking = true to verify hosts against known_hosts"
            )
        })
    }

    pub fn from_settings(user: Option<&str>, settings: &Settings) -> ConnectionDefaults {
        ConnectionDefaults {
            user: user.or(settings.text(Key::RemoteUser)).map(str::to_string),
            key_file: settings.path(Key::PrivateKeyFile),
            host_keys_unchecked: match settings.flag(Key::HostKeyChecking) {
                Some(false) => settings.origin(Key::HostKeyChecking).map(|o| o.to_string()),
                _ => None,
            },
        }
    }
}

impl RunConfig {
    pub fn from_args(args: &RunArgs, plan: bool, settings: &Settings) -> Result<RunConfig, Error> {
        let forks = match args.forks {
            Some(n) => n,
            None => settings
                .count(Key::Forks)
                .map_or(50, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        if forks == 0 {
            return Err(Error::Usage {
                message: "--forks must be at least 1".into(),
                help: Some("the default is 50".into()),
            });
        }
        for report in &args.report {
            crate::report::file::Format::of(report)?;
        }
        Ok(RunConfig {
            playbook: args.playbook.clone(),
            inventory: inventory_sources(&args.inventory, settings)?,
            check: args.check || plan,
            diff: args.diff || plan,
            limit: args.limit.clone(),
            tags: TagFilter {
                only: args.tags.clone(),
                skip: args.skip_tags.clone(),
            },
            extra_vars: parse_extra_vars(&args.extra_vars)?,
            forks,
            output: args.output,
            reports: args.report.clone(),
            verbose: args.verbose,
            task_path: args.task_path.clone(),
            roles_path: crate::playbook::role::roles_path(&args.roles_path, settings),
            ssh_persist: args.ssh_persist,
            ssh_client: match args.ssh_client {
                SshClientArg::Auto => SshClient::Auto,
                SshClientArg::Native => SshClient::Native,
                SshClientArg::Openssh => SshClient::OpenSsh,
            },
            connect_timeout: Duration::from_secs(settings.count(Key::Timeout).unwrap_or(10)),
            connection: ConnectionDefaults::from_settings(args.user.as_deref(), settings),
            no_color: settings.flag(Key::NoColor).unwrap_or(false),
            start_at_task: args.start_at_task.clone(),
            step: args.step,
            escalation: BecomeDefaults {
                enabled: args.escalate || settings.flag(Key::Become) == Some(true),
                user: args
                    .become_user
                    .clone()
                    .or_else(|| settings.text(Key::BecomeUser).map(str::to_string)),
                method: match args.become_method {
                    Some(BecomeMethodArg::Sudo) => Some(Method::Sudo),
                    Some(BecomeMethodArg::Su) => Some(Method::Su),
                    None => become_method_setting(settings)?,
                },
                password: match &args.become_password_file {
                    Some(path) => Some(read_password_file(path)?),
                    None => None,
                },
            },
            ask_become_pass: args.ask_become_pass
                || settings.flag(Key::BecomeAskPass) == Some(true),
        })
    }
}

/// The first line of a password file, without its line end.
fn read_password_file(path: &Path) -> Result<String, Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > 64 * 1024 {
        return Err(Error::Usage {
            message: format!(
                "--become-password-file {} is {} bytes long; a password file holds one line",
                path.display(),
                meta.len()
            ),
            help: None,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("");
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

/// Where Ansible looks for an inventory when `-i` is not given.
pub const DEFAULT_INVENTORY: &str = "/etc/ansible/hosts";

/// The inventories of a run: `-i` as given, else Ansible's defaults, the
/// paths in `ANSIBLE_INVENTORY` (comma-separated) or `inventory` in
/// ansible.cfg, else `/etc/ansible/hosts`. Without any, running would
/// target nothing, so it is an error that says where inventories are
/// looked for.
pub fn inventory_sources(given: &[PathBuf], settings: &Settings) -> Result<Vec<PathBuf>, Error> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let configured = settings.paths(Key::Inventory);
    if !configured.is_empty() {
        return Ok(configured);
    }
    let default = Path::new(DEFAULT_INVENTORY);
    if default.exists() {
        return Ok(vec![default.to_path_buf()]);
    }
    Err(Error::Usage {
        message: format!(
            "no inventory: `-i` was not given, neither ANSIBLE_INVENTORY nor ansible.cfg names one, and {DEFAULT_INVENTORY} does not exist"
        ),
        help: Some("name one with `-i inventory.yml` (a YAML or INI file, or a directory), set ANSIBLE_INVENTORY, or set `inventory` under [defaults] in ansible.cfg".into()),
    })
}

/// `--tags` and `--skip-tags`, with Ansible's special tags (`always`,
/// `never`, `all`, `tagged`, `untagged`).
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl TagFilter {
    /// Whether a task with these (task and play) tags runs.
    pub fn selects(&self, tags: &[String]) -> bool {
        let has = |t: &str| tags.iter().any(|x| x == t);
        let asked = |list: &[String], t: &str| list.iter().any(|x| x == t);
        let matches = |list: &[String]| {
            list.iter().any(|want| match want.as_str() {
                "all" => !has("never"),
                "tagged" => !tags.is_empty() && !has("never"),
                "untagged" => tags.is_empty(),
                w => has(w),
            })
        };
        // `always` runs unless it is skipped by name.
        let always = has("always") && !asked(&self.skip, "always");
        if always {
            return true;
        }
        if !self.skip.is_empty() && matches(&self.skip) {
            return false;
        }
        if self.only.is_empty() {
            return !has("never");
        }
        matches(&self.only)
    }
}

/// Parses `-e` values: `key=value ...` (values are strings, as in Ansible),
/// a JSON or YAML mapping, or `@file` (YAML or JSON). Later ones win.
pub fn parse_extra_vars(values: &[String]) -> Result<Map<String, Value>, Error> {
    let mut vars = Map::new();
    for (i, raw) in values.iter().enumerate() {
        let parsed = if let Some(path) = raw.strip_prefix('@') {
            load_vars_file(Path::new(path))?
        } else if raw.trim_start().starts_with('{') {
            let src = SourceFile::new(format!("-e (argument {})", i + 1), raw.as_str());
            let node = yaml::parse(&src)?;
            match node.to_json() {
                Value::Object(map) => map,
                _ => return Err(InputError::at(&node, "expected a mapping").into()),
            }
        } else {
            let mut map = Map::new();
            // Words are split the way a shell would, so `k='a b'` keeps its space.
            let words = crate::inventory::split_shell_words(raw).map_err(|why| Error::Usage {
                message: format!("extra variables `{raw}` cannot be split: {why}"),
                help: Some("check the quotes".into()),
            })?;
            for word in &words {
                let Some((key, value)) = word.split_once('=') else {
                    return Err(Error::Usage {
                        message: format!("extra variable `{word}` is not `key=value`"),
                        help: Some(
                            "write `-e key=value`, `-e '{\"key\": 1}'` or `-e @vars.yml`".into(),
                        ),
                    });
                };
                map.insert(key.to_string(), Value::String(value.to_string()));
            }
            map
        };
        vars.extend(parsed);
    }
    Ok(vars)
}

/// Loads a YAML (or JSON) file that must hold a mapping of variables.
pub fn load_vars_file(path: &Path) -> Result<Map<String, Value>, Error> {
    let src = SourceFile::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let node = yaml::parse(&src)?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(InputError::at(
            &node,
            format!("a variables file must hold a mapping, not {}", node.kind()),
        )
        .with_label("expected `name: value` pairs")
        .into()),
    }
}

/// `become_method` from ansible.cfg or ANSIBLE_BECOME_METHOD.
fn become_method_setting(settings: &Settings) -> Result<Option<Method>, Error> {
    match settings.text(Key::BecomeMethod) {
        None => Ok(None),
        Some("sudo") => Ok(Some(Method::Sudo)),
        Some("su") => Ok(Some(Method::Su)),
        Some(other) => Err(Error::Usage {
            message: format!(
                "become_method `{other}` ({}) is not supported",
                settings
                    .origin(Key::BecomeMethod)
                    .map_or_else(String::new, ToString::to_string)
            ),
            help: Some("dtrplay escalates with `sudo` or `su`".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tag_filter_follows_ansible() {
        let none = TagFilter::default();
        assert!(none.selects(&tags(&[])));
        assert!(!none.selects(&tags(&["never"])));
        let only = TagFilter {
            only: tags(&["certs"]),
            skip: vec![],
        };
        assert!(only.selects(&tags(&["certs", "x"])));
        assert!(!only.selects(&tags(&["push"])));
        assert!(only.selects(&tags(&["always"])));
        let skip = TagFilter {
            only: vec![],
            skip: tags(&["push"]),
        };
        assert!(!skip.selects(&tags(&["push"])));
        assert!(skip.selects(&tags(&[])));
        let untagged = TagFilter {
            only: tags(&["untagged"]),
            skip: vec![],
        };
        assert!(untagged.selects(&tags(&[])));
        assert!(!untagged.selects(&tags(&["a"])));
    }

    #[test]
    fn extra_vars_forms() {
        let vars =
            parse_extra_vars(&["a=1 b=x".into(), r#"{"c": [1, 2]}"#.into()]).expect("parses");
        assert_eq!(vars["a"], Value::String("1".into()));
        assert_eq!(vars["c"], serde_json::json!([1, 2]));
        let quoted = parse_extra_vars(&["d='x y'".into()]).expect("parses");
        assert_eq!(quoted["d"], Value::String("x y".into()));
        assert!(parse_extra_vars(&["nokey".into()]).is_err());
    }
}
