//! The `service` task: a service started, stopped, restarted or reloaded,
//! and enabled or disabled at boot, through whatever service manager the
//! host runs, detected per host in the check script as Ansible detects it:
//! systemd when `/run/systemd/system` exists (then this is the `systemd`
//! task), otherwise System V init scripts in `/etc/init.d`, run through
//! the host's `service` command (or the script itself without one) and
//! enabled with `update-rc.d`.
//!
//! The check is one script: the manager, the init script's `status` (its
//! exit status, 0 meaning running, as LSB defines it; or a `pattern`
//! searched in the process list), and whether any `/etc/rc?.d/S??<name>`
//! link exists. The apply is one script: `update-rc.d` when the boot links
//! differ, then the one `service <name> <action>` needed. A daemon that an
//! init script leaves running keeps the session's output open, so the
//! action's output goes through a temporary file, never a pipe.
//!
//! As Ansible's action hands the arguments to the manager's own module,
//! `daemon_reload` and `daemon_reexec` (and a missing `name` with them) are
//! accepted and go to `systemd` on a systemd host; on a System V host they
//! fail as the `sysvinit` module refuses them.
//!
//! Differences from Ansible: OpenRC, upstart, BSD and macOS managers are
//! not supported (the task says which manager it looked for); `runlevel`
//! is accepted and ignored, as it is by Ansible on Linux.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, shell_quote};
use crate::tasks::systemd::{self, Systemd, SystemdDrift};

/// The arguments of `service`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Empty when not given: only `daemon_reload` on systemd goes without.
    pub name: String,
    pub state: Option<String>,
    pub enabled: Option<bool>,
    pub sleep: Option<i64>,
    pub pattern: Option<String>,
    pub arguments: String,
    pub runlevel: String,
    #[serde(rename = "use")]
    pub manager: String,
    pub daemon_reload: Option<bool>,
    pub daemon_reexec: Option<bool>,
}

/// The parameters of `service`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "service",
        vec![
            Param::new("name", Kind::Str).default(""),
            Param::new("state", Kind::Str).choices(&systemd::STATES),
            Param::new("enabled", Kind::Bool),
            Param::new("sleep", Kind::Int),
            Param::new("pattern", Kind::Str),
            Param::new("arguments", Kind::Str)
                .default("")
                .aliases(&["args"]),
            Param::new("runlevel", Kind::Str).default("default"),
            Param::new("use", Kind::Str)
                .choices(&["auto", "systemd", "sysvinit", "service"])
                .default("auto"),
            Param::new("daemon_reload", Kind::Bool),
            Param::new("daemon_reexec", Kind::Bool),
        ],
    )
}

/// What a System V service looks like on the host.
#[derive(Debug, Clone, Copy)]
pub struct SysvFacts {
    running: bool,
    enabled: bool,
}

/// What `apply` must do.
#[derive(Debug)]
pub enum ServiceDrift {
    Systemd(SystemdDrift),
    Sysv {
        facts: SysvFacts,
        /// `enable` or `disable`.
        enable: Option<&'static str>,
        /// `start`, `stop`, `restart` or `reload`.
        action: Option<&'static str>,
    },
}

impl Service {
    fn as_systemd(&self) -> Systemd {
        Systemd {
            name: Some(self.name.clone()).filter(|n| !n.is_empty()),
            state: self.state.clone(),
            enabled: self.enabled,
            masked: None,
            daemon_reload: self.daemon_reload.unwrap_or(false),
            daemon_reexec: self.daemon_reexec.unwrap_or(false),
            scope: "system".into(),
            no_block: false,
            force: false,
        }
    }

    fn probe(&self) -> String {
        let n = shell_quote(&self.name);
        let mut s = String::from(remote::FAIL_FN);
        let systemd_first = match self.manager.as_str() {
            "systemd" => "true",
            "sysvinit" | "service" => "false",
            _ => "[ -d /run/systemd/system ]",
        };
        s.push_str(&format!(
            "if {systemd_first}; then echo manager=systemd\n{}exit 0\nfi\n",
            systemd::probe_script("systemctl", &self.name)
        ));
        s.push_str(&format!(
            "echo manager=sysv\n[ -x /etc/init.d/{n} ] || fail nosvc\n"
        ));
        match &self.pattern {
            Some(pattern) => s.push_str(&format!(
                // Captured first, so that grep's own arguments (which hold
                // the pattern) are not in the list it searches.
                "l=$(ps -eo args=) || fail ps\nif printf '%s\\n' \"$l\" | grep -E -q -- {}; then echo running=1; else echo running=0; fi\n",
                shell_quote(pattern)
            )),
            None => s.push_str(&format!(
                "if command -v service >/dev/null 2>&1; then service {n} status </dev/null >/dev/null 2>&1; \
                 else /etc/init.d/{n} status </dev/null >/dev/null 2>&1; fi\n\
                 if [ $? = 0 ]; then echo running=1; else echo running=0; fi\n"
            )),
        }
        s.push_str(&format!(
            "set -- /etc/rc?.d/S??{n}\nif [ -e \"$1\" ]; then echo enabled=1; else echo enabled=0; fi\n"
        ));
        s
    }

    /// What only systemd's module has, the `sysvinit` module refuses.
    fn sysv_refusal(&self) -> Option<TaskError> {
        let unsupported: Vec<&str> = [
            ("daemon_reload", self.daemon_reload.is_some()),
            ("daemon_reexec", self.daemon_reexec.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        (!unsupported.is_empty()).then(|| {
            TaskError::failed(format!(
                "Unsupported parameters for (sysvinit) module: {}. This host's service manager is System V init, which has nothing to reload; guard the task with `when: ansible_service_mgr == 'systemd'`",
                unsupported.join(", ")
            ))
        })
    }

    /// The boot-link change and the action a System V service needs.
    fn decide_sysv(&self, facts: SysvFacts) -> (Option<&'static str>, Option<&'static str>) {
        let enable = match self.enabled {
            Some(true) if !facts.enabled => Some("enable"),
            Some(false) if facts.enabled => Some("disable"),
            _ => None,
        };
        let action = match (self.state.as_deref(), facts.running) {
            (Some("started"), false) => Some("start"),
            (Some("stopped"), true) => Some("stop"),
            (Some("restarted"), _) => Some("restart"),
            (Some("reloaded"), false) => Some("start"),
            (Some("reloaded"), true) => Some("reload"),
            _ => None,
        };
        (enable, action)
    }

    /// The result keys Ansible registers for a System V service.
    fn sysv_result(&self, running: bool, enabled: bool) -> Outcome {
        let mut o = Outcome::ok().with_data("name", self.name.clone());
        if self.state.is_some() {
            let state = if running { "started" } else { "stopped" };
            o = o.with_data("state", state);
        }
        if self.enabled.is_some() {
            o = o.with_data("enabled", enabled);
        }
        o
    }

    fn sysv_script(&self, enable: Option<&str>, action: Option<&str>) -> String {
        let n = shell_quote(&self.name);
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!(
            "o=$(mktemp) || fail tmp\ntrap 'rm -f \"$o\"' EXIT\n\
             run() {{ \"$@\" </dev/null >\"$o\" 2>&1; r=$?; cat \"$o\"; return $r; }}\n\
             if command -v service >/dev/null 2>&1; then svc() {{ run service {n} \"$@\"; }}; \
             else svc() {{ run /etc/init.d/{n} \"$@\"; }}; fi\n"
        ));
        if let Some(verb) = enable {
            // A script without any boot links gets its LSB defaults first,
            // then the links are switched on or off.
            s.push_str(&format!(
                "set -- /etc/rc?.d/[SK]??{n}\n[ -e \"$1\" ] || run update-rc.d {n} defaults || fail {verb}\n\
                 run update-rc.d {n} {verb} || fail {verb}\n"
            ));
        }
        let args = if self.arguments.is_empty() {
            String::new()
        } else {
            remote::shlex_split(&self.arguments)
                .unwrap_or_default()
                .iter()
                .map(|a| format!(" {}", shell_quote(a)))
                .collect()
        };
        match (action, self.sleep) {
            (Some("restart"), Some(pause)) if pause > 0 => s.push_str(&format!(
                "svc stop{args} || fail stop\nsleep {pause}\nsvc start{args} || fail start\n"
            )),
            (Some(verb), _) => s.push_str(&format!("svc {verb}{args} || fail {verb}\n")),
            (None, _) => {}
        }
        s
    }
}

#[async_trait]
impl Task for Service {
    type Drift = ServiceDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<ServiceDrift>, TaskError> {
        let reload = self.daemon_reload.is_some() || self.daemon_reexec.is_some();
        if self.state.is_none() && self.enabled.is_none() && !reload {
            return Err(TaskError::failed(
                "one of the following is required: state, enabled",
            ));
        }
        if self.name.is_empty() && !reload {
            return Err(TaskError::failed("missing required arguments: name"));
        }
        if remote::shlex_split(&self.arguments).is_err() {
            return Err(TaskError::failed(format!(
                "arguments {:?} has an unbalanced quote",
                self.arguments
            )));
        }
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            // No systemd, so the `sysvinit` module would have run.
            if failure.code.as_deref() == Some("nosvc")
                && let Some(refusal) = self.sysv_refusal()
            {
                return Err(refusal);
            }
            let msg = match failure.code.as_deref() {
                Some("nosvc") => format!(
                    "Could not find the requested service {}: host (no systemd running, and no /etc/init.d/{} script)",
                    self.name, self.name
                ),
                Some("nosystemctl") => {
                    "systemctl was not found on the host (is systemd installed?)".to_string()
                }
                _ => format!("could not query service {}", self.name),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let text = out.stdout_text();
        if text.starts_with("manager=systemd\n") {
            let facts = systemd::parse(&text).map_err(|e| TaskError::failed(e.to_string()))?;
            return Ok(match self.as_systemd().check_with(facts, cx)? {
                Check::InSync(o) => Check::InSync(o),
                Check::Drift { drift, preview } => Check::Drift {
                    drift: ServiceDrift::Systemd(drift),
                    preview,
                },
            });
        }
        if let Some(refusal) = self.sysv_refusal() {
            return Err(refusal);
        }
        let mut report = remote::Report::parse(&out.stdout)?;
        let facts = (|| -> Result<SysvFacts, ProbeError> {
            report.require("manager")?;
            let facts = SysvFacts {
                running: report.flag("running")?,
                enabled: report.flag("enabled")?,
            };
            report.finish()?;
            Ok(facts)
        })()?;
        let (enable, action) = self.decide_sysv(facts);
        if enable.is_none() && action.is_none() {
            return Ok(Check::InSync(
                self.sysv_result(facts.running, facts.enabled),
            ));
        }
        let words: Vec<&str> = enable.iter().chain(action.iter()).copied().collect();
        let running = action.map_or(facts.running, |a| a != "stop");
        let enabled = enable.map_or(facts.enabled, |e| e == "enable");
        let mut preview = self.sysv_result(running, enabled).with_msg(format!(
            "would {} {}",
            words.join(", "),
            self.name
        ));
        preview.changed = true;
        let drift = ServiceDrift::Sysv {
            facts,
            enable,
            action,
        };
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: ServiceDrift) -> Result<Outcome, TaskError> {
        let (facts, enable, action) = match drift {
            ServiceDrift::Systemd(drift) => return self.as_systemd().apply_with(cx, drift).await,
            ServiceDrift::Sysv {
                facts,
                enable,
                action,
            } => (facts, enable, action),
        };
        let out = cx.run(&self.sysv_script(enable, action), &[]).await?;
        let running = action.map_or(facts.running, |a| a != "stop");
        let enabled = enable.map_or(facts.enabled, |e| e == "enable");
        let mut outcome = self
            .sysv_result(running, enabled)
            .with_output(&remote::without_marker(&out));
        if !out.success() {
            let failure = remote::failure(&out);
            let verb = failure.code.clone().unwrap_or_else(|| "manage".into());
            let said = out.stdout_text();
            let detail = said.trim();
            return Err(TaskError::failed_with(
                match detail.is_empty() {
                    true => format!("Unable to {verb} service {}", self.name),
                    false => format!("Unable to {verb} service {}: {detail}", self.name),
                },
                outcome,
            ));
        }
        let words: Vec<&str> = enable.iter().chain(action.iter()).copied().collect();
        outcome.changed = true;
        outcome.msg = Some(format!("{} {}", words.join(", "), self.name));
        Ok(outcome)
    }
}
