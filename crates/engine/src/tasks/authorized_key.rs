//! The `authorized_key` task: SSH public keys present in (or absent from)
//! a user's `authorized_keys`, as Ansible's `ansible.posix.authorized_key`
//! does, with `key_options`, `comment`, `exclusive` and `manage_dir`.
//!
//! The check is one script: the user's `getent passwd` line (for the home
//! directory and ids) and the file's text. The new text is computed here:
//! a key is the same key when its type and base64 blob are, whatever its
//! options and comment; a present key whose options or comment differ from
//! what the task names is rewritten in place, a missing one appended, and
//! `exclusive` keeps only the task's keys. The apply creates `~/.ssh` (0700,
//! the user's) when `manage_dir` says so and writes the file atomically
//! (0600, the user's). The diff is the file's before and after.
//!
//! Differences from Ansible: keys from URLs, `follow` and `validate_certs`
//! are not supported.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::group::check_name;
use crate::tasks::remote::{self, AtomicWrite, SetAttrs, shell_quote};

/// The arguments of `authorized_key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKey {
    pub user: String,
    pub key: String,
    pub state: String,
    pub path: Option<String>,
    pub manage_dir: bool,
    #[serde(default)]
    pub exclusive: bool,
    pub key_options: Option<String>,
    pub comment: Option<String>,
}

/// The parameters of `authorized_key`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "authorized_key",
        vec![
            Param::new("user", Kind::Str).required(),
            Param::new("key", Kind::Str).required(),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("path", Kind::Path),
            Param::new("manage_dir", Kind::Bool).default(true),
            Param::new("exclusive", Kind::Bool).default(false),
            Param::new("key_options", Kind::Str),
            Param::new("comment", Kind::Str),
        ],
    )
}

/// One line of an `authorized_keys` file, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyLine {
    options: Option<String>,
    kind: String,
    blob: String,
    comment: Option<String>,
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}

impl KeyLine {
    /// Reads a key line; `None` for blank lines, comments and what is not
    /// a key.
    fn parse(line: &str) -> Option<KeyLine> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words
            .windows(2)
            .position(|w| is_key_type(w[0]) && !is_key_type(w[1]))
            .or_else(|| (words.len() == 1).then_some(usize::MAX))?;
        if at == usize::MAX {
            return None;
        }
        // Options are everything before the key type, as written.
        let options = (at > 0).then(|| {
            let start = line.find(words[at]).unwrap_or(0);
            line[..start].trim().to_string()
        });
        let comment = (words.len() > at + 2).then(|| words[at + 2..].join(" "));
        Some(KeyLine {
            options,
            kind: words[at].to_string(),
            blob: words[at + 1].to_string(),
            comment,
        })
    }

    fn same_key(&self, other: &KeyLine) -> bool {
        self.kind == other.kind && self.blob == other.blob
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(options) = &self.options {
            out.push_str(options);
            out.push(' ');
        }
        out.push_str(&self.kind);
        out.push(' ');
        out.push_str(&self.blob);
        if let Some(comment) = &self.comment {
            out.push(' ');
            out.push_str(comment);
        }
        out
    }
}

/// What `apply` writes.
#[derive(Debug)]
pub struct KeyDrift {
    path: String,
    text: String,
    uid: String,
    gid: String,
    home: String,
}

impl AuthorizedKey {
    /// The task's keys, with its options and comment applied.
    fn wanted(&self) -> Result<Vec<KeyLine>, TaskError> {
        let mut keys = Vec::new();
        for line in self.key.lines().filter(|l| !l.trim().is_empty()) {
            let Some(mut key) = KeyLine::parse(line) else {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                return Err(TaskError::failed(format!(
                    "invalid key specified: {:?} (expected `[options] type base64 [comment]`; keys from URLs are not supported by dtrplay)",
                    line.trim()
                )));
            };
            if let Some(options) = &self.key_options {
                key.options = Some(options.clone());
            }
            if let Some(comment) = &self.comment {
                key.comment = Some(comment.clone());
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(TaskError::failed("authorized_key: `key` holds no key"));
        }
        Ok(keys)
    }

    /// The file's new text, from its old text.
    fn new_text(&self, old: &str, wanted: &[KeyLine]) -> String {
        let mut lines: Vec<String> = Vec::new();
        let mut placed = vec![false; wanted.len()];
        for line in old.lines() {
            let Some(existing) = KeyLine::parse(line) else {
                if !self.exclusive {
                    lines.push(line.to_string());
                }
                continue;
            };
            match wanted.iter().position(|w| w.same_key(&existing)) {
                Some(i) if self.state == "absent" => {
                    placed[i] = true;
                }
                Some(i) if !placed[i] => {
                    placed[i] = true;
                    // Options and comment the task leaves out stay as they are.
                    let merged = KeyLine {
                        options: if self.key_options.is_some() {
                            wanted[i].options.clone()
                        } else {
                            existing.options.clone()
                        },
                        comment: if self.comment.is_some() {
                            wanted[i].comment.clone()
                        } else {
                            existing.comment.clone()
                        },
                        ..existing.clone()
                    };
                    lines.push(if merged == existing {
                        line.to_string()
                    } else {
                        merged.render()
                    });
                }
                // A second copy of a key the task names.
                Some(_) => {}
                None if self.exclusive && self.state == "present" => {}
                None => lines.push(line.to_string()),
            }
        }
        if self.state == "present" {
            for (key, done) in wanted.iter().zip(&placed) {
                if !done {
                    lines.push(key.render());
                }
            }
        }
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    fn result(&self, path: &str) -> Outcome {
        Outcome::ok()
            .with_data("user", self.user.clone())
            .with_data("key", self.key.clone())
            .with_data("keyfile", path.to_string())
            .with_data("state", self.state.clone())
            .with_data("exclusive", self.exclusive)
            .with_data("manage_dir", self.manage_dir)
            .with_data(
                "key_options",
                self.key_options
                    .clone()
                    .map_or(serde_json::Value::Null, Into::into),
            )
    }
}

#[async_trait]
impl Task for AuthorizedKey {
    type Drift = KeyDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<KeyDrift>, TaskError> {
        check_name("user", &self.user)?;
        let wanted = self.wanted()?;
        let mut script = format!(
            "{}e=$(getent passwd {}) || fail nouser\nprintf '%s\\n' \"$e\"\n",
            remote::FAIL_FN,
            shell_quote(&self.user)
        );
        let path_expr = match &self.path {
            Some(path) => remote::path_arg(path),
            None => "\"$h/.ssh/authorized_keys\"".to_string(),
        };
        script.push_str(&format!(
            "h=${{e#*:*:*:*:*:}}; h=${{h%:*}}\np={path_expr}\nprintf '%s\\n' \"$p\"\n\
             if [ -f \"$p\" ]; then echo present; exec cat -- \"$p\"; else echo missing; fi\n"
        ));
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nouser") => format!("Failed to lookup user {}", self.user),
                _ => format!("could not read the authorized keys of {}", self.user),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let text = out.stdout_text();
        let mut parts = text.splitn(4, '\n');
        let entry = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default().to_string();
        let exists = parts.next() == Some("present");
        let old = parts.next().unwrap_or_default();
        let fields: Vec<&str> = entry.split(':').collect();
        let (uid, gid, home) = match fields.as_slice() {
            [_, _, uid, gid, _, home, ..] => (uid.to_string(), gid.to_string(), home.to_string()),
            _ => {
                return Err(TaskError::failed(format!(
                    "getent passwd printed an unexpected line: {entry:?}"
                )));
            }
        };
        let new = self.new_text(old, &wanted);
        if new == old || (!exists && self.state == "absent") {
            return Ok(Check::InSync(self.result(&path)));
        }
        let mut preview = self.result(&path).with_msg(format!("would update {path}"));
        preview.changed = true;
        if cx.diff {
            preview.diffs.push(Diff {
                subject: path.clone(),
                before: exists.then(|| old.to_string()),
                after: Some(new.clone()),
            });
        }
        Ok(Check::Drift {
            drift: KeyDrift {
                path,
                text: new,
                uid,
                gid,
                home,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: KeyDrift) -> Result<Outcome, TaskError> {
        let dir = remote::parent_dir(&drift.path);
        let mut script = String::new();
        let ids = format!("{}:{}", drift.uid, drift.gid);
        if self.manage_dir && self.path.is_none() {
            script.push_str(&format!(
                "{}d={}\n[ -d \"$d\" ] || {{ mkdir -m 0700 -- \"$d\" && chown -- {} \"$d\"; }} || fail mkdir\n",
                remote::FAIL_FN,
                remote::path_arg(&format!("{}/.ssh", drift.home)),
                shell_quote(&ids)
            ));
        }
        script.push_str(&remote::atomic_write_script(&AtomicWrite {
            path: &drift.path,
            dir: &dir,
            create_dir: false,
            attrs: SetAttrs {
                mode: Some(0o600),
                owner: Some(&drift.uid),
                group: Some(&drift.gid),
            },
            keep_ids: None,
            content: Some(drift.text.as_bytes()),
            backup: false,
            validate: None,
        }));
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("parent") => {
                    format!("{dir} does not exist: create it, or leave `manage_dir` on for ~/.ssh")
                }
                _ => format!("could not write {}", drift.path),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let mut outcome = self
            .result(&drift.path)
            .with_msg(format!("updated {}", drift.path));
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_keep_options_and_comments_apart() {
        let key =
            KeyLine::parse(r#"no-pty,command="echo hi there" ssh-ed25519 AAAAC3 alice@laptop"#)
                .expect("a key");
        assert_eq!(
            key.options.as_deref(),
            Some(r#"no-pty,command="echo hi there""#)
        );
        assert_eq!(key.kind, "ssh-ed25519");
        assert_eq!(key.comment.as_deref(), Some("alice@laptop"));
        assert!(KeyLine::parse("# a comment").is_none());
        assert!(KeyLine::parse("garbage").is_none());
    }
}
