//! The one-script "stat this path" probe: what it looks at, the snippet
//! that reports it, and the content comparison it can carry.

use sha2::{Digest, Sha256};

use super::shell_quote;
use crate::task::TaskError;

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

    pub(super) fn parse(word: &str) -> Option<FileKind> {
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

/// A mode that is not four octal digits at most (`"0644"`, `"755"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an octal file mode")]
pub struct ModeError(pub String);

/// A task given a bad mode fails saying which.
impl From<ModeError> for TaskError {
    fn from(e: ModeError) -> TaskError {
        TaskError::failed(e.to_string())
    }
}

/// Parses a mode the way the parameters hold it (`"0644"`).
pub fn parse_mode(text: &str) -> Result<u32, ModeError> {
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ModeError(text.to_string()))
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
