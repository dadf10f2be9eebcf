//! The frame protocol spoken with the long-lived remote shell: what dtrplay
//! writes to it and how its answers are cut back into `Output`s.
//!
//! This module owns the protocol only; it does no IO, so every byte of it is
//! unit-tested here. `ssh.rs` owns the process that carries the bytes.
//!
//! # The remote side
//!
//! ssh runs [`bootstrap`] through the user's login shell. It creates a
//! private temporary directory (`mktemp -d`, mode 0700, `$TMPDIR` honoured)
//! and starts a POSIX `sh -s` (the *driver*) that reads shell code from the
//! channel. Between the channel and the driver sits a watcher (`cat`): when
//! the channel ends without the driver having said goodbye (dtrplay killed
//! its ssh client after a timeout, or the connection broke), the watcher
//! sends SIGHUP to the session's process group, so a hung script dies with
//! its channel, and removes the directory.
//!
//! The first thing dtrplay writes is the [`Session::prelude`]: it defines
//! one shell function and prints the *ready line*, `<marker> ready`. The
//! login shell's rc files may print anything on stdout before the driver
//! starts; the client skips every line until the ready line, and rc-file
//! output on stderr never reaches the frame reader at all.
//!
//! # One request, one response
//!
//! A request ([`Session::request`]) is plain shell code, written in one go:
//! `printf` builtins that write the script and its stdin into files of the
//! temporary directory, then one call of the prelude's function, which runs
//! `sh <script file>` with stdin, stdout and stderr redirected to files and
//! answers with a header line, `<marker> <status> <stdout bytes> <stderr
//! bytes>`, followed by exactly those bytes (`cat`). The client reads the
//! header and then exactly that many bytes, so binary output and output
//! without a trailing newline need no escaping.
//!
//! The script's stdin is a regular file holding the payload (or
//! `/dev/null`), so a script may read it more than once or seek in it.
//!
//! Payloads travel inside single-quoted `printf` format strings: only `'`,
//! `\`, `%` and NUL need escaping, so text costs almost nothing extra and
//! binary stays exact (`\000` for NUL). No external tool runs to decode
//! them, and the script runs in its own `sh`, so `exit`, a syntax error or a
//! script that reads all of its stdin cannot disturb the driver. Every
//! command gets fresh file names (its sequence number), so a background
//! process left behind by one script can never write into the output of the
//! next; old files are removed in batches.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// The remote command given to ssh, run by the user's login shell.
///
/// It is a single `exec /bin/sh -c '…'` so that it means the same in bash,
/// zsh, fish or csh, and so that nothing the login shell's rc files print
/// can follow it. Exit status [`BOOTSTRAP_NO_TMPDIR`] means the temporary
/// directory could not be created.
pub fn bootstrap() -> String {
    // mktemp replaces the trailing run of X's with random characters.
    let template = format!("dtrplay.{}", "X".repeat(10));
    format!(
        concat!(
            "exec /bin/sh -c '",
            "d=$(mktemp -d \"${{TMPDIR:-/tmp}}/{template}\") || exit {status}; ",
            "{{ cat; trap \"\" HUP; [ -d \"$d\" ] && kill -HUP 0; rm -rf \"$d\"; }} ",
            "| exec /bin/sh -s \"$d\"'"
        ),
        template = template,
        status = BOOTSTRAP_NO_TMPDIR,
    )
}

/// The exit status of [`bootstrap`] when `mktemp -d` failed.
pub const BOOTSTRAP_NO_TMPDIR: i32 = 97;

/// Old command files are removed once this many commands left them behind.
const CLEANUP_EVERY: u32 = 64;

/// Old command files are also removed once they hold this many bytes.
const CLEANUP_BYTES: u64 = 4 << 20;

/// A header line longer than this is not a header.
pub const MAX_LINE: usize = 4096;

/// Why a response could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The marker was there but the rest of the line was not a header. This
    /// happens when the remote shell lost its temporary directory.
    #[error("malformed response header {line:?}")]
    Malformed { line: String },
}

/// What the remote shell reported before the output bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The script's exit status.
    pub status: i32,
    /// How many stdout bytes follow the header.
    pub stdout_len: u64,
    /// How many stderr bytes follow the stdout bytes.
    pub stderr_len: u64,
}

/// The client's half of one remote shell: the marker that tags its frames
/// and the bookkeeping that names each command's files.
#[derive(Debug, Clone)]
pub struct Session {
    /// Tags the ready line and every header. It is random per shell, so no
    /// output of an rc file or a script can be taken for a frame by accident.
    marker: String,
    /// The sequence number of the next command; it names its files.
    next: u64,
    /// How many commands left files behind since the last cleanup.
    stale_commands: u32,
    /// How many bytes those files hold.
    stale_bytes: u64,
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
            next: 1,
            stale_commands: 0,
            stale_bytes: 0,
        }
    }

    /// The marker of this session.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The code written right after ssh starts: it defines the run function
    /// and prints the ready line.
    ///
    /// The driver's variables and function start with `__dtrplay_` so they
    /// cannot clobber a variable the login environment exports to scripts.
    pub fn prelude(&self) -> Vec<u8> {
        let text = format!(
            concat!(
                "__dtrplay_d=$1 __dtrplay_m={marker}; set --\n",
                "__dtrplay_run() {{\n",
                "/bin/sh \"$__dtrplay_d/$1.s\" <\"$2\" >\"$__dtrplay_d/$1.o\" 2>\"$__dtrplay_d/$1.e\"; ",
                "__dtrplay_c=$?\n",
                "set -- \"$1\" $(cd \"$__dtrplay_d\" && exec wc -c \"$1.o\" \"$1.e\")\n",
                "printf '%s %s %s %s\\n' \"$__dtrplay_m\" \"$__dtrplay_c\" \"${{2:-?}}\" \"${{4:-?}}\"\n",
                "[ \"$2$4\" = 00 ] || cat \"$__dtrplay_d/$1.o\" \"$__dtrplay_d/$1.e\"\n",
                "}}\n",
                "printf '%s ready\\n' \"$__dtrplay_m\"\n",
            ),
            marker = self.marker
        );
        text.into_bytes()
    }

    /// The code that runs `script` with `stdin` and answers with one
    /// response. Each call names a new set of files.
    pub fn request(&mut self, script: &str, stdin: &[u8]) -> Vec<u8> {
        let n = self.next;
        self.next += 1;
        let mut out = Vec::with_capacity(script.len() + stdin.len() + 160);
        if self.stale_commands >= CLEANUP_EVERY || self.stale_bytes >= CLEANUP_BYTES {
            out.extend_from_slice(b"rm -f \"$__dtrplay_d\"/*\n");
            self.stale_commands = 0;
            self.stale_bytes = 0;
        }
        write_file(&mut out, &format!("{n}.s"), script.as_bytes());
        let input = if stdin.is_empty() {
            "/dev/null".to_string()
        } else {
            write_file(&mut out, &format!("{n}.i"), stdin);
            format!("\"$__dtrplay_d/{n}.i\"")
        };
        out.extend_from_slice(format!("__dtrplay_run {n} {input}\n").as_bytes());
        self.stale_commands += 1;
        self.stale_bytes += (script.len() + stdin.len()) as u64;
        out
    }

    /// Records the size of a response, so that large outputs are cleaned up
    /// soon rather than after [`CLEANUP_EVERY`] commands.
    pub fn note_response(&mut self, header: &Header) {
        self.stale_bytes = self
            .stale_bytes
            .saturating_add(header.stdout_len)
            .saturating_add(header.stderr_len);
    }

    /// The code that ends the shell in order: it removes the temporary
    /// directory, says goodbye and exits. The watcher then sees a clean end
    /// and signals nobody, so background processes that scripts started on
    /// purpose survive the close.
    pub fn close_request(&self) -> Vec<u8> {
        b"rm -rf \"$__dtrplay_d\"; printf '%s bye\\n' \"$__dtrplay_m\"; exit 0\n".to_vec()
    }

    /// Whether `line` (one line of stdout, newline included or not) is the
    /// ready line. Output of rc files without a trailing newline may precede
    /// the marker on the same line.
    pub fn is_ready(&self, line: &[u8]) -> bool {
        self.is_tagged(line, b"ready")
    }

    /// Whether `line` is the goodbye line of [`Session::close_request`].
    pub fn is_bye(&self, line: &[u8]) -> bool {
        self.is_tagged(line, b"bye")
    }

    fn is_tagged(&self, line: &[u8], word: &[u8]) -> bool {
        let line = trim_newline(line);
        let mut tag = self.marker.as_bytes().to_vec();
        tag.push(b' ');
        tag.extend_from_slice(word);
        line.ends_with(&tag)
    }

    /// Parses one line of stdout. `Ok(None)` means the line carries no
    /// marker and is noise to skip; a line with the marker must be a header.
    pub fn parse_header(&self, line: &[u8]) -> Result<Option<Header>, FrameError> {
        let line = trim_newline(line);
        let marker = self.marker.as_bytes();
        let Some(start) = find(line, marker) else {
            return Ok(None);
        };
        let malformed = || FrameError::Malformed {
            line: String::from_utf8_lossy(line).into_owned(),
        };
        let rest = &line[start + marker.len()..];
        let text = std::str::from_utf8(rest).map_err(|_| malformed())?;
        let mut fields = text.split(' ');
        if fields.next() != Some("") {
            return Err(malformed());
        }
        let status = fields.next().and_then(|f| f.parse::<i32>().ok());
        let stdout_len = fields.next().and_then(|f| f.parse::<u64>().ok());
        let stderr_len = fields.next().and_then(|f| f.parse::<u64>().ok());
        match (status, stdout_len, stderr_len, fields.next()) {
            (Some(status), Some(stdout_len), Some(stderr_len), None) => Ok(Some(Header {
                status,
                stdout_len,
                stderr_len,
            })),
            _ => Err(malformed()),
        }
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

/// Appends `printf '<bytes as a format>' >"$__dtrplay_d/<name>"`.
fn write_file(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    out.extend_from_slice(b"printf '");
    // A format that starts with `-` would be taken for an option (a PEM
    // starts with "-----BEGIN"), so a leading dash goes as its octal escape.
    let bytes = match bytes.split_first() {
        Some((b'-', rest)) => {
            out.extend_from_slice(b"\\055");
            rest
        }
        _ => bytes,
    };
    push_format(out, bytes);
    out.extend_from_slice(format!("' >\"$__dtrplay_d/{name}\"\n").as_bytes());
}

/// Appends `bytes` as the body of a single-quoted `printf` format string
/// that prints exactly `bytes`.
///
/// Inside single quotes the shell keeps every byte but NUL as it is;
/// `printf` itself only interprets `\` and `%`. A NUL is written as the
/// three-digit octal escape, which POSIX `printf` turns back into the byte.
pub fn push_format(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        match byte {
            b'\'' => out.extend_from_slice(b"'\\''"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'%' => out.extend_from_slice(b"%%"),
            0 => out.extend_from_slice(b"\\000"),
            _ => out.push(byte),
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A random number for markers and backoff jitter. It needs to be
/// unpredictable across shells, not cryptographically strong; the standard
/// library's randomly keyed hasher gives that without another dependency.
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
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(shell)
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn /bin/sh");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(code)
            .expect("write");
        child.wait_with_output().expect("wait")
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
        let mut code = b"d=$(mktemp -d); __dtrplay_d=$d\n".to_vec();
        write_file(&mut code, "x", pem);
        code.extend_from_slice(b"cat \"$d/x\"; rm -rf \"$d\"\n");
        for shell in shells() {
            let out = sh_with(shell, &code);
            assert_eq!(
                out.stdout,
                pem,
                "{shell}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn requests_name_fresh_files_and_clean_up_in_batches() {
        let mut s = session();
        let first = String::from_utf8(s.request("echo hi\n", b"")).unwrap_or_default();
        assert_eq!(
            first,
            "printf 'echo hi\n' >\"$__dtrplay_d/1.s\"\n__dtrplay_run 1 /dev/null\n"
        );
        let second = String::from_utf8(s.request("cat", b"x")).unwrap_or_default();
        assert!(
            second.contains("printf 'x' >\"$__dtrplay_d/2.i\""),
            "{second}"
        );
        assert!(second.ends_with("__dtrplay_run 2 \"$__dtrplay_d/2.i\"\n"));
        assert!(!second.contains("rm -f"));
        for _ in 2..CLEANUP_EVERY {
            s.request("true", b"");
        }
        let cleanup = String::from_utf8(s.request("true", b"")).unwrap_or_default();
        assert!(
            cleanup.starts_with("rm -f \"$__dtrplay_d\"/*\n"),
            "{cleanup}"
        );
        let after = String::from_utf8(s.request("true", b"")).unwrap_or_default();
        assert!(!after.contains("rm -f"));
        s.note_response(&Header {
            status: 0,
            stdout_len: CLEANUP_BYTES,
            stderr_len: 0,
        });
        let big = String::from_utf8(s.request("true", b"")).unwrap_or_default();
        assert!(big.starts_with("rm -f"));
    }

    #[test]
    fn headers_parse_and_noise_is_skipped() {
        let s = session();
        assert_eq!(
            s.parse_header(b"dtrplay-test 3 10 0\n"),
            Ok(Some(Header {
                status: 3,
                stdout_len: 10,
                stderr_len: 0
            }))
        );
        assert_eq!(
            s.parse_header(b"junk without newline dtrplay-test 0 1 2\r\n")
                .map(|h| h.map(|h| h.stderr_len)),
            Ok(Some(2))
        );
        assert_eq!(s.parse_header(b"Welcome to host\n"), Ok(None));
        assert_eq!(s.parse_header(b""), Ok(None));
        for bad in [
            &b"dtrplay-test 0 ? ?\n"[..],
            b"dtrplay-test 0 1\n",
            b"dtrplay-test 0 1 2 3\n",
            b"dtrplay-test x 1 2\n",
            b"dtrplay-testy 0 1 2\n",
            b"dtrplay-test 0 -1 2\n",
        ] {
            assert!(
                s.parse_header(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn ready_and_bye_lines_tolerate_leading_junk() {
        let s = session();
        assert!(s.is_ready(b"dtrplay-test ready\n"));
        assert!(s.is_ready(b"pyenv: no newline heredtrplay-test ready\n"));
        assert!(!s.is_ready(b"dtrplay-test ready now\n"));
        assert!(!s.is_ready(b"dtrplay-other ready\n"));
        assert!(s.is_bye(b"dtrplay-test bye\n"));
        assert!(!s.is_bye(b"dtrplay-test ready\n"));
    }

    #[test]
    fn markers_are_random_and_plain() {
        let a = Session::new();
        let b = Session::new();
        assert_ne!(a.marker(), b.marker());
        assert!(
            a.marker()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }

    /// The whole remote side, minus ssh: the prelude and a few requests fed
    /// to a local `sh -s` give back exact, parseable frames.
    #[test]
    fn the_driver_answers_with_exact_frames() {
        for shell in shells() {
            driver_answers_with_exact_frames(shell);
        }
    }

    fn driver_answers_with_exact_frames(shell: &str) {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("shell");
        std::fs::create_dir(&dir).expect("mkdir");
        let mut s = session();
        let mut code = s.prelude();
        let binary: Vec<u8> = (0..=255).rev().collect();
        code.extend(s.request("printf 'no newline'; printf 'err\\n' >&2; exit 3", b""));
        code.extend(s.request("cat", &binary));
        code.extend(s.request("if then", b""));
        code.extend(s.request("", b""));
        code.extend(s.close_request());
        // The driver gets its directory as $1, as the bootstrap passes it.
        let mut full = format!("set -- '{}'\n", dir.display()).into_bytes();
        full.extend(code);
        let out = sh_with(shell, &full);
        let mut rest: &[u8] = &out.stdout;
        assert!(s.is_ready(&next_line(&mut rest)));
        let mut frames = Vec::new();
        for _ in 0..4 {
            let header = s
                .parse_header(&next_line(&mut rest))
                .expect("header")
                .expect("marker");
            let total = (header.stdout_len + header.stderr_len) as usize;
            frames.push((header, next_bytes(&mut rest, total)));
        }
        assert!(s.is_bye(&next_line(&mut rest)));
        assert!(rest.is_empty());
        assert_eq!(frames[0].0.status, 3);
        assert_eq!(frames[0].1, b"no newlineerr\n");
        assert_eq!(frames[0].0.stdout_len, 10);
        assert_eq!(frames[1].0.status, 0);
        assert_eq!(frames[1].1, binary);
        assert_eq!(frames[2].0.status, 2);
        assert_eq!(frames[2].0.stdout_len, 0);
        assert!(frames[2].0.stderr_len > 0);
        assert_eq!(frames[3].0.status, 0);
        assert!(frames[3].1.is_empty());
        assert!(
            !dir.exists(),
            "{shell}: the close request removes the directory"
        );
    }

    /// The bootstrap, run locally in its own process group: when its input
    /// ends without a goodbye, the running script is killed and the
    /// temporary directory removed.
    #[test]
    fn the_watcher_kills_the_script_when_the_channel_ends() {
        use std::io::{BufRead, BufReader, Write};
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};

        let holder = tempfile::tempdir().expect("tempdir");
        let tmp = holder.path().to_path_buf();
        let mut s = session();
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(bootstrap())
            .env("TMPDIR", &tmp)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdin.write_all(&s.prelude()).expect("prelude");
        let mut line = Vec::new();
        stdout.read_until(b'\n', &mut line).expect("ready");
        assert!(s.is_ready(&line), "{line:?}");
        let dirs = || {
            std::fs::read_dir(&tmp)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .count()
                })
                .unwrap_or(0)
        };
        assert_eq!(dirs(), 1);

        let pid_file = tmp.join("sleeper.pid");
        let script = format!("echo $$ > '{}'; exec sleep 60", pid_file.display());
        stdin.write_all(&s.request(&script, b"")).expect("request");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                break pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the script never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(stdin);
        let status = child.wait().expect("wait");
        assert!(!status.success());
        let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.contains(") Z") || stat.contains(") X"),
            Err(_) => true,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !gone() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone(), "the script survived its channel");
        // The watcher outlives the shell that started it by a moment.
        while dirs() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(dirs(), 0, "the temporary directory was left behind");
    }

    fn next_line(rest: &mut &[u8]) -> Vec<u8> {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        next_bytes(rest, end)
    }

    fn next_bytes(rest: &mut &[u8], n: usize) -> Vec<u8> {
        let n = n.min(rest.len());
        let (bytes, tail) = rest.split_at(n);
        *rest = tail;
        bytes.to_vec()
    }
}
