//! Sessions on a running OpenSSH ControlMaster, opened from our own process.
//!
//! A master kept by `--ssh-persist` already holds an authenticated SSH
//! connection. The usual way to use it is to run `ssh` again, which finds
//! the control socket and acts as a "mux client": it asks the master for a
//! new session and hands over its own stdin, stdout and stderr. That client
//! process does nothing else, yet costs a fork, an exec and about 5 ms of
//! control-machine CPU per host, which is all of the time a warm run spends
//! on top of the open masters. This module speaks the master's protocol
//! (OpenSSH's `PROTOCOL.mux`) directly instead, through the
//! `openssh-mux-client` crate: we create three pipes, pass their far ends
//! to the master over the control socket (`SCM_RIGHTS`), and keep the near
//! ends as tokio streams. The master then copies between those pipes and a
//! new session channel, exactly as it would for an `ssh` client.
//!
//! The control connection stays open for the whole session: the master
//! reports the remote command's exit status on it, and closing it makes the
//! master close the session channel, which is how a session is killed.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use futures::FutureExt;
use openssh_mux_client::{
    Connection as Control, Error as ControlError, NonZeroByteSlice, Session, SessionStatus,
};
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// How long a master may take to answer the greeting or an alive check.
/// A master runs on this machine and answers in microseconds; one that
/// takes seconds is wedged, and it is better to go around it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no session could be opened through a master.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// Nothing usable answers on the socket: there is no socket, a stale
    /// socket of a dead master, or something that does not speak the mux
    /// protocol. Spawning `ssh` instead is the right reaction.
    #[error("no SSH master answers on {socket}: {message}")]
    NoMaster { socket: String, message: String },
    /// A master answered but did not open the session, for example because
    /// its connection to the server has just died or the server refused a
    /// new channel (sshd's `MaxSessions`).
    #[error("the SSH master on {socket} did not open a session: {message}")]
    Refused { socket: String, message: String },
    /// The command cannot be sent at all (it contains a NUL byte).
    #[error("the command cannot be sent through the SSH master: {0}")]
    Command(&'static str),
    /// Creating the local pipes failed (usually: out of file descriptors).
    #[error("cannot create pipes for an SSH session: {0}")]
    Pipes(#[from] io::Error),
}

/// How a session through a master ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxExit {
    /// The remote command exited with this status.
    Exited(u32),
    /// The master closed the control connection without an exit status.
    /// It does that when it dies or is stopped, and also when the remote
    /// command was killed by a signal (OpenSSH forwards only exit codes to
    /// mux clients).
    Disconnected,
    /// `kill` ended the session.
    Killed,
}

/// A remote command running in a session of a master: the counterpart of
/// `tokio::process::Child` for a process that runs on the other end of an
/// existing SSH connection.
pub struct MuxChild {
    /// The remote command's standard input; dropping it sends EOF.
    pub stdin: Option<pipe::Sender>,
    /// The remote command's standard output.
    pub stdout: Option<pipe::Receiver>,
    /// The remote command's standard error.
    pub stderr: Option<pipe::Receiver>,
    /// Waits on the control connection for the exit message. Owning the
    /// control connection inside this task is what keeps the session open.
    waiter: Option<JoinHandle<MuxExit>>,
    /// The outcome, once known.
    exit: Option<MuxExit>,
}

impl MuxChild {
    /// Opens a session running `command` (one string, run by the remote
    /// user's login shell, as `ssh host command` would) on the master that
    /// listens on `socket`.
    pub async fn spawn(socket: &Path, command: &str) -> Result<MuxChild, MuxError> {
        let cmd = NonZeroByteSlice::new(command.as_bytes())
            .ok_or(MuxError::Command("it contains a NUL byte"))?;
        let control = greet(socket).await?;

        // Each pipe is created non-blocking with close-on-exec, registered
        // with tokio. The master's end is deregistered and put back into
        // blocking mode, as the master expects; the two ends of a pipe are
        // separate open files, so our end stays non-blocking.
        let (stdin, stdin_far) = pipe::pipe()?;
        let (stdout_far, stdout) = pipe::pipe()?;
        let (stderr_far, stderr) = pipe::pipe()?;
        let far: [OwnedFd; 3] = [
            stdin_far.into_blocking_fd()?,
            stdout_far.into_blocking_fd()?,
            stderr_far.into_blocking_fd()?,
        ];
        let fds = [far[0].as_raw_fd(), far[1].as_raw_fd(), far[2].as_raw_fd()];

        // No terminal and no forwarding, like `ssh -T -a -x`; no escape
        // character, so that no byte of our input is ever interpreted.
        let session = Session::builder()
            .tty(false)
            .x11_forwarding(false)
            .agent(false)
            .subsystem(false)
            .escape_ch(char::MAX)
            .cmd(Cow::Borrowed(cmd))
            .build();
        let established = control
            .open_new_session(&session, &fds)
            .await
            .map_err(|err| MuxError::Refused {
                socket: socket.display().to_string(),
                message: describe(&err),
            })?;
        // The master holds its own copies of the far ends now. Ours must be
        // closed, or our readers would never see end-of-file.
        drop(far);

        let waiter = tokio::spawn(async move {
            let mut established = established;
            loop {
                match established.wait().await {
                    Ok(SessionStatus::Exited {
                        exit_value: Some(code),
                    }) => return MuxExit::Exited(code),
                    Ok(SessionStatus::Exited { exit_value: None }) | Err(_) => {
                        return MuxExit::Disconnected;
                    }
                    // Only sessions with a terminal report this, and ours
                    // never ask for one; the exit message still follows.
                    Ok(SessionStatus::TtyAllocFail(again)) => established = again,
                }
            }
        });
        Ok(MuxChild {
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: Some(stderr),
            waiter: Some(waiter),
            exit: None,
        })
    }

    /// Waits for the session to end and returns how it ended. Cancelling
    /// this future loses nothing; a later call waits again.
    pub async fn wait(&mut self) -> MuxExit {
        if let Some(exit) = self.exit {
            return exit;
        }
        let exit = match self.waiter.as_mut() {
            Some(waiter) => waiter.await.unwrap_or(MuxExit::Killed),
            None => MuxExit::Killed,
        };
        self.waiter = None;
        self.exit = Some(exit);
        exit
    }

    /// How the session ended, or `None` while it still runs.
    pub fn try_wait(&mut self) -> Option<MuxExit> {
        if self.exit.is_none() {
            let finished = self.waiter.as_ref().is_none_or(|w| w.is_finished());
            if finished {
                return self.wait().now_or_never();
            }
        }
        self.exit
    }

    /// Ends the session now: closing the control connection makes the
    /// master close the session channel, and the server then hangs up on
    /// the remote command. Our ends of the pipes see end-of-file once the
    /// master has let go of its ends.
    pub fn kill(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            waiter.abort();
            // A session that had already ended keeps its real outcome.
            self.exit = Some(
                waiter
                    .now_or_never()
                    .and_then(Result::ok)
                    .unwrap_or(MuxExit::Killed),
            );
        }
    }
}

impl Drop for MuxChild {
    /// A session must not outlive its owner, like a child process spawned
    /// with `kill_on_drop`.
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            waiter.abort();
        }
    }
}

/// Whether a master answers on `socket` (the mux "alive check").
pub async fn alive(socket: &Path) -> bool {
    master_pid(socket).await.is_some()
}

/// The process id of the master that answers on `socket`, if one does.
pub async fn master_pid(socket: &Path) -> Option<u32> {
    let mut control = greet(socket).await.ok()?;
    let pid = tokio::time::timeout(ANSWER_TIMEOUT, control.send_alive_check())
        .await
        .ok()?
        .ok()?;
    Some(pid.get())
}

/// Connects to the control socket and exchanges the protocol greeting.
async fn greet(socket: &Path) -> Result<Control, MuxError> {
    let no_master = |message: String| MuxError::NoMaster {
        socket: socket.display().to_string(),
        message,
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, Control::connect(socket)).await {
        Ok(Ok(control)) => Ok(control),
        Ok(Err(err)) => Err(no_master(describe(&err))),
        Err(_) => Err(no_master(format!(
            "no greeting within {}s",
            ANSWER_TIMEOUT.as_secs()
        ))),
    }
}

/// The crate's errors, in the words a user would understand.
fn describe(err: &ControlError) -> String {
    match err {
        ControlError::IOError(io) => io.to_string(),
        ControlError::RequestFailure(reason) | ControlError::PermissionDenied(reason) => {
            reason.to_string()
        }
        other => other.to_string(),
    }
}
