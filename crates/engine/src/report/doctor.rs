//! How `dtrplay doctor` shows its verdicts: for people (one line per
//! verdict, then cause, fix and the push error a broken link causes, and a
//! summary line), or as JSON Lines with the `version` and `event` of every
//! JSON output (`verdict` lines, then a `summary`). The verdicts are data
//! (`doctor::Verdict`); this module only presents them, which keeps every
//! JSON dtrplay prints in `report/`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::verdict::{Health, Link, Verdict};

/// One verdict for people: a line, then cause, fix and the push error the
/// broken link causes, each on a line of its own.
pub fn human(v: &Verdict) -> String {
    let mut out = String::new();
    let label = match &v.node {
        Some(node) => format!("{node}: {}", v.link.title()),
        None => v.link.title().to_string(),
    };
    let status = match v.health {
        Health::Ok => "ok",
        Health::Warning => "WARNING",
        Health::Broken => "BROKEN",
    };
    let _ = writeln!(
        out,
        "{}",
        fold(&format!("{status:<8}{label}: {}", v.message))
    );
    if let Some(cause) = &v.cause {
        let _ = writeln!(out, "{}", fold(&format!("        cause: {cause}")));
    }
    if let Some(fix) = &v.fix {
        let _ = writeln!(out, "        fix:   {fix}");
    }
    if let Some(symptom) = symptom(v) {
        let _ = writeln!(out, "        pushes from the nodes fail with: {symptom}");
    }
    out
}

/// The push error a verdict's link causes, when the link is broken.
pub fn symptom(v: &Verdict) -> Option<&'static str> {
    (v.health == Health::Broken)
        .then(|| v.link.symptom())
        .flatten()
}

/// A line for a terminal: a certificate's fingerprint is 95 columns, so a
/// line that names one or two would pass 200; past `WIDTH`, each
/// `(SHA-256 …)` goes on a line of its own (with the punctuation that
/// follows it), and the text after it on the next, indented under the
/// verdict.
fn fold(line: &str) -> String {
    const WIDTH: usize = 100;
    const INDENT: &str = "\n          ";
    if line.chars().count() <= WIDTH {
        return line.to_string();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(" (SHA-256 ") {
        out.push_str(&rest[..at]);
        let note = &rest[at + 1..];
        let mut end = note.find(')').map_or(note.len(), |i| i + 1);
        if note[end..].starts_with([',', ';', '.']) {
            end += 1;
        }
        out.push_str(INDENT);
        out.push_str(&note[..end]);
        rest = note[end..].trim_start();
        if !rest.is_empty() && !rest.starts_with(" (SHA-256 ") {
            out.push_str(INDENT);
        }
    }
    out.push_str(rest);
    out
}

/// The last line: which links are broken, in the words of the verdicts'
/// headings, and for the per-node link on how many of the nodes. A link
/// is counted once however many nodes it fails on.
pub fn summary(verdicts: &[Verdict]) -> String {
    let warnings = verdicts
        .iter()
        .filter(|v| v.health == Health::Warning)
        .count();
    let warnings = match warnings {
        0 => String::new(),
        1 => " (1 warning)".to_string(),
        n => format!(" ({n} warnings)"),
    };
    let mut broken: Vec<String> = Vec::new();
    for link in [
        Link::DtrCa,
        Link::UcpKnowsDtr,
        Link::DtrTrustsUcp,
        Link::NodeTrustsDtr,
    ] {
        let of_link: Vec<&Verdict> = verdicts.iter().filter(|v| v.link == link).collect();
        let bad = of_link
            .iter()
            .filter(|v| v.health == Health::Broken)
            .count();
        if bad == 0 {
            continue;
        }
        if link == Link::NodeTrustsDtr {
            // A node with two runtimes has two verdicts; nodes are counted.
            let mut all: Vec<&str> = of_link.iter().filter_map(|v| v.node.as_deref()).collect();
            all.sort_unstable();
            all.dedup();
            let mut bad: Vec<&str> = of_link
                .iter()
                .filter(|v| v.health == Health::Broken)
                .filter_map(|v| v.node.as_deref())
                .collect();
            bad.sort_unstable();
            bad.dedup();
            let total = all.len().max(1);
            let nodes = if total == 1 { "node" } else { "nodes" };
            broken.push(format!(
                "{} on {} of {total} {nodes}",
                link.title(),
                bad.len().max(1)
            ));
        } else {
            broken.push(link.title().to_string());
        }
    }
    if broken.is_empty() {
        format!("every trust link holds on every node{warnings}")
    } else {
        format!("broken: {}{warnings}", broken.join("; "))
    }
}

/// The `summary` line that ends doctor's JSON Lines (as `apply` ends with
/// its recap): the broken links, and per node whether it trusts DTR.
pub fn summary_json(verdicts: &[Verdict]) -> Value {
    let mut broken: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.health == Health::Broken)
        .map(|v| v.link.as_str())
        .collect();
    broken.dedup();
    // A node is as healthy as its least healthy runtime.
    let mut nodes: Map<String, Value> = Map::new();
    for v in verdicts.iter().filter(|v| v.link == Link::NodeTrustsDtr) {
        let Some(node) = v.node.clone() else { continue };
        let worse = match nodes.get(&node).and_then(Value::as_str) {
            Some("broken") => false,
            Some("warning") => v.health == Health::Broken,
            _ => true,
        };
        if worse {
            nodes.insert(node, v.health.as_str().into());
        }
    }
    let warnings = verdicts
        .iter()
        .filter(|v| v.health == Health::Warning)
        .count();
    json!({
        "event": "summary",
        "healthy": broken.is_empty(),
        "broken_links": broken,
        "nodes": nodes,
        "warnings": warnings,
        "message": summary(verdicts),
    })
}

/// A verdict as one JSON object (one line of `--output json`).
pub fn verdict_json(verdict: &Verdict) -> Value {
    json!({
        "event": "verdict",
        "link": verdict.link.as_str(),
        "node": verdict.node,
        "status": verdict.health.as_str(),
        "message": verdict.message,
        "cause": verdict.cause,
        "fix": verdict.fix,
        "symptom": symptom(verdict),
    })
}
