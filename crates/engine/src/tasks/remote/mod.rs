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
//!
//! # Where things are
//!
//! - [`quoting`]: words and paths as scripts pass them;
//! - [`failure`]: `fail CODE` and reading it back;
//! - [`stat`]: the probe script and what it finds;
//! - [`report`]: the strict parser of what scripts print;
//! - [`attrs`]: setting mode and ownership;
//! - [`atomic_write`]: the atomic write script;
//! - [`shlex`]: splitting and expanding words the way Ansible does.

mod atomic_write;
mod attrs;
mod failure;
mod quoting;
mod report;
mod shlex;
mod stat;
#[cfg(test)]
mod tests;

pub use atomic_write::{AtomicWrite, atomic_write_script};
pub use attrs::{Reach, SetAttrs, attrs_script};
pub use failure::{FAIL_FN, Failure, failure, with_detail, without_marker};
pub use quoting::{base_name, parent_dir, path_arg, shell_quote};
pub use report::{ProbeError, Report};
pub use shlex::{Expand, ShlexError, expand_word, shlex_split};
pub use stat::{
    Attrs, BUILTIN_COMPARE_LIMIT, FileKind, ModeError, Probe, Stat, compare_script, mode_text,
    parse_mode, probe_script,
};

/// The `printf` call that carries file contents inside a script; the
/// remote shell protocol writes stdin payloads the same way.
pub use crate::connection::remote_shell::printf_command;
