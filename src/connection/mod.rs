//! How dtrplay talks to hosts: run a shell script, get its output.
//!
//! Every task reaches its host through one method, `Connection::run`: a POSIX
//! `sh` script plus bytes for its standard input. Keeping the surface that
//! small is what lets a task do its whole check (or its whole apply) in one
//! round trip, and lets the SSH transport keep one long-lived remote shell per
//! host instead of opening a session per command (see `remote_shell.rs`).
//!
//! Only this module and `api` touch the network.

pub mod local;
pub mod mux;
pub mod remote_shell;
pub mod ssh;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

/// What a remote script produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The script's exit status (128 + N when killed by signal N).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a script could not be run at all. A script that ran and exited
/// non-zero is not a `ConnError`; it is an `Output` with a non-zero status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    /// The host could not be reached or refused us (after retries).
    #[error("could not connect to {host}: {message}")]
    Connect {
        host: String,
        message: String,
        /// A hint for the user (`MaxStartups`, known_hosts, keys).
        hint: Option<String>,
    },
    /// The connection broke while a script was running.
    #[error("lost the connection to {host}: {message}")]
    Lost { host: String, message: String },
    /// The script did not finish in time; it was killed with its shell.
    #[error("the command on {host} did not finish within {}s", after.as_secs())]
    Timeout { host: String, after: Duration },
}

/// How to reach one host, resolved from its inventory variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory name, used in every message.
    pub name: String,
    /// `ansible_host`, or the inventory name.
    pub address: String,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub key_file: Option<PathBuf>,
    /// `ansible_ssh_common_args`, already split into words.
    pub ssh_args: Vec<String>,
    /// `ansible_connection`.
    pub transport: Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ssh,
    /// Run on the control machine itself (`ansible_connection: local`, and
    /// the implicit `localhost`).
    Local,
}

/// Settings that apply to every connection of a run.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A private directory for the SSH control sockets of this run.
    pub control_dir: PathBuf,
    /// Keep the SSH master connections this long after the run, so that the
    /// next run reuses them (`--ssh-persist`). `None` closes them at the end.
    pub persist: Option<Duration>,
    pub connect_timeout: Duration,
    /// How many times a failed connection attempt is retried, with backoff.
    pub retries: u32,
}

/// One open channel to a host.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Runs `script` with `sh` on the host, feeding `stdin` to it, and waits
    /// at most `timeout` for it to finish.
    async fn run(&self, script: &str, stdin: &[u8], timeout: Duration)
    -> Result<Output, ConnError>;

    /// Closes the channel (and the SSH master unless it is meant to persist).
    async fn close(&self);
}

/// Opens a connection to a target with the transport it asks for.
pub async fn connect(
    target: &Target,
    options: &ConnectOptions,
) -> Result<Box<dyn Connection>, ConnError> {
    match target.transport {
        Transport::Local => Ok(Box::new(local::LocalConnection::new(&target.name))),
        Transport::Ssh => Ok(Box::new(ssh::SshConnection::open(target, options).await?)),
    }
}
