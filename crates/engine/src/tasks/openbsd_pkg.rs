//! The `openbsd_pkg` task (community.general.openbsd_pkg): OpenBSD
//! packages present, at their latest version or absent, through the
//! host's own `pkg_info`, `pkg_add` and `pkg_delete`, with the commands of
//! community.general's module (`TERM=dumb`, `-I` non-interactive, `-m`,
//! `-Dsnap` for `snapshot`, `c`/`q` for `clean`/`quick`).
//!
//! The check is one script: `pkg_info -Iq inst:NAME` for every name, and
//! for installed names under `latest`, `pkg_add -umn` (a dry run) says
//! whether one of the installed versions would be replaced (its
//! `old->new: ok` line); `autoremove` asks `pkg_delete -Ian`. The apply is
//! one script: `pkg_add -Im` per missing name, `pkg_add -um` per name to
//! upgrade, `pkg_delete -I` per name to remove, `pkg_delete -Ia`; a failed
//! command fails the task with what the tool printed.
//!
//! Linux hosts have none of these tools: there the task fails on that
//! host with a message naming them, and changes nothing.
//!
//! Differences from Ansible: `build` (installing from the ports tree) is
//! refused; the diff lists the packages that change, not the whole
//! `pkg_info` listing.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `openbsd_pkg`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenbsdPkg {
    pub name: Vec<String>,
    pub state: String,
    pub build: bool,
    pub snapshot: bool,
    pub ports_dir: String,
    pub quick: bool,
    pub clean: bool,
    pub autoremove: bool,
}

/// The parameters of `openbsd_pkg`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "openbsd_pkg",
        vec![
            Param::new("name", Kind::List).required(),
            Param::new("state", Kind::Str)
                .choices(&["absent", "installed", "latest", "present", "removed"])
                .default("present"),
            Param::new("build", Kind::Bool).default(false),
            Param::new("snapshot", Kind::Bool).default(false),
            Param::new("ports_dir", Kind::Path).default("/usr/ports"),
            Param::new("quick", Kind::Bool).default(false),
            Param::new("clean", Kind::Bool).default(false),
            Param::new("autoremove", Kind::Bool).default(false),
        ],
    )
}

/// Why an `openbsd_pkg` task failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenbsdPkgError {
    #[error(
        "pkg_info and pkg_add are not installed on the host (openbsd_pkg manages OpenBSD packages; use `apt`, `dnf` or `package` on Linux hosts)"
    )]
    NoTool,
    #[error("parameters are mutually exclusive: snapshot|build")]
    Exclusive,
    #[error(
        "openbsd_pkg: building from the ports tree (`build: true`) is not supported by dtrplay"
    )]
    Build,
    #[error("failed in get_package_state(): {0}")]
    State(String),
    #[error("failed to {action} {name}: {detail}")]
    Action {
        action: &'static str,
        name: String,
        detail: String,
    },
}

impl From<OpenbsdPkgError> for TaskError {
    fn from(err: OpenbsdPkgError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// What `apply` does.
#[derive(Debug, Default)]
pub struct OpenbsdPkgDrift {
    install: Vec<String>,
    upgrade: Vec<String>,
    remove: Vec<String>,
    autoremove: bool,
}

impl OpenbsdPkg {
    fn target(&self) -> &str {
        match self.state.as_str() {
            "installed" => "present",
            "removed" => "absent",
            other => other,
        }
    }

    fn letters(&self) -> String {
        let mut s = String::new();
        if self.clean {
            s.push('c');
        }
        if self.quick {
            s.push('q');
        }
        s
    }

    fn snap(&self) -> &'static str {
        if self.snapshot { " -Dsnap" } else { "" }
    }

    fn prelude() -> String {
        format!(
            "{}export LC_ALL=C TERM=dumb\n\
             {{ command -v pkg_info && command -v pkg_add; }} >/dev/null 2>&1 || fail notool\n",
            remote::FAIL_FN
        )
    }

    fn check_script(&self) -> String {
        let mut s = Self::prelude();
        for name in self.name.iter().filter(|n| !n.is_empty()) {
            let q = shell_quote(name);
            s.push_str(&format!(
                "o=$(pkg_info -Iq inst:{q} 2>&1); r=$?\n\
                 if [ \"$o\" = \"Can't find inst:\"{q} ]; then o=; elif [ $r != 0 ]; then printf '%s\\n' \"$o\" >&2; fail state; fi\n\
                 if [ -n \"$o\" ]; then echo 'I '{q}\n"
            ));
            if self.target() == "latest" {
                s.push_str(&format!(
                    "u=$(pkg_add -umn{}{} {q} 2>&1)\n\
                     printf '%s\\n' \"$o\" | while IFS= read -r i; do printf '%s\\n' \"$u\" | grep -qF -- \"$i->\" && {{ echo 'U '{q}; break; }}; done\n",
                    self.letters(),
                    self.snap()
                ));
            }
            s.push_str(&format!("else echo 'M '{q}; fi\n"));
        }
        if self.autoremove {
            s.push_str(&format!(
                "[ -n \"$(pkg_delete -Ian{} 2>/dev/null)\" ] && echo 'R'\n",
                self.letters()
            ));
        }
        s.push_str(":\n");
        s
    }

    fn failure(out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let detail = failure.detail.clone();
        match failure.code.as_deref() {
            Some("notool") => OpenbsdPkgError::NoTool.into(),
            Some("state") => OpenbsdPkgError::State(detail).into(),
            Some(code) => {
                let (action, name) = code.split_once(' ').unwrap_or((code, ""));
                let action = match action {
                    "install" => "install",
                    "upgrade" => "upgrade",
                    _ => "remove",
                };
                OpenbsdPkgError::Action {
                    action,
                    name: name.to_string(),
                    detail,
                }
                .into()
            }
            None => TaskError::failed_with(
                format!("the pkg_add script failed: {detail}"),
                Outcome::ok().with_output(out),
            ),
        }
    }
}

#[async_trait]
impl Task for OpenbsdPkg {
    type Drift = OpenbsdPkgDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<OpenbsdPkgDrift>, TaskError> {
        if self.snapshot && self.build {
            return Err(OpenbsdPkgError::Exclusive.into());
        }
        if self.build {
            return Err(OpenbsdPkgError::Build.into());
        }
        let out = cx.run(&self.check_script(), &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let mut drift = OpenbsdPkgDrift::default();
        let absent = self.target() == "absent";
        for line in out.stdout_text().lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "M" if !absent => drift.install.push(rest.to_string()),
                "I" if absent => drift.remove.push(rest.to_string()),
                "U" => drift.upgrade.push(rest.to_string()),
                "R" => drift.autoremove = true,
                _ => {}
            }
        }
        let mut msgs = Vec::new();
        for (verb, list) in [
            ("install", &drift.install),
            ("upgrade", &drift.upgrade),
            ("remove", &drift.remove),
        ] {
            if !list.is_empty() {
                msgs.push(format!("would {verb} {}", list.join(" ")));
            }
        }
        if drift.autoremove {
            msgs.push("would remove unused dependencies".to_string());
        }
        if msgs.is_empty() {
            return Ok(Check::InSync(
                Outcome::ok()
                    .with_data("name", self.name.clone())
                    .with_data("state", self.state.clone())
                    .with_data("build", self.build),
            ));
        }
        let mut preview = Outcome::ok()
            .with_msg(msgs.join(", "))
            .with_data("name", self.name.clone())
            .with_data("state", self.state.clone())
            .with_data("build", self.build);
        preview.changed = true;
        if cx.diff {
            let lines = |list: &[String], state: &str| -> String {
                list.iter().map(|n| format!("{n}: {state}\n")).collect()
            };
            preview.diffs.push(Diff {
                subject: "packages".into(),
                before: Some(
                    lines(&drift.install, "absent")
                        + &lines(&drift.remove, "present")
                        + &lines(&drift.upgrade, "installed"),
                ),
                after: Some(
                    lines(&drift.install, "present")
                        + &lines(&drift.remove, "absent")
                        + &lines(&drift.upgrade, "latest"),
                ),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: OpenbsdPkgDrift) -> Result<Outcome, TaskError> {
        let mut s = Self::prelude();
        let letters = self.letters();
        let snap = self.snap();
        let mut step = |command: String, action: &str, name: &str| {
            s.push_str(&format!(
                "{command} >&2 || fail {}\n",
                shell_quote(&format!("{action} {name}"))
            ));
        };
        for name in &drift.upgrade {
            step(
                format!("pkg_add -um{letters}{snap} {}", shell_quote(name)),
                "upgrade",
                name,
            );
        }
        for name in &drift.install {
            step(
                format!("pkg_add -Im{snap} {}", shell_quote(name)),
                "install",
                name,
            );
        }
        for name in &drift.remove {
            step(
                format!("pkg_delete -I{letters} {}", shell_quote(name)),
                "remove",
                name,
            );
        }
        if drift.autoremove {
            step(
                format!("pkg_delete -Ia{letters}"),
                "remove",
                "unused dependencies",
            );
        }
        s.push_str(":\n");
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let mut outcome = Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("state", self.state.clone())
            .with_data("build", self.build)
            .with_output(&remote::without_marker(&out));
        outcome.changed = true;
        Ok(outcome)
    }
}
