//! What a lab directory records: `config.json` (what `lab up` asked for,
//! plus the lab's generated passwords) and `lab.json` (what `lab serve` is
//! running: its pid, every sshd pid, every address and URL).
//!
//! `lab status` and `lab down` run in other processes than `lab serve`, so
//! these files are the only link between them. Both are written atomically
//! (temporary file, then rename), so a reader never sees half a file, and
//! with mode 0600, because the config holds the lab's passwords.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Flavor;

/// What `lab up` asked for, kept across restarts of a kept lab directory.
pub const CONFIG_FILE: &str = "config.json";
/// What `lab serve` is running; present only while it runs.
pub const STATE_FILE: &str = "lab.json";
/// The version of `lab.json`'s layout.
pub const STATE_VERSION: u32 = 1;

/// A UCP node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs UCP's controller: holds UCP's certificates (`dump-certs` works).
    Controller,
    /// Runs workloads only.
    Worker,
}

impl Role {
    /// The inventory group of this role.
    pub fn group(self) -> &'static str {
        match self {
            Role::Controller => "ucp_controllers",
            Role::Worker => "ucp_workers",
        }
    }
}

/// The lab's shape and accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabConfig {
    pub flavor: Flavor,
    /// How many nodes, controllers included.
    pub nodes: usize,
    /// How many of the nodes (the first ones) are controllers.
    pub controllers: usize,
    /// UCP's (and DTR's) administrator.
    pub admin_user: String,
    pub admin_password: String,
    /// A second, non-admin user of UCP and DTR.
    pub user: String,
    pub user_password: String,
    /// Whom SSH logs in as on the nodes. Older lab directories have no such
    /// entry: their nodes are reached as root.
    #[serde(default)]
    pub login: LoginConfig,
    /// Whether every node also runs MKE 4's containerd in k0s's layout
    /// (`lab up --containerd`, `containerd.rs`).
    #[serde(default)]
    pub containerd: bool,
}

/// The nodes' login user (`lab up --login-user`, `--sudo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginConfig {
    /// `root` (root login, no sudo needed) or a user of the nodes' own.
    pub user: String,
    pub sudo: crate::users::Sudo,
    /// The login user's password, which sudo asks for in password mode.
    pub password: String,
}

impl Default for LoginConfig {
    fn default() -> LoginConfig {
        LoginConfig {
            user: "root".to_string(),
            sudo: crate::users::Sudo::Nopasswd,
            password: String::new(),
        }
    }
}

impl LoginConfig {
    /// The nodes' accounts, unless they are reached as root.
    pub fn users(&self) -> Option<crate::users::Users> {
        if self.user == "root" {
            return None;
        }
        let mut users = crate::users::Users::operator(&self.password);
        users.login = self.user.clone();
        users.sudo = self.sudo;
        Some(users)
    }
}

impl LabConfig {
    /// A new lab's configuration, with fresh random passwords.
    pub fn new(flavor: Flavor, nodes: usize, controllers: usize) -> LabConfig {
        LabConfig {
            flavor,
            nodes,
            controllers,
            admin_user: "admin".to_string(),
            admin_password: random_password(),
            user: "user".to_string(),
            user_password: random_password(),
            login: LoginConfig::default(),
            containerd: false,
        }
    }

    /// The role of the node at `index` (0-based).
    pub fn role(&self, index: usize) -> Role {
        if index < self.controllers {
            Role::Controller
        } else {
            Role::Worker
        }
    }
}

/// One of the lab's HTTPS services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `https://host:port`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The `host:port` clients use (image names, `certs.d` directory).
    pub host: String,
}

/// One node as recorded for `lab status` and `lab down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    pub role: Role,
    pub host: IpAddr,
    pub port: u16,
    /// The node's sshd listener.
    pub pid: u32,
    /// The node's private directory on the control machine.
    pub root: PathBuf,
    /// The node's dockerd, when it runs a real engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_pid: Option<u32>,
    /// The node's k0s-style containerd, when the lab runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerd_pid: Option<u32>,
}

impl NodeRecord {
    /// Where the node's sshd listens.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// A running lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    pub version: u32,
    /// The lab directory (absolute).
    pub dir: PathBuf,
    pub flavor: Flavor,
    /// The `lab serve` process that owns everything below.
    pub serve_pid: u32,
    /// When `lab serve` finished starting (seconds since the epoch).
    pub started_at: u64,
    pub ucp: Endpoint,
    pub dtr: Endpoint,
    pub nodes: Vec<NodeRecord>,
    /// The generated Ansible inventory.
    pub inventory: PathBuf,
    /// `ssh -F` configuration for the nodes.
    pub ssh_config: PathBuf,
    /// The CA that UCP's server certificate chains to.
    pub ucp_ca_file: PathBuf,
    /// The CA that DTR's server certificate chains to.
    pub dtr_ca_file: PathBuf,
    /// Why the nodes run no real Docker engine, when they do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_warning: Option<String>,
    /// `http://127.0.0.1:<port>` of the lab's CONNECT proxy, when UCP and
    /// DTR are reached by names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
}

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid lab file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a JSON file; `None` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes `value` as pretty JSON, atomically, mode 0600.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_private(path, &bytes)
}

/// Writes `bytes` atomically with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    write_atomic(path, bytes, 0o600)
}

/// Writes `bytes` to a temporary file beside `path` with `mode`, then
/// renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    dtrplay_local_file::write_atomic(path, bytes, mode).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// 24 random characters from `[A-Za-z0-9]`. The randomness comes from std's
/// `RandomState`, whose keys are seeded by the operating system; that is
/// enough for passwords that never leave the machine.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::new();
    let mut round = 0u64;
    while out.len() < 24 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(round);
        hasher.write_u32(std::process::id());
        let mut value = hasher.finish();
        for _ in 0..8 {
            if out.len() == 24 {
                break;
            }
            out.push(char::from(
                ALPHABET[(value % ALPHABET.len() as u64) as usize],
            ));
            value /= ALPHABET.len() as u64;
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_differ() {
        let a = random_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, random_password());
    }

    #[test]
    fn roles_follow_the_controller_count() {
        let config = LabConfig::new(Flavor::Ucp1, 3, 1);
        assert_eq!(config.role(0), Role::Controller);
        assert_eq!(config.role(1), Role::Worker);
    }
}
