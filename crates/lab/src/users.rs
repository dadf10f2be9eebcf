//! Lab nodes with users of their own, like production nodes: a non-root
//! login user with the lab's key, sudo, and root login over SSH refused.
//!
//! Each node gets private copies of `/etc/passwd`, `/etc/group`,
//! `/etc/shadow`, `/etc/sudoers`, `/etc/sudoers.d` and `/home`, written
//! under the node's root on the control side and bind-mounted over the real
//! ones in the node's mount namespace (`node.rs`), so the accounts exist on
//! that node only and nothing changes on the machine the lab runs on. The
//! copies start from the machine's own users (sshd's privilege separation
//! user, the system accounts), with every password locked away (`*`), and
//! add:
//!
//! - the login user (`operator` by default) with a home under the private
//!   `/home`, the lab's public key in `~/.ssh/authorized_keys`, and a
//!   password of its own;
//! - a sudoers rule for it: `NOPASSWD: ALL`, or `ALL` when sudo must ask for
//!   the password (`lab up --sudo password`), as on many real fleets;
//! - optionally a root password (for `become_method: su`) and further
//!   unprivileged accounts (targets for `become_user`).
//!
//! sudo is the real one from Debian's package; it is setuid root, which works
//! because the namespace shares the machine's `/usr`, mounted without
//! `nosuid`. Its sudoers keeps the lab's tools on `secure_path` and the
//! node's `DTRPLAY_LAB_NODE` in the environment (the `systemctl` stand-in needs
//! both), and puts its timestamp and lecture records under the node's root,
//! not in the machine's `/run` and `/var`. root's home on the node is the
//! node's `home/` directory, which root sessions of a root fleet get as
//! `HOME` too.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::node_error::{NODE_ENV, NodeError};

/// The name of the lab's login user.
pub const LOGIN_USER: &str = "operator";

/// What each node's private account files are bound over, with where the
/// copy lives under the node's root.
pub const MOUNTS: [(&str, &str); 6] = [
    ("/etc/passwd", "fs/etc/passwd"),
    ("/etc/group", "fs/etc/group"),
    ("/etc/shadow", "fs/etc/shadow"),
    ("/etc/sudoers", "fs/etc/sudoers"),
    ("/etc/sudoers.d", "fs/etc/sudoers.d"),
    ("/home", "fs/home"),
];

/// The first uid and gid given to the lab's accounts.
const FIRST_ID: u32 = 2000;

/// How sudo treats the login user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sudo {
    /// `NOPASSWD: ALL`.
    #[default]
    Nopasswd,
    /// `ALL`: sudo asks for the login user's password.
    Password,
}

/// The accounts of every node of a fleet.
#[derive(Debug, Clone)]
pub struct Users {
    /// The user SSH logs in as.
    pub login: String,
    /// Its password (what sudo asks for in [`Sudo::Password`] mode).
    pub password: String,
    pub sudo: Sudo,
    /// root's password, for `su`; root has none (`*`) without it.
    pub root_password: Option<String>,
    /// More unprivileged accounts, without sudo.
    pub others: Vec<String>,
}

impl Users {
    /// The login user `operator` with `password` and passwordless sudo.
    pub fn operator(password: &str) -> Users {
        Users {
            login: LOGIN_USER.to_string(),
            password: password.to_string(),
            sudo: Sudo::Nopasswd,
            root_password: None,
            others: Vec::new(),
        }
    }
}

/// Where a node's private copy of `/etc/sudoers.d` lives on the control side.
pub fn sudoers_dir(node_root: &Path) -> PathBuf {
    node_root.join("fs/etc/sudoers.d")
}

/// Where a node's private `/home` lives on the control side.
pub fn home_dir(node_root: &Path) -> PathBuf {
    node_root.join("fs/home")
}

/// Writes the node's account files under `node_root`: `public_key` is
/// authorized for the login user, `secure_path` is sudo's PATH.
pub fn prepare(
    node_root: &Path,
    users: &Users,
    public_key: &str,
    secure_path: &str,
) -> Result<(), NodeError> {
    let etc = node_root.join("fs/etc");
    let sudoers_d = sudoers_dir(node_root);
    let home = home_dir(node_root);
    for dir in [&etc, &sudoers_d, &home] {
        create_dir(dir)?;
    }
    let host_passwd = read(Path::new("/etc/passwd"))?;
    let host_group = read(Path::new("/etc/group"))?;
    let mut names: Vec<String> = vec![users.login.clone()];
    names.extend(users.others.iter().cloned());

    // Ids nobody on the machine uses, so that files on shared paths never
    // seem to belong to a machine account.
    let used_uids = ids(&host_passwd, 2);
    let used_gids = ids(&host_group, 2);
    let mut passwd = String::new();
    let node_home = node_root.join("home");
    for line in host_passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || names.iter().any(|n| n == fields[0]) {
            continue;
        }
        if fields[0] == "root" {
            passwd.push_str(&format!(
                "root:x:0:0:root:{}:{}\n",
                node_home.display(),
                fields[6]
            ));
        } else {
            passwd.push_str(line);
            passwd.push('\n');
        }
    }
    let mut group: String = host_group
        .lines()
        .filter(|l| {
            !names
                .iter()
                .any(|n| l.split(':').next() == Some(n.as_str()))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let mut next_uid = FIRST_ID;
    let mut next_gid = FIRST_ID;
    let mut accounts = Vec::new();
    for name in &names {
        while used_uids.contains(&next_uid) {
            next_uid += 1;
        }
        while used_gids.contains(&next_gid) {
            next_gid += 1;
        }
        let (uid, gid) = (next_uid, next_gid);
        next_uid += 1;
        next_gid += 1;
        passwd.push_str(&format!(
            "{name}:x:{uid}:{gid}:dtrplay lab user:/home/{name}:/bin/bash\n"
        ));
        group.push_str(&format!("{name}:x:{gid}:\n"));
        accounts.push((name.clone(), uid, gid));
    }
    let mut shadow = String::new();
    for line in passwd.lines() {
        let name = line.split(':').next().unwrap_or("");
        let hash = if name == users.login {
            crypt(&users.password)?
        } else if name == "root" {
            match &users.root_password {
                Some(password) => crypt(password)?,
                None => "*".to_string(),
            }
        } else {
            "*".to_string()
        };
        shadow.push_str(&format!("{name}:{hash}:20000:0:99999:7:::\n"));
    }
    write(&etc.join("passwd"), &passwd, 0o644)?;
    write(&etc.join("group"), &group, 0o644)?;
    write(&etc.join("shadow"), &shadow, 0o640)?;

    let state = node_root.join("sudo");
    for dir in [state.clone(), state.join("ts"), state.join("lectured")] {
        create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            NodeError::Write {
                path: dir.clone(),
                source,
            }
        })?;
    }
    let sudoers = format!(
        concat!(
            "# Written by dtrplay for this lab node: Debian's defaults, plus the lab's\n",
            "# tools on the secure path and the node's name kept in the environment.\n",
            "Defaults\tenv_reset\n",
            "Defaults\tsecure_path=\"{path}\"\n",
            "Defaults\tuse_pty\n",
            "Defaults\tenv_keep += \"{node_env}\"\n",
            "Defaults\ttimestampdir={ts}\n",
            "Defaults\tlecture_status_dir={lectured}\n",
            "root\tALL=(ALL:ALL) ALL\n",
            "%sudo\tALL=(ALL:ALL) ALL\n",
            "@includedir /etc/sudoers.d\n",
        ),
        path = secure_path,
        node_env = NODE_ENV,
        ts = state.join("ts").display(),
        lectured = state.join("lectured").display(),
    );
    write(&etc.join("sudoers"), &sudoers, 0o440)?;
    let rule = match users.sudo {
        Sudo::Nopasswd => format!("{} ALL=(ALL:ALL) NOPASSWD: ALL\n", users.login),
        Sudo::Password => format!("{} ALL=(ALL:ALL) ALL\n", users.login),
    };
    write(&sudoers_d.join("90-dtrplay-lab"), &rule, 0o440)?;

    for (name, uid, gid) in &accounts {
        let dir = home.join(name);
        let ssh = dir.join(".ssh");
        create_dir(&ssh)?;
        let keys = ssh.join("authorized_keys");
        if *name == users.login {
            write(&keys, public_key, 0o600)?;
        }
        for (path, mode) in [(&dir, 0o750), (&ssh, 0o700)] {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
                NodeError::Write {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        for path in [&dir, &ssh, &keys] {
            if path.exists() {
                chown(path, Some(*uid), Some(*gid)).map_err(|source| NodeError::Write {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// The ids in column `column` of a passwd or group file.
fn ids(text: &str, column: usize) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.split(':').nth(column))
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// A SHA-512 crypt hash of `password`, from `openssl passwd -6`, which reads
/// the password on its standard input (never on its command line).
fn crypt(password: &str) -> Result<String, NodeError> {
    let command = "openssl passwd -6 -stdin".to_string();
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NodeError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{password}\n").as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|source| NodeError::Spawn {
            command: command.clone(),
            source,
        })?;
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || !hash.starts_with("$6$") {
        return Err(NodeError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(hash)
}

fn create_dir(path: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(path).map_err(|source| NodeError::Create {
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<String, NodeError> {
    fs::read_to_string(path).map_err(|source| NodeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `contents` with `mode`, owned by whoever runs the lab (root).
fn write(path: &Path, contents: &str, mode: u32) -> Result<(), NodeError> {
    let failed = |source| NodeError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::write(path, contents).map_err(failed)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_a_column() {
        let text = "root:x:0:0::/root:/bin/sh\nsshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n";
        assert_eq!(ids(text, 2), vec![0, 101]);
    }
}
