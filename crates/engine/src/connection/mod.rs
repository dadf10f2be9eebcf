//! How dtrplay talks to hosts: run a shell script, get its output.
//!
//! Every task reaches its host through one method, `Connection::run`: a POSIX
//! `sh` script plus bytes for its standard input. Keeping the surface that
//! small is what lets a task do its whole check (or its whole apply) in one
//! round trip, and lets the SSH transport keep one long-lived remote shell per
//! host instead of opening a session per command (see `remote_shell.rs`).
//!
//! Only this module and `api` touch the network.

pub mod algorithms;
pub mod batched;
pub mod escalate;
pub mod exported;
pub mod jump;
pub mod known_hosts;
pub mod local;
pub mod mux;
pub mod native;
pub mod recorded;
pub mod remote_shell;
pub mod shell_connection;
pub mod ssh;
pub mod ssh_config;
pub mod ssh_refusal;

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
    /// sudo or su refused to run the shell as the become user (a wrong or
    /// missing password, sudoers, no sudo). Nothing ran on the host; the
    /// connection itself is fine.
    #[error("{message}")]
    Become {
        host: String,
        message: String,
        hint: Option<String>,
    },
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
    /// `dtrplay_ssh_client`: this host's choice of SSH client, overriding
    /// `--ssh-client`.
    pub ssh_client: Option<SshClient>,
}

/// Which SSH client carries a host's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SshClient {
    /// The native client when it understands everything in effect for the
    /// host (`ssh_config.rs`) and authenticates, else the system `ssh`.
    #[default]
    Auto,
    /// The native client (russh) only: anything it cannot do is an error.
    Native,
    /// The system `ssh` binary (`ssh.rs`).
    OpenSsh,
}

impl SshClient {
    /// Parses the value of `--ssh-client` or `dtrplay_ssh_client`.
    pub fn parse(text: &str) -> Option<SshClient> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(SshClient::Auto),
            "native" => Some(SshClient::Native),
            "openssh" => Some(SshClient::OpenSsh),
            _ => None,
        }
    }
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
    /// `--ssh-client`; a host's `dtrplay_ssh_client` overrides it.
    pub ssh_client: SshClient,
    /// The run's open jump-host connections, shared by every host behind
    /// each (`ProxyJump` on the native client).
    pub jumps: jump::Jumps,
}

/// One open channel to a host.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Runs `script` with `sh` on the host, feeding `stdin` to it, and waits
    /// at most `timeout` for it to finish.
    ///
    /// Each script gets a shell environment of its own (a new `sh`, or a
    /// subshell of a long-lived one): `cd`, variables, `exit` and `exec` in
    /// it affect nothing that runs after it. Tasks rely on that to `exec`
    /// their last program instead of paying for another process.
    async fn run(&self, script: &str, stdin: &[u8], timeout: Duration)
    -> Result<Output, ConnError>;

    /// Runs `script` like [`Connection::run`], as another user on the host
    /// (`become`). Transports keep one escalated shell per become user for
    /// the whole run. Connections that cannot escalate say so.
    async fn run_as(
        &self,
        escalation: &escalate::Escalation,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let _ = (script, stdin, timeout);
        Err(ConnError::Become {
            host: String::new(),
            message: format!(
                "{} cannot run tasks as another user ({} to {})",
                self.describe(),
                escalation.method.name(),
                escalation.user
            ),
            hint: Some("run the task without become on this host".to_string()),
        })
    }

    /// Closes the channel (and the SSH master unless it is meant to persist).
    async fn close(&self);

    /// Closes the connection so that the next one logs in anew (`meta:
    /// reset_connection`): as [`Connection::close`], and an SSH master
    /// kept for later runs (`--ssh-persist`) stops too, since the sessions
    /// on a master share its login (and so its user's groups).
    async fn reset(&self) {
        self.close().await;
    }

    /// How the host is reached, for people: `native SSH
    /// (curve25519-sha256)`, `OpenSSH: ProxyCommand is not supported natively
    /// (…)`, `local`. Shown by `apply -v` and in the JSON events. Other
    /// implementations (tests, embedders) need not say anything special.
    fn describe(&self) -> String {
        "a custom connection".to_string()
    }

    /// What the run should warn about this host once it is connected:
    /// host key checking relaxed by its configuration, keys accepted under
    /// it. Reported once per host and run.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A view of a connection: it changes how scripts run (as another user,
/// recorded, with variables exported, batched, in the background) and owns
/// nothing. Every view is a [`Connection`] through the implementation
/// below, which sends both `run` and `run_as` to [`View::script`], leaves
/// closing to the connection's owner, and describes the connection it
/// wraps.
#[async_trait]
pub trait View: Send + Sync {
    /// The connection the view wraps.
    fn wrapped(&self) -> &dyn Connection;

    /// Runs `script` as [`Connection::run`] does, or as another user with
    /// `escalation` as [`Connection::run_as`] does.
    async fn script(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError>;
}

#[async_trait]
impl<T: View> Connection for T {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.script(None, script, stdin, timeout).await
    }

    async fn run_as(
        &self,
        escalation: &escalate::Escalation,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.script(Some(escalation), script, stdin, timeout).await
    }

    /// The view owns nothing: the connection is closed by its owner.
    async fn close(&self) {}

    fn describe(&self) -> String {
        self.wrapped().describe()
    }

    fn warnings(&self) -> Vec<String> {
        self.wrapped().warnings()
    }
}

/// A connection seen as another user: every script runs through
/// [`Connection::run_as`]. Tasks get this view when they `become`, and need
/// not know.
pub struct Escalated<'a> {
    pub conn: &'a dyn Connection,
    pub escalation: escalate::Escalation,
}

#[async_trait]
impl View for Escalated<'_> {
    fn wrapped(&self) -> &dyn Connection {
        self.conn
    }

    /// A script that names its own escalation keeps it.
    async fn script(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let escalation = escalation.unwrap_or(&self.escalation);
        self.conn.run_as(escalation, script, stdin, timeout).await
    }
}

/// Opens a connection to a target with the transport it asks for.
///
/// For SSH, the client is the host's `dtrplay_ssh_client`, else
/// `--ssh-client`. In automatic mode the native client is used when it
/// understands the host's whole SSH configuration, masters are not meant to
/// persist (`--ssh-persist` keeps OpenSSH masters warm between runs, which
/// only OpenSSH can do), and its public key authentication succeeds;
/// otherwise the host uses OpenSSH, and `describe` says why. Host key
/// failures never fall back: a key that changed is an error with either
/// client.
pub async fn connect(
    target: &Target,
    options: &ConnectOptions,
) -> Result<Box<dyn Connection>, ConnError> {
    connect_as(target, options, None).await
}

/// Opens a connection like [`connect`], starting the first shell as
/// `first` when the host's settings say its tasks will become that user
/// (`ansible_become`, a play's `become`). That shell is then the one the
/// handshake ends with, so the first become task costs one round trip like
/// any other, and a host where every task becomes never starts the login
/// user's shell at all (it opens on first use). A `first` that cannot start
/// (a wrong password, sudoers) does not fail the connection: the login
/// user's shell opens instead, and the first task that becomes gets the
/// error, as it would have without `first`.
pub async fn connect_as(
    target: &Target,
    options: &ConnectOptions,
    first: Option<escalate::Escalation>,
) -> Result<Box<dyn Connection>, ConnError> {
    if target.transport == Transport::Local {
        return Ok(Box::new(local::LocalConnection::new(&target.name)));
    }
    let client = target.ssh_client.unwrap_or(options.ssh_client);
    let first = first.as_ref();
    let openssh = |reason: Option<String>| async move {
        let connection = ssh::SshConnection::open_because(target, options, reason, first).await?;
        Ok::<Box<dyn Connection>, ConnError>(Box::new(connection))
    };
    match client {
        SshClient::OpenSsh => openssh(None).await,
        SshClient::Auto if options.persist.is_some() => {
            openssh(Some("--ssh-persist keeps OpenSSH masters".to_string())).await
        }
        SshClient::Auto | SshClient::Native => {
            let forced = client == SshClient::Native;
            let files = ssh_config::RealFiles;
            let env = ssh_config::Env::current(&files);
            let settings = match ssh_config::resolve(target, &env) {
                ssh_config::Resolution::Native(settings) => *settings,
                ssh_config::Resolution::NotUnderstood { reason } if !forced => {
                    return openssh(Some(reason)).await;
                }
                ssh_config::Resolution::NotUnderstood { reason } => {
                    return Err(ConnError::Connect {
                        host: target.name.clone(),
                        message: format!("the native SSH client cannot be used: {reason}"),
                        hint: Some(
                            "use --ssh-client auto (or openssh), or set dtrplay_ssh_client: openssh for this host".to_string(),
                        ),
                    });
                }
            };
            let jump = match jump::Jump::chain(
                &settings.proxy_jump,
                settings.config_file.as_deref(),
                &env,
                options,
            ) {
                Ok(jump) => jump,
                Err(reason) if !forced => return openssh(Some(reason)).await,
                Err(reason) => {
                    return Err(ConnError::Connect {
                            host: target.name.clone(),
                            message: format!("the native SSH client cannot be used: {reason}"),
                            hint: Some(
                                "use --ssh-client auto (or openssh), or set dtrplay_ssh_client: openssh for this host".to_string(),
                            ),
                        });
                }
            };
            match native::NativeConnection::open(
                &target.name,
                settings,
                options,
                forced,
                jump.map(|j| j as std::sync::Arc<dyn native::Via>),
                first,
            )
            .await
            {
                Ok(connection) => Ok(Box::new(connection)),
                Err(native::OpenError::Fallback(reason)) => openssh(Some(reason)).await,
                Err(native::OpenError::Failed(error)) => Err(error),
            }
        }
    }
}
