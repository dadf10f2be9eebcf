//! The `timezone` task (`community.general.timezone`, or its short name):
//! the system's time zone and whether the hardware clock keeps UTC or local
//! time.
//!
//! Where systemd is PID 1 (`/run/systemd/system` exists) both go through
//! `timedatectl`, as Ansible does there. Everywhere else the task does what
//! Debian's tzdata does: `/etc/localtime` becomes a symbolic link to the
//! zone's file (`../usr/share/zoneinfo/<zone>`, relative, so that it also
//! resolves inside a chroot) and `/etc/timezone` holds the zone's name, both
//! replaced atomically; the hardware clock's mode is the third line of
//! `/etc/adjtime` (`UTC` or `LOCAL`), which `hwclock` and systemd read. The
//! clock itself is not rewritten (Ansible runs `hwclock --systohc`, which
//! fails in containers and virtual machines without an RTC); the next
//! `hwclock` run or shutdown uses the new mode.
//!
//! The current zone is read as Ansible reads it: `/etc/timezone`, and when
//! that already names the wanted zone, the zone `/etc/localtime` links to
//! (or, for a copied file, whether it is the zone's file byte for byte), so
//! that a half-configured host is corrected. `n/a` stands for a setting
//! that cannot be read. The result's `diff` is Ansible's
//! `{before: {name: ...}, after: {name: ...}}`, with `hwclock` when given.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, shell_quote};

/// Where the zone files are, on every Linux distribution dtrplay targets.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// The arguments of `timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timezone {
    pub name: Option<String>,
    pub hwclock: Option<String>,
}

/// The parameters of `timezone`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "timezone",
        vec![
            Param::new("name", Kind::Str),
            Param::new("hwclock", Kind::Str)
                .choices(&["local", "UTC"])
                .aliases(&["rtc"]),
        ],
    )
}

/// The settings as read from the host (or as wanted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub name: Option<String>,
    pub hwclock: Option<String>,
}

/// What `apply` changes, and how the host is driven.
#[derive(Debug)]
pub struct TimezoneDrift {
    systemd: bool,
    before: Settings,
    name: bool,
    hwclock: bool,
}

/// Why a `timezone` task cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TimezoneError {
    #[error("timezone needs `name` or `hwclock` (or both)")]
    Nothing,
    #[error(
        "given timezone \"{0}\" is not available: it must name a file under {ZONEINFO}, such as Europe/Paris or Etc/UTC"
    )]
    BadName(String),
    #[error(
        "given timezone \"{0}\" is not available: there is no {ZONEINFO}/{0} on the host (is the tzdata package installed?)"
    )]
    NoZone(String),
    #[error("timedatectl {action} failed: {detail}")]
    Timedatectl { action: String, detail: String },
    #[error("could not {action}: {detail}")]
    Write { action: String, detail: String },
    #[error("the timezone probe printed something dtrplay cannot read: {0}")]
    Probe(#[from] ProbeError),
}

impl From<TimezoneError> for TaskError {
    fn from(err: TimezoneError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// The zone a `/etc/localtime` link target names, if it points into a
/// zoneinfo directory (`/usr/share/zoneinfo/`, `../usr/share/zoneinfo/`,
/// Alpine's `/etc/zoneinfo/`).
pub fn zone_of_link(target: &str) -> Option<&str> {
    ["/usr/share/zoneinfo/", "/etc/zoneinfo/"]
        .iter()
        .find_map(|dir| target.find(dir).map(|at| &target[at + dir.len()..]))
        .filter(|zone| !zone.is_empty())
}

/// Whether a zone name can only name a file under the zoneinfo directory.
fn plain_zone(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-_/".contains(c))
}

impl Timezone {
    fn probe(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "if [ -d /run/systemd/system ] && command -v timedatectl >/dev/null 2>&1; then echo systemd=1; sd=1; else echo systemd=0; sd=0; fi\n",
        );
        if let Some(name) = &self.name {
            s.push_str(&format!(
                "z={}\n[ -f {ZONEINFO}/\"$z\" ] || fail nozone\n\
                 if [ $sd = 1 ]; then\n\
                 v=$(timedatectl show -p Timezone --value 2>&1) || {{ printf '%s\\n' \"$v\" >&2; fail show; }}\n\
                 echo \"zone=$v\"\n\
                 else\n\
                 if [ -f /etc/timezone ]; then echo \"file=$(sed -n 's/^\\([^[:space:]]\\{{1,\\}}\\).*/\\1/p' /etc/timezone | head -n 1)\"; else echo file=; fi\n\
                 if [ -L /etc/localtime ]; then\n\
                 if [ -e /etc/localtime ]; then echo \"link=$(readlink /etc/localtime)\"; else echo link=/broken; fi\n\
                 elif cmp -s /etc/localtime {ZONEINFO}/\"$z\"; then echo copy=same; else echo copy=other; fi\n\
                 fi\n",
                shell_quote(name)
            ));
        }
        if self.hwclock.is_some() {
            s.push_str(
                "if [ $sd = 1 ]; then\n\
                 v=$(timedatectl show -p LocalRTC --value 2>&1) || { printf '%s\\n' \"$v\" >&2; fail show; }\n\
                 echo \"localrtc=$v\"\n\
                 else echo \"adjtime=$(sed -n 3p /etc/adjtime 2>/dev/null)\"; fi\n",
            );
        }
        s
    }

    /// Reads the probe's report into the settings the task asks about.
    fn read(&self, stdout: &[u8]) -> Result<(bool, Settings), TimezoneError> {
        let mut report = remote::Report::parse(stdout).map_err(TimezoneError::Probe)?;
        let systemd = report.flag("systemd").map_err(TimezoneError::Probe)?;
        let name = match &self.name {
            None => None,
            Some(_) if systemd => report.take("zone"),
            Some(wanted) => {
                let file = report.take("file").filter(|f| !f.is_empty());
                let link = report.take("link");
                let copy = report.take("copy");
                Some(match file {
                    Some(file) if &file == wanted => match (link, copy.as_deref()) {
                        (Some(link), _) => zone_of_link(&link).unwrap_or("n/a").to_string(),
                        (None, Some("same")) => file,
                        (None, _) => "n/a".to_string(),
                    },
                    Some(file) => file,
                    None => "n/a".to_string(),
                })
            }
        };
        let hwclock = match self.hwclock {
            None => None,
            Some(_) if systemd => Some(
                match report.take("localrtc").as_deref() {
                    Some("yes") => "local",
                    _ => "UTC",
                }
                .to_string(),
            ),
            // A missing /etc/adjtime, or one without a third line, means
            // UTC to hwclock and systemd alike.
            Some(_) => Some(
                match report.take("adjtime").as_deref().map(str::trim) {
                    Some("LOCAL") => "local",
                    _ => "UTC",
                }
                .to_string(),
            ),
        };
        Ok((systemd, Settings { name, hwclock }))
    }

    fn wanted(&self) -> Settings {
        Settings {
            name: self.name.clone(),
            hwclock: self.hwclock.clone(),
        }
    }

    /// Ansible's `diff` value: the keys the task names, before and after.
    fn diff_value(before: &Settings, after: &Settings) -> Value {
        let side = |s: &Settings| {
            let mut m = Map::new();
            if let Some(name) = &s.name {
                m.insert("name".into(), name.clone().into());
            }
            if let Some(hw) = &s.hwclock {
                m.insert("hwclock".into(), hw.clone().into());
            }
            Value::Object(m)
        };
        json!({ "before": side(before), "after": side(after) })
    }

    fn text(s: &Settings) -> String {
        let mut t = String::new();
        if let Some(name) = &s.name {
            t.push_str(&format!("name: {name}\n"));
        }
        if let Some(hw) = &s.hwclock {
            t.push_str(&format!("hwclock: {hw}\n"));
        }
        t
    }

    fn message(&self, drift: &TimezoneDrift) -> String {
        let mut parts = Vec::new();
        if drift.name {
            parts.push(format!(
                "set the time zone to {} (was {})",
                self.name.as_deref().unwrap_or_default(),
                drift.before.name.as_deref().unwrap_or("n/a")
            ));
        }
        if drift.hwclock {
            parts.push(format!(
                "set the hardware clock to {} (was {})",
                self.hwclock.as_deref().unwrap_or_default(),
                drift.before.hwclock.as_deref().unwrap_or("n/a")
            ));
        }
        parts.join("; ")
    }

    fn apply_script(&self, drift: &TimezoneDrift) -> String {
        let mut s = String::from(remote::FAIL_FN);
        let tmp = format!(
            ".dtrplay-tz.{:016x}",
            crate::connection::remote_shell::random_u64()
        );
        if drift.name {
            let z = shell_quote(self.name.as_deref().unwrap_or_default());
            if drift.systemd {
                s.push_str(&format!(
                    "timedatectl set-timezone {z} || fail set-timezone\n"
                ));
            } else {
                // Both files are written beside their final place and
                // renamed over it, so no reader ever sees a missing zone.
                s.push_str(&format!(
                    "trap 'rm -f /etc/{tmp}.l /etc/{tmp}.t' EXIT\n\
                     ln -s ../usr/share/zoneinfo/{z} /etc/{tmp}.l || fail link\n\
                     mv -f /etc/{tmp}.l /etc/localtime || fail link\n\
                     printf '%s\\n' {z} > /etc/{tmp}.t && chmod 0644 /etc/{tmp}.t || fail timezone\n\
                     mv -f /etc/{tmp}.t /etc/timezone || fail timezone\n"
                ));
            }
        }
        if drift.hwclock {
            let local = self.hwclock.as_deref() == Some("local");
            if drift.systemd {
                let yes = if local { "yes" } else { "no" };
                s.push_str(&format!(
                    "timedatectl set-local-rtc {yes} || fail set-local-rtc\n"
                ));
            } else {
                // Keep the drift figures of the first two lines, which
                // hwclock maintains; a new file starts with hwclock's own.
                let mode = if local { "LOCAL" } else { "UTC" };
                s.push_str(&format!(
                    "if [ -f /etc/adjtime ] && [ \"$(wc -l < /etc/adjtime)\" -ge 2 ]; then\n\
                     {{ sed -n 1,2p /etc/adjtime; echo {mode}; sed -n '4,$p' /etc/adjtime; }} > /etc/{tmp}.a || fail adjtime\n\
                     else printf '0.0 0 0.0\\n0\\n{mode}\\n' > /etc/{tmp}.a || fail adjtime; fi\n\
                     chmod 0644 /etc/{tmp}.a && mv -f /etc/{tmp}.a /etc/adjtime || fail adjtime\n"
                ));
            }
        }
        s
    }

    fn failure(out: &crate::connection::Output, name: &str) -> TimezoneError {
        let failure = remote::failure(out);
        let detail = failure.detail.clone();
        match failure.code.as_deref() {
            Some("nozone") => TimezoneError::NoZone(name.to_string()),
            Some(action @ ("show" | "set-timezone" | "set-local-rtc")) => {
                TimezoneError::Timedatectl {
                    action: action.to_string(),
                    detail,
                }
            }
            Some("link") => TimezoneError::Write {
                action: "link /etc/localtime to the zone".into(),
                detail,
            },
            Some("timezone") => TimezoneError::Write {
                action: "write /etc/timezone".into(),
                detail,
            },
            Some("adjtime") => TimezoneError::Write {
                action: "write /etc/adjtime".into(),
                detail,
            },
            _ => TimezoneError::Write {
                action: "run the timezone script".into(),
                detail,
            },
        }
    }
}

#[async_trait]
impl Task for Timezone {
    type Drift = TimezoneDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<TimezoneDrift>, TaskError> {
        if self.name.is_none() && self.hwclock.is_none() {
            return Err(TimezoneError::Nothing.into());
        }
        let name = self.name.clone().unwrap_or_default();
        if self.name.is_some() && !plain_zone(&name) {
            return Err(TimezoneError::BadName(name).into());
        }
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out, &name).into());
        }
        let (systemd, before) = self.read(&out.stdout)?;
        let wanted = self.wanted();
        let drift = TimezoneDrift {
            systemd,
            name: before.name != wanted.name,
            hwclock: before.hwclock != wanted.hwclock,
            before: before.clone(),
        };
        let diff = Self::diff_value(&before, &wanted);
        if !drift.name && !drift.hwclock {
            return Ok(Check::InSync(Outcome::ok().with_data("diff", diff)));
        }
        let mut preview = Outcome::changed(self.message(&drift)).with_data("diff", diff);
        if cx.diff {
            preview.diffs.push(Diff {
                subject: "timezone".into(),
                before: Some(Self::text(&before)),
                after: Some(Self::text(&wanted)),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: TimezoneDrift) -> Result<Outcome, TaskError> {
        let name = self.name.clone().unwrap_or_default();
        let out = cx.run(&self.apply_script(&drift), &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out, &name).into());
        }
        // Read back what the host says now, as Ansible does, so that a zone
        // the host did not take is a failure rather than a silent change.
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            return Err(Self::failure(&out, &name).into());
        }
        let (_, after) = self.read(&out.stdout)?;
        let wanted = self.wanted();
        if after != wanted {
            return Err(TaskError::failed(format!(
                "still not desired state, though changes have made - planned: {}, after: {}",
                Self::text(&wanted).trim_end().replace('\n', ", "),
                Self::text(&after).trim_end().replace('\n', ", ")
            )));
        }
        let mut outcome = Outcome::changed(self.message(&drift))
            .with_data("diff", Self::diff_value(&drift.before, &after));
        if cx.diff {
            outcome.diffs.push(Diff {
                subject: "timezone".into(),
                before: Some(Self::text(&drift.before)),
                after: Some(Self::text(&after)),
            });
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_name_their_zone() {
        assert_eq!(
            zone_of_link("../usr/share/zoneinfo/Europe/Paris"),
            Some("Europe/Paris")
        );
        assert_eq!(zone_of_link("/usr/share/zoneinfo/Etc/UTC"), Some("Etc/UTC"));
        assert_eq!(zone_of_link("/etc/zoneinfo/UTC"), Some("UTC"));
        assert_eq!(zone_of_link("/opt/elsewhere"), None);
    }

    #[test]
    fn zone_names_stay_inside_zoneinfo() {
        assert!(plain_zone("America/Argentina/Buenos_Aires"));
        assert!(plain_zone("Etc/GMT+5"));
        assert!(!plain_zone("../../etc/passwd"));
        assert!(!plain_zone("/etc/passwd"));
        assert!(!plain_zone("Europe/Paris;reboot"));
        assert!(!plain_zone(""));
    }
}
