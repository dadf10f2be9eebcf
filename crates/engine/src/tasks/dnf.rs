//! The `dnf` and `yum` tasks: RPM packages present, at their latest
//! version or absent, through the host's own `dnf` (or `yum`) and `rpm`.
//! `dnf` uses `dnf` and falls back to `yum`; `yum` the other way round
//! (on current RHEL-family systems `yum` is dnf). A host with neither is a
//! task failure naming both.
//!
//! The check is one script: every named package's state in one `rpm -q`,
//! for `latest` the updates in one `check-update`, and for missing names
//! whether the repositories have them (one `repoquery`), so check mode says
//! "No package matching" as the apply would. The apply is one script: one
//! `install`, `upgrade` or `remove` for all the names that need it, then
//! the same `rpm -q`, so what changed is read back, not assumed. Names are
//! package names, optionally with a version (`name-1.0` or
//! `name-1.0-1`, as rpm and dnf read them).
//!
//! `exclude` keeps the named packages (globs as dnf reads them) out of
//! every query and transaction (`--exclude`). A `name-version` below the
//! installed version is a downgrade: with `allow_downgrade` it is made
//! (`dnf install` of an older version downgrades); without it the newer
//! package counts as the request met, as Ansible's module treats it.
//!
//! Differences from Ansible: package files and URLs as names, groups
//! (`@name`), `list`, `security`/`bugfix`, `download_only` and
//! `installroot` are not supported; the diff is a
//! listing of the packages that change.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `dnf` and `yum`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dnf {
    /// Which task this is: empty for `dnf`, `yum` when [`Yum`] runs it.
    #[serde(skip)]
    pub tool: String,
    #[serde(default)]
    pub name: Vec<String>,
    pub state: String,
    #[serde(default)]
    pub update_cache: bool,
    #[serde(default)]
    pub disable_gpg_check: bool,
    #[serde(default)]
    pub enablerepo: Vec<String>,
    #[serde(default)]
    pub disablerepo: Vec<String>,
    pub conf_file: Option<String>,
    pub releasever: Option<String>,
    pub install_weak_deps: Option<bool>,
    #[serde(default)]
    pub autoremove: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub allow_downgrade: bool,
}

fn params() -> Vec<Param> {
    vec![
        Param::new("name", Kind::List).aliases(&["pkg"]),
        Param::new("state", Kind::Str)
            .choices(&["present", "installed", "latest", "absent", "removed"])
            .default("present"),
        Param::new("update_cache", Kind::Bool)
            .default(false)
            .aliases(&["expire-cache"]),
        Param::new("disable_gpg_check", Kind::Bool).default(false),
        Param::new("enablerepo", Kind::List),
        Param::new("disablerepo", Kind::List),
        Param::new("conf_file", Kind::Path),
        Param::new("releasever", Kind::Str),
        Param::new("install_weak_deps", Kind::Bool),
        Param::new("autoremove", Kind::Bool).default(false),
        Param::new("exclude", Kind::List),
        Param::new("allow_downgrade", Kind::Bool).default(false),
    ]
}

/// The parameters of `dnf`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new("dnf", params()).collapses("name")
}

/// The parameters of `yum`, as Ansible names them.
pub fn yum_spec() -> Spec {
    Spec::new("yum", params()).collapses("name")
}

/// What `apply` must do.
#[derive(Debug, Default)]
pub struct DnfDrift {
    install: Vec<String>,
    upgrade: Vec<String>,
    remove: Vec<String>,
    makecache: bool,
    /// Installed versions before, for the result.
    before: BTreeMap<String, String>,
}

impl DnfDrift {
    /// What changes, one line per package, as Ansible's `results`.
    fn results(&self) -> Vec<String> {
        let lines = [
            ("Installed", &self.install),
            ("Upgraded", &self.upgrade),
            ("Removed", &self.remove),
        ];
        lines
            .iter()
            .flat_map(|(verb, names)| names.iter().map(move |n| format!("{verb}: {n}")))
            .collect()
    }
}

/// What `rpm -q` said: installed versions by the name as queried, and the
/// queries that matched nothing.
#[derive(Debug, Default)]
struct Installed {
    versions: BTreeMap<String, String>,
    missing: Vec<String>,
    /// Names with an update (`check-update`).
    outdated: Vec<String>,
    /// Names the repositories have (`repoquery`).
    available: Vec<String>,
    /// For a `name-version` query: the package installed under `name`, and
    /// its version.
    bases: BTreeMap<String, (String, String)>,
}

/// The probe's lines: `Q <query>` before each query's rpm output,
/// `P\t<name>\t<version>` for an installed package, rpm's own `package X
/// is not installed`, `U <name>` for an update, `A <name>` for what the
/// repositories have.
fn parse(stdout: &str) -> Installed {
    let mut out = Installed::default();
    let mut query = String::new();
    for line in stdout.lines() {
        if let Some(q) = line.strip_prefix("Q ") {
            query = q.to_string();
        } else if let Some(rest) = line.strip_prefix("P\t") {
            let version = rest.split('\t').nth(1).unwrap_or_default();
            out.versions.insert(query.clone(), version.to_string());
        } else if line.starts_with("package ") && line.ends_with(" is not installed") {
            out.missing.push(query.clone());
        } else if let Some(rest) = line.strip_prefix("B\t") {
            if let Some((name, version)) = rest.split_once('\t') {
                out.bases
                    .insert(query.clone(), (name.to_string(), version.to_string()));
            }
        } else if let Some(name) = line.strip_prefix("U ") {
            out.outdated.push(name.to_string());
        } else if let Some(name) = line.strip_prefix("A ") {
            out.available.push(name.to_string());
        }
    }
    out
}

/// The package name of a query (`name-1.0-1` → `name` is not knowable
/// without rpm; repoquery and check-update print bare names).
fn matches(query: &str, name: &str) -> bool {
    query == name
        || query.strip_prefix(name).is_some_and(|rest| {
            rest.starts_with('-') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
        })
}

/// The names a `name-version[-release]` query could mean: every prefix
/// that a `-` and a digit follow.
fn bases(query: &str) -> Vec<&str> {
    let bytes = query.as_bytes();
    (1..bytes.len().saturating_sub(1))
        .filter(|&i| bytes[i] == b'-' && bytes[i + 1].is_ascii_digit())
        .map(|i| &query[..i])
        .collect()
}

/// rpm's version comparison (`rpmvercmp`): runs of digits compare as
/// numbers, runs of letters as text, a digit run is newer than a letter
/// run, `~` sorts before anything (pre-releases), and other characters
/// only separate.
pub fn rpm_vercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~';
    loop {
        while a.first().is_some_and(separator) {
            a = &a[1..];
        }
        while b.first().is_some_and(separator) {
            b = &b[1..];
        }
        match (a.first() == Some(&b'~'), b.first() == Some(&b'~')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            return a.len().cmp(&b.len());
        }
        let numeric = a[0].is_ascii_digit();
        let run = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (run(a), run(b));
        if lb == 0 {
            // A digit run against a letter run: the digits are newer.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        let order = if numeric {
            let trim = |s: &[u8]| {
                let zeros = s.iter().take_while(|c| **c == b'0').count();
                s[zeros..].to_vec()
            };
            let (ta, tb) = (trim(sa), trim(sb));
            ta.len().cmp(&tb.len()).then(ta.cmp(&tb))
        } else {
            sa.cmp(sb)
        };
        if order != Ordering::Equal {
            return order;
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

/// Whether the installed `version-release` is newer than what a query
/// asks for (`version` alone compares the version part only).
fn newer_installed(installed: &str, wanted: &str) -> bool {
    let installed = if wanted.contains('-') {
        installed
    } else {
        installed.split('-').next().unwrap_or(installed)
    };
    rpm_vercmp(installed, wanted) == std::cmp::Ordering::Greater
}

/// The `yum` task: `dnf`'s arguments, with `yum` tried first on the host.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Yum(pub Dnf);

impl Yum {
    fn task(&self) -> Dnf {
        Dnf {
            tool: "yum".to_string(),
            ..self.0.clone()
        }
    }
}

#[async_trait]
impl Task for Yum {
    type Drift = DnfDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<DnfDrift>, TaskError> {
        self.task().check(cx).await
    }

    async fn apply(&self, cx: &Context<'_>, drift: DnfDrift) -> Result<Outcome, TaskError> {
        self.task().apply(cx, drift).await
    }
}

impl Dnf {
    fn tool(&self) -> &str {
        if self.tool.is_empty() {
            "dnf"
        } else {
            &self.tool
        }
    }

    fn removing(&self) -> bool {
        matches!(self.state.as_str(), "absent" | "removed")
    }

    /// Picks the tool on the host into `$t`, and checks for rpm.
    fn prelude(&self) -> String {
        let tool = self.tool();
        let other = if tool == "dnf" { "yum" } else { "dnf" };
        format!(
            "{}export LC_ALL=C\nif command -v {tool} >/dev/null 2>&1; then t={tool}; \
             elif command -v {other} >/dev/null 2>&1; then t={other}; else fail notool; fi\n\
             command -v rpm >/dev/null 2>&1 || fail norpm\n",
            remote::FAIL_FN,
        )
    }

    fn options(&self) -> String {
        let mut o = String::from("-q");
        if let Some(conf) = &self.conf_file {
            o.push_str(&format!(" -c {}", remote::path_arg(conf)));
        }
        if let Some(release) = &self.releasever {
            o.push_str(&format!(" --releasever {}", shell_quote(release)));
        }
        // Ansible disables before it enables, so `disablerepo: '*'` with an
        // `enablerepo` leaves exactly that one.
        for repo in &self.disablerepo {
            o.push_str(&format!(" --disablerepo {}", shell_quote(repo)));
        }
        for repo in &self.enablerepo {
            o.push_str(&format!(" --enablerepo {}", shell_quote(repo)));
        }
        if self.disable_gpg_check {
            o.push_str(" --nogpgcheck");
        }
        for name in &self.exclude {
            o.push_str(&format!(" --exclude={}", shell_quote(name)));
        }
        if let Some(weak) = self.install_weak_deps {
            o.push_str(&format!(" --setopt=install_weak_deps={weak}"));
        }
        o
    }

    fn query(&self) -> String {
        self.name
            .iter()
            .map(|n| {
                let mut q = format!(
                    "echo 'Q {}'\nrpm -q --qf 'P\\t%{{NAME}}\\t%{{VERSION}}-%{{RELEASE}}\\n' -- {} || :\n",
                    n,
                    shell_quote(n)
                );
                // For `name-version`, the installed version of every name
                // it could be, so a downgrade can be told from an install.
                for base in bases(n) {
                    q.push_str(&format!(
                        "rpm -q --qf 'B\\t%{{NAME}}\\t%{{VERSION}}-%{{RELEASE}}\\n' -- {} 2>/dev/null | grep '^B' || :\n",
                        shell_quote(base)
                    ));
                }
                q
            })
            .collect()
    }

    fn check_script(&self) -> String {
        let mut s = self.prelude();
        s.push_str(&self.query());
        let names: Vec<String> = self.name.iter().map(|n| shell_quote(n)).collect();
        if !names.is_empty() && !self.removing() {
            // `update_cache` refreshes the metadata before it is read, in
            // check mode too (as under Ansible): the cache is not a change.
            let refresh = if self.update_cache { " --refresh" } else { "" };
            let options = format!("{}{refresh}", self.options());
            s.push_str(&format!(
                "$t {options} repoquery --qf '%{{name}}' -- {} 2>/dev/null | while IFS= read -r l; do printf 'A %s\\n' \"$l\"; done\n",
                names.join(" ")
            ));
            if self.state == "latest" {
                s.push_str(&format!(
                    "$t {options} check-update -- {} 2>/dev/null | while read -r p v r; do [ -n \"$r\" ] && printf 'U %s\\n' \"${{p%.*}}\"; done\n",
                    names.join(" ")
                ));
            }
        }
        s
    }

    fn decide(&self, facts: &Installed) -> Result<DnfDrift, TaskError> {
        let mut drift = DnfDrift {
            before: facts.versions.clone(),
            makecache: self.update_cache && self.name.is_empty(),
            ..DnfDrift::default()
        };
        for name in &self.name {
            let installed = facts.versions.contains_key(name) && !facts.missing.contains(name);
            if self.removing() {
                if installed {
                    drift.remove.push(name.clone());
                }
                continue;
            }
            if !installed {
                let newer = facts.bases.get(name).is_some_and(|(base, version)| {
                    name.get(base.len() + 1..)
                        .is_some_and(|wanted| newer_installed(version, wanted))
                });
                if newer && !self.allow_downgrade {
                    // Ansible's dnf takes a newer package for the request met.
                    continue;
                }
                if !facts.available.iter().any(|a| matches(name, a)) {
                    return Err(TaskError::failed(format!(
                        "No package matching '{name}' found available, installed or updated"
                    )));
                }
                drift.install.push(name.clone());
            } else if self.state == "latest" && facts.outdated.iter().any(|o| matches(name, o)) {
                drift.upgrade.push(name.clone());
            }
        }
        Ok(drift)
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let tool = self.tool();
        let other = if tool == "dnf" { "yum" } else { "dnf" };
        let msg = match failure.code.as_deref() {
            Some("notool") => format!(
                "neither {tool} nor {other} is installed on the host (this is not a Red Hat-family system; use `apt` or `package` on Debian-family hosts)"
            ),
            Some("norpm") => "rpm is not installed on the host".to_string(),
            Some("install") => "Failed to install some of the specified packages".to_string(),
            Some("remove") => "Failed to remove some of the specified packages".to_string(),
            Some("makecache") => "Failed to update the package cache".to_string(),
            _ => "could not query the package database".to_string(),
        };
        let last = failure
            .detail
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let msg = if last.is_empty() {
            msg
        } else {
            format!("{msg}: {last}")
        };
        TaskError::failed_with(msg, Outcome::ok().with_output(&remote::without_marker(out)))
    }
}

#[async_trait]
impl Task for Dnf {
    type Drift = DnfDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<DnfDrift>, TaskError> {
        if self.name.is_empty() && !self.update_cache {
            return Err(TaskError::failed(format!(
                "{}: one of the following is required: name, update_cache",
                self.tool()
            )));
        }
        let plain = |n: &String| {
            !n.is_empty()
                && !n.starts_with('-')
                && !n.ends_with(".rpm")
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-:~".contains(c))
        };
        if let Some(bad) = self.name.iter().find(|n| !plain(n)) {
            return Err(TaskError::failed(format!(
                "{}: {bad:?} is not a package name: groups (`@name`), package files, URLs and version comparisons are not supported by dtrplay; name packages from the host's repositories, optionally as name-version",
                self.tool()
            )));
        }
        let out = cx.run(&self.check_script(), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let facts = parse(&out.stdout_text());
        let drift = self.decide(&facts)?;
        let changing: Vec<String> = drift
            .install
            .iter()
            .chain(&drift.upgrade)
            .chain(&drift.remove)
            .cloned()
            .collect();
        if changing.is_empty() && !drift.makecache {
            return Ok(Check::InSync(
                Outcome::ok().with_data("results", Vec::<String>::new()),
            ));
        }
        let mut words = Vec::new();
        for (verb, names) in [
            ("install", &drift.install),
            ("upgrade", &drift.upgrade),
            ("remove", &drift.remove),
        ] {
            if !names.is_empty() {
                words.push(format!("{verb} {}", names.join(" ")));
            }
        }
        if drift.makecache {
            words.push("update the cache".to_string());
        }
        let mut preview = Outcome::ok()
            .with_data("results", drift.results())
            .with_msg(format!("would {}", words.join(", ")));
        // Refreshing the metadata alone changes no package.
        preview.changed = !changing.is_empty();
        preview.changed_entries = Some(changing.clone());
        if cx.diff && !changing.is_empty() {
            let line = |n: &String, v: Option<&String>| match v {
                Some(v) => format!("{n}: {v}\n"),
                None => format!("{n}: absent\n"),
            };
            let before: String = changing
                .iter()
                .map(|n| line(n, facts.versions.get(n)))
                .collect();
            let after: String = changing
                .iter()
                .map(|n| match () {
                    _ if drift.remove.contains(n) => format!("{n}: absent\n"),
                    _ if drift.upgrade.contains(n) => format!("{n}: latest\n"),
                    _ => format!("{n}: present\n"),
                })
                .collect();
            preview.diffs.push(Diff {
                subject: "packages".into(),
                before: Some(before),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: DnfDrift) -> Result<Outcome, TaskError> {
        let mut s = self.prelude();
        let options = self.options();
        let refresh = if self.update_cache { " --refresh" } else { "" };
        let quoted = |names: &[String]| {
            names
                .iter()
                .map(|n| shell_quote(n))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if drift.makecache {
            s.push_str(&format!(
                "$t {options} makecache{refresh} >&2 || fail makecache\n"
            ));
        }
        if !drift.install.is_empty() {
            s.push_str(&format!(
                "$t -y {options}{refresh} install -- {} >&2 || fail install\n",
                quoted(&drift.install)
            ));
        }
        if !drift.upgrade.is_empty() {
            s.push_str(&format!(
                "$t -y {options}{refresh} upgrade -- {} >&2 || fail install\n",
                quoted(&drift.upgrade)
            ));
        }
        if !drift.remove.is_empty() {
            s.push_str(&format!(
                "$t -y {options} remove -- {} >&2 || fail remove\n",
                quoted(&drift.remove)
            ));
            if self.autoremove {
                s.push_str(&format!("$t -y {options} autoremove >&2 || fail remove\n"));
            }
        }
        s.push_str(&self.query());
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let after = parse(&out.stdout_text());
        let results = drift.results();
        let mut outcome = Outcome::ok().with_data("results", results.clone());
        outcome.changed = after.versions != drift.before;
        outcome.changed_entries = Some(
            self.name
                .iter()
                .filter(|n| after.versions.get(*n) != drift.before.get(*n))
                .cloned()
                .collect(),
        );
        outcome.msg = Some(if results.is_empty() {
            "Cache updated".to_string()
        } else {
            results.join(", ")
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_tells_installed_missing_and_updates_apart() {
        let facts = parse("Q a\nP\ta\t1.0-1\nQ b-2.0\npackage b-2.0 is not installed\nA b\nU a\n");
        assert_eq!(facts.versions.get("a").map(String::as_str), Some("1.0-1"));
        assert_eq!(facts.missing, ["b-2.0"]);
        assert!(matches("b-2.0", "b"));
        assert!(!matches("bc", "b"));
        assert_eq!(facts.outdated, ["a"]);
    }

    #[test]
    fn versions_compare_as_rpm_compares_them() {
        use std::cmp::Ordering::*;
        for (a, b, order) in [
            ("1.0", "1.0", Equal),
            ("2.0", "1.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0.1", Less),
            ("1.01", "1.1", Equal),
            ("2.0-1", "2.0-2", Less),
            ("1.0.a", "1.0.1", Less),
        ] {
            assert_eq!(rpm_vercmp(a, b), order, "{a} vs {b}");
        }
        assert!(newer_installed("2.0-1", "1.0"));
        assert!(!newer_installed("1.0-1", "1.0"));
        assert_eq!(bases("dtr-hello-1.0-1"), ["dtr-hello", "dtr-hello-1.0"]);
        assert!(bases("plain").is_empty());
    }
}
