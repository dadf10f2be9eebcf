//! The `package_facts` task: the host's installed packages as
//! `ansible_facts.packages`, in the shape of Ansible's module: a dict by
//! package name of lists (one entry per installed version or
//! architecture) of dicts with at least `name`, `version` and `source`
//! (the manager that reported it).
//!
//! Ansible reads the package databases through Python libraries
//! (python-apt, the rpm bindings); dtrplay asks the managers' own query
//! tools instead, in one script: `dpkg-query -W` for apt and
//! `rpm -qa --qf` for rpm. The fields are the ones Ansible reports:
//!
//! - apt: `name`, `version`, `arch`, `category` (the package's section),
//!   `origin`, `source: apt`. Packages of a foreign architecture are
//!   named `name:arch`, as python-apt's cache names them. `origin` is the
//!   package's own `Origin` field (empty for most Debian packages), where
//!   python-apt reports the origin of the repository the installed version
//!   is also available from.
//! - rpm: `name`, `version`, `release`, `epoch`, `arch`, `source: rpm`;
//!   a missing tag (no epoch) is the text `None`, as Ansible 2.19 writes
//!   it.
//!
//! `manager` lists the managers to ask in order (`auto` stands for all of
//! them, in Ansible's order, where apt comes before rpm); `strategy: first`
//! stops at the first one that reports packages, `all` merges them all.
//! Ansible's other managers (pacman, apk, portage, pkg, pkg_info) are
//! refused by name when asked for, and skipped under `auto`.
//!
//! Read-only, so check mode gathers too, and it never changes anything.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The arguments of `package_facts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFacts {
    pub manager: Vec<String>,
    pub strategy: String,
}

/// The parameters of `package_facts`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "package_facts",
        vec![
            Param::new("manager", Kind::List).default(vec!["auto"]),
            Param::new("strategy", Kind::Str)
                .choices(&["first", "all"])
                .default("first"),
        ],
    )
}

/// A package manager dtrplay can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Apt,
    Rpm,
}

impl Manager {
    fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Rpm => "rpm",
        }
    }

    /// The marker that starts this manager's section of the output.
    fn marker(self) -> &'static str {
        match self {
            Manager::Apt => "@@dtrplay-apt",
            Manager::Rpm => "@@dtrplay-rpm",
        }
    }
}

/// Ansible's managers that dtrplay does not read, with their aliases.
const OTHER_MANAGERS: [&str; 9] = [
    "apk",
    "pacman",
    "pkg",
    "pkg5",
    "pkgng",
    "pkg_info",
    "openbsd_pkg",
    "portage",
    "auto",
];

/// The managers to ask, in order and without repeats, from `manager`.
fn managers(requested: &[String]) -> Result<Vec<Manager>, TaskError> {
    let mut out = Vec::new();
    let mut unsupported = Vec::new();
    let mut foreign = Vec::new();
    for name in requested {
        let name = name.to_lowercase();
        let found: &[Manager] = match name.as_str() {
            "auto" => &[Manager::Apt, Manager::Rpm],
            "apt" => &[Manager::Apt],
            "rpm" | "yum" | "dnf" | "dnf5" | "zypper" => &[Manager::Rpm],
            other if OTHER_MANAGERS.contains(&other) => {
                foreign.push(name.clone());
                &[]
            }
            _ => {
                unsupported.push(name.clone());
                &[]
            }
        };
        for manager in found {
            if !out.contains(manager) {
                out.push(*manager);
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(TaskError::failed(format!(
            "Unsupported package managers requested: {}",
            unsupported.join(", ")
        )));
    }
    if !foreign.is_empty() {
        return Err(TaskError::failed(format!(
            "package_facts in dtrplay reads apt and rpm only, not {}; ask for `manager: auto`, `apt` or `rpm`",
            foreign.join(", ")
        )));
    }
    Ok(out)
}

/// Reads every manager asked for that is installed; [`parse`] reads the
/// sections it prints. A manager that is not installed prints nothing.
fn script(managers: &[Manager]) -> String {
    let mut script = String::from("export LC_ALL=C\n");
    for manager in managers {
        let marker = manager.marker();
        match manager {
            Manager::Apt => script.push_str(&format!(
                "if command -v dpkg-query >/dev/null 2>&1; then\n\
                 \x20 echo {marker} \"$(dpkg --print-architecture 2>/dev/null)\"\n\
                 \x20 dpkg-query -W -f='${{db:Status-Status}}\\t${{Package}}\\t${{Version}}\\t${{Architecture}}\\t${{Section}}\\t${{Origin}}\\n' || exit 3\n\
                 fi\n"
            )),
            Manager::Rpm => script.push_str(&format!(
                "if command -v rpm >/dev/null 2>&1; then\n\
                 \x20 echo {marker}\n\
                 \x20 rpm -qa --qf '%{{NAME}}\\t%{{VERSION}}\\t%{{RELEASE}}\\t%{{EPOCH}}\\t%{{ARCH}}\\n' || exit 3\n\
                 fi\n"
            )),
        }
    }
    script.push_str("exit 0\n");
    script
}

/// The packages each installed manager reported, in the order asked.
type Found = Vec<(Manager, Map<String, Value>)>;

/// The dpkg states in which python-apt counts a package as installed
/// (it has a current version): all but `not-installed` and
/// `config-files`.
fn dpkg_installed(status: &str) -> bool {
    !matches!(status, "not-installed" | "config-files" | "")
}

/// An rpm tag as the rpm bindings give it to Ansible: `(none)` is a
/// missing tag, which Ansible turns into the text `None`.
fn rpm_tag(tag: &str) -> &str {
    if tag == "(none)" { "None" } else { tag }
}

/// Adds one package to a manager's dict, under its name.
fn add(packages: &mut Map<String, Value>, name: &str, entry: Value) {
    match packages.get_mut(name) {
        Some(Value::Array(list)) => list.push(entry),
        _ => {
            packages.insert(name.to_string(), Value::Array(vec![entry]));
        }
    }
}

/// Parses the sections of [`script`]'s output.
fn parse(text: &str) -> Found {
    let mut found: Found = Vec::new();
    let mut native_arch = String::new();
    for line in text.lines() {
        if let Some(arch) = line.strip_prefix(Manager::Apt.marker()) {
            native_arch = arch.trim().to_string();
            found.push((Manager::Apt, Map::new()));
            continue;
        }
        if line == Manager::Rpm.marker() {
            found.push((Manager::Rpm, Map::new()));
            continue;
        }
        let Some((manager, packages)) = found.last_mut() else {
            continue;
        };
        let fields: Vec<&str> = line.split('\t').collect();
        match (*manager, fields.as_slice()) {
            (Manager::Apt, [status, name, version, arch, section, origin])
                if dpkg_installed(status) && !name.is_empty() =>
            {
                let foreign = !arch.is_empty() && *arch != "all" && *arch != native_arch;
                let name = if foreign {
                    format!("{name}:{arch}")
                } else {
                    name.to_string()
                };
                let entry = json!({
                    "name": name, "version": version, "arch": arch,
                    "category": section, "origin": origin, "source": "apt",
                });
                add(packages, &name, entry);
            }
            (Manager::Rpm, [name, version, release, epoch, arch]) if !name.is_empty() => {
                let entry = json!({
                    "name": name, "version": rpm_tag(version), "release": rpm_tag(release),
                    "epoch": rpm_tag(epoch), "arch": rpm_tag(arch), "source": "rpm",
                });
                add(packages, name, entry);
            }
            _ => {}
        }
    }
    found
}

impl PackageFacts {
    /// Merges what the managers reported as Ansible merges it: under
    /// `first`, only the first manager with packages counts; under `all`,
    /// every one does, a name's lists joined. Managers that are installed
    /// but report nothing are warned about.
    fn merge(&self, found: Found, cx: &Context<'_>) -> (Map<String, Value>, Vec<&'static str>) {
        let mut packages = Map::new();
        let mut used = Vec::new();
        for (manager, listed) in found {
            if self.strategy == "first" && !used.is_empty() {
                break;
            }
            if listed.is_empty() {
                cx.warn(format!(
                    "Found \"{}\" but no associated packages",
                    manager.name()
                ));
                continue;
            }
            used.push(manager.name());
            for (name, entries) in listed {
                let Value::Array(entries) = entries else {
                    continue;
                };
                match packages.get_mut(&name) {
                    Some(Value::Array(list)) => list.extend(entries),
                    _ => {
                        packages.insert(name, Value::Array(entries));
                    }
                }
            }
        }
        (packages, used)
    }
}

#[async_trait]
impl Task for PackageFacts {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let managers = managers(&self.manager)?;
        let out = cx.run(&script(&managers), &[]).await?;
        if !out.success() {
            return Err(TaskError::failed_with(
                "Failed to retrieve the installed packages",
                Outcome::ok().with_output(&out),
            ));
        }
        let (packages, used) = self.merge(parse(&out.stdout_text()), cx);
        if used.is_empty() {
            let names: Vec<&str> = managers.iter().map(|m| m.name()).collect();
            return Err(TaskError::failed(format!(
                "Could not detect a supported package manager from the following list: {}, \
                 or it reported no packages. Check warnings for details.",
                names.join(", ")
            )));
        }
        let msg = format!("{} packages ({})", packages.len(), used.join(", "));
        let mut facts = Map::new();
        facts.insert("packages".into(), Value::Object(packages));
        Ok(Check::InSync(
            Outcome::ok()
                .with_msg(msg)
                .with_data("ansible_facts", Value::Object(facts)),
        ))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_follow_ansibles_names_and_order() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            managers(&names(&["auto"])).expect("auto"),
            vec![Manager::Apt, Manager::Rpm]
        );
        assert_eq!(
            managers(&names(&["dnf", "RPM", "apt"])).expect("aliases"),
            vec![Manager::Rpm, Manager::Apt]
        );
        let err = managers(&names(&["brew"]))
            .expect_err("unknown")
            .to_string();
        assert_eq!(err, "Unsupported package managers requested: brew");
        let err = managers(&names(&["pacman"]))
            .expect_err("foreign")
            .to_string();
        assert!(err.contains("apt and rpm only, not pacman"), "{err}");
    }

    #[test]
    fn query_output_becomes_ansibles_dict_of_lists() {
        let text = "@@dtrplay-apt amd64\n\
             installed\tbash\t5.2.15-2+b8\tamd64\tshells\t\n\
             installed\tlibc6\t2.36-9\ti386\tlibs\t\n\
             installed\tlibc6\t2.36-9\tamd64\tlibs\t\n\
             config-files\tgone\t1.0\tamd64\tadmin\t\n\
             installed\ttzdata\t2024a\tall\tlocaltime\tDebian\n\
             @@dtrplay-rpm\n\
             gpg-pubkey\tabc\t123\t(none)\t(none)\n\
             hello\t2.10\t1\t1\tx86_64\n\
             hello\t2.10\t1\t(none)\ti686\n";
        let found = parse(text);
        assert_eq!(found.len(), 2);
        let apt = &found[0].1;
        assert_eq!(
            apt["bash"],
            json!([{"name": "bash", "version": "5.2.15-2+b8", "arch": "amd64",
                    "category": "shells", "origin": "", "source": "apt"}])
        );
        assert_eq!(apt["libc6:i386"][0]["name"], "libc6:i386");
        assert_eq!(apt["libc6"].as_array().map(Vec::len), Some(1));
        assert_eq!(apt["tzdata"][0]["origin"], "Debian");
        assert!(!apt.contains_key("gone"));
        let rpm = &found[1].1;
        assert_eq!(
            rpm["gpg-pubkey"],
            json!([{"name": "gpg-pubkey", "version": "abc", "release": "123",
                    "epoch": "None", "arch": "None", "source": "rpm"}])
        );
        assert_eq!(rpm["hello"].as_array().map(Vec::len), Some(2));
    }
}
