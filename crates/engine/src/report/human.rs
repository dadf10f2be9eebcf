//! Output for people: a line per host per task, diffs, and a recap.
//!
//! The layout follows Ansible's (`PLAY [...]`, `TASK [...]`, `changed: [host]`,
//! `PLAY RECAP`) so that Ansible users read it without learning anything,
//! with two differences that matter in practice: failures say why on the
//! same line (with command output below), and long tasks show live progress
//! (which hosts are still running) on a terminal. Colour is used only on a
//! terminal and never when `NO_COLOR` is set.

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::diff;
use crate::report::verdict::Reach;
use crate::report::{Event, HostResult, Reporter, Status};

pub struct HumanReporter<W: Write + Send> {
    out: W,
    color: bool,
    /// Show command output for every result, not only failures (`-v`).
    verbose: u8,
    /// Show diffs (`--diff`).
    diff: bool,
    progress: Option<ProgressBar>,
    /// When the task now running started, for the spinner's elapsed time.
    task_started: Option<Instant>,
    /// Whether live progress may be drawn (stderr is a terminal).
    live: bool,
    /// A doctor run (`Event::DoctorStart` came): warnings take doctor's
    /// layout, `WARNING message`, in line with its verdicts.
    doctor: bool,
}

impl<W: Write + Send> HumanReporter<W> {
    pub fn new(out: W, color: bool, live: bool, verbose: u8, diff: bool) -> HumanReporter<W> {
        HumanReporter {
            out,
            color,
            verbose,
            diff,
            progress: None,
            task_started: None,
            live,
            doctor: false,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn status_color(status: Status, ignored: bool) -> &'static str {
        match status {
            Status::Ok => "32",
            Status::Changed => "33",
            Status::Failed if ignored => "36",
            Status::Failed => "31",
            Status::Skipped => "36",
            Status::Unreachable => "35",
        }
    }

    fn clear_progress(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
    }

    fn host_line(&mut self, r: &HostResult) -> std::io::Result<()> {
        let mut target = format!("[{}", r.host);
        if let Some(d) = &r.delegated_to {
            target.push_str(&format!(" -> {d}"));
        }
        target.push(']');
        let mut word = r.status.as_str().to_string();
        if r.status == Status::Failed && r.ignored {
            word = "failed (ignored)".to_string();
        }
        let mut line = format!(
            "{}: {target}",
            self.paint(Self::status_color(r.status, r.ignored), &word)
        );
        if let Some(item) = &r.item {
            line.push_str(&format!(" => (item={item})"));
        }
        if let Some(msg) = &r.msg {
            line.push_str(": ");
            line.push_str(msg);
        }
        if let Some(attempts) = r.attempts {
            line.push_str(&format!(" (after {attempts} attempts)"));
        }
        writeln!(self.out, "{line}")?;
        if let Some(hint) = &r.hint {
            writeln!(self.out, "    hint: {hint}")?;
        }
        let show_output = r.status == Status::Failed || self.verbose > 0;
        if show_output {
            if let Some(rc) = r.rc
                && r.status == Status::Failed
            {
                writeln!(self.out, "    rc: {rc}")?;
            }
            for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                if let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) {
                    writeln!(self.out, "    {name}:")?;
                    for l in text.lines() {
                        writeln!(self.out, "      {l}")?;
                    }
                }
            }
        }
        if self.verbose >= 2 {
            for script in &r.scripts {
                writeln!(self.out, "    script:")?;
                for l in script.lines() {
                    writeln!(self.out, "      | {l}")?;
                }
            }
        }
        if self.diff {
            for d in &r.diffs {
                for l in diff::unified(d).lines() {
                    let colored = match l.as_bytes().first() {
                        Some(b'+') if !l.starts_with("+++") => self.paint("32", l),
                        Some(b'-') if !l.starts_with("---") => self.paint("31", l),
                        Some(b'@') => self.paint("36", l),
                        _ => l.to_string(),
                    };
                    writeln!(self.out, "{colored}")?;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStart { check, .. } => {
                if *check {
                    writeln!(
                        self.out,
                        "{}",
                        self.paint("1", "CHECK MODE: nothing will be changed")
                    )?;
                }
            }
            Event::PlayStart { name, hosts } => {
                self.clear_progress();
                writeln!(self.out)?;
                let hosts = match hosts.len() {
                    1 => "1 host".to_string(),
                    n => format!("{n} hosts"),
                };
                writeln!(
                    self.out,
                    "{} ({hosts})",
                    self.paint("1", &format!("PLAY [{name}]"))
                )?;
            }
            Event::TaskStart {
                name,
                module,
                runner,
                ..
            } => {
                self.clear_progress();
                self.task_started = Some(Instant::now());
                writeln!(self.out)?;
                writeln!(self.out, "{}", self.paint("1", &format!("TASK [{name}]")))?;
                if self.verbose > 0 {
                    writeln!(self.out, "  `{module}` runs {runner}")?;
                }
            }
            Event::HandlersStart => {
                self.clear_progress();
                self.task_started = Some(Instant::now());
                writeln!(self.out)?;
                writeln!(self.out, "{}", self.paint("1", "RUNNING HANDLERS"))?;
            }
            Event::Host(r) => {
                self.clear_progress();
                self.host_line(r)?;
            }
            Event::Progress {
                done,
                total,
                pending,
            } => {
                if self.live {
                    let bar = self.progress.get_or_insert_with(|| {
                        let bar = ProgressBar::new_spinner();
                        if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg}") {
                            bar.set_style(style);
                        }
                        bar
                    });
                    let mut waiting: Vec<&str> =
                        pending.iter().take(5).map(String::as_str).collect();
                    if pending.len() > 5 {
                        waiting.push("…");
                    }
                    let elapsed = self
                        .task_started
                        .map(|t| format!(" ({}s)", t.elapsed().as_secs()))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "{done}/{total} hosts done; waiting for {}{elapsed}",
                        waiting.join(", ")
                    ));
                    bar.tick();
                }
            }
            Event::Connected { host, via } => {
                if self.verbose > 0 {
                    self.clear_progress();
                    writeln!(self.out, "{host}: connected with {via}")?;
                }
            }
            Event::Notice { message } => {
                if self.verbose > 0 {
                    self.clear_progress();
                    writeln!(self.out, "{message}")?;
                }
            }
            Event::Warning {
                host: None,
                message,
            } if self.doctor => {
                writeln!(self.out, "WARNING {message}")?;
            }
            Event::Warning { host, message } => {
                self.clear_progress();
                let prefix = self.paint("35", "[WARNING]");
                match host {
                    Some(h) => writeln!(self.out, "{prefix} [{h}]: {message}")?,
                    None => writeln!(self.out, "{prefix}: {message}")?,
                }
            }
            Event::Interrupted { running } => {
                self.clear_progress();
                writeln!(self.out)?;
                writeln!(
                    self.out,
                    "{}",
                    self.paint(
                        "1;31",
                        "INTERRUPTED: stopping the running tasks and their remote scripts (Ctrl-C again quits at once)"
                    )
                )?;
                for (host, task) in running {
                    let word = self.paint("31", "interrupted");
                    writeln!(self.out, "{word}: [{host}]: `{task}` was stopped")?;
                }
            }
            Event::Recap { hosts, elapsed } => {
                self.clear_progress();
                writeln!(self.out)?;
                writeln!(self.out, "{}", self.paint("1", "PLAY RECAP"))?;
                let width = hosts.keys().map(|h| h.chars().count()).max().unwrap_or(0);
                for (host, s) in hosts {
                    let color = if s.failed > 0 {
                        "31"
                    } else if s.unreachable > 0 {
                        "35"
                    } else if s.changed > 0 {
                        "33"
                    } else {
                        "32"
                    };
                    let name = self.paint(color, &format!("{host:<width$}"));
                    let interrupted = match s.interrupted {
                        0 => String::new(),
                        n => format!("   interrupted={n}"),
                    };
                    writeln!(
                        self.out,
                        "{name} : ok={:<3} changed={:<3} unreachable={:<3} failed={:<3} skipped={:<3} rescued={:<3} ignored={}{interrupted}",
                        s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
                    )?;
                }
                writeln!(self.out, "finished in {:.2}s", elapsed.as_secs_f64())?;
            }
            Event::DoctorStart {
                ucp_url,
                dtr_url,
                nodes,
            } => {
                self.doctor = true;
                if self.verbose > 0 {
                    writeln!(self.out, "ucp_url: {ucp_url}\ndtr_url: {dtr_url}")?;
                    for (node, reached) in nodes {
                        match reached {
                            Reach::Connected(via) => {
                                writeln!(self.out, "{node}: connected with {via}")?;
                            }
                            Reach::Failed(e) => writeln!(self.out, "{node}: not reached: {e}")?,
                        }
                    }
                    writeln!(self.out)?;
                }
            }
            Event::Verdict(verdict) => {
                write!(self.out, "{}", crate::report::doctor::human(verdict))?;
            }
            Event::DoctorSummary { verdicts, .. } => {
                writeln!(self.out, "\n{}", crate::report::doctor::summary(verdicts))?;
            }
        }
        self.out.flush()
    }
}

impl<W: Write + Send> Reporter for HumanReporter<W> {
    fn report(&mut self, event: &Event) {
        // Output errors (a closed pipe) must not stop the run.
        let _ = self.write(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Diff, HostStats};
    use indexmap::IndexMap;
    use std::time::Duration;

    #[test]
    fn lines_read_like_ansible() {
        let mut buf = Vec::new();
        {
            let mut r = HumanReporter::new(&mut buf, false, false, 0, true);
            r.report(&Event::TaskStart {
                name: "Copy".into(),
                module: "copy".into(),
                hosts: vec![],
                runner: "natively".into(),
            });
            let mut res = HostResult::new("node1", Status::Changed);
            res.diffs.push(Diff {
                subject: "/x".into(),
                before: None,
                after: Some("hi\n".into()),
            });
            r.report(&Event::Host(res));
            let mut failed = HostResult::new("node2", Status::Failed);
            failed.msg = Some("non-zero return code".into());
            failed.rc = Some(2);
            r.report(&Event::Host(failed));
            let mut hosts = IndexMap::new();
            hosts.insert(
                "node1".to_string(),
                HostStats {
                    ok: 1,
                    changed: 1,
                    ..HostStats::default()
                },
            );
            r.report(&Event::Recap {
                hosts,
                elapsed: Duration::from_millis(1500),
            });
        }
        let text = String::from_utf8(buf).expect("utf-8");
        assert!(
            text.contains("TASK [Copy]\nchanged: [node1]\n--- before: (absent)\n+++ after: /x\n"),
            "{text}"
        );
        assert!(
            text.contains("failed: [node2]: non-zero return code\n    rc: 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "node1 : ok=1   changed=1   unreachable=0   failed=0   skipped=0   rescued=0   ignored=0"
            ),
            "{text}"
        );
    }
}
