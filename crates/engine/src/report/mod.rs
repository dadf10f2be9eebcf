//! What happened during a run, as events, and the reporters that show them.
//!
//! The executor never prints. It emits `Event`s to a `Reporter`; the human
//! reporter turns them into lines (and diffs, and a recap) for people, the
//! JSON reporter into JSON Lines for programs. Events are built with secrets
//! already masked (see `secret.rs`), so no reporter can leak one.

pub mod diagnostics;
pub mod doctor;
pub mod doctor_documents;
pub mod file;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod verdict;

use std::time::Duration;

use indexmap::IndexMap;

use verdict::{Reach, Verdict};

/// How one task ended on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Already as wanted; nothing changed (or would change).
    Ok,
    /// Something changed (or, in check mode, would change).
    Changed,
    Failed,
    /// Not run: `when` was false, or the task does not apply here.
    Skipped,
    /// The host could not be reached; it gets no further tasks.
    Unreachable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unreachable => "unreachable",
        }
    }
}

/// A before/after pair to show as a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// What is compared, e.g. the remote path or "DTR setting authBypassCA".
    pub subject: String,
    /// `None` when the thing does not exist before (or after) the change.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The result of one task on one host (or one loop item of it).
#[derive(Debug, Clone)]
pub struct HostResult {
    pub host: String,
    /// Where the task actually ran, when it was delegated (`delegate_to`,
    /// and the built-in API tasks, which run on the control machine).
    pub delegated_to: Option<String>,
    pub status: Status,
    /// A failure the task asked to ignore (`ignore_errors`); it counts as ok.
    pub ignored: bool,
    /// One line for people: why it failed, what changed, the debug message.
    pub msg: Option<String>,
    /// The loop item this result is for, rendered.
    pub item: Option<String>,
    pub diffs: Vec<Diff>,
    /// Command output, shown with `-v` and on failure.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub rc: Option<i32>,
    /// How many attempts `until`/`retries` took, when more than one.
    pub attempts: Option<u32>,
    pub duration: Duration,
    /// What to do about it, shown after the result (an unreachable host:
    /// the name does not resolve, the key is not accepted).
    pub hint: Option<String>,
    /// The scripts the task sent to the host, secrets masked (`-vv`).
    pub scripts: Vec<String>,
}

impl HostResult {
    pub fn new(host: &str, status: Status) -> HostResult {
        HostResult {
            host: host.to_string(),
            delegated_to: None,
            status,
            ignored: false,
            msg: None,
            item: None,
            diffs: Vec::new(),
            stdout: None,
            stderr: None,
            rc: None,
            attempts: None,
            duration: Duration::ZERO,
            hint: None,
            scripts: Vec::new(),
        }
    }
}

/// Per-host counts for the recap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub unreachable: u32,
    pub skipped: u32,
    /// Failures that a block's `rescue` took over (counted here instead
    /// of `failed`, as in Ansible).
    pub rescued: u32,
    pub ignored: u32,
    /// Tasks stopped by Ctrl-C while they ran on the host (shown in the
    /// recap only when there were any: Ansible has no such column).
    pub interrupted: u32,
}

impl HostStats {
    pub fn count(&mut self, result: &HostResult) {
        match result.status {
            // Ansible counts a changed task under both `ok` and `changed`.
            Status::Ok => self.ok += 1,
            Status::Changed => {
                self.ok += 1;
                self.changed += 1;
            }
            Status::Failed if result.ignored => {
                self.ok += 1;
                self.ignored += 1;
            }
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Unreachable => self.unreachable += 1,
        }
    }
}

/// Everything the engine tells the outside world.
#[derive(Debug, Clone)]
pub enum Event {
    RunStart {
        playbook: String,
        check: bool,
        diff: bool,
    },
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        module: String,
        /// The hosts the task is about to run on.
        hosts: Vec<String>,
        /// What runs the module: "natively", "through ansible-core 2.19.14
        /// (ansible.builtin.tempfile)" (`tasks::Runner::describe`).
        runner: String,
    },
    /// One host finished the current task (or one item of it).
    Host(HostResult),
    /// The handlers notified by changes run now.
    HandlersStart,
    /// A task is still running: how many hosts are done and which are not.
    /// Sent about once a second, for live progress displays.
    Progress {
        done: usize,
        total: usize,
        pending: Vec<String>,
    },
    Warning {
        host: Option<String>,
        message: String,
    },
    /// Something `-v` tells about the run's set-up, such as which
    /// `ansible.cfg` was read.
    Notice {
        message: String,
    },
    /// A host's connection is open, and how: `native SSH (curve25519-sha256)`,
    /// `OpenSSH: ProxyCommand is not supported natively (…)`, `local`. Sent
    /// once per host, before its first result.
    Connected {
        host: String,
        via: String,
    },
    /// The run was interrupted (Ctrl-C): the tasks that were running are
    /// stopped, with their remote scripts, and no further task starts. The
    /// recap follows once the connections are closed. `running` names each
    /// host whose task was stopped, with that task, in the order they started.
    Interrupted {
        running: Vec<(String, String)>,
    },
    /// The last event of every run.
    Recap {
        hosts: IndexMap<String, HostStats>,
        elapsed: Duration,
    },
    /// `doctor` has read its inventory and opened its connections: the
    /// UCP and DTR it checks and how each node was reached. People see it
    /// with `-v`; JSON Lines leave it out, so that doctor's lines stay
    /// warnings, verdicts and the summary (a node not reached has a
    /// verdict that says so).
    DoctorStart {
        ucp_url: String,
        dtr_url: String,
        /// Each node, with how it was reached or why not.
        nodes: Vec<(String, Reach)>,
    },
    /// One of doctor's checks: a trust link, on one node when the link is
    /// per node.
    Verdict(Verdict),
    /// The last event of every doctor run: every verdict again, from
    /// which the summary line (and the exit code) is computed.
    DoctorSummary {
        verdicts: Vec<Verdict>,
        elapsed: Duration,
    },
}

impl Event {
    /// Whether this event ends a run (`Recap` for apply and plan,
    /// `DoctorSummary` for doctor): documents written once are written now.
    pub fn ends_run(&self) -> bool {
        matches!(self, Event::Recap { .. } | Event::DoctorSummary { .. })
    }
}

/// A sink for events.
pub trait Reporter: Send {
    fn report(&mut self, event: &Event);
}

/// A reporter that keeps every event, for tests and for callers that want
/// to look at a run afterwards.
#[derive(Debug, Default)]
pub struct Collect {
    pub events: Vec<Event>,
}

impl Reporter for Collect {
    fn report(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}

/// Sends every event to several reporters: the one on standard output and
/// the report files of `--report`.
pub struct Tee(pub Vec<Box<dyn Reporter>>);

impl Reporter for Tee {
    fn report(&mut self, event: &Event) {
        for reporter in &mut self.0 {
            reporter.report(event);
        }
    }
}

/// Text for XML and HTML: markup characters become entities, and control
/// characters other than newlines and tabs (which neither format may hold)
/// become U+FFFD, so output from a host can never break the document.
pub(crate) fn markup_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::markup_escape;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            markup_escape("a<b & \"c\"\u{1b}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
