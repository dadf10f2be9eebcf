//! The `file` task: a path's kind (file, directory, link, absent) and its
//! mode and ownership, checked in one script and fixed in one script.
//!
//! The check asks the host for the path's kind and attributes (plus the
//! link target, the link source's existence, and whether anything below a
//! `recurse` directory differs), then decides locally what `apply` must do.
//! Diffs are short listings (`state: absent` → `state: directory`,
//! `mode: 0755`) rather than Ansible's state dictionaries.
//!
//! Differences from Ansible, on purpose: `state: hard` is not supported,
//! `mode` with `state: link` is refused (Ansible would change the link's
//! target), `state: absent` refuses to remove `/`, and `touch` only knows
//! the `now` and `preserve` times.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{
    self, Attrs, FileKind, Probe, ProbeError, Reach, Report, SetAttrs, Stat,
};

/// The arguments of `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    /// What the path should be; when unset, it stays what it is.
    pub state: Option<State>,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Apply mode and ownership to everything below a directory too.
    #[serde(default)]
    pub recurse: bool,
    /// The target of a link.
    pub src: Option<String>,
    /// Replace a file or empty directory by a link, or link to a missing
    /// source.
    #[serde(default)]
    pub force: bool,
    /// Act on what a link points to rather than on the link.
    #[serde(default = "yes")]
    pub follow: bool,
    /// `now` (the default for `touch`) or `preserve`.
    pub modification_time: Option<String>,
    /// `now` (the default for `touch`) or `preserve`.
    pub access_time: Option<String>,
    /// SELinux contexts: ignored where SELinux is off (`tasks/selinux.rs`).
    pub seuser: Option<String>,
    pub serole: Option<String>,
    pub setype: Option<String>,
    pub selevel: Option<String>,
}

fn yes() -> bool {
    true
}

/// What a path should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    File,
    Directory,
    Absent,
    Touch,
    Link,
}

/// The parameters of `file`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "file",
        vec![
            Param::new("path", Kind::Path)
                .required()
                .aliases(&["dest", "name"]),
            Param::new("state", Kind::Str).choices(&[
                "file",
                "directory",
                "absent",
                "touch",
                "link",
            ]),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("recurse", Kind::Bool).default(false),
            Param::new("src", Kind::Path),
            Param::new("force", Kind::Bool).default(false),
            Param::new("follow", Kind::Bool).default(true),
            Param::new("modification_time", Kind::Str),
            Param::new("access_time", Kind::Str),
        ]
        .into_iter()
        .chain(crate::tasks::selinux::params())
        .collect(),
    )
}

/// What `apply` must do to the path; found by `check`.
#[derive(Debug)]
pub struct PathDrift {
    action: Action,
    /// The attributes to set (only those that differ, unless recursive).
    attrs: Wanted,
    /// How the attributes reach the path.
    reach: Reach,
    /// The registered result, completed by `apply`.
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Remove the path, recursively.
    Remove,
    /// Create these directories, outermost first, each with the attributes.
    CreateDirs(Vec<String>),
    /// Only set attributes.
    Attrs,
    /// Create the file and/or update its times.
    Touch { access: bool, modification: bool },
    /// Put a link at the path, removing the empty directory there first
    /// when `replace_dir`.
    Link { src: String, replace_dir: bool },
}

/// Mode and ownership, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Wanted {
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
}

impl Wanted {
    fn set(&self) -> SetAttrs<'_> {
        SetAttrs {
            mode: self.mode,
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
        }
    }

    fn is_empty(&self) -> bool {
        self.set().is_empty()
    }

    /// The lines describing these attributes, for diffs.
    fn lines(&self) -> String {
        let mut text = String::new();
        if let Some(mode) = self.mode {
            text.push_str(&format!("mode: {}\n", remote::mode_text(mode)));
        }
        if let Some(owner) = &self.owner {
            text.push_str(&format!("owner: {owner}\n"));
        }
        if let Some(group) = &self.group {
            text.push_str(&format!("group: {group}\n"));
        }
        text
    }

    /// The short form for messages (`mode 0755, owner app`).
    fn words(&self) -> Vec<String> {
        self.lines()
            .lines()
            .map(|l| l.replacen(": ", " ", 1))
            .collect()
    }

    /// Only the attributes that differ from `before`.
    fn differing(&self, before: &Attrs) -> Wanted {
        Wanted {
            mode: self.mode.filter(|m| *m != before.mode),
            owner: self.owner.clone().filter(|o| !before.owner_is(o)),
            group: self.group.clone().filter(|g| !before.group_is(g)),
        }
    }

    /// The same attributes as they are in `before`, for diffs.
    fn as_in(&self, before: &Attrs) -> Wanted {
        Wanted {
            mode: self.mode.map(|_| before.mode),
            owner: self.owner.as_ref().map(|_| before.owner.clone()),
            group: self.group.as_ref().map(|_| before.group.clone()),
        }
    }
}

/// Where a time of `touch` comes from.
fn touch_time(name: &str, value: Option<&str>) -> Result<bool, TaskError> {
    match value.unwrap_or("now") {
        "now" => Ok(true),
        "preserve" => Ok(false),
        other => Err(TaskError::failed(format!(
            "{name} {other:?} is not supported; use now or preserve"
        ))),
    }
}

impl File {
    fn wanted(&self) -> Result<Wanted, TaskError> {
        Ok(Wanted {
            mode: self
                .mode
                .as_deref()
                .map(remote::parse_mode)
                .transpose()
                .map_err(|e| TaskError::failed(format!("mode {e}")))?,
            owner: self.owner.clone(),
            group: self.group.clone(),
        })
    }

    /// Refuses argument combinations Ansible refuses, before asking the host.
    fn validate(&self) -> Result<(), TaskError> {
        if self.path.is_empty() {
            return Err(TaskError::failed("path must not be empty"));
        }
        if self.recurse && !matches!(self.state, Some(State::Directory) | None) {
            return Err(TaskError::failed(
                "recurse option requires state to be 'directory'",
            ));
        }
        if self.state == Some(State::Link) {
            if self.src.is_none() {
                return Err(TaskError::failed(
                    "src is required for creating new symlinks",
                ));
            }
            if self.mode.is_some() {
                return Err(TaskError::failed(
                    "mode is not supported with state=link: it would change the link's target; \
                     set the mode on the target with its own task",
                ));
            }
        }
        if self.src.is_some() && self.state != Some(State::Link) {
            return Err(TaskError::failed("src option requires state to be 'link'"));
        }
        if self.state == Some(State::Absent) && self.path.trim_end_matches('/').is_empty() {
            return Err(TaskError::failed("refusing to remove /"));
        }
        Ok(())
    }

    /// The check script: the probe, after any extra facts the state needs.
    fn check_script(&self, wanted: &Wanted) -> String {
        let link = self.state == Some(State::Link);
        let follow = self.follow && !link && self.state != Some(State::Absent);
        let mut script = format!("p={}\n", remote::path_arg(&self.path));
        if let (true, Some(src)) = (link, &self.src) {
            // A relative link source is relative to the link's directory.
            let source = if src.starts_with('/') {
                src.clone()
            } else {
                format!("{}/{src}", remote::parent_dir(&self.path))
            };
            script.push_str(&format!(
                "if [ -e {} ]; then echo src_exists=1; else echo src_exists=0; fi\n\
                 if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -n \"$(ls -A -- \"$p\")\" ]; \
                 then echo dir_empty=0; else echo dir_empty=1; fi\n",
                remote::path_arg(&source)
            ));
        }
        if self.recurse {
            script.push_str(&recurse_script(wanted));
        }
        script.push_str(&remote::probe_script(
            "p",
            &Probe {
                follow,
                link_target: link,
                ..Probe::default()
            },
        ));
        script
    }

    /// Decides what to do from what the host reported.
    fn decide(&self, mut report: Report, wanted: Wanted) -> Result<Check<PathDrift>, TaskError> {
        let bad =
            |e: ProbeError| TaskError::failed(format!("could not inspect {}: {e}", self.path));
        let link_facts = match self.state {
            Some(State::Link) => Some((
                report.flag("src_exists").map_err(bad)?,
                report.flag("dir_empty").map_err(bad)?,
            )),
            _ => None,
        };
        let recurse_drift = match self.recurse {
            true => report.flag("recurse_drift").map_err(bad)?,
            false => false,
        };
        let stat = report.take_stat().map_err(bad)?;
        report.finish().map_err(bad)?;
        let path = self.path.as_str();
        let state = match (self.state, stat.kind) {
            (Some(state), _) => state,
            (None, FileKind::Directory) => State::Directory,
            (None, FileKind::Link) => State::Link,
            (None, FileKind::Absent) if self.recurse => State::Directory,
            (None, _) => State::File,
        };
        let before_name = stat.kind.as_str();
        let base = Outcome::ok()
            .with_data("path", path)
            .with_data("state", state_name(state));
        match state {
            State::Absent => {
                if stat.kind == FileKind::Absent {
                    return Ok(Check::InSync(base));
                }
                let diff = state_diff(path, before_name, &Wanted::default(), "absent", "");
                Ok(drift(
                    base,
                    Action::Remove,
                    Wanted::default(),
                    Reach::Path,
                    format!("{path}: {before_name} → absent"),
                    diff,
                ))
            }
            State::File => {
                let reason = match (stat.kind, self.follow) {
                    (FileKind::File | FileKind::Other, _) => None,
                    // A dangling link, followed, leads nowhere.
                    (FileKind::Link, true) | (FileKind::Absent, _) => Some("absent"),
                    (kind, _) => Some(kind.as_str()),
                };
                if let Some(kind) = reason {
                    return Err(TaskError::failed(format!(
                        "file ({path}) is {kind}, cannot continue"
                    )));
                }
                self.attrs_only(base, &stat, wanted, false)
            }
            State::Directory => match stat.kind {
                FileKind::Directory => self.attrs_only(base, &stat, wanted, recurse_drift),
                FileKind::Absent => {
                    let dirs = ancestors(path);
                    let diff = state_diff(
                        path,
                        "absent",
                        &Wanted::default(),
                        "directory",
                        &wanted.lines(),
                    );
                    let mut words = vec![format!("{path}: absent → directory")];
                    words.extend(wanted.words());
                    Ok(drift(
                        base,
                        Action::CreateDirs(dirs),
                        wanted,
                        Reach::Path,
                        words.join(", "),
                        diff,
                    ))
                }
                kind => Err(TaskError::failed(format!(
                    "{path} already exists as a {}",
                    kind.as_str()
                ))),
            },
            State::Touch => {
                let access = touch_time("access_time", self.access_time.as_deref())?;
                let modification =
                    touch_time("modification_time", self.modification_time.as_deref())?;
                if stat.kind != FileKind::Absent && !access && !modification {
                    return self.attrs_only(base, &stat, wanted, false);
                }
                let (changes, msg, diff) = match &stat.attrs {
                    None => {
                        let mut words = vec![format!("{path}: absent → file")];
                        words.extend(wanted.words());
                        let diff =
                            state_diff(path, "absent", &Wanted::default(), "file", &wanted.lines());
                        (wanted, words.join(", "), diff)
                    }
                    Some(before) => {
                        let changes = wanted.differing(before);
                        let mut words = vec![format!("{path}: times updated")];
                        words.extend(changes.words());
                        (changes, words.join(", "), None)
                    }
                };
                Ok(drift(
                    base,
                    Action::Touch {
                        // A missing file is created, whatever the times say.
                        access: access || stat.kind == FileKind::Absent,
                        modification: modification || stat.kind == FileKind::Absent,
                    },
                    changes,
                    Reach::Path,
                    msg,
                    diff,
                ))
            }
            State::Link => {
                let src = self.src.clone().unwrap_or_default();
                let (src_exists, dir_empty) = link_facts.unwrap_or((true, true));
                let replace_dir = match stat.kind {
                    FileKind::Link if stat.link_target.as_deref() == Some(src.as_str()) => {
                        return self.attrs_only(base, &stat, wanted, false);
                    }
                    FileKind::Link | FileKind::Absent => false,
                    FileKind::File | FileKind::Other if self.force => false,
                    FileKind::Directory if self.force && dir_empty => true,
                    FileKind::Directory if self.force => {
                        return Err(TaskError::failed(format!(
                            "the directory {path} is not empty, refusing to convert it"
                        )));
                    }
                    kind => {
                        return Err(TaskError::failed(format!(
                            "refusing to convert from {} to symlink for {path}",
                            if kind == FileKind::Other {
                                "file"
                            } else {
                                kind.as_str()
                            }
                        )));
                    }
                };
                if !src_exists && !self.force {
                    return Err(TaskError::failed(format!(
                        "src file does not exist, use \"force=yes\" if you really want to create the link: {src}"
                    )));
                }
                let before = match &stat.link_target {
                    Some(target) => format!("state: link\nsrc: {target}\n"),
                    None => format!("state: {before_name}\n"),
                };
                let diff = Diff {
                    subject: path.to_string(),
                    before: Some(before),
                    after: Some(format!("state: link\nsrc: {src}\n{}", wanted.lines())),
                };
                let msg = match &stat.link_target {
                    Some(target) => format!("{path}: link to {target} → link to {src}"),
                    None => format!("{path}: {before_name} → link to {src}"),
                };
                Ok(drift(
                    base,
                    Action::Link { src, replace_dir },
                    wanted,
                    Reach::NoDeref,
                    msg,
                    Some(diff),
                ))
            }
        }
    }

    /// The drift (or none) when only mode and ownership may differ.
    fn attrs_only(
        &self,
        base: Outcome,
        stat: &Stat,
        wanted: Wanted,
        recurse_drift: bool,
    ) -> Result<Check<PathDrift>, TaskError> {
        let path = self.path.as_str();
        let Some(before) = &stat.attrs else {
            return Err(TaskError::failed(format!("{path} is absent")));
        };
        let base = base
            .with_data("mode", remote::mode_text(before.mode))
            .with_data("owner", before.owner.clone())
            .with_data("group", before.group.clone());
        let mut wanted = wanted;
        if stat.kind == FileKind::Link {
            // A link has no mode of its own to set.
            wanted.mode = None;
        }
        let changes = wanted.differing(before);
        let reach = match stat.kind {
            FileKind::Link => Reach::NoDeref,
            _ if recurse_drift => Reach::Recursive,
            _ => Reach::Path,
        };
        if changes.is_empty() && !recurse_drift {
            return Ok(Check::InSync(base));
        }
        let mut words: Vec<String> = Vec::new();
        let old = changes.as_in(before);
        for (o, n) in old.words().iter().zip(changes.words()) {
            let value = n.split_once(' ').map_or("", |(_, v)| v);
            words.push(format!("{o} → {value}"));
        }
        if recurse_drift {
            words.push("contents below it".to_string());
        }
        let diff = (!changes.is_empty()).then(|| Diff {
            subject: path.to_string(),
            before: Some(old.lines()),
            after: Some(changes.lines()),
        });
        // Recursing sets every wanted attribute below, not just those the
        // top differs in.
        let attrs = if recurse_drift { wanted } else { changes };
        Ok(drift(
            base,
            Action::Attrs,
            attrs,
            reach,
            format!("{path}: {}", words.join(", ")),
            diff,
        ))
    }

    /// The apply script for a drift.
    fn apply_script(&self, drift: &PathDrift) -> String {
        let mut s = format!("{}p={}\n", remote::FAIL_FN, remote::path_arg(&self.path));
        let attrs = drift.attrs.set();
        match &drift.action {
            Action::Remove => s.push_str("rm -rf -- \"$p\" || fail remove\n"),
            Action::CreateDirs(dirs) => {
                // One `mkdir` for every level still missing, parents first,
                // with the mode set as it creates them (`-m` ignores the
                // umask), and one `chown` for all of them: starting a
                // program is the expensive part on the host.
                s.push_str("set --\n");
                for dir in dirs {
                    s.push_str(&format!(
                        "[ -d {d} ] || set -- \"$@\" {d}\n",
                        d = remote::path_arg(dir)
                    ));
                }
                let mode = attrs
                    .mode
                    .map(|m| format!("-m {} ", remote::mode_text(m)))
                    .unwrap_or_default();
                let owners = SetAttrs {
                    mode: None,
                    ..attrs
                };
                s.push_str(&format!(
                    "if [ $# -gt 0 ]; then\nmkdir {mode}-- \"$@\" || fail mkdir\n{}fi\n",
                    remote::attrs_script("\"$@\"", &owners, Reach::Path)
                ));
            }
            Action::Attrs => s.push_str(&remote::attrs_script("\"$p\"", &attrs, drift.reach)),
            Action::Touch {
                access,
                modification,
            } => {
                let flags = match (access, modification) {
                    (true, false) => "-a ",
                    (false, true) => "-m ",
                    _ => "",
                };
                s.push_str(&format!("touch {flags}-- \"$p\" || fail touch\n"));
                s.push_str(&remote::attrs_script("\"$p\"", &attrs, Reach::Path));
            }
            Action::Link { src, replace_dir } => {
                let tmp = format!(
                    ".dtrplay.{:016x}.link",
                    crate::connection::remote_shell::random_u64()
                );
                s.push_str(&link_script(&self.path, src, &tmp, *replace_dir));
                s.push_str(&remote::attrs_script("\"$p\"", &attrs, Reach::NoDeref));
            }
        }
        s
    }
}

/// Points `$p` at `src` by renaming a new link into place. The link is
/// made under `tmp` (an unpredictable name the caller chose) beside `$p`, and
/// only if nothing is there: `ln -s` onto an existing directory would put
/// the link inside it, and the rename would then move that directory into
/// place. A name taken, even between the test and `ln`, fails the task.
fn link_script(path: &str, src: &str, tmp: &str, replace_dir: bool) -> String {
    let mut s = format!(
        "d={}\n[ -d \"$d\" ] || fail parent\ntmp=\"$d/\"{}\n\
         if [ -e \"$tmp\" ] || [ -L \"$tmp\" ]; then fail link; fi\n\
         ln -s -- {} \"$tmp\" || fail link\n\
         [ -L \"$tmp\" ] || fail link\n",
        remote::path_arg(&remote::parent_dir(path)),
        remote::shell_quote(tmp),
        remote::shell_quote(src)
    );
    if replace_dir {
        s.push_str("rmdir -- \"$p\" || { rm -f -- \"$tmp\"; fail rmdir; }\n");
    }
    // `mv -T` replaces a link to a directory instead of moving into it;
    // tools without it get remove-then-rename.
    s.push_str(
        "mv -f -T -- \"$tmp\" \"$p\" 2>/dev/null || \
         { rm -f -- \"$p\" && mv -f -- \"$tmp\" \"$p\"; } || \
         { rm -f -- \"$tmp\"; fail link; }\n",
    );
    s
}

/// A drift with its preview.
fn drift(
    base: Outcome,
    action: Action,
    attrs: Wanted,
    reach: Reach,
    summary: String,
    diff: Option<Diff>,
) -> Check<PathDrift> {
    let mut preview = base.clone().with_msg(format!("would change {summary}"));
    preview.changed = true;
    preview.diffs.extend(diff);
    let mut outcome = base.with_msg(summary);
    outcome.changed = true;
    Check::Drift {
        drift: PathDrift {
            action,
            attrs,
            reach,
            outcome,
        },
        preview,
    }
}

/// A diff from one state to another, with the attributes wanted after.
fn state_diff(path: &str, before: &str, old: &Wanted, after: &str, lines: &str) -> Option<Diff> {
    Some(Diff {
        subject: path.to_string(),
        before: Some(format!("state: {before}\n{}", old.lines())),
        after: Some(format!("state: {after}\n{lines}")),
    })
}

fn state_name(state: State) -> &'static str {
    match state {
        State::File => "file",
        State::Directory => "directory",
        State::Absent => "absent",
        State::Touch => "file",
        State::Link => "link",
    }
}

/// The directories that make up `path`, outermost first (`/a/b` → `/a`,
/// `/a/b`), so that each missing one can be created with the attributes.
fn ancestors(path: &str) -> Vec<String> {
    let absolute = path.starts_with('/');
    let mut current = if absolute {
        String::from("/")
    } else {
        String::new()
    };
    let mut dirs = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if !current.is_empty() && !current.ends_with('/') {
            current.push('/');
        }
        current.push_str(part);
        dirs.push(current.clone());
    }
    dirs
}

/// Prints `recurse_drift=1` when anything below the directory `$p` (links
/// aside, which have no mode of their own) differs from the wanted
/// attributes.
fn recurse_script(wanted: &Wanted) -> String {
    let mut tests = Vec::new();
    if let Some(mode) = wanted.mode {
        tests.push(format!("! -perm {}", remote::mode_text(mode)));
    }
    if let Some(owner) = &wanted.owner {
        tests.push(format!("! -user {}", remote::shell_quote(owner)));
    }
    if let Some(group) = &wanted.group {
        tests.push(format!("! -group {}", remote::shell_quote(group)));
    }
    if tests.is_empty() {
        return "echo recurse_drift=0\n".to_string();
    }
    format!(
        "if [ -d \"$p\" ] && [ -n \"$(find \"$p\" ! -type l \\( {} \\) -print 2>/dev/null | head -n 1)\" ]; \
         then echo recurse_drift=1; else echo recurse_drift=0; fi\n",
        tests.join(" -o ")
    )
}

#[async_trait]
impl Task for File {
    type Drift = PathDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PathDrift>, TaskError> {
        self.validate()?;
        crate::tasks::selinux::check(
            cx,
            crate::tasks::selinux::Wanted::of(
                &self.seuser,
                &self.serole,
                &self.setype,
                &self.selevel,
            ),
        )
        .await?;
        let wanted = self.wanted()?;
        let out = cx.run(&self.check_script(&wanted), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not inspect {}", self.path),
                &remote::failure(&out),
            ));
        }
        let report = Report::parse(&out.stdout)
            .map_err(|e| TaskError::failed(format!("could not inspect {}: {e}", self.path)))?;
        let mut check = self.decide(report, wanted)?;
        if !cx.diff
            && let Check::Drift { preview, .. } = &mut check
        {
            preview.diffs.clear();
        }
        Ok(check)
    }

    async fn apply(&self, cx: &Context<'_>, drift: PathDrift) -> Result<Outcome, TaskError> {
        let out = cx.run(&self.apply_script(&drift), &[]).await?;
        if out.success() {
            return Ok(drift.outcome);
        }
        let failure = remote::failure(&out);
        let path = &self.path;
        let msg = match failure.code.as_deref() {
            Some("remove") => format!("could not remove {path}"),
            Some("mkdir") => format!("could not create directory {path}"),
            Some("chmod") => format!("could not set the mode of {path}"),
            Some("chown") => format!("could not set the owner or group of {path}"),
            Some("touch") => format!("could not touch {path}"),
            Some("parent") => format!(
                "Error while linking: directory {} does not exist",
                remote::parent_dir(path)
            ),
            Some("rmdir") => format!("could not remove the directory {path} to link it"),
            Some("link") => format!("Error while linking {path}"),
            _ => format!("could not change {path} (exit status {})", out.status),
        };
        Err(remote::with_detail(msg, &failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a link script in `dir` for `dir/link` → `target`.
    fn run_link(dir: &std::path::Path, tmp: &str) -> std::process::Output {
        let path = dir.join("link").display().to_string();
        let script = format!(
            "{}p={}\n{}",
            remote::FAIL_FN,
            remote::path_arg(&path),
            link_script(&path, "/etc", tmp, false)
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs")
    }

    #[test]
    fn a_link_is_made_under_the_temporary_name_then_renamed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_link(dir.path(), ".dtrplay.1.link");
        assert!(out.status.success(), "{out:?}");
        let link = dir.path().join("link");
        assert_eq!(
            std::fs::read_link(&link).expect("a link"),
            std::path::Path::new("/etc")
        );
        assert!(!dir.path().join(".dtrplay.1.link").exists());
    }

    #[test]
    fn something_planted_at_the_temporary_name_fails_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let planted = dir.path().join(".dtrplay.2.link");
        std::fs::create_dir(&planted).expect("plant a directory");
        std::fs::write(planted.join("evil"), "x").expect("plant a file");
        let out = run_link(dir.path(), ".dtrplay.2.link");
        assert!(!out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("dtrplay-fail:link"));
        // Nothing was moved into place, and the planted directory is as it was.
        assert!(std::fs::symlink_metadata(dir.path().join("link")).is_err());
        assert_eq!(std::fs::read_dir(&planted).expect("still there").count(), 1);
        // A planted link (to a directory) is refused the same way.
        let planted_link = dir.path().join(".dtrplay.3.link");
        std::os::unix::fs::symlink(dir.path(), &planted_link).expect("plant a link");
        let out = run_link(dir.path(), ".dtrplay.3.link");
        assert!(!out.status.success(), "{out:?}");
        assert!(std::fs::symlink_metadata(dir.path().join("link")).is_err());
    }

    #[test]
    fn temporary_link_names_are_unpredictable() {
        let file: File =
            serde_json::from_value(serde_json::json!({"path": "/srv/l"})).expect("args");
        let drift = PathDrift {
            action: Action::Link {
                src: "/etc".into(),
                replace_dir: false,
            },
            attrs: Wanted::default(),
            reach: Reach::NoDeref,
            outcome: Outcome::default(),
        };
        let a = file.apply_script(&drift);
        let b = file.apply_script(&drift);
        assert!(!a.contains("$$"), "{a}");
        assert_ne!(a, b, "the same temporary name twice");
    }

    #[test]
    fn ancestors_list_each_directory_once() {
        assert_eq!(ancestors("/a/b/c"), ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(ancestors("a//b/"), ["a", "a/b"]);
        assert_eq!(ancestors("./x"), ["x"]);
    }
}
