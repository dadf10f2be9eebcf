//! Doctor's verdicts as documents that are written once, at the end of the
//! run: JUnit XML (a test case per check, a broken link as a `<failure>`)
//! for CI systems, and a self-contained HTML page (the checks as a table)
//! for people who look at it later. The JUnit and HTML reporters collect
//! the verdicts and call these when `Event::DoctorSummary` arrives; the
//! texts are the human output's (`report::doctor`), escaped.

use std::fmt::Write as _;
use std::time::Duration;

use super::doctor::{summary, symptom};
use super::markup_escape as escape;
use super::verdict::{Health, Verdict};

/// The check a verdict is about, as a test case or row names it:
/// `[node1] node trusts DTR (step 5)`, or the link's title alone.
fn check_name(v: &Verdict) -> String {
    match &v.node {
        Some(node) => format!("[{node}] {}", v.link.title()),
        None => v.link.title().to_string(),
    }
}

/// Cause, fix and the push error a broken link causes, one per line.
fn details(v: &Verdict) -> String {
    let mut out = String::new();
    if let Some(cause) = &v.cause {
        let _ = writeln!(out, "cause: {cause}");
    }
    if let Some(fix) = &v.fix {
        let _ = writeln!(out, "fix: {fix}");
    }
    if let Some(symptom) = symptom(v) {
        let _ = writeln!(out, "pushes from the nodes fail with: {symptom}");
    }
    out
}

/// The JUnit document of a doctor run: one suite, `doctor`, with a test
/// case per verdict. A broken link fails its case; a warning passes and
/// says so in its output. The run's warnings go to `<system-err>`.
pub fn junit(verdicts: &[Verdict], warnings: &[String], elapsed: Duration) -> String {
    let failures = verdicts
        .iter()
        .filter(|v| v.health == Health::Broken)
        .count();
    let time = elapsed.as_secs_f64();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"dtrplay doctor\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
        verdicts.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"doctor\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
        verdicts.len()
    );
    for v in verdicts {
        let _ = writeln!(
            xml,
            "    <testcase classname=\"doctor.{}\" name=\"{}\" time=\"0.000\">",
            v.link.as_str(),
            escape(&check_name(v))
        );
        match v.health {
            Health::Broken => {
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{}\" type=\"broken\">{}</failure>",
                    escape(&v.message),
                    escape(&details(v))
                );
            }
            Health::Ok | Health::Warning => {
                let _ = writeln!(
                    xml,
                    "      <system-out>{}</system-out>",
                    escape(&format!(
                        "{}: {}\n{}",
                        v.health.as_str(),
                        v.message,
                        details(v)
                    ))
                );
            }
        }
        xml.push_str("    </testcase>\n");
    }
    let _ = writeln!(
        xml,
        "    <system-out>{}</system-out>",
        escape(&summary(verdicts))
    );
    xml.push_str("  </testsuite>\n");
    if !warnings.is_empty() {
        let _ = writeln!(
            xml,
            "  <system-err>{}</system-err>",
            escape(&warnings.join("\n"))
        );
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// The HTML page of a doctor run: the summary, the warnings, and a table
/// with a row per check (its status, what holds or not, cause, fix and
/// the push error), coloured as the terminal colours results.
pub fn html(verdicts: &[Verdict], warnings: &[String], elapsed: Duration, style: &str) -> String {
    let mut html = String::new();
    let title = "dtrplay doctor";
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{style}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(
        html,
        "<p class=\"summary\">{} ({} checks in {:.2} s)</p>",
        escape(&summary(verdicts)),
        verdicts.len(),
        elapsed.as_secs_f64()
    );
    for warning in warnings {
        let _ = writeln!(
            html,
            "<p class=\"warning\">warning: {}</p>",
            escape(warning)
        );
    }
    html.push_str(
        "<h2>Checks</h2>\n<table class=\"checks\">\n<tr><th>check</th><th>status</th>\
         <th>finding</th><th>cause, fix and push error</th></tr>\n",
    );
    for v in verdicts {
        // The classes of apply's page: green ok, yellow attention, red failed.
        let class = match v.health {
            Health::Ok => "ok",
            Health::Warning => "changed",
            Health::Broken => "failed",
        };
        let details = details(v);
        let details = match details.trim_end() {
            "" => String::new(),
            text => format!("<pre>{}</pre>", escape(text)),
        };
        let _ = writeln!(
            html,
            "<tr class=\"host-{class}\"><td>{}</td><td><span class=\"badge {class}\">{}</span></td>\
             <td>{}</td><td>{details}</td></tr>",
            escape(&check_name(v)),
            v.health.as_str(),
            escape(&v.message),
        );
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html
}
