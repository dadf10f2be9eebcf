//! The `yum_repository` task: one repository section of a `.repo` file in
//! `reposdir` (`/etc/yum.repos.d/<file>.repo`, `file` defaulting to the
//! repository's `name`) added, replaced or removed, as Ansible's module
//! does it.
//!
//! Ansible reads the file with Python's `RawConfigParser` and writes the
//! whole file back through it, so dtrplay reads and writes it the same
//! way, on the control machine (`tasks::edit` fetches the file and writes
//! it back): comments are dropped, option names are lower-cased, a
//! section that is set is removed and added again at the end of the file
//! with its options in alphabetical order, `key = value` lines, values of
//! several lines (`baseurl`, `gpgkey` lists) continued on lines that start
//! with a tab, and a blank line after every section. A file left without
//! sections is removed.
//!
//! Whether anything changed is decided as Ansible decides it, by comparing
//! the sorted dumps of the file's repositories before and after, so a file
//! whose content is already right is left byte for byte as it was (only
//! `mode`, `owner` and `group` are then compared).
//!
//! Differences from Ansible: of the file attributes only `mode`, `owner`
//! and `group` are supported (no SELinux context, `attributes` or
//! `unsafe_writes`); a file the parser refuses (duplicate sections or
//! options, lines before the first section) fails with a message instead
//! of a Python traceback.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EDIT_LIMIT, EditDrift};
use crate::tasks::remote::{self, FileKind, Probe, Report, Stat};

mod params;
mod repofile;

pub use params::spec;
use repofile::RepoFile;

/// The arguments of `yum_repository`, kept as coerced by [`spec`]: most of
/// them are repository options written to the file under their own name.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct YumRepository {
    args: Map<String, Value>,
}

/// What `apply` does: write the new file, or remove the file that has no
/// repository left.
#[derive(Debug)]
pub enum Drift {
    Write(Box<EditDrift>),
    Remove { dest: String },
}

/// What `check` found on the host.
struct Found {
    reposdir_exists: bool,
    stat: Stat,
}

impl YumRepository {
    fn str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    fn repoid(&self) -> &str {
        self.str("name").unwrap_or_default()
    }

    fn present(&self) -> bool {
        self.str("state") != Some("absent")
    }

    /// `reposdir/file.repo`.
    fn dest(&self) -> String {
        let dir = self.str("reposdir").unwrap_or("/etc/yum.repos.d");
        let file = self.str("file").unwrap_or(self.repoid());
        format!("{}/{file}.repo", dir.trim_end_matches('/'))
    }

    fn options(&self) -> FileOptions<'_> {
        FileOptions {
            mode: self.str("mode"),
            owner: self.str("owner"),
            group: self.str("group"),
            force: true,
            backup: false,
            validate: None,
        }
    }

    /// Reads whether `reposdir` is a directory and the repo file, in one
    /// round trip.
    async fn fetch(&self, cx: &Context<'_>, dest: &str) -> Result<Found, TaskError> {
        let dir = self.str("reposdir").unwrap_or("/etc/yum.repos.d");
        let probe = Probe {
            follow: true,
            content_up_to: Some(EDIT_LIMIT),
            ..Probe::default()
        };
        let script = format!(
            "d={}\nif [ -d \"$d\" ]; then echo yes; else echo no; fi\np={}\n{}",
            remote::path_arg(dir),
            remote::path_arg(dest),
            remote::probe_script("p", &probe)
        );
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not read {dest}"),
                &remote::failure(&out),
            ));
        }
        let (first, rest) = out
            .stdout
            .split_first_line()
            .ok_or_else(|| TaskError::failed(format!("could not read {dest}: no answer")))?;
        let stat = Report::parse(rest)
            .and_then(|mut report| {
                let stat = report.take_stat()?;
                report.finish()?;
                Ok(stat)
            })
            .map_err(|e| TaskError::failed(format!("could not read {dest}: {e}")))?;
        crate::tasks::edit::refuse_uneditable(&stat, dest)?;
        Ok(Found {
            reposdir_exists: first == b"yes",
            stat,
        })
    }
}

/// Splits off the first line of a command's output.
trait FirstLine {
    fn split_first_line(&self) -> Option<(&[u8], &[u8])>;
}

impl FirstLine for Vec<u8> {
    fn split_first_line(&self) -> Option<(&[u8], &[u8])> {
        let at = self.iter().position(|b| *b == b'\n')?;
        Some((&self[..at], &self[at + 1..]))
    }
}

/// The task's result fields, as Ansible returns them.
fn finish(mut outcome: Outcome, repo: &str, state: &str) -> Outcome {
    edit::drop_file_fields(&mut outcome);
    outcome.with_data("repo", repo).with_data("state", state)
}

#[async_trait]
impl Task for YumRepository {
    type Drift = Drift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<Drift>, TaskError> {
        let state = if self.present() { "present" } else { "absent" };
        let repo = self.repoid().to_string();
        let wanted = if self.present() {
            Some(params::repo_options(&self.args, cx)?)
        } else {
            None
        };
        let dest = self.dest();
        let found = self.fetch(cx, &dest).await?;
        if !found.reposdir_exists {
            let dir = self.str("reposdir").unwrap_or("/etc/yum.repos.d");
            return Err(TaskError::failed(format!(
                "Repo directory '{dir}' does not exist."
            )));
        }
        let raw = edit::text(&found.stat).to_vec();
        let text = std::str::from_utf8(&raw).map_err(|e| {
            TaskError::failed(format!(
                "{dest} is not UTF-8 text ({e}); yum_repository reads and writes UTF-8 only"
            ))
        })?;
        let mut file = RepoFile::parse(text)
            .map_err(|e| TaskError::failed(format!("cannot read {dest}: {e}")))?;
        let before = file.dump();
        file.remove(&repo);
        if let Some(options) = wanted {
            file.add(&repo, options);
        }
        let changed = file.dump() != before;
        let exists = found.stat.kind == FileKind::File;

        if changed && file.is_empty() {
            // The last repository of the file is gone: Ansible removes it.
            let preview = Outcome::changed(format!("repository {repo} removed, {dest} removed"))
                .with_diff(Diff {
                    subject: dest.clone(),
                    before: Some(text.to_string()),
                    after: None,
                });
            return Ok(Check::Drift {
                drift: Drift::Remove { dest },
                preview: finish(preview, &repo, state),
            });
        }
        if !exists && !changed {
            return Ok(Check::InSync(finish(Outcome::ok(), &repo, state)));
        }
        let msg = match (changed, self.present()) {
            (false, _) => None,
            (true, true) => Some(format!("repository {repo} written to {dest}")),
            (true, false) => Some(format!("repository {repo} removed from {dest}")),
        };
        let new = if changed {
            file.write().into_bytes()
        } else {
            raw
        };
        let check = edit::check(cx, &dest, found.stat, new, self.options(), false, msg)?;
        Ok(match check {
            Check::InSync(outcome) => Check::InSync(finish(outcome, &repo, state)),
            Check::Drift { drift, preview } => Check::Drift {
                drift: Drift::Write(Box::new(drift)),
                preview: finish(preview, &repo, state),
            },
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: Drift) -> Result<Outcome, TaskError> {
        let state = if self.present() { "present" } else { "absent" };
        let repo = self.repoid();
        match drift {
            Drift::Write(drift) => Ok(finish(edit::apply(cx, *drift).await?, repo, state)),
            Drift::Remove { dest } => {
                let out = cx
                    .run(&format!("rm -f -- {}\n", remote::path_arg(&dest)), &[])
                    .await?;
                if !out.success() {
                    return Err(remote::with_detail(
                        format!("Cannot remove empty repo file {dest}."),
                        &remote::failure(&out),
                    ));
                }
                Ok(finish(
                    Outcome::changed(format!("repository {repo} removed, {dest} removed")),
                    repo,
                    state,
                ))
            }
        }
    }
}
