//! What the fleet's node code can fail with, and the constants those
//! messages name. Below every file of the node code (`node.rs`,
//! `rootfs.rs`, `users.rs`), which all report through it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where Debian (and the CI image) install the OpenSSH server. sshd must be
/// started by absolute path, because it re-executes itself per connection.
pub const SSHD: &str = "/usr/sbin/sshd";

/// The environment variable that tells lab tools which node they run on.
pub const NODE_ENV: &str = "DTRPLAY_LAB_NODE";

/// The most nodes a fleet has: four loopback `/24`s of 254 nodes each, well
/// past the fleet benchmark's largest size (500) and within what one
/// machine's file-descriptor and process limits carry.
pub const MAX_NODES: usize = 1000;

/// Why the fleet could not start, stop or restart a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("a fleet has between 1 and {MAX_NODES} nodes, not {count}")]
    Count { count: usize },
    #[error(
        "the fleet directory {path} contains characters that sshd_config and ssh_config cannot carry safely; use letters, digits and `/._-+@:,=%~`"
    )]
    PlainPath { path: PathBuf },
    #[error(
        "the fleet directory {path} lies under {mount}, which every node replaces with its private copy"
    )]
    UnderPrivateMount { path: PathBuf, mount: String },
    #[error("private mounts per node need root (mount namespaces); use Isolation::Shared instead")]
    NotRoot,
    #[error(
        "lab nodes with users of their own need root (private /etc/passwd and /home per node); run as root, or log in as yourself without users"
    )]
    UsersNeedIsolation,
    #[error("{SSHD} is missing: install the OpenSSH server (`apt-get install openssh-server`)")]
    NoSshd,
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("node {node}: no free port on {host}: {source}")]
    Port {
        node: String,
        host: IpAddr,
        source: std::io::Error,
    },
    #[error(
        "node {node}: sshd exited ({status}) before answering on {addr}\ncommand: {command}\nsshd said:\n{log}"
    )]
    Exited {
        node: String,
        addr: SocketAddr,
        status: std::process::ExitStatus,
        command: String,
        log: String,
    },
    #[error(
        "node {node}: sshd did not answer with an SSH banner on {addr} within {timeout:?}\ncommand: {command}\nsshd said:\n{log}"
    )]
    NoBanner {
        node: String,
        addr: SocketAddr,
        timeout: Duration,
        command: String,
        log: String,
    },
    #[error("node {node}: cannot stop sshd (pid {pid}): {source}")]
    Kill {
        node: String,
        pid: u32,
        source: nix::errno::Errno,
    },
    #[error("node {node}: processes {pids:?} are still alive after SIGKILL")]
    Survivors { node: String, pids: Vec<u32> },
    #[error("no node named {name} in this fleet")]
    UnknownNode { name: String },
}
