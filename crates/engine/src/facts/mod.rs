//! Facts: what a host is (its distribution, addresses, memory, user...),
//! gathered the way Ansible's `setup` module reports it, with the same
//! names, types and shapes, but without an interpreter on the host.
//!
//! One POSIX shell script (`gather.sh`) prints raw sections (files read
//! with the shell's own `read`, plus `date`, `ip` and one `stat -f`), in
//! one round trip; everything else happens here, on the control machine:
//! [`parse`] turns the sections into facts named as Ansible names them
//! (`ansible_os_family`, `ansible_default_ipv4`, ...). The collectors are
//! split by Ansible's subsets: `system.rs` (the `min` subset), `hardware.rs`
//! and `network.rs`.
//!
//! Facts are host data: the executor stores them with
//! `RunVars::learn_facts`, never as templates.

mod hardware;
mod network;
mod system;

pub mod needed;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The collectors of Ansible's `min` subset that dtrplay implements, by
/// the names `gather_subset` accepts.
const MIN: &[&str] = &[
    "apparmor",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "pkg_mgr",
    "platform",
    "python",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// Collectors of `min` that Ansible has and dtrplay reports nothing for
/// (they need Python libraries or programs on the host); accepted by name.
const MIN_EMPTY: &[&str] = &["caps", "local", "lsb", "selinux"];

/// Subsets outside `min`. `virtual`, `ohai` and `facter` are accepted and
/// report nothing.
const OTHER: &[&str] = &[
    "hardware", "network", "loadavg", "virtual", "ohai", "facter",
];

/// Which collectors one gathering runs, from a `gather_subset` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset {
    /// The `gather_subset` as given, reported back as Ansible does.
    pub given: Vec<String>,
    collectors: BTreeSet<&'static str>,
}

impl Default for Subset {
    fn default() -> Subset {
        Subset::parse(&["all".to_string()]).unwrap_or_else(|_| Subset {
            given: vec!["all".into()],
            collectors: BTreeSet::new(),
        })
    }
}

/// A `gather_subset` name Ansible does not know, refused in Ansible's
/// words with the names it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Bad subset '{name}' given to Ansible. gather_subset options allowed: all, min, {}",
    allowed()
)]
pub struct BadSubset {
    pub name: String,
}

fn allowed() -> String {
    MIN.iter()
        .chain(MIN_EMPTY)
        .chain(OTHER)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

impl Subset {
    /// Resolves a `gather_subset` list the way Ansible does: names add
    /// collectors, `!name` removes them, nothing positive means `all`, and
    /// `min` stays unless `!min` is given.
    pub fn parse(list: &[String]) -> Result<Subset, BadSubset> {
        let known = |name: &str| {
            MIN.iter()
                .chain(MIN_EMPTY)
                .chain(OTHER)
                .find(|k| **k == name)
                .copied()
        };
        let every: BTreeSet<&'static str> = MIN.iter().chain(OTHER).copied().collect();
        let min: BTreeSet<&'static str> = MIN.iter().copied().collect();
        let mut add: BTreeSet<&'static str> = BTreeSet::new();
        let mut remove: BTreeSet<&'static str> = BTreeSet::new();
        let mut keep_min = true;
        for raw in list {
            let word = raw.trim();
            let (exclude, name) = match word.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, word),
            };
            let group: BTreeSet<&'static str> = match name {
                "all" if exclude => every.difference(&min).copied().collect(),
                "all" => every.clone(),
                "min" => {
                    if exclude {
                        keep_min = false;
                    }
                    min.clone()
                }
                other => match known(other) {
                    Some(k) => [k].into_iter().collect(),
                    None => {
                        return Err(BadSubset {
                            name: other.to_string(),
                        });
                    }
                },
            };
            if exclude {
                remove.extend(group);
            } else {
                add.extend(group);
            }
        }
        if add.is_empty() {
            add = every;
        }
        let mut collectors: BTreeSet<&'static str> = add.difference(&remove).copied().collect();
        if keep_min {
            collectors.extend(&min);
        }
        Ok(Subset {
            given: list.to_vec(),
            collectors,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.collectors.contains(name)
    }

    /// The sections the script must print: the collectors, plus what
    /// `pkg_mgr` and `service_mgr` need to decide.
    fn sections(&self) -> Vec<&'static str> {
        let mut out: BTreeSet<&'static str> = self.collectors.clone();
        if self.has("pkg_mgr") || self.has("service_mgr") {
            out.insert("distribution");
            out.insert("platform");
        }
        out.into_iter().collect()
    }
}

/// The gathering script for a subset.
pub fn script(subset: &Subset) -> String {
    format!(
        "want=' {} '\n{}",
        subset.sections().join(" "),
        include_str!("gather.sh")
    )
}

/// The sections of the script's output, by name (a name may repeat, as
/// `iface eth0` does not, but `sshkey rsa` and friends are distinct).
pub(crate) struct Sections {
    map: BTreeMap<String, Vec<String>>,
}

impl Sections {
    fn parse(out: &str) -> Sections {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in out.lines() {
            if let Some(name) = line.strip_prefix('\u{1e}') {
                current = Some(name.to_string());
                map.entry(name.to_string()).or_default();
            } else if let Some(name) = &current {
                map.entry(name.clone()).or_default().push(line.to_string());
            }
        }
        Sections { map }
    }

    /// A section's lines (empty when the script printed none).
    pub(crate) fn lines(&self, name: &str) -> &[String] {
        self.map.get(name).map_or(&[], Vec::as_slice)
    }

    /// A section's whole text, trimmed.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        let text = self.lines(name).join("\n").trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// The sections whose names start with `prefix`, with the rest of the name.
    pub(crate) fn with_prefix<'s>(
        &'s self,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'s str, &'s [String])> + 's {
        self.map
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.as_slice())))
    }
}

/// The facts in a script's output, named as Ansible names them
/// (`ansible_` prefix), plus `gather_subset` and `module_setup`.
pub fn parse(out: &str, subset: &Subset) -> Map<String, Value> {
    let sections = Sections::parse(out);
    let mut facts = Map::new();
    let platform = system::platform(&sections);
    let distribution = system::distribution(&sections);
    let wanted = |name: &str| subset.has(name);
    if wanted("platform") {
        facts.extend(platform.clone());
    }
    if wanted("distribution") {
        facts.extend(distribution.clone());
    }
    if wanted("user") {
        facts.extend(system::user(&sections));
    }
    if wanted("env") {
        facts.extend(system::env(&sections));
    }
    if wanted("date_time") {
        facts.extend(system::date_time(&sections));
    }
    if wanted("dns") {
        facts.extend(system::dns(&sections));
    }
    if wanted("pkg_mgr") {
        facts.extend(system::pkg_mgr(&sections, &distribution));
    }
    if wanted("service_mgr") {
        facts.extend(system::service_mgr(&sections, &platform));
    }
    if wanted("python") {
        facts.extend(system::python(&sections));
    }
    if wanted("fips") {
        facts.extend(system::fips(&sections));
    }
    if wanted("apparmor") {
        facts.extend(system::apparmor(&sections));
    }
    if wanted("cmdline") {
        facts.extend(system::cmdline(&sections));
    }
    if wanted("ssh_pub_keys") {
        facts.extend(system::ssh_pub_keys(&sections));
    }
    if wanted("hardware") {
        facts.extend(hardware::facts(&sections));
    }
    if wanted("loadavg") {
        facts.extend(hardware::loadavg(&sections));
    }
    if wanted("network") {
        facts.extend(network::facts(&sections));
    }
    let mut named: Map<String, Value> = facts
        .into_iter()
        .map(|(k, v)| (format!("ansible_{k}"), v))
        .collect();
    named.insert("gather_subset".into(), Value::from(subset.given.clone()));
    named.insert("module_setup".into(), Value::Bool(true));
    named
}

/// Keeps the facts whose names match one of the shell-style patterns of
/// `setup`'s `filter` (every fact when there is none).
pub fn filter(facts: Map<String, Value>, patterns: &[String]) -> Map<String, Value> {
    if patterns.is_empty() || patterns.iter().any(|p| p.is_empty() || p == "*") {
        return facts;
    }
    facts
        .into_iter()
        .filter(|(name, _)| patterns.iter().any(|p| glob_match(p, name)))
        .collect()
}

/// The name of a fact inside `ansible_facts`: without the `ansible_` prefix.
pub fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible_").unwrap_or(name)
}

/// Shell-style matching (`*`, `?`, `[...]`), as Python's `fnmatch`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|e| e + 1) else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(c) = t.first() else { return false };
                let (negate, set) = match p[1] {
                    '!' => (true, &p[2..end]),
                    _ => (false, &p[1..end]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subset(list: &[&str]) -> BTreeSet<&'static str> {
        Subset::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("valid")
            .collectors
    }

    #[test]
    fn subsets_resolve_as_ansible_resolves_them() {
        assert!(subset(&["all"]).contains("hardware"));
        let min_only = subset(&["!all"]);
        assert!(min_only.contains("distribution") && !min_only.contains("network"));
        let network = subset(&["network"]);
        assert!(network.contains("network") && network.contains("user"));
        assert!(!network.contains("hardware"));
        let no_hardware = subset(&["!hardware"]);
        assert!(no_hardware.contains("network") && !no_hardware.contains("hardware"));
        assert!(subset(&["!all", "!min"]).is_empty());
        assert!(Subset::parse(&["nosuch".into()]).is_err());
    }

    #[test]
    fn filters_match_like_fnmatch() {
        assert!(glob_match(
            "ansible_distribution*",
            "ansible_distribution_version"
        ));
        assert!(glob_match("ansible_eth[0-9]", "ansible_eth0"));
        assert!(!glob_match("ansible_eth[!0]", "ansible_eth0"));
        assert!(glob_match("ansible_?s_family", "ansible_os_family"));
        assert!(!glob_match("ansible_os", "ansible_os_family"));
    }
}
