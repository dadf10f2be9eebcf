//! The commands that set mode and ownership on a path.

use super::{mode_text, shell_quote};

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
