//! JSON Lines output (`--output json`): one event per line, on stdout.
//!
//! Every line has `"version"` (the schema version) and `"event"`. A
//! doctor run has `verdict` lines and ends with a `summary`
//! (`report::doctor`). The last line of every other run is the recap:
//! `{"event":"recap","hosts":{"<host>":{"ok":N,"changed":N,"failed":N,"unreachable":N,"skipped":N}},...}`.
//! Lines are written and flushed as events happen, so a consumer sees a
//! valid prefix even if the run is killed.

use std::io::Write;

use serde_json::{Value, json};

use crate::diff;
use crate::report::{Event, HostResult, Reporter};

/// The version of the event schema; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

pub struct JsonReporter<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonReporter<W> {
    pub fn new(out: W) -> JsonReporter<W> {
        JsonReporter { out }
    }
}

impl<W: Write + Send> Reporter for JsonReporter<W> {
    fn report(&mut self, event: &Event) {
        let Some(value) = to_json(event) else {
            return;
        };
        // A closed stdout (a consumer that went away) must not crash the
        // run; the exit code still tells what happened.
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }
}

/// The JSON form of an event; `None` for events only people care about.
pub fn to_json(event: &Event) -> Option<Value> {
    let mut value = match event {
        Event::RunStart {
            playbook,
            check,
            diff,
        } => json!({
            "event": "run_start", "playbook": playbook, "check": check, "diff": diff,
        }),
        Event::PlayStart { name, hosts } => json!({
            "event": "play_start", "name": name, "hosts": hosts,
        }),
        Event::TaskStart {
            name,
            module,
            hosts,
            runner,
        } => json!({
            "event": "task_start", "name": name, "module": module, "hosts": hosts, "runner": runner,
        }),
        Event::Host(result) => host_result(result),
        Event::HandlersStart => json!({ "event": "handlers_start" }),
        Event::Progress { .. } => return None,
        Event::Connected { host, via } => json!({
            "event": "connected", "host": host, "via": via,
        }),
        Event::Notice { message } => json!({ "event": "notice", "message": message }),
        Event::Warning { host, message } => json!({
            "event": "warning", "host": host, "message": message,
        }),
        Event::Interrupted { running } => {
            let running: Vec<Value> = running
                .iter()
                .map(|(host, task)| json!({ "host": host, "task": task }))
                .collect();
            json!({ "event": "interrupted", "running": running })
        }
        Event::Recap { hosts, elapsed } => {
            let hosts: serde_json::Map<String, Value> = hosts
                .iter()
                .map(|(name, s)| {
                    let mut counts = json!({
                        "ok": s.ok, "changed": s.changed, "failed": s.failed,
                        "unreachable": s.unreachable, "skipped": s.skipped,
                        "rescued": s.rescued, "ignored": s.ignored,
                    });
                    if s.interrupted > 0 {
                        counts["interrupted"] = s.interrupted.into();
                    }
                    (name.clone(), counts)
                })
                .collect();
            json!({ "event": "recap", "hosts": hosts, "elapsed_ms": elapsed.as_millis() as u64 })
        }
        Event::DoctorStart { .. } => return None,
        Event::Verdict(verdict) => crate::report::doctor::verdict_json(verdict),
        Event::DoctorSummary { verdicts, .. } => crate::report::doctor::summary_json(verdicts),
    };
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), SCHEMA_VERSION.into());
    }
    Some(value)
}

fn host_result(r: &HostResult) -> Value {
    let diffs: Vec<Value> = r
        .diffs
        .iter()
        .map(|d| {
            json!({
                "subject": d.subject, "before": d.before, "after": d.after,
                "unified": diff::unified(d),
            })
        })
        .collect();
    json!({
        "event": "host_result",
        "host": r.host,
        "delegated_to": r.delegated_to,
        "status": r.status.as_str(),
        "ignored": r.ignored,
        "msg": r.msg,
        "item": r.item,
        "diffs": diffs,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "rc": r.rc,
        "attempts": r.attempts,
        "duration_ms": r.duration.as_millis() as u64,
        "hint": r.hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::HostStats;
    use indexmap::IndexMap;
    use std::time::Duration;

    #[test]
    fn recap_has_the_documented_shape() {
        let mut hosts = IndexMap::new();
        hosts.insert(
            "node1".to_string(),
            HostStats {
                ok: 3,
                changed: 1,
                ..HostStats::default()
            },
        );
        let value = to_json(&Event::Recap {
            hosts,
            elapsed: Duration::from_millis(5),
        })
        .expect("recap is reported");
        assert_eq!(value["event"], "recap");
        assert_eq!(value["version"], SCHEMA_VERSION);
        assert_eq!(
            value["hosts"]["node1"],
            json!({"ok": 3, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0})
        );
    }
}
