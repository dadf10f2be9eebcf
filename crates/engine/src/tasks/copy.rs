//! The `copy` task, and the "put this content at that path" machinery it
//! shares with `template`.
//!
//! Both tasks end the same way: some bytes must be at a path on the host
//! with a given mode and owner. [`WantedFile`] says that, [`check_file`]
//! compares it with the host in one script (existence, kind, content, mode,
//! owner, group, and the old content when a diff is wanted), and
//! [`apply_file`] acts in one script: an atomic write when the content
//! differs (see `remote::atomic_write_script`), a bare chmod/chown when only
//! attributes do. The content is compared on the host
//! (`remote::compare_script`): small text with shell builtins against a
//! copy inside the script, anything else by its sha256, so a re-run starts
//! no program beyond `stat` for it.
//!
//! Differences from Ansible, on purpose: a directory as `src` (recursive
//! copy) and `remote_src` are not supported, and the registered result has
//! no sha1 `checksum`/`md5sum`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::search_path::SrcKind;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, Attrs, FileKind, Probe, Report, SetAttrs, Stat};

/// The largest old content fetched for a diff; larger files are summarised.
const DIFF_LIMIT: u64 = 256 * 1024;

/// Contents up to this size are written by the script itself; larger ones
/// travel on standard input (a file on the host, then `cat`).
const INLINE_CONTENT_MAX: usize = 256 * 1024;

/// The arguments of `copy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The content to write. A mapping or list is written as JSON, the way
    /// Ansible's copy action does.
    pub content: Option<Value>,
    /// A file on the control machine; the loader resolves it to an
    /// absolute path (relative to the playbook's `files/` directory).
    pub src: Option<String>,
    pub dest: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub backup: bool,
    /// When false, an existing destination is left alone entirely.
    #[serde(default = "yes")]
    pub force: bool,
    /// A command run on the new file before it is put in place; `%s` is its
    /// path.
    pub validate: Option<String>,
    /// SELinux contexts: ignored where SELinux is off (`tasks/selinux.rs`).
    pub seuser: Option<String>,
    pub serole: Option<String>,
    pub setype: Option<String>,
    pub selevel: Option<String>,
}

fn yes() -> bool {
    true
}

/// The parameters of `copy`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "copy",
        vec![
            Param::new("content", Kind::Raw),
            Param::new("src", Kind::Path),
            Param::new("dest", Kind::Path).required(),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("force", Kind::Bool)
                .default(true)
                .aliases(&["thirsty"]),
            Param::new("validate", Kind::Str),
        ]
        .into_iter()
        .chain(crate::tasks::selinux::params())
        .collect(),
    )
}

impl Copy {
    /// What the host should end up with: the content (read from `src` on
    /// the control machine when given) and its attributes.
    pub async fn wanted(&self) -> Result<WantedFile, TaskError> {
        self.wanted_from(self.src.as_deref()).await
    }

    /// The same, with `src` found on the control machine at `src`.
    async fn wanted_from(&self, src: Option<&str>) -> Result<WantedFile, TaskError> {
        let inline = self.content.as_ref().filter(|c| !c.is_null());
        let content = match (inline, src) {
            (Some(_), Some(_)) => {
                return Err(TaskError::failed("src and content are mutually exclusive"));
            }
            (Some(c), None) => content_bytes(c)?,
            (None, Some(src)) => read_src(src).await?,
            (None, None) => return Err(TaskError::failed("src (or content) is required")),
        };
        let basename = match &self.src {
            Some(src) => Some(remote::base_name(src).to_string()),
            None if self.dest.ends_with('/') => {
                return Err(TaskError::failed("can not use content with a dir as dest"));
            }
            None => None,
        };
        WantedFile::new(
            &self.dest,
            basename,
            content,
            FileOptions {
                mode: self.mode.as_deref(),
                owner: self.owner.as_deref(),
                group: self.group.as_deref(),
                force: self.force,
                backup: self.backup,
                validate: self.validate.as_deref(),
            },
        )
    }
}

#[async_trait]
impl Task for Copy {
    type Drift = FileDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<FileDrift>, TaskError> {
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
        let found = self
            .src
            .as_ref()
            .map(|s| cx.find_src(SrcKind::Files, s).display().to_string());
        let wanted = self.wanted_from(found.as_deref()).await?;
        let mut check = check_file(cx, wanted).await?;
        if let Some(src) = &found {
            let (Check::InSync(outcome)
            | Check::Drift {
                preview: outcome, ..
            }) = &mut check;
            outcome.data.insert("src".into(), src.clone().into());
        }
        Ok(check)
    }

    async fn apply(&self, cx: &Context<'_>, drift: FileDrift) -> Result<Outcome, TaskError> {
        let mut outcome = apply_file(cx, drift).await?;
        if let Some(src) = &self.src {
            let src = cx.find_src(SrcKind::Files, src).display().to_string();
            outcome.data.insert("src".into(), src.into());
        }
        Ok(outcome)
    }
}

/// Reads a `src` file on the control machine.
async fn read_src(src: &str) -> Result<Vec<u8>, TaskError> {
    if src.ends_with('/') {
        return Err(TaskError::failed(format!(
            "src {src} is a directory; copying directories is not supported"
        )));
    }
    match tokio::fs::metadata(src).await {
        Ok(meta) if meta.is_dir() => {
            return Err(TaskError::failed(format!(
                "src {src} is a directory; copying directories is not supported"
            )));
        }
        Ok(_) => {}
        Err(e) => {
            return Err(TaskError::failed(format!(
                "could not find or access '{src}' on the control machine: {e}"
            )));
        }
    }
    // A vaulted source is decrypted, as Ansible's `decrypt: true` default does.
    crate::vault::read_file(std::path::Path::new(src)).map_err(|e| {
        TaskError::failed(format!(
            "could not read '{src}' on the control machine: {e}"
        ))
    })
}

/// The bytes Ansible would write for a `content` value.
fn content_bytes(content: &Value) -> Result<Vec<u8>, TaskError> {
    Ok(match content {
        Value::String(s) => s.clone().into_bytes(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => n.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Array(_) | Value::Object(_) => python_json(content)
            .map_err(|e| TaskError::failed(format!("could not write content as JSON: {e}")))?,
    })
}

/// Serializes like Python's `json.dumps` with its defaults (`", "` and
/// `": "` separators, non-ASCII escaped), so that a file Ansible wrote from a
/// mapping compares equal and a second run changes nothing.
fn python_json(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            return Ok(());
        }
        writer.write_all(b", ")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            return Ok(());
        }
        writer.write_all(b", ")
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() && c != '\x7f' {
                writer.write_all(&[c as u8])?;
                continue;
            }
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
        }
        Ok(())
    }
}

/// The options `copy` and `template` share, as written in the task.
#[derive(Debug, Clone, Copy)]
pub struct FileOptions<'a> {
    pub mode: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
    pub force: bool,
    pub backup: bool,
    pub validate: Option<&'a str>,
}

/// Bytes that should be at a path on the host, with their attributes.
#[derive(Debug, Clone)]
pub struct WantedFile {
    /// The destination as written: a file, an existing directory to copy
    /// into, or a directory ending in `/` (created when missing).
    pub dest: String,
    /// The name used inside a directory destination (the source's base
    /// name); `None` when the content is inline.
    pub basename: Option<String>,
    pub content: Vec<u8>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub force: bool,
    pub backup: bool,
    /// The validate command, split into words.
    pub validate: Option<Vec<String>>,
}

impl WantedFile {
    pub fn new(
        dest: &str,
        basename: Option<String>,
        content: Vec<u8>,
        options: FileOptions<'_>,
    ) -> Result<WantedFile, TaskError> {
        if dest.is_empty() {
            return Err(TaskError::failed("dest must not be empty"));
        }
        let mode = options
            .mode
            .map(remote::parse_mode)
            .transpose()
            .map_err(|e| TaskError::failed(format!("mode {e}")))?;
        let validate = match options.validate {
            None => None,
            Some(v) if !v.contains("%s") => {
                return Err(TaskError::failed(format!("validate must contain %s: {v}")));
            }
            Some(v) => Some(
                remote::shlex_split(v)
                    .map_err(|e| TaskError::failed(format!("cannot split validate {v:?}: {e}")))?,
            ),
        };
        Ok(WantedFile {
            dest: dest.to_string(),
            basename,
            content,
            mode,
            owner: options.owner.map(str::to_string),
            group: options.group.map(str::to_string),
            force: options.force,
            backup: options.backup,
            validate,
        })
    }
}

/// What `check_file` found to differ; `apply_file` acts on exactly this.
#[derive(Debug)]
pub struct FileDrift {
    wanted: WantedFile,
    /// The resolved path (inside `dest` when it is a directory).
    path: String,
    /// The directory holding `path`.
    dir: String,
    /// Whether `dir` must be created (a `dest` ending in `/`).
    create_dir: bool,
    /// The attributes of the file being replaced or changed.
    before: Option<Attrs>,
    /// Whether the content must be written (the file is new or differs).
    write: bool,
    /// The attributes to change when the content is already right.
    attrs: AttrChanges,
}

/// Attribute changes, each present only when it differs.
#[derive(Debug, Default, Clone)]
struct AttrChanges {
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
}

impl AttrChanges {
    fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

/// Compares a wanted file with the host, in one script.
pub async fn check_file(
    cx: &Context<'_>,
    wanted: WantedFile,
) -> Result<Check<FileDrift>, TaskError> {
    let (script, fixed_path) = locate_script(&wanted);
    let probe = Probe {
        follow: true,
        same_as: Some(&wanted.content),
        content_up_to: cx.diff.then_some(DIFF_LIMIT),
        link_target: false,
    };
    let script = format!("{script}{}", remote::probe_script("p", &probe));
    let out = cx.run(&script, &[]).await?;
    if !out.success() {
        let failure = remote::failure(&out);
        return Err(remote::with_detail(
            format!("could not inspect {}", wanted.dest),
            &failure,
        ));
    }
    let parsed = Report::parse(&out.stdout).and_then(|mut report| {
        let into = report.flag("into")?;
        let parent = report.flag("parent")?;
        let stat = report.take_stat()?;
        report.finish()?;
        Ok((into, parent, stat))
    });
    let (into, parent_exists, stat) =
        parsed.map_err(|e| TaskError::failed(format!("could not inspect {}: {e}", wanted.dest)))?;
    let (path, dir, create_dir) = match (fixed_path, into, &wanted.basename) {
        (Some(resolved), _, _) => resolved,
        (None, true, Some(base)) => (
            format!("{}/{base}", wanted.dest),
            wanted.dest.clone(),
            false,
        ),
        (None, _, _) => (wanted.dest.clone(), remote::parent_dir(&wanted.dest), false),
    };
    // In check mode an earlier task may only have reported that it would
    // create the directory, so the file is shown as one to create (apply
    // still fails if the directory is really missing). Ansible fails here,
    // which makes `--check` useless for the most common playbook shape.
    if !parent_exists && !create_dir && !cx.check_mode {
        return Err(TaskError::failed(format!(
            "Destination directory {dir} does not exist"
        )));
    }
    compare(cx, wanted, stat, path, dir, create_dir)
}

/// The start of the check script: sets `p` to the final path and prints
/// whether `dest` is a directory to copy into (`into`) and whether the
/// final path's directory exists (`parent`). Returns the resolved path,
/// directory and "create it" flag when they are known without asking.
fn locate_script(wanted: &WantedFile) -> (String, Option<(String, String, bool)>) {
    let dest = &wanted.dest;
    if let (true, Some(base)) = (dest.ends_with('/'), &wanted.basename) {
        let dir = dest.trim_end_matches('/');
        let dir = if dir.is_empty() { "/" } else { dir };
        let path = format!("{dir}/{base}").replace("//", "/");
        let script = format!(
            "echo into=0\np={}\nif [ -d {} ]; then echo parent=1; else echo parent=0; fi\n",
            remote::path_arg(&path),
            remote::path_arg(dir),
        );
        return (script, Some((path, dir.to_string(), true)));
    }
    let parent = remote::path_arg(&remote::parent_dir(dest));
    let script = match &wanted.basename {
        Some(base) => format!(
            "d={}\nif [ -d \"$d\" ]; then echo into=1; p=\"$d\"/{}; pd=\"$d\"; \
             else echo into=0; p=\"$d\"; pd={parent}; fi\n\
             if [ -d \"$pd\" ]; then echo parent=1; else echo parent=0; fi\n",
            remote::path_arg(dest),
            remote::shell_quote(base),
        ),
        None => format!(
            "echo into=0\np={}\nif [ -d {parent} ]; then echo parent=1; else echo parent=0; fi\n",
            remote::path_arg(dest),
        ),
    };
    (script, None)
}

/// Decides what differs between the wanted file and what the probe found.
/// Tasks that compute a file's new content from its old one (`lineinfile`
/// and its kin, see `tasks::edit`) hand their result over here, with
/// `stat.same` already answered.
pub fn compare(
    cx: &Context<'_>,
    wanted: WantedFile,
    stat: Stat,
    path: String,
    dir: String,
    create_dir: bool,
) -> Result<Check<FileDrift>, TaskError> {
    match stat.kind {
        FileKind::Directory => {
            return Err(TaskError::failed(format!(
                "dest {path} is a directory; it cannot be replaced by a file"
            )));
        }
        FileKind::Other => {
            return Err(TaskError::failed(format!(
                "dest {path} is a special file (device, socket or fifo); refusing to replace it"
            )));
        }
        FileKind::Absent | FileKind::File | FileKind::Link => {}
    }
    let mut base = Outcome::ok()
        .with_data("dest", path.clone())
        .with_data("state", "file");
    if stat.kind != FileKind::Absent && !wanted.force {
        // Ansible's `force: false` leaves an existing file entirely alone.
        return Ok(Check::InSync(base));
    }
    let write = stat.kind != FileKind::File || stat.same != Some(true);
    let mut attrs = AttrChanges::default();
    let mut changes: Vec<String> = Vec::new();
    if let Some(before) = stat.attrs.as_ref().filter(|_| stat.kind == FileKind::File) {
        if write {
            changes.push("content".into());
        }
        if let Some(mode) = wanted.mode.filter(|m| *m != before.mode) {
            attrs.mode = Some(mode);
            changes.push(format!(
                "mode {} → {}",
                remote::mode_text(before.mode),
                remote::mode_text(mode)
            ));
        }
        if let Some(owner) = wanted.owner.as_ref().filter(|o| !before.owner_is(o)) {
            attrs.owner = Some(owner.clone());
            changes.push(format!("owner {} → {owner}", before.owner));
        }
        if let Some(group) = wanted.group.as_ref().filter(|g| !before.group_is(g)) {
            attrs.group = Some(group.clone());
            changes.push(format!("group {} → {group}", before.group));
        }
        base = base
            .with_data(
                "mode",
                remote::mode_text(wanted.mode.unwrap_or(before.mode)),
            )
            .with_data(
                "owner",
                wanted.owner.clone().unwrap_or(before.owner.clone()),
            )
            .with_data(
                "group",
                wanted.group.clone().unwrap_or(before.group.clone()),
            )
            .with_data("size", wanted.content.len());
    }
    if !write && attrs.is_empty() {
        return Ok(Check::InSync(base));
    }
    let before = stat.attrs.clone().filter(|_| stat.kind == FileKind::File);
    let summary = match &before {
        None => {
            let mut what = format!("{path}: {} → file", stat.kind.as_str());
            if let Some(mode) = wanted.mode {
                what.push_str(&format!(", mode {}", remote::mode_text(mode)));
            }
            what
        }
        Some(_) => format!("{path}: {}", changes.join(", ")),
    };
    let mut preview = base.with_msg(format!("would change {summary}"));
    preview.changed = true;
    if cx.diff {
        if write {
            preview
                .diffs
                .push(content_diff(&path, &stat, &wanted.content));
        }
        if let Some(diff) = attrs_diff(&path, before.as_ref(), &attrs) {
            preview.diffs.push(diff);
        }
    }
    Ok(Check::Drift {
        drift: FileDrift {
            wanted,
            path,
            dir,
            create_dir,
            before,
            write,
            attrs,
        },
        preview,
    })
}

/// The content diff, or a summary when either side is binary or large.
fn content_diff(path: &str, stat: &Stat, after: &[u8]) -> Diff {
    let before = match stat.kind {
        FileKind::File => Some(match &stat.content {
            Some(bytes) => shown(bytes),
            None => format!(
                "({} bytes, not shown: larger than {} KiB)\n",
                stat.size.unwrap_or(0),
                DIFF_LIMIT / 1024
            ),
        }),
        FileKind::Link => Some("(a symbolic link, to be replaced by a file)\n".to_string()),
        _ => None,
    };
    let after = if after.len() as u64 > DIFF_LIMIT {
        format!(
            "({} bytes, not shown: larger than {} KiB)\n",
            after.len(),
            DIFF_LIMIT / 1024
        )
    } else {
        shown(after)
    };
    Diff {
        subject: path.to_string(),
        before,
        after: Some(after),
    }
}

/// Text as it is, or a one-line summary of binary content.
fn shown(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text.to_string(),
        _ => format!(
            "(binary content, {} bytes, sha256 {})\n",
            bytes.len(),
            hex::encode(Sha256::digest(bytes))
        ),
    }
}

/// A small before/after listing of the attributes that change.
fn attrs_diff(path: &str, before: Option<&Attrs>, changes: &AttrChanges) -> Option<Diff> {
    let before = before?;
    if changes.is_empty() {
        return None;
    }
    let mut old = String::new();
    let mut new = String::new();
    if let Some(mode) = changes.mode {
        old.push_str(&format!("mode: {}\n", remote::mode_text(before.mode)));
        new.push_str(&format!("mode: {}\n", remote::mode_text(mode)));
    }
    if let Some(owner) = &changes.owner {
        old.push_str(&format!("owner: {}\n", before.owner));
        new.push_str(&format!("owner: {owner}\n"));
    }
    if let Some(group) = &changes.group {
        old.push_str(&format!("group: {}\n", before.group));
        new.push_str(&format!("group: {group}\n"));
    }
    Some(Diff {
        subject: format!("{path} (attributes)"),
        before: Some(old),
        after: Some(new),
    })
}

/// Acts on the drift `check_file` found, in one script.
pub async fn apply_file(cx: &Context<'_>, drift: FileDrift) -> Result<Outcome, TaskError> {
    let FileDrift {
        wanted,
        path,
        dir,
        create_dir,
        before,
        write,
        attrs,
    } = drift;
    // Small contents travel inside the script, written by the shell's own
    // `printf`; larger ones on standard input, written by `cat`.
    let inline = wanted.content.len() <= INLINE_CONTENT_MAX;
    let script = if write {
        remote::atomic_write_script(&remote::AtomicWrite {
            path: &path,
            dir: &dir,
            create_dir,
            attrs: SetAttrs {
                // An existing file keeps its mode unless told otherwise.
                mode: wanted.mode.or(before.as_ref().map(|b| b.mode)),
                owner: wanted.owner.as_deref(),
                group: wanted.group.as_deref(),
            },
            keep_ids: before.as_ref().map(|b| (b.uid, b.gid)),
            content: inline.then_some(wanted.content.as_slice()),
            backup: wanted.backup,
            validate: wanted.validate.clone(),
        })
    } else {
        format!(
            "{}p={}\n{}",
            remote::FAIL_FN,
            remote::path_arg(&path),
            remote::attrs_script(
                "\"$p\"",
                &SetAttrs {
                    mode: attrs.mode,
                    owner: attrs.owner.as_deref(),
                    group: attrs.group.as_deref(),
                },
                remote::Reach::Path,
            )
        )
    };
    let stdin: &[u8] = if write && !inline {
        &wanted.content
    } else {
        &[]
    };
    let out = cx.run(&script, stdin).await?;
    if !out.success() {
        let failure = remote::failure(&out);
        if failure.code.as_deref() == Some("validate") {
            return Err(TaskError::failed_with(
                "failed to validate",
                Outcome::ok().with_output(&remote::without_marker(&out)),
            ));
        }
        let msg = match failure.code.as_deref() {
            Some("parent") => format!("Destination directory {dir} does not exist"),
            Some("mkdir") => format!("could not create directory {dir}"),
            Some("mktemp") => format!("could not create a temporary file in {dir}"),
            Some("write") => format!("could not write a temporary file in {dir}"),
            Some("chmod") => format!("could not set the mode of {path}"),
            Some("chown") => format!("could not set the owner or group of {path}"),
            Some("backup") => format!("could not back up {path}"),
            Some("rename") => format!("could not move the new file into place at {path}"),
            _ => format!("could not write {path} (exit status {})", out.status),
        };
        return Err(remote::with_detail(msg, &failure));
    }
    let mut outcome = Outcome::changed(match (&before, write) {
        (None, _) => format!("created {path}"),
        (Some(_), true) => format!("updated {path}"),
        (Some(_), false) => format!("changed the attributes of {path}"),
    })
    .with_data("dest", path.clone())
    .with_data("state", "file")
    .with_data("size", wanted.content.len());
    if let Some(mode) = wanted.mode.or(before.as_ref().map(|b| b.mode)) {
        outcome = outcome.with_data("mode", remote::mode_text(mode));
    }
    if let Some(owner) = wanted.owner.or(before.as_ref().map(|b| b.owner.clone())) {
        outcome = outcome.with_data("owner", owner);
    }
    if let Some(group) = wanted.group.or(before.as_ref().map(|b| b.group.clone())) {
        outcome = outcome.with_data("group", group);
    }
    let backup = Report::parse(&out.stdout)
        .ok()
        .and_then(|mut r| r.take("backup"));
    if let Some(suffix) = backup {
        outcome = outcome.with_data("backup_file", format!("{path}.{suffix}"));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_are_written_as_python_json() {
        let bytes = content_bytes(&json!({"a": [1, "é"], "b": {"c": true}})).expect("json");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"a": [1, "\u00e9"], "b": {"c": true}}"#
        );
        assert_eq!(content_bytes(&json!(true)).expect("bool"), b"True");
    }

    #[test]
    fn binary_and_text_are_shown_differently() {
        assert_eq!(shown(b"hi\n"), "hi\n");
        assert!(shown(b"\0\x01").starts_with("(binary content, 2 bytes, sha256 "));
        assert!(shown(&[0xff, 0xfe]).starts_with("(binary content"));
    }

    #[test]
    fn validate_needs_a_placeholder() {
        let options = FileOptions {
            mode: None,
            owner: None,
            group: None,
            force: true,
            backup: false,
            validate: Some("visudo -c"),
        };
        let err = WantedFile::new("/x", None, Vec::new(), options).expect_err("refused");
        assert_eq!(err.to_string(), "validate must contain %s: visudo -c");
    }
}
