//! The SSH transport: one long-lived remote `sh` per host, carried by a
//! system `ssh` process or, when a master connection is already open for the
//! host, by a session that master opens for us without any ssh process
//! (`mux.rs`). Every task script is sent to that shell as a framed command
//! (the frames are defined in `remote_shell.rs`).
//!
//! # Why the system `ssh` binary, driven directly
//!
//! deps.md names the `openssh` crate (native mux). We drive the system
//! `ssh` with `tokio::process` instead; this is a deliberate deviation:
//!
//! - With one long-lived shell per host we need exactly one SSH channel per
//!   host for the whole run, so the crate's per-command native mux buys
//!   nothing. The cost model is "the handshake dominates; each extra session
//!   costs about 10 ms of CPU on each side", so a run pays one handshake and
//!   one session per host, and each command costs one write and one read on
//!   an open channel, with no process spawned on the control machine.
//! - The system `ssh` honours the user's `~/.ssh/config`, agent,
//!   `known_hosts`, `ProxyJump`, certificates and hardware keys, exactly as
//!   the `openssh` crate would.
//! - We need arbitrary `-o` options from `ansible_ssh_common_args`, and a
//!   stable ControlPath per host so that `--ssh-persist` can keep master
//!   connections warm between runs; the `openssh` crate picks a random
//!   control directory per session.
//!
//! # Command line
//!
//! `ssh -T -o BatchMode=yes -o ConnectTimeout=<s> [-p port] [-l user]
//! [-i key -o IdentitiesOnly=yes] <ansible_ssh_common_args…>
//! -o ControlMaster=auto -o ControlPath=<control_dir>/<hash>
//! -o ControlPersist=<persist or no> -o ServerAliveInterval=15
//! -- <address> <bootstrap>`. ssh keeps the first value it sees for an
//! option, so the inventory's arguments override every option after them
//! (but not batch mode or the connect timeout, which dtrplay relies on).
//!
//! The socket name is a hash of the inventory name, user, address, port,
//! key and arguments rather than ssh's `%C`: two inventory entries, or two
//! identities, never share a master, and dtrplay can tell from the socket
//! alone whether a master is alive. ssh binds the socket under a temporary
//! name 17 bytes longer, and unix socket paths are limited to 104 bytes on
//! some systems, so the control directory is checked for length up front;
//! it must also be private (0700), because its sockets grant the use of the
//! connections.
//!
//! # Warm masters
//!
//! With `--ssh-persist`, the masters outlive the run, and the next run finds
//! them on the same sockets. Spawning `ssh` again would only start a mux
//! client, a process that forwards bytes to the master and costs a fork, an
//! exec and a few milliseconds of CPU per host: the whole control-machine
//! cost of a warm run. So each shell is first asked of the master directly,
//! over its control socket (`mux.rs`): our pipes are handed to the master,
//! which opens the session channel on its connection. Only when no master
//! answers (a cold run, a stale socket left by a dead master) or it does not
//! open the session is ssh spawned, exactly as before; ssh then replaces a
//! stale socket with a new master, or reports what the master refused.
//!
//! # Lifecycle
//!
//! - Opening waits for the reply to the remote shell's ready request. Refused, reset or
//!   dropped connections (sshd's `MaxStartups`) and timeouts are retried
//!   with exponential backoff and jitter; authentication and host key
//!   failures never are. Failures carry ssh's own words and a hint.
//! - Commands on one host run one at a time (a mutex around the shell);
//!   different hosts are independent and fully parallel.
//! - A command that outlives its timeout gets its ssh process killed (or
//!   its master's session closed), and a fresh shell is opened at once,
//!   through the master when one is still there (no new handshake and no
//!   ssh process): its first act is to hang up the old shell's process
//!   group (`remote_shell::Orphan`). A shell abandoned mid-command (its
//!   caller gave up) is stopped the same way by the next shell.
//! - A channel that dies in the middle of a command is reported as lost; it
//!   is reopened once, transparently, before the next command, never in the
//!   middle of one, because a half-run script must not be replayed.
//! - `close` ends the shell in order (so background processes that
//!   scripts started on purpose survive it), waits for ssh to exit and, unless masters persist, stops any master
//!   still serving the socket. Dropping a connection kills its ssh process
//!   without blocking; a script still running on the host then finishes on
//!   its own.
//!
//! ssh runs in batch mode: no password or passphrase can be typed in, so
//! keys, an agent or certificates are required.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::connection::escalate::{self, Escalation, Step};
use crate::connection::mux::{MuxChild, MuxExit};
use crate::connection::remote_shell::{self, FrameError, Orphan, Reply, Session};
use crate::connection::shell_connection::{Shell, ShellConnection, Transport};
use crate::connection::{ConnError, ConnectOptions, Output, Target};

/// The unix socket path limit on the strictest common platform (macOS and
/// the BSDs; Linux allows 108), including the terminating NUL.
const MAX_SOCKET_PATH: usize = 104;

/// The length of a control socket's file name (hex digits of the hash).
const SOCKET_NAME_LEN: usize = 16;

/// ssh binds the socket as `<path>.<16 random characters>` first and links
/// it to its final name afterwards.
const SOCKET_BIND_SUFFIX: usize = 17;

/// How much of ssh's stderr is kept for error messages.
const STDERR_KEEP: usize = 16 * 1024;

/// How long key exchange, authentication and the login shell's rc files
/// may take on top of the connect timeout, which ssh applies only to the
/// TCP connection and the banner.
const READY_GRACE: Duration = Duration::from_secs(30);

/// How long an orderly close, or ssh's exit after an error, may take.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How long to wait for the rest of ssh's stderr once it has exited.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// The first retry waits about this long; each further one twice as long.
const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// No retry waits longer than this (before jitter).
const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// An open SSH connection to one host: its long-lived remote shells over
/// the system `ssh` (or a running master's sessions).
pub type SshConnection = ShellConnection<OpenSsh>;

/// The OpenSSH transport of one host: how to start ssh for it.
pub struct OpenSsh {
    /// The inventory name, used in every message.
    name: String,
    /// How to start ssh for this host.
    command: SshCommand,
    /// Whether the master connection outlives this connection.
    persist: bool,
    /// How long an open may wait for the ready line.
    ready_timeout: Duration,
    /// How many times a transient open failure is retried.
    retries: u32,
    /// Why OpenSSH carries this host when the native client was an option
    /// (`connection::connect`), for `describe`.
    reason: Option<String>,
    /// The warning about relaxed host key checking, if the host's
    /// configuration relaxes it (ssh itself applies the policy).
    warning: Option<String>,
}

impl ShellConnection<OpenSsh> {
    /// Connects to `target` and starts its remote shell, retrying transient
    /// failures `options.retries` times.
    pub async fn open(
        target: &Target,
        options: &ConnectOptions,
    ) -> Result<SshConnection, ConnError> {
        SshConnection::open_because(target, options, None, None).await
    }

    /// Like [`ShellConnection::open`], recording why OpenSSH was chosen
    /// over the native client, for `describe`, and with `first`'s escalated
    /// shell as the session ssh starts with (`connection::connect_as`).
    pub async fn open_because(
        target: &Target,
        options: &ConnectOptions,
        reason: Option<String>,
        first: Option<&Escalation>,
    ) -> Result<SshConnection, ConnError> {
        let command = SshCommand::new(target, options)?;
        let transport = OpenSsh {
            name: target.name.clone(),
            command,
            persist: options.persist.is_some(),
            ready_timeout: options.connect_timeout + READY_GRACE,
            retries: options.retries,
            reason,
            warning: {
                let files = crate::connection::ssh_config::RealFiles;
                let env = crate::connection::ssh_config::Env::current(&files);
                let (strict, place) = crate::connection::ssh_config::host_key_policy(target, &env);
                strict.warning(&target.name, place.as_deref())
            },
        };
        ShellConnection::start(&target.name, transport, first).await
    }

    /// Stops the master connection for `target` if one is running, for
    /// example one kept by `--ssh-persist`. Returns whether one was running.
    pub async fn stop_master(target: &Target, options: &ConnectOptions) -> Result<bool, ConnError> {
        let command = SshCommand::new(target, options)?;
        Ok(command.stop_master().await)
    }

    /// The ControlPath this connection's ssh uses.
    pub fn control_path(&self) -> &Path {
        &self.transport().command.control_path
    }
}

#[async_trait]
impl Transport for OpenSsh {
    type Shell = SshShell;

    fn warnings(&self) -> Vec<String> {
        self.warning.iter().cloned().collect()
    }

    fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("OpenSSH: {reason}"),
            None => "OpenSSH".to_string(),
        }
    }

    /// Starts a shell, retrying transient failures with backoff. A failed
    /// escalation is not retried.
    async fn open(
        &self,
        who: Option<&Escalation>,
        orphans: &[Orphan],
    ) -> Result<SshShell, ConnError> {
        let mut attempt: u32 = 0;
        loop {
            let escalation = who.map(|e| (e, self.name.as_str()));
            match SshShell::start(&self.command, self.ready_timeout, orphans, escalation).await {
                Ok(shell) => return Ok(shell),
                Err(failure) if failure.escalation => {
                    return Err(ConnError::Become {
                        host: self.name.clone(),
                        message: failure.message,
                        hint: failure.hint,
                    });
                }
                Err(failure) if failure.transient && attempt < self.retries => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(failure) => {
                    let mut message = failure.message;
                    if attempt > 0 {
                        message.push_str(&format!(" (after {} attempts)", attempt + 1));
                    }
                    return Err(ConnError::Connect {
                        host: self.name.clone(),
                        message,
                        hint: failure.hint,
                    });
                }
            }
        }
    }

    /// Stops any master still serving the socket, unless masters persist.
    async fn finish(&self) {
        if !self.persist {
            self.command.stop_master().await;
        }
    }

    /// A reset connection must log in anew, which a kept master would
    /// prevent: it stops whatever `--ssh-persist` says.
    async fn finish_for_good(&self) {
        self.command.stop_master().await;
    }
}

/// The ssh command line for one target.
#[derive(Debug, Clone)]
struct SshCommand {
    /// Every argument before `--`, shared by the shell and `-O` commands.
    options: Vec<OsString>,
    /// The destination, after `--` so that it is never taken for an option.
    address: String,
    /// For messages.
    port: Option<u16>,
    /// For messages.
    user: Option<String>,
    control_path: PathBuf,
}

impl SshCommand {
    fn new(target: &Target, options: &ConnectOptions) -> Result<SshCommand, ConnError> {
        let dir = &options.control_dir;
        prepare_control_dir(dir).map_err(|(message, hint)| ConnError::Connect {
            host: target.name.clone(),
            message,
            hint: Some(hint),
        })?;
        let control_path = dir.join(socket_name(target));
        let connect_timeout = options.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        let persist = match options.persist {
            Some(d) => format!("{}s", d.as_secs().max(1)),
            None => "no".to_string(),
        };
        let mut args: Vec<OsString> = vec![
            "-T".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={connect_timeout}").into(),
        ];
        if let Some(port) = target.port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        if let Some(user) = &target.user {
            args.push("-l".into());
            args.push(user.into());
        }
        if let Some(key) = &target.key_file {
            args.push("-i".into());
            args.push(key.into());
            args.push("-o".into());
            args.push("IdentitiesOnly=yes".into());
        }
        args.extend(target.ssh_args.iter().map(OsString::from));
        let mut control = OsString::from("ControlPath=");
        control.push(&control_path);
        for option in [
            OsString::from("ControlMaster=auto"),
            control,
            format!("ControlPersist={persist}").into(),
            // Notices a dead peer within a minute even while a long command
            // prints nothing, rather than waiting for the task timeout.
            "ServerAliveInterval=15".into(),
            "ServerAliveCountMax=4".into(),
        ] {
            args.push("-o".into());
            args.push(option);
        }
        Ok(SshCommand {
            options: args,
            address: target.address.clone(),
            port: target.port,
            user: target.user.clone(),
            control_path,
        })
    }

    /// `ssh <options> -- <address> <bootstrap>`, all pipes, killed on drop.
    fn shell(&self, bootstrap: &str) -> Command {
        let mut command = Command::new("ssh");
        command
            .args(&self.options)
            .arg("--")
            .arg(&self.address)
            .arg(bootstrap)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C on the terminal is dtrplay's to
            // handle (stop the running scripts, then close), not a signal
            // that kills every ssh under it first.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Stops the master serving this target's socket, if one answers there.
    /// Returns whether one did. Failures are not reported: the master then
    /// expires by itself, and closing must not fail.
    async fn stop_master(&self) -> bool {
        if tokio::net::UnixStream::connect(&self.control_path)
            .await
            .is_err()
        {
            return false;
        }
        let child = Command::new("ssh")
            .args(&self.options)
            .args(["-O", "exit", "--"])
            .arg(&self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        if let Ok(mut child) = child {
            let _ = tokio::time::timeout(EXIT_GRACE, child.wait()).await;
        }
        true
    }

    /// `address port N`, for hints.
    fn describe(&self) -> String {
        match self.port {
            Some(port) => format!("{} port {port}", self.address),
            None => format!("{} port 22 (or the port in your ssh config)", self.address),
        }
    }
}

/// The control socket's file name: a hash of everything that decides what
/// the connection is, so that different identities never share a master.
fn socket_name(target: &Target) -> String {
    let mut hasher = Sha256::new();
    let key = target
        .key_file
        .as_ref()
        .map(|k| k.display().to_string())
        .unwrap_or_default();
    let port = target.port.map(|p| p.to_string()).unwrap_or_default();
    for field in [
        target.name.as_str(),
        target.address.as_str(),
        &port,
        target.user.as_deref().unwrap_or(""),
        &key,
    ] {
        hasher.update(field.as_bytes());
        hasher.update([0]);
    }
    for arg in &target.ssh_args {
        hasher.update(arg.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut name = hex::encode(digest);
    name.truncate(SOCKET_NAME_LEN);
    name
}

/// Creates the control directory (0700) if needed and checks that it is
/// short enough for socket paths and private to us. Errors come with a hint.
fn prepare_control_dir(dir: &Path) -> Result<(), (String, String)> {
    let longest = dir.as_os_str().len() + 1 + SOCKET_NAME_LEN + SOCKET_BIND_SUFFIX;
    if longest >= MAX_SOCKET_PATH {
        return Err((
            format!(
                "the SSH control directory {} is {} bytes long, but its sockets need paths under {MAX_SOCKET_PATH} bytes (so at most {} bytes for the directory)",
                dir.display(),
                dir.as_os_str().len(),
                MAX_SOCKET_PATH - 2 - SOCKET_NAME_LEN - SOCKET_BIND_SUFFIX
            ),
            "choose a shorter control directory, for example one under /tmp".to_string(),
        ));
    }
    let hint = format!(
        "the control directory must be a directory owned by you with mode 0700: fix or remove {}",
        dir.display()
    );
    if let Err(err) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err((
            format!(
                "cannot create the SSH control directory {}: {err}",
                dir.display()
            ),
            hint,
        ));
    }
    let meta = std::fs::metadata(dir).map_err(|err| {
        (
            format!(
                "cannot inspect the SSH control directory {}: {err}",
                dir.display()
            ),
            hint.clone(),
        )
    })?;
    if !meta.is_dir() {
        return Err((
            format!("the SSH control path {} is not a directory", dir.display()),
            hint,
        ));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err((
            format!(
                "the SSH control directory {} belongs to another user (uid {})",
                dir.display(),
                meta.uid()
            ),
            hint,
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err((
            format!(
                "the SSH control directory {} is open to other users (mode {:o}); its sockets would let them use your SSH connections",
                dir.display(),
                meta.mode() & 0o777
            ),
            hint,
        ));
    }
    Ok(())
}

/// The writing end of a shell's stdin: a pipe to ssh or to the master.
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The reading end of a shell's stdout or stderr.
type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// What carries a shell's three byte streams to the host.
enum Carrier {
    /// An ssh process of ours: the master itself, or a client of a master.
    Ssh(Child),
    /// A session that a running master opened for us (`mux.rs`): no
    /// process of ours runs for it.
    Master(MuxChild),
}

impl Carrier {
    fn is_running(&mut self) -> bool {
        match self {
            Carrier::Ssh(child) => matches!(child.try_wait(), Ok(None)),
            Carrier::Master(session) => session.try_wait().is_none(),
        }
    }

    /// Ends the channel: killing ssh closes it, and so does closing the
    /// control connection of a master's session.
    fn start_kill(&mut self) {
        match self {
            Carrier::Ssh(child) => {
                let _ = child.start_kill();
            }
            Carrier::Master(session) => session.kill(),
        }
    }

    /// Waits for the channel to end, with the status an ssh client would
    /// have exited with, so that failures read the same either way.
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Carrier::Ssh(child) => child.wait().await,
            Carrier::Master(session) => Ok(match session.wait().await {
                MuxExit::Exited(code) => ExitStatus::from_raw(((code & 0xff) as i32) << 8),
                // ssh exits with 255 when it loses its connection.
                MuxExit::Disconnected => ExitStatus::from_raw(255 << 8),
                MuxExit::Killed => ExitStatus::from_raw(nix::sys::signal::Signal::SIGKILL as i32),
            }),
        }
    }
}

/// One remote shell, ready, with what carries it.
pub struct SshShell {
    carrier: Carrier,
    /// `None` once closed, which sends EOF to the remote side.
    stdin: Option<Writer>,
    stdout: Reader,
    /// The remote scripts' stderr and ssh's own messages share this pipe;
    /// replies take what lies before their terminators.
    stderr: Reader,
    /// ssh's own messages: stderr that no reply claimed, last bytes only.
    tail: Vec<u8>,
    session: Session,
    /// Set while a command is in flight. A shell still busy when the next
    /// command comes was abandoned mid-frame (its caller's future was
    /// dropped), so its stream cannot be trusted and it is replaced.
    busy: bool,
}

/// Why an exchange with the shell broke off.
#[derive(Debug, thiserror::Error)]
pub enum Broken {
    #[error("could not send the command to ssh: {0}")]
    Write(io::Error),
    #[error("could not read from ssh: {0}")]
    Read(io::Error),
    #[error("the channel closed")]
    Eof,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl SshShell {
    /// Opens the remote shell through the master serving this host's
    /// control socket if one answers there (a warm run), else spawns ssh;
    /// then sends the ready request and waits for its reply.
    ///
    /// With `escalation` (and the host's name, for messages), the driver is
    /// started through sudo or su, whose password prompt is answered first.
    async fn start(
        command: &SshCommand,
        ready_timeout: Duration,
        orphans: &[Orphan],
        escalation: Option<(&Escalation, &str)>,
    ) -> Result<SshShell, Failure> {
        let mut session = Session::new();
        let login = command.user.as_deref().unwrap_or("the login user");
        let (bootstrap, handshake) = match escalation {
            None => (session.bootstrap(), None),
            Some((escalation, host)) => {
                session = session.escalated();
                let start = escalation.start(&session, host, login);
                (start.bootstrap, start.handshake)
            }
        };
        let (carrier, stdin, stdout, stderr): (Carrier, Writer, Reader, Reader) =
            match on_master(command, &bootstrap, ready_timeout).await {
                Some(mut child) => {
                    match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                        (Some(stdin), Some(stdout), Some(stderr)) => (
                            Carrier::Master(child),
                            Box::new(stdin),
                            Box::new(stdout),
                            Box::new(stderr),
                        ),
                        _ => return Err(no_pipes()),
                    }
                }
                None => {
                    let mut child = command.shell(&bootstrap).spawn().map_err(|err| Failure {
                        message: format!("cannot run ssh: {err}"),
                        hint: Some(
                            "dtrplay needs the OpenSSH client (`ssh`) on the PATH".to_string(),
                        ),
                        transient: false,
                        escalation: false,
                    })?;
                    match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                        (Some(stdin), Some(stdout), Some(stderr)) => (
                            Carrier::Ssh(child),
                            Box::new(stdin),
                            Box::new(stdout),
                            Box::new(stderr),
                        ),
                        _ => return Err(no_pipes()),
                    }
                }
            };
        let (ready, reply) = session.ready_request(orphans);
        let mut shell = SshShell {
            carrier,
            stdin: Some(stdin),
            stdout,
            stderr,
            tail: Vec::new(),
            session,
            busy: false,
        };
        if let Some(handshake) = handshake {
            shell.handshake(handshake).await?;
        }
        // A failed write means ssh has already exited; waiting for the
        // reply then reports ssh's own explanation.
        let _ = shell.write(&ready).await;
        match tokio::time::timeout(ready_timeout, shell.round_trip(&[], reply)).await {
            Ok(Ok(ready)) => {
                shell.session.ready(&ready);
                Ok(shell)
            }
            Ok(Err(broken)) => {
                let (status, stderr) = shell.finish().await;
                let code = status.and_then(|s| s.code());
                match escalation {
                    // ssh itself exits with 255; any other status is sudo's.
                    Some((escalation, host)) if code != Some(255) => {
                        let code = code.and_then(|c| u32::try_from(c).ok());
                        Err(escalated(escalation.failure(host, login, &stderr, code)))
                    }
                    _ => Err(classify(command, status, &stderr, &broken)),
                }
            }
            Err(_) => {
                shell.kill_in_place().await;
                let (_, stderr) = shell.finish().await;
                let said = distill(&stderr);
                let mut message = format!(
                    "the remote shell was not ready within {}s",
                    ready_timeout.as_secs()
                );
                if !said.is_empty() {
                    message.push_str(&format!("; ssh said: {said}"));
                }
                Err(Failure {
                    message,
                    hint: Some(
                        "the handshake, authentication or the login shell's startup files are too slow; check the host's load and the rc files of the login user".to_string(),
                    ),
                    transient: true,
                    escalation: false,
                })
            }
        }
    }

    /// Holds the dialogue with sudo or su until the driver runs: answers the
    /// password prompt, and gives up (killing the channel) on a second
    /// prompt, an early end or a prompt that never comes.
    async fn handshake(&mut self, mut handshake: escalate::Handshake) -> Result<(), Failure> {
        let mut out = vec![0u8; 4096];
        let mut err = vec![0u8; 4096];
        let dialogue = async {
            loop {
                let step = tokio::select! {
                    read = self.stdout.read(&mut out) => match read {
                        Ok(0) | Err(_) => None,
                        Ok(n) => Some(handshake.stdout(&out[..n])),
                    },
                    read = self.stderr.read(&mut err) => match read {
                        Ok(0) | Err(_) => None,
                        Ok(n) => Some(handshake.stderr(&err[..n])),
                    },
                };
                match step {
                    None => return Err(None),
                    Some(Step::Wait) => {}
                    Some(Step::Ready) => return Ok(()),
                    Some(Step::Send(bytes)) => {
                        if self.write(&bytes).await.is_err() {
                            return Err(None);
                        }
                    }
                    Some(Step::Fail(failure)) => return Err(Some(failure)),
                }
            }
        };
        let result = tokio::time::timeout(escalate::PROMPT_TIMEOUT, dialogue).await;
        let failure = match result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(Some(failure))) => failure,
            Ok(Err(None)) => {
                let (status, stderr) = self.finish().await;
                handshake.stderr(stderr.as_bytes());
                handshake.ended(
                    status
                        .and_then(|s| s.code())
                        .and_then(|c| u32::try_from(c).ok()),
                )
            }
            Err(_) => handshake.timed_out(),
        };
        self.kill_in_place().await;
        Err(escalated(failure))
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed"));
        };
        stdin.write_all(bytes).await?;
        stdin.flush().await
    }

    /// Sends `request` (nothing if empty) and feeds what comes back on
    /// stdout and stderr to `reply` until it is complete.
    async fn round_trip(&mut self, request: &[u8], mut reply: Reply) -> Result<Output, Broken> {
        self.busy = true;
        if !request.is_empty() {
            self.write(request).await.map_err(Broken::Write)?;
        }
        let mut out = vec![0u8; 64 * 1024];
        let mut err = vec![0u8; 16 * 1024];
        let result = loop {
            if reply.is_complete() {
                break Ok(());
            }
            let (out_done, err_done) = (reply.stdout_done(), reply.stderr_done());
            tokio::select! {
                read = self.stdout.read(&mut out), if !out_done => match read {
                    Ok(0) => break Err(Broken::Eof),
                    Ok(n) => if let Err(e) = reply.stdout(&out[..n]) { break Err(e.into()) },
                    Err(e) => break Err(Broken::Read(e)),
                },
                read = self.stderr.read(&mut err), if !err_done => match read {
                    Ok(0) => break Err(Broken::Eof),
                    Ok(n) => if let Err(e) = reply.stderr(&err[..n]) { break Err(e.into()) },
                    Err(e) => break Err(Broken::Read(e)),
                },
            }
        };
        if let Err(broken) = result {
            // What ssh said as the channel died is in the unfinished reply.
            keep_tail(&mut self.tail, reply.stderr_so_far());
            return Err(broken);
        }
        self.busy = false;
        reply.into_output().ok_or(Broken::Eof)
    }

    async fn kill_in_place(&mut self) {
        self.carrier.start_kill();
        let _ = tokio::time::timeout(EXIT_GRACE, self.carrier.wait()).await;
    }

    /// Waits briefly for ssh to exit (killing it if it does not) and returns
    /// its exit status and the tail of its stderr.
    async fn finish(&mut self) -> (Option<ExitStatus>, String) {
        self.stdin = None;
        let status = match tokio::time::timeout(EXIT_GRACE, self.carrier.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                self.kill_in_place().await;
                None
            }
        };
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            STDERR_GRACE,
            (&mut self.stderr)
                .take(STDERR_KEEP as u64 * 4)
                .read_to_end(&mut rest),
        )
        .await;
        keep_tail(&mut self.tail, &rest);
        (status, String::from_utf8_lossy(&self.tail).into_owned())
    }
}

#[async_trait]
impl Shell for SshShell {
    type Broken = Broken;

    async fn exchange(&mut self, request: &[u8], reply: Reply) -> Result<Output, Broken> {
        self.round_trip(request, reply).await
    }

    fn is_usable(&mut self) -> bool {
        !self.busy && self.carrier.is_running()
    }

    fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    fn busy(&self) -> bool {
        self.busy
    }

    fn unsent(broken: &Broken) -> bool {
        matches!(broken, Broken::Write(_))
    }

    /// An ssh process of ours carries the shell, which may be the master
    /// that other shells of the host ride on.
    fn carries_others(&self) -> bool {
        matches!(self.carrier, Carrier::Ssh(_))
    }

    /// Kills ssh (or ends the master's session) and reaps it.
    async fn abandon(mut self) {
        self.kill_in_place().await;
    }

    /// The message for a channel that broke during a command.
    async fn lost(mut self, broken: &Broken) -> String {
        let (status, stderr) = self.finish().await;
        let mut message = format!("{broken} while a command was running");
        let said = distill(&stderr);
        match (status.and_then(|s| s.code()), said.is_empty()) {
            (Some(code), false) => message.push_str(&format!(" (ssh exited with {code}: {said})")),
            (Some(code), true) => message.push_str(&format!(" (ssh exited with {code})")),
            (None, false) => message.push_str(&format!(" (ssh said: {said})")),
            (None, true) => {}
        }
        message
    }

    /// Ends the remote shell in order and waits for ssh to exit.
    async fn shutdown(mut self, _escalated: bool) {
        if !self.is_usable() {
            self.kill_in_place().await;
            return;
        }
        let bye = self.session.close_request();
        let said_bye = matches!(
            tokio::time::timeout(EXIT_GRACE, self.write(&bye)).await,
            Ok(Ok(()))
        );
        self.stdin = None;
        if !said_bye
            || tokio::time::timeout(EXIT_GRACE, self.carrier.wait())
                .await
                .is_err()
        {
            self.kill_in_place().await;
        }
    }
}

/// A session for `bootstrap` on the master that serves this host's control
/// socket, if one answers there. `None` means that ssh must be spawned:
/// there is no master (a cold run, or no `--ssh-persist`), its socket is
/// stale, or it did not open the session. In the last case ssh goes through
/// the same master and reports, in its own words, what went wrong.
async fn on_master(command: &SshCommand, bootstrap: &str, wait: Duration) -> Option<MuxChild> {
    match tokio::time::timeout(wait, MuxChild::spawn(&command.control_path, bootstrap)).await {
        Ok(Ok(child)) => Some(child),
        Ok(Err(_)) | Err(_) => None,
    }
}

/// A failed escalation as a failure to open the shell.
fn escalated(failure: escalate::Failure) -> Failure {
    Failure {
        message: failure.message,
        hint: failure.hint,
        transient: false,
        escalation: true,
    }
}

fn no_pipes() -> Failure {
    Failure {
        message: "the SSH channel was opened without its pipes".to_string(),
        hint: None,
        transient: false,
        escalation: false,
    }
}

/// Appends `bytes` to `tail`, keeping only the last `STDERR_KEEP` bytes.
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(bytes);
    let excess = tail.len().saturating_sub(STDERR_KEEP);
    tail.drain(..excess);
}

/// The delay before retry number `attempt + 1`: exponential, capped, and
/// spread by ±50 % so that many hosts failing together do not retry in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP);
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX).max(2);
    Duration::from_millis(millis / 2 + remote_shell::random_u64() % millis)
}

/// A failed attempt to open a shell, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    message: String,
    hint: Option<String>,
    /// Whether trying again may help.
    transient: bool,
    /// Whether sudo or su failed: the connection is fine, the task is not.
    escalation: bool,
}

/// Turns ssh's exit status and stderr into a message, a hint and whether a
/// retry may help.
fn classify(
    command: &SshCommand,
    status: Option<ExitStatus>,
    stderr: &str,
    broken: &Broken,
) -> Failure {
    let code = status.and_then(|s| s.code());
    let said = distill(stderr);
    let has = |needles: &[&str]| needles.iter().any(|n| stderr.contains(n));
    let fail = |hint: String, transient: bool| Failure {
        message: if said.is_empty() {
            format!("ssh failed ({broken})")
        } else {
            said.clone()
        },
        hint: Some(hint),
        transient,
        escalation: false,
    };
    let user = command
        .user
        .as_deref()
        .unwrap_or("(your ssh config's user)");
    let place = command.describe();
    if has(&["Permission denied", "Too many authentication failures"]) {
        return fail(
            format!(
                "the host refused every key offered for user {user}: check ansible_user and ansible_ssh_private_key_file (or the keys in your ssh-agent); ssh runs in batch mode, so passwords and key passphrases cannot be typed in"
            ),
            false,
        );
    }
    if has(&[
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host key is known",
    ]) {
        return fail(
            format!(
                "the host key of {place} is not in known_hosts, or it changed: verify the host's fingerprint and record it in known_hosts (for example with ssh-keyscan), or set UserKnownHostsFile in ansible_ssh_common_args"
            ),
            false,
        );
    }
    if has(&["Could not resolve hostname", "Name or service not known"]) {
        return fail(
            "check the inventory name, or set ansible_host to a resolvable name or an address"
                .to_string(),
            false,
        );
    }
    if has(&["too long for Unix domain socket", "path too long"]) {
        return fail(
            "choose a shorter SSH control directory, or remove ControlPath from ansible_ssh_common_args"
                .to_string(),
            false,
        );
    }
    if has(&["Connection refused"]) {
        return fail(
            format!(
                "nothing accepts SSH connections on {place}: check ansible_host and ansible_port, that sshd runs there, and firewalls"
            ),
            true,
        );
    }
    if has(&["timed out", "Timeout, server"]) {
        return fail(
            format!(
                "no answer from {place} in time: check the address, the port and firewalls on the way"
            ),
            true,
        );
    }
    if has(&[
        "kex_exchange_identification",
        "ssh_exchange_identification",
        "banner exchange",
        "Connection closed by",
        "Connection reset by",
    ]) {
        return fail(
            "the server dropped the connection before authentication; sshd's MaxStartups (default 10:30:100) drops concurrent unauthenticated connections: raise it on the server (or the bastion), or lower --forks".to_string(),
            true,
        );
    }
    if has(&["No route to host", "Network is unreachable"]) {
        return fail(
            format!("the network cannot reach {place}: check the address and routes"),
            true,
        );
    }
    if let Some(code) = code
        && code != 255
    {
        let mut message =
            format!("the remote shell ended before it was ready (exit status {code})");
        if !said.is_empty() {
            message.push_str(&format!(": {said}"));
        }
        return Failure {
            message,
            hint: Some(
                "dtrplay needs /bin/sh and cat on the host, and a login shell that runs commands (not nologin)".to_string(),
            ),
            transient: false,
            escalation: false,
        };
    }
    Failure {
        message: if said.is_empty() {
            match code {
                Some(code) => format!("ssh exited with status {code} ({broken})"),
                None => format!("ssh ended ({broken})"),
            }
        } else {
            said
        },
        hint: None,
        transient: false,
        escalation: false,
    }
}

/// The part of ssh's stderr worth showing: the lines that explain a failure
/// if there are any, else its last lines, without ssh's routine notices.
fn distill(stderr: &str) -> String {
    const TELLING: [&str; 14] = [
        "Permission denied",
        "Too many authentication failures",
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host key is known",
        "Could not resolve hostname",
        "Connection refused",
        "timed out",
        "kex_exchange_identification",
        "Connection closed by",
        "Connection reset by",
        "No route to host",
        "Network is unreachable",
        "too long for Unix domain socket",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("Warning: Permanently added"))
        .collect();
    let telling: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| TELLING.iter().any(|t| l.contains(t)))
        .collect();
    let chosen = if telling.is_empty() {
        &lines[lines.len().saturating_sub(3)..]
    } else {
        &telling[telling.len().saturating_sub(3)..]
    };
    let mut text = chosen.join(" / ");
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Transport;

    fn target() -> Target {
        Target {
            name: "node1".into(),
            address: "127.0.0.9".into(),
            port: Some(2222),
            user: Some("root".into()),
            key_file: Some(PathBuf::from("/k/id")),
            ssh_args: vec!["-o".into(), "StrictHostKeyChecking=yes".into()],
            transport: Transport::Ssh,
            ssh_client: None,
        }
    }

    fn options(dir: &Path) -> ConnectOptions {
        ConnectOptions {
            control_dir: dir.to_path_buf(),
            persist: None,
            connect_timeout: Duration::from_millis(2500),
            retries: 2,
            ssh_client: crate::connection::SshClient::OpenSsh,
            jumps: Default::default(),
        }
    }

    fn command() -> SshCommand {
        SshCommand {
            options: Vec::new(),
            address: "10.0.0.5".into(),
            port: Some(22),
            user: Some("deploy".into()),
            control_path: PathBuf::from("/tmp/x/s"),
        }
    }

    fn exit(code: i32) -> Option<ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        Some(ExitStatus::from_raw(code << 8))
    }

    fn classify_text(stderr: &str) -> Failure {
        classify(&command(), exit(255), stderr, &Broken::Eof)
    }

    #[test]
    fn the_command_line_puts_inventory_options_before_the_control_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = dir.path().join("ctl");
        let command = SshCommand::new(&target(), &options(&ctl)).expect("command");
        let args: Vec<String> = command
            .options
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(
            joined.starts_with(
                "-T -o BatchMode=yes -o ConnectTimeout=3 -p 2222 -l root -i /k/id -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPath="
            ),
            "{joined}"
        );
        assert!(joined.contains("-o ControlPersist=no"), "{joined}");
        let path = command.control_path.to_string_lossy().into_owned();
        assert!(path.starts_with(&ctl.to_string_lossy().into_owned()));
        assert_eq!(command.control_path.file_name().map(|n| n.len()), Some(16));
    }

    #[test]
    fn socket_names_are_stable_and_differ_per_identity() {
        let a = target();
        assert_eq!(socket_name(&a), socket_name(&a.clone()));
        let mut b = a.clone();
        b.key_file = Some(PathBuf::from("/k/other"));
        assert_ne!(socket_name(&a), socket_name(&b));
        let mut c = a.clone();
        c.name = "alias".into();
        assert_ne!(socket_name(&a), socket_name(&c));
    }

    #[test]
    fn control_dirs_must_be_short_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("ctl");
        assert!(prepare_control_dir(&fresh).is_ok());
        let mode = std::fs::metadata(&fresh).map(|m| m.mode() & 0o777).ok();
        assert_eq!(mode, Some(0o700));

        let long = dir.path().join("x".repeat(80));
        let (message, hint) = prepare_control_dir(&long).expect_err("too long");
        assert!(message.contains("bytes long"), "{message}");
        assert!(hint.contains("shorter"), "{hint}");

        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        let perms = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&open, perms).expect("chmod");
        let (message, _) = prepare_control_dir(&open).expect_err("open dir");
        assert!(message.contains("mode 755"), "{message}");
    }

    #[test]
    fn failures_get_hints_and_only_transient_ones_are_retried() {
        let auth = classify_text("deploy@10.0.0.5: Permission denied (publickey).\n");
        assert_eq!(
            auth.message,
            "deploy@10.0.0.5: Permission denied (publickey)."
        );
        assert!(!auth.transient);
        assert!(auth.hint.unwrap_or_default().contains("ansible_user"));

        let key = classify_text(
            "No ED25519 host key is known for [10.0.0.5]:22 and you have requested strict checking.\nHost key verification failed.\n",
        );
        assert!(!key.transient);
        assert!(key.hint.unwrap_or_default().contains("known_hosts"));

        let refused = classify_text("ssh: connect to host 10.0.0.5 port 22: Connection refused\n");
        assert!(refused.transient);
        assert!(
            refused
                .hint
                .unwrap_or_default()
                .contains("10.0.0.5 port 22")
        );

        let dropped = classify_text(
            "kex_exchange_identification: read: Connection reset by peer\nConnection reset by 10.0.0.5 port 22\n",
        );
        assert!(dropped.transient);
        assert!(dropped.hint.unwrap_or_default().contains("MaxStartups"));

        let timeout =
            classify_text("ssh: connect to host 10.0.0.5 port 22: Connection timed out\n");
        assert!(timeout.transient);

        let nologin = classify(
            &command(),
            exit(1),
            "This account is currently not available.\n",
            &Broken::Eof,
        );
        assert!(
            nologin.message.contains("exit status 1"),
            "{}",
            nologin.message
        );
        assert!(!nologin.transient);
    }

    #[test]
    fn distill_keeps_what_explains_the_failure() {
        let text = "pyenv: noise\nWarning: Permanently added 'x' (ED25519) to the list of known hosts.\nroot@x: Permission denied (publickey).\n";
        assert_eq!(distill(text), "root@x: Permission denied (publickey).");
        assert_eq!(distill("a\nb\nc\nd\n"), "b / c / d");
        assert_eq!(distill(""), "");
        let long = "é".repeat(300);
        assert!(distill(&long).len() <= 404);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(100), "{d:?}");
            assert!(d <= BACKOFF_CAP + BACKOFF_CAP / 2, "{d:?}");
        }
        assert!(backoff(5) > backoff(0));
    }
}
