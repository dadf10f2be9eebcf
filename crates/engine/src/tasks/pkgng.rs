//! The `pkgng` task (community.general.pkgng): FreeBSD packages present,
//! at their latest version or absent, through the host's own `pkg`, with
//! the commands of community.general's module (`BATCH=yes`, `-g` globs,
//! `--rootdir`/`--chroot`/`--jail`, `--repository` for `pkgsite`).
//!
//! The check is one script: `pkg info -e` for every name, and for
//! installed names under `latest` whether `pkg upgrade -n` has an update
//! (status 1); `name: '*'` with `latest` counts what `pkg upgrade -n`
//! would upgrade, and `autoremove` what `pkg autoremove -n` would
//! remove. The apply is one script: `pkg update` (unless `cached`), one
//! `pkg install -U -y` and one `pkg upgrade -U -y` for the names that need
//! it, `pkg delete -y` for those to remove, and `pkg autoremove -y`; then
//! every name is queried again, so a package that did not reach its
//! state fails the task, as in the module.
//!
//! Linux hosts have no `pkg`: there the task fails on that host with a
//! message naming the tool, and changes nothing.
//!
//! Differences from Ansible: `annotation` is refused; the version checks
//! for old pkg releases (before 1.5) are not made.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `pkgng`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkgng {
    pub name: Vec<String>,
    pub state: String,
    pub cached: bool,
    pub ignore_osver: bool,
    pub annotation: Option<Vec<String>>,
    pub pkgsite: Option<String>,
    pub rootdir: Option<String>,
    pub chroot: Option<String>,
    pub jail: Option<String>,
    pub autoremove: bool,
    pub use_globs: bool,
}

/// The parameters of `pkgng`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "pkgng",
        vec![
            Param::new("name", Kind::List).required().aliases(&["pkg"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "latest", "absent"])
                .default("present"),
            Param::new("cached", Kind::Bool).default(false),
            Param::new("ignore_osver", Kind::Bool).default(false),
            Param::new("annotation", Kind::List),
            Param::new("pkgsite", Kind::Str),
            Param::new("rootdir", Kind::Path),
            Param::new("chroot", Kind::Path),
            Param::new("jail", Kind::Str),
            Param::new("autoremove", Kind::Bool).default(false),
            Param::new("use_globs", Kind::Bool).default(true),
        ],
    )
}

/// Why a `pkgng` task failed.
#[derive(Debug, thiserror::Error)]
pub enum PkgngError {
    #[error(
        "pkg is not installed on the host (pkgng manages FreeBSD packages with pkg; use `apt`, `dnf` or `package` on Linux hosts)"
    )]
    NoTool,
    #[error("parameters are mutually exclusive: rootdir|chroot|jail")]
    Exclusive,
    #[error("pkgng: `annotation` is not supported by dtrplay")]
    Annotation,
    #[error("Could not update catalogue: {0}")]
    Update(String),
    #[error("failed to {action} {name}: {detail}")]
    Verify {
        action: &'static str,
        name: String,
        detail: String,
    },
}

impl From<PkgngError> for TaskError {
    fn from(err: PkgngError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// What `apply` does.
#[derive(Debug, Default)]
pub struct PkgngDrift {
    install: Vec<String>,
    upgrade: Vec<String>,
    remove: Vec<String>,
    upgrade_all: bool,
    autoremove: bool,
}

impl Pkgng {
    fn removing(&self) -> bool {
        self.state == "absent"
    }

    fn latest(&self) -> bool {
        self.state == "latest"
    }

    /// The module splits a single name at commas and white space.
    fn names(&self) -> Vec<String> {
        let names: Vec<String> = if self.name.len() == 1 {
            self.name[0]
                .split(|c: char| c == ',' || c.is_whitespace())
                .map(str::to_string)
                .collect()
        } else {
            self.name.clone()
        };
        names
            .into_iter()
            .filter(|n| !n.is_empty() && n != "*")
            .collect()
    }

    /// Defines `pk ACTION ARGS...`: `pkg` with the module's directory
    /// argument, environment, globs and repository.
    fn prelude(&self) -> String {
        let dir = match (&self.rootdir, &self.chroot, &self.jail) {
            (Some(d), _, _) => format!(" {}", shell_quote(&format!("--rootdir={d}"))),
            (_, Some(d), _) => format!(" {}", shell_quote(&format!("--chroot={d}"))),
            (_, _, Some(j)) => format!(" {}", shell_quote(&format!("--jail={j}"))),
            _ => String::new(),
        };
        let osver = if self.ignore_osver {
            " IGNORE_OSVERSION=yes"
        } else {
            ""
        };
        let globs = if self.use_globs {
            "case $a in info|install|upgrade) set -- -g \"$@\";; esac\n"
        } else {
            ""
        };
        let site = match &self.pkgsite {
            Some(site) => format!(
                "case $a in update|install|upgrade) set -- {} \"$@\";; esac\n",
                shell_quote(&format!("--repository={site}"))
            ),
            None => String::new(),
        };
        format!(
            "{}export LC_ALL=C\ncommand -v pkg >/dev/null 2>&1 || fail notool\n\
             pk() {{ a=$1; shift\n{globs}{site}BATCH=yes{osver} pkg{dir} \"$a\" \"$@\"; }}\n",
            remote::FAIL_FN
        )
    }

    fn check_script(&self) -> String {
        let mut s = self.prelude();
        for name in self.names() {
            let q = shell_quote(&name);
            s.push_str(&format!(
                "if pk info -e {q} >/dev/null 2>&1; then echo 'I '{q}\n"
            ));
            if self.latest() {
                s.push_str(&format!(
                    "pk upgrade -n {q} >/dev/null 2>&1; [ $? = 1 ] && echo 'U '{q}\n"
                ));
            }
            s.push_str(&format!("else echo 'M '{q}; fi\n"));
        }
        if self.name.iter().any(|n| n == "*") && self.latest() {
            s.push_str("pk upgrade -n 2>/dev/null | sed -n 's/^Number of packages to be \\(upgraded\\|reinstalled\\): \\([0-9]*\\)/A \\2/p'\n");
        }
        if self.autoremove {
            s.push_str("pk autoremove -n 2>/dev/null | sed -n 's/^Number of packages to be removed: \\([0-9]*\\)/R \\1/p'\n");
        }
        s
    }

    fn failure(out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let detail = failure.detail.clone();
        match failure.code.as_deref() {
            Some("notool") => PkgngError::NoTool.into(),
            Some("update") => PkgngError::Update(detail).into(),
            Some(code) => {
                let (action, name) = code.split_once(' ').unwrap_or((code, ""));
                let action = match action {
                    "install" => "install",
                    "upgrade" => "upgrade",
                    _ => "remove",
                };
                PkgngError::Verify {
                    action,
                    name: name.to_string(),
                    detail,
                }
                .into()
            }
            None => TaskError::failed_with(
                format!("the pkg script failed: {detail}"),
                Outcome::ok().with_output(out),
            ),
        }
    }
}

#[async_trait]
impl Task for Pkgng {
    type Drift = PkgngDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PkgngDrift>, TaskError> {
        let dirs = [&self.rootdir, &self.chroot]
            .iter()
            .filter(|d| d.is_some())
            .count()
            + usize::from(self.jail.is_some());
        if dirs > 1 {
            return Err(PkgngError::Exclusive.into());
        }
        if self.annotation.is_some() {
            return Err(PkgngError::Annotation.into());
        }
        let out = cx.run(&self.check_script(), &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let mut drift = PkgngDrift::default();
        for line in out.stdout_text().lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "M" if !self.removing() => drift.install.push(rest.to_string()),
                "I" if self.removing() => drift.remove.push(rest.to_string()),
                "U" => drift.upgrade.push(rest.to_string()),
                "A" => drift.upgrade_all |= rest.parse::<u64>().unwrap_or(0) > 0,
                "R" => drift.autoremove |= rest.parse::<u64>().unwrap_or(0) > 0,
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
        if drift.upgrade_all {
            msgs.push("would upgrade all packages".to_string());
        }
        if drift.autoremove {
            msgs.push("would autoremove unneeded packages".to_string());
        }
        if msgs.is_empty() {
            return Ok(Check::InSync(
                Outcome::ok().with_msg(format!("package(s) already {}", self.state)),
            ));
        }
        let mut preview = Outcome::ok().with_msg(msgs.join(", "));
        preview.changed = true;
        if cx.diff {
            let lines = |list: &[String], state: &str| -> String {
                list.iter().map(|n| format!("{n}: {state}\n")).collect()
            };
            let before = lines(&drift.install, "absent") + &lines(&drift.remove, "present");
            let after = lines(&drift.install, "present") + &lines(&drift.remove, "absent");
            preview.diffs.push(Diff {
                subject: "packages".into(),
                before: Some(before + &lines(&drift.upgrade, "installed")),
                after: Some(after + &lines(&drift.upgrade, "latest")),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: PkgngDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude();
        let join = |list: &[String]| -> String {
            list.iter()
                .map(|n| format!(" {}", shell_quote(n)))
                .collect()
        };
        if !self.cached && (!drift.install.is_empty() || !drift.upgrade.is_empty()) {
            s.push_str("pk update >&2 || fail update\n");
        }
        if drift.upgrade_all {
            s.push_str("pk upgrade -y >&2 || fail 'upgrade *'\n");
        }
        for (action, list) in [("install", &drift.install), ("upgrade", &drift.upgrade)] {
            if list.is_empty() {
                continue;
            }
            s.push_str(&format!("pk {action} -U -y{} >&2\n", join(list)));
            for name in list.iter() {
                let q = shell_quote(name);
                let verified = if action == "install" {
                    format!("pk info -e {q} >/dev/null 2>&1")
                } else {
                    format!("{{ pk upgrade -n {q} >/dev/null 2>&1; [ $? != 1 ]; }}")
                };
                s.push_str(&format!(
                    "{verified} || fail {}\n",
                    shell_quote(&format!("{action} {name}"))
                ));
            }
        }
        for name in &drift.remove {
            let q = shell_quote(name);
            s.push_str(&format!(
                "pk delete -y {q} >&2; pk info -e {q} >/dev/null 2>&1 && fail {}\n",
                shell_quote(&format!("remove {name}"))
            ));
        }
        if drift.autoremove {
            s.push_str("pk autoremove -y >&2 || fail 'remove unneeded packages'\n");
        }
        s.push_str(":\n");
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out));
        }
        let mut msgs = Vec::new();
        for (verb, list) in [
            ("installed", &drift.install),
            ("upgraded", &drift.upgrade),
            ("removed", &drift.remove),
        ] {
            if !list.is_empty() {
                let plural = if list.len() == 1 { "" } else { "s" };
                msgs.push(format!("{verb} {} package{plural}", list.len()));
            }
        }
        let mut outcome = Outcome::ok()
            .with_msg(msgs.join("; "))
            .with_output(&remote::without_marker(&out));
        outcome.changed = true;
        Ok(outcome)
    }
}
