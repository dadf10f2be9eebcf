//! Sessions on a running OpenSSH ControlMaster, opened from our own process.
//!
//! A master kept by `--ssh-persist` already holds an authenticated SSH
//! connection. The usual way to use it is to run `ssh` again, which finds
//! the control socket and acts as a "mux client": it asks the master for a
//! new session and hands over its own stdin, stdout and stderr. That client
//! process does nothing else, yet costs a fork, an exec and about 5 ms of
//! control-machine CPU per host, which is all of the time a warm run spends
//! on top of the open masters. This module speaks the master's protocol
//! (OpenSSH's `PROTOCOL.mux`) directly instead: we create three pipes, pass
//! their far ends to the master over the control socket (`SCM_RIGHTS`), and
//! keep the near ends as tokio streams. The master then copies between those
//! pipes and a new session channel, exactly as it would for an `ssh` client.
//!
//! The control connection stays open for the whole session: the master
//! reports the remote command's exit status on it, and closing it makes the
//! master close the session channel, which is how a session is killed.
//!
//! # Why our own implementation of the protocol
//!
//! We need four messages (hello, alive check, new session, exit message),
//! about a hundred lines. The `openssh-mux-client` crate implements them
//! too, but its new-session request cannot carry environment variables. An
//! `ssh` mux client sends its environment, and the master forwards the
//! variables its `SendEnv` allows (`LANG` and `LC_*` on Debian and Ubuntu),
//! so without them a warm run would run remote commands in another locale
//! than a cold run. We send our whole environment and let the master filter
//! it with the same `SendEnv` patterns it applies to its own clients.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use futures::FutureExt;
use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// How long a master may take to answer the greeting or an alive check.
/// A master runs on this machine and answers in microseconds; one that
/// takes seconds is wedged, and it is better to go around it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The protocol version every OpenSSH since 5.6 speaks.
const VERSION: u32 = 4;

/// Message types of `PROTOCOL.mux`.
const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_C_NEW_SESSION: u32 = 0x1000_0002;
const MUX_C_ALIVE_CHECK: u32 = 0x1000_0004;
const MUX_S_PERMISSION_DENIED: u32 = 0x8000_0002;
const MUX_S_FAILURE: u32 = 0x8000_0003;
const MUX_S_EXIT_MESSAGE: u32 = 0x8000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const MUX_S_SESSION_OPENED: u32 = 0x8000_0006;
const MUX_S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;

/// The escape character value that means "none", so that no byte of our
/// input is ever interpreted by the master.
const NO_ESCAPE: u32 = 0xffff_ffff;

/// The largest message we accept from a master. Its real messages are a
/// few dozen bytes; a larger length means we are not talking to a master.
const MAX_MESSAGE: usize = 256 * 1024;

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
        if command.contains('\0') {
            return Err(MuxError::Command("it contains a NUL byte"));
        }
        let mut control = greet(socket).await?;
        let refused = |message: String| MuxError::Refused {
            socket: socket.display().to_string(),
            message,
        };

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

        const REQUEST: u32 = 1;
        let request = new_session(REQUEST, command.as_bytes(), &environment());
        control
            .write_all(&request)
            .await
            .map_err(|err| refused(err.to_string()))?;
        // The master takes the three descriptors one at a time, each with a
        // one-byte message.
        for fd in &far {
            send_fd(&control, fd)
                .await
                .map_err(|err| refused(format!("cannot pass our pipes: {err}")))?;
        }
        // The master answers once the server has confirmed the new channel,
        // a network round trip away; the caller bounds how long that may
        // take, as it bounds the rest of opening a shell.
        match read_message(&mut control).await {
            Ok(Message::SessionOpened { request: REQUEST }) => {}
            Ok(Message::Refused { reason, .. }) => return Err(refused(reason)),
            Ok(other) => return Err(refused(format!("unexpected answer {other:?}"))),
            Err(err) => return Err(refused(err.to_string())),
        }
        // The master holds its own copies of the far ends now. Ours must be
        // closed, or our readers would never see end-of-file.
        drop(far);

        let waiter = tokio::spawn(async move {
            let mut exit = None;
            loop {
                match read_message(&mut control).await {
                    // The exit message can overtake output the master has
                    // yet to write to our pipes, and closing the control
                    // connection makes the master drop what it still holds.
                    // So we wait, as ssh's own mux client does, until the
                    // master closes the connection after the session.
                    Ok(Message::Exit { status }) => exit = Some(status),
                    // Only sessions with a terminal report this, and ours
                    // never ask for one; the exit message still follows.
                    Ok(Message::TtyAllocFail) => {}
                    Ok(_) | Err(_) => {
                        return exit.map_or(MuxExit::Disconnected, MuxExit::Exited);
                    }
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
    let check = async {
        control.write_all(&alive_check(1)).await?;
        read_message(&mut control).await
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, check).await {
        Ok(Ok(Message::Alive { request: 1, pid })) if pid != 0 => Some(pid),
        _ => None,
    }
}

/// Connects to the control socket and exchanges the protocol greeting.
async fn greet(socket: &Path) -> Result<UnixStream, MuxError> {
    let no_master = |message: String| MuxError::NoMaster {
        socket: socket.display().to_string(),
        message,
    };
    let exchange = async {
        let mut control = UnixStream::connect(socket).await?;
        control.write_all(&hello()).await?;
        match read_message(&mut control).await? {
            Message::Hello { version: VERSION } => Ok(control),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a version {VERSION} greeting: {other:?}"),
            )),
        }
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Ok(control)) => Ok(control),
        Ok(Err(err)) => Err(no_master(err.to_string())),
        Err(_) => Err(no_master(format!(
            "no greeting within {}s",
            ANSWER_TIMEOUT.as_secs()
        ))),
    }
}

/// Sends one descriptor with a one-byte message, as the master expects.
async fn send_fd(control: &UnixStream, fd: &OwnedFd) -> io::Result<()> {
    let raw = [fd.as_raw_fd()];
    loop {
        control.writable().await?;
        let sent = control.try_io(Interest::WRITABLE, || {
            sendmsg::<UnixAddr>(
                control.as_raw_fd(),
                &[IoSlice::new(&[0])],
                &[ControlMessage::ScmRights(&raw)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Our environment as `NAME=value` strings, for the master to filter with
/// `SendEnv`. Variables whose text holds a NUL cannot exist in a process
/// environment, so every entry is a valid protocol string.
fn environment() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(name, value)| {
            let mut entry = name.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            entry
        })
        .collect()
}

/// A message being built: `uint32` and `string` as in the SSH wire format.
struct Builder(Vec<u8>);

impl Builder {
    fn new(kind: u32) -> Builder {
        // The length is filled in by `finish`.
        let mut builder = Builder(vec![0; 4]);
        builder.u32(kind);
        builder
    }

    fn u32(&mut self, value: u32) -> &mut Builder {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn string(&mut self, value: &[u8]) -> &mut Builder {
        // Messages are built from our own command and environment, which
        // are far below 4 GiB.
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value);
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        std::mem::take(&mut self.0)
    }
}

fn hello() -> Vec<u8> {
    Builder::new(MUX_MSG_HELLO).u32(VERSION).finish()
}

fn alive_check(request: u32) -> Vec<u8> {
    Builder::new(MUX_C_ALIVE_CHECK).u32(request).finish()
}

/// A request for a session without a terminal, agent or X11 forwarding,
/// like `ssh -T -a -x`, and without an escape character.
fn new_session(request: u32, command: &[u8], env: &[Vec<u8>]) -> Vec<u8> {
    let mut message = Builder::new(MUX_C_NEW_SESSION);
    message
        .u32(request)
        .string(b"") // reserved
        .u32(0) // tty
        .u32(0) // X11 forwarding
        .u32(0) // agent forwarding
        .u32(0) // subsystem
        .u32(NO_ESCAPE)
        .string(b"") // terminal type
        .string(command);
    for entry in env {
        message.string(entry);
    }
    message.finish()
}

/// What a master says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    Hello {
        version: u32,
    },
    Alive {
        request: u32,
        pid: u32,
    },
    SessionOpened {
        request: u32,
    },
    /// `MUX_S_FAILURE` or `MUX_S_PERMISSION_DENIED`, with the master's reason.
    Refused {
        request: u32,
        reason: String,
    },
    Exit {
        status: u32,
    },
    TtyAllocFail,
    Other {
        kind: u32,
    },
}

/// Reads one length-prefixed message.
async fn read_message(control: &mut UnixStream) -> io::Result<Message> {
    let mut len = [0u8; 4];
    control.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    control.read_exact(&mut body).await?;
    parse(&body).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a malformed message"))
}

/// Decodes a message body (without its length). Trailing fields that a
/// newer master may add are ignored, as OpenSSH's own client does.
fn parse(body: &[u8]) -> Option<Message> {
    let mut fields = Fields(body);
    let kind = fields.u32()?;
    Some(match kind {
        MUX_MSG_HELLO => Message::Hello {
            version: fields.u32()?,
        },
        MUX_S_ALIVE => Message::Alive {
            request: fields.u32()?,
            pid: fields.u32()?,
        },
        MUX_S_SESSION_OPENED => Message::SessionOpened {
            request: fields.u32()?,
        },
        MUX_S_FAILURE | MUX_S_PERMISSION_DENIED => Message::Refused {
            request: fields.u32()?,
            reason: String::from_utf8_lossy(fields.string()?).into_owned(),
        },
        MUX_S_EXIT_MESSAGE => {
            let _session = fields.u32()?;
            Message::Exit {
                status: fields.u32()?,
            }
        }
        MUX_S_TTY_ALLOC_FAIL => Message::TtyAllocFail,
        kind => Message::Other { kind },
    })
}

/// A cursor over a message body.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return None;
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded_as_protocol_mux_describes() {
        assert_eq!(hello(), [0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4]);
        assert_eq!(alive_check(7), [0, 0, 0, 8, 0x10, 0, 0, 4, 0, 0, 0, 7]);
        let env = vec![b"LANG=C.UTF-8".to_vec()];
        let message = new_session(3, b"echo hi", &env);
        let mut expected: Vec<u8> = Vec::new();
        for word in [0x1000_0002u32, 3, 0, 0, 0, 0, 0, 0xffff_ffff, 0, 7] {
            expected.extend_from_slice(&word.to_be_bytes());
        }
        expected.extend_from_slice(b"echo hi");
        expected.extend_from_slice(&12u32.to_be_bytes());
        expected.extend_from_slice(b"LANG=C.UTF-8");
        let len = expected.len() as u32;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&expected);
        assert_eq!(message, framed);
    }

    fn body(words: &[u32], tail: &[u8]) -> Vec<u8> {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes.extend_from_slice(tail);
        bytes
    }

    #[test]
    fn answers_are_decoded_and_extra_fields_ignored() {
        assert_eq!(
            parse(&body(&[1, 4], b"\0\0\0\x03ext\0\0\0\0")),
            Some(Message::Hello { version: 4 })
        );
        assert_eq!(
            parse(&body(&[0x8000_0005, 1, 4242], b"")),
            Some(Message::Alive {
                request: 1,
                pid: 4242
            })
        );
        assert_eq!(
            parse(&body(&[0x8000_0006, 1, 9], b"")),
            Some(Message::SessionOpened { request: 1 })
        );
        assert_eq!(
            parse(&body(&[0x8000_0003, 1, 6], b"no way")),
            Some(Message::Refused {
                request: 1,
                reason: "no way".into()
            })
        );
        assert_eq!(
            parse(&body(&[0x8000_0002, 1, 2], b"no")),
            Some(Message::Refused {
                request: 1,
                reason: "no".into()
            })
        );
        assert_eq!(
            parse(&body(&[0x8000_0004, 9, 3], b"")),
            Some(Message::Exit { status: 3 })
        );
        assert_eq!(
            parse(&body(&[0x8000_0008, 9], b"")),
            Some(Message::TtyAllocFail)
        );
        assert_eq!(
            parse(&body(&[0x8000_0001, 1], b"")),
            Some(Message::Other { kind: 0x8000_0001 })
        );
    }

    #[test]
    fn truncated_answers_are_malformed() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&body(&[0x8000_0005, 1], b"")), None);
        assert_eq!(parse(&body(&[0x8000_0003, 1, 10], b"short")), None);
        assert_eq!(parse(&[0, 0, 1]), None);
    }

    #[test]
    fn the_environment_goes_along_as_name_value_strings() {
        let env = environment();
        assert!(!env.is_empty());
        assert!(env.iter().all(|e| e.contains(&b'=') && !e.contains(&0)));
    }
}
