//! The `seboolean` task (`ansible.posix.seboolean`, or its short name): an
//! SELinux boolean's value, now and, with `persistent`, across reboots.
//!
//! The check is one script: whether SELinux is enabled (`selinuxenabled`,
//! or the selinuxfs at /sys/fs/selinux where that program is missing), the
//! boolean's active value from `getsebool`, and, for `persistent`, the value
//! the policy store keeps for it (`booleans.local` of the policy type named
//! in /etc/selinux/config, which is what `setsebool -P` and `semanage
//! boolean` write). Where SELinux is disabled the task fails with Ansible's
//! own message, "SELinux is disabled on this host.", unless
//! `ignore_selinux_state` says to go on (a chroot, an image build); then a
//! persistent value is set with `semanage boolean`, which works on the
//! policy store without a running SELinux, and an active one is left alone,
//! as Ansible leaves it. The apply is `setsebool [-P]`.
//!
//! The registered result carries `name`, `persistent` and `state`, as
//! Ansible's does.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, shell_quote};

/// The arguments of `seboolean`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seboolean {
    pub name: String,
    pub state: bool,
    pub persistent: bool,
    pub ignore_selinux_state: bool,
}

/// The parameters of `seboolean`, as ansible.posix names them.
pub fn spec() -> Spec {
    Spec::new(
        "seboolean",
        vec![
            Param::new("name", Kind::Str).required(),
            Param::new("state", Kind::Bool).required(),
            Param::new("persistent", Kind::Bool).default(false),
            Param::new("ignore_selinux_state", Kind::Bool).default(false),
        ],
    )
}

/// How the apply sets the boolean.
#[derive(Debug)]
pub enum SebooleanDrift {
    /// `setsebool`, with `-P` when persistent: SELinux is running.
    Setsebool,
    /// `semanage boolean --modify`: only the policy store, SELinux is off.
    Semanage,
}

/// The shell lines that print the policy store's persistent value of the
/// boolean named by `$b` as `stored=on|off|` (empty: not set locally).
const STORED_LINES: &str = "t=$(sed -n 's/^[[:space:]]*SELINUXTYPE[[:space:]]*=[[:space:]]*//p' /etc/selinux/config 2>/dev/null | tr -d '\"' | tail -n 1)\n\
     s=\n\
     for f in \"/var/lib/selinux/$t/active/booleans.local\" \"/etc/selinux/$t/modules/active/booleans.local\"; do\n\
     if [ -n \"$t\" ] && [ -f \"$f\" ]; then\n\
     v=$(sed -n \"s/^[[:space:]]*$b[[:space:]]*=[[:space:]]*//p\" \"$f\" | tail -n 1)\n\
     case \"$v\" in 1|on|true) s=on;; 0|off|false) s=off;; esac\n\
     break; fi; done\n\
     echo \"stored=$s\"\n";

impl Seboolean {
    fn word(&self) -> &'static str {
        if self.state { "on" } else { "off" }
    }

    fn probe(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!("b={}\n", shell_quote(&self.name)));
        // libselinux's is_selinux_enabled() needs a mounted selinuxfs with
        // a policy; `selinuxenabled` asks it, the mount is the fallback.
        s.push_str(
            "e=0\n\
             if command -v selinuxenabled >/dev/null 2>&1; then selinuxenabled && e=1\n\
             elif [ -e /sys/fs/selinux/enforce ]; then e=1; fi\n\
             echo \"enabled=$e\"\n\
             if [ \"$e\" = 1 ] && command -v getsebool >/dev/null 2>&1; then\n\
             out=$(getsebool \"$b\" 2>&1) || { printf '%s\\n' \"$out\" >&2; fail getsebool; }\n\
             case \"$out\" in *'--> on'*) echo active=on;; *'--> off'*) echo active=off;; *) printf '%s\\n' \"$out\" >&2; fail getsebool;; esac\n\
             else echo active=; fi\n",
        );
        if self.persistent {
            s.push_str(STORED_LINES);
        }
        s
    }

    fn result(&self, changed: bool) -> Outcome {
        let mut outcome = Outcome::ok()
            .with_data("name", self.name.clone())
            .with_data("persistent", self.persistent)
            .with_data("state", self.state);
        outcome.changed = changed;
        outcome
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let msg = match failure.code.as_deref() {
            Some("getsebool") => format!(
                "Failed to determine current state for boolean {}",
                self.name
            ),
            Some("nosetsebool") => format!(
                "setsebool was not found on the host; it sets the SELinux boolean {} \
                 (Red Hat: dnf install policycoreutils, Debian: apt-get install selinux-utils)",
                self.name
            ),
            Some("nosemanage") => format!(
                "SELinux is disabled here and persistent: true needs semanage to change the policy store \
                 for {} (Red Hat: dnf install policycoreutils-python-utils, Debian: apt-get install semanage-utils)",
                self.name
            ),
            _ => format!("Failed to set boolean {} to {}", self.name, self.state),
        };
        remote::with_detail(msg, &failure)
    }
}

#[async_trait]
impl Task for Seboolean {
    type Drift = SebooleanDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<SebooleanDrift>, TaskError> {
        // Boolean names are C identifiers; anything else is a typo, and
        // would not be safe inside the probe's patterns either.
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if self.name.is_empty() || !self.name.chars().all(plain) {
            return Err(TaskError::failed(format!(
                "seboolean: {:?} is not an SELinux boolean name (letters, digits and _, such as httpd_can_network_connect)",
                self.name
            )));
        }
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let mut report = remote::Report::parse(&out.stdout)?;
        let enabled = report.flag("enabled")?;
        let active = report.take("active").filter(|v| !v.is_empty());
        let stored = report.take("stored").filter(|v| !v.is_empty());
        if !enabled && !self.ignore_selinux_state {
            // Ansible's message, word for word: content that checks for it
            // (failed_when, rescue) keeps working.
            return Err(TaskError::failed("SELinux is disabled on this host."));
        }
        let wanted = self.word();
        let (drift, differs) = if enabled {
            let differs = active.as_deref() != Some(wanted)
                || (self.persistent && stored.as_deref() != Some(wanted));
            (SebooleanDrift::Setsebool, differs)
        } else if self.persistent {
            (SebooleanDrift::Semanage, stored.as_deref() != Some(wanted))
        } else {
            // SELinux is off and only the active value was asked for: there
            // is none to set, and Ansible reports no change.
            return Ok(Check::InSync(self.result(false).with_msg(format!(
                "SELinux is disabled on this host; the active value of {} is left alone",
                self.name
            ))));
        };
        if !differs {
            return Ok(Check::InSync(self.result(false)));
        }
        let before = match (enabled, &active, &stored) {
            (true, Some(a), _) if !self.persistent => format!("{}: {a}\n", self.name),
            (true, Some(a), s) => format!(
                "{}: {a} (persistent: {})\n",
                self.name,
                s.as_deref().unwrap_or("policy default")
            ),
            (_, _, s) => format!(
                "{} (persistent): {}\n",
                self.name,
                s.as_deref().unwrap_or("policy default")
            ),
        };
        let after = match (enabled, self.persistent) {
            (true, false) => format!("{}: {wanted}\n", self.name),
            (true, true) => format!("{}: {wanted} (persistent: {wanted})\n", self.name),
            (false, _) => format!("{} (persistent): {wanted}\n", self.name),
        };
        let mut preview = self
            .result(true)
            .with_msg(format!("set SELinux boolean {} to {wanted}", self.name));
        if cx.diff {
            preview.diffs.push(Diff {
                subject: format!("SELinux boolean {}", self.name),
                before: Some(before),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: SebooleanDrift) -> Result<Outcome, TaskError> {
        let b = shell_quote(&self.name);
        let wanted = self.word();
        let mut s = String::from(remote::FAIL_FN);
        match drift {
            SebooleanDrift::Setsebool => {
                let p = if self.persistent { " -P" } else { "" };
                s.push_str(&format!(
                    "command -v setsebool >/dev/null 2>&1 || fail nosetsebool\n\
                     setsebool{p} {b} {wanted} || fail setsebool\n"
                ));
            }
            SebooleanDrift::Semanage => {
                s.push_str(&format!(
                    "command -v semanage >/dev/null 2>&1 || fail nosemanage\n\
                     semanage boolean --modify --{wanted} {b} || fail semanage\n"
                ));
            }
        }
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        Ok(self
            .result(true)
            .with_msg(format!("set SELinux boolean {} to {wanted}", self.name)))
    }
}
