//! The `fetch` task: a file of the host copied to the control machine, as
//! Ansible's `fetch` does: into `dest/<inventory_hostname>/<src>`, or with
//! `flat` into `dest` itself (`dest/<basename>` when `dest` ends with `/`),
//! a relative `dest` being relative to the playbook's directory.
//!
//! One round trip: the check sends the SHA-1 of the local copy (when there
//! is one) and the host answers with its own SHA-1, followed by the bytes
//! only when the two differ, so a file already fetched costs no transfer.
//! The apply writes those bytes atomically on the control machine. The
//! bytes are host data: they are written exactly and never rendered.
//!
//! Differences from Ansible: check mode reports what would be fetched
//! (Ansible skips the task), and a `src` whose normalized path would leave
//! `dest/<inventory_hostname>/` is refused.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `fetch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub flat: bool,
    pub fail_on_missing: bool,
    pub validate_checksum: bool,
}

/// The parameters of `fetch`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "fetch",
        vec![
            Param::new("src", Kind::Path).required(),
            Param::new("dest", Kind::Path).required(),
            Param::new("flat", Kind::Bool).default(false),
            Param::new("fail_on_missing", Kind::Bool)
                .default(true)
                .aliases(&["fail_when_missing"]),
            Param::new("validate_checksum", Kind::Bool)
                .default(true)
                .aliases(&["validate_md5", "verify_md5"]),
        ],
    )
}

/// The largest file `fetch` copies: the bytes travel through memory.
pub const FETCH_LIMIT: u64 = 256 * 1024 * 1024;

/// What the apply writes: the host's bytes and where they go.
pub struct Fetched {
    dest: PathBuf,
    content: Vec<u8>,
    remote_checksum: String,
}

/// The SHA-1 of `bytes` in hex, Ansible's `checksum`.
fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        bytes,
    ))
}

fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
}

/// A path with `.` and `..` resolved lexically, as Python's `normpath`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Fetch {
    /// The local path the file goes to, as Ansible computes it.
    fn local_dest(&self, cx: &Context<'_>) -> Result<PathBuf, TaskError> {
        let base = cx
            .var("playbook_dir")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let anchored = |p: &str| {
            if p.starts_with('/') {
                PathBuf::from(p)
            } else {
                base.join(p)
            }
        };
        if self.flat {
            let dest = if self.dest.ends_with('/') {
                let name = remote::base_name(&self.src);
                anchored(&format!("{}{name}", self.dest))
            } else {
                let dest = anchored(&self.dest);
                if dest.is_dir() {
                    return Err(TaskError::failed(
                        "dest is an existing directory, use a trailing slash if you want to fetch src into that directory",
                    ));
                }
                dest
            };
            let dest = normalize(&dest);
            if dest.is_dir() {
                return Err(TaskError::failed(format!(
                    "calculated dest '{}' is an existing directory, use another path that does not point to an existing directory",
                    dest.display()
                )));
            }
            return Ok(dest);
        }
        let host_dir = normalize(&anchored(&self.dest).join(cx.host));
        let dest = normalize(&host_dir.join(self.src.trim_start_matches('/')));
        if !dest.starts_with(&host_dir) || dest == host_dir {
            return Err(TaskError::failed(format!(
                "Detected directory traversal, expected to be contained in '{}' but got '{}'",
                host_dir.display(),
                dest.display()
            )));
        }
        Ok(dest)
    }

    /// The script: refuse what cannot be fetched, print the host's SHA-1,
    /// then the bytes unless they match the local copy's `local` SHA-1.
    fn script(&self, local: Option<&str>) -> String {
        format!(
            "{}p={}\n[ -e \"$p\" ] || fail missing\n[ -d \"$p\" ] && fail dir\n\
             [ -r \"$p\" ] || fail unreadable\n\
             [ \"$(stat -L -c %s -- \"$p\")\" -le {FETCH_LIMIT} ] || fail big\n\
             set -- $(sha1sum < \"$p\") || fail sum\nprintf 'sha1=%s\\n' \"$1\"\n\
             [ \"$1\" = {} ] && exit 0\nexec cat -- \"$p\"\n",
            remote::FAIL_FN,
            remote::path_arg(&self.src),
            remote::shell_quote(local.unwrap_or("none")),
        )
    }

    /// The result of a file that is missing or a directory, which only
    /// fails with `fail_on_missing`; Ansible words the two cases apart.
    fn not_fetched(&self, failed: &str, ignored: &str) -> Result<Check<Fetched>, TaskError> {
        if self.fail_on_missing {
            let mut data = serde_json::Map::new();
            data.insert("file".into(), self.src.clone().into());
            return Err(TaskError::Failed {
                msg: failed.to_string(),
                data,
            });
        }
        Ok(Check::InSync(
            Outcome::ok()
                .with_msg(ignored)
                .with_data("file", self.src.clone()),
        ))
    }
}

#[async_trait]
impl Task for Fetch {
    type Drift = Fetched;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<Fetched>, TaskError> {
        let dest = self.local_dest(cx)?;
        let local = std::fs::read(&dest).ok();
        let local_sum = local.as_deref().map(sha1_hex);
        let out = cx.run(&self.script(local_sum.as_deref()), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let src = &self.src;
            return match failure.code.as_deref() {
                Some("missing") => {
                    let msg = "the remote file does not exist, not transferring, ignored";
                    self.not_fetched(msg, msg)
                }
                Some("dir") => {
                    let msg = "remote file is a directory, fetch cannot work on directories";
                    self.not_fetched(msg, &format!("{msg}, not transferring, ignored"))
                }
                Some("unreadable") => {
                    Err(TaskError::failed(format!("file is not readable: {src}")))
                }
                Some("big") => Err(TaskError::failed(format!(
                    "{src} is larger than {} MiB, too large to fetch",
                    FETCH_LIMIT / (1024 * 1024)
                ))),
                _ => Err(remote::with_detail(
                    format!("could not read {src}"),
                    &failure,
                )),
            };
        }
        let stdout = out.stdout;
        let split = stdout
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(stdout.len());
        let remote_checksum = std::str::from_utf8(&stdout[..split])
            .ok()
            .and_then(|line| line.strip_prefix("sha1="))
            .unwrap_or_default()
            .to_string();
        let dest_text = dest.display().to_string();
        if local_sum.as_deref() == Some(remote_checksum.as_str()) {
            return Ok(Check::InSync(
                Outcome::ok()
                    .with_data("md5sum", local.as_deref().map(md5_hex))
                    .with_data("file", self.src.clone())
                    .with_data("dest", dest_text)
                    .with_data("checksum", remote_checksum),
            ));
        }
        let content = stdout.get(split + 1..).unwrap_or_default().to_vec();
        let checksum = sha1_hex(&content);
        if self.validate_checksum && checksum != remote_checksum {
            let mut data = serde_json::Map::new();
            data.insert("file".into(), self.src.clone().into());
            data.insert("dest".into(), dest_text.into());
            data.insert("checksum".into(), checksum.into());
            data.insert("remote_checksum".into(), remote_checksum.into());
            data.insert("remote_md5sum".into(), Value::Null);
            data.insert("md5sum".into(), md5_hex(&content).into());
            return Err(TaskError::Failed {
                msg: "checksum mismatch".into(),
                data,
            });
        }
        let preview = Outcome::changed(format!("fetched {} to {dest_text}", self.src))
            .with_data("md5sum", md5_hex(&content))
            .with_data("dest", dest_text)
            .with_data("remote_md5sum", Value::Null)
            .with_data("checksum", checksum)
            .with_data("remote_checksum", remote_checksum.clone());
        Ok(Check::Drift {
            drift: Fetched {
                dest,
                content,
                remote_checksum,
            },
            preview,
        })
    }

    async fn apply(&self, _cx: &Context<'_>, drift: Fetched) -> Result<Outcome, TaskError> {
        // An existing copy keeps its mode; a new one gets the mode a
        // default umask gives.
        let mode = std::fs::metadata(&drift.dest)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        dtrplay_local_file::write_atomic(&drift.dest, &drift.content, mode).map_err(|e| {
            TaskError::failed(format!(
                "Failed to fetch the file to {}: {e}",
                drift.dest.display()
            ))
        })?;
        let dest = drift.dest.display().to_string();
        Ok(Outcome::changed(format!("fetched {} to {dest}", self.src))
            .with_data("md5sum", md5_hex(&drift.content))
            .with_data("dest", dest)
            .with_data("remote_md5sum", Value::Null)
            .with_data("checksum", sha1_hex(&drift.content))
            .with_data("remote_checksum", drift.remote_checksum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_like_normpath_and_checksums_are_sha1() {
        assert_eq!(
            normalize(Path::new("/a/b/./c/../d")),
            PathBuf::from("/a/b/d")
        );
        assert_eq!(normalize(Path::new("/a/../../x")), PathBuf::from("/x"));
        assert_eq!(
            sha1_hex(b"hello\n"),
            "f572d396fae9206628714fb2ce00f72e94f2258f"
        );
    }
}
