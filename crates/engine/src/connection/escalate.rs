//! Privilege escalation on the host: how an escalated driver shell is
//! started with `sudo` or `su`, how its password prompt is answered, and
//! how its failures are explained.
//!
//! # One escalated shell per become user
//!
//! A `become` task does not pay for a `sudo` of its own. The transport opens
//! one more long-lived driver shell per host and per become user (a second
//! channel on the same SSH connection) the first time a task needs it, and
//! keeps it for the run; every later task as that user is one framed request
//! to it, like any other task (`remote_shell.rs`). The escalated driver is
//! the same `/bin/sh -s dtrplay-<id>`, started by sudo or su instead of
//! directly by the login shell.
//!
//! # Passwords
//!
//! Without a password, sudo runs with Ansible's flags `-H -S -n`: it never
//! waits for one, so the ready request can follow the bootstrap at once and
//! opening the shell costs one round trip. When sudo needs a password after
//! all, it says so and exits, and [`Escalation::failure`] explains it.
//!
//! With a password, `-n` is dropped and a prompt unique to this shell is
//! asked for (`-p "[sudo via dtrplay, key=<random>] password:"`). The
//! driver is wrapped in `sh -c 'echo <success>; exec /bin/sh -s …'`, so that
//! the client knows when authentication is over. The [`Handshake`] watches
//! the channel: at the prompt it answers the password, once, on sudo's
//! standard input (`-S`) — never on a command line, in an environment
//! variable or in a file on the host; at the success line the driver runs;
//! a second prompt means the password was wrong, and the channel is closed
//! before sudo can read anything else as a password. `su` has no prompt
//! option, so its prompt is recognised by the word "Password" (and its
//! common translations) before a colon, as Ansible does.
//!
//! Every failure happens before any task script reaches the host, so a host
//! whose escalation fails is left exactly as it was.

use std::fmt::Write as _;
use std::time::Duration;

use crate::connection::remote_shell::{Session, random_u64};

/// How long sudo or su may take to ask for a password or start the shell.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// How many bytes of sudo's messages are kept for explaining a failure.
const KEEP: usize = 8 * 1024;

/// The words `su` prompts with, in the languages PAM is commonly
/// translated to (Ansible's list, shortened to the most common ones).
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwort",
    "mot de passe",
    "contraseña",
    "senha",
    "wachtwoord",
    "lösenord",
    "hasło",
    "heslo",
    "parola",
    "salasana",
    "adgangskode",
    "passord",
    "пароль",
    "パスワード",
    "密码",
    "密碼",
    "암호",
];

/// The program that changes the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Sudo,
    Su,
}

impl Method {
    /// Parses `become_method`.
    pub fn parse(text: &str) -> Option<Method> {
        match text.trim() {
            "sudo" => Some(Method::Sudo),
            "su" => Some(Method::Su),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Sudo => "sudo",
            Method::Su => "su",
        }
    }
}

/// Whom a task runs as on the host, resolved from the `become` keywords and
/// variables (`crate::escalation`).
#[derive(Clone, PartialEq, Eq)]
pub struct Escalation {
    pub method: Method,
    /// `become_user`.
    pub user: String,
    /// `become_exe`: the program to run instead of `sudo` or `su`.
    pub exe: Option<String>,
    /// `become_flags`: replaces the method's default flags.
    pub flags: Option<String>,
    /// The become password (a secret).
    pub password: Option<String>,
}

impl std::fmt::Debug for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escalation")
            .field("method", &self.method)
            .field("user", &self.user)
            .field("exe", &self.exe)
            .field("flags", &self.flags)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

/// How an escalated shell starts: the command for the login shell, and the
/// dialogue to hold before the driver runs, if any.
pub struct Start {
    pub bootstrap: String,
    pub handshake: Option<Handshake>,
}

/// Why an escalated shell could not be started, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Escalation {
    /// The shells of one connection are kept per key: the same user by the
    /// same means shares one shell.
    pub fn key(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            self.method.name(),
            self.user,
            self.exe.as_deref().unwrap_or(""),
            self.flags.as_deref().unwrap_or("")
        )
    }

    /// The program that escalates, as written in messages.
    fn program(&self) -> &str {
        self.exe.as_deref().unwrap_or(self.method.name())
    }

    /// How to start `session`'s driver as this user. `host` and `login`
    /// (the SSH user) are for messages.
    pub fn start(&self, session: &Session, host: &str, login: &str) -> Start {
        let driver = session.driver();
        let exe = self.program();
        let user = quote(&self.user);
        match self.method {
            Method::Sudo if self.password.is_none() => {
                let flags = self.flags.as_deref().unwrap_or("-H -S -n");
                let run = format!("{exe} {flags} -u {user} {driver}");
                // To a user sudoers does not name at all, `sudo -n` says only
                // that a password is required; `sudo -n -v` then says which
                // it is. It runs only when sudo itself failed (status 1),
                // so the shell's cost is one waiting `sh`, not a process
                // started, and never for a `become_exe` of another kind.
                let bootstrap = match &self.exe {
                    None => format!("{run} || [ $? -ne 1 ] || exec sudo -n -v"),
                    Some(_) => format!("exec {run}"),
                };
                Start {
                    bootstrap,
                    handshake: None,
                }
            }
            Method::Sudo => {
                let key = random_key();
                let prompt = format!("[sudo via dtrplay, key={key}] password:");
                let flags = match &self.flags {
                    Some(flags) => without_n(flags),
                    None => "-H -S".to_string(),
                };
                let success = format!("dtrplay-become-{key}");
                let inner = format!("echo {success}; exec {driver}");
                Start {
                    bootstrap: format!(
                        "exec {exe} {flags} -p {} -u {user} /bin/sh -c {}",
                        quote(&prompt),
                        quote(&inner)
                    ),
                    handshake: Some(Handshake::new(
                        self,
                        Prompt::Exact(prompt),
                        success,
                        host,
                        login,
                    )),
                }
            }
            Method::Su => {
                let key = random_key();
                let success = format!("dtrplay-become-{key}");
                let inner = format!("echo {success}; exec {driver}");
                let flags = self.flags.as_deref().unwrap_or("");
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!("{flags} ")
                };
                Start {
                    bootstrap: format!("exec {exe} {flags}{user} -c {}", quote(&inner)),
                    handshake: Some(Handshake::new(self, Prompt::Word, success, host, login)),
                }
            }
        }
    }

    /// Explains why the escalated shell ended before it was ready, from what
    /// sudo or su printed and its exit status.
    pub fn failure(&self, host: &str, login: &str, said: &str, status: Option<u32>) -> Failure {
        let exe = self.program();
        let user = &self.user;
        let lower = said.to_ascii_lowercase();
        let quoted = said.trim();
        let quoted: String = quoted.chars().take(400).collect();
        // sudo asks for the login user's password, su for the become user's.
        let whose = match self.method {
            Method::Sudo => login,
            Method::Su => user.as_str(),
        };
        let how = "give it with -K (--ask-become-pass), --become-password-file, or the variable ansible_become_password".to_string();
        if status == Some(127) || lower.contains("not found") && lower.contains(exe) {
            return Failure {
                message: format!(
                    "{exe} is not installed on {host} (or not on the PATH of {login}), so tasks cannot run as {user}"
                ),
                hint: Some(format!(
                    "install {exe} on {host}, or set become_exe / ansible_become_exe to its path, or become_method to another method"
                )),
            };
        }
        if lower.contains("must have a tty") || lower.contains("terminal is required") {
            return Failure {
                message: format!("{exe} on {host} requires a terminal: {quoted}"),
                hint: Some(format!(
                    "the host's sudoers has `Defaults requiretty`; dtrplay drives sudo without a terminal, as Ansible with pipelining does: add `Defaults:{login} !requiretty` to a file in /etc/sudoers.d on {host}"
                )),
            };
        }
        if lower.contains("not in the sudoers")
            || lower.contains("not allowed to")
            || lower.contains("may not run sudo")
        {
            // Only sudo's verdict, not the "password is required" of the
            // first attempt (see `start`).
            let verdict: Vec<&str> = said
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    l.contains("sudoers") || l.contains("not allowed") || l.contains("may not")
                })
                .map(str::trim)
                .collect();
            let quoted = if verdict.is_empty() {
                quoted
            } else {
                verdict.join(" ").chars().take(400).collect()
            };
            return Failure {
                message: format!("{login} may not use {exe} to become {user} on {host}: {quoted}"),
                hint: Some(format!(
                    "allow {login} in the sudoers of {host} (for example a file in /etc/sudoers.d), or connect as a user who may"
                )),
            };
        }
        if lower.contains("password is required") || lower.contains("a password is required") {
            return Failure {
                message: format!("{exe} on {host} needs a password for {whose}"),
                hint: Some(how),
            };
        }
        if lower.contains("incorrect password")
            || lower.contains("sorry, try again")
            || lower.contains("authentication failure")
        {
            return Failure {
                message: format!("incorrect {exe} password for {whose} on {host}"),
                hint: Some(
                    "check the password given with -K, --become-password-file or ansible_become_password"
                        .to_string(),
                ),
            };
        }
        let status = status.map_or(String::new(), |s| format!(" (exit status {s})"));
        let said = if quoted.is_empty() {
            String::new()
        } else {
            format!(": {quoted}")
        };
        Failure {
            message: format!("{exe} on {host} could not start a shell as {user}{status}{said}"),
            hint: None,
        }
    }
}

/// How the password prompt is recognised.
#[derive(Debug, Clone)]
enum Prompt {
    /// sudo's own prompt, unique to this shell.
    Exact(String),
    /// su's: "Password:" or a translation of it, at the end of the output.
    Word,
}

/// What the transport must do after feeding bytes to a [`Handshake`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet: keep reading.
    Wait,
    /// Write these bytes (the password line) to the channel, then keep
    /// reading.
    Send(Vec<u8>),
    /// Authentication is over and the driver runs: send the ready request.
    Ready,
    /// Give up on the channel (close it): the escalation failed.
    Fail(Failure),
}

/// The dialogue with sudo or su before the driver runs.
pub struct Handshake {
    escalation: Escalation,
    prompt: Prompt,
    /// The line the wrapper prints once authentication is over.
    success: String,
    host: String,
    login: String,
    answered: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where the next prompt is looked for in `stderr`.
    seen: usize,
}

impl Handshake {
    fn new(
        escalation: &Escalation,
        prompt: Prompt,
        success: String,
        host: &str,
        login: &str,
    ) -> Handshake {
        Handshake {
            escalation: escalation.clone(),
            prompt,
            success,
            host: host.to_string(),
            login: login.to_string(),
            answered: false,
            stdout: Vec::new(),
            stderr: Vec::new(),
            seen: 0,
        }
    }

    /// Takes bytes from the channel's stdout.
    pub fn stdout(&mut self, bytes: &[u8]) -> Step {
        self.stdout.extend_from_slice(bytes);
        let line = format!("{}\n", self.success);
        if find(&self.stdout, line.as_bytes()).is_some() {
            return Step::Ready;
        }
        if self.stdout.len() > KEEP {
            let cut = self.stdout.len() - KEEP / 2;
            self.stdout.drain(..cut);
        }
        Step::Wait
    }

    /// Takes bytes from the channel's stderr.
    pub fn stderr(&mut self, bytes: &[u8]) -> Step {
        self.stderr.extend_from_slice(bytes);
        if self.stderr.len() > KEEP {
            let cut = self.stderr.len() - KEEP / 2;
            self.stderr.drain(..cut);
            self.seen = self.seen.saturating_sub(cut);
        }
        let Some(end) = self.prompt_end() else {
            return Step::Wait;
        };
        self.seen = end;
        if self.answered {
            return Step::Fail(self.escalation.failure(
                &self.host,
                &self.login,
                "incorrect password",
                None,
            ));
        }
        match &self.escalation.password {
            Some(password) => {
                self.answered = true;
                let mut line = password.clone().into_bytes();
                line.push(b'\n');
                Step::Send(line)
            }
            None => Step::Fail(self.escalation.failure(
                &self.host,
                &self.login,
                "a password is required",
                None,
            )),
        }
    }

    /// Where a prompt not yet answered ends in `stderr`, if one is there.
    fn prompt_end(&self) -> Option<usize> {
        let fresh = &self.stderr[self.seen.min(self.stderr.len())..];
        match &self.prompt {
            Prompt::Exact(prompt) => {
                find(fresh, prompt.as_bytes()).map(|at| self.seen + at + prompt.len())
            }
            Prompt::Word => {
                // The prompt is the last, unfinished line: the program waits.
                let text = String::from_utf8_lossy(fresh);
                let last = text.rsplit('\n').next().unwrap_or("");
                let trimmed = last.trim_end();
                let before = trimmed
                    .strip_suffix(':')
                    .or_else(|| trimmed.strip_suffix('：'))?;
                let word = before.trim().to_lowercase();
                PASSWORD_WORDS
                    .iter()
                    .any(|w| word.ends_with(w))
                    .then_some(self.stderr.len())
            }
        }
    }

    /// The channel ended before the driver ran.
    pub fn ended(&self, status: Option<u32>) -> Failure {
        let said = String::from_utf8_lossy(&self.stderr).into_owned();
        self.escalation
            .failure(&self.host, &self.login, &said, status)
    }

    /// Neither a prompt nor the shell came in time.
    pub fn timed_out(&self) -> Failure {
        let exe = self.escalation.program();
        let said = String::from_utf8_lossy(&self.stderr).trim().to_string();
        let mut message = format!(
            "{exe} on {} neither asked for a password nor started a shell as {} within {}s",
            self.host,
            self.escalation.user,
            PROMPT_TIMEOUT.as_secs()
        );
        if !said.is_empty() {
            let said: String = said.chars().take(400).collect();
            let _ = write!(message, "; it said: {said}");
        }
        Failure {
            message,
            hint: Some(format!(
                "check that {exe} works for {} on {} without a terminal (for example a PAM module waiting for a token)",
                self.login, self.host
            )),
        }
    }
}

/// A random key of 32 lowercase letters, as Ansible's prompts carry.
fn random_key() -> String {
    let mut key = String::with_capacity(32);
    while key.len() < 32 {
        let mut n = random_u64();
        for _ in 0..12 {
            if key.len() == 32 {
                break;
            }
            key.push(char::from(b'a' + (n % 26) as u8));
            n /= 26;
        }
    }
    key
}

/// Flags with sudo's `-n` taken out (a password is about to be given).
fn without_n(flags: &str) -> String {
    flags
        .split_whitespace()
        .filter(|f| *f != "-n" && *f != "--non-interactive")
        .collect::<Vec<_>>()
        .join(" ")
}

/// A single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sudo(password: Option<&str>) -> Escalation {
        Escalation {
            method: Method::Sudo,
            user: "root".into(),
            exe: None,
            flags: None,
            password: password.map(str::to_string),
        }
    }

    #[test]
    fn sudo_without_a_password_never_waits() {
        let session = Session::new();
        let start = sudo(None).start(&session, "node1", "operator");
        assert!(start.handshake.is_none());
        assert!(
            start
                .bootstrap
                .starts_with("sudo -H -S -n -u 'root' /bin/sh -s dtrplay-"),
            "{}",
            start.bootstrap
        );
        assert!(
            start
                .bootstrap
                .ends_with(" || [ $? -ne 1 ] || exec sudo -n -v")
        );
    }

    #[test]
    fn the_password_is_answered_once_at_the_unique_prompt() {
        let session = Session::new();
        let start = sudo(Some("s3cret")).start(&session, "node2", "operator");
        assert!(!start.bootstrap.contains("s3cret"));
        assert!(start.bootstrap.contains("-p '[sudo via dtrplay, key="));
        let mut hs = start.handshake.expect("a handshake");
        let prompt = match &hs.prompt {
            Prompt::Exact(p) => p.clone(),
            Prompt::Word => unreachable!(),
        };
        assert_eq!(
            hs.stderr(b"We trust you have received the usual lecture\n"),
            Step::Wait
        );
        assert_eq!(
            hs.stderr(prompt.as_bytes()),
            Step::Send(b"s3cret\n".to_vec())
        );
        assert_eq!(hs.stderr(b"Sorry, try again.\n"), Step::Wait);
        match hs.stderr(prompt.as_bytes()) {
            Step::Fail(f) => assert_eq!(f.message, "incorrect sudo password for operator on node2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_success_line_ends_the_handshake() {
        let session = Session::new();
        let mut hs = sudo(Some("pw"))
            .start(&session, "n", "op")
            .handshake
            .expect("handshake");
        let line = format!("{}\n", hs.success);
        let (a, b) = line.as_bytes().split_at(5);
        assert_eq!(hs.stdout(a), Step::Wait);
        assert_eq!(hs.stdout(b), Step::Ready);
    }

    #[test]
    fn su_prompts_are_recognised_by_their_word() {
        let session = Session::new();
        let su = Escalation {
            method: Method::Su,
            ..sudo(None)
        };
        let mut hs = su.start(&session, "n", "op").handshake.expect("handshake");
        assert!(matches!(hs.stderr(b"Passwort: "), Step::Fail(_)));
        let su = Escalation {
            password: Some("pw".into()),
            ..su
        };
        let mut hs = su.start(&session, "n", "op").handshake.expect("handshake");
        assert_eq!(hs.stderr(b"Password: "), Step::Send(b"pw\n".to_vec()));
        // What util-linux su prints when PAM refuses the password.
        assert_eq!(hs.stderr(b"\nsu: Authentication failure\n"), Step::Wait);
        assert_eq!(
            hs.ended(Some(1)).message,
            "incorrect su password for root on n"
        );
    }

    #[test]
    fn failures_are_explained() {
        let e = sudo(None);
        let f = |said: &str, status| e.failure("node1", "operator", said, status).message;
        assert_eq!(
            f("sudo: a password is required\n", Some(1)),
            "sudo on node1 needs a password for operator"
        );
        assert!(
            f("operator is not in the sudoers file.", Some(1))
                .starts_with("operator may not use sudo")
        );
        assert!(
            f("sh: 1: exec: sudo: not found", Some(127))
                .starts_with("sudo is not installed on node1")
        );
        assert!(
            f("sudo: sorry, you must have a tty to run sudo", Some(1))
                .contains("requires a terminal")
        );
    }

    #[test]
    fn keys_are_random_lowercase() {
        let a = random_key();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_lowercase()));
        assert_ne!(a, random_key());
    }
}
