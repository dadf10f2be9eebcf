//! The `apt` task (and `package` on Debian-family hosts): Debian packages
//! present, at their latest version or absent, through the host's own
//! `apt-get` and `dpkg`; `update_cache` with `cache_valid_time`; a local
//! `.deb` with `deb:`.
//!
//! The check is one script: the cache's age (`update-success-stamp`, as
//! Ansible reads it), every named package's dpkg status and version in one
//! `dpkg-query`, and for `latest` the candidates in one `apt-cache policy`.
//! The apply is one script too: `apt-get update` when due, one `apt-get
//! install` (or `remove`/`purge`) for all the names that need it, then the
//! same `dpkg-query`, so what changed is read back, not assumed. Names may
//! pin a version (`nginx=1.18*` style pins are passed to apt-get as
//! written; an exact `name=version` is compared).
//!
//! `allow_downgrade` lets an exact `name=version` below the installed one
//! go through (`--allow-downgrades`); without it such a pin fails as
//! apt-get fails. `policy_rc_d` puts a `/usr/sbin/policy-rc.d` that exits
//! with the given code in place for the apply only (so packages do not
//! start or stop services), and restores whatever was there before, even
//! when apt-get fails.
//!
//! Differences from Ansible: `upgrade`, `autoclean` and `deb:` URLs are
//! not supported; the diff is a listing of the packages
//! that change rather than apt-get's simulation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, shell_quote};

/// The arguments of `apt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    #[serde(default)]
    pub name: Vec<String>,
    pub state: String,
    #[serde(default)]
    pub update_cache: bool,
    #[serde(default)]
    pub cache_valid_time: i64,
    pub deb: Option<String>,
    #[serde(default)]
    pub purge: bool,
    #[serde(default)]
    pub autoremove: bool,
    pub install_recommends: Option<bool>,
    pub default_release: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub allow_unauthenticated: bool,
    pub dpkg_options: String,
    #[serde(default)]
    pub allow_downgrade: bool,
    pub policy_rc_d: Option<i64>,
}

/// The parameters of `apt`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "apt",
        vec![
            Param::new("name", Kind::List).aliases(&["package", "pkg"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "installed", "latest", "absent", "removed"])
                .default("present"),
            Param::new("update_cache", Kind::Bool)
                .default(false)
                .aliases(&["update-cache"]),
            Param::new("cache_valid_time", Kind::Int).default(0),
            Param::new("deb", Kind::Path),
            Param::new("purge", Kind::Bool).default(false),
            Param::new("autoremove", Kind::Bool).default(false),
            Param::new("install_recommends", Kind::Bool).aliases(&["install-recommends"]),
            Param::new("default_release", Kind::Str).aliases(&["default-release"]),
            Param::new("force", Kind::Bool).default(false),
            Param::new("allow_unauthenticated", Kind::Bool)
                .default(false)
                .aliases(&["allow-unauthenticated"]),
            Param::new("dpkg_options", Kind::Str).default("force-confdef,force-confold"),
            Param::new("allow_downgrade", Kind::Bool)
                .default(false)
                .aliases(&["allow-downgrade", "allow_downgrades", "allow-downgrades"]),
            Param::new("policy_rc_d", Kind::Int),
        ],
    )
    .collapses("name")
}

/// What the host said about the packages.
#[derive(Debug, Default)]
struct Facts {
    cache_age: Option<i64>,
    /// Installed versions, by package name.
    installed: BTreeMap<String, String>,
    /// Candidate versions (`(none)` when apt knows no such package).
    candidate: BTreeMap<String, String>,
    /// The package and version inside `deb`.
    deb: Option<(String, String)>,
}

/// Lines of the probe: `key=value`, or tab-separated package lines.
fn parse_facts(stdout: &str) -> Result<Facts, ProbeError> {
    let mut facts = Facts::default();
    let mut mtime = None;
    let mut now = None;
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["P", name, status, version] => {
                // `ii` (or `hi`, held): unpacked and configured.
                if status.as_bytes().get(1) == Some(&b'i') {
                    facts
                        .installed
                        .insert(name.to_string(), version.to_string());
                }
            }
            ["C", name, candidate] => {
                facts
                    .candidate
                    .insert(name.to_string(), candidate.to_string());
            }
            ["D", name, version] => facts.deb = Some((name.to_string(), version.to_string())),
            _ => match line.split_once('=') {
                Some(("cache_mtime", v)) => mtime = v.trim().parse::<i64>().ok(),
                Some(("now", v)) => now = v.trim().parse::<i64>().ok(),
                _ => return Err(ProbeError::UnexpectedLine(line.to_string())),
            },
        }
    }
    facts.cache_age = mtime.zip(now).map(|(m, n)| n - m);
    Ok(facts)
}

/// What `apply` must do.
#[derive(Debug, Default)]
pub struct AptDrift {
    update: bool,
    install: Vec<String>,
    remove: Vec<String>,
    deb: bool,
    /// Versions before, for the result.
    before: BTreeMap<String, String>,
}

impl Apt {
    fn names(&self) -> Vec<(String, Option<String>)> {
        self.name
            .iter()
            .map(|n| match n.split_once('=') {
                Some((name, version)) => (name.to_string(), Some(version.to_string())),
                None => (n.clone(), None),
            })
            .collect()
    }

    fn removing(&self) -> bool {
        matches!(self.state.as_str(), "absent" | "removed")
    }

    fn query(&self) -> String {
        let names: Vec<String> = self.names().iter().map(|(n, _)| shell_quote(n)).collect();
        if names.is_empty() {
            return String::new();
        }
        format!(
            "dpkg-query -W -f='P\\t${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' -- {} 2>/dev/null || :\n",
            names.join(" ")
        )
    }

    fn check_script(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "command -v apt-get >/dev/null 2>&1 || fail noapt\nexport LC_ALL=C\n\
             st=/var/lib/apt/periodic/update-success-stamp; [ -e \"$st\" ] || st=/var/lib/apt/lists\n\
             printf 'cache_mtime=%s\\nnow=%s\\n' \"$(stat -c %Y -- \"$st\")\" \"$(date +%s)\"\n",
        );
        s.push_str(&self.query());
        if self.state == "latest" || !self.removing() {
            let names: Vec<String> = self.names().iter().map(|(n, _)| shell_quote(n)).collect();
            if !names.is_empty() {
                s.push_str(&format!(
                    "apt-cache policy -- {} 2>/dev/null | while IFS= read -r l; do case $l in \
                     [!\\ ]*:) p=${{l%:}};; *Candidate:*) printf 'C\\t%s\\t%s\\n' \"$p\" \"${{l##* }}\";; esac; done\n",
                    names.join(" ")
                ));
            }
        }
        if let Some(deb) = &self.deb {
            s.push_str(&format!("[ -f {} ] || fail nodeb\n", remote::path_arg(deb)));
            s.push_str(&self.deb_query());
        }
        s
    }

    /// The package named inside `deb` (from its control file, as Ansible
    /// reads it) and that package's installed state: the deb's file name
    /// says nothing reliable about what it installs.
    fn deb_query(&self) -> String {
        let Some(deb) = &self.deb else {
            return String::new();
        };
        format!(
            "p=$(dpkg-deb -f {d} Package) && v=$(dpkg-deb -f {d} Version) || fail baddeb\n\
             printf 'D\\t%s\\t%s\\n' \"$p\" \"$v\"\n\
             dpkg-query -W -f='P\\t${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' -- \"$p\" 2>/dev/null || :\n",
            d = remote::path_arg(deb)
        )
    }

    fn decide(&self, facts: &Facts) -> Result<AptDrift, TaskError> {
        let mut drift = AptDrift {
            before: facts.installed.clone(),
            ..AptDrift::default()
        };
        drift.update = self.update_cache
            && (self.cache_valid_time <= 0
                || facts
                    .cache_age
                    .is_none_or(|age| age > self.cache_valid_time));
        for (name, version) in self.names() {
            let installed = facts.installed.get(&name);
            if self.removing() {
                if installed.is_some() {
                    drift.remove.push(name);
                }
                continue;
            }
            let candidate = facts.candidate.get(&name).filter(|c| *c != "(none)");
            if installed.is_none() && candidate.is_none() && !drift.update {
                return Err(TaskError::failed(format!(
                    "No package matching '{name}' is available"
                )));
            }
            let wanted = match (&version, installed) {
                (_, None) => true,
                (Some(v), Some(i)) => !v.contains('*') && v != i,
                (None, Some(i)) => self.state == "latest" && candidate.is_some_and(|c| c != i),
            };
            if wanted || (self.state == "latest" && drift.update) {
                drift.install.push(match version {
                    Some(v) => format!("{name}={v}"),
                    None => name,
                });
            }
        }
        if let (Some((name, version)), Some(_)) = (&facts.deb, &self.deb) {
            drift.deb = facts.installed.get(name) != Some(version);
        }
        Ok(drift)
    }

    fn apt_options(&self) -> String {
        let mut o = String::from("-y -q");
        for option in self.dpkg_options.split(',').filter(|o| !o.is_empty()) {
            o.push_str(&format!(
                " -o {}",
                shell_quote(&format!("Dpkg::Options::=--{option}"))
            ));
        }
        match self.install_recommends {
            Some(true) => o.push_str(" -o APT::Install-Recommends=true"),
            Some(false) => o.push_str(" --no-install-recommends"),
            None => {}
        }
        if let Some(release) = &self.default_release {
            o.push_str(&format!(" -t {}", shell_quote(release)));
        }
        if self.force || self.allow_unauthenticated {
            o.push_str(" --allow-unauthenticated");
        }
        if self.force {
            o.push_str(" --allow-downgrades --allow-remove-essential --allow-change-held-packages");
        } else if self.allow_downgrade {
            o.push_str(" --allow-downgrades");
        }
        o
    }

    /// Puts a `policy-rc.d` exiting with `policy_rc_d` in place for the
    /// rest of the script, and an exit trap that restores the one before
    /// (or removes ours): a failing apt-get must not leave services
    /// blocked on the host.
    fn policy_rc_d(&self) -> String {
        let Some(code) = self.policy_rc_d else {
            return String::new();
        };
        format!(
            "p=/usr/sbin/policy-rc.d; keep=\n\
             if [ -e \"$p\" ] || [ -L \"$p\" ]; then keep=$(mktemp \"$p.dtrplay-XXXXXXXX\") && mv -f -- \"$p\" \"$keep\" || fail policy; fi\n\
             trap 'rm -f -- \"$p\"; [ -z \"$keep\" ] || mv -f -- \"$keep\" \"$p\"' EXIT\n\
             (umask 022 && printf '#!/bin/sh\\nexit %d\\n' {code} > \"$p\" && chmod 0755 \"$p\") || fail policy\n"
        )
    }
}

/// The changed packages as a before/after listing.
fn listing(names: &[String], versions: &BTreeMap<String, String>) -> String {
    names
        .iter()
        .map(|n| {
            let bare = n.split('=').next().unwrap_or(n);
            match versions.get(bare) {
                Some(v) => format!("{bare}: {v}\n"),
                None => format!("{bare}: absent\n"),
            }
        })
        .collect()
}

#[async_trait]
impl Task for Apt {
    type Drift = AptDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<AptDrift>, TaskError> {
        if self.name.is_empty() && self.deb.is_none() && !self.update_cache {
            return Err(TaskError::failed(
                "one of the following is required: name, deb, update_cache",
            ));
        }
        let out = cx.run(&self.check_script(), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("noapt") => {
                    "apt-get is not installed on the host (this is not a Debian-family system)"
                        .to_string()
                }
                Some("nodeb") => format!(
                    "Unable to install package: {} does not exist",
                    self.deb.clone().unwrap_or_default()
                ),
                Some("baddeb") => format!(
                    "Unable to install package: {} is not a Debian package",
                    self.deb.clone().unwrap_or_default()
                ),
                _ => "could not query the package database".to_string(),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let facts =
            parse_facts(&out.stdout_text()).map_err(|e| TaskError::failed(e.to_string()))?;
        let drift = self.decide(&facts)?;
        let base = Outcome::ok().with_data("cache_updated", false);
        let packages = !drift.install.is_empty() || !drift.remove.is_empty() || drift.deb;
        if !packages && !drift.update {
            return Ok(Check::InSync(base));
        }
        let mut words = Vec::new();
        if drift.update {
            words.push("update the cache".to_string());
        }
        if !drift.install.is_empty() {
            words.push(format!("install {}", drift.install.join(" ")));
        }
        if !drift.remove.is_empty() {
            words.push(format!("remove {}", drift.remove.join(" ")));
        }
        if drift.deb {
            words.push(format!("install {}", self.deb.clone().unwrap_or_default()));
        }
        let mut preview = base.with_msg(format!("would {}", words.join(", ")));
        // Which names change, for a collapsed loop's items; a `deb` is
        // no entry of `name`, so with one every item counts as changed.
        if !drift.deb {
            preview.changed_entries =
                Some(drift.install.iter().chain(&drift.remove).cloned().collect());
        }
        // Updating the cache alongside packages is not a change of its own.
        preview.changed = packages || self.name.is_empty() && self.deb.is_none();
        let changing: Vec<String> = drift.install.iter().chain(&drift.remove).cloned().collect();
        if cx.diff && !changing.is_empty() {
            let after: String = changing
                .iter()
                .map(|n| match self.removing() {
                    true => format!("{}: absent\n", n.split('=').next().unwrap_or(n)),
                    false => format!("{}: {}\n", n.split('=').next().unwrap_or(n), "present"),
                })
                .collect();
            preview.diffs.push(Diff {
                subject: "packages".into(),
                before: Some(listing(&changing, &facts.installed)),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: AptDrift) -> Result<Outcome, TaskError> {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str("export DEBIAN_FRONTEND=noninteractive LC_ALL=C\n");
        s.push_str(&self.policy_rc_d());
        if drift.update {
            s.push_str("apt-get update -q || fail update\n");
        }
        let options = self.apt_options();
        if !drift.install.is_empty() {
            let names: Vec<String> = drift.install.iter().map(|n| shell_quote(n)).collect();
            s.push_str(&format!(
                "apt-get install {options} -- {} || fail install\n",
                names.join(" ")
            ));
        }
        if !drift.remove.is_empty() {
            let verb = if self.purge { "purge" } else { "remove" };
            let names: Vec<String> = drift.remove.iter().map(|n| shell_quote(n)).collect();
            s.push_str(&format!(
                "apt-get {verb} {options} -- {} || fail remove\n",
                names.join(" ")
            ));
        }
        if self.autoremove && !drift.remove.is_empty() {
            s.push_str(&format!("apt-get autoremove {options} || fail remove\n"));
        }
        if let (true, Some(deb)) = (drift.deb, &self.deb) {
            s.push_str(&format!(
                "dpkg -i -- {} || fail install\n",
                remote::path_arg(deb)
            ));
        }
        s.push_str("echo dtrplay-apt-state\n");
        s.push_str(&self.query());
        s.push_str(&self.deb_query());
        let out = cx.run(&s, &[]).await?;
        let text = out.stdout_text();
        let (log, state) = text
            .split_once("dtrplay-apt-state\n")
            .unwrap_or((&text, ""));
        let registered = remote::without_marker(&out);
        let mut outcome = Outcome::ok().with_output(&registered);
        outcome.data.insert("stdout".into(), log.trim_end().into());
        outcome
            .data
            .insert("cache_updated".into(), drift.update.into());
        if !out.success() {
            let failure = remote::failure(&out);
            let what = match failure.code.as_deref() {
                Some("update") => "Failed to update apt cache",
                Some("remove") => "apt-get failed to remove packages",
                Some("policy") => "could not put /usr/sbin/policy-rc.d in place",
                _ => "apt-get failed to install packages",
            };
            return Err(TaskError::failed_with(
                format!(
                    "{what}: {}",
                    failure.detail.lines().last().unwrap_or_default()
                ),
                outcome,
            ));
        }
        let after = parse_facts(state)
            .map_err(|e| TaskError::failed(e.to_string()))?
            .installed;
        let changed_packages = after != drift.before || drift.deb;
        if !drift.deb {
            let bare = |n: &String| n.split('=').next().unwrap_or(n).to_string();
            outcome.changed_entries = Some(
                self.name
                    .iter()
                    .filter(|n| after.get(&bare(n)) != drift.before.get(&bare(n)))
                    .cloned()
                    .collect(),
            );
        }
        outcome.changed =
            changed_packages || (drift.update && self.name.is_empty() && self.deb.is_none());
        outcome.msg = Some(match changed_packages {
            true => {
                let mut names: Vec<String> = after
                    .iter()
                    .filter(|(n, v)| drift.before.get(*n) != Some(v))
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect();
                names.extend(
                    drift
                        .before
                        .keys()
                        .filter(|n| !after.contains_key(*n))
                        .map(|n| format!("{n} removed")),
                );
                names.join(", ")
            }
            false if drift.update => "cache updated".to_string(),
            false => "nothing to do".to_string(),
        });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> Apt {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    fn facts() -> Facts {
        parse_facts("cache_mtime=100\nnow=400\nP\ta\tii \t1.0\nP\tb\trc \t2.0\nC\ta\t1.1\nC\tb\t2.0\nC\tc\t(none)\n")
            .expect("parses")
    }

    #[test]
    fn only_missing_or_outdated_packages_are_installed() {
        let d = task(json!({"name": ["a", "b"]}))
            .decide(&facts())
            .expect("decides");
        assert_eq!(d.install, ["b"]);
        let d = task(json!({"name": "a,b", "state": "latest"}))
            .decide(&facts())
            .expect("decides");
        assert_eq!(d.install, ["a", "b"]);
        let d = task(json!({"name": ["a=1.0"]}))
            .decide(&facts())
            .expect("decides");
        assert!(d.install.is_empty());
    }

    #[test]
    fn the_cache_is_updated_only_when_older_than_valid_time() {
        let args = |t: i64| json!({"name": "a", "update_cache": true, "cache_valid_time": t});
        assert!(!task(args(3600)).decide(&facts()).expect("decides").update);
        assert!(task(args(60)).decide(&facts()).expect("decides").update);
    }

    #[test]
    fn unknown_packages_and_removals() {
        let err = task(json!({"name": "c"}))
            .decide(&facts())
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("No package matching 'c' is available"));
        let d = task(json!({"name": ["a", "b"], "state": "absent"}))
            .decide(&facts())
            .expect("decides");
        assert_eq!(d.remove, ["a"]);
    }
}
