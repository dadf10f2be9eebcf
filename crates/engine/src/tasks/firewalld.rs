//! The `firewalld` task (`ansible.posix.firewalld`, or its short name): one
//! setting of a firewalld zone (a service, a port, a rich rule, a source, an
//! interface, ...), or the zone itself, driven through firewalld's own
//! command line tools.
//!
//! When the daemon runs (`firewall-cmd --state`), permanent settings go
//! through `firewall-cmd --permanent` and runtime ones through
//! `firewall-cmd`; when it does not, `firewall-offline-cmd` edits the
//! on-disk configuration, which is all Ansible changes then too. The check
//! is one script that picks the tool, names the zone (the host's default
//! zone unless `zone` is given) and asks `--query-*` for the setting in each
//! configuration the task touches; the apply runs the `--add-*`/`--remove-*`
//! commands for the ones that differ. `permanent`, `immediate` and `offline`
//! combine as in Ansible: without `permanent` the change is immediate; an
//! immediate change needs the running daemon, and `offline: true` lets a
//! permanent change go on without it. Messages are Ansible's ("Permanent
//! operation, Changed service http to enabled").
//!
//! Like Ansible, one task changes one setting: the setting arguments are
//! mutually exclusive. A zone is created or deleted with `state:
//! present`/`absent` and no setting, permanently only.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, shell_quote};

/// The arguments of `firewalld`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firewalld {
    pub service: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub port_forward: Option<Vec<Map<String, Value>>>,
    pub rich_rule: Option<String>,
    pub source: Option<String>,
    pub interface: Option<String>,
    pub icmp_block: Option<String>,
    pub icmp_block_inversion: Option<bool>,
    pub forward: Option<bool>,
    pub masquerade: Option<bool>,
    pub target: Option<String>,
    pub zone: Option<String>,
    pub permanent: bool,
    pub immediate: bool,
    pub offline: bool,
    pub state: String,
    pub timeout: i64,
}

/// The parameters of `firewalld`, as ansible.posix names them.
pub fn spec() -> Spec {
    let text = |name| Param::new(name, Kind::Str);
    let flag = |name| Param::new(name, Kind::Bool);
    Spec::new(
        "firewalld",
        vec![
            text("service"),
            text("protocol"),
            text("port"),
            Param::new("port_forward", Kind::List),
            text("rich_rule"),
            text("source"),
            text("interface"),
            text("icmp_block"),
            flag("icmp_block_inversion"),
            flag("forward"),
            flag("masquerade"),
            text("target").choices(&["default", "ACCEPT", "DROP", "%%REJECT%%"]),
            text("zone"),
            flag("permanent").default(false),
            flag("immediate").default(false),
            flag("offline").default(false),
            text("state")
                .required()
                .choices(&["absent", "disabled", "enabled", "present"]),
            Param::new("timeout", Kind::Int).default(0),
        ],
    )
}

/// The one thing a task changes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// A zone setting that `--query-<stem>[=value]` answers and
    /// `--add-`/`--remove-` change; `enable` is the wanted answer.
    Setting {
        stem: &'static str,
        value: Option<String>,
        enable: bool,
        /// How Ansible names it in "Changed ... to enabled", if it does.
        changed_as: Option<String>,
        /// Ansible's own line when it changes ("Added ... to zone ...").
        told: Option<(String, String)>,
    },
    /// The zone's target, permanent only.
    Target { wanted: String, enable: bool },
    /// The zone itself, permanent only.
    Zone { present: bool },
    /// Nothing to change: `enabled`/`disabled` without a setting.
    Nothing,
}

/// What the apply runs, and what it says.
#[derive(Debug)]
pub struct FirewalldDrift {
    running: bool,
    lines: String,
    msg: String,
}

/// Why a `firewalld` task cannot run.
#[derive(Debug, thiserror::Error)]
pub enum FirewalldError {
    #[error(
        "firewalld: only one of icmp_block, icmp_block_inversion, service, protocol, port, port_forward, rich_rule, interface, forward, masquerade, source, target may be given per task ({0} given)"
    )]
    Exclusive(String),
    #[error("absent and present state can only be used in zone level operations")]
    ZoneState,
    #[error(
        "improper port format (missing protocol?): write it as PORT/PROTOCOL, such as 8080/tcp"
    )]
    Port,
    #[error("Only one port forward supported at a time")]
    OnePortForward,
    #[error("{0} must be specified for port forward")]
    PortForward(&'static str),
    #[error("firewalld: interface and target need `zone`")]
    NeedsZone,
    #[error("offline cannot be enabled unless permanent changes are allowed")]
    OfflineNotPermanent,
    #[error(
        "firewall is not currently running, unable to perform immediate actions without a running firewall daemon; \
         set permanent: true and offline: true to change only firewalld's on-disk configuration"
    )]
    NotRunning,
    #[error(
        "Zone operations must be permanent. Make sure you didn't set the 'permanent' flag to 'false' or the 'immediate' flag to 'true'."
    )]
    ZoneNotPermanent,
    #[error(
        "neither firewall-cmd nor firewall-offline-cmd was found on the host: install firewalld (Debian: apt-get install firewalld, Red Hat: dnf install firewalld)"
    )]
    NoTool,
    #[error("ERROR: Exception caught: {0}")]
    Tool(String),
    #[error("the firewalld probe printed something dtrplay cannot read: {0}")]
    Probe(#[from] ProbeError),
}

impl From<FirewalldError> for TaskError {
    fn from(err: FirewalldError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// Picks the tool and the zone: `$P` changes the permanent configuration,
/// `$N` (empty without the daemon) the runtime one, `$z` is the zone.
/// `$RS` is how `$P` removes a service from a zone: firewall-offline-cmd
/// keeps `--remove-service` for its lokkit-compatible form.
fn prelude(zone: Option<&str>) -> String {
    let mut s = String::from(remote::FAIL_FN);
    s.push_str(
        "if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then\n\
         echo running=1; P='firewall-cmd --permanent'; N=firewall-cmd; RS=remove-service\n\
         elif command -v firewall-offline-cmd >/dev/null 2>&1; then\n\
         echo running=0; P=firewall-offline-cmd; N=; RS=remove-service-from-zone\n\
         else fail notool; fi\n\
         run() { out=$(\"$@\" 2>&1) || { printf '%s\\n' \"$out\" >&2; fail tool; }; }\n\
         q() { k=$1; shift; out=$(\"$@\" 2>&1); rc=$?\n\
         case $rc in 0) echo \"$k=1\";; 1) echo \"$k=0\";; *) printf '%s\\n' \"$out\" >&2; fail tool;; esac; }\n",
    );
    match zone {
        Some(zone) => s.push_str(&format!("z={}\n", shell_quote(zone))),
        None => s.push_str(
            "z=$(${N:-$P} --get-default-zone 2>&1) || { printf '%s\\n' \"$z\" >&2; fail tool; }\n",
        ),
    }
    s.push_str("echo \"zone=$z\"\n");
    s
}

impl Firewalld {
    /// The setting arguments that were given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let strings = [
            ("icmp_block", &self.icmp_block),
            ("service", &self.service),
            ("protocol", &self.protocol),
            ("port", &self.port),
            ("rich_rule", &self.rich_rule),
            ("interface", &self.interface),
            ("source", &self.source),
            ("target", &self.target),
        ];
        given.extend(strings.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| *n));
        let flags = [
            ("icmp_block_inversion", self.icmp_block_inversion),
            ("forward", self.forward),
            ("masquerade", self.masquerade),
        ];
        given.extend(flags.iter().filter(|(_, v)| v.is_some()).map(|(n, _)| *n));
        if self.port_forward.is_some() {
            given.push("port_forward");
        }
        given
    }

    /// Ansible's reading of the arguments: the one operation, checked.
    fn op(&self, zone: &str) -> Result<Op, FirewalldError> {
        let given = self.given();
        if given.len() > 1 {
            return Err(FirewalldError::Exclusive(given.join(", ")));
        }
        let enabled = self.state == "enabled";
        let zone_level = matches!(self.state.as_str(), "present" | "absent");
        if zone_level && !given.is_empty() && self.target.is_none() {
            return Err(FirewalldError::ZoneState);
        }
        let setting = |stem, value: Option<String>, named: &str| Op::Setting {
            stem,
            value,
            enable: enabled,
            changed_as: Some(named.to_string()),
            told: None,
        };
        let toggle = |stem, on: bool, what: &str| Op::Setting {
            stem,
            value: None,
            enable: enabled == on,
            changed_as: None,
            told: Some((
                format!("Added {what} to zone {zone}"),
                format!("Removed {what} from zone {zone}"),
            )),
        };
        Ok(if let Some(service) = &self.service {
            setting(
                "service",
                Some(service.clone()),
                &format!("service {service}"),
            )
        } else if let Some(protocol) = &self.protocol {
            setting(
                "protocol",
                Some(protocol.clone()),
                &format!("protocol {protocol}"),
            )
        } else if let Some(port) = &self.port {
            let port = port.trim();
            match port.split_once('/') {
                Some((number, proto)) if !number.is_empty() && !proto.is_empty() => {
                    setting("port", Some(port.to_string()), &format!("port {port}"))
                }
                _ => return Err(FirewalldError::Port),
            }
        } else if let Some(rule) = &self.rich_rule {
            setting(
                "rich-rule",
                Some(rule.clone()),
                &format!("rich_rule {rule}"),
            )
        } else if let Some(block) = &self.icmp_block {
            setting(
                "icmp-block",
                Some(block.clone()),
                &format!("icmp-block {block}"),
            )
        } else if let Some(forwards) = &self.port_forward {
            let [forward] = forwards.as_slice() else {
                return Err(FirewalldError::OnePortForward);
            };
            let field = |key: &'static str| -> Result<String, FirewalldError> {
                match forward.get(key) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Number(n)) => Ok(n.to_string()),
                    _ => Err(FirewalldError::PortForward(key)),
                }
            };
            let (port, proto, toport) = (field("port")?, field("proto")?, field("toport")?);
            let toaddr = field("toaddr").unwrap_or_default();
            let mut value = format!("port={port}:proto={proto}:toport={toport}");
            if !toaddr.is_empty() {
                value.push_str(&format!(":toaddr={toaddr}"));
            }
            setting(
                "forward-port",
                Some(value),
                &format!("port_forward port={port}:proto={proto}:toport={toport}:toaddr={toaddr}"),
            )
        } else if let Some(source) = &self.source {
            Op::Setting {
                stem: "source",
                value: Some(source.clone()),
                enable: enabled,
                changed_as: None,
                told: Some((
                    format!("Added {source} to zone {zone}"),
                    format!("Removed {source} from zone {zone}"),
                )),
            }
        } else if let Some(interface) = &self.interface {
            if self.zone.is_none() {
                return Err(FirewalldError::NeedsZone);
            }
            Op::Setting {
                stem: "interface",
                value: Some(interface.clone()),
                enable: enabled,
                changed_as: None,
                told: Some((
                    format!("Changed {interface} to zone {zone}"),
                    format!("Removed {interface} from zone {zone}"),
                )),
            }
        } else if let Some(on) = self.icmp_block_inversion {
            Op::Setting {
                stem: "icmp-block-inversion",
                value: None,
                enable: enabled == on,
                // Ansible prints the argument as Python does.
                changed_as: Some(format!(
                    "icmp-block-inversion {}",
                    if on { "True" } else { "False" }
                )),
                told: None,
            }
        } else if let Some(on) = self.forward {
            toggle("forward", on, "forward")
        } else if let Some(on) = self.masquerade {
            toggle("masquerade", on, "masquerade")
        } else if let Some(target) = &self.target {
            if self.zone.is_none() {
                return Err(FirewalldError::NeedsZone);
            }
            Op::Target {
                wanted: target.clone(),
                enable: matches!(self.state.as_str(), "enabled" | "present"),
            }
        } else if zone_level {
            Op::Zone {
                present: self.state == "present",
            }
        } else {
            Op::Nothing
        })
    }

    /// The query lines for `op` in the configurations asked for.
    fn query_lines(op: &Op, permanent: bool, immediate: bool) -> String {
        match op {
            Op::Setting { stem, value, .. } => {
                let arg = Self::arg(stem, value.as_deref());
                let mut s = String::new();
                if permanent {
                    s.push_str(&format!("q perm $P --zone=\"$z\" --query-{arg}\n"));
                }
                if immediate {
                    s.push_str(&format!(
                        "if [ -n \"$N\" ]; then q now $N --zone=\"$z\" --query-{arg}; fi\n"
                    ));
                }
                s
            }
            Op::Target { .. } => "t=$($P --zone=\"$z\" --get-target 2>&1) || { printf '%s\\n' \"$t\" >&2; fail tool; }\n\
                 echo \"target=$t\"\n"
                .to_string(),
            Op::Zone { .. } => "l=$($P --get-zones 2>&1) || { printf '%s\\n' \"$l\" >&2; fail tool; }\n\
                 case \" $(printf '%s' \"$l\" | tr '\\n' ' ') \" in *\" $z \"*) echo perm=1;; *) echo perm=0;; esac\n"
                .to_string(),
            Op::Nothing => String::new(),
        }
    }

    /// `service=http`, `masquerade`: the part after `--query-`/`--add-`.
    fn arg(stem: &str, value: Option<&str>) -> String {
        match value {
            Some(v) => format!("{stem}={}", shell_quote(v)),
            None => stem.to_string(),
        }
    }

    fn arg_value(value: &Option<String>) -> String {
        shell_quote(value.as_deref().unwrap_or_default())
    }

    fn change_line(&self, op: &Op, permanent: bool) -> String {
        let tool = if permanent { "$P" } else { "$N" };
        match op {
            Op::Setting {
                stem,
                value,
                enable,
                ..
            } => {
                let arg = Self::arg(stem, value.as_deref());
                let verb = match (*enable, *stem) {
                    // Enabling an interface moves it out of any other zone,
                    // as Ansible does.
                    (true, "interface") => "change",
                    (true, _) => "add",
                    (false, _) => "remove",
                };
                if permanent && !*enable && *stem == "service" {
                    return format!("run $P --zone=\"$z\" --$RS={}\n", Self::arg_value(value));
                }
                let timed = matches!(
                    *stem,
                    "service" | "port" | "protocol" | "rich-rule" | "icmp-block" | "forward-port"
                );
                let timeout = if !permanent && *enable && timed && self.timeout > 0 {
                    format!(" --timeout={}s", self.timeout)
                } else {
                    String::new()
                };
                format!("run {tool} --zone=\"$z\" --{verb}-{arg}{timeout}\n")
            }
            Op::Target { wanted, enable } => {
                let target = if *enable { wanted.as_str() } else { "default" };
                format!(
                    "run $P --zone=\"$z\" --set-target={}\n",
                    shell_quote(target)
                )
            }
            Op::Zone { present: true } => "run $P --new-zone=\"$z\"\n".to_string(),
            Op::Zone { present: false } => "run $P --delete-zone=\"$z\"\n".to_string(),
            Op::Nothing => String::new(),
        }
    }

    fn tool_error(out: &crate::connection::Output) -> FirewalldError {
        let failure = remote::failure(out);
        match failure.code.as_deref() {
            Some("notool") => FirewalldError::NoTool,
            _ => {
                let mut detail = failure.detail;
                // Ansible's hint for the most common mistake.
                if detail.contains("INVALID_SERVICE") {
                    detail.push_str(" Services are defined by port/tcp relationship and named as they are in /etc/services (on most systems)");
                }
                FirewalldError::Tool(detail)
            }
        }
    }
}

fn state_word(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

#[async_trait]
impl Task for Firewalld {
    type Drift = FirewalldDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<FirewalldDrift>, TaskError> {
        if self.offline && !self.permanent {
            return Err(FirewalldError::OfflineNotPermanent.into());
        }
        // The zone's name only shapes messages: the arguments are checked,
        // and the probe built, before the host has named its default zone.
        let probe_op = self.op("")?;
        let wants_now = self.immediate || !self.permanent;
        let mut script = prelude(self.zone.as_deref());
        script.push_str(&Self::query_lines(&probe_op, self.permanent, wants_now));
        let out = cx.run(&script, &[]).await?;
        if !out.success() {
            return Err(Self::tool_error(&out).into());
        }
        let mut report = remote::Report::parse(&out.stdout).map_err(FirewalldError::Probe)?;
        let running = report.flag("running").map_err(FirewalldError::Probe)?;
        let zone = report.require("zone").map_err(FirewalldError::Probe)?;
        let op = self.op(&zone)?;

        // `offline`, `immediate` and `permanent`, as Ansible combines them.
        let mut immediate = self.immediate;
        if self.offline && !running {
            immediate = false;
        }
        if !self.permanent && !immediate {
            immediate = true;
        }
        if immediate && !running {
            return Err(FirewalldError::NotRunning.into());
        }
        if matches!(op, Op::Zone { .. } | Op::Target { .. }) && (immediate || !self.permanent) {
            return Err(FirewalldError::ZoneNotPermanent.into());
        }

        let mut msgs = vec![
            match (self.permanent, immediate) {
                (true, true) => "Permanent and Non-Permanent(immediate) operation",
                (true, false) => "Permanent operation",
                _ => "Non-permanent operation",
            }
            .to_string(),
        ];
        let mut lines = String::new();
        let mut before = String::new();
        let mut after = String::new();
        match &op {
            Op::Setting {
                stem,
                value,
                enable,
                changed_as,
                told,
            } => {
                let label = match value {
                    Some(v) => format!("{stem} {v}"),
                    None => stem.to_string(),
                };
                for (key, permanent, place) in
                    [("perm", true, "permanent"), ("now", false, "runtime")]
                {
                    if (permanent && !self.permanent) || (!permanent && !immediate) {
                        continue;
                    }
                    let is = report.flag(key).map_err(FirewalldError::Probe)?;
                    if is != *enable {
                        lines.push_str(&self.change_line(&op, permanent));
                        before.push_str(&format!("{place}: {label} {}\n", state_word(is)));
                        after.push_str(&format!("{place}: {label} {}\n", state_word(*enable)));
                    }
                }
                if !lines.is_empty() {
                    if let Some((added, removed)) = told {
                        msgs.push(if *enable { added } else { removed }.clone());
                    }
                    if let Some(named) = changed_as {
                        msgs.push(format!("Changed {named} to {}", self.state));
                    }
                }
            }
            Op::Target { wanted, enable } => {
                let current = report.require("target").map_err(FirewalldError::Probe)?;
                let is = current.trim() == wanted;
                if is != *enable {
                    lines.push_str(&self.change_line(&op, true));
                    let new = if *enable { wanted.as_str() } else { "default" };
                    before.push_str(&format!("permanent: target {}\n", current.trim()));
                    after.push_str(&format!("permanent: target {new}\n"));
                    msgs.push(match enable {
                        true => format!("Set zone {zone} target to {wanted}"),
                        false => format!("Reset zone {zone} target to default"),
                    });
                }
            }
            Op::Zone { present } => {
                let is = report.flag("perm").map_err(FirewalldError::Probe)?;
                if is != *present {
                    lines.push_str(&self.change_line(&op, true));
                    let word = |p: bool| if p { "present" } else { "absent" };
                    before.push_str(&format!("permanent: zone {zone} {}\n", word(is)));
                    after.push_str(&format!("permanent: zone {zone} {}\n", word(*present)));
                    msgs.push(match present {
                        true => format!("Added zone {zone}"),
                        false => format!("Removed zone {zone}"),
                    });
                    msgs.push(format!("Changed zone {zone} to {}", self.state));
                }
            }
            Op::Nothing => {}
        }
        if !running {
            msgs.push("(offline operation: only on-disk configs were altered)".to_string());
        }
        let msg = msgs.join(", ");
        if lines.is_empty() {
            return Ok(Check::InSync(Outcome::ok().with_msg(msg)));
        }
        let mut preview = Outcome::changed(msg.clone());
        if cx.diff {
            preview.diffs.push(Diff {
                subject: format!("firewalld zone {zone}"),
                before: Some(before),
                after: Some(after),
            });
        }
        let mut script = prelude(Some(&zone));
        script.push_str(&lines);
        Ok(Check::Drift {
            drift: FirewalldDrift {
                running,
                lines: script,
                msg,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: FirewalldDrift) -> Result<Outcome, TaskError> {
        let out = cx.run(&drift.lines, &[]).await?;
        if !out.success() {
            return Err(Self::tool_error(&out).into());
        }
        // The daemon cannot have started or stopped in between without the
        // commands failing; the report names the tool that was used.
        let running = remote::Report::parse(&out.stdout)
            .ok()
            .and_then(|mut r| r.flag("running").ok())
            .unwrap_or(drift.running);
        if running != drift.running {
            return Err(TaskError::failed(
                "firewalld started or stopped while the task ran; run it again",
            ));
        }
        Ok(Outcome::changed(drift.msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(args: serde_json::Value) -> Firewalld {
        let mut full = serde_json::json!({
            "permanent": true, "immediate": false, "offline": false, "timeout": 0,
        });
        for (k, v) in args.as_object().cloned().unwrap_or_default() {
            full[k] = v;
        }
        serde_json::from_value(full).expect("arguments")
    }

    #[test]
    fn one_setting_per_task_and_ports_need_their_protocol() {
        let both =
            task(serde_json::json!({"service": "http", "port": "80/tcp", "state": "enabled"}));
        assert!(matches!(
            both.op("public"),
            Err(FirewalldError::Exclusive(_))
        ));
        let bare = task(serde_json::json!({"port": "8080", "state": "enabled"}));
        assert!(matches!(bare.op("public"), Err(FirewalldError::Port)));
        let zone_state = task(serde_json::json!({"service": "http", "state": "present"}));
        assert!(matches!(
            zone_state.op("public"),
            Err(FirewalldError::ZoneState)
        ));
        let zone = task(serde_json::json!({"zone": "lab", "state": "absent"}));
        assert_eq!(zone.op("lab").ok(), Some(Op::Zone { present: false }));
    }

    #[test]
    fn masquerade_false_with_enabled_means_off() {
        let t = task(serde_json::json!({"masquerade": false, "state": "enabled"}));
        let op = t.op("public").expect("op");
        assert!(
            matches!(
                op,
                Op::Setting {
                    stem: "masquerade",
                    enable: false,
                    ..
                }
            ),
            "{op:?}"
        );
    }
}
