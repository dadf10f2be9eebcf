//! The native SSH transport: an in-process SSH client (russh, with the
//! ring crypto backend) instead of one system `ssh` process per host.
//!
//! # Why
//!
//! On the control machine, the system `ssh` client costs about 17 ms of CPU
//! per host before the first byte of work (exec, crypto library start-up,
//! configuration parsing, the handshake) and one process per host for the
//! whole run. In process, a curve25519 handshake costs a millisecond or two
//! and a connection is a task and a socket, which is what makes large cold
//! runs and a small whole-process-tree memory footprint possible.
//!
//! # What is the same as `ssh.rs`
//!
//! The remote side is identical: one session channel per host `exec`s the
//! remote shell bootstrap of `remote_shell.rs`, and every task's script is
//! a framed request to that shell, its reply cut back out of the channel's
//! stdout and stderr by the same `Reply` assembler. Connect failures are
//! retried with the same backoff, and only the transient ones (refused,
//! reset, dropped before authentication as sshd's `MaxStartups` does,
//! timeouts); messages and hints use ssh.rs's words where the situation is
//! the same.
//!
//! # What the native client does itself
//!
//! - Settings come from `ssh_config.rs`, which resolves the host the way
//!   OpenSSH would and declines anything it does not implement; such hosts
//!   never get here in automatic mode.
//! - Host keys are checked against the known_hosts files by
//!   `known_hosts.rs`; an unknown or changed key is a loud failure with the
//!   file to fix, never a fallback.
//! - Authentication is public key only: the identity files (unencrypted,
//!   or encrypted ones whose public half the agent holds), then the agent's
//!   keys unless `IdentitiesOnly`. When it fails, automatic mode hands the
//!   host to OpenSSH, which may know GSSAPI, certificates or FIDO keys.
//!
//! # Lifecycle
//!
//! One TCP connection and one SSH connection per host for the whole run.
//! Commands on one host run one at a time (a mutex). A command that
//! outlives its timeout gets its channel closed, and a fresh channel is
//! opened on the same SSH connection at once, with no new handshake; its
//! shell first hangs up the old one's process group (`remote_shell::Orphan`)
//! and then serves the next command. Only a connection that is gone is
//! opened again.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use russh::client::{self, Handle, Msg};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Disconnect};
use tokio::sync::Mutex;

use crate::connection::algorithms;
use crate::connection::escalate::{self, Escalation, Step};
use crate::connection::known_hosts::{self, lookup_name};
use crate::connection::known_hosts::{HostKeys, Verdict};
use crate::connection::remote_shell::{self, Orphan, Reply, Session};
use crate::connection::shell_connection::{Shell, ShellConnection, Transport};
use crate::connection::ssh::backoff;
use crate::connection::ssh_config::{IdentityAgent, Settings, Strict};
use crate::connection::{ConnError, ConnectOptions, Output};

/// How long key exchange, authentication and the login shell's rc files may
/// take on top of the connect timeout (the same grace as ssh.rs).
const READY_GRACE: Duration = Duration::from_secs(30);

/// How long an orderly close may take.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How many bytes of the bootstrap's stderr a failure message quotes.
const STDERR_QUOTE: usize = 400;

/// Why a native connection was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The native client cannot serve this host but OpenSSH may (automatic
    /// mode only): the reason, for `describe`.
    Fallback(String),
    /// A failure OpenSSH would have too.
    Failed(ConnError),
}

/// An SSH connection to one host with its long-lived remote shells, over
/// the native client.
pub type NativeConnection = ShellConnection<Native>;

/// The native transport of one host: its settings, known keys and SSH
/// connection, on which every shell is a channel.
pub struct Native {
    name: String,
    settings: Settings,
    /// The client configuration, kept for reconnecting.
    config: Arc<client::Config>,
    host_keys: Arc<StdMutex<HostKeys>>,
    /// What the run should be told about this host: relaxed host key
    /// checking, keys accepted under it.
    warnings: Arc<StdMutex<Vec<String>>>,
    connect_timeout: Duration,
    ready_timeout: Duration,
    retries: u32,
    /// Whether the native client was asked for explicitly, so that nothing
    /// falls back to OpenSSH.
    forced: bool,
    /// The key exchange the connection negotiated, for `describe`.
    kex: Arc<StdMutex<String>>,
    /// The SSH connection, once open. Shells are opened one at a time (the
    /// shell connection's state is locked meanwhile), so this lock is never
    /// contended; it exists because `Transport` methods share `&self`.
    handle: Mutex<Option<Handle<Client>>>,
    /// The jump host the connection goes through (`ProxyJump`).
    jump: Option<Arc<dyn Via>>,
}

impl ShellConnection<Native> {
    /// Connects, authenticates and starts the remote shell, retrying
    /// transient failures `options.retries` times. With `first`, that
    /// user's escalated shell is the one started (`connection::connect_as`,
    /// see [`ShellConnection::start`]).
    pub(crate) async fn open(
        name: &str,
        settings: Settings,
        options: &ConnectOptions,
        forced: bool,
        jump: Option<Arc<dyn Via>>,
        first: Option<&Escalation>,
    ) -> Result<NativeConnection, OpenError> {
        let native = Native::prepare(name, settings, options, forced, jump)?;
        let handle = native.connect().await?;
        *native.handle.lock().await = Some(handle);
        ShellConnection::start(name, native, first)
            .await
            .map_err(OpenError::Failed)
    }
}

impl Native {
    /// Everything but the connection: known keys loaded, the client
    /// configuration built. Jump hosts (`jump.rs`) are prepared this way
    /// and connected with [`Native::connect`] only.
    pub(crate) fn prepare(
        name: &str,
        settings: Settings,
        options: &ConnectOptions,
        forced: bool,
        jump: Option<Arc<dyn Via>>,
    ) -> Result<Native, OpenError> {
        let mut files = settings.user_known_hosts.clone();
        files.extend(settings.global_known_hosts.iter().cloned());
        let host_keys = match HostKeys::load_named(&files, &key_name(&settings), |p| {
            std::fs::read_to_string(p).ok()
        }) {
            Ok(keys) => keys,
            Err(reason) if !forced => return Err(OpenError::Fallback(reason.to_string())),
            Err(reason) => {
                return Err(OpenError::Failed(ConnError::Connect {
                    host: name.to_string(),
                    message: reason.to_string(),
                    hint: Some("use --ssh-client auto or openssh for this host".to_string()),
                }));
            }
        };
        let config = client_config(&settings, &host_keys).map_err(|e| {
            OpenError::Failed(ConnError::Connect {
                host: name.to_string(),
                message: e.to_string(),
                hint: None,
            })
        })?;
        let connect_timeout = settings.connect_timeout.unwrap_or(options.connect_timeout);
        let policy_warning = settings
            .strict
            .warning(name, settings.strict_place.as_deref());
        Ok(Native {
            name: name.to_string(),
            settings,
            config: Arc::new(config),
            host_keys: Arc::new(StdMutex::new(host_keys)),
            warnings: Arc::new(StdMutex::new(policy_warning.into_iter().collect())),
            connect_timeout,
            ready_timeout: connect_timeout + READY_GRACE,
            retries: options.retries,
            forced,
            kex: Arc::new(StdMutex::new(String::new())),
            handle: Mutex::new(None),
            jump,
        })
    }

    /// Connects and authenticates, retrying transient failures with backoff.
    pub(crate) async fn connect(&self) -> Result<Handle<Client>, OpenError> {
        let mut attempt: u32 = 0;
        loop {
            match self.attempt().await {
                Ok(handle) => return Ok(handle),
                Err(failure) if failure.transient && attempt < self.retries => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(mut failure) => {
                    if failure.auth && !self.forced {
                        return Err(OpenError::Fallback(format!(
                            "native authentication failed ({})",
                            failure.message
                        )));
                    }
                    if attempt > 0 {
                        failure
                            .message
                            .push_str(&format!(" (after {} attempts)", attempt + 1));
                    }
                    return Err(OpenError::Failed(self.connect_error(failure)));
                }
            }
        }
    }

    fn connect_error(&self, failure: Failure) -> ConnError {
        if failure.escalation {
            return ConnError::Become {
                host: self.name.clone(),
                message: failure.message,
                hint: failure.hint,
            };
        }
        ConnError::Connect {
            host: self.name.clone(),
            message: failure.message,
            hint: failure.hint,
        }
    }

    /// One attempt: TCP, key exchange with the host key check, then
    /// authentication.
    async fn attempt(&self) -> Result<Handle<Client>, Failure> {
        let s = &self.settings;
        let place = format!("{} port {}", s.host_name, s.port);
        let (stream, address_keys): (Box<dyn Io>, _) = match &self.jump {
            Some(jump) => (jump.channel(&s.host_name, s.port).await?, None),
            None => {
                let stream = tcp_connect(s, self.connect_timeout, &place).await?;
                banner_wait(&stream, self.connect_timeout, &place).await?;
                let keys = address_keys(s, &stream);
                (Box::new(stream), keys)
            }
        };
        let verdict = Arc::new(StdMutex::new(None));
        let client = Client {
            address_keys,

            host_keys: self.host_keys.clone(),
            warnings: self.warnings.clone(),
            strict: s.strict,
            record_in: s.user_known_hosts.first().cloned(),
            hash: s.hash_known_hosts,
            host: self.name.clone(),
            verdict: verdict.clone(),
            kex: self.kex.clone(),
        };
        let handshake = client::connect_stream(self.config.clone(), stream, client);
        let result = tokio::time::timeout(self.ready_timeout, handshake).await;
        let mut handle = match result {
            Ok(Ok(handle)) => handle,
            Ok(Err(error)) => {
                let verdict = lock(&verdict).take();
                return Err(self.handshake_failure(error, verdict, &place));
            }
            Err(_) => {
                return Err(Failure::transient(
                    format!("Connection timed out during banner exchange with {place}"),
                    format!(
                        "no answer from {place} in time: check the address, the port and firewalls on the way"
                    ),
                ));
            }
        };
        match tokio::time::timeout(self.ready_timeout, authenticate(&mut handle, s)).await {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::transient(
                format!("authentication with {place} timed out"),
                format!(
                    "no answer from {place} in time: check the address, the port and firewalls on the way"
                ),
            )),
        }
    }

    /// Explains a failed key exchange: a rejected host key (never retried),
    /// no common algorithm (never retried), or a dropped connection.
    fn handshake_failure(
        &self,
        error: russh::Error,
        verdict: Option<KeyCheck>,
        place: &str,
    ) -> Failure {
        let s = &self.settings;
        let name = lock(&self.host_keys).name().to_string();
        let files = known_hosts_list(&s.user_known_hosts);
        let first_file = s
            .user_known_hosts
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "~/.ssh/known_hosts".to_string());
        match verdict {
            Some(KeyCheck::Checked {
                verdict: Verdict::Changed { file, line },
                algorithm,
                fingerprint,
            }) => Failure::fatal(
                format!(
                    "REMOTE HOST IDENTIFICATION HAS CHANGED: {name} presented the {algorithm} host key {fingerprint}, but {}:{line} records another one. Host key verification failed.",
                    file.display()
                ),
                format!(
                    "the host key of {place} changed: if the host was reinstalled, verify its new fingerprint, remove the old key with `ssh-keygen -f {} -R '{name}'` and record the new one; otherwise someone may be intercepting the connection",
                    file.display()
                ),
            ),
            Some(KeyCheck::Checked {
                verdict: Verdict::Unknown { others },
                algorithm,
                fingerprint,
            }) => {
                let also = if others.is_empty() {
                    String::new()
                } else {
                    format!(" (keys of type {} are recorded)", others.join(", "))
                };
                Failure::fatal(
                    format!(
                        "No {algorithm} host key is known for {name} in {files}{also} and you have requested strict checking. Host key verification failed."
                    ),
                    format!(
                        "the host key of {place} is not in known_hosts: verify the host's fingerprint ({fingerprint}) and record it in {first_file} (for example with `ssh-keyscan -p {port} {host} >> {first_file}`), or set UserKnownHostsFile in ansible_ssh_common_args",
                        port = s.port,
                        host = s.host_name,
                    ),
                )
            }
            Some(KeyCheck::Checked {
                verdict: Verdict::Known,
                ..
            }) => Failure::transient(
                format!("the connection to {place} failed after the host key check: {error}"),
                String::new(),
            )
            .without_hint(),
            Some(KeyCheck::Certificate) => Failure::fatal(
                format!("{name} presented a host certificate, which the native client does not verify. Host key verification failed."),
                "use --ssh-client openssh (or auto) for hosts with host certificates".to_string(),
            ),
            None => match error {
                russh::Error::NoCommonAlgo { kind, ours, theirs } => Failure::fatal(
                    format!(
                        "Unable to negotiate with {place}: no matching {kind:?} algorithm. Their offer: {}; ours: {}",
                        theirs.join(","),
                        ours.join(",")
                    ),
                    "adjust KexAlgorithms (or the server's configuration), or use --ssh-client openssh".to_string(),
                ),
                other => Failure::transient(
                    format!("kex_exchange_identification: Connection closed by {place} ({other})"),
                    "the server dropped the connection before authentication; sshd's MaxStartups (default 10:30:100) drops concurrent unauthenticated connections: raise it on the server (or the bastion), or lower --forks".to_string(),
                ),
            },
        }
    }
}

#[async_trait]
impl Transport for Native {
    type Shell = NativeShell;

    /// A new channel on the connection, reconnecting only when the
    /// connection itself is gone. An escalation that fails is reported as
    /// such, never retried on a new connection.
    async fn open(
        &self,
        who: Option<&Escalation>,
        orphans: &[Orphan],
    ) -> Result<NativeShell, ConnError> {
        let mut handle = self.handle.lock().await;
        let escalation = who.map(|e| (e, self.name.as_str()));
        // A connection that died under a command may not know it yet, so a
        // failure to open a channel on it means connecting again.
        if let Some(open) = handle.as_ref().filter(|h| !h.is_closed()) {
            match NativeShell::start(
                open,
                &self.settings,
                self.ready_timeout,
                orphans,
                escalation,
            )
            .await
            {
                Ok(shell) => return Ok(shell),
                Err(failure) if failure.escalation => return Err(self.connect_error(failure)),
                Err(_) => {}
            }
        }
        *handle = None;
        let connected = self.connect().await.map_err(|e| match e {
            OpenError::Failed(error) => error,
            OpenError::Fallback(reason) => ConnError::Connect {
                host: self.name.clone(),
                message: reason,
                hint: None,
            },
        })?;
        let open = handle.insert(connected);
        NativeShell::start(
            open,
            &self.settings,
            self.ready_timeout,
            orphans,
            escalation,
        )
        .await
        .map_err(|failure| self.connect_error(failure))
    }

    async fn reachable(&self) -> bool {
        self.handle
            .lock()
            .await
            .as_ref()
            .is_some_and(|h| !h.is_closed())
    }

    async fn finish(&self) {
        if let Some(handle) = self.handle.lock().await.take() {
            let _ = tokio::time::timeout(
                EXIT_GRACE,
                handle.disconnect(Disconnect::ByApplication, "", "en"),
            )
            .await;
        }
    }

    fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    fn describe(&self) -> String {
        let kex = lock(&self.kex).clone();
        let mut text = if kex.is_empty() {
            "native SSH".to_string()
        } else {
            format!("native SSH ({kex})")
        };
        if let Some(jump) = &self.jump {
            text.push_str(&format!(" via {}", jump.describe()));
        }
        text
    }
}

/// The russh event handler of one connection: it checks the host key and
/// remembers what it found, so that a refusal can be explained.
pub(crate) struct Client {
    host_keys: Arc<StdMutex<HostKeys>>,
    warnings: Arc<StdMutex<Vec<String>>>,
    /// `StrictHostKeyChecking`.
    strict: Strict,
    /// Where an accepted new key is recorded (the first user file).
    record_in: Option<PathBuf>,
    /// `HashKnownHosts`.
    hash: bool,
    /// The inventory name, for warnings.
    host: String,
    /// With `CheckHostIP`, the keys recorded for the address connected to.
    address_keys: Option<HostKeys>,
    verdict: Arc<StdMutex<Option<KeyCheck>>>,
    kex: Arc<StdMutex<String>>,
}

impl Client {
    fn warn(&self, message: String) {
        lock(&self.warnings).push(message);
    }

    /// Accepts a key seen for the first time, as ssh does under
    /// `accept-new` and `no`: recorded in the first user known_hosts file
    /// (and in memory, for reconnections), with a warning either way.
    fn record(&self, key: &PublicKey, name: &str, algorithm: &str, fingerprint: &str) {
        lock(&self.host_keys).remember(key.clone(), self.record_in.clone().unwrap_or_default());
        let Some(file) = &self.record_in else {
            self.warn(format!(
                "accepted the {algorithm} host key {fingerprint} of {} without verification; no UserKnownHostsFile to record it in",
                self.host
            ));
            return;
        };
        match known_hosts::record(file, name, key, self.hash) {
            Ok(()) => self.warn(format!(
                "accepted the {algorithm} host key {fingerprint} of {} without verification and added '{name}' to {}",
                self.host,
                file.display()
            )),
            Err(reason) => self.warn(format!(
                "accepted the {algorithm} host key {fingerprint} of {} without verification; {reason}",
                self.host
            )),
        }
    }
}

/// What the host key check saw.
#[derive(Debug, Clone)]
enum KeyCheck {
    Checked {
        verdict: Verdict,
        algorithm: String,
        fingerprint: String,
    },
    Certificate,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *lock(&self.verdict) = Some(KeyCheck::Certificate);
            return Ok(false);
        };
        let algorithm = key.algorithm().as_str().to_string();
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let (verdict, name) = {
            let keys = lock(&self.host_keys);
            (keys.verify(key), keys.name().to_string())
        };
        let accepted = match &verdict {
            Verdict::Known => match self.address_keys.as_ref().map(|a| a.verify(key)) {
                // The name is known with this key but its address with
                // another: ssh refuses when checking strictly, and warns
                // otherwise (`CheckHostIP`).
                Some(Verdict::Changed { file, line }) => {
                    if self.strict == Strict::Yes {
                        *lock(&self.verdict) = Some(KeyCheck::Checked {
                            verdict: Verdict::Changed { file, line },
                            algorithm,
                            fingerprint,
                        });
                        return Ok(false);
                    }
                    self.warn(format!(
                        "the {algorithm} host key of {} differs from the key recorded for its address at {}:{line}",
                        self.host,
                        file.display()
                    ));
                    true
                }
                _ => true,
            },
            Verdict::Unknown { .. } if self.strict != Strict::Yes => {
                self.record(key, &name, &algorithm, &fingerprint);
                true
            }
            Verdict::Changed { file, line } if self.strict == Strict::No => {
                self.warn(format!(
                    "the {algorithm} host key of {} ({fingerprint}) is not the one recorded at {}:{line}, and StrictHostKeyChecking no accepts it",
                    self.host,
                    file.display()
                ));
                true
            }
            _ => false,
        };
        *lock(&self.verdict) = Some(KeyCheck::Checked {
            verdict,
            algorithm,
            fingerprint,
        });
        Ok(accepted)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        *lock(&self.kex) = names.kex.as_ref().to_string();
        Ok(())
    }
}

/// An algorithm the configuration asks for that the native client does not
/// implement.
#[derive(Debug, thiserror::Error)]
#[error("the {what} {name} is not available")]
struct Unavailable {
    /// Which list it is in: `cipher`, `MAC`, `key exchange algorithm`, ...
    what: &'static str,
    name: String,
}

/// The client configuration for a host: its key exchange algorithms, host
/// key algorithms in the order known_hosts suggests, keep-alives.
fn client_config(settings: &Settings, host_keys: &HostKeys) -> Result<client::Config, Unavailable> {
    let mut preferred = russh::Preferred::default();
    if let Some(names) = &settings.kex {
        let mut kex = Vec::new();
        for name in names {
            kex.push(
                russh::kex::Name::try_from(name.as_str()).map_err(|_| Unavailable {
                    what: "key exchange algorithm",
                    name: name.clone(),
                })?,
            );
        }
        // The pseudo-algorithms that announce extension negotiation and
        // OpenSSH's strict key exchange (the Terrapin countermeasure) must
        // stay in every list.
        kex.extend([
            russh::kex::EXTENSION_SUPPORT_AS_CLIENT,
            russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
        ]);
        preferred.kex = kex.into();
    }
    preferred.key = match &settings.host_key_algorithms {
        // As ssh does, a configured list is offered as written, and only the
        // default is reordered by what known_hosts records.
        Some(names) => names
            .iter()
            .map(|name| {
                russh::keys::Algorithm::new(name).map_err(|_| Unavailable {
                    what: "host key algorithm",
                    name: name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .into(),
        None => host_keys.algorithms(&preferred.key).into(),
    };
    if let Some(names) = &settings.ciphers {
        preferred.cipher = names
            .iter()
            .map(|name| {
                russh::cipher::Name::try_from(name.as_str()).map_err(|_| Unavailable {
                    what: "cipher",
                    name: name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .into();
    }
    if let Some(names) = &settings.macs {
        preferred.mac = names
            .iter()
            .map(|name| {
                russh::mac::Name::try_from(name.as_str()).map_err(|_| Unavailable {
                    what: "MAC",
                    name: name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .into();
    }
    let alive = settings.alive_interval;
    Ok(client::Config {
        preferred,
        keepalive_interval: (!alive.is_zero()).then_some(alive),
        keepalive_max: settings.alive_count_max,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    })
}

/// The stream a [`Via`] opens, once it is open.
pub(crate) type ViaStream<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn Io>, Failure>> + Send + 'a>>;

/// How a host that is not reached over TCP directly is reached: a jump
/// host (`jump.rs`) opens a channel to it. The native client names only
/// this trait, so the jump code, which itself connects natively, sits
/// above it instead of beside it.
pub(crate) trait Via: Send + Sync {
    /// A byte stream to `host:port`.
    fn channel<'a>(&'a self, host: &'a str, port: u16) -> ViaStream<'a>;

    /// The way as written, for messages.
    fn describe(&self) -> String;
}

/// A byte stream an SSH connection runs on: TCP, or a channel of a jump
/// host's connection.
pub(crate) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Like ssh, the connect timeout also bounds the wait for the server's
/// banner: a port that accepts and says nothing fails as fast as one that
/// does not answer.
async fn banner_wait(
    stream: &tokio::net::TcpStream,
    timeout: Duration,
    place: &str,
) -> Result<(), Failure> {
    let mut first = [0u8; 1];
    if tokio::time::timeout(timeout, stream.peek(&mut first))
        .await
        .is_err()
    {
        return Err(Failure::transient(
            format!("Connection timed out during banner exchange with {place}"),
            format!(
                "{place} accepted the connection but sent no SSH banner within {}s: check that sshd (not another service) listens there",
                timeout.as_secs()
            ),
        ));
    }
    Ok(())
}

/// Resolves and connects, within `timeout`, to the addresses of the
/// configured `AddressFamily`.
async fn tcp_connect(
    s: &Settings,
    timeout: Duration,
    place: &str,
) -> Result<tokio::net::TcpStream, Failure> {
    let (host, port) = (s.host_name.as_str(), s.port);
    let addresses: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(found) => {
            let found: Vec<_> = found.collect();
            let admitted: Vec<_> = found
                .iter()
                .filter(|a| s.address_family.admits(a))
                .copied()
                .collect();
            if admitted.is_empty() && !found.is_empty() {
                return Err(Failure::fatal(
                    format!(
                        "ssh: Could not resolve hostname {host}: Address family for hostname not supported"
                    ),
                    format!(
                        "{host} has no address of the family AddressFamily asks for ({:?}): change AddressFamily or ansible_host",
                        s.address_family
                    ),
                ));
            }
            admitted
        }
        Err(error) => {
            return Err(Failure::fatal(
                format!("ssh: Could not resolve hostname {host}: {error}"),
                "check the inventory name, or set ansible_host to a resolvable name or an address"
                    .to_string(),
            ));
        }
    };
    let mut last = None;
    for address in addresses {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Some(error),
            Err(_) => {
                return Err(Failure::transient(
                    format!("ssh: connect to host {host} port {port}: Connection timed out"),
                    format!(
                        "no answer from {place} in time: check the address, the port and firewalls on the way"
                    ),
                ));
            }
        }
    }
    let error = last.unwrap_or_else(|| std::io::Error::other("no address"));
    let said = format!(
        "ssh: connect to host {host} port {port}: {}",
        io_words(&error)
    );
    Err(match error.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::transient(
            said,
            format!(
                "nothing accepts SSH connections on {place}: check ansible_host and ansible_port, that sshd runs there, and firewalls"
            ),
        ),
        std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
            Failure::transient(
                said,
                format!("the network cannot reach {place}: check the address and routes"),
            )
        }
        _ => Failure::transient(said, String::new()).without_hint(),
    })
}

/// An I/O error in ssh's words ("Connection refused"), without Rust's
/// "(os error 111)".
fn io_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Public key authentication: identity files first, then the agent.
async fn authenticate(handle: &mut Handle<Client>, s: &Settings) -> Result<(), Failure> {
    let user = s.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let mut encrypted: Vec<PathBuf> = Vec::new();
    let mut agent = match &s.identity_agent {
        IdentityAgent::Environment => AgentClient::connect_env().await.ok(),
        IdentityAgent::None => None,
        IdentityAgent::Socket(path) => AgentClient::connect_uds(path).await.ok(),
    };
    let agent_keys: Vec<AgentIdentity> = match agent.as_mut() {
        Some(agent) => agent.request_identities().await.unwrap_or_default(),
        None => Vec::new(),
    };
    for path in &s.identity_files {
        if !path.exists() {
            continue;
        }
        match russh::keys::load_secret_key(path, None) {
            Ok(key) => {
                let key = Arc::new(key);
                // As ssh does, a certificate of the key is offered first.
                for (cert_path, cert) in certificates(path, &key, s) {
                    let name = format!("{}-cert-v01@openssh.com", key.algorithm().as_str());
                    if !algorithms::allowed(s.pubkey_algorithms.as_deref(), &name) {
                        continue;
                    }
                    tried.push(format!("{} (certificate)", cert_path.display()));
                    match handle
                        .authenticate_openssh_cert(user, key.clone(), cert)
                        .await
                    {
                        Ok(result) if result.success() => return Ok(()),
                        Ok(_) => {}
                        Err(error) => return Err(auth_broken(error, s)),
                    }
                }
                let Some(hash) = signature_hash(handle, &key.algorithm(), s).await else {
                    continue;
                };
                tried.push(path.display().to_string());
                let key = PrivateKeyWithHashAlg::new(key, hash);
                match handle.authenticate_publickey(user, key).await {
                    Ok(result) if result.success() => return Ok(()),
                    Ok(_) => {}
                    Err(error) => return Err(auth_broken(error, s)),
                }
            }
            Err(russh::keys::Error::KeyIsEncrypted) => {
                // The agent may hold the decrypted key: ssh offers it then.
                let public = public_half(path);
                let held = agent_keys.iter().find(|identity| match identity {
                    AgentIdentity::PublicKey { key, .. } => public
                        .as_ref()
                        .is_some_and(|p| p.key_data() == key.key_data()),
                    AgentIdentity::Certificate { .. } => false,
                });
                match (held, agent.as_mut()) {
                    (Some(AgentIdentity::PublicKey { key, .. }), Some(agent)) => {
                        tried.push(format!("{} (from the agent)", path.display()));
                        if agent_auth(handle, user, key.clone(), agent, s).await? {
                            return Ok(());
                        }
                    }
                    _ => encrypted.push(path.clone()),
                }
            }
            Err(_) => {}
        }
    }
    if !s.identities_only {
        if let Some(agent) = agent.as_mut() {
            for identity in &agent_keys {
                let AgentIdentity::PublicKey { key, comment } = identity else {
                    continue;
                };
                tried.push(format!("agent key {comment}"));
                if agent_auth(handle, user, key.clone(), agent, s).await? {
                    return Ok(());
                }
            }
        }
    }
    let mut message = format!("{user}@{}: Permission denied (publickey).", s.host_name);
    if tried.is_empty() {
        message.push_str(" No key could be offered");
    } else {
        message.push_str(&format!(" Offered: {}", tried.join(", ")));
    }
    if !encrypted.is_empty() {
        let list: Vec<String> = encrypted.iter().map(|p| p.display().to_string()).collect();
        message.push_str(&format!(
            "; passphrase-protected keys not in the agent: {}",
            list.join(", ")
        ));
    }
    Err(Failure {
        message,
        hint: Some(format!(
            "the host refused every key offered for user {user}: check ansible_user and ansible_ssh_private_key_file (or the keys in your ssh-agent); ssh runs in batch mode, so passwords and key passphrases cannot be typed in"
        )),
        transient: false,
        auth: true,
        escalation: false,
    })
}

/// The signature hash to use with a key of `algorithm` (`Some(None)` for
/// keys other than RSA), or `None` when `PubkeyAcceptedAlgorithms` leaves
/// the key out. For an RSA key, the best hash the server announced when it
/// is allowed, else the best allowed one.
async fn signature_hash(
    handle: &Handle<Client>,
    algorithm: &russh::keys::Algorithm,
    s: &Settings,
) -> Option<Option<HashAlg>> {
    let allowed = |name: &str| algorithms::allowed(s.pubkey_algorithms.as_deref(), name);
    if !algorithm.clone().is_rsa() {
        return allowed(algorithm.as_str()).then_some(None);
    }
    let name = |hash: Option<HashAlg>| match hash {
        Some(HashAlg::Sha512) => "rsa-sha2-512",
        Some(HashAlg::Sha256) => "rsa-sha2-256",
        _ => "ssh-rsa",
    };
    let server = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    [server, Some(HashAlg::Sha512), Some(HashAlg::Sha256), None]
        .into_iter()
        .find(|hash| allowed(name(*hash)))
}

/// Offers one agent key; `Ok(true)` when the server accepted it.
async fn agent_auth(
    handle: &mut Handle<Client>,
    user: &str,
    key: PublicKey,
    agent: &mut AgentClient<tokio::net::UnixStream>,
    s: &Settings,
) -> Result<bool, Failure> {
    let Some(hash) = signature_hash(handle, &key.algorithm(), s).await else {
        return Ok(false);
    };
    match handle
        .authenticate_publickey_with(user, key, hash, agent)
        .await
    {
        Ok(result) => Ok(result.success()),
        // The agent could not sign (a locked or confirming key): try the next.
        Err(_) => Ok(false),
    }
}

/// The certificates to offer with the identity `key` loaded from `path`:
/// the configured `CertificateFile`s that certify it, then
/// `<path>-cert.pub`. Files that do not parse or certify another key are
/// skipped, as ssh skips them.
fn certificates(
    path: &Path,
    key: &russh::keys::PrivateKey,
    s: &Settings,
) -> Vec<(PathBuf, russh::keys::Certificate)> {
    let mut beside = path.as_os_str().to_owned();
    beside.push("-cert.pub");
    let mut candidates = s.certificate_files.clone();
    candidates.push(PathBuf::from(beside));
    candidates.dedup();
    candidates
        .into_iter()
        .filter_map(|file| {
            let cert = russh::keys::load_openssh_certificate(&file).ok()?;
            (cert.public_key() == key.public_key().key_data()).then_some((file, cert))
        })
        .collect()
}

/// The `.pub` file next to an identity file.
fn public_half(path: &Path) -> Option<PublicKey> {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    russh::keys::load_public_key(PathBuf::from(name)).ok()
}

fn auth_broken(error: russh::Error, s: &Settings) -> Failure {
    Failure::transient(
        format!(
            "Connection closed by {} port {} during authentication ({error})",
            s.host_name, s.port
        ),
        "the server dropped the connection before authentication; sshd's MaxStartups (default 10:30:100) drops concurrent unauthenticated connections: raise it on the server (or the bastion), or lower --forks".to_string(),
    )
}

/// The name the host's keys are recorded under: its `HostKeyAlias`, or
/// `host` / `[host]:port`.
fn key_name(s: &Settings) -> String {
    match &s.host_key_alias {
        Some(alias) => alias.clone(),
        None => lookup_name(&s.host_name, s.port),
    }
}

/// With `CheckHostIP` (and no alias), the keys recorded for the address
/// the connection reached, unless the host was named by that address.
fn address_keys(s: &Settings, stream: &tokio::net::TcpStream) -> Option<HostKeys> {
    if !s.check_host_ip || s.host_key_alias.is_some() {
        return None;
    }
    let ip = stream.peer_addr().ok()?.ip().to_string();
    if ip == s.host_name {
        return None;
    }
    let mut files = s.user_known_hosts.clone();
    files.extend(s.global_known_hosts.iter().cloned());
    HostKeys::load(&files, &ip, s.port, |p| std::fs::read_to_string(p).ok()).ok()
}

/// "a, b and c" for known_hosts files in messages.
fn known_hosts_list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match names.len() {
        0 => "no known_hosts file".to_string(),
        _ => names.join(" or "),
    }
}

/// A failed attempt to connect, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    message: String,
    hint: Option<String>,
    /// Whether trying again may help.
    transient: bool,
    /// Whether authentication failed (OpenSSH may still succeed).
    auth: bool,
    /// Whether sudo or su failed: the connection is fine, the task is not.
    escalation: bool,
}

impl Failure {
    pub(crate) fn transient(message: String, hint: String) -> Failure {
        Failure {
            message,
            hint: Some(hint),
            transient: true,
            auth: false,
            escalation: false,
        }
    }

    pub(crate) fn fatal(message: String, hint: String) -> Failure {
        Failure {
            message,
            hint: Some(hint),
            transient: false,
            auth: false,
            escalation: false,
        }
    }

    fn without_hint(mut self) -> Failure {
        self.hint = None;
        self
    }
}

/// Why a command's exchange with the shell broke.
#[derive(Debug, thiserror::Error)]
pub enum Broken {
    #[error("cannot send the command: {0}")]
    Write(russh::Error),
    #[error("the connection broke while a command was running")]
    Closed,
    #[error("{0}")]
    Frame(#[from] remote_shell::FrameError),
}

/// One session channel running the remote shell.
pub struct NativeShell {
    session: Session,
    reader: ChannelReadHalf,
    writer: ChannelWriteHalf<Msg>,
    /// The exit status, once the channel reported one.
    exit_status: Option<u32>,
    /// Set while a command is in flight. A shell still busy when the next
    /// command comes was abandoned mid-reply (its caller's future was
    /// dropped), so its stream cannot be trusted and it is replaced.
    busy: bool,
    /// What arrived on stderr in a reply that never completed.
    tail: Vec<u8>,
}

impl NativeShell {
    /// Opens a channel, starts the bootstrap and waits for the ready reply.
    /// With `escalation` (and the host's name, for messages), the driver is
    /// started through sudo or su, whose password prompt is answered first.
    async fn start(
        handle: &Handle<Client>,
        settings: &Settings,
        timeout: Duration,
        orphans: &[Orphan],
        escalation: Option<(&Escalation, &str)>,
    ) -> Result<NativeShell, Failure> {
        let start = async {
            let lost = |error: russh::Error| {
                Failure::transient(
                    format!("cannot open a session channel: {error}"),
                    String::new(),
                )
                .without_hint()
            };
            let channel = handle.channel_open_session().await.map_err(lost)?;
            for (name, value) in send_env(&settings.send_env) {
                channel.set_env(false, name, value).await.map_err(lost)?;
            }
            let mut session = Session::new();
            let (bootstrap, handshake) = match escalation {
                None => (session.bootstrap(), None),
                Some((escalation, host)) => {
                    session = session.escalated();
                    let start = escalation.start(&session, host, &settings.user);
                    (start.bootstrap, start.handshake)
                }
            };
            channel.exec(false, bootstrap).await.map_err(lost)?;
            let (reader, writer) = channel.split();
            let (ready, reply) = session.ready_request(orphans);
            let mut shell = NativeShell {
                session,
                reader,
                writer,
                exit_status: None,
                busy: false,
                tail: Vec::new(),
            };
            if let Some(handshake) = handshake {
                shell.handshake(handshake).await?;
            }
            match shell.round_trip(&ready, reply).await {
                Ok(ready) => {
                    shell.session.ready(&ready);
                    Ok(shell)
                }
                Err(broken) => Err(shell.not_ready(&broken, escalation, &settings.user).await),
            }
        };
        match tokio::time::timeout(timeout, start).await {
            Ok(result) => result,
            Err(_) => Err(Failure::fatal(
                format!(
                    "the remote shell did not start within {}s",
                    timeout.as_secs()
                ),
                "dtrplay needs /bin/sh on the host, and a login shell that runs commands (not nologin); a slow rc file delays every connection".to_string(),
            )),
        }
    }

    /// Holds the dialogue with sudo or su until the driver runs: answers the
    /// password prompt, and gives up (closing the channel) on a second
    /// prompt, an early end or a prompt that never comes.
    async fn handshake(&mut self, mut handshake: escalate::Handshake) -> Result<(), Failure> {
        let escalation_failure = |failure: escalate::Failure| Failure {
            message: failure.message,
            hint: failure.hint,
            transient: false,
            auth: false,
            escalation: true,
        };
        let dialogue = async {
            loop {
                let step = match self.reader.wait().await {
                    Some(ChannelMsg::Data { data }) => handshake.stdout(&data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => handshake.stderr(&data),
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        self.exit_status = Some(exit_status);
                        Step::Wait
                    }
                    Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                        // The rest of stderr and the exit status may follow Eof.
                        let drain = async {
                            while let Some(message) = self.reader.wait().await {
                                match message {
                                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                                        handshake.stderr(&data);
                                    }
                                    ChannelMsg::ExitStatus { exit_status } => {
                                        self.exit_status = Some(exit_status);
                                    }
                                    ChannelMsg::Close => break,
                                    _ => {}
                                }
                            }
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
                        return Err(handshake.ended(self.exit_status));
                    }
                    Some(_) => Step::Wait,
                };
                match step {
                    Step::Wait => {}
                    Step::Ready => return Ok(()),
                    Step::Send(bytes) => {
                        if self.writer.data(&bytes[..]).await.is_err() {
                            return Err(handshake.ended(self.exit_status));
                        }
                    }
                    Step::Fail(failure) => return Err(failure),
                }
            }
        };
        let result = match tokio::time::timeout(escalate::PROMPT_TIMEOUT, dialogue).await {
            Ok(result) => result,
            Err(_) => Err(handshake.timed_out()),
        };
        if result.is_err() {
            let _ = self.writer.eof().await;
            let _ = self.writer.close().await;
        }
        result.map_err(escalation_failure)
    }

    /// Why the bootstrap ended before the ready reply, with the shell's
    /// own last words.
    async fn not_ready(
        &mut self,
        broken: &Broken,
        escalation: Option<(&Escalation, &str)>,
        login: &str,
    ) -> Failure {
        let mut stderr = std::mem::take(&mut self.tail);
        // The exit status and the rest of stderr follow the end of stdout.
        let drain = async {
            while let Some(message) = self.reader.wait().await {
                match message {
                    ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => self.exit_status = Some(exit_status),
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        if let Some((escalation, host)) = escalation {
            let said = String::from_utf8_lossy(&stderr);
            let failure = escalation.failure(host, login, &said, self.exit_status);
            return Failure {
                message: failure.message,
                hint: failure.hint,
                transient: false,
                auth: false,
                escalation: true,
            };
        }
        let said = String::from_utf8_lossy(&stderr).trim().to_string();
        let said: String = said.chars().take(STDERR_QUOTE).collect();
        let mut message = match self.exit_status {
            Some(code) => {
                format!("the remote shell ended before it was ready (exit status {code})")
            }
            None => format!("the remote shell ended before it was ready ({broken})"),
        };
        if !said.is_empty() {
            message.push_str(&format!(": {said}"));
        }
        Failure::fatal(
            message,
            "dtrplay needs /bin/sh on the host, and a login shell that runs commands (not nologin)"
                .to_string(),
        )
    }

    /// Writes a request and feeds what comes back to its reply until the
    /// reply is complete. Writing and reading run together, so a large
    /// request never waits on a window that only reading would reopen.
    async fn round_trip(&mut self, request: &[u8], mut reply: Reply) -> Result<Output, Broken> {
        self.busy = true;
        let writer = &self.writer;
        let reader = &mut self.reader;
        let exit_status = &mut self.exit_status;
        let tail = &mut self.tail;
        let write = async move { writer.data(request).await.map_err(Broken::Write) };
        let read = async move {
            let result = Self::read_reply(reader, exit_status, &mut reply).await;
            if result.is_err() {
                // What the remote side said as it ended is in the unfinished
                // reply (sudo's refusal, for one).
                tail.extend_from_slice(reply.stderr_so_far());
            }
            result?;
            reply.into_output().ok_or(Broken::Closed)
        };
        let (_, output) = tokio::try_join!(write, read)?;
        self.busy = false;
        Ok(output)
    }

    /// Feeds the channel's messages to `reply` until it is complete.
    async fn read_reply(
        reader: &mut ChannelReadHalf,
        exit_status: &mut Option<u32>,
        reply: &mut Reply,
    ) -> Result<(), Broken> {
        {
            while !reply.is_complete() {
                match reader.wait().await {
                    Some(ChannelMsg::Data { data }) => reply.stdout(&data)?,
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => reply.stderr(&data)?,
                    Some(ChannelMsg::ExitStatus { exit_status: code }) => {
                        *exit_status = Some(code);
                    }
                    Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                        return Err(Broken::Closed);
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        }
    }
}

#[async_trait]
impl Shell for NativeShell {
    type Broken = Broken;

    fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    fn busy(&self) -> bool {
        self.busy
    }

    fn is_usable(&mut self) -> bool {
        !self.busy
    }

    async fn exchange(&mut self, request: &[u8], reply: Reply) -> Result<Output, Broken> {
        self.round_trip(request, reply).await
    }

    fn unsent(broken: &Broken) -> bool {
        matches!(broken, Broken::Write(_))
    }

    /// The channel's own words are already in the message.
    async fn lost(self, broken: &Broken) -> String {
        self.abandon().await;
        broken.to_string()
    }

    /// Ends the shell in order: its last words (`exit`), the end of input,
    /// then the channel's close, once the shell has exited. An escalated
    /// shell is not waited for: after its driver's `exit`, sudo or su still
    /// closes its PAM session, tens of milliseconds on a loaded machine that
    /// no one needs to wait for (the driver has its `exit 0`, and the end of
    /// the connection closes what is left).
    async fn shutdown(mut self, escalated: bool) {
        let wait = !escalated;
        let bye = self.session.close_request();
        let said = tokio::time::timeout(EXIT_GRACE, self.writer.data(&bye[..])).await;
        if matches!(said, Ok(Ok(()))) {
            let _ = self.writer.eof().await;
            if !wait {
                let _ = self.writer.close().await;
                return;
            }
            let exited = async {
                while let Some(message) = self.reader.wait().await {
                    if matches!(message, ChannelMsg::Close) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(EXIT_GRACE, exited).await;
        }
        let _ = self.writer.close().await;
    }

    /// Drops the shell without a goodbye: its channel closes, and a script
    /// still running in it is left to the next shell (`Orphan`).
    async fn abandon(self) {
        let _ = self.writer.eof().await;
        let _ = self.writer.close().await;
    }
}

/// The local environment variables that `SendEnv` patterns select.
fn send_env(patterns: &[String]) -> Vec<(String, String)> {
    if patterns.is_empty() {
        return Vec::new();
    }
    std::env::vars()
        .filter(|(name, _)| patterns.iter().any(|p| crate::wildcard::matches(p, name)))
        .collect()
}

/// Locks a std mutex, ignoring poisoning: the values are plain data.
fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::algorithms::NATIVE_KEX;

    fn settings(kex: Option<Vec<String>>) -> Settings {
        Settings {
            host: "h".into(),
            host_name: "h".into(),
            port: 22,
            user: "root".into(),
            identity_files: Vec::new(),
            identities_only: true,
            user_known_hosts: Vec::new(),
            global_known_hosts: Vec::new(),
            kex,
            ciphers: None,
            macs: None,
            host_key_algorithms: None,
            pubkey_algorithms: None,
            host_key_alias: None,
            check_host_ip: false,
            address_family: Default::default(),
            connect_timeout: None,
            identity_agent: Default::default(),
            strict: Strict::Yes,
            strict_place: None,
            hash_known_hosts: false,
            proxy_jump: Vec::new(),
            config_file: None,
            certificate_files: Vec::new(),
            alive_interval: Duration::from_secs(15),
            alive_count_max: 3,
            send_env: Vec::new(),
        }
    }

    #[test]
    fn every_key_exchange_ssh_config_accepts_is_one_russh_implements() {
        let all: Vec<String> = NATIVE_KEX.iter().map(|n| n.to_string()).collect();
        let config = client_config(&settings(Some(all)), &HostKeys::default()).expect("config");
        let names: Vec<&str> = config.preferred.kex.iter().map(|n| n.as_ref()).collect();
        assert_eq!(&names[..NATIVE_KEX.len()], NATIVE_KEX);
        // Extension negotiation and strict kex stay announced.
        assert!(names.contains(&"ext-info-c"));
        assert!(names.contains(&"kex-strict-c-v00@openssh.com"));
        assert_eq!(config.keepalive_interval, Some(Duration::from_secs(15)));
    }

    #[test]
    fn io_errors_read_like_ssh() {
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_words(&refused), "Connection refused");
        assert_eq!(io_words(&std::io::Error::other("plain")), "plain");
    }

    #[test]
    fn send_env_selects_by_pattern() {
        assert!(send_env(&[]).is_empty());
        let path = send_env(&["PAT*".to_string()]);
        assert!(path.iter().any(|(name, _)| name == "PATH"), "{path:?}");
    }
}
