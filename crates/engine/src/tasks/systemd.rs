//! The `systemd` task (also spelled `systemd_service`): a unit started,
//! stopped, restarted or reloaded, enabled or disabled, masked or unmasked,
//! and `daemon_reload`, through the host's own `systemctl`. The `service`
//! task uses it on hosts whose service manager is systemd.
//!
//! The check is one script: whether systemd is the running service manager
//! (`/run/systemd/system`, as systemd itself and Ansible test it), then
//! `systemctl is-enabled` (which reads the unit files and needs no running
//! manager) and, with a running manager, `systemctl is-active` and the
//! unit's `systemctl show` properties (registered as `status`, as Ansible
//! does). The apply is one script: `daemon-reload` first when asked, then
//! `mask`/`unmask`, `enable`/`disable` and the state change, each only when
//! the check found it needed.
//!
//! Without systemd as PID 1 (a container, a chroot, the lab's nodes) units
//! cannot be started or stopped: a `state` is then an error that says so.
//! `enabled` and `masked` still work, because `systemctl` edits the unit
//! symlinks offline; `daemon_reload` has nothing to reload (the manager
//! reads unit files when it starts) and is skipped with a warning, where
//! Ansible would fail on `systemctl`'s "System has not been booted with
//! systemd". That is the one deliberate difference; `scope: user` and
//! `global` are passed to `systemctl` as `--user`/`--global`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, shell_quote};

/// The arguments of `systemd`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    pub name: Option<String>,
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    #[serde(default)]
    pub daemon_reload: bool,
    #[serde(default)]
    pub daemon_reexec: bool,
    pub scope: String,
    #[serde(default)]
    pub no_block: bool,
    #[serde(default)]
    pub force: bool,
}

/// The states `state:` accepts, shared with `service`.
pub const STATES: [&str; 4] = ["started", "stopped", "restarted", "reloaded"];

/// The parameters of `systemd`, as Ansible names them.
pub fn spec() -> Spec {
    spec_named("systemd")
}

/// The same parameters under Ansible's newer name.
pub fn service_spec() -> Spec {
    spec_named("systemd_service")
}

fn spec_named(name: &str) -> Spec {
    Spec::new(
        name,
        vec![
            Param::new("name", Kind::Str).aliases(&["service", "unit"]),
            Param::new("state", Kind::Str).choices(&STATES),
            Param::new("enabled", Kind::Bool),
            Param::new("masked", Kind::Bool),
            Param::new("daemon_reload", Kind::Bool)
                .default(false)
                .aliases(&["daemon-reload"]),
            Param::new("daemon_reexec", Kind::Bool)
                .default(false)
                .aliases(&["daemon-reexec"]),
            Param::new("scope", Kind::Str)
                .choices(&["system", "user", "global"])
                .default("system"),
            Param::new("no_block", Kind::Bool).default(false),
            Param::new("force", Kind::Bool).default(false),
        ],
    )
}

/// What the host said about the unit.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// systemd is the running service manager.
    pub running: bool,
    /// `systemctl is-enabled`'s word (`enabled`, `disabled`, `static`,
    /// `masked`, ...), empty when the unit file does not exist.
    pub enabled_word: String,
    pub enabled_rc: i64,
    /// `systemctl is-active`'s word, with a running manager.
    pub active: Option<String>,
    /// `systemctl show`, with a running manager.
    pub status: Map<String, Value>,
}

/// The lines of the probe that this module prints, after `manager=systemd`.
pub fn probe_script(cmd: &str, name: &str) -> String {
    let n = shell_quote(name);
    format!(
        "command -v systemctl >/dev/null 2>&1 || fail nosystemctl\n\
         if [ -d /run/systemd/system ]; then echo running=1; else echo running=0; fi\n\
         e=$({cmd} is-enabled -- {n} 2>/dev/null); echo \"enabled_rc=$?\"; echo \"enabled_word=$e\"\n\
         if [ -d /run/systemd/system ]; then \
         echo \"active=$({cmd} is-active -- {n} 2>/dev/null)\"; echo '--show--'; \
         {cmd} show --no-pager -- {n} 2>/dev/null; fi\n"
    )
}

/// Parses the probe's lines (`key=value`, then `systemctl show` after
/// `--show--`).
pub fn parse(stdout: &str) -> Result<Facts, ProbeError> {
    let mut facts = Facts::default();
    let mut lines = stdout.lines();
    for line in lines.by_ref() {
        if line == "--show--" {
            break;
        }
        match line.split_once('=') {
            Some(("manager", _)) => {}
            Some(("running", v)) => facts.running = v == "1",
            Some(("enabled_rc", v)) => {
                facts.enabled_rc = v
                    .parse()
                    .map_err(|_| ProbeError::BadLine(line.to_string()))?
            }
            Some(("enabled_word", v)) => facts.enabled_word = v.trim().to_string(),
            Some(("active", v)) => facts.active = Some(v.trim().to_string()),
            _ => return Err(ProbeError::UnexpectedLine(line.to_string())),
        }
    }
    for line in lines {
        if let Some((k, v)) = line.split_once('=') {
            facts.status.insert(k.to_string(), v.into());
        }
    }
    Ok(facts)
}

/// What `apply` must do, in order.
#[derive(Debug, Default, Clone)]
pub struct SystemdDrift {
    pub reload: bool,
    pub reexec: bool,
    /// `mask` or `unmask`.
    pub mask: Option<&'static str>,
    /// `enable` or `disable`.
    pub enable: Option<&'static str>,
    /// `start`, `stop`, `restart`, `reload`.
    pub action: Option<&'static str>,
    pub facts: Facts,
}

impl SystemdDrift {
    /// Whether anything but a daemon reload would happen.
    pub fn changes(&self) -> bool {
        self.mask.is_some() || self.enable.is_some() || self.action.is_some()
    }
}

impl Systemd {
    /// `systemctl` with the scope's option.
    fn cmd(&self) -> String {
        let mut c = String::from("systemctl");
        match self.scope.as_str() {
            "user" => c.push_str(" --user"),
            "global" => c.push_str(" --global"),
            _ => {}
        }
        if self.no_block {
            c.push_str(" --no-block");
        }
        c
    }

    fn unit(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Refuses what Ansible refuses before asking the host.
    fn validated(&self) -> Result<(), TaskError> {
        let wants_unit = self.state.is_some() || self.enabled.is_some() || self.masked.is_some();
        if wants_unit && self.name.is_none() {
            return Err(TaskError::failed(
                "missing parameter(s) required by 'state', 'enabled' or 'masked': name",
            ));
        }
        if !wants_unit && !self.daemon_reload && !self.daemon_reexec {
            return Err(TaskError::failed(
                "at least one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
            ));
        }
        Ok(())
    }

    /// Decides from the probe what to change.
    pub fn decide(&self, facts: Facts, cx: &Context<'_>) -> Result<SystemdDrift, TaskError> {
        let mut drift = SystemdDrift {
            reload: self.daemon_reload,
            reexec: self.daemon_reexec,
            ..SystemdDrift::default()
        };
        if !facts.running && (self.daemon_reload || self.daemon_reexec) {
            cx.warn(
                "systemd is not the running service manager on this host (PID 1 is not systemd): \
                 daemon_reload has nothing to reload, the unit files are read when systemd starts",
            );
            drift.reload = false;
            drift.reexec = false;
        }
        let masked = facts.enabled_word == "masked" || facts.enabled_word == "masked-runtime";
        let found = !facts.enabled_word.is_empty()
            || facts
                .status
                .get("LoadState")
                .is_some_and(|s| s != "not-found");
        if let Some(want) = self.masked {
            if want != masked {
                drift.mask = Some(if want { "mask" } else { "unmask" });
            }
        }
        if (self.enabled.is_some() || self.state.is_some()) && !found && self.masked != Some(true) {
            return Err(TaskError::failed(format!(
                "Could not find the requested service {}: host",
                self.unit()
            )));
        }
        if let Some(want) = self.enabled {
            if want && (masked && self.masked != Some(false)) {
                return Err(TaskError::failed(format!(
                    "Unable to enable service {}: the unit is masked (unmask it first with masked: false)",
                    self.unit()
                )));
            }
            // `is-enabled` exits 0 for enabled, static, alias, indirect and
            // generated units: Ansible counts all of them as enabled.
            let is = facts.enabled_rc == 0 && !masked;
            if want != is {
                drift.enable = Some(if want { "enable" } else { "disable" });
            }
        }
        if let Some(state) = &self.state {
            if !facts.running {
                return Err(TaskError::failed(format!(
                    "cannot make {} {state}: systemd is not the running service manager on this \
                     host (PID 1 is not systemd, as in most containers); `enabled`, `masked` and \
                     the unit files work without it, starting and stopping units does not",
                    self.unit()
                )));
            }
            let active = matches!(
                facts.active.as_deref(),
                Some("active" | "activating" | "reloading")
            );
            drift.action = match (state.as_str(), active) {
                ("started", false) => Some("start"),
                ("stopped", true) => Some("stop"),
                ("restarted", _) => Some("restart"),
                ("reloaded", false) => Some("start"),
                ("reloaded", true) => Some("reload"),
                _ => None,
            };
        }
        drift.facts = facts;
        Ok(drift)
    }

    /// The result keys Ansible registers, after the change.
    fn result(&self, drift: &SystemdDrift) -> Outcome {
        let mut o = Outcome::ok();
        if let Some(name) = &self.name {
            o = o.with_data("name", name.clone());
        }
        if let Some(state) = &self.state {
            o = o.with_data("state", state.clone());
        }
        if let Some(enabled) = self.enabled {
            o = o.with_data("enabled", enabled);
        }
        if !drift.facts.status.is_empty() {
            o = o.with_data("status", Value::Object(drift.facts.status.clone()));
        }
        o
    }

    /// What the change is, for people.
    fn describe(&self, drift: &SystemdDrift) -> String {
        let mut words: Vec<&str> = Vec::new();
        words.extend(drift.mask);
        words.extend(drift.enable);
        words.extend(drift.action);
        if words.is_empty() {
            return "daemon reloaded".into();
        }
        format!("{} {}", words.join(", "), self.unit())
    }

    /// The check for `systemd` and for `service` on systemd hosts.
    pub fn check_with(
        &self,
        facts: Facts,
        cx: &Context<'_>,
    ) -> Result<Check<SystemdDrift>, TaskError> {
        let drift = self.decide(facts, cx)?;
        let base = self.result(&drift);
        if !drift.changes() && !drift.reload && !drift.reexec {
            return Ok(Check::InSync(base));
        }
        let mut preview = base.with_msg(format!("would {}", self.describe(&drift)));
        // A daemon reload alone is not a change (as in Ansible), but it must
        // still run outside check mode, so it is drift that reports none.
        preview.changed = drift.changes();
        Ok(Check::Drift { drift, preview })
    }

    /// Runs the drift's `systemctl` calls in one script.
    pub async fn apply_with(
        &self,
        cx: &Context<'_>,
        drift: SystemdDrift,
    ) -> Result<Outcome, TaskError> {
        let cmd = self.cmd();
        let n = shell_quote(self.unit());
        let mut s = String::from(remote::FAIL_FN);
        if drift.reexec {
            s.push_str(&format!("{cmd} daemon-reexec || fail reexec\n"));
        }
        if drift.reload {
            s.push_str(&format!("{cmd} daemon-reload || fail reload\n"));
        }
        if let Some(verb) = drift.mask {
            s.push_str(&format!("{cmd} {verb} -- {n} || fail {verb}\n"));
        }
        if let Some(verb) = drift.enable {
            let force = if self.force { " --force" } else { "" };
            s.push_str(&format!("{cmd} {verb}{force} -- {n} || fail {verb}\n"));
        }
        if let Some(verb) = drift.action {
            s.push_str(&format!("{cmd} {verb} -- {n} </dev/null || fail {verb}\n"));
        }
        let out = cx.run(&s, &[]).await?;
        let mut outcome = self.result(&drift);
        if !out.success() {
            let failure = remote::failure(&out);
            let what = failure.code.clone().unwrap_or_else(|| "systemctl".into());
            return Err(remote::with_detail(
                format!("Unable to {what} service {}", self.unit()),
                &failure,
            ));
        }
        outcome.changed = drift.changes();
        outcome.msg = Some(self.describe(&drift));
        Ok(outcome)
    }
}

#[async_trait]
impl Task for Systemd {
    type Drift = SystemdDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<SystemdDrift>, TaskError> {
        self.validated()?;
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&probe_script(&self.cmd(), self.unit()));
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nosystemctl") => {
                    "systemctl was not found on the host (is systemd installed?)"
                }
                _ => "could not query systemd",
            };
            return Err(remote::with_detail(msg.to_string(), &failure));
        }
        let facts = parse(&out.stdout_text()).map_err(|e| TaskError::failed(e.to_string()))?;
        self.check_with(facts, cx)
    }

    async fn apply(&self, cx: &Context<'_>, drift: SystemdDrift) -> Result<Outcome, TaskError> {
        self.apply_with(cx, drift).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_parsed_with_and_without_a_running_manager() {
        let f = parse("running=0\nenabled_rc=1\nenabled_word=disabled\n").expect("parses");
        assert!(!f.running);
        assert_eq!(f.enabled_word, "disabled");
        assert!(f.status.is_empty());
        let f = parse(
            "running=1\nenabled_rc=0\nenabled_word=enabled\nactive=active\n--show--\nLoadState=loaded\nMainPID=42\n",
        )
        .expect("parses");
        assert_eq!(f.active.as_deref(), Some("active"));
        assert_eq!(f.status["MainPID"], "42");
        assert!(parse("what\n").is_err());
    }
}
