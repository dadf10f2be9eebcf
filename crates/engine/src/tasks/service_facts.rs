//! The `service_facts` task: the host's services as
//! `ansible_facts.services`, in the shape of Ansible's module: one entry
//! per service name with `name`, `state` (`running`, `stopped`, or what
//! systemd says), `source` (`sysv` or `systemd`) and, for systemd,
//! `status` (the unit file state: `enabled`, `disabled`, `static`, or
//! `not-found`/`masked`/`failed` when systemd reports those).
//!
//! One script reads both service managers the way Ansible's scanners do,
//! and the results are merged with systemd's last: System V init through
//! `service --status-all` (its `[ + ]`/`[ - ]` lines; `[ ? ]` lines carry
//! no state and are left out, as Ansible leaves them), and, when systemd
//! is the running manager (`/run/systemd/system`, as Ansible and systemd
//! test it), `systemctl list-units` for the loaded units and
//! `systemctl list-unit-files` for the rest. Units that have a file but
//! are not loaded get their `ActiveState` in one more round trip, in one
//! `systemctl show` for all of them (Ansible asks once per unit). The
//! manager found is named in the task's message.
//!
//! Read-only, so check mode gathers too, and it never changes anything.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::params::Spec;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::shell_quote;

/// `service_facts` takes no arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFacts {}

/// The parameters of `service_facts`: none, as in Ansible.
pub fn spec() -> Spec {
    Spec::new("service_facts", vec![])
}

/// The states systemd may report in place of active/inactive, which then
/// become the service's `status` (Ansible's `BAD_STATES`).
const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

/// The markers between the script's sections.
const SYSV: &str = "@@dtrplay-sysv";
const UNITS: &str = "@@dtrplay-units";
const FILES: &str = "@@dtrplay-unit-files";

/// Reads both managers; the sections it prints are parsed by [`parse`].
fn script() -> String {
    format!(
        "export LC_ALL=C SYSTEMD_COLORS=0\n\
         if command -v service >/dev/null 2>&1 && [ -d /etc/init.d ]; then\n\
         \x20 echo {SYSV}\n  service --status-all 2>/dev/null </dev/null\nfi\n\
         if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n\
         \x20 echo {UNITS}\n  systemctl list-units --no-pager --type service --all --plain --no-legend\n\
         \x20 echo {FILES}\n  systemctl list-unit-files --no-pager --type service --all --no-legend\n\
         fi\nexit 0\n"
    )
}

/// The services found, and the unit files whose state systemd has not
/// said yet (they are not loaded).
#[derive(Debug, Default)]
struct Found {
    services: Map<String, Value>,
    unloaded: Vec<(String, String)>,
    systemd: bool,
    sysv: bool,
}

/// Parses the sections of [`script`]'s output, as Ansible's scanners parse
/// the same commands' output.
fn parse(text: &str) -> Found {
    let mut found = Found::default();
    let mut section = "";
    for line in text.lines() {
        match line.trim() {
            SYSV | UNITS | FILES => {
                section = line.trim();
                found.sysv |= section == SYSV;
                found.systemd |= section != SYSV;
                continue;
            }
            _ => {}
        }
        match section {
            SYSV => sysv_line(line, &mut found.services),
            UNITS => unit_line(line, &mut found.services),
            FILES => unit_file_line(line, &mut found),
            _ => {}
        }
    }
    found
}

/// ` [ + ]  name`: a running (`+`) or stopped (`-`) System V service.
fn sysv_line(line: &str, services: &mut Map<String, Value>) {
    let Some(rest) = line.trim_start().strip_prefix("[ ") else {
        return;
    };
    let state = match rest.chars().next() {
        Some('+') => "running",
        Some('-') => "stopped",
        _ => return,
    };
    let Some(name) = rest[1..].strip_prefix(" ]").map(str::trim) else {
        return;
    };
    if name.is_empty() {
        return;
    }
    services.insert(
        name.to_string(),
        json!({ "name": name, "state": state, "source": "sysv" }),
    );
}

/// `name.service LOAD ACTIVE SUB DESCRIPTION...` from `list-units`.
fn unit_line(line: &str, services: &mut Map<String, Value>) {
    if !line.contains(".service") {
        return;
    }
    let mut fields: Vec<&str> = line.split_whitespace().collect();
    // The first field may be a status mark (`●`) on some versions.
    if fields.first().is_some_and(|f| !f.contains(".service")) {
        fields.remove(0);
    }
    if fields.len() < 4 {
        return;
    }
    // A bad state anywhere but in the description wins, as in Ansible.
    let status = BAD_STATES
        .iter()
        .find(|bad| fields[1..4].contains(bad))
        .map_or(fields[2], |bad| *bad);
    let state = if fields[3] == "running" {
        "running"
    } else {
        "stopped"
    };
    services.insert(
        fields[0].to_string(),
        json!({ "name": fields[0], "state": state, "status": status, "source": "systemd" }),
    );
}

/// `name.service STATE [PRESET]` from `list-unit-files`: the final status
/// of loaded units, and the units that are not loaded.
fn unit_file_line(line: &str, found: &mut Found) {
    let mut fields = line.split_whitespace();
    let (Some(name), Some(status)) = (fields.next(), fields.next()) else {
        return;
    };
    if !name.ends_with(".service") {
        return;
    }
    match found.services.get_mut(name) {
        Some(Value::Object(entry)) => {
            let bad = entry
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| BAD_STATES.contains(&s));
            if !bad {
                entry.insert("status".into(), status.into());
            }
        }
        _ => found.unloaded.push((name.to_string(), status.to_string())),
    }
}

/// `systemctl show -p Id -p ActiveState a b c`: blocks of `Key=value`
/// lines, one per unit, separated by blank lines.
fn active_states(text: &str) -> Map<String, Value> {
    let mut states = Map::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut state = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("Id=") {
                id = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("ActiveState=") {
                state = Some(v.trim());
            }
        }
        if let (Some(id), Some(state)) = (id, state) {
            if !state.is_empty() {
                states.insert(id.to_string(), state.into());
            }
        }
    }
    states
}

#[async_trait]
impl Task for ServiceFacts {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let out = cx.run(&script(), &[]).await?;
        let mut found = parse(&out.stdout_text());
        if !found.unloaded.is_empty() {
            let names: Vec<String> = found
                .unloaded
                .iter()
                .map(|(name, _)| shell_quote(name))
                .collect();
            let show = format!(
                "LC_ALL=C systemctl show --no-pager -p Id -p ActiveState -- {}\n",
                names.join(" ")
            );
            let shown = cx.run(&show, &[]).await?;
            let states = active_states(&shown.stdout_text());
            for (name, status) in std::mem::take(&mut found.unloaded) {
                let state = states
                    .get(&name)
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                found.services.insert(
                    name.clone(),
                    json!({ "name": name, "state": state, "status": status, "source": "systemd" }),
                );
            }
        }
        let managers = match (found.sysv, found.systemd) {
            (true, true) => "System V init and systemd",
            (true, false) => "System V init",
            (false, true) => "systemd",
            (false, false) => {
                cx.warn(
                    "Failed to find any services. This can be due to privileges or some other configuration issue.",
                );
                "no service manager"
            }
        };
        let msg = format!("{} services ({managers})", found.services.len());
        let mut facts = Map::new();
        facts.insert("services".into(), Value::Object(found.services));
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
    fn systemd_sections_merge_as_ansible_merges_them() {
        let text = format!(
            "{SYSV}\n [ + ]  cron\n [ - ]  rsync\n [ ? ]  hwclock.sh\n\
             {UNITS}\ncron.service loaded active running Regular background program\n\
             ghost.service not-found inactive dead ghost.service\n\
             {FILES}\ncron.service enabled enabled\nghost.service masked enabled\n\
             idle.service disabled enabled\n"
        );
        let found = parse(&text);
        assert_eq!(
            found.services["cron.service"],
            json!({"name": "cron.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(found.services["ghost.service"]["status"], "not-found");
        assert_eq!(found.services["cron"]["source"], "sysv");
        assert_eq!(found.services["rsync"]["state"], "stopped");
        assert!(!found.services.contains_key("hwclock.sh"));
        assert_eq!(
            found.unloaded,
            vec![("idle.service".to_string(), "disabled".to_string())]
        );
        let states = active_states("Id=idle.service\nActiveState=inactive\n\nId=x.service\n");
        assert_eq!(states["idle.service"], "inactive");
        assert!(!states.contains_key("x.service"));
    }
}
