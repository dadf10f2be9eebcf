//! The `zypper` task (community.general.zypper): SUSE packages present, at
//! their latest version or absent, through the host's own `zypper`, with
//! the commands and arguments of community.general's module.
//!
//! The check is one script: `update_cache` refreshes the repositories
//! first (outside check mode, as the module does: the metadata cache is
//! not a change), one `search --installed-only` says which of the named
//! packages are installed, the shell keeps the ones that need work (for
//! `present`, a name without a version that is already there needs none;
//! versioned names and `latest` always go to zypper, which knows whether
//! anything changes), and one `--dry-run` of the transaction lists what
//! would change. The apply is one script: the same transaction for real.
//! What changed is zypper's own summary of the transaction (its
//! `to-install`, `to-upgrade` and `to-remove` lists), which is also the
//! `prepared` diff, in the module's words.
//!
//! Differences from Ansible: transactional-update systems (a read-only
//! btrfs root) are not detected; `extra_args_precommand` is split at
//! white space, `extra_args` at single spaces, as the module splits them.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};
use crate::tasks::sections::sections;
use crate::tasks::zypper_xml::{self, Solvable};

/// The arguments of `zypper`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zypper {
    pub name: Vec<String>,
    pub state: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub extra_args_precommand: Option<String>,
    pub disable_gpg_check: bool,
    pub auto_import_keys: bool,
    pub disable_recommends: bool,
    pub force: bool,
    pub force_resolution: bool,
    pub update_cache: bool,
    pub oldpackage: bool,
    pub extra_args: Option<String>,
    pub allow_vendor_change: bool,
    pub replacefiles: bool,
    pub clean_deps: bool,
    pub simple_errors: bool,
    pub quiet: bool,
    pub skip_post_errors: bool,
}

/// The parameters of `zypper`, as community.general names them.
pub fn spec() -> Spec {
    let flag = |name: &str, default: bool| Param::new(name, Kind::Bool).default(default);
    Spec::new(
        "zypper",
        vec![
            Param::new("name", Kind::List).required().aliases(&["pkg"]),
            Param::new("state", Kind::Str)
                .choices(&[
                    "present",
                    "latest",
                    "absent",
                    "dist-upgrade",
                    "installed",
                    "removed",
                ])
                .default("present"),
            Param::new("type", Kind::Str)
                .choices(&[
                    "package",
                    "patch",
                    "pattern",
                    "product",
                    "srcpackage",
                    "application",
                ])
                .default("package"),
            Param::new("extra_args_precommand", Kind::Str),
            flag("disable_gpg_check", false),
            flag("auto_import_keys", false),
            flag("disable_recommends", true),
            flag("force", false),
            flag("force_resolution", false),
            flag("update_cache", false).aliases(&["refresh"]),
            flag("oldpackage", false),
            Param::new("extra_args", Kind::Str),
            flag("allow_vendor_change", false),
            flag("replacefiles", false),
            flag("clean_deps", false),
            flag("simple_errors", false),
            flag("quiet", true),
            flag("skip_post_errors", false),
        ],
    )
}

/// Why a `zypper` task failed, in the module's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum ZypperError {
    #[error(
        "zypper is not installed on the host (this is not a SUSE-family system; use `apt`, `dnf` or `package` elsewhere)"
    )]
    NoTool,
    #[error("Can not dist-upgrade specific packages.")]
    DistUpgradeNames,
    #[error("Can not combine '+' prefix with state=remove/absent.")]
    PlusAbsent,
    #[error("Can not remove via URL.")]
    RemoveUrl,
    #[error("Can not remove patches.")]
    RemovePatch,
    #[error("Zypper refresh run failed.")]
    Refresh,
    #[error("could not list the installed packages: {0}")]
    Search(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Zypper run command failed with return code {0}.")]
    Run(i32),
    #[error("zypper's output could not be read: {0}")]
    Output(String),
}

impl From<ZypperError> for TaskError {
    fn from(err: ZypperError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// One named package: its `+`/`-` prefix (install or remove), name and
/// version specifier (`=1.0`, `>=2`), as the module splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Package {
    prefix: char,
    name: String,
    version: String,
}

impl Package {
    fn spec(&self) -> String {
        format!("{}{}{}", self.prefix, self.name, self.version)
    }
}

fn is_url(name: &str) -> bool {
    name.contains("://") || name.ends_with(".rpm")
}

/// The module's `get_want_state`: packages (with the prefix the state
/// implies) and URLs or package files.
fn want(names: &[String], remove: bool) -> (Vec<Package>, Vec<String>) {
    let version = Regex::new(r"^(.*?)((?:<|>|<=|>=|=)[0-9.-]*)?$").expect("version pattern");
    let mut packages = Vec::new();
    let mut urls = Vec::new();
    for name in names.iter().filter(|n| !n.is_empty()) {
        if is_url(name) {
            urls.push(name.clone());
            continue;
        }
        let (prefix, rest) = match name.chars().next() {
            Some(c @ ('-' | '~' | '+')) => (if c == '~' { '-' } else { c }, &name[1..]),
            _ => (if remove { '-' } else { '+' }, name.as_str()),
        };
        let (pname, pversion) = match version.captures(rest) {
            Some(c) => (
                c[1].to_string(),
                c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default(),
            ),
            None => (rest.to_string(), String::new()),
        };
        packages.push(Package {
            prefix,
            name: pname,
            version: pversion,
        });
    }
    (packages, urls)
}

/// What `apply` runs: the subcommand and its final arguments.
#[derive(Debug)]
pub struct ZypperDrift {
    subcommand: String,
    args: Vec<String>,
}

impl Zypper {
    fn removing(&self) -> bool {
        matches!(self.state.as_str(), "absent" | "removed")
    }

    fn update_all(&self) -> bool {
        self.name == ["*"] && matches!(self.state.as_str(), "latest" | "dist-upgrade")
    }

    /// The module's `get_cmd`: zypper's global options, the subcommand and
    /// its options.
    fn words(&self, sub: &str, dry_run: bool) -> Vec<String> {
        let install = matches!(sub, "install" | "update" | "patch" | "dist-upgrade");
        let mut w: Vec<String> = vec![
            "zypper".into(),
            "--non-interactive".into(),
            "--xmlout".into(),
        ];
        if self.quiet {
            w.push("--quiet".into());
        }
        if let Some(pre) = &self.extra_args_precommand {
            w.extend(pre.split_whitespace().map(str::to_string));
        }
        if (install || sub == "refresh") && self.disable_gpg_check {
            w.push("--no-gpg-checks".into());
        }
        if install && self.auto_import_keys {
            w.push("--gpg-auto-import-keys".into());
        }
        if sub == "search" {
            w.push("--disable-repositories".into());
        }
        w.push(sub.into());
        if !matches!(sub, "patch" | "dist-upgrade" | "refresh") {
            w.extend(["--type".to_string(), self.kind.clone()]);
        }
        if dry_run && sub != "search" {
            w.push("--dry-run".into());
        }
        if install {
            w.push("--auto-agree-with-licenses".into());
            let versioned = want(&self.name, false)
                .0
                .iter()
                .any(|p| !p.version.is_empty());
            for (on, flag) in [
                (self.disable_recommends, "--no-recommends"),
                (self.force, "--force"),
                (self.force_resolution, "--force-resolution"),
                (self.oldpackage || versioned, "--oldpackage"),
                (self.replacefiles, "--replacefiles"),
            ] {
                if on {
                    w.push(flag.into());
                }
            }
        }
        if sub == "remove" && self.clean_deps {
            w.push("--clean-deps".into());
        }
        if sub == "dist-upgrade" && self.allow_vendor_change {
            w.push("--allow-vendor-change".into());
        }
        if let Some(extra) = &self.extra_args {
            w.extend(extra.split(' ').map(str::to_string));
        }
        w
    }

    fn quoted(words: &[String]) -> String {
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn prelude(&self) -> String {
        format!(
            "{}export LANG=C LC_ALL=C LC_MESSAGES=C\ncommand -v zypper >/dev/null 2>&1 || fail notool\n",
            remote::FAIL_FN
        )
    }

    /// The subcommand, and the shell that leaves its arguments in `"$@"`.
    fn plan(&self) -> Result<(String, String), ZypperError> {
        if self.update_all() {
            let sub = match (self.kind.as_str(), self.state.as_str()) {
                ("patch", _) => "patch",
                (_, "dist-upgrade") => "dist-upgrade",
                _ => "update",
            };
            return Ok((sub.to_string(), "set --\n".to_string()));
        }
        if self.state == "dist-upgrade" {
            return Err(ZypperError::DistUpgradeNames);
        }
        let removing = self.removing();
        let (packages, urls) = want(&self.name, removing);
        if removing {
            if packages.iter().any(|p| p.prefix == '+') {
                return Err(ZypperError::PlusAbsent);
            }
            if !urls.is_empty() {
                return Err(ZypperError::RemoveUrl);
            }
            if self.kind == "patch" {
                return Err(ZypperError::RemovePatch);
            }
        }
        // Which packages are installed: asked only for the names whose
        // state decides whether they go to zypper.
        let asked: Vec<&Package> = packages
            .iter()
            .filter(|p| removing || (self.state != "latest" && p.version.is_empty()))
            .collect();
        let mut s = String::from("inst=\n");
        if !asked.is_empty() {
            let mut search = self.words("search", false);
            search.extend(["--match-exact", "--details", "--installed-only"].map(String::from));
            search.extend(asked.iter().map(|p| p.name.clone()));
            s.push_str(&format!(
                "inst=$({} 2>&1); r=$?\ncase $r in 0|104|106) ;; *) printf '%s\\n' \"$inst\" >&2; fail search;; esac\n",
                Self::quoted(&search)
            ));
        }
        s.push_str("set --");
        for url in &urls {
            s.push_str(&format!(" {}", shell_quote(url)));
        }
        s.push('\n');
        for p in &packages {
            let word = if removing {
                format!("{}{}", p.name, p.version)
            } else {
                p.spec()
            };
            if asked.contains(&p) {
                let needle = format!("name=\"{}\"", p.name);
                // Installing a package that is there, or removing one that
                // is not, is nothing to do.
                let keep = if p.prefix == '+' { "!" } else { "" };
                s.push_str(&format!(
                    "if {keep} printf '%s\\n' \"$inst\" | grep -qF -- {}; then set -- \"$@\" {}; fi\n",
                    shell_quote(&needle),
                    shell_quote(&word)
                ));
            } else {
                s.push_str(&format!("set -- \"$@\" {}\n", shell_quote(&word)));
            }
        }
        let sub = if removing { "remove" } else { "install" };
        Ok((sub.to_string(), s))
    }

    /// The transaction, with `--` before its arguments where the module
    /// puts one.
    fn transaction(&self, sub: &str, dry_run: bool) -> String {
        let mut words = Self::quoted(&self.words(sub, dry_run));
        if sub == "install" {
            words.push_str(" --");
        }
        format!("echo '@@begin tx'\n{words} \"$@\" 2>&1\necho \"@@end tx $?\"\n")
    }

    fn check_script(&self) -> Result<(String, String), ZypperError> {
        let mut s = self.prelude();
        if self.update_cache {
            s.push_str(&format!(
                "echo '@@begin refresh'\n{} 2>&1\necho \"@@end refresh $?\"\n",
                Self::quoted(&self.words("refresh", false))
            ));
        }
        let (sub, plan) = self.plan()?;
        s.push_str(&plan);
        s.push_str("for a in \"$@\"; do printf '@@arg %s\\n' \"$a\"; done\n");
        let all = sub != "install" && sub != "remove";
        if all {
            s.push_str(&self.transaction(&sub, true));
        } else {
            s.push_str(&format!(
                "if [ $# -gt 0 ]; then\n{}fi\n",
                self.transaction(&sub, true)
            ));
        }
        Ok((sub, s))
    }

    /// The transaction's result: its solvables, or the module's failure.
    fn result(&self, text: &str, rc: i32) -> Result<Vec<Solvable>, TaskError> {
        let stream = zypper_xml::parse(text);
        let ok = matches!(rc, 0 | 102 | 103 | 106) || (rc == 107 && self.skip_post_errors);
        if rc == 104 {
            let msg = stream
                .messages
                .last()
                .cloned()
                .unwrap_or_else(|| "zypper found no such package".to_string());
            return Err(TaskError::failed_with(
                ZypperError::NotFound(msg).to_string(),
                Outcome::ok()
                    .with_data("rc", rc)
                    .with_data("stdout", self.stdout(text, &stream)),
            ));
        }
        if !ok {
            return Err(TaskError::failed_with(
                ZypperError::Run(rc).to_string(),
                Outcome::ok()
                    .with_data("rc", rc)
                    .with_data("stdout", self.stdout(text, &stream)),
            ));
        }
        Ok(stream.solvables)
    }

    fn stdout(&self, text: &str, stream: &zypper_xml::Stream) -> String {
        if self.simple_errors && !stream.messages.is_empty() {
            stream.messages.join(" \n")
        } else {
            text.to_string()
        }
    }

    fn outcome(&self, sub: &str, args: &[String], rc: i32, solvables: &[Solvable]) -> Outcome {
        let mut cmd = self.words(sub, false);
        if sub == "install" {
            cmd.push("--".into());
        }
        cmd.extend(args.iter().cloned());
        Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("state", self.state.clone())
            .with_data("update_cache", self.update_cache)
            .with_data("rc", rc)
            .with_data("cmd", cmd)
            .with_diff(Diff {
                subject: "packages".into(),
                before: Some(String::new()),
                after: Some(prepared(solvables)),
            })
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        match failure.code.as_deref() {
            Some("notool") => ZypperError::NoTool.into(),
            Some("search") => ZypperError::Search(failure.detail).into(),
            _ => TaskError::failed_with(
                format!("the zypper script failed: {}", failure.detail),
                Outcome::ok().with_output(&remote::without_marker(out)),
            ),
        }
    }
}

/// The module's `prepared` diff: one line per kind of change.
fn prepared(solvables: &[Solvable]) -> String {
    let mut installed = Vec::new();
    let mut removed = Vec::new();
    let mut upgraded = Vec::new();
    for s in solvables {
        match s.group.as_str() {
            "to-upgrade" => {
                upgraded.push(format!("{} ({} => {})", s.name, s.edition_old, s.edition))
            }
            "to-install" => installed.push(s.name.clone()),
            "to-remove" => removed.push(s.name.clone()),
            _ => {}
        }
    }
    let mut out = String::new();
    for (state, list) in [
        ("installed", installed),
        ("removed", removed),
        ("upgraded", upgraded),
    ] {
        if !list.is_empty() {
            out.push_str(&format!("{state}: {}\n", list.join(", ")));
        }
    }
    out
}

/// The solvables a transaction changes (not those of a search).
fn changing(solvables: Vec<Solvable>) -> Vec<Solvable> {
    solvables
        .into_iter()
        .filter(|s| s.group.starts_with("to-"))
        .collect()
}

#[async_trait]
impl Task for Zypper {
    type Drift = ZypperDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<ZypperDrift>, TaskError> {
        let task = Zypper {
            // In check mode the module never refreshes.
            update_cache: self.update_cache && !cx.check_mode,
            ..self.clone()
        };
        let (sub, script) = task.check_script()?;
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(task.failure(&out));
        }
        let stdout = out.stdout_text();
        let sections = sections(&stdout);
        if let Some((text, rc)) = sections.get("refresh")
            && *rc != 0
        {
            return Err(TaskError::failed_with(
                ZypperError::Refresh.to_string(),
                Outcome::ok()
                    .with_data("rc", *rc)
                    .with_data("stdout", text.clone()),
            ));
        }
        let args: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("@@arg "))
            .map(str::to_string)
            .collect();
        let solvables = match sections.get("tx") {
            None => Vec::new(),
            Some((text, rc)) => changing(self.result(text, *rc)?),
        };
        if solvables.is_empty() {
            return Ok(Check::InSync(
                Outcome::ok()
                    .with_data("name", self.name.clone())
                    .with_data("state", self.state.clone())
                    .with_data("update_cache", self.update_cache)
                    .with_data("rc", 0),
            ));
        }
        let mut preview = self.outcome(&sub, &args, 0, &solvables);
        preview.changed = true;
        preview.msg = Some(format!(
            "would {}",
            prepared(&solvables).trim_end().replace('\n', "; ")
        ));
        if !cx.diff {
            preview.diffs.clear();
        }
        Ok(Check::Drift {
            drift: ZypperDrift {
                subcommand: sub,
                args,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: ZypperDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude();
        s.push_str("set --");
        for a in &drift.args {
            s.push_str(&format!(" {}", shell_quote(a)));
        }
        s.push('\n');
        s.push_str(&self.transaction(&drift.subcommand, false));
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let sections = sections(&out.stdout_text());
        let (text, rc) = sections
            .get("tx")
            .cloned()
            .ok_or_else(|| ZypperError::Output("the transaction printed nothing".into()))?;
        let solvables = changing(self.result(&text, rc)?);
        let mut outcome = self.outcome(&drift.subcommand, &drift.args, rc, &solvables);
        outcome.changed = matches!(rc, 0 | 102) && !solvables.is_empty();
        outcome.msg = Some(prepared(&solvables).trim_end().replace('\n', "; "));
        if outcome.changed {
            outcome.data.insert("stdout".into(), Value::String(text));
            outcome
                .data
                .insert("stderr".into(), Value::String(String::new()));
        }
        if !cx.diff {
            outcome.diffs.clear();
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_prefix_name_and_version() {
        let names = ["docker>=1.10", "-exim", "~old", "apache2=2.4", "x.rpm"].map(String::from);
        let (packages, urls) = want(&names, false);
        let specs: Vec<String> = packages.iter().map(Package::spec).collect();
        assert_eq!(specs, ["+docker>=1.10", "-exim", "-old", "+apache2=2.4"]);
        assert_eq!(urls, ["x.rpm"]);
        let (packages, _) = want(&["nmap".to_string()], true);
        assert_eq!(packages[0].spec(), "-nmap");
    }
}
