//! Shell building blocks shared by the file-handling tasks: quoting, the
//! one-script "stat this path" probe and its strict parser, the atomic write
//! script, and the convention by which our scripts report their own failures.
//!
//! Every task reaches its host through `Context::run`, one POSIX `sh` script
//! per round trip. A task therefore assembles its whole check (or its whole
//! apply) from the snippets here and sends it at once, instead of running
//! `stat`, then `cat`, then `chmod` as separate calls. The scripts only use
//! POSIX `sh` plus coreutils that every Debian-family host has (`stat -c`,
//! `sha256sum`, `mktemp`, `readlink`); paths always travel shell-quoted, and
//! file contents up to a size travel inside the script: as a `printf` of
//! escaped ASCII to write them, quoted text to compare them (neither starts
//! a program on the host), larger ones on standard input or by their hash.
//! Scripts are never logged or shown, so contents are as private in either
//! place.
//!
//! # Script failures
//!
//! A script that fails on purpose calls the `fail` function defined by
//! [`FAIL_FN`] with a short code (`parent`, `chmod`, ...). That prints a
//! marker line on standard error and exits with status 1, so the task can
//! turn the code into a message naming the path it knows, while whatever
//! the failing tool printed stays available as detail (see [`failure`]).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::connection::Output;
/// The `printf` call that carries file contents inside a script; the
/// remote shell protocol writes stdin payloads the same way.
pub use crate::connection::remote_shell::printf_command;
use crate::task::TaskError;

/// Defines `fail CODE`, the way our scripts report an expected failure. The
/// leading newline keeps the marker on its own line even when the failing
/// tool's message did not end with one.
pub const FAIL_FN: &str = "fail() { printf '\\n%s%s\\n' 'dtrplay-fail:' \"$1\" >&2; exit 1; }\n";

/// The prefix of the marker line `fail` prints.
const FAIL_MARKER: &str = "dtrplay-fail:";

/// Quotes a word for `sh` so that it reaches the command unchanged: no
/// expansion, no splitting, no globbing. Words made only of characters that
/// are never special stay bare, which keeps scripts and messages readable.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A path as a script may pass it to a command: a relative path that starts
/// with `-` gets a `./` prefix, so that no tool mistakes it for an option.
pub fn path_arg(path: &str) -> String {
    if path.starts_with('-') {
        return shell_quote(&format!("./{path}"));
    }
    shell_quote(path)
}

/// The directory that holds `path`, the way `dirname` would say it, for
/// paths without a trailing slash: `/etc/app.conf` → `/etc`, `/x` → `/`,
/// `app.conf` → `.`.
pub fn parent_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        None => ".".to_string(),
        Some(at) => {
            let parent = trimmed[..at].trim_end_matches('/');
            if parent.is_empty() {
                "/".to_string()
            } else {
                parent.to_string()
            }
        }
    }
}

/// The last component of a path (`/srv/app.conf.j2` → `app.conf.j2`).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// What a script that failed said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The code the script passed to `fail`, when it failed on purpose.
    pub code: Option<String>,
    /// What the tools printed on standard error, without our marker.
    pub detail: String,
}

/// Reads why a script failed from its standard error.
pub fn failure(out: &Output) -> Failure {
    let stderr = out.stderr_text();
    let mut code = None;
    let mut detail = Vec::new();
    for line in stderr.lines() {
        match line.strip_prefix(FAIL_MARKER) {
            Some(c) => code = Some(c.to_string()),
            None => detail.push(line),
        }
    }
    Failure {
        code,
        detail: detail.join("\n").trim().to_string(),
    }
}

/// The output with our failure marker taken out of standard error, for
/// registering what the tools printed.
pub fn without_marker(out: &Output) -> Output {
    let stderr = out.stderr_text();
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with(FAIL_MARKER))
        .collect();
    let mut text = kept.join("\n").trim_end().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    Output {
        status: out.status,
        stdout: out.stdout.clone(),
        stderr: text.into_bytes(),
    }
}

/// A failure message with the tools' own words appended when there are any.
pub fn with_detail(msg: String, failure: &Failure) -> TaskError {
    if failure.detail.is_empty() {
        return TaskError::failed(msg);
    }
    TaskError::failed(format!("{msg}: {}", failure.detail))
}

/// What kind of thing a path is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Absent,
    File,
    Directory,
    /// A symbolic link (when not following links, or a dangling one).
    Link,
    /// A device, socket or fifo.
    Other,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Absent => "absent",
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Link => "link",
            FileKind::Other => "special file",
        }
    }

    fn parse(word: &str) -> Option<FileKind> {
        Some(match word {
            "absent" => FileKind::Absent,
            "file" => FileKind::File,
            "directory" => FileKind::Directory,
            "link" => FileKind::Link,
            "other" => FileKind::Other,
            _ => return None,
        })
    }
}

/// Ownership and permissions of an existing path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attrs {
    /// The permission bits, including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    /// The user name, or `UNKNOWN` when the uid has none.
    pub owner: String,
    pub gid: u32,
    pub group: String,
}

impl Attrs {
    /// True when `wanted` (a name or a numeric id) names this owner.
    pub fn owner_is(&self, wanted: &str) -> bool {
        names_id(wanted, &self.owner, self.uid)
    }

    /// True when `wanted` (a name or a numeric id) names this group.
    pub fn group_is(&self, wanted: &str) -> bool {
        names_id(wanted, &self.group, self.gid)
    }
}

/// Ansible accepts owners and groups as names or as numeric ids.
fn names_id(wanted: &str, name: &str, id: u32) -> bool {
    match wanted.parse::<u32>() {
        Ok(n) => n == id,
        Err(_) => wanted == name,
    }
}

/// What the probe found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    /// `None` exactly when the path is absent.
    pub attrs: Option<Attrs>,
    /// The size in bytes, for regular files.
    pub size: Option<u64>,
    /// Whether a regular file's content is the one asked about
    /// ([`Probe::same_as`]).
    pub same: Option<bool>,
    /// The content of a regular file, when asked for and small enough.
    pub content: Option<Vec<u8>>,
    /// Where a symbolic link points, when asked for.
    pub link_target: Option<String>,
}

impl Stat {
    /// The mode as Ansible registers it (`"0644"`), when the path exists.
    pub fn mode_text(&self) -> Option<String> {
        self.attrs.as_ref().map(|a| mode_text(a.mode))
    }
}

/// A mode as four octal digits, the way modes are written in playbooks.
pub fn mode_text(mode: u32) -> String {
    format!("{mode:04o}")
}

/// A probe's output that its parser does not understand, which means the
/// script and its parser disagree (or the host's tools answer otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the probe printed an unexpected line: {0:?}")]
    UnexpectedLine(String),
    /// A known line whose value is not what the probe prints.
    #[error("bad probe line {0:?}")]
    BadLine(String),
}

/// Parses a mode the way the parameters hold it (`"0644"`).
pub fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{text:?} is not an octal file mode"))
}

/// What the probe script looks at besides kind, mode and ownership.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe<'a> {
    /// Follow a symbolic link to what it points to (a dangling link is still
    /// reported as a link).
    pub follow: bool,
    /// Compare a regular file's content with these bytes (`same=1` or
    /// `same=0`; see [`compare_script`]).
    pub same_as: Option<&'a [u8]>,
    /// Send a regular file's content back when it is at most this many bytes.
    pub content_up_to: Option<u64>,
    /// Send a symbolic link's target back.
    pub link_target: bool,
}

/// The largest content [`compare_script`] compares with shell builtins.
/// Reading a file with `read` costs a system call per byte, so beyond
/// about this size starting `sha256sum` is cheaper.
pub const BUILTIN_COMPARE_LIMIT: usize = 4096;

/// The snippet that reports on the path held in the shell variable `var`.
/// It prints `key=value` lines, then possibly a raw section (`content` or
/// `target`) that runs to the end of the output, so it must be the last
/// thing in a script: when nothing follows its `stat`, it `exec`s it.
pub fn probe_script(var: &str, probe: &Probe) -> String {
    let p = format!("\"${var}\"");
    let kind = if probe.follow {
        format!(
            "if [ -d {p} ]; then k=directory; elif [ -f {p} ]; then k=file; \
             elif [ -L {p} ]; then k=link; elif [ -e {p} ]; then k=other; else k=absent; fi\n"
        )
    } else {
        format!(
            "if [ -L {p} ]; then k=link; elif [ -d {p} ]; then k=directory; \
             elif [ -f {p} ]; then k=file; elif [ -e {p} ]; then k=other; else k=absent; fi\n"
        )
    };
    // A dangling link cannot be followed, so it is described as itself.
    let deref = if probe.follow {
        "if [ \"$k\" = link ]; then L=; else L=-L; fi\n"
    } else {
        "L=\n"
    };
    let stat = format!("stat $L -c 'mode=%a\nuid=%u\nowner=%U\ngid=%g\ngroup=%G\nsize=%s' -- {p}");
    let mut script = String::new();
    script.push_str(&kind);
    script.push_str("printf 'kind=%s\\n' \"$k\"\n");
    let last = probe.same_as.is_none() && !probe.link_target && probe.content_up_to.is_none();
    if last {
        // Nothing needs the answer in a variable, so `stat` can replace the
        // shell instead of running in a process of its own.
        script.push_str(&format!(
            "if [ \"$k\" != absent ]; then\n{deref}exec {stat}\nfi\n"
        ));
        return script;
    }
    script.push_str("if [ \"$k\" != absent ]; then\n");
    script.push_str(deref);
    script.push_str(&format!(
        "info=$({stat}) || exit\nprintf '%s\\n' \"$info\"\n"
    ));
    script.push_str("fi\n");
    if let Some(wanted) = probe.same_as {
        script.push_str(&format!(
            "if [ \"$k\" = file ]; then\n{}fi\n",
            compare_script(&p, "${info##*size=}", wanted)
        ));
    }
    if probe.link_target {
        script.push_str(&format!(
            "if [ \"$k\" = link ]; then echo target; readlink -- {p} || exit; fi\n"
        ));
    }
    if let Some(limit) = probe.content_up_to {
        script.push_str(&format!(
            "if [ \"$k\" = file ] && [ \"${{info##*size=}}\" -le {limit} ]; then \
             echo content; cat -- {p} || exit; fi\n"
        ));
    }
    script
}

/// The snippet that prints `same=1` when the regular file at `path` (a
/// shell word) holds exactly `wanted`, else `same=0`; `size` is a shell word
/// holding the file's size, which settles most differences at once.
///
/// Small text is compared with builtins only: the file is read line by line
/// with `read` and compared with `wanted`, quoted into the script. A shell
/// may drop bytes it cannot hold in a variable (NUL) but never adds any, so
/// a file of `wanted`'s length that reads back as `wanted` is `wanted`.
/// Anything else (large, binary, or containing NUL) is hashed with
/// `sha256sum` on the host and compared there with its hash.
pub fn compare_script(path: &str, size: &str, wanted: &[u8]) -> String {
    let len = wanted.len();
    let body = match std::str::from_utf8(wanted) {
        Ok(text) if len <= BUILTIN_COMPARE_LIMIT && !text.contains('\0') => format!(
            "c=; l=\n\
             while IFS= read -r l; do c=\"$c$l\n\"; done < {path} || exit\n\
             if [ \"$c$l\" = {} ]; then echo same=1; else echo same=0; fi\n",
            shell_quote(text)
        ),
        _ => {
            let sum = hex::encode(Sha256::digest(wanted));
            format!(
                "if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum < {path}) || exit; \
                 else s=$(shasum -a 256 < {path}) || exit; fi\n\
                 if [ \"${{s%% *}}\" = {sum} ]; then echo same=1; else echo same=0; fi\n"
            )
        }
    };
    format!("if [ \"{size}\" != {len} ]; then echo same=0; else\n{body}fi\n")
}

/// The `key=value` lines a script printed, and its raw section if any.
#[derive(Debug, Default)]
pub struct Report {
    fields: BTreeMap<String, String>,
    /// The raw section's name and bytes.
    raw: Option<(String, Vec<u8>)>,
}

/// The names that start a raw section.
const RAW_SECTIONS: [&str; 2] = ["content", "target"];

impl Report {
    /// Parses a script's standard output strictly: every line before the raw
    /// section must be `key=value` with a lowercase key seen only once.
    pub fn parse(stdout: &[u8]) -> Result<Report, String> {
        let mut report = Report::default();
        let mut rest = stdout;
        while !rest.is_empty() {
            let (line, after) = match rest.iter().position(|b| *b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = std::str::from_utf8(line)
                .map_err(|_| "the probe printed a line that is not UTF-8".to_string())?;
            if RAW_SECTIONS.contains(&line) {
                report.raw = Some((line.to_string(), after.to_vec()));
                return Ok(report);
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("the probe printed an unexpected line: {line:?}"))?;
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(format!("the probe printed an unexpected line: {line:?}"));
            }
            if report
                .fields
                .insert(key.to_string(), value.to_string())
                .is_some()
            {
                return Err(format!("the probe printed `{key}` twice"));
            }
            rest = after;
        }
        Ok(report)
    }

    /// Takes a field out of the report.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.fields.remove(key)
    }

    /// Takes a field that must be there.
    pub fn require(&mut self, key: &str) -> Result<String, String> {
        self.take(key)
            .ok_or_else(|| format!("the probe did not report `{key}`"))
    }

    /// Takes a `0`/`1` flag that must be there.
    pub fn flag(&mut self, key: &str) -> Result<bool, String> {
        match self.require(key)?.as_str() {
            "0" => Ok(false),
            "1" => Ok(true),
            other => Err(format!("the probe reported `{key}={other}`, not 0 or 1")),
        }
    }

    /// Takes a raw `content` section a script printed last.
    pub fn take_content(&mut self) -> Option<Vec<u8>> {
        self.take_raw("content")
    }

    /// Takes the raw section, if it has this name.
    pub fn take_raw(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.raw.take() {
            Some((n, bytes)) if n == name => Some(bytes),
            other => {
                self.raw = other;
                None
            }
        }
    }

    /// Fails when the script printed anything nobody took, which means the
    /// script and its parser disagree.
    pub fn finish(self) -> Result<(), String> {
        if let Some(key) = self.fields.keys().next() {
            return Err(format!("the probe reported an unexpected `{key}`"));
        }
        if let Some((name, _)) = self.raw {
            return Err(format!("the probe sent an unexpected `{name}` section"));
        }
        Ok(())
    }

    /// Takes the fields that `probe_script` printed.
    pub fn take_stat(&mut self) -> Result<Stat, String> {
        let kind = self.require("kind")?;
        let kind = FileKind::parse(&kind)
            .ok_or_else(|| format!("the probe reported an unknown kind {kind:?}"))?;
        let mut stat = Stat {
            kind,
            attrs: None,
            size: None,
            same: None,
            content: None,
            link_target: None,
        };
        if kind == FileKind::Absent {
            return Ok(stat);
        }
        let number = |key: &str, text: String| -> Result<u64, String> {
            text.parse::<u64>()
                .map_err(|_| format!("the probe reported `{key}={text}`, not a number"))
        };
        let id = |key: &str, text: String| -> Result<u32, String> {
            text.parse::<u32>()
                .map_err(|_| format!("the probe reported `{key}={text}`, not an id"))
        };
        let mode = self.require("mode")?;
        stat.attrs = Some(Attrs {
            mode: parse_mode(&mode).map_err(|e| format!("the probe reported a bad mode: {e}"))?,
            uid: id("uid", self.require("uid")?)?,
            owner: self.require("owner")?,
            gid: id("gid", self.require("gid")?)?,
            group: self.require("group")?,
        });
        let size = number("size", self.require("size")?)?;
        if kind == FileKind::File {
            stat.size = Some(size);
        }
        stat.same = match self.take("same").as_deref() {
            None => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(other) => return Err(format!("the probe reported `same={other}`")),
        };
        stat.content = self.take_raw("content");
        if let Some(mut target) = self.take_raw("target") {
            // readlink ends its answer with exactly one newline of its own.
            if target.last() == Some(&b'\n') {
                target.pop();
            }
            let target = String::from_utf8(target)
                .map_err(|_| "the link target is not UTF-8".to_string())?;
            stat.link_target = Some(target);
        }
        Ok(stat)
    }
}

/// Ownership and permissions a script should set.
#[derive(Debug, Clone, Default)]
pub struct SetAttrs<'a> {
    pub mode: Option<u32>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
}

impl SetAttrs<'_> {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

/// How attributes are applied to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The path itself (through a symbolic link, for chmod).
    Path,
    /// The link itself, not what it points to (`chown -h`).
    NoDeref,
    /// The path and everything below it (`-R`).
    Recursive,
}

/// The commands that set `attrs` on `path` (a shell expression such as
/// `"$p"`), each failing the script with code `chmod` or `chown`.
pub fn attrs_script(path: &str, attrs: &SetAttrs<'_>, reach: Reach) -> String {
    let flag = match reach {
        Reach::Path => "",
        Reach::NoDeref => "-h ",
        Reach::Recursive => "-R ",
    };
    let mut script = String::new();
    if let Some(mode) = attrs.mode {
        // A link has no permissions of its own on Linux.
        if reach != Reach::NoDeref {
            let r = if reach == Reach::Recursive { "-R " } else { "" };
            script.push_str(&format!(
                "chmod {r}-- {} {path} || fail chmod\n",
                mode_text(mode)
            ));
        }
    }
    match (attrs.owner, attrs.group) {
        (Some(owner), Some(group)) => script.push_str(&format!(
            "chown {flag}-- {} {path} || fail chown\n",
            shell_quote(&format!("{owner}:{group}"))
        )),
        (Some(owner), None) => script.push_str(&format!(
            "chown {flag}-- {} {path} || fail chown\n",
            shell_quote(owner)
        )),
        (None, Some(group)) => script.push_str(&format!(
            "chgrp {flag}-- {} {path} || fail chown\n",
            shell_quote(group)
        )),
        (None, None) => {}
    }
    script
}

/// Where and how to write a file atomically.
#[derive(Debug, Clone)]
pub struct AtomicWrite<'a> {
    /// The final path.
    pub path: &'a str,
    /// The directory that holds it; the temporary file goes there too, so
    /// that the final rename never crosses filesystems.
    pub dir: &'a str,
    /// Create `dir` (and its parents) first, instead of failing with code
    /// `parent` when it is missing.
    pub create_dir: bool,
    /// What to set on the new file. A mode of `None` gives a new file the
    /// default permissions of the user's umask.
    pub attrs: SetAttrs<'a>,
    /// The owner and group of the file being replaced, kept (as far as the
    /// user may) when `attrs` does not say otherwise.
    pub keep_ids: Option<(u32, u32)>,
    /// The bytes to write, carried in the script itself; `None` writes the
    /// script's standard input instead (for contents too large to inline).
    pub content: Option<&'a [u8]>,
    /// Copy the old file aside first; the script then prints
    /// `backup=<suffix>`, the name's part after `<path>.`.
    pub backup: bool,
    /// A command (split into words, not yet quoted) to run on the temporary
    /// file before it replaces the old one; `%s` in a word is the temporary
    /// file's path and `%%` a percent sign, as in Ansible's `validate`.
    pub validate: Option<Vec<String>>,
}

/// The script that writes `w.content` (or, when that is `None`, its
/// standard input) to `w.path` atomically: into a temporary file beside it,
/// which gets its mode and owner and is flushed to disk before a rename puts
/// it in place. Readers see the old content or the new one, never a mix, and
/// a failure at any step leaves the old file.
///
/// Starting a program is the expensive part on the host, so the common case
/// starts only `sync`, `mv` and `sync`: the shell creates the temporary file
/// itself (`set -C`, so an existing file is never followed) with a umask
/// that yields the wanted mode, and the `printf` builtin writes the content.
pub fn atomic_write_script(w: &AtomicWrite<'_>) -> String {
    let mut s = String::from(FAIL_FN);
    s.push_str(&format!("p={}\nd={}\n", path_arg(w.path), path_arg(w.dir)));
    if w.create_dir {
        s.push_str("[ -d \"$d\" ] || mkdir -p -- \"$d\" || fail mkdir\n");
    }
    s.push_str("[ -d \"$d\" ] || fail parent\n");
    // The random part keeps concurrent writers (and old leftovers) apart;
    // `set -C` refuses a name that exists, so nothing planted there is used.
    s.push_str(&format!(
        "tmp=\"$d/.dtrplay.{:016x}\"\n",
        crate::connection::remote_shell::random_u64()
    ));
    // The temporary file goes away on every exit path; after the rename
    // there is nothing left to remove, and no `rm` is started for nothing.
    s.push_str("trap '[ -e \"$tmp\" ] && rm -f -- \"$tmp\"' EXIT\ntrap 'exit 1' HUP INT TERM\n");
    // A mode without execute or special bits is exactly what creation under
    // the complementary umask gives; without a mode, the user's umask
    // decides, as for any new file. Other modes need a `chmod` after.
    let (umask, chmod_after) = match w.attrs.mode {
        None => (None, false),
        Some(mode) if mode & !0o666 == 0 => (Some(0o777 & !mode), false),
        Some(_) => (Some(0o077), true),
    };
    let umask = umask
        .map(|m| format!("umask {m:04o}; "))
        .unwrap_or_default();
    let writer = match w.content {
        Some(bytes) => printf_command(bytes),
        None => "cat".to_string(),
    };
    s.push_str(&format!(
        "( {umask}set -C; {writer} > \"$tmp\" ) || fail write\n"
    ));
    let attrs = SetAttrs {
        mode: w.attrs.mode.filter(|_| chmod_after),
        ..w.attrs
    };
    s.push_str(&attrs_script("\"$tmp\"", &attrs, Reach::Path));
    if let Some((uid, gid)) = w.keep_ids {
        let owner = w
            .attrs
            .owner
            .map_or_else(|| uid.to_string(), str::to_string);
        let group = w
            .attrs
            .group
            .map_or_else(|| gid.to_string(), str::to_string);
        // Only root may give a file away; for others keeping is best effort,
        // as in Ansible.
        s.push_str(&format!(
            "chown -- {} \"$tmp\" 2>/dev/null || :\n",
            shell_quote(&format!("{owner}:{group}"))
        ));
    }
    if let Some(words) = &w.validate {
        let line: Vec<String> = words.iter().map(|word| validate_word(word)).collect();
        s.push_str(&format!(
            "( exec {} ) >&2 || fail validate\n",
            line.join(" ")
        ));
    }
    if w.backup {
        // Ansible names backups `<path>.<pid>.<time>~`; a random number takes
        // the pid's place, so that nobody can plant a link at the name in
        // advance for `cp` to write through.
        s.push_str(&format!(
            "if [ -e \"$p\" ]; then b=\"{}.$(date +%Y-%m-%d@%H:%M:%S)~\"\n\
             if [ -e \"$p.$b\" ] || [ -L \"$p.$b\" ]; then fail backup; fi\n\
             cp -p -- \"$p\" \"$p.$b\" || fail backup\nprintf 'backup=%s\\n' \"$b\"; fi\n",
            crate::connection::remote_shell::random_u64() % 1_000_000_000
        ));
    }
    // `sync FILE` flushes just that file (coreutils 8.24 and later); older
    // tools only know the global `sync`.
    s.push_str("sync -- \"$tmp\" 2>/dev/null || sync\n");
    s.push_str("mv -f -- \"$tmp\" \"$p\" || fail rename\n");
    s.push_str("sync -- \"$d\" 2>/dev/null || :\n");
    s
}

/// Quotes a `validate` word, putting the temporary file's path where it
/// says `%s`.
fn validate_word(word: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('s')) => {
                chars.next();
                if !literal.is_empty() {
                    out.push_str(&shell_quote(&std::mem::take(&mut literal)));
                }
                out.push_str("\"$tmp\"");
            }
            ('%', Some('%')) => {
                chars.next();
                literal.push('%');
            }
            (c, _) => literal.push(c),
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&shell_quote(&literal));
    }
    out
}

/// Splits a command line into words the way Python's `shlex.split` does,
/// which is how Ansible's `command` module reads its `cmd`.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any character or quote of it was seen, so that
    // `''` is an empty word rather than nothing.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                let next = chars
                    .next()
                    .ok_or_else(|| "no escaped character after the final `\\`".to_string())?;
                word.push(next);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash only escapes `"`
                        // and itself; before anything else it stays.
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err("no closing quotation".to_string()),
                        },
                        Some(q) => word.push(q),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// How `expand_word` treats a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expand {
    /// Expand `~`, `~user`, `$NAME` and `${NAME}` on the host, leaving
    /// references to unset variables as written (Python's `expanduser` and
    /// `expandvars`, which Ansible applies to `command` words and paths).
    pub vars: bool,
    /// Leave `*`, `?` and `[` active, for glob patterns (`creates`).
    pub glob: bool,
}

/// Quotes a word for `sh`, letting through only the expansions `how` asks
/// for: never command substitution, splitting or anything else.
pub fn expand_word(word: &str, how: Expand) -> String {
    if word.is_empty() {
        return "''".to_string();
    }
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = word;
    if how.vars
        && let Some(after) = rest.strip_prefix('~')
    {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        let plain_user = user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !user.starts_with('-');
        if plain_user {
            out.push('~');
            out.push_str(user);
            rest = &after[end..];
            // The tilde prefix ends at the first unquoted slash, so the
            // slash must stay bare.
            if let Some(tail) = rest.strip_prefix('/') {
                out.push('/');
                rest = tail;
            }
        }
    }
    let flush = |literal: &mut String, out: &mut String| {
        if !literal.is_empty() {
            out.push_str(&shell_quote(literal));
            literal.clear();
        }
    };
    while let Some(c) = rest.chars().next() {
        if how.glob && "*?[".contains(c) {
            flush(&mut literal, &mut out);
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        if how.vars
            && c == '$'
            && let Some((name, braced, len)) = variable_at(rest)
        {
            flush(&mut literal, &mut out);
            // `"${N-\$N}"`: the value when set, the reference as written
            // when not, and never split or globbed.
            if braced {
                out.push_str(&format!("\"${{{name}-\\${{{name}\\}}}}\""));
            } else {
                out.push_str(&format!("\"${{{name}-\\${name}}}\""));
            }
            rest = &rest[len..];
            continue;
        }
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut literal, &mut out);
    out
}

/// A variable reference at the start of `text` (which starts with `$`):
/// its name, whether it is braced, and its length in bytes. Only names `sh`
/// can expand count; anything else stays literal.
fn variable_at(text: &str) -> Option<(&str, bool, usize)> {
    let after = &text[1..];
    let valid = |name: &str| {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(inner) = after.strip_prefix('{') {
        let end = inner.find('}')?;
        let name = &inner[..end];
        return valid(name).then_some((name, true, end + 3));
    }
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..end];
    valid(name).then_some((name, false, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;

    /// Runs `script` with `sh` under `umask`, feeding `stdin`.
    fn sh(script: &str, umask: u32, stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask {umask:03o}\n{script}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let _ = child.stdin.take().expect("stdin").write_all(stdin);
        child.wait_with_output().expect("wait")
    }

    #[test]
    fn printf_command_prints_every_byte_and_stays_ascii() {
        let mut bytes: Vec<u8> = (0..=255).collect();
        bytes.extend_from_slice(b"-'\\%s%%\n");
        for first in [&b"-----BEGIN"[..], b"plain", b""] {
            let mut all = first.to_vec();
            all.extend_from_slice(&bytes);
            let command = printf_command(&all);
            assert!(command.is_ascii());
            assert_eq!(sh(&command, 0o022, b"").stdout, all);
        }
    }

    /// The content comparison answers exactly, with builtins or with a
    /// hash, in every shell at hand: a file differs when a single byte does,
    /// including bytes a shell variable cannot hold and a missing or extra
    /// final newline.
    #[test]
    fn compare_script_tells_equal_content_from_any_difference() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB'x\\n%s $(id) `id`\n  \tlead\r\n-n\n\n";
        let big = "x".repeat(BUILTIN_COMPARE_LIMIT + 1);
        let wanted: Vec<&[u8]> = vec![
            pem.as_bytes(),
            b"no final newline",
            b"",
            b"\n",
            b"-n",
            b"a\0b\n",
            b"caf\xc3\xa9\n",
            b"\xff\xfe binary\n",
            big.as_bytes(),
        ];
        let mut shells = vec!["/bin/sh"];
        if std::path::Path::new("/bin/bash").exists() {
            shells.push("/bin/bash");
        }
        for shell in shells {
            for want in &wanted {
                let mut variants: Vec<Vec<u8>> = vec![want.to_vec()];
                if !want.is_empty() {
                    // The same length with one byte changed, with a NUL in
                    // place of the last byte, and without it.
                    let mut flipped = want.to_vec();
                    flipped[0] ^= 1;
                    variants.push(flipped);
                    let mut nul = want.to_vec();
                    *nul.last_mut().expect("byte") = 0;
                    variants.push(nul);
                    variants.push(want[..want.len() - 1].to_vec());
                    // A NUL inserted: the shell drops it, so only the size
                    // tells this file apart.
                    let mut inserted = want.to_vec();
                    inserted.insert(want.len() / 2, 0);
                    variants.push(inserted);
                }
                let mut longer = want.to_vec();
                longer.push(b'\n');
                variants.push(longer);
                for (i, have) in variants.iter().enumerate() {
                    std::fs::write(&path, have).expect("write");
                    let script = format!(
                        "p={}\nsize=$(wc -c < \"$p\")\n{}",
                        shell_quote(path.to_str().expect("utf-8")),
                        compare_script("\"$p\"", "${size##* }", want)
                    );
                    let out = std::process::Command::new(shell)
                        .arg("-c")
                        .arg(&script)
                        .output()
                        .expect("shell");
                    let same = if have == want { "same=1\n" } else { "same=0\n" };
                    assert_eq!(
                        String::from_utf8_lossy(&out.stdout),
                        same,
                        "{shell}: wanted {:?}, variant {i} {:?}",
                        String::from_utf8_lossy(want),
                        String::from_utf8_lossy(have)
                    );
                }
            }
        }
    }

    /// A file that cannot be read fails the probe instead of looking
    /// different (or equal).
    #[test]
    fn compare_script_fails_on_an_unreadable_file() {
        let script = compare_script("/nonexistent/dtrplay/f", "3", b"ab\n");
        let out = sh(&script, 0o022, b"");
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
    }

    /// The atomic write gives the exact mode under any umask, inline or
    /// from stdin, and leaves nothing but the file behind.
    #[test]
    fn atomic_writes_get_exact_modes_and_leave_no_temporary_file() {
        let content = b"-----BEGIN CERTIFICATE-----\n\x00\xff'%\n";
        for (mode, umask, want) in [
            (Some(0o644), 0o077, 0o644),
            (Some(0o600), 0o000, 0o600),
            (Some(0o755), 0o077, 0o755),
            (Some(0o4711), 0o022, 0o4711),
            (None, 0o027, 0o640),
            (None, 0o000, 0o666),
        ] {
            for inline in [true, false] {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("sub/ca.crt");
                let (path_text, dir_text) = (
                    path.display().to_string(),
                    dir.path().join("sub").display().to_string(),
                );
                let script = atomic_write_script(&AtomicWrite {
                    path: &path_text,
                    dir: &dir_text,
                    create_dir: true,
                    attrs: SetAttrs {
                        mode,
                        owner: None,
                        group: None,
                    },
                    keep_ids: None,
                    content: inline.then_some(&content[..]),
                    backup: false,
                    validate: None,
                });
                let stdin: &[u8] = if inline { b"" } else { content };
                let out = sh(&script, umask, stdin);
                assert!(out.status.success(), "{:?}", out);
                assert_eq!(std::fs::read(&path).expect("written"), content);
                let got = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o7777;
                assert_eq!(got, want, "mode {mode:?} under umask {umask:03o}");
                let entries = std::fs::read_dir(dir.path().join("sub"))
                    .expect("dir")
                    .count();
                assert_eq!(entries, 1, "a temporary file was left behind");
            }
        }
    }

    #[test]
    fn quoting_leaves_plain_words_bare_and_quotes_the_rest() {
        assert_eq!(shell_quote("/etc/app.conf"), "/etc/app.conf");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a=b"), "'a=b'");
        assert_eq!(shell_quote("~"), "'~'");
        assert_eq!(path_arg("-x"), "./-x");
    }

    #[test]
    fn parent_and_base_names() {
        assert_eq!(parent_dir("/etc/app.conf"), "/etc");
        assert_eq!(parent_dir("/x"), "/");
        assert_eq!(parent_dir("x"), ".");
        assert_eq!(parent_dir("a//b"), "a");
        assert_eq!(base_name("/srv/t/app.j2"), "app.j2");
        assert_eq!(base_name("app.j2"), "app.j2");
    }

    #[test]
    fn shlex_split_matches_python() {
        let split = |s: &str| shlex_split(s).expect("splits");
        assert_eq!(split("echo hi  there"), ["echo", "hi", "there"]);
        assert_eq!(split("a 'b c' \"d e\""), ["a", "b c", "d e"]);
        assert_eq!(split("a '' b"), ["a", "", "b"]);
        assert_eq!(split(r#"a\ b "x\"y" "p\q""#), ["a b", "x\"y", "p\\q"]);
        assert_eq!(split("it'\"'s"), ["it\"s"]);
        assert_eq!(split("   "), Vec::<String>::new());
        assert!(shlex_split("echo 'open").is_err());
        assert!(shlex_split("echo \\").is_err());
    }

    #[test]
    fn expansion_keeps_only_what_is_asked_for() {
        let vars = Expand {
            vars: true,
            glob: false,
        };
        assert_eq!(expand_word("$HOME/x", vars), "\"${HOME-\\$HOME}\"/x");
        assert_eq!(expand_word("${A}b", vars), "\"${A-\\${A\\}}\"b");
        assert_eq!(expand_word("~/a b", vars), "~/'a b'");
        assert_eq!(expand_word("$(id)", vars), "'$(id)'");
        assert_eq!(expand_word("$1", vars), "'$1'");
        let glob = Expand {
            vars: false,
            glob: true,
        };
        assert_eq!(expand_word("/a b/*.log", glob), "'/a b/'*.log");
        assert_eq!(expand_word("$HOME", glob), "'$HOME'");
    }

    #[test]
    fn report_parses_strictly() {
        let mut r = Report::parse(
            b"kind=file\nmode=644\nuid=0\nowner=root\ngid=0\ngroup=root\nsize=3\ncontent\nab\n",
        )
        .expect("parses");
        let stat = r.take_stat().expect("stat");
        assert_eq!(stat.kind, FileKind::File);
        assert_eq!(stat.mode_text().as_deref(), Some("0644"));
        assert_eq!(stat.content.as_deref(), Some(&b"ab\n"[..]));
        r.finish().expect("nothing left");

        assert!(Report::parse(b"kind=file\nkind=file\n").is_err());
        assert!(Report::parse(b"garbage\n").is_err());
        let mut extra = Report::parse(b"kind=absent\nsurprise=1\n").expect("parses");
        extra.take_stat().expect("stat");
        assert!(extra.finish().is_err());
    }

    #[test]
    fn failure_separates_code_and_detail() {
        let out = Output {
            status: 1,
            stdout: Vec::new(),
            stderr: b"mv: cannot move\n\ndtrplay-fail:rename\n".to_vec(),
        };
        assert_eq!(
            failure(&out),
            Failure {
                code: Some("rename".into()),
                detail: "mv: cannot move".into()
            }
        );
    }
}
