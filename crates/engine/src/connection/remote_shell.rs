//! The frame protocol spoken with the long-lived remote shell: what dtrplay
//! writes to it and how its answers are cut back into `Output`s.
//!
//! This module owns the protocol only; it does no IO, so every byte of it is
//! unit-tested here. The transports (`ssh.rs`, and any other that can start
//! a command and carry its three byte streams) own the bytes' journey.
//!
//! # Cost model
//!
//! On a node, the expensive thing is starting a program (`fork` plus
//! `execve`, about 0.65 ms of CPU on a small machine); a shell builtin or a
//! bare `fork` of the shell costs a fraction of that. The protocol is
//! therefore built from builtins only: after the bootstrap, a request costs
//! one `fork` of the driver and nothing else, whatever the script prints.
//!
//! # The remote side
//!
//! The transport runs [`Session::bootstrap`] through the user's login
//! shell: `exec /bin/sh -s dtrplay-<id>`, a POSIX `sh` (the *driver*) that
//! reads shell code from the channel and runs it command by command as the
//! bytes arrive. Nothing else runs on the host between requests: no watcher
//! process, no temporary directory, no pipeline. (A watcher `cat` between
//! the channel and the driver once hung scripts up when the channel ended;
//! with the pipeline around it, it cost as much as the whole rest of a
//! warm run's session.)
//!
//! A script that must be stopped (it outlived its timeout, its caller gave
//! up on it) cannot be stopped through its own channel, since the driver
//! is busy waiting for it. The client keeps such a shell as an [`Orphan`]:
//! the driver's pid, which the ready reply reports and which is also its
//! process group (sshd starts every session in a session of its own), and
//! its id. The next shell opened to the host, at once after a timeout and
//! at the latest when the connection closes, begins by hanging up that
//! process group (after checking, where `/proc` exists, that the pid still
//! runs that very driver). An orderly close ends the driver with `exit`
//! after its last request, so background processes that scripts started on
//! purpose survive it. A connection that broke or is gone for good
//! (dtrplay killed, the network down) leaves a running script to finish on
//! its own, as any agentless runner does.
//!
//! # One request, one response
//!
//! A request ([`Session::request`]) is plain shell code, written in one go:
//!
//! ```text
//! (set --; eval '<script>') </dev/null; printf '\n<marker> <n> %d\n' "$?"; printf '\n<marker> <n>\n' >&2
//! ```
//!
//! The script runs in a subshell (a `fork`, no `execve`), so `exit`, `cd`,
//! variables or a syntax error cannot disturb the driver (as in any
//! subshell, `$$` names the driver; a script that needs a process of its
//! own runs `sh -c`, as the `shell` task does); it is quoted with
//! single quotes, so no byte of it is interpreted before `eval`. Its stdout
//! and stderr stream straight into the channel, each followed by a
//! *terminator*: a newline, the marker, the request's number (and on stdout
//! the exit status) and a newline. The client cuts each stream at its
//! terminator ([`Reply`]), dropping the newline the terminator starts with,
//! so binary output and output without a trailing newline come back exact.
//!
//! The marker is random per shell and lives only in the requests, never in
//! a variable or a file, so no script can print a terminator by accident.
//!
//! A request with bytes for the script's stdin pipes them in from the
//! `printf` builtin: `printf '<payload>' 2>/dev/null | (set --; eval …)`,
//! one more `fork` and no file on the host, so nothing is ever left behind.
//! Payloads travel inside single-quoted `printf` format strings: only `'`,
//! `\`, `%` and NUL need escaping, so text costs almost nothing extra and
//! binary stays exact (`\000` for NUL). A script that stops reading early
//! ends the `printf` with a broken pipe, silently.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::connection::Output;

/// How many bytes the ready reply may carry (what the login shell's rc
/// files print) before the shell is declared broken.
pub const MAX_NOISE: usize = 1 << 20;

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The terminator was there but its status was not a number.
    #[error("malformed response terminator {line:?}")]
    Malformed { line: String },
    /// The login shell printed too much before the driver was ready.
    #[error("the remote shell printed more than {MAX_NOISE} bytes before it was ready")]
    Noise,
}

/// The client's half of one remote shell: the marker that tags its
/// terminators, the numbering of its requests and the driver's pid.
#[derive(Debug, Clone)]
pub struct Session {
    /// Tags every terminator. It is random per shell, so no output of an rc
    /// file or a script can be taken for a terminator by accident.
    marker: String,
    /// Appears in the driver's command line, so that a later shell can
    /// recognise it.
    id: String,
    /// The driver's pid (and process group), once the ready reply told it.
    pid: Option<u32>,
    /// The number of the next request.
    next: u64,
    /// Whether the ready reply reports the driver's process group rather
    /// than its pid (see [`Session::escalated`]).
    group: bool,
}

impl Session {
    /// A session with a fresh random marker.
    pub fn new() -> Session {
        Session::with_marker(format!(
            "dtrplay-{:016x}{:016x}",
            random_u64(),
            random_u64()
        ))
    }

    /// A session with a given marker, for tests. The marker must consist of
    /// letters, digits and `-` only.
    pub fn with_marker(marker: String) -> Session {
        Session {
            marker,
            id: format!("{:08x}", random_u64() as u32),
            pid: None,
            next: 1,
            group: false,
        }
    }

    /// The marker of this session.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The remote command that starts this session's shell, run by the
    /// user's login shell.
    ///
    /// It is a single `exec` so that it means the same in bash, zsh, fish or
    /// csh, so that nothing the login shell's rc files print can follow it,
    /// and so that the driver keeps the session's pid and process group.
    /// The id in its arguments (`$1`, unused) lets a later shell recognise
    /// it (see [`Orphan`]).
    pub fn bootstrap(&self) -> String {
        format!("exec {}", self.driver())
    }

    /// The driver's command line, for a bootstrap that starts it through
    /// another program (sudo or su, `escalate.rs`).
    pub fn driver(&self) -> String {
        format!("/bin/sh -s dtrplay-{}", self.id)
    }

    /// Marks the shell as started through sudo or su: the driver is then not
    /// the leader of its process group (sudo is, and stays as its parent),
    /// so the ready reply reports the group, which is what a later shell
    /// must hang up to stop it and everything it runs.
    pub fn escalated(mut self) -> Session {
        self.group = true;
        self
    }

    /// The first thing written to a new shell. It first stops `orphans`,
    /// shells given up on earlier on the same connection. Its reply
    /// completes when the driver runs; its output is whatever the login
    /// shell's rc files printed, to be ignored, and its status is the
    /// driver's pid, for [`Session::ready`].
    pub fn ready_request(&mut self, orphans: &[Orphan]) -> (Vec<u8>, Reply) {
        let mut reply = self.reply(0);
        reply.limit = Some(MAX_NOISE);
        let mut out = Vec::new();
        for orphan in orphans {
            out.extend_from_slice(orphan.reap_code().as_bytes());
        }
        if self.group {
            // The process group is the fifth field of /proc/<pid>/stat, read
            // with builtins only; without /proc the pid is the best guess.
            out.extend_from_slice(
                b"dtrplay_g=$$; if [ -r /proc/$$/stat ]; then read -r dtrplay_g </proc/$$/stat; \
                  dtrplay_g=${dtrplay_g##*) }; set -- $dtrplay_g; dtrplay_g=$3; set --; fi\n",
            );
            out.extend_from_slice(&self.terminators(0, "\"$dtrplay_g\""));
            out.extend_from_slice(b"unset dtrplay_g\n");
        } else {
            out.extend_from_slice(&self.terminators(0, "\"$$\""));
        }
        (out, reply)
    }

    /// Takes note of the ready reply.
    pub fn ready(&mut self, reply: &Output) {
        self.pid = u32::try_from(reply.status).ok().filter(|pid| *pid > 1);
    }

    /// What a later shell must clean up if this one is given up while a
    /// script may still run in it.
    pub fn orphan(&self) -> Option<Orphan> {
        self.pid.map(|pid| Orphan {
            pid,
            id: self.id.clone(),
        })
    }

    /// The code that runs `script` with `stdin`, and the reply that will
    /// collect its answer.
    pub fn request(&mut self, script: &str, stdin: &[u8]) -> (Vec<u8>, Reply) {
        let n = self.next;
        self.next += 1;
        let mut out = Vec::with_capacity(script.len() + stdin.len() + 200);
        if !stdin.is_empty() {
            out.extend_from_slice(b"printf '");
            push_format_arg(&mut out, stdin);
            out.extend_from_slice(b"' 2>/dev/null | ");
        }
        // A shell string cannot hold a NUL byte; such a script fails the way
        // a shell would fail to run it.
        let body = if script.contains('\0') {
            "printf 'dtrplay: the script contains a NUL byte, which sh cannot run\\n' >&2; exit 126"
        } else {
            script
        };
        out.extend_from_slice(b"(set --; eval '");
        out.extend_from_slice(body.replace('\'', r"'\''").as_bytes());
        out.extend_from_slice(if stdin.is_empty() {
            b"') </dev/null; "
        } else {
            b"'); "
        });
        out.extend_from_slice(&self.terminators(n, "\"$?\""));
        (out, self.reply(n))
    }

    /// The code that ends the shell in order. The caller then closes the
    /// channel's input and waits for the channel to close; no reply is
    /// needed.
    pub fn close_request(&self) -> Vec<u8> {
        b"exit 0\n".to_vec()
    }

    /// The two `printf`s that end request `n`'s stdout and stderr.
    fn terminators(&self, n: u64, status: &str) -> Vec<u8> {
        let m = &self.marker;
        format!("printf '\\n{m} {n} %d\\n' {status}; printf '\\n{m} {n}\\n' >&2\n").into_bytes()
    }

    fn reply(&self, n: u64) -> Reply {
        Reply {
            stdout_tag: format!("\n{} {n} ", self.marker).into_bytes(),
            stderr_tag: format!("\n{} {n}\n", self.marker).into_bytes(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_scan: 0,
            stderr_scan: 0,
            status: None,
            stderr_done: false,
            limit: None,
        }
    }
}

/// A shell given up while a script may still have been running in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The driver's pid, which is also its process group.
    pid: u32,
    /// The session id, in the driver's command line.
    id: String,
}

impl Orphan {
    /// The code, run by a new driver, that hangs up the orphan's process
    /// group. The pid is only trusted while it runs the orphan's driver: a
    /// pid is never reused while a process group of that number has
    /// members, so if no process has the pid, the group is the orphan's own
    /// (or gone), and if one has it, its command line must name the
    /// orphan's id.
    fn reap_code(&self) -> String {
        let (pid, id) = (self.pid, &self.id);
        format!(
            "if [ -e /proc/{pid} ]; then grep -q dtrplay-{id} /proc/{pid}/cmdline 2>/dev/null; fi \
             && kill -HUP -{pid} 2>/dev/null\n"
        )
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

/// One response in the making: the transport feeds it what arrives on the
/// channel's stdout and stderr, in any order and in chunks of any size,
/// until it is complete.
#[derive(Debug, Clone)]
pub struct Reply {
    /// What starts the stdout terminator: `\n<marker> <n> `.
    stdout_tag: Vec<u8>,
    /// The whole stderr terminator: `\n<marker> <n>\n`.
    stderr_tag: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where the next search for a terminator starts, so that a large
    /// output arriving in many chunks is scanned once.
    stdout_scan: usize,
    stderr_scan: usize,
    /// The exit status, once the stdout terminator has arrived.
    status: Option<i32>,
    stderr_done: bool,
    /// The most either stream may carry (the ready reply only).
    limit: Option<usize>,
}

impl Reply {
    /// Takes bytes from the channel's stdout. Bytes after the terminator
    /// can only come from a background process a script left behind; they
    /// are dropped.
    pub fn stdout(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if self.status.is_some() {
            return Ok(());
        }
        self.stdout.extend_from_slice(bytes);
        let Some(at) = find_from(&self.stdout, &self.stdout_tag, self.stdout_scan) else {
            self.stdout_scan = resume_at(&self.stdout, &self.stdout_tag);
            return self.check_limit(self.stdout.len());
        };
        let rest = &self.stdout[at + self.stdout_tag.len()..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            // The status has not fully arrived; look here again next time.
            self.stdout_scan = at;
            return Ok(());
        };
        let text = &rest[..end];
        let status = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i32>().ok())
            .ok_or_else(|| FrameError::Malformed {
                line: String::from_utf8_lossy(text).into_owned(),
            })?;
        self.status = Some(status);
        self.stdout.truncate(at);
        Ok(())
    }

    /// Takes bytes from the channel's stderr; see [`Reply::stdout`].
    pub fn stderr(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if self.stderr_done {
            return Ok(());
        }
        self.stderr.extend_from_slice(bytes);
        match find_from(&self.stderr, &self.stderr_tag, self.stderr_scan) {
            Some(at) => {
                self.stderr.truncate(at);
                self.stderr_done = true;
                Ok(())
            }
            None => {
                self.stderr_scan = resume_at(&self.stderr, &self.stderr_tag);
                self.check_limit(self.stderr.len())
            }
        }
    }

    fn check_limit(&self, len: usize) -> Result<(), FrameError> {
        match self.limit {
            Some(limit) if len > limit => Err(FrameError::Noise),
            _ => Ok(()),
        }
    }

    /// Whether both terminators have arrived.
    pub fn is_complete(&self) -> bool {
        self.status.is_some() && self.stderr_done
    }

    /// Whether the stdout terminator has arrived.
    pub fn stdout_done(&self) -> bool {
        self.status.is_some()
    }

    /// Whether the stderr terminator has arrived.
    pub fn stderr_done(&self) -> bool {
        self.stderr_done
    }

    /// What arrived on stderr so far: for a reply that never completed, the
    /// transport's own last words are in there.
    pub fn stderr_so_far(&self) -> &[u8] {
        &self.stderr
    }

    /// The finished output; `None` unless [`Reply::is_complete`].
    pub fn into_output(self) -> Option<Output> {
        match (self.status, self.stderr_done) {
            (Some(status), true) => Some(Output {
                status,
                stdout: self.stdout,
                stderr: self.stderr,
            }),
            _ => None,
        }
    }
}

/// Where `needle` starts in `haystack` at or after `from`.
fn find_from(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let from = from.min(haystack.len());
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Where to resume the search once more bytes arrive: a terminator may
/// have begun in the last `needle.len() - 1` bytes.
fn resume_at(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .len()
        .saturating_sub(needle.len().saturating_sub(1))
}

/// Appends `bytes` as the body of a single-quoted `printf` format that
/// prints exactly `bytes` and is never taken for an option: a format that
/// starts with `-` would be (a PEM starts with "-----BEGIN"), so a leading
/// dash goes as its octal escape.
pub fn push_format_arg(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = match bytes.split_first() {
        Some((b'-', rest)) => {
            out.extend_from_slice(b"\\055");
            rest
        }
        _ => bytes,
    };
    push_format(out, bytes);
}

/// Appends `bytes` as the body of a single-quoted `printf` format string
/// that prints exactly `bytes`, in ASCII.
///
/// Inside single quotes the shell keeps every byte as it is; `printf`
/// itself only interprets `\` and `%`. Bytes outside printable ASCII (but
/// newlines and tabs) are written as three-digit octal escapes, which POSIX
/// `printf` turns back into the byte: NUL cannot live in a shell string at
/// all, and ASCII keeps the code a valid string for scripts that embed it.
/// Text costs almost nothing extra.
pub fn push_format(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        match byte {
            b'\'' => out.extend_from_slice(b"'\\''"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'%' => out.extend_from_slice(b"%%"),
            b'\n' | b'\t' | 0x20..=0x7e => out.push(byte),
            _ => out.extend_from_slice(format!("\\{byte:03o}").as_bytes()),
        }
    }
}

/// A `printf` builtin call that prints exactly `bytes`, as ASCII shell code
/// (see [`push_format_arg`]).
pub fn printf_command(bytes: &[u8]) -> String {
    let mut out = b"printf '".to_vec();
    push_format_arg(&mut out, bytes);
    out.push(b'\'');
    // Every byte pushed above is ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

/// A random number for markers, file names and backoff jitter. It needs to
/// be unpredictable across shells, not cryptographically strong; the
/// standard library's randomly keyed hasher gives that without another
/// dependency.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    fn session() -> Session {
        Session::with_marker("dtrplay-test".to_string())
    }

    /// The POSIX shells on this machine that may be a host's `/bin/sh`:
    /// dash (Debian, Ubuntu) and bash (RHEL, SUSE), when installed.
    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/dash", "/bin/bash"]
            .into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect()
    }

    /// Runs shell code through `<shell> -s`, the way the driver reads it.
    fn sh_with(shell: &str, code: &[u8]) -> std::process::Output {
        let mut child = Command::new(shell)
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        // Written from a thread: a shell that answers a large request
        // while we still write would otherwise block us both.
        let mut stdin = child.stdin.take().expect("stdin");
        let code = code.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&code).expect("write"));
        let out = child.wait_with_output().expect("wait");
        writer.join().expect("writer");
        out
    }

    /// Feeds `reply` from the front of both streams, `chunk` bytes at a
    /// time, until it is complete, and consumes what it took.
    fn collect(mut reply: Reply, out: &mut &[u8], err: &mut &[u8], chunk: usize) -> Output {
        while !reply.stdout_done() && !out.is_empty() {
            let n = chunk.min(out.len());
            reply.stdout(&out[..n]).expect("stdout frame");
            *out = &out[n..];
        }
        while !reply.stderr_done() && !err.is_empty() {
            let n = chunk.min(err.len());
            reply.stderr(&err[..n]).expect("stderr frame");
            *err = &err[n..];
        }
        reply.into_output().expect("a complete reply")
    }

    #[test]
    fn format_escapes_only_what_printf_and_quotes_need() {
        let mut out = Vec::new();
        push_format(&mut out, b"a'b\\c%d\0e\n");
        assert_eq!(out, b"a'\\''b\\\\c%%d\\000e\n");
    }

    #[test]
    fn every_byte_survives_printf() {
        let mut bytes: Vec<u8> = (0..=255).collect();
        bytes.extend_from_slice(b"\\0001%s%%'''\n\n");
        let mut code = b"printf '".to_vec();
        push_format(&mut code, &bytes);
        code.extend_from_slice(b"'\n");
        for shell in shells() {
            let out = sh_with(shell, &code);
            assert_eq!(out.stdout, bytes, "{shell}");
        }
    }

    #[test]
    fn a_payload_starting_with_a_dash_is_not_an_option() {
        // A PEM starts with "-----BEGIN"; printf must not take it for options.
        let pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let mut code = b"printf '".to_vec();
        push_format_arg(&mut code, pem);
        code.extend_from_slice(b"'\n");
        for shell in shells() {
            let out = sh_with(shell, &code);
            assert_eq!(out.stdout, pem, "{shell}");
        }
    }

    #[test]
    fn replies_cut_streams_at_their_terminators_in_chunks_of_any_size() {
        let stdout = b"no newline\ndtrplay-test 1\n\ndtrplay-test 4 3\nstray";
        let stderr = b"warn\n\ndtrplay-test 4\n";
        for chunk in [1, 2, 3, 7, 64] {
            let mut s = session();
            for _ in 0..3 {
                s.request("true", b"");
            }
            let (_, reply) = s.request("x", b"");
            let (mut out, mut err) = (&stdout[..], &stderr[..]);
            let output = collect(reply, &mut out, &mut err, chunk);
            assert_eq!(output.status, 3);
            assert_eq!(output.stdout, b"no newline\ndtrplay-test 1\n");
            assert_eq!(output.stderr, b"warn\n");
        }
    }

    #[test]
    fn a_terminator_without_a_status_is_malformed() {
        let mut s = session();
        let (_, mut reply) = s.request("x", b"");
        assert!(matches!(
            reply.stdout(b"\ndtrplay-test 1 ?\n"),
            Err(FrameError::Malformed { .. })
        ));
    }

    #[test]
    fn the_ready_reply_tolerates_some_noise_but_not_endless_noise() {
        let mut s = session();
        let (_, mut reply) = s.ready_request(&[]);
        reply.stdout(b"Welcome, no newline").expect("noise");
        reply.stdout(b"\ndtrplay-test 0 0\n").expect("terminator");
        reply.stderr(b"\ndtrplay-test 0\n").expect("terminator");
        assert!(reply.is_complete());
        let (_, mut reply) = s.ready_request(&[]);
        assert_eq!(
            reply.stdout(&vec![b'x'; MAX_NOISE + 1]),
            Err(FrameError::Noise)
        );
    }

    #[test]
    fn markers_and_ids_are_random_and_plain() {
        let a = Session::new();
        let b = Session::new();
        assert_ne!(a.marker(), b.marker());
        assert_ne!(a.bootstrap(), b.bootstrap());
        assert!(
            a.marker()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }

    /// The whole driver, minus ssh: requests fed to a local
    /// `sh -s` give back exact outputs, and no script can disturb the next.
    #[test]
    fn the_driver_answers_exactly_and_isolates_scripts() {
        for shell in shells() {
            driver_answers_exactly(shell);
        }
    }

    fn driver_answers_exactly(shell: &str) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = session();
        let binary: Vec<u8> = (0..=255).rev().collect();
        let scripts: [(&str, &[u8]); 9] = [
            ("printf 'no newline'; printf 'err\\n' >&2; exit 3", b""),
            ("cat", &binary),
            ("if then", b""),
            ("cd /; x=1; set -- a b; exit 0", b""),
            ("pwd; echo \"${x-unset} $#\"; cat", b""),
            ("echo 'quotes' \"both\" # a comment", b""),
            ("printf '%s' \"$(cat)\"; cat; echo", b"-----BEGIN\n"),
            ("", b""),
            ("echo a\0b", b""),
        ];
        let mut code = format!("export TMPDIR='{}'\n", tmp.path().display()).into_bytes();
        let (ready, ready_reply) = s.ready_request(&[]);
        code.extend(ready);
        let mut replies = vec![ready_reply];
        for (script, stdin) in scripts {
            let (bytes, reply) = s.request(script, stdin);
            code.extend(bytes);
            replies.push(reply);
        }
        code.extend(s.close_request());
        let out = sh_with(shell, &code);
        let (mut stdout, mut stderr) = (&out.stdout[..], &out.stderr[..]);
        let outputs: Vec<Output> = replies
            .into_iter()
            // One byte at a time: the streams hold every reply back to back
            // here, and a reply drops what follows its terminator.
            .map(|r| collect(r, &mut stdout, &mut stderr, 1))
            .collect();
        assert!(stdout.is_empty() && stderr.is_empty(), "{shell}");
        let o = &outputs[1..];
        assert_eq!((o[0].status, &o[0].stdout[..]), (3, &b"no newline"[..]));
        assert_eq!(o[0].stderr, b"err\n");
        assert_eq!((o[1].status, &o[1].stdout), (0, &binary));
        assert_eq!(o[2].status, 2, "{shell}: a syntax error");
        assert!(!o[2].stderr.is_empty());
        assert_eq!(o[3].status, 0);
        let home = std::env::current_dir().expect("cwd");
        assert_eq!(
            o[4].stdout_text(),
            format!("{}\nunset 0\n", home.display()),
            "{shell}: nothing leaks from one script into the next, and stdin is empty"
        );
        assert_eq!(o[5].stdout, b"quotes both\n");
        assert_eq!(o[6].stdout, b"-----BEGIN\n");
        assert_eq!((o[7].status, o[7].stdout.len()), (0, 0));
        assert_eq!(o[8].status, 126);
        assert!(o[8].stderr_text().contains("NUL"));
        assert!(
            outputs[0].status > 1,
            "{shell}: the ready reply carries the pid"
        );
        assert!(out.status.success(), "{shell}: the close exits 0");
    }

    /// Starts the bootstrap locally in its own process group (as sshd
    /// starts a session), with `tmp` as its TMPDIR, and waits for it to be
    /// ready after reaping `orphans`.
    fn local_shell(s: &mut Session, tmp: &std::path::Path, orphans: &[Orphan]) -> Child {
        // sshd gives sessions the default SIGHUP; a test run under `nohup`
        // would pass its "ignore" on, and ignored signals cannot be trapped
        // or reset from sh.
        let mut child = Command::new("env")
            .args(["--default-signal=HUP", "/bin/sh", "-c"])
            .arg(s.bootstrap())
            .env("TMPDIR", tmp)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (ready, reply) = s.ready_request(orphans);
        send(&mut child, &ready);
        let ready = read_reply(&mut child, reply);
        s.ready(&ready);
        assert_eq!(
            ready.status,
            child.id() as i32,
            "the ready reply names the driver"
        );
        child
    }

    fn send(child: &mut Child, bytes: &[u8]) {
        child
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(bytes)
            .expect("write");
    }

    /// Reads a reply byte by byte from a live shell (stdout first: the
    /// replies used here print nothing on stderr but the terminator).
    fn read_reply(child: &mut Child, mut reply: Reply) -> Output {
        let mut byte = [0u8; 1];
        while !reply.stdout_done() {
            let n = child.stdout.as_mut().expect("out").read(&mut byte);
            assert_eq!(n.ok(), Some(1), "the shell ended early");
            reply.stdout(&byte).expect("frame");
        }
        while !reply.stderr_done() {
            let n = child.stderr.as_mut().expect("err").read(&mut byte);
            assert_eq!(n.ok(), Some(1), "the shell ended early");
            reply.stderr(&byte).expect("frame");
        }
        reply.into_output().expect("complete")
    }

    fn files(tmp: &std::path::Path) -> usize {
        std::fs::read_dir(tmp).map(|d| d.count()).unwrap_or(0)
    }

    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.contains(") Z") || stat.contains(") X"),
            Err(_) => true,
        }
    }

    fn eventually(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !what() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        what()
    }

    /// Reads the first line a running script prints.
    fn first_line(child: &mut Child) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            let read = child.stdout.as_mut().expect("out").read(&mut byte);
            assert_eq!(read.ok(), Some(1));
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).trim().to_string()
    }

    /// A shell given up while its script hangs (its channel ended, as after
    /// a timeout) is stopped by the next shell: the script and the old
    /// driver die; the new shell works.
    #[test]
    fn the_next_shell_hangs_up_an_orphan() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut old = session();
        let mut child = local_shell(&mut old, tmp.path(), &[]);
        let (request, reply) = old.request("cat", b"payload");
        send(&mut child, &request);
        assert_eq!(read_reply(&mut child, reply).stdout, b"payload");
        assert_eq!(files(tmp.path()), 0, "stdin left a file behind");
        let (request, _) = old.request("exec /bin/sh -c 'echo $$; exec sleep 60'", b"");
        send(&mut child, &request);
        let script: u32 = first_line(&mut child).parse().expect("pid");
        drop(child.stdin.take());
        std::thread::sleep(Duration::from_millis(100));
        assert!(!gone(script), "nothing but the next shell stops the script");

        let orphan = old.orphan().expect("the old driver's pid");
        let mut new = session();
        let mut next = local_shell(&mut new, tmp.path(), &[orphan]);
        assert!(
            eventually(|| gone(script)),
            "the orphan's script still runs"
        );
        assert!(
            child.wait().expect("wait").signal().is_some(),
            "the old driver was hung up"
        );
        let (request, reply) = new.request("echo fresh", b"");
        send(&mut next, &request);
        assert_eq!(read_reply(&mut next, reply).stdout, b"fresh\n");
        send(&mut next, &new.close_request());
        drop(next.stdin.take());
        assert!(next.wait().expect("wait").success());
    }

    /// An orphan's pid that now belongs to another process (the orphan
    /// ended and the number was reused) is left alone.
    #[test]
    fn a_reused_pid_is_not_taken_for_an_orphan() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut stranger = Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let orphan = Orphan {
            pid: stranger.id(),
            id: "0badc0de".to_string(),
        };
        let mut s = session();
        let mut child = local_shell(&mut s, tmp.path(), &[orphan]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !gone(stranger.id()),
            "a stranger's process group was hung up"
        );
        let _ = stranger.kill();
        let _ = stranger.wait();
        send(&mut child, &s.close_request());
        drop(child.stdin.take());
        assert!(child.wait().expect("wait").success());
    }

    #[test]
    fn an_orderly_close_spares_background_processes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = session();
        let mut child = local_shell(&mut s, tmp.path(), &[]);
        let (request, reply) =
            s.request("cat >/dev/null; sleep 30 >/dev/null 2>&1 & echo $!", b"x");
        send(&mut child, &request);
        let out = read_reply(&mut child, reply);
        let pid: u32 = out.stdout_text().trim().parse().expect("pid");
        send(&mut child, &s.close_request());
        drop(child.stdin.take());
        assert!(child.wait().expect("wait").success());
        std::thread::sleep(Duration::from_millis(200));
        assert!(!gone(pid), "an orderly close killed a background process");
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }

    /// Stdin reaches the script whole however much of it there is, and a
    /// script that does not read it is not disturbed by it.
    #[test]
    fn stdin_is_piped_in_whole_or_left_unread_quietly() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for shell in shells() {
            let mut s = session();
            let (mut code, ready) = s.ready_request(&[]);
            let (read, read_reply) = s.request("cat; echo end", &big);
            let (ignore, ignore_reply) = s.request("echo ignored; exit 4", &big);
            code.extend(read);
            code.extend(ignore);
            code.extend(s.close_request());
            let out = sh_with(shell, &code);
            // One byte at a time, as a reply drops what follows its
            // terminator.
            let (mut stdout, mut stderr) = (&out.stdout[..], &out.stderr[..]);
            collect(ready, &mut stdout, &mut stderr, 1);
            let read = collect(read_reply, &mut stdout, &mut stderr, 1);
            let mut want = big.clone();
            want.extend_from_slice(b"end\n");
            assert!(read.stdout == want, "{shell}: stdin arrived changed");
            let ignored = collect(ignore_reply, &mut stdout, &mut stderr, 1);
            assert_eq!(
                (ignored.status, ignored.stdout_text(), ignored.stderr_text()),
                (4, "ignored\n".to_string(), String::new()),
                "{shell}"
            );
        }
    }
}
