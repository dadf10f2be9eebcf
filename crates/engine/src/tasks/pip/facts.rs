//! What `pip`'s check script reports: whether the virtualenv exists, the
//! pip it found, `pip list --format=freeze`, and pip's dry-run report.

use std::collections::BTreeMap;

use crate::task::TaskError;

use super::version::canonical_name;

/// Marker lines between the parts of a script's output.
pub const FREEZE: &str = "dtrplay-pip-freeze";
pub const REPORT: &str = "dtrplay-pip-report";
pub const NO_REPORT: &str = "dtrplay-pip-noreport";

/// What the check found.
#[derive(Debug, Default)]
pub struct Facts {
    pub venv_exists: bool,
    /// Installed versions by canonical name (empty when a `name @ url`
    /// install has no version in the list).
    pub installed: BTreeMap<String, String>,
    pub freeze: String,
    /// The pip the host runs (a path, or `python3 -m pip`).
    pub pip: String,
    /// What pip's dry run would install, as `name version`; `None` when
    /// there was no dry run (or this pip has none).
    pub would_install: Option<Vec<String>>,
}

/// Reads the check's output; `no_venv` says the task names no virtualenv,
/// `new_pip` is the pip a virtualenv about to be created will have.
pub fn parse_facts(stdout: &str, no_venv: bool, new_pip: &str) -> Result<Facts, TaskError> {
    let mut facts = Facts {
        venv_exists: no_venv,
        ..Facts::default()
    };
    let (head, rest) = stdout
        .split_once(&format!("{FREEZE}\n"))
        .unwrap_or((stdout, ""));
    if head.contains("venv=1") {
        facts.venv_exists = true;
    }
    facts.pip = head
        .lines()
        .find_map(|l| l.strip_prefix("pip_path="))
        .map_or_else(|| new_pip.to_string(), str::to_string);
    let (freeze, report) = match rest.split_once(&format!("{REPORT}\n")) {
        Some((f, r)) => (f, Some(r)),
        None => (rest, None),
    };
    facts.freeze = freeze.to_string();
    for line in freeze.lines() {
        let (name, version) = match line.split_once("==") {
            Some((n, v)) => (n, v),
            None => match line.split_once(" @ ") {
                Some((n, _)) => (n, ""),
                None => continue,
            },
        };
        facts
            .installed
            .insert(canonical_name(name.trim()), version.trim().to_string());
    }
    if let Some(report) = report
        && !report.trim_start().starts_with(NO_REPORT)
    {
        let json: serde_json::Value = serde_json::from_str(report.trim())
            .map_err(|e| TaskError::failed(format!("pip's dry-run report is not JSON ({e})")))?;
        let install = json["install"].as_array().cloned().unwrap_or_default();
        facts.would_install = Some(
            install
                .iter()
                .map(|i| {
                    format!(
                        "{} {}",
                        i["metadata"]["name"].as_str().unwrap_or("?"),
                        i["metadata"]["version"].as_str().unwrap_or("?")
                    )
                })
                .collect(),
        );
    }
    Ok(facts)
}
