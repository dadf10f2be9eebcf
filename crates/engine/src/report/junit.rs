//! JUnit XML, for CI systems: one test suite per play, one test case per
//! host and task (for `doctor`, one per check: `report::doctor_documents`).
//!
//! CI servers (GitLab, Jenkins, GitHub actions that read test reports)
//! show JUnit files as tables of passed, failed and skipped tests. A task
//! that failed on a host is a `<failure>` with its message and output; an
//! unreachable host is an `<error>`; a skipped task is `<skipped>`; a
//! changed task passes and says so in its output. Loop items of one task
//! on one host make one test case, which fails if any item failed. The
//! document is written once, at the end of the run, so a CI job that
//! keeps only complete files never sees half of one. Events arrive with
//! secrets already masked, so nothing here can show one.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use super::{Event, HostResult, Reporter, Status, markup_escape as escape};

/// One host's outcome of one task.
struct Case {
    task: String,
    host: String,
    status: Status,
    ignored: bool,
    duration: Duration,
    /// Messages and output of every item, for the failure text.
    details: String,
    message: Option<String>,
}

struct Suite {
    name: String,
    cases: Vec<Case>,
}

pub struct JunitReporter<W: Write> {
    out: W,
    suites: Vec<Suite>,
    task: String,
    warnings: Vec<String>,
}

impl<W: Write> JunitReporter<W> {
    pub fn new(out: W) -> JunitReporter<W> {
        JunitReporter {
            out,
            suites: Vec::new(),
            task: String::new(),
            warnings: Vec::new(),
        }
    }

    fn record(&mut self, r: &HostResult) {
        if self.suites.is_empty() {
            self.suites.push(Suite {
                name: String::new(),
                cases: Vec::new(),
            });
        }
        let Some(suite) = self.suites.last_mut() else {
            return;
        };
        let mut details = String::new();
        if let Some(item) = &r.item {
            let _ = writeln!(details, "item: {item}");
        }
        for (label, text) in [
            ("msg", &r.msg),
            ("stdout", &r.stdout),
            ("stderr", &r.stderr),
        ] {
            if let Some(text) = text.as_ref().filter(|t| !t.is_empty()) {
                let _ = writeln!(details, "{label}: {text}");
            }
        }
        if let Some(hint) = &r.hint {
            let _ = writeln!(details, "hint: {hint}");
        }
        // Items of the same task on the same host join one case.
        let task = self.task.clone();
        if let Some(case) = suite
            .cases
            .iter_mut()
            .rev()
            .take_while(|c| c.task == task)
            .find(|c| c.host == r.host)
        {
            case.duration += r.duration;
            case.details.push_str(&details);
            if rank(r.status, r.ignored) > rank(case.status, case.ignored) {
                case.status = r.status;
                case.ignored = r.ignored;
                case.message.clone_from(&r.msg);
            }
            return;
        }
        suite.cases.push(Case {
            task,
            host: r.host.clone(),
            status: r.status,
            ignored: r.ignored,
            duration: r.duration,
            details,
            message: r.msg.clone(),
        });
    }

    fn document(&self, elapsed: Duration) -> String {
        let all = || self.suites.iter().flat_map(|s| &s.cases);
        let count = |f: &dyn Fn(&Case) -> bool| all().filter(|c| f(c)).count();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"dtrplay\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            all().count(),
            count(&|c| failed(c)),
            count(&|c| c.status == Status::Unreachable),
            count(&|c| c.status == Status::Skipped),
            elapsed.as_secs_f64()
        );
        for suite in &self.suites {
            let cases = &suite.cases;
            let time: Duration = cases.iter().map(|c| c.duration).sum();
            let _ = writeln!(
                xml,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
                escape(&suite.name),
                cases.len(),
                cases.iter().filter(|c| failed(c)).count(),
                cases
                    .iter()
                    .filter(|c| c.status == Status::Unreachable)
                    .count(),
                cases.iter().filter(|c| c.status == Status::Skipped).count(),
                time.as_secs_f64()
            );
            for case in cases {
                case_xml(&mut xml, &suite.name, case);
            }
            xml.push_str("  </testsuite>\n");
        }
        if !self.warnings.is_empty() {
            xml.push_str("  <system-err>");
            xml.push_str(&escape(&self.warnings.join("\n")));
            xml.push_str("</system-err>\n");
        }
        xml.push_str("</testsuites>\n");
        xml
    }
}

fn case_xml(xml: &mut String, play: &str, case: &Case) {
    let _ = write!(
        xml,
        "    <testcase classname=\"{}\" name=\"[{}] {}\" time=\"{:.3}\"",
        escape(play),
        escape(&case.host),
        escape(&case.task),
        case.duration.as_secs_f64()
    );
    let message = escape(case.message.as_deref().unwrap_or(case.status.as_str()));
    let details = escape(&case.details);
    match case.status {
        Status::Failed if !case.ignored => {
            let _ = write!(
                xml,
                ">\n      <failure message=\"{message}\" type=\"failed\">{details}</failure>\n    </testcase>\n"
            );
        }
        Status::Unreachable => {
            let _ = write!(
                xml,
                ">\n      <error message=\"{message}\" type=\"unreachable\">{details}</error>\n    </testcase>\n"
            );
        }
        Status::Skipped => {
            let _ = write!(
                xml,
                ">\n      <skipped message=\"{message}\"/>\n    </testcase>\n"
            );
        }
        _ => {
            let word = if case.ignored {
                "failed (ignored)"
            } else {
                case.status.as_str()
            };
            let _ = write!(
                xml,
                ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                escape(&format!("{word}\n{}", case.details))
            );
        }
    }
}

/// Which result of a task's items speaks for the whole case.
fn rank(status: Status, ignored: bool) -> u8 {
    match status {
        Status::Unreachable => 5,
        Status::Failed if !ignored => 4,
        Status::Failed => 3,
        Status::Changed => 2,
        Status::Ok => 1,
        Status::Skipped => 0,
    }
}

fn failed(case: &Case) -> bool {
    case.status == Status::Failed && !case.ignored
}

impl<W: Write + Send> Reporter for JunitReporter<W> {
    fn report(&mut self, event: &Event) {
        match event {
            Event::PlayStart { name, .. } => self.suites.push(Suite {
                name: name.clone(),
                cases: Vec::new(),
            }),
            Event::TaskStart { name, .. } => self.task.clone_from(name),
            Event::HandlersStart => {}
            Event::Host(r) => self.record(r),
            Event::Warning { host, message } => self.warnings.push(match host {
                Some(h) => format!("[{h}] {message}"),
                None => message.clone(),
            }),
            Event::Recap { elapsed, .. } => {
                let document = self.document(*elapsed);
                let _ = self.out.write_all(document.as_bytes());
                let _ = self.out.flush();
            }
            Event::DoctorSummary { verdicts, elapsed } => {
                let document = super::doctor_documents::junit(verdicts, &self.warnings, *elapsed);
                let _ = self.out.write_all(document.as_bytes());
                let _ = self.out.flush();
            }
            _ => {}
        }
    }
}
