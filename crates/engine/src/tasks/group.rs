//! The `group` task: a local group present (with a gid) or absent, through
//! the host's own `groupadd`, `groupmod` and `groupdel`.
//!
//! The check is one `getent group`; the apply is one of the three tools,
//! `exec`ed in place of the shell. The diff lists the group's state and
//! gid before and after (Ansible's `group` has no diff; this one is short
//! and makes `--check --diff` useful).
//!
//! Differences from Ansible: `local` (lgroupadd) is not supported; the
//! registered result has `name`, `state`, `gid` and `system`.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `group`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub state: String,
    pub gid: Option<u32>,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub non_unique: bool,
    #[serde(default)]
    pub force: bool,
}

/// The parameters of `group`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "group",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("gid", Kind::Int),
            Param::new("system", Kind::Bool).default(false),
            Param::new("non_unique", Kind::Bool).default(false),
            Param::new("force", Kind::Bool).default(false),
        ],
    )
    .batches("name")
}

/// What `apply` runs.
#[derive(Debug)]
pub enum GroupDrift {
    Add,
    SetGid(u32),
    Delete,
}

/// A group as `getent group` describes it.
fn parse_entry(line: &str) -> Option<u32> {
    line.split(':').nth(2)?.trim().parse().ok()
}

impl Group {
    fn base(&self, gid: Option<u32>, state: &str) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("state", state)
            .with_data("system", self.system);
        if let Some(gid) = gid {
            outcome = outcome.with_data("gid", gid);
        }
        outcome
    }

    fn describe(&self, gid: Option<u32>) -> String {
        match gid {
            None => "state: absent\n".to_string(),
            Some(gid) => format!("state: present\ngid: {gid}\n"),
        }
    }
}

/// Refuses a name no group tool accepts, before it reaches a command line.
pub fn check_name(kind: &str, name: &str) -> Result<(), TaskError> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c));
    if ok {
        return Ok(());
    }
    Err(TaskError::failed(format!(
        "{name:?} is not a valid {kind} name: use letters, digits, `.`, `_` and `-`, not starting with `-`"
    )))
}

#[async_trait]
impl Task for Group {
    type Drift = GroupDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<GroupDrift>, TaskError> {
        check_name("group", &self.name)?;
        let script = format!(
            "if l=$(getent group {}); then printf '%s\\n' \"$l\"; else echo absent; fi",
            shell_quote(&self.name)
        );
        let out = cx.run(&script, &[]).await?;
        let text = out.stdout_text();
        let line = text.trim_end();
        let current = match line {
            "absent" => None,
            entry => Some(parse_entry(entry).ok_or_else(|| {
                TaskError::failed(format!(
                    "getent group printed an unexpected line: {entry:?}"
                ))
            })?),
        };
        let (drift, after) = match (self.state.as_str(), current) {
            ("absent", None) => return Ok(Check::InSync(self.base(None, "absent"))),
            ("absent", Some(_)) => (GroupDrift::Delete, None),
            (_, None) => (GroupDrift::Add, Some(self.gid.unwrap_or(0))),
            (_, Some(gid)) => match self.gid {
                Some(wanted) if wanted != gid => (GroupDrift::SetGid(wanted), Some(wanted)),
                _ => return Ok(Check::InSync(self.base(Some(gid), "present"))),
            },
        };
        let msg = match &drift {
            GroupDrift::Add => format!("would add group {}", self.name),
            GroupDrift::SetGid(gid) => format!("would set the gid of {} to {gid}", self.name),
            GroupDrift::Delete => format!("would remove group {}", self.name),
        };
        let mut preview = self
            .base(after.filter(|g| *g != 0 || self.gid.is_some()), &self.state)
            .with_msg(msg);
        preview.changed = true;
        if cx.diff {
            let after_text = match (&drift, after) {
                (GroupDrift::Add, _) if self.gid.is_none() => "state: present\n".to_string(),
                _ => self.describe(after),
            };
            preview.diffs.push(Diff {
                subject: format!("group {}", self.name),
                before: Some(self.describe(current)),
                after: Some(after_text),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: GroupDrift) -> Result<Outcome, TaskError> {
        let name = shell_quote(&self.name);
        let unique = if self.non_unique { " -o" } else { "" };
        let command = match &drift {
            GroupDrift::Add => {
                let mut c = String::from("groupadd");
                if let Some(gid) = self.gid {
                    c.push_str(&format!(" -g {gid}{unique}"));
                }
                if self.system {
                    c.push_str(" -r");
                }
                format!("{c} -- {name}")
            }
            GroupDrift::SetGid(gid) => format!("groupmod -g {gid}{unique} -- {name}"),
            GroupDrift::Delete if self.force => format!("groupdel -f -- {name}"),
            GroupDrift::Delete => format!("groupdel -- {name}"),
        };
        // The new gid is read back in the same round trip.
        let script = format!(
            "{command} >&2 || exit\nif l=$(getent group {name}); then printf '%s\\n' \"$l\"; fi"
        );
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            let tool = command.split(' ').next().unwrap_or_default();
            return Err(TaskError::failed_with(
                format!(
                    "{tool} failed (exit status {}): {}",
                    out.status,
                    out.stderr_text().trim()
                ),
                Outcome::ok().with_output(&remote::without_marker(&out)),
            ));
        }
        let gid = parse_entry(out.stdout_text().trim_end());
        let mut outcome = self.base(gid, &self.state);
        outcome.changed = true;
        outcome.msg = Some(match drift {
            GroupDrift::Add => format!("added group {}", self.name),
            GroupDrift::SetGid(gid) => format!("set the gid of {} to {gid}", self.name),
            GroupDrift::Delete => format!("removed group {}", self.name),
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_be_options_or_words_are_refused() {
        assert!(check_name("group", "app-users").is_ok());
        assert!(check_name("group", "-g0").is_err());
        assert!(check_name("group", "a b").is_err());
        assert!(check_name("group", "").is_err());
    }

    #[test]
    fn getent_lines_give_the_gid() {
        assert_eq!(parse_entry("app:x:1001:alice,bob"), Some(1001));
        assert_eq!(parse_entry("garbage"), None);
    }
}
