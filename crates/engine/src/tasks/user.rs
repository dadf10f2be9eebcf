//! The `user` task: a local account present with the wanted uid, primary
//! group, supplementary groups, shell, home, comment and password hash, or
//! absent; through the host's own `useradd`, `usermod` and `userdel`.
//!
//! The check is one script: `getent passwd`, `id -gn` and `id -Gn` for the
//! groups, and a comparison of the password hash with `getent shadow` done
//! on the host (the hash travels inside the script, which is never shown,
//! and the shadow entry never leaves the host). The apply is one tool call
//! with exactly the options that differ, then the account read back. The
//! diff lists the attributes that change.
//!
//! Differences from Ansible: `password` must already be a crypt hash, as
//! Ansible expects; `generate_ssh_key`, `expires`, SELinux and the macOS
//! and BSD back ends are not supported.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::group::check_name;
use crate::tasks::remote::{self, ProbeError, Report, shell_quote};

/// The arguments of `user`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub state: String,
    pub uid: Option<u32>,
    pub group: Option<String>,
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub append: bool,
    pub shell: Option<String>,
    pub home: Option<String>,
    #[serde(default = "yes")]
    pub create_home: bool,
    #[serde(default)]
    pub move_home: bool,
    #[serde(default)]
    pub system: bool,
    pub comment: Option<String>,
    pub password: Option<String>,
    pub update_password: String,
    #[serde(default)]
    pub remove: bool,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub non_unique: bool,
}

fn yes() -> bool {
    true
}

/// The parameters of `user`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "user",
        vec![
            Param::new("name", Kind::Str).required().aliases(&["user"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("uid", Kind::Int),
            Param::new("group", Kind::Str),
            Param::new("groups", Kind::List),
            Param::new("append", Kind::Bool).default(false),
            Param::new("shell", Kind::Str),
            Param::new("home", Kind::Path),
            Param::new("create_home", Kind::Bool)
                .default(true)
                .aliases(&["createhome"]),
            Param::new("move_home", Kind::Bool).default(false),
            Param::new("system", Kind::Bool).default(false),
            Param::new("comment", Kind::Str),
            Param::new("password", Kind::Str).secret(),
            Param::new("update_password", Kind::Str)
                .choices(&["always", "on_create"])
                .default("always"),
            Param::new("remove", Kind::Bool).default(false),
            Param::new("force", Kind::Bool).default(false),
            Param::new("non_unique", Kind::Bool).default(false),
        ],
    )
    .batches("name")
}

/// An account as the host describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Account {
    uid: u32,
    /// The primary group's id, which Ansible reports as `group`.
    gid: u32,
    group: String,
    /// Supplementary groups, without the primary one.
    groups: Vec<String>,
    comment: String,
    home: String,
    shell: String,
    password_same: bool,
}

impl Account {
    fn parse(mut report: Report) -> Result<Option<Account>, ProbeError> {
        let Some(entry) = report.take("passwd") else {
            report.finish()?;
            return Ok(None);
        };
        let fields: Vec<&str> = entry.split(':').collect();
        if fields.len() != 7 {
            return Err(ProbeError::BadLine(entry));
        }
        let group = report.require("group")?;
        let groups = report
            .require("groups")?
            .split_whitespace()
            .filter(|g| *g != group)
            .map(str::to_string)
            .collect();
        let account = Account {
            uid: fields[2]
                .parse()
                .map_err(|_| ProbeError::BadLine(entry.clone()))?,
            gid: fields[3]
                .parse()
                .map_err(|_| ProbeError::BadLine(entry.clone()))?,
            group,
            groups,
            comment: fields[4].to_string(),
            home: fields[5].to_string(),
            shell: fields[6].to_string(),
            password_same: report.take("password_same").as_deref() == Some("1"),
        };
        report.finish()?;
        Ok(Some(account))
    }

    fn describe(&self) -> String {
        format!(
            "state: present\nuid: {}\ngroup: {}\ngroups: {}\ncomment: {}\nhome: {}\nshell: {}\n",
            self.uid,
            self.group,
            self.groups.join(","),
            self.comment,
            self.home,
            self.shell
        )
    }
}

/// What `apply` runs: the tool and its options.
#[derive(Debug)]
pub struct UserDrift {
    command: String,
    msg: String,
    /// Set the password hash after the command.
    password: bool,
}

impl User {
    fn probe_script(&self) -> String {
        let name = shell_quote(&self.name);
        let mut s = format!(
            "n={name}\nif ! l=$(getent passwd \"$n\"); then exit 0; fi\n\
             printf 'passwd=%s\\n' \"$l\"\nprintf 'group=%s\\n' \"$(id -gn -- \"$n\")\"\n\
             printf 'groups=%s\\n' \"$(id -Gn -- \"$n\")\"\n"
        );
        if let Some(hash) = &self.password {
            s.push_str(&format!(
                "s=$(getent shadow \"$n\") || s=\ns=${{s#*:}}; s=${{s%%:*}}\n\
                 if [ \"$s\" = {} ]; then echo password_same=1; fi\n",
                shell_quote(hash)
            ));
        }
        s
    }

    /// The options of `useradd`/`usermod` for what differs from `current`.
    fn options(&self, current: Option<&Account>, changes: &mut Vec<String>) -> String {
        let mut o = String::new();
        let mut add = |o: &mut String, flag: &str, value: &str, what: String| {
            o.push_str(&format!(" {flag} {}", shell_quote(value)));
            changes.push(what);
        };
        if let Some(uid) = self.uid.filter(|u| current.is_none_or(|c| c.uid != *u)) {
            add(&mut o, "-u", &uid.to_string(), format!("uid {uid}"));
        }
        if let Some(group) = self
            .group
            .as_ref()
            .filter(|g| current.is_none_or(|c| &c.group != *g))
        {
            add(&mut o, "-g", group, format!("group {group}"));
        }
        if let Some(groups) = &self.groups {
            let missing = current.is_none_or(|c| groups.iter().any(|g| !c.groups.contains(g)));
            let extra = current
                .is_some_and(|c| !self.append && c.groups.iter().any(|g| !groups.contains(g)));
            if (missing || extra) && !(current.is_none() && groups.is_empty()) {
                add(
                    &mut o,
                    "-G",
                    &groups.join(","),
                    format!("groups {}", groups.join(",")),
                );
                if self.append && current.is_some() {
                    o.push_str(" -a");
                }
            }
        }
        if let Some(shell) = self
            .shell
            .as_ref()
            .filter(|s| current.is_none_or(|c| &c.shell != *s))
        {
            add(&mut o, "-s", shell, format!("shell {shell}"));
        }
        if let Some(home) = self
            .home
            .as_ref()
            .filter(|h| current.is_none_or(|c| &c.home != *h))
        {
            add(&mut o, "-d", home, format!("home {home}"));
            if current.is_some() && self.move_home {
                o.push_str(" -m");
            }
        }
        if let Some(comment) = self
            .comment
            .as_ref()
            .filter(|s| current.is_none_or(|c| &c.comment != *s))
        {
            add(&mut o, "-c", comment, format!("comment {comment:?}"));
        }
        let set_password = match (current, &self.password) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(c), Some(_)) => self.update_password == "always" && !c.password_same,
        };
        if self.uid.is_some() && self.non_unique && !o.is_empty() {
            o.push_str(" -o");
        }
        if set_password {
            changes.push("password".to_string());
        }
        o
    }

    /// Whether the password hash must be set (it is then fed to
    /// `chpasswd -e` on standard input, never on a command line).
    fn sets_password(changes: &[String]) -> bool {
        changes.iter().any(|c| c == "password")
    }

    fn base(&self, account: Option<&Account>) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("state", self.state.clone());
        if let Some(a) = account {
            outcome = outcome
                .with_data("uid", a.uid)
                .with_data("group", a.gid)
                .with_data("groups", a.groups.join(","))
                .with_data("comment", a.comment.clone())
                .with_data("home", a.home.clone())
                .with_data("shell", a.shell.clone())
                .with_data("system", self.system);
        }
        outcome
    }
}

#[async_trait]
impl Task for User {
    type Drift = UserDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<UserDrift>, TaskError> {
        check_name("user", &self.name)?;
        let out = cx.run(&self.probe_script(), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not look up user {}", self.name),
                &remote::failure(&out),
            ));
        }
        let current = Report::parse(&out.stdout)
            .and_then(Account::parse)
            .map_err(|e| TaskError::failed(format!("could not look up user {}: {e}", self.name)))?;
        let name = shell_quote(&self.name);
        let mut changes = Vec::new();
        let (command, msg) = match (self.state.as_str(), &current) {
            ("absent", None) => return Ok(Check::InSync(self.base(None))),
            ("absent", Some(_)) => {
                let mut c = String::from("userdel");
                if self.remove {
                    c.push_str(" -r");
                }
                if self.force {
                    c.push_str(" -f");
                }
                (
                    format!("{c} -- {name}"),
                    format!("removed user {}", self.name),
                )
            }
            (_, None) => {
                let mut c = format!("useradd{}", self.options(None, &mut changes));
                c.push_str(if self.create_home { " -m" } else { " -M" });
                if self.system {
                    c.push_str(" -r");
                }
                (
                    format!("{c} -- {name}"),
                    format!("added user {}", self.name),
                )
            }
            (_, Some(account)) => {
                let options = self.options(Some(account), &mut changes);
                if changes.is_empty() {
                    return Ok(Check::InSync(self.base(current.as_ref())));
                }
                // A password alone needs no usermod, only chpasswd.
                let command = match options.is_empty() {
                    true => ":".to_string(),
                    false => format!("usermod{options} -- {name}"),
                };
                (
                    command,
                    format!("changed user {}: {}", self.name, changes.join(", ")),
                )
            }
        };
        let mut preview = self
            .base(current.as_ref())
            .with_msg(format!("would have {msg}"));
        preview.changed = true;
        if cx.diff {
            let before = current
                .as_ref()
                .map_or("state: absent\n".to_string(), Account::describe);
            let after = match self.state.as_str() {
                "absent" => "state: absent\n".to_string(),
                _ => format!(
                    "state: present\n{}",
                    changes
                        .iter()
                        .map(|c| format!("{}\n", c.replacen(' ', ": ", 1)))
                        .collect::<String>()
                ),
            };
            preview.diffs.push(Diff {
                subject: format!("user {}", self.name),
                before: Some(before),
                after: Some(after),
            });
        }
        let password = Self::sets_password(&changes);
        Ok(Check::Drift {
            drift: UserDrift {
                command,
                msg,
                password,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: UserDrift) -> Result<Outcome, TaskError> {
        let mut script = format!("{} >&2 || exit\n", drift.command);
        let mut stdin = Vec::new();
        if let (true, Some(hash)) = (drift.password, &self.password) {
            script.push_str("chpasswd -e >&2 || exit\n");
            stdin = format!("{}:{hash}\n", self.name).into_bytes();
        }
        script.push_str(&self.probe_script());
        let out = cx.run(&script, &stdin).await?;
        if !out.success() {
            let tool = drift.command.split(' ').next().unwrap_or_default();
            return Err(TaskError::failed(format!(
                "{tool} failed (exit status {}): {}",
                out.status,
                out.stderr_text().trim()
            )));
        }
        let account = Report::parse(&out.stdout)
            .and_then(Account::parse)
            .map_err(|e| {
                TaskError::failed(format!("could not read user {} back: {e}", self.name))
            })?;
        let mut outcome = self.base(account.as_ref()).with_msg(drift.msg);
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> User {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    fn account() -> Account {
        Account {
            uid: 1001,
            gid: 1001,
            group: "app".into(),
            groups: vec!["adm".into()],
            comment: "App".into(),
            home: "/home/app".into(),
            shell: "/bin/sh".into(),
            password_same: false,
        }
    }

    #[test]
    fn only_what_differs_is_changed() {
        let t = task(json!({"name": "app", "uid": 1001, "shell": "/bin/bash", "groups": ["adm"]}));
        let mut changes = Vec::new();
        assert_eq!(t.options(Some(&account()), &mut changes), " -s /bin/bash");
        assert_eq!(changes, ["shell /bin/bash"]);
    }

    #[test]
    fn groups_are_replaced_unless_appended() {
        let t = task(json!({"name": "app", "groups": "sudo"}));
        assert_eq!(t.options(Some(&account()), &mut Vec::new()), " -G sudo");
        let t = task(json!({"name": "app", "groups": "sudo", "append": true}));
        assert_eq!(t.options(Some(&account()), &mut Vec::new()), " -G sudo -a");
        let t = task(json!({"name": "app", "groups": "adm", "append": true}));
        assert_eq!(t.options(Some(&account()), &mut Vec::new()), "");
    }

    #[test]
    fn passwords_follow_update_password() {
        let t = task(json!({"name": "app", "password": "$6$x", "update_password": "on_create"}));
        assert_eq!(t.options(Some(&account()), &mut Vec::new()), "");
        let t = task(json!({"name": "app", "password": "$6$x"}));
        let mut changes = Vec::new();
        assert_eq!(t.options(Some(&account()), &mut changes), "");
        assert!(User::sets_password(&changes));
    }
}
