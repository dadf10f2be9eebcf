//! The `apt_repository` task: one-line apt sources (`deb ...` or
//! `deb-src ...`) present in, or absent from, the host's
//! `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.list`, then
//! `apt-get update` after a change.
//!
//! The check is one script that sends back every sources file with its
//! size, mode and owner; the comparison happens here, line by line, as
//! Ansible's `SourcesList` does it: a line is the repository when, without
//! its comment and with its whitespace collapsed, it is the same text. A
//! repository that is already there in any file is kept (a commented-out
//! one is enabled again); a new one goes to `filename` (`.list` added,
//! inside `sources.list.d` unless it holds a `/`), by default a name made
//! from the repository's URI as Ansible makes it. `absent` removes every
//! enabled copy from every file, and a file left empty is removed. The
//! apply writes each changed file atomically, then updates the cache, and
//! puts every file back as it was when the update fails, as Ansible does.
//!
//! A sources file that is a symbolic link is read and written where it
//! points, as Ansible writes through it.
//!
//! Differences from Ansible: `ppa:` repositories are refused (they need
//! Launchpad's API); only the changed lines of a file are rewritten (Ansible
//! rewrites every line of it with collapsed whitespace); the diff covers
//! every changed file, not only files added or removed; `codename`,
//! `validate_certs` and `install_python_apt` are accepted and have no
//! effect, since they only matter for PPAs and for Ansible's Python.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, AtomicWrite, SetAttrs, parse_mode};

mod sources;

use sources::{SourcesFile, parse_files, parse_line, suggested_name};

/// Where apt reads one-line sources from.
const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

/// The arguments of `apt_repository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptRepository {
    pub repo: String,
    pub state: String,
    pub mode: Option<String>,
    pub update_cache: bool,
    pub update_cache_retries: i64,
    pub update_cache_retry_max_delay: i64,
    pub filename: Option<String>,
    pub codename: Option<String>,
    #[serde(default)]
    pub validate_certs: bool,
    #[serde(default)]
    pub install_python_apt: bool,
}

/// The parameters of `apt_repository`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "apt_repository",
        vec![
            Param::new("repo", Kind::Str).required(),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("mode", Kind::Mode),
            Param::new("update_cache", Kind::Bool)
                .default(true)
                .aliases(&["update-cache"]),
            Param::new("update_cache_retries", Kind::Int).default(5),
            Param::new("update_cache_retry_max_delay", Kind::Int).default(12),
            Param::new("filename", Kind::Str),
            Param::new("codename", Kind::Str),
            Param::new("validate_certs", Kind::Bool).default(true),
            Param::new("install_python_apt", Kind::Bool).default(true),
        ],
    )
}

/// One file the apply writes or removes.
#[derive(Debug, Clone)]
pub struct Change {
    path: String,
    before: Option<SourcesFile>,
    /// `None` removes the file.
    after: Option<String>,
    /// The repository was appended here, so the file gets `mode`.
    appended: bool,
}

/// What `apply` must do.
#[derive(Debug)]
pub struct AptRepositoryDrift {
    changes: Vec<Change>,
    outcome: Outcome,
}

impl AptRepository {
    /// The repository line, collapsed as it is compared.
    fn source(&self) -> Result<String, TaskError> {
        let repo = self.repo.trim();
        if repo.starts_with("ppa:") {
            return Err(TaskError::failed(format!(
                "{repo} is a Launchpad PPA, which dtrplay does not resolve (that needs Launchpad's API and its signing key): \
                 write the PPA's deb line instead, e.g. `deb [signed-by=/etc/apt/keyrings/<name>.gpg] https://ppa.launchpadcontent.net/<owner>/<ppa>/ubuntu <codename> main`"
            )));
        }
        let line = parse_line(repo);
        if repo.is_empty() || !line.valid || !line.enabled {
            return Err(TaskError::failed(format!(
                "Invalid repository string: {repo} (expected `deb [options] URI suite [components]` or `deb-src ...`)"
            )));
        }
        Ok(line.source)
    }

    /// Where a new repository goes.
    fn target(&self, source: &str) -> String {
        let name = match &self.filename {
            Some(f) => format!("{f}.list"),
            None => format!("{}.list", suggested_name(source)),
        };
        if name.contains('/') {
            name
        } else {
            format!("{SOURCES_DIR}/{name}")
        }
    }

    fn check_script(&self, target: &str) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!(
            "command -v apt-get >/dev/null 2>&1 || fail noapt\n\
             t={t}\nif [ -L \"$t\" ]; then t=$(readlink -f -- \"$t\") || fail read; fi\n\
             printf 'target %s\\n' \"$t\"\n\
             show() {{ p=$1; if [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\") || fail read; fi\n\
             n=$(wc -c < \"$p\") && a=$(stat -c '%a %u %g' -- \"$p\") || fail read\n\
             printf 'file %s %s %s\\n' \"$n\" \"$a\" \"$p\"; cat -- \"$p\" || fail read; }}\n\
             for f in {SOURCES_LIST} {SOURCES_DIR}/*.list; do\n\
             [ -f \"$f\" ] || continue\n\
             case ${{f##*/}} in *[!A-Za-z0-9_.-]*) continue;; esac\n\
             show \"$f\"\ndone\n\
             case $t in {SOURCES_LIST}|{SOURCES_DIR}/*.list) ;; *) [ -f \"$t\" ] && show \"$t\";; esac\n\
             exit 0\n",
            t = remote::path_arg(target),
        ));
        s
    }

    /// The files that change, and the repository's files added and removed.
    fn plan(&self, source: &str, target: &str, files: &[SourcesFile]) -> Vec<Change> {
        let mut changes = Vec::new();
        let present = self.state == "present";
        let mut found = false;
        let mut seen = std::collections::BTreeSet::new();
        for file in files {
            // A link and its target are one file.
            if !seen.insert(file.path.as_str()) {
                continue;
            }
            let mut lines: Vec<String> = Vec::new();
            let mut touched = false;
            for raw in file.content.split_inclusive('\n') {
                let line = parse_line(raw);
                let same = line.valid && line.source == source;
                found |= same;
                match (same, present, line.enabled) {
                    (true, true, false) => {
                        touched = true;
                        let mut text = line.source.clone();
                        if !line.comment.is_empty() {
                            text.push_str(&format!(" # {}", line.comment));
                        }
                        text.push('\n');
                        lines.push(text);
                    }
                    (true, false, true) => touched = true,
                    _ => lines.push(raw.to_string()),
                }
            }
            if touched {
                let after: String = lines.concat();
                changes.push(Change {
                    path: file.path.clone(),
                    before: Some(file.clone()),
                    after: (!after.is_empty()).then_some(after),
                    appended: false,
                });
            }
        }
        if present && !found {
            let existing = files.iter().find(|f| f.path == target);
            let mut content = existing.map(|f| f.content.clone()).unwrap_or_default();
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(source);
            content.push('\n');
            changes.push(Change {
                path: target.to_string(),
                before: existing.cloned(),
                after: Some(content),
                appended: true,
            });
        }
        changes
    }

    fn outcome(&self, changes: &[Change]) -> Outcome {
        let added: Vec<Value> = changes
            .iter()
            .filter(|c| c.before.is_none())
            .map(|c| c.path.clone().into())
            .collect();
        let removed: Vec<Value> = changes
            .iter()
            .filter(|c| c.after.is_none())
            .map(|c| c.path.clone().into())
            .collect();
        Outcome::ok()
            .with_data("repo", self.repo.clone())
            .with_data("state", self.state.clone())
            .with_data("sources_added", added)
            .with_data("sources_removed", removed)
    }

    fn mode(&self) -> Result<u32, TaskError> {
        match &self.mode {
            Some(m) => parse_mode(m).map_err(TaskError::from),
            None => Ok(0o644),
        }
    }

    /// The script that writes every change, and on a failed cache update
    /// puts every file back.
    fn apply_script(&self, changes: &[Change]) -> Result<String, TaskError> {
        let mode = self.mode()?;
        let mut s = String::from(remote::FAIL_FN);
        let mut revert = String::from("revert() {\n");
        for change in changes {
            match &change.after {
                Some(content) => {
                    let wanted = match (&change.before, change.appended) {
                        (_, true) => mode,
                        (Some(before), false) => before.mode,
                        (None, false) => 0o644,
                    };
                    let dir = remote::parent_dir(&change.path);
                    s.push_str(&remote::atomic_write_script(&AtomicWrite {
                        path: &change.path,
                        dir: &dir,
                        create_dir: true,
                        attrs: SetAttrs {
                            mode: Some(wanted),
                            owner: None,
                            group: None,
                        },
                        keep_ids: change.before.as_ref().map(|b| b.ids),
                        content: Some(content.as_bytes()),
                        backup: false,
                        validate: None,
                    }));
                }
                None => s.push_str(&format!(
                    "rm -f -- {} || fail remove\n",
                    remote::path_arg(&change.path)
                )),
            }
            let p = remote::path_arg(&change.path);
            match &change.before {
                Some(before) => revert.push_str(&format!(
                    "{} > {p}; chmod {:o} {p}\n",
                    remote::printf_command(before.content.as_bytes()),
                    before.mode
                )),
                None => revert.push_str(&format!("rm -f -- {p}\n")),
            }
        }
        revert.push_str(":\n}\n");
        if self.update_cache {
            s.push_str(&revert);
            s.push_str(&format!(
                "export DEBIAN_FRONTEND=noninteractive LC_ALL=C\ni=1; w=1\n\
                 until apt-get update -q >&2; do\n\
                 if [ $i -ge {tries} ]; then revert; fail update; fi\n\
                 sleep $w; i=$((i + 1)); w=$((w * 2)); [ $w -gt {max} ] && w={max}\n\
                 done\n",
                tries = self.update_cache_retries.max(1),
                max = self.update_cache_retry_max_delay.max(1),
            ));
        }
        Ok(s)
    }
}

#[async_trait]
impl Task for AptRepository {
    type Drift = AptRepositoryDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<AptRepositoryDrift>, TaskError> {
        let source = self.source()?;
        self.mode()?;
        if !self.validate_certs {
            cx.warn(
                "validate_certs has no effect on apt_repository here: it only matters for PPAs, \
                 and apt itself verifies the repository's certificates when it updates",
            );
        }
        let target = self.target(&source);
        let out = cx.run(&self.check_script(&target), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("noapt") => {
                    "apt-get is not installed on the host (apt_repository needs a Debian-family system)"
                        .to_string()
                }
                _ => "could not read the apt sources files".to_string(),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let (resolved, files) = parse_files(&out.stdout).map_err(TaskError::failed)?;
        let target = resolved.unwrap_or(target);
        let changes = self.plan(&source, &target, &files);
        let outcome = self.outcome(&changes);
        if changes.is_empty() {
            return Ok(Check::InSync(outcome));
        }
        let mut preview = outcome.clone();
        preview.changed = true;
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        preview.msg = Some(match self.state.as_str() {
            "present" => format!("would add {} to {}", source, paths.join(", ")),
            _ => format!("would remove {} from {}", source, paths.join(", ")),
        });
        if cx.diff {
            for change in &changes {
                preview.diffs.push(Diff {
                    subject: change.path.clone(),
                    before: change.before.as_ref().map(|b| b.content.clone()),
                    after: change.after.clone(),
                });
            }
        }
        Ok(Check::Drift {
            drift: AptRepositoryDrift { changes, outcome },
            preview,
        })
    }

    async fn apply(
        &self,
        cx: &Context<'_>,
        drift: AptRepositoryDrift,
    ) -> Result<Outcome, TaskError> {
        let script = self.apply_script(&drift.changes)?;
        let out = cx.run(&script, &[]).await?;
        let mut outcome = drift.outcome;
        if !out.success() {
            let failure = remote::failure(&out);
            let path = drift
                .changes
                .first()
                .map(|c| c.path.clone())
                .unwrap_or_default();
            let msg = match failure.code.as_deref() {
                Some("update") => format!(
                    "Failed to update apt cache after {} retries: {} (the sources files were put back as they were)",
                    self.update_cache_retries.max(1),
                    failure
                        .detail
                        .lines()
                        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Some(step) => format!("could not {step} {path}: {}", failure.detail),
                None => format!("could not write {path}: {}", failure.detail),
            };
            return Err(TaskError::failed_with(msg, outcome));
        }
        outcome.changed = true;
        outcome.msg = Some(match self.state.as_str() {
            "present" => format!("added {}", self.repo.trim()),
            _ => format!("removed {}", self.repo.trim()),
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> AptRepository {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    #[test]
    fn file_names_follow_ansible() {
        assert_eq!(
            suggested_name(
                "deb [arch=amd64 signed-by=/k.gpg] https://user:pw@download.docker.com/linux/debian bookworm stable"
            ),
            "download_docker_com_linux_debian"
        );
        assert_eq!(
            suggested_name("deb http://archive.canonical.com/ubuntu hardy partner"),
            "archive_canonical_com_ubuntu"
        );
        assert_eq!(
            suggested_name("deb [trusted=yes] file:/tmp/dtrplay-repo-x ./"),
            "file_tmp_dtrplay_repo_x"
        );
        let t = task(json!({"repo": "deb http://x.org/a b c", "filename": "google-chrome"}));
        assert_eq!(
            t.target("deb http://x.org/a b c"),
            "/etc/apt/sources.list.d/google-chrome.list"
        );
    }

    #[test]
    fn lines_compare_without_comments_and_extra_whitespace() {
        let l = parse_line("#  deb   http://x.org/a  b c   # mine\n");
        assert!(l.valid && !l.enabled);
        assert_eq!(l.source, "deb http://x.org/a b c");
        assert_eq!(l.comment, "mine");
        assert!(!parse_line("# a comment\n").valid);
    }

    #[test]
    fn present_enables_or_appends_and_absent_removes_everywhere() {
        let file = |path: &str, content: &str| SourcesFile {
            path: path.into(),
            mode: 0o644,
            ids: (0, 0),
            content: content.into(),
        };
        let src = "deb http://x.org/a b c";
        let files = vec![
            file(
                "/etc/apt/sources.list",
                "deb http://other b\n#deb  http://x.org/a b c\n",
            ),
            file("/etc/apt/sources.list.d/x.list", "deb http://x.org/a b c\n"),
        ];
        let present = task(json!({"repo": src}));
        let changes = present.plan(src, "/etc/apt/sources.list.d/x_org_a.list", &files);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].after.as_deref(),
            Some("deb http://other b\ndeb http://x.org/a b c\n")
        );
        let absent = task(json!({"repo": src, "state": "absent"}));
        let changes = absent.plan(src, "", &files);
        assert_eq!(changes.len(), 1, "the commented-out line stays");
        assert_eq!(changes[0].path, "/etc/apt/sources.list.d/x.list");
        assert_eq!(changes[0].after, None, "an emptied file is removed");
        let new = present.plan(src, "/etc/apt/sources.list.d/n.list", &files[..0]);
        assert_eq!(new[0].after.as_deref(), Some("deb http://x.org/a b c\n"));
        assert!(new[0].appended && new[0].before.is_none());
    }
}
