//! The `git` task: a checkout of a repository at a branch, tag or commit,
//! driven through the host's own `git` program.
//!
//! The check is one read-only script: the checkout's current commit and
//! `origin` URL, whether tracked files were modified, and the commit the
//! wanted `version` names upstream (`git ls-remote`, or the version itself
//! when it is a full commit id). The apply clones, or fetches and moves the
//! checkout to that commit. `before` and `after` are the commit ids, as
//! Ansible returns them.
//!
//! Differences from Ansible: `refspec`, `recursive` submodules, `verify_commit`,
//! `archive` and `separate_git_dir` are not supported; a short commit id as
//! `version` is resolved only after fetching.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `git`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Git {
    pub repo: String,
    pub dest: String,
    pub version: String,
    pub force: bool,
    pub update: bool,
    pub depth: Option<i64>,
    pub clone: bool,
    pub bare: bool,
    pub accept_hostkey: bool,
    pub key_file: Option<String>,
    pub umask: Option<String>,
    pub remote: String,
}

/// The parameters of `git`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "git",
        vec![
            Param::new("repo", Kind::Str).required().aliases(&["name"]),
            Param::new("dest", Kind::Path).required(),
            Param::new("version", Kind::Str).default("HEAD"),
            Param::new("force", Kind::Bool).default(false),
            Param::new("update", Kind::Bool).default(true),
            Param::new("depth", Kind::Int),
            Param::new("clone", Kind::Bool).default(true),
            Param::new("bare", Kind::Bool).default(false),
            Param::new("accept_hostkey", Kind::Bool).default(false),
            Param::new("key_file", Kind::Path),
            Param::new("umask", Kind::Str),
            Param::new("remote", Kind::Str).default("origin"),
        ],
    )
}

/// What `apply` must do.
#[derive(Debug)]
pub enum GitDrift {
    /// Nothing is at `dest` yet.
    Clone { after: String },
    /// The checkout exists and must move (or only its URL changes).
    Update {
        before: String,
        after: String,
        set_url: bool,
        move_to: bool,
    },
}

/// A full commit id.
fn is_sha(version: &str) -> bool {
    version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Git {
    /// The lines every script starts with: the umask and how ssh is run,
    /// so that cloning over ssh follows `accept_hostkey` and `key_file`.
    fn prelude(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str("export LC_ALL=C GIT_TERMINAL_PROMPT=0\n");
        if let Some(umask) = &self.umask {
            s.push_str(&format!("umask {} || fail umask\n", shell_quote(umask)));
        }
        let mut ssh = String::from("ssh");
        if self.accept_hostkey {
            ssh.push_str(" -o StrictHostKeyChecking=no");
        }
        if let Some(key) = &self.key_file {
            ssh.push_str(&format!(
                " -i {} -o IdentitiesOnly=yes",
                remote::path_arg(key)
            ));
        }
        if ssh != "ssh" {
            s.push_str(&format!("export GIT_SSH_COMMAND={}\n", shell_quote(&ssh)));
        }
        s.push_str("command -v git >/dev/null 2>&1 || fail nogit\n");
        s
    }

    /// The git directory's option for `git`: the checkout's, or the bare
    /// repository itself.
    fn git(&self) -> String {
        let d = remote::path_arg(&self.dest);
        if self.bare {
            format!("git --git-dir={d}")
        } else {
            format!("git -C {d}")
        }
    }

    fn probe(&self) -> String {
        let d = remote::path_arg(&self.dest);
        let g = self.git();
        let r = shell_quote(&self.remote);
        let mut s = self.prelude();
        let marker = if self.bare { "HEAD" } else { ".git" };
        s.push_str(&format!(
            "if [ -e {d}/{marker} ]; then echo exists=1\n\
             echo before=$({g} rev-parse --verify -q HEAD)\n\
             echo url=$({g} config --get remote.{r}.url)\n"
        ));
        if self.bare {
            s.push_str("echo modified=0\n");
        } else {
            s.push_str(&format!(
                "m=$({g} status --porcelain --untracked-files=no) || fail status\n\
                 if [ -n \"$m\" ]; then echo modified=1; else echo modified=0; fi\n"
            ));
        }
        s.push_str("else echo exists=0\nfi\n");
        if !is_sha(&self.version) {
            let repo = shell_quote(&self.repo);
            let v = shell_quote(&self.version);
            // Everything the version can name: HEAD, a branch, a tag (and
            // the commit an annotated tag points to).
            s.push_str(&format!(
                "l=$(git ls-remote {repo} 2>&1) || {{ printf '%s\\n' \"$l\" >&2; fail lsremote; }}\n\
                 v={v}\n\
                 printf '%s\\n' \"$l\" | while read -r sha ref; do\n\
                 case \"$ref\" in \"$v\"|refs/heads/\"$v\") echo \"head=$sha\";; \
                 refs/tags/\"$v\") echo \"tag=$sha\";; refs/tags/\"$v\"^{{}}) echo \"peeled=$sha\";; esac\n\
                 done\n"
            ));
        }
        s
    }

    /// Whether the version is a branch (or HEAD): then the checkout follows
    /// it, rather than stopping at a detached commit.
    fn branch(&self) -> Option<&str> {
        (!is_sha(&self.version) && self.version != "HEAD").then_some(self.version.as_str())
    }

    fn clone_script(&self, after: &str) -> String {
        let mut s = self.prelude();
        let mut args = String::new();
        if self.bare {
            args.push_str(" --bare");
        }
        if let Some(depth) = self.depth {
            args.push_str(&format!(" --depth {depth} --no-single-branch"));
        }
        if self.remote != "origin" {
            args.push_str(&format!(" --origin {}", shell_quote(&self.remote)));
        }
        let d = remote::path_arg(&self.dest);
        s.push_str(&format!(
            "mkdir -p \"$(dirname {d})\" || fail mkdir\n\
             git clone{args} {} {d} || fail clone\n",
            shell_quote(&self.repo)
        ));
        if !self.bare {
            let g = self.git();
            s.push_str(&self.move_script(&g, after));
        }
        s
    }

    /// Moves a checkout to `after`: onto the branch, reset to the fetched
    /// commit, or detached at a tag or commit.
    fn move_script(&self, g: &str, after: &str) -> String {
        let a = shell_quote(after);
        let force = if self.force { " --force" } else { "" };
        match self.branch() {
            Some(branch) => format!(
                "{g} checkout{force} -q -B {} {a} || fail checkout\n",
                shell_quote(branch)
            ),
            None => format!("{g} checkout{force} -q --detach {a} || fail checkout\n"),
        }
    }

    fn update_script(&self, set_url: bool, move_to: bool, after: &str) -> String {
        let g = self.git();
        let r = shell_quote(&self.remote);
        let mut s = self.prelude();
        if set_url {
            s.push_str(&format!(
                "{g} remote set-url {r} {} || fail seturl\n",
                shell_quote(&self.repo)
            ));
        }
        if move_to {
            let depth = self
                .depth
                .map(|d| format!(" --depth {d}"))
                .unwrap_or_default();
            let refspec = if self.bare {
                "'+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'"
            } else {
                "'+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'"
            };
            s.push_str(&format!(
                "{g} fetch -q{depth} {r} {refspec} || fail fetch\n"
            ));
            if !self.bare {
                if self.force {
                    s.push_str(&format!("{g} reset -q --hard || fail reset\n"));
                }
                s.push_str(&self.move_script(&g, after));
            }
        }
        s
    }

    fn result(&self, before: Option<&str>, after: &str, url_changed: bool) -> Outcome {
        Outcome::ok()
            .with_data(
                "before",
                before.map_or(serde_json::Value::Null, |b| b.into()),
            )
            .with_data("after", after)
            .with_data("remote_url_changed", url_changed)
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let msg = match failure.code.as_deref() {
            Some("nogit") => {
                "git was not found on the host: install it (Debian: apt-get install git)"
                    .to_string()
            }
            Some("lsremote") => format!(
                "Failed to list the references of {} (git ls-remote); check that repo is a repository the host can reach",
                self.repo
            ),
            Some("umask") => format!(
                "umask {:?} is not an octal umask such as '0022'",
                self.umask
            ),
            Some(step) => format!("git could not {step} {} in {}", self.repo, self.dest),
            None => format!("git failed on {}", self.dest),
        };
        remote::with_detail(msg, &failure)
    }
}

#[async_trait]
impl Task for Git {
    type Drift = GitDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<GitDrift>, TaskError> {
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let mut report = remote::Report::parse(&out.stdout)?;
        let exists = report.flag("exists")?;
        let before = report.take("before").filter(|b| !b.is_empty());
        let url = report.take("url").unwrap_or_default();
        let modified = report.take("modified").as_deref() == Some("1");
        let head = report.take("head");
        let peeled = report.take("peeled");
        let tag = report.take("tag");
        let after = if is_sha(&self.version) {
            self.version.to_lowercase()
        } else {
            match peeled.or(tag).or(head) {
                Some(sha) => sha,
                None => {
                    return Err(TaskError::failed(format!(
                        "Failed to find version {} in {}: it is neither a branch nor a tag there (a commit must be given as its full 40-character id)",
                        self.version, self.repo
                    )));
                }
            }
        };
        if !exists {
            if !self.clone {
                return Ok(Check::InSync(self.result(None, &after, false)));
            }
            let mut preview = self.result(None, &after, false);
            preview.changed = true;
            preview.msg = Some(format!("would clone {} into {}", self.repo, self.dest));
            return Ok(Check::Drift {
                drift: GitDrift::Clone { after },
                preview,
            });
        }
        let before = before.unwrap_or_default();
        let set_url = url != self.repo;
        let move_to = self.update && before != after;
        if move_to && modified && !self.force {
            return Err(TaskError::failed(format!(
                "Local modifications exist in the destination: {} (force=no); commit or discard them, or set force: true to discard them",
                self.dest
            )));
        }
        let shown_after = if self.update {
            after.clone()
        } else {
            before.clone()
        };
        if !set_url && !move_to {
            return Ok(Check::InSync(self.result(
                Some(&before),
                &shown_after,
                false,
            )));
        }
        let mut preview = self.result(Some(&before), &shown_after, set_url);
        preview.changed = true;
        preview.msg = Some(match move_to {
            true => format!("would update {} from {before} to {after}", self.dest),
            false => format!(
                "would set the {} URL of {} to {}",
                self.remote, self.dest, self.repo
            ),
        });
        Ok(Check::Drift {
            drift: GitDrift::Update {
                before,
                after: shown_after,
                set_url,
                move_to,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: GitDrift) -> Result<Outcome, TaskError> {
        let (script, before, after, set_url) = match &drift {
            GitDrift::Clone { after } => (self.clone_script(after), None, after.clone(), false),
            GitDrift::Update {
                before,
                after,
                set_url,
                move_to,
            } => (
                self.update_script(*set_url, *move_to, after),
                Some(before.as_str()),
                after.clone(),
                *set_url,
            ),
        };
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let mut outcome = self.result(before, &after, set_url);
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_commit_ids_are_taken_as_commits() {
        assert!(is_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_sha("v1.0"));
        assert!(!is_sha("0123456"));
    }
}
