//! Editing a text file in place, shared by `lineinfile`, `blockinfile` and
//! `replace`: one script fetches the file with its kind and attributes, the
//! edit itself runs on the control machine, and `copy`'s comparison and
//! atomic write (`copy::compare`, `copy::apply_file`) finish the job. A
//! re-run that changes nothing therefore costs one round trip, and an edit
//! that changes something one more, whatever the edit.
//!
//! The fetched content is host data: it is only ever compared and written
//! back, never rendered as a template.

use crate::task::{Check, Context, Outcome, TaskError};
use crate::tasks::copy::{self, FileDrift, FileOptions, WantedFile};
use crate::tasks::remote::{self, FileKind, Probe, Report, Stat};

/// The largest file these tasks edit; the whole file travels to the control
/// machine and back.
pub const EDIT_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads the file at `path` (following links) with its attributes.
pub async fn fetch(cx: &Context<'_>, path: &str) -> Result<Stat, TaskError> {
    let probe = Probe {
        follow: true,
        content_up_to: Some(EDIT_LIMIT),
        ..Probe::default()
    };
    let script = format!(
        "p={}\n{}",
        remote::path_arg(path),
        remote::probe_script("p", &probe)
    );
    let out = cx.run(&script, &[]).await?;
    if !out.success() {
        return Err(remote::with_detail(
            format!("could not read {path}"),
            &remote::failure(&out),
        ));
    }
    let stat = Report::parse(&out.stdout)
        .and_then(|mut report| {
            let stat = report.take_stat()?;
            report.finish()?;
            Ok(stat)
        })
        .map_err(|e| TaskError::failed(format!("could not read {path}: {e}")))?;
    match stat.kind {
        FileKind::Directory => Err(TaskError::failed(format!("Path {path} is a directory !"))),
        FileKind::Other => Err(TaskError::failed(format!(
            "Path {path} is a special file (device, socket or fifo)"
        ))),
        FileKind::File if stat.content.is_none() => Err(TaskError::failed(format!(
            "{path} is larger than {} MiB, too large to edit in place",
            EDIT_LIMIT / (1024 * 1024)
        ))),
        _ => Ok(stat),
    }
}

/// Refuses a path that is not an editable regular file: a directory, a
/// special file, or one past the edit limit. The tasks that edit a
/// system file of their own (`mount`'s fstab, `sysctl`'s file, a
/// `.repo` file) share these words; `lineinfile` keeps Ansible's.
pub fn refuse_uneditable(stat: &Stat, path: &str) -> Result<(), TaskError> {
    match stat.kind {
        FileKind::Directory => Err(TaskError::failed(format!("{path} is a directory"))),
        FileKind::Other => Err(TaskError::failed(format!(
            "{path} is a special file (device, socket or fifo)"
        ))),
        FileKind::File if stat.content.is_none() => Err(TaskError::failed(format!(
            "{path} is larger than {} MiB, too large to edit in place",
            EDIT_LIMIT / (1024 * 1024)
        ))),
        _ => Ok(()),
    }
}

/// The file's current content (empty when it does not exist yet).
pub fn text(stat: &Stat) -> &[u8] {
    stat.content.as_deref().unwrap_or_default()
}

/// What an edit task's `apply` writes, and the message it reports.
#[derive(Debug)]
pub struct EditDrift {
    file: FileDrift,
    msg: Option<String>,
    /// Fields of the module's own result (`found` of `lineinfile`), kept
    /// for the result `apply` returns.
    fields: Vec<(String, serde_json::Value)>,
}

/// Adds a field of the module's own result to a check and to the result
/// its drift's `apply` will return, so that a registered value has it
/// whether the file changed or not.
pub fn with_field(
    check: Check<EditDrift>,
    key: &str,
    value: serde_json::Value,
) -> Check<EditDrift> {
    match check {
        Check::InSync(outcome) => Check::InSync(outcome.with_data(key, value)),
        Check::Drift { mut drift, preview } => {
            drift.fields.push((key.to_string(), value.clone()));
            Check::Drift {
                drift,
                preview: preview.with_data(key, value),
            }
        }
    }
}

/// Compares the edited content with the fetched file. A drift carries the
/// task's own message (`line added`) in place of the generic one about the
/// file; a file in sync reports an empty `msg`, as Ansible's edit modules
/// do. `create_dir` creates a missing parent directory (`create: true`).
pub fn check(
    cx: &Context<'_>,
    path: &str,
    mut stat: Stat,
    new: Vec<u8>,
    options: FileOptions<'_>,
    create_dir: bool,
    msg: Option<String>,
) -> Result<Check<EditDrift>, TaskError> {
    stat.same = Some(stat.kind == FileKind::File && stat.content.as_deref() == Some(&new[..]));
    let wanted = WantedFile::new(path, None, new, options)?;
    let check = copy::compare(
        cx,
        wanted,
        stat,
        path.to_string(),
        remote::parent_dir(path),
        create_dir,
    )?;
    let check = match &msg {
        Some(m) => with_msg(check, m),
        None => check,
    };
    Ok(match check {
        Check::InSync(outcome) => Check::InSync(outcome.with_data("msg", "")),
        Check::Drift { drift, preview } => Check::Drift {
            drift: EditDrift {
                file: drift,
                msg,
                fields: Vec::new(),
            },
            preview,
        },
    })
}

/// Puts the task's own message on a check's outcome, in place of the
/// generic one about the file.
fn with_msg(check: Check<FileDrift>, msg: &str) -> Check<FileDrift> {
    match check {
        Check::InSync(outcome) => Check::InSync(outcome),
        Check::Drift { drift, preview } => Check::Drift {
            drift,
            preview: Outcome {
                msg: Some(msg.to_string()),
                ..preview
            }
            .with_data("msg", msg),
        },
    }
}

/// Applies an edit's drift and keeps the task's own message.
pub async fn apply(cx: &Context<'_>, drift: EditDrift) -> Result<Outcome, TaskError> {
    let mut outcome = copy::apply_file(cx, drift.file).await?;
    if let Some(msg) = drift.msg {
        outcome.msg = Some(msg.clone());
        outcome.data.insert("msg".into(), msg.into());
    }
    for (key, value) in drift.fields {
        outcome.data.insert(key, value);
    }
    Ok(outcome)
}

/// Takes out of a result the fields the file write adds (`dest`, `state`,
/// `mode`, ...) and the `msg` field, for the tasks whose Ansible result is
/// about something else than a file (`cron`, `sysctl`).
pub fn drop_file_fields(outcome: &mut Outcome) {
    for key in ["msg", "dest", "state", "size", "mode", "owner", "group"] {
        outcome.data.remove(key);
    }
}

/// Python's replacement syntax (`\1`, `\g<name>`) in the regex crate's,
/// shared with the `regex_replace` filter so that `backrefs` and `replace`
/// read the templates Ansible users write exactly as the filter does.
pub(crate) use crate::template::python_replacement;

/// Compiles a user's regular expression, naming the argument on failure.
pub fn regex(arg: &str, pattern: &str) -> Result<regex::bytes::Regex, TaskError> {
    regex::bytes::RegexBuilder::new(pattern)
        .multi_line(false)
        .build()
        .map_err(|e| {
            TaskError::failed(format!(
                "{arg} {pattern:?} is not a regular expression dtrplay supports: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_backrefs_become_regex_crate_groups() {
        assert_eq!(python_replacement(r"x=\1"), "x=${1}");
        assert_eq!(python_replacement(r"\g<1>0"), "${1}0");
        assert_eq!(python_replacement(r"\g<key> $HOME"), "${key} $$HOME");
        assert_eq!(python_replacement(r"a\\b\n"), "a\\b\n");
    }

    #[test]
    fn backrefs_expand_like_python() {
        let re = regex("regexp", r"^(\w+)=(.*)$").expect("compiles");
        let caps = re.captures(b"port=80").expect("matches");
        let mut out = Vec::new();
        caps.expand(python_replacement(r"\1=8080 # was \2").as_bytes(), &mut out);
        assert_eq!(out, b"port=8080 # was 80");
    }
}
