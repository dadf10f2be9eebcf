//! The `hostname` task: the host's running name and the name it keeps
//! after a reboot, set the way the host's system does it.
//!
//! Like ansible-core, the task picks a strategy: `use` when given, else
//! `systemd` (`hostnamectl`) on a host that systemd runs, else one from
//! `/etc/os-release`: `/etc/hostname` (the Debian family and anything
//! unknown), `alpine`, `sles` (`/etc/HOSTNAME`), `redhat`
//! (`HOSTNAME=` in `/etc/sysconfig/network`) or `openrc`
//! (`/etc/conf.d/hostname`). The check is one script that picks the
//! strategy and reads both names; the apply writes the file (in place,
//! since containers often bind-mount `/etc/hostname`) and sets the running
//! name. The diff is Ansible's `hostname = <name>` pair, and the facts
//! `ansible_hostname` and `ansible_nodename` follow the new name.
//!
//! Differences from Ansible: the file strategies also set the running name
//! with `hostname` (ansible-core's leave it for the next boot, except
//! `alpine`'s); `generic` sets only the running name; the BSD, Solaris and
//! macOS strategies are not supported; `ansible_fqdn` and `ansible_domain`
//! are not returned.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, Report, shell_quote};

/// The arguments of `hostname`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hostname {
    pub name: String,
    #[serde(rename = "use")]
    pub strategy: Option<String>,
}

/// The strategies `use` may name, as ansible-core lists them.
const USES: [&str; 13] = [
    "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
    "redhat", "sles", "solaris", "systemd",
];

/// The parameters of `hostname`, as Ansible names them, and the facts it
/// sets.
pub fn spec() -> Spec {
    let mut spec = Spec::new(
        "hostname",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("use", Kind::Str).choices(&USES),
        ],
    );
    spec.facts = vec!["ansible_hostname".into(), "ansible_nodename".into()];
    spec
}

/// How the names are read and set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `hostnamectl --static` and `--transient`.
    Systemd,
    /// A file holding only the name, and `hostname` (`-F` for Alpine).
    File(&'static str),
    Alpine,
    /// `HOSTNAME=` in `/etc/sysconfig/network`.
    RedHat,
    /// `hostname="..."` in `/etc/conf.d/hostname`.
    OpenRc,
    /// The running name only.
    Generic,
}

const REDHAT_FILE: &str = "/etc/sysconfig/network";
const OPENRC_FILE: &str = "/etc/conf.d/hostname";

impl Strategy {
    fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            // ansible-core maps `debian` to its systemd strategy too.
            "systemd" | "debian" => Strategy::Systemd,
            "file" => Strategy::File("/etc/hostname"),
            "alpine" => Strategy::Alpine,
            "sles" => Strategy::File("/etc/HOSTNAME"),
            "redhat" => Strategy::RedHat,
            "openrc" => Strategy::OpenRc,
            "generic" => Strategy::Generic,
            _ => return None,
        })
    }

    /// The file that keeps the name, if the strategy has one.
    fn file(self) -> Option<&'static str> {
        match self {
            Strategy::File(path) => Some(path),
            Strategy::Alpine => Some("/etc/hostname"),
            Strategy::RedHat => Some(REDHAT_FILE),
            Strategy::OpenRc => Some(OPENRC_FILE),
            Strategy::Systemd | Strategy::Generic => None,
        }
    }
}

/// The names the check found, and the file's text for the strategies that
/// edit a file of settings.
#[derive(Debug)]
pub struct Names {
    strategy: Strategy,
    current: String,
    /// `None` for `generic`, which keeps no name.
    permanent: Option<String>,
    file: Option<String>,
}

/// The name in a file of settings, as ansible-core reads it.
fn permanent_from(strategy: Strategy, file: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = file else {
        return match strategy {
            Strategy::RedHat => Err(format!(
                "failed to read hostname: {REDHAT_FILE} does not exist"
            )),
            Strategy::Generic | Strategy::Systemd => Ok(None),
            _ => Ok(Some(String::new())),
        };
    };
    Ok(Some(match strategy {
        Strategy::RedHat => {
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("HOSTNAME"))
                .ok_or_else(|| format!("Unable to locate HOSTNAME entry in {REDHAT_FILE}"))?;
            line.split_once('=')
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        }
        Strategy::OpenRc => text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("hostname="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default(),
        _ => text.trim().to_string(),
    }))
}

/// The file's new text with `name` in it.
fn file_with(strategy: Strategy, file: Option<&str>, name: &str) -> String {
    let text = file.unwrap_or_default();
    match strategy {
        Strategy::RedHat => {
            let mut found = false;
            let mut out = String::new();
            for line in text.split_inclusive('\n') {
                if line.trim().starts_with("HOSTNAME") {
                    out.push_str(&format!("HOSTNAME={name}\n"));
                    found = true;
                } else {
                    out.push_str(line);
                }
            }
            if !found {
                out.push_str(&format!("HOSTNAME={name}\n"));
            }
            out
        }
        Strategy::OpenRc => {
            let mut lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
            match lines.iter_mut().find(|l| l.starts_with("hostname=")) {
                Some(line) => *line = format!("hostname=\"{name}\""),
                None => lines.push(format!("hostname=\"{name}\"")),
            }
            format!("{}\n", lines.join("\n"))
        }
        _ => format!("{name}\n"),
    }
}

/// What `apply` sets.
#[derive(Debug)]
pub struct HostnameDrift {
    strategy: Strategy,
    /// The file's new text, or (systemd) that the static name changes.
    permanent: Option<String>,
    current: bool,
}

impl Hostname {
    fn probe(&self, forced: Option<&str>) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "export LC_ALL=C\nhex() { printf '%s' \"$1\" | od -An -v -tx1 | tr -d ' \\n'; }\n",
        );
        match forced {
            Some(strategy) => s.push_str(&format!("s={strategy}\n")),
            // ansible-core's test for a host that systemd runs, then the
            // distribution's family.
            None => s.push_str(
                "if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || \
                 [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then s=systemd\n\
                 else\n\
                 id=; like=\n\
                 if [ -r /etc/os-release ]; then id=$(. /etc/os-release; printf '%s' \"$ID\"); \
                 like=$(. /etc/os-release; printf '%s' \"$ID_LIKE\"); fi\n\
                 case \" $id $like \" in\n\
                 *' alpine '*) s=alpine;;\n\
                 *' gentoo '*) s=openrc;;\n\
                 *' sles '*) s=sles;;\n\
                 *' rhel '*|*' fedora '*|*' centos '*|*' amzn '*) s=redhat;;\n\
                 *) s=file;;\n\
                 esac\n\
                 fi\n",
            ),
        }
        s.push_str(
            "echo strategy=$s\n\
             case $s in\n\
             systemd)\n\
             command -v hostnamectl >/dev/null 2>&1 || fail nohostnamectl\n\
             c=$(hostnamectl --transient status) || fail hostnamectl\n\
             p=$(hostnamectl --static status) || fail hostnamectl\n\
             echo permanent=$(hex \"$p\");;\n\
             *)\n\
             command -v hostname >/dev/null 2>&1 || fail nohostname\n\
             c=$(hostname) || fail read;;\n\
             esac\n\
             echo current=$(hex \"$c\")\n\
             case $s in\n\
             file) f=/etc/hostname;; alpine) f=/etc/hostname;; sles) f=/etc/HOSTNAME;;\n",
        );
        s.push_str(&format!(
            "redhat) f={REDHAT_FILE};; openrc) f={OPENRC_FILE};; *) f=;;\n\
             esac\n\
             if [ -n \"$f\" ] && [ -f \"$f\" ]; then t=$(cat -- \"$f\"; echo .) || fail read; \
             echo file=$(hex \"${{t%.}}\"); fi\n"
        ));
        s
    }

    async fn names(&self, cx: &Context<'_>) -> Result<Names, TaskError> {
        let forced = match self.strategy.as_deref() {
            None => None,
            Some(u) => match Strategy::parse(u) {
                Some(_) => Some(u),
                None => {
                    return Err(TaskError::failed(format!(
                        "use: {u} is not supported by dtrplay's hostname task; it supports systemd, debian, alpine, sles, redhat, openrc and generic"
                    )));
                }
            },
        };
        let out = cx.run(&self.probe(forced), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nohostnamectl") => "hostnamectl was not found on the host (use: systemd needs it); install systemd, or choose another strategy with use".to_string(),
                Some("hostnamectl") => "hostnamectl could not read the host's name (use: systemd needs a running systemd); choose another strategy with use".to_string(),
                Some("nohostname") => "the hostname program was not found on the host: install it (Debian: apt-get install hostname)".to_string(),
                _ => "could not read the host's name".to_string(),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let bad = |e: String| TaskError::failed(format!("could not read the host's name: {e}"));
        let mut report = Report::parse(&out.stdout).map_err(|e| bad(e.to_string()))?;
        let strategy = report.require("strategy").map_err(|e| bad(e.to_string()))?;
        let strategy = Strategy::parse(&strategy)
            .ok_or_else(|| bad(format!("unknown strategy {strategy:?}")))?;
        let unhex = |text: Option<String>| -> Result<Option<String>, TaskError> {
            text.map(|t| {
                hex::decode(t.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|_| bad("the probe sent a value that is not hex".into()))
            })
            .transpose()
        };
        let current = unhex(report.take("current"))?.unwrap_or_default();
        let hostnamectl = unhex(report.take("permanent"))?;
        let file = unhex(report.take("file"))?;
        report.finish().map_err(|e| bad(e.to_string()))?;
        let permanent = match strategy {
            Strategy::Systemd => hostnamectl.map(|p| p.trim().to_string()),
            _ => permanent_from(strategy, file.as_deref()).map_err(TaskError::failed)?,
        };
        Ok(Names {
            strategy,
            current: current.trim().to_string(),
            permanent,
            file,
        })
    }

    fn result(&self) -> Outcome {
        let mut facts = Map::new();
        let short = self.name.split('.').next().unwrap_or_default();
        facts.insert("ansible_hostname".into(), Value::from(short));
        facts.insert("ansible_nodename".into(), Value::from(self.name.clone()));
        Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("ansible_facts", Value::Object(facts))
    }

    fn apply_script(&self, drift: &HostnameDrift) -> String {
        let n = shell_quote(&self.name);
        let mut s = String::from(remote::FAIL_FN);
        match drift.strategy {
            Strategy::Systemd => {
                if drift.permanent.is_some() {
                    s.push_str(&format!(
                        "hostnamectl --pretty --static set-hostname {n} || fail set\n"
                    ));
                }
                if drift.current {
                    s.push_str(&format!(
                        "hostnamectl --transient set-hostname {n} || fail set\n"
                    ));
                }
            }
            strategy => {
                if let (Some(text), Some(path)) = (&drift.permanent, strategy.file()) {
                    // Written in place: a bind-mounted /etc/hostname cannot
                    // be replaced by a rename.
                    s.push_str(&format!(
                        "printf '%s' {} > {path} || fail write\n",
                        shell_quote(text)
                    ));
                }
                if drift.current {
                    if strategy == Strategy::Alpine {
                        s.push_str("hostname -F /etc/hostname || fail set\n");
                    } else {
                        s.push_str(&format!("hostname {n} || fail set\n"));
                    }
                }
            }
        }
        s
    }
}

#[async_trait]
impl Task for Hostname {
    type Drift = HostnameDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<HostnameDrift>, TaskError> {
        if self.name.trim().is_empty() {
            return Err(TaskError::failed("name must not be empty"));
        }
        let names = self.names(cx).await?;
        if names.strategy == Strategy::Systemd && self.name.len() > 64 {
            return Err(TaskError::failed(
                "name cannot be longer than 64 characters on systemd servers, try a shorter name",
            ));
        }
        let current = names.current != self.name;
        let permanent = names.permanent.as_deref().is_some_and(|p| p != self.name);
        if !current && !permanent {
            return Ok(Check::InSync(self.result()));
        }
        let before = match current {
            true => names.current.clone(),
            false => names.permanent.clone().unwrap_or_default(),
        };
        let mut preview = self.result().with_msg(format!(
            "would rename the host from {before} to {}",
            self.name
        ));
        preview.changed = true;
        if cx.diff {
            preview = preview.with_diff(Diff {
                subject: "hostname".into(),
                before: Some(format!("hostname = {before}\n")),
                after: Some(format!("hostname = {}\n", self.name)),
            });
        }
        let new_file = permanent.then(|| match names.strategy {
            Strategy::Systemd => String::new(),
            strategy => file_with(strategy, names.file.as_deref(), &self.name),
        });
        Ok(Check::Drift {
            drift: HostnameDrift {
                strategy: names.strategy,
                permanent: new_file,
                current,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: HostnameDrift) -> Result<Outcome, TaskError> {
        let out = cx.run(&self.apply_script(&drift), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("write") => format!(
                    "failed to update hostname in {}",
                    drift.strategy.file().unwrap_or("its file")
                ),
                _ => format!("failed to set the running hostname to {}", self.name),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let mut outcome = self
            .result()
            .with_msg(format!("host renamed to {}", self.name));
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_settings_are_read_and_edited_like_ansible() {
        let network = "NETWORKING=yes\nHOSTNAME=old.example.com\n";
        assert_eq!(
            permanent_from(Strategy::RedHat, Some(network)),
            Ok(Some("old.example.com".into()))
        );
        assert_eq!(
            file_with(Strategy::RedHat, Some(network), "dtr1"),
            "NETWORKING=yes\nHOSTNAME=dtr1\n"
        );
        assert_eq!(
            permanent_from(Strategy::OpenRc, Some("# x\nhostname=\"gen\"\n")),
            Ok(Some("gen".into()))
        );
        assert_eq!(
            file_with(Strategy::OpenRc, Some("# x\nhostname=\"gen\"\n"), "dtr1"),
            "# x\nhostname=\"dtr1\"\n"
        );
        assert_eq!(
            permanent_from(Strategy::File("/etc/hostname"), Some(" node7\n")),
            Ok(Some("node7".into()))
        );
        assert_eq!(permanent_from(Strategy::Generic, None), Ok(None));
        assert!(permanent_from(Strategy::RedHat, Some("NETWORKING=yes\n")).is_err());
    }
}
