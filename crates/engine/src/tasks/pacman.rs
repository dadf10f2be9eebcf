//! The `pacman` task (community.general.pacman): Arch Linux packages
//! present, at their latest version or absent, the package databases
//! refreshed, the system upgraded, and install reasons set, through the
//! host's own `pacman`, with the commands of community.general's module.
//!
//! The check is one script: `update_cache` refreshes the sync databases
//! first (outside check mode; in check mode it is reported as a change
//! without running, as the module does), then `pacman --query` (and
//! `--explicit`, `--deps`, `--upgrades`) reads what is installed, the
//! shell keeps the names that need work (for `present`, an installed
//! package needs none; for `latest`, `--needed` lets pacman skip what is
//! up to date), and a `--print-format` dry run of the one install or
//! remove lists exactly what would change, dependencies included. The
//! apply is one script: the same transaction for real, then the reasons.
//! The diff is the module's: `name-version-reason` lines before and after.
//!
//! Differences from Ansible: package files and URLs as names are not
//! supported (a repository's packages, `repo/name` and groups are).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ShlexError, shell_quote, shlex_split};
use crate::tasks::sections::{section, sections};

/// The arguments of `pacman`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pacman {
    #[serde(default)]
    pub name: Vec<String>,
    pub state: String,
    pub force: bool,
    pub remove_nosave: bool,
    pub executable: String,
    pub extra_args: String,
    pub upgrade: Option<bool>,
    pub upgrade_extra_args: String,
    pub update_cache: Option<bool>,
    pub update_cache_extra_args: String,
    pub reason: Option<String>,
    pub reason_for: String,
}

/// The parameters of `pacman`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "pacman",
        vec![
            Param::new("name", Kind::List).aliases(&["pkg", "package"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "installed", "latest", "absent", "removed"])
                .default("present"),
            Param::new("force", Kind::Bool).default(false),
            Param::new("remove_nosave", Kind::Bool).default(false),
            Param::new("executable", Kind::Str).default("pacman"),
            Param::new("extra_args", Kind::Str).default(""),
            Param::new("upgrade", Kind::Bool),
            Param::new("upgrade_extra_args", Kind::Str).default(""),
            Param::new("update_cache", Kind::Bool),
            Param::new("update_cache_extra_args", Kind::Str).default(""),
            Param::new("reason", Kind::Str).choices(&["explicit", "dependency"]),
            Param::new("reason_for", Kind::Str)
                .choices(&["new", "all"])
                .default("new"),
        ],
    )
}

/// Why a `pacman` task failed, in the module's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum PacmanError {
    #[error(
        "{0} is not installed on the host (this is not an Arch Linux-family system; use `apt`, `dnf` or `package` elsewhere)"
    )]
    NoTool(String),
    #[error("one of the following is required: name, update_cache, upgrade")]
    Nothing,
    #[error("parameters are mutually exclusive: name|upgrade")]
    NameAndUpgrade,
    #[error(
        "{0:?} is not a package name: package files and URLs are not supported by dtrplay; name packages (or groups) of the host's repositories, optionally as repo/name"
    )]
    NotAName(String),
    #[error("{name} cannot be split as the shell would: {why}")]
    Args { name: &'static str, why: ShlexError },
    #[error("could not update package db: {0}")]
    Refresh(String),
    #[error("Failed to list package(s) to install: {0}")]
    ListInstall(String),
    #[error("failed to list package(s) to remove: {0}")]
    ListRemove(String),
    #[error("Failed to install package(s): {0}")]
    Install(String),
    #[error("failed to remove package(s): {0}")]
    Remove(String),
    #[error("Could not upgrade: {0}")]
    Upgrade(String),
    #[error("could not query the package database: {0}")]
    Query(String),
}

impl From<PacmanError> for TaskError {
    fn from(err: PacmanError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// What `apply` does, from the check's dry run.
#[derive(Debug, Default)]
pub struct PacmanDrift {
    cache_updated: bool,
    /// The names given to `--sync` (install) or `--remove`.
    targets: Vec<String>,
    /// What the dry run said changes (`name` of each package).
    packages: Vec<String>,
    /// Packages whose install reason is set.
    reasons: Vec<String>,
    upgrade: bool,
}

/// `name version` lines, as `pacman --query` prints them.
fn name_versions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.contains("loading packages") && !l.contains("there is nothing to do"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

impl Pacman {
    fn target(&self) -> &str {
        match self.state.as_str() {
            "installed" => "present",
            "removed" => "absent",
            other => other,
        }
    }

    fn split(&self, name: &'static str, text: &str) -> Result<String, PacmanError> {
        let words = shlex_split(text).map_err(|why| PacmanError::Args { name, why })?;
        Ok(words
            .iter()
            .map(|w| format!(" {}", shell_quote(w)))
            .collect())
    }

    fn validate(&self) -> Result<(), PacmanError> {
        let upgrade = self.upgrade.unwrap_or(false);
        if self.name.is_empty() && !self.update_cache.unwrap_or(false) && !upgrade {
            return Err(PacmanError::Nothing);
        }
        if !self.name.is_empty() && upgrade {
            return Err(PacmanError::NameAndUpgrade);
        }
        let plain = |n: &String| {
            !n.starts_with('-')
                && !n.contains("://")
                && !n.contains(".pkg.tar")
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@._+-/".contains(c))
        };
        if let Some(bad) = self
            .name
            .iter()
            .filter(|n| !n.is_empty())
            .find(|n| !plain(n))
        {
            return Err(PacmanError::NotAName(bad.clone()));
        }
        Ok(())
    }

    fn prelude(&self) -> String {
        format!(
            "{}export LC_ALL=C\np={}\ncommand -v \"$p\" >/dev/null 2>&1 || fail notool\n",
            remote::FAIL_FN,
            shell_quote(&self.executable)
        )
    }

    fn install_base(&self) -> Result<String, PacmanError> {
        Ok(format!(
            "\"$p\" --noconfirm --noprogressbar --needed{}",
            self.split("extra_args", &self.extra_args)?
        ))
    }

    fn remove_base(&self) -> Result<String, PacmanError> {
        let force = if self.force { " --nodeps --nodeps" } else { "" };
        Ok(format!(
            "\"$p\" --remove --noconfirm --noprogressbar{}{force}",
            self.split("extra_args", &self.extra_args)?
        ))
    }

    fn check_script(&self, check_mode: bool) -> Result<String, PacmanError> {
        let mut s = self.prelude();
        if self.update_cache.unwrap_or(false) && !check_mode {
            let mut refresh = format!(
                "\"$p\" --sync --refresh{}",
                self.split("update_cache_extra_args", &self.update_cache_extra_args)?
            );
            if self.force {
                refresh.push_str(" --refresh");
            }
            s.push_str(&format!(
                "b=$(\"$p\" --sync --list 2>/dev/null | sort)\n{refresh} >&2 || fail refresh\n\
                 a=$(\"$p\" --sync --list 2>/dev/null | sort)\n"
            ));
            s.push_str(if self.force {
                "echo '@@cache_updated'\n"
            } else {
                "[ \"$b\" = \"$a\" ] || echo '@@cache_updated'\n"
            });
        }
        s.push_str(&section("Q", "\"$p\" --query 2>&1"));
        s.push_str(&section("E", "\"$p\" --query --explicit 2>/dev/null"));
        s.push_str(&section("D", "\"$p\" --query --deps 2>/dev/null"));
        if self.upgrade.unwrap_or(false) {
            s.push_str(&section("U", "\"$p\" --query --upgrades 2>/dev/null"));
        }
        let names: Vec<&String> = self.name.iter().filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Ok(s);
        }
        s.push_str("inst=$(\"$p\" --query --quiet 2>/dev/null)\nset --\n");
        for name in &names {
            let base = name.rsplit('/').next().unwrap_or(name);
            let test = format!(
                "printf '%s\\n' \"$inst\" | grep -qxF -- {}",
                shell_quote(base)
            );
            let keep = match self.target() {
                "absent" => test,
                "latest" => "true".to_string(),
                _ => format!("! {test}"),
            };
            s.push_str(&format!(
                "if {keep}; then set -- \"$@\" {}; fi\n",
                shell_quote(name)
            ));
        }
        s.push_str("for a in \"$@\"; do printf '@@arg %s\\n' \"$a\"; done\n");
        let dry_run = if self.target() == "absent" {
            format!("{} --print-format '%n-%v' \"$@\" 2>&1", self.remove_base()?)
        } else {
            format!(
                "{} --sync --print-format '%n %v' \"$@\" 2>&1",
                self.install_base()?
            )
        };
        s.push_str(&format!(
            "if [ $# -gt 0 ]; then\n{}fi\n",
            section("T", &dry_run)
        ));
        Ok(s)
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let detail = failure.detail.clone();
        match failure.code.as_deref() {
            Some("notool") => PacmanError::NoTool(self.executable.clone()).into(),
            Some("refresh") => PacmanError::Refresh(detail).into(),
            Some("install") => PacmanError::Install(detail).into(),
            Some("remove") => PacmanError::Remove(detail).into(),
            Some("upgrade") => PacmanError::Upgrade(detail).into(),
            _ => TaskError::failed_with(
                format!("the pacman script failed: {detail}"),
                Outcome::ok().with_output(&remote::without_marker(out)),
            ),
        }
    }
}

/// The inventory the check read.
struct Inventory {
    installed: BTreeMap<String, String>,
    reasons: BTreeMap<String, &'static str>,
}

impl Inventory {
    fn read(sections: &BTreeMap<String, (String, i32)>) -> Result<Inventory, PacmanError> {
        let (query, rc) = sections.get("Q").cloned().unwrap_or_default();
        if rc != 0 && !query.trim().is_empty() {
            return Err(PacmanError::Query(query.trim().to_string()));
        }
        let mut reasons = BTreeMap::new();
        for (section, reason) in [("E", "explicit"), ("D", "dependency")] {
            if let Some((text, _)) = sections.get(section) {
                for name in name_versions(text).into_keys() {
                    reasons.insert(name, reason);
                }
            }
        }
        Ok(Inventory {
            installed: if rc == 0 {
                name_versions(&query)
            } else {
                BTreeMap::new()
            },
            reasons,
        })
    }

    fn line(&self, name: &str, version: &str) -> String {
        match self.reasons.get(name) {
            Some(reason) => format!("{name}-{version}-{reason}"),
            None => format!("{name}-{version}"),
        }
    }
}

#[async_trait]
impl Task for Pacman {
    type Drift = PacmanDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<PacmanDrift>, TaskError> {
        self.validate()?;
        let out = cx.run(&self.check_script(cx.check_mode)?, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let stdout = out.stdout_text();
        let sections = sections(&stdout);
        let inventory = Inventory::read(&sections)?;
        let mut drift = PacmanDrift {
            cache_updated: stdout.lines().any(|l| l == "@@cache_updated")
                || (cx.check_mode && self.update_cache.unwrap_or(false)),
            targets: stdout
                .lines()
                .filter_map(|l| l.strip_prefix("@@arg "))
                .map(str::to_string)
                .collect(),
            ..PacmanDrift::default()
        };
        let mut msgs = Vec::new();
        if drift.cache_updated {
            msgs.push(if cx.check_mode {
                "Would have updated the package db".to_string()
            } else {
                "Updated package db".to_string()
            });
        }
        let (mut before, mut after) = (Vec::new(), Vec::new());
        if let Some((text, rc)) = sections.get("T") {
            if *rc != 0 {
                let detail = text.trim().to_string();
                return Err(if self.target() == "absent" {
                    PacmanError::ListRemove(detail)
                } else {
                    PacmanError::ListInstall(detail)
                }
                .into());
            }
            if self.target() == "absent" {
                for word in text.split_whitespace() {
                    before.push(word.to_string());
                    drift.packages.push(word.to_string());
                }
            } else {
                for (name, version) in name_versions(text) {
                    if let Some(old) = inventory.installed.get(&name) {
                        before.push(inventory.line(&name, old));
                    }
                    after.push(match &self.reason {
                        Some(reason) => format!("{name}-{version}-{reason}"),
                        None => inventory.line(&name, &version),
                    });
                    drift.packages.push(name);
                }
            }
        }
        if let Some(reason) = &self.reason
            && self.target() != "absent"
        {
            // The module's rule: a package gets the reason when it is new,
            // or, with `reason_for: all`, when it has another one.
            for name in self.name.iter().filter(|n| !n.is_empty()) {
                let base = name.rsplit('/').next().unwrap_or(name).to_string();
                let set = match inventory.reasons.get(&base) {
                    None => true,
                    Some(had) => self.reason_for == "all" && had != reason,
                };
                if set && !drift.reasons.contains(&base) {
                    drift.reasons.push(base);
                }
            }
        }
        if let Some((text, _)) = sections.get("U") {
            for line in text.lines().filter(|l| !l.contains("[ignored]")) {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let [name, current, "->", latest] = words.as_slice() {
                    before.push(format!("{name}-{current}"));
                    after.push(format!("{name}-{latest}"));
                    drift.packages.push(name.to_string());
                    drift.upgrade = true;
                }
            }
        }
        let changes_packages = !drift.packages.is_empty() || !drift.reasons.is_empty();
        if !changes_packages && !drift.cache_updated {
            let msg = match self.target() {
                _ if self.upgrade.unwrap_or(false) => "Nothing to upgrade",
                _ if self.name.is_empty() => "",
                "absent" => "package(s) already absent",
                _ => "package(s) already installed",
            };
            return Ok(Check::InSync(
                Outcome::ok()
                    .with_msg(msg)
                    .with_data("packages", Vec::<String>::new()),
            ));
        }
        let mut packages: Vec<String> = drift.packages.clone();
        packages.extend(
            drift
                .reasons
                .iter()
                .filter(|r| !drift.packages.contains(r))
                .cloned(),
        );
        packages.sort();
        if changes_packages {
            let count = packages.len();
            msgs.push(match () {
                _ if drift.upgrade => format!("{count} packages would have been upgraded"),
                _ if self.target() == "absent" => format!("Would have removed {count} packages"),
                _ => format!("Would have installed {count} packages"),
            });
        }
        let mut preview = Outcome::ok()
            .with_msg(msgs.join("\n"))
            .with_data("packages", packages)
            .with_data("cache_updated", drift.cache_updated);
        preview.changed = true;
        if cx.diff && changes_packages {
            before.sort();
            after.sort();
            let text = |lines: &[String]| {
                if lines.is_empty() {
                    String::new()
                } else {
                    format!("{}\n", lines.join("\n"))
                }
            };
            preview.diffs.push(Diff {
                subject: "packages".into(),
                before: Some(text(&before)),
                after: Some(text(&after)),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: PacmanDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude();
        let mut msgs = Vec::new();
        if drift.cache_updated {
            msgs.push("Updated package db".to_string());
        }
        let quoted: String = drift
            .targets
            .iter()
            .map(|t| format!(" {}", shell_quote(t)))
            .collect();
        if drift.upgrade {
            s.push_str(&format!(
                "\"$p\" --sync --sysupgrade --quiet --noconfirm{} >&2 || fail upgrade\n",
                self.split("upgrade_extra_args", &self.upgrade_extra_args)?
            ));
            msgs.push("System upgraded".to_string());
        } else if !drift.packages.is_empty() && self.target() == "absent" {
            let nosave = if self.remove_nosave { " --nosave" } else { "" };
            s.push_str(&format!(
                "{}{nosave}{quoted} >&2 || fail remove\n",
                self.remove_base()?
            ));
            msgs.push(format!("Removed {} package(s)", drift.packages.len()));
        } else if !drift.packages.is_empty() {
            s.push_str(&format!(
                "{} --sync{quoted} >&2 || fail install\n",
                self.install_base()?
            ));
        }
        if let Some(reason) = self.reason.as_deref().filter(|_| !drift.reasons.is_empty()) {
            let flag = if reason == "dependency" {
                "--asdeps"
            } else {
                "--asexplicit"
            };
            let names: String = drift
                .reasons
                .iter()
                .map(|r| format!(" {}", shell_quote(r)))
                .collect();
            s.push_str(&format!(
                "\"$p\" --noconfirm --database {flag}{names} >&2 || fail install\n"
            ));
        }
        let mut packages = drift.packages.clone();
        packages.extend(
            drift
                .reasons
                .iter()
                .filter(|r| !drift.packages.contains(r))
                .cloned(),
        );
        packages.sort();
        if self.target() != "absent" && !drift.upgrade && !packages.is_empty() {
            msgs.push(format!("Installed {} package(s)", packages.len()));
        }
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let mut outcome = Outcome::ok()
            .with_msg(msgs.join("\n"))
            .with_data("packages", packages)
            .with_data("cache_updated", drift.cache_updated)
            .with_data("stderr", out.stderr_text().trim_end().to_string());
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_queries_are_read() {
        let s = sections(
            "@@begin Q\na 1.0-1\nb 2-1\n@@end Q 0\n@@begin T\nloading packages...\nc 3-1\n@@end T 0\n",
        );
        assert_eq!(name_versions(&s["Q"].0).len(), 2);
        assert_eq!(name_versions(&s["T"].0)["c"], "3-1");
    }
}
