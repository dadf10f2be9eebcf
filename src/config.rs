//! The resolved configuration of a run: the command line made concrete.
//!
//! `cli.rs` holds the arguments as typed; this module turns them into values
//! the engine can use without re-checking: extra variables parsed and
//! loaded (`-e k=v`, `-e '{"json": 1}'`, `-e @file.yml`), tag filters, the
//! output mode. The engine never sees clap types.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::cli::{BecomeMethodArg, OutputFormat, RunArgs, SshClientArg};
use crate::connection::SshClient;
use crate::connection::escalate::Method;
use crate::error::{Error, InputError};
use crate::escalation::BecomeDefaults;
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
    pub verbose: u8,
    pub task_path: Vec<PathBuf>,
    /// `--roles-path` then `ANSIBLE_ROLES_PATH`.
    pub roles_path: Vec<PathBuf>,
    pub ssh_persist: Option<u64>,
    /// `--ssh-client`.
    pub ssh_client: SshClient,
    /// `-b`, `--become-user`, `--become-method`, and the password of
    /// `--become-password-file` (`-K` asks for it later, see
    /// [`RunConfig::ask_become_pass`]).
    pub escalation: BecomeDefaults,
    /// `-K`: ask for the become password once, before the run.
    pub ask_become_pass: bool,
}

impl RunConfig {
    pub fn from_args(args: &RunArgs, plan: bool) -> Result<RunConfig, Error> {
        if args.forks == 0 {
            return Err(Error::Usage {
                message: "--forks must be at least 1".into(),
                help: Some("the default is 50".into()),
            });
        }
        Ok(RunConfig {
            playbook: args.playbook.clone(),
            inventory: inventory_sources(&args.inventory)?,
            check: args.check || plan,
            diff: args.diff || plan,
            limit: args.limit.clone(),
            tags: TagFilter {
                only: args.tags.clone(),
                skip: args.skip_tags.clone(),
            },
            extra_vars: parse_extra_vars(&args.extra_vars)?,
            forks: args.forks,
            output: args.output,
            verbose: args.verbose,
            task_path: args.task_path.clone(),
            roles_path: crate::playbook::role::roles_path(&args.roles_path),
            ssh_persist: args.ssh_persist,
            ssh_client: match args.ssh_client {
                SshClientArg::Auto => SshClient::Auto,
                SshClientArg::Native => SshClient::Native,
                SshClientArg::Openssh => SshClient::OpenSsh,
            },
            escalation: BecomeDefaults {
                enabled: args.escalate,
                user: args.become_user.clone(),
                method: args.become_method.map(|m| match m {
                    BecomeMethodArg::Sudo => Method::Sudo,
                    BecomeMethodArg::Su => Method::Su,
                }),
                password: match &args.become_password_file {
                    Some(path) => Some(read_password_file(path)?),
                    None => None,
                },
            },
            ask_become_pass: args.ask_become_pass,
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
/// paths in `ANSIBLE_INVENTORY` (comma-separated), else
/// `/etc/ansible/hosts`. Without any, running would target nothing, so it
/// is an error that says where inventories are looked for.
pub fn inventory_sources(given: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if let Some(list) = std::env::var_os("ANSIBLE_INVENTORY").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = list
            .to_string_lossy()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        if !paths.is_empty() {
            return Ok(paths);
        }
    }
    let default = Path::new(DEFAULT_INVENTORY);
    if default.exists() {
        return Ok(vec![default.to_path_buf()]);
    }
    Err(Error::Usage {
        message: format!(
            "no inventory: `-i` was not given, ANSIBLE_INVENTORY is not set and {DEFAULT_INVENTORY} does not exist"
        ),
        help: Some("name one with `-i inventory.yml` (a YAML or INI file, or a directory), or set ANSIBLE_INVENTORY".into()),
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
