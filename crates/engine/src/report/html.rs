//! A self-contained HTML page of a run, for people who look at it later
//! (for `doctor`, a table of its checks: `report::doctor_documents`).
//!
//! The page has three parts: the recap (one row per host), a timeline (one
//! lane per host, one bar per result, placed at the moment the result
//! arrived and as long as the task took there), and a grid of tasks by
//! hosts whose cells open to show the message, the output and the diffs.
//! It needs nothing but the file: the styles are inline and there is no
//! script, so it opens the same from a CI artifact, a mail or a browser
//! with scripts turned off. The page is written once, when the run ends.
//! Events arrive with secrets already masked, and every text is escaped,
//! so neither a secret nor markup from a host can reach the page.

use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use super::{Event, HostResult, HostStats, Reporter, Status, markup_escape as escape};
use crate::diff;

/// One result of one task on one host, with when it ended.
struct Cell {
    result: HostResult,
    /// When the result arrived, from the start of the run.
    ended: Duration,
}

struct Task {
    name: String,
    module: String,
    cells: Vec<Cell>,
}

struct Play {
    name: String,
    hosts: Vec<String>,
    tasks: Vec<Task>,
}

pub struct HtmlReporter<W: Write> {
    out: W,
    started: Instant,
    playbook: String,
    check: bool,
    plays: Vec<Play>,
    /// When each host's connection was open, and how it was made.
    connected: IndexMap<String, (Duration, String)>,
    warnings: Vec<String>,
    interrupted: bool,
}

impl<W: Write> HtmlReporter<W> {
    pub fn new(out: W) -> HtmlReporter<W> {
        HtmlReporter {
            out,
            started: Instant::now(),
            playbook: String::new(),
            check: false,
            plays: Vec::new(),
            connected: IndexMap::new(),
            warnings: Vec::new(),
            interrupted: false,
        }
    }

    fn play(&mut self) -> &mut Play {
        if self.plays.is_empty() {
            self.plays.push(Play {
                name: String::new(),
                hosts: Vec::new(),
                tasks: Vec::new(),
            });
        }
        let last = self.plays.len() - 1;
        &mut self.plays[last]
    }

    fn page(&self, hosts: &IndexMap<String, HostStats>, elapsed: Duration) -> String {
        let mut html = String::new();
        let title = format!("dtrplay: {}", self.playbook);
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&title),
            escape(&title)
        );
        let _ = writeln!(
            html,
            "<p class=\"summary\">{}{} host(s) in {}{}</p>",
            if self.check {
                "Check mode: nothing was changed. "
            } else {
                ""
            },
            hosts.len(),
            seconds(elapsed),
            if self.interrupted {
                ". Interrupted with Ctrl-C: the tasks that were running were stopped"
            } else {
                ""
            }
        );
        for warning in &self.warnings {
            let _ = writeln!(
                html,
                "<p class=\"warning\">warning: {}</p>",
                escape(warning)
            );
        }
        recap(&mut html, hosts);
        self.timeline(&mut html, hosts, elapsed);
        for play in &self.plays {
            grid(&mut html, play);
        }
        html.push_str("</body>\n</html>\n");
        html
    }

    fn timeline(&self, html: &mut String, hosts: &IndexMap<String, HostStats>, elapsed: Duration) {
        let total = elapsed.as_secs_f64().max(0.001);
        html.push_str("<h2>Timeline</h2>\n<div class=\"timeline\">\n");
        for host in hosts.keys() {
            let _ = write!(
                html,
                "<div class=\"lane\"><span class=\"host\">{}</span><div class=\"track\">",
                escape(host)
            );
            // The time before a host's first result is mostly its
            // connection: shown hatched, so a slow handshake is visible.
            if let Some((at, via)) = self.connected.get(host) {
                let width = (100.0 * at.as_secs_f64() / total).max(0.3);
                let _ = write!(
                    html,
                    "<span class=\"bar connect\" style=\"left:0%;width:{width:.2}%\" \
                     title=\"connected after {}: {}\"></span>",
                    seconds(*at),
                    escape(via)
                );
            }
            let tasks = self.plays.iter().flat_map(|p| &p.tasks);
            for task in tasks {
                for cell in task.cells.iter().filter(|c| &c.result.host == host) {
                    let end = cell.ended.as_secs_f64();
                    let start = (end - cell.result.duration.as_secs_f64()).max(0.0);
                    let left = 100.0 * start / total;
                    let width = (100.0 * (end - start) / total).max(0.3);
                    let _ = write!(
                        html,
                        "<span class=\"bar {}\" style=\"left:{left:.2}%;width:{width:.2}%\" \
                         title=\"{}: {} in {}\"></span>",
                        class(&cell.result),
                        escape(&task.name),
                        word(&cell.result),
                        seconds(cell.result.duration)
                    );
                }
            }
            html.push_str("</div></div>\n");
        }
        html.push_str("</div>\n");
    }
}

impl<W: Write + Send> Reporter for HtmlReporter<W> {
    fn report(&mut self, event: &Event) {
        match event {
            Event::RunStart {
                playbook, check, ..
            } => {
                self.started = Instant::now();
                self.playbook.clone_from(playbook);
                self.check = *check;
            }
            Event::PlayStart { name, hosts } => self.plays.push(Play {
                name: name.clone(),
                hosts: hosts.clone(),
                tasks: Vec::new(),
            }),
            Event::TaskStart { name, module, .. } => self.play().tasks.push(Task {
                name: name.clone(),
                module: module.clone(),
                cells: Vec::new(),
            }),
            Event::HandlersStart => {}
            Event::Host(result) => {
                let ended = self.started.elapsed();
                let play = self.play();
                if play.tasks.is_empty() {
                    play.tasks.push(Task {
                        name: String::new(),
                        module: String::new(),
                        cells: Vec::new(),
                    });
                }
                if let Some(task) = play.tasks.last_mut() {
                    task.cells.push(Cell {
                        result: result.clone(),
                        ended,
                    });
                }
            }
            Event::Warning { host, message } => self.warnings.push(match host {
                Some(host) => format!("[{host}] {message}"),
                None => message.clone(),
            }),
            Event::Interrupted { .. } => self.interrupted = true,
            Event::Recap { hosts, elapsed } => {
                let page = self.page(hosts, *elapsed);
                let _ = self.out.write_all(page.as_bytes());
                let _ = self.out.flush();
            }
            Event::Connected { host, via } => {
                let at = self.started.elapsed();
                self.connected.insert(host.clone(), (at, via.clone()));
            }
            Event::DoctorSummary { verdicts, elapsed } => {
                let page = super::doctor_documents::html(verdicts, &self.warnings, *elapsed, STYLE);
                let _ = self.out.write_all(page.as_bytes());
                let _ = self.out.flush();
            }
            Event::Progress { .. }
            | Event::Notice { .. }
            | Event::DoctorStart { .. }
            | Event::Verdict(_) => {}
        }
    }
}

fn recap(html: &mut String, hosts: &IndexMap<String, HostStats>) {
    html.push_str(
        "<h2>Recap</h2>\n<table class=\"recap\">\n<tr><th>host</th><th>ok</th><th>changed</th>\
         <th>unreachable</th><th>failed</th><th>skipped</th><th>rescued</th><th>ignored</th></tr>\n",
    );
    for (host, s) in hosts {
        let state = if s.unreachable > 0 {
            "unreachable"
        } else if s.failed > 0 {
            "failed"
        } else if s.changed > 0 {
            "changed"
        } else {
            "ok"
        };
        let _ = writeln!(
            html,
            "<tr class=\"host-{state}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(host),
            s.ok,
            s.changed,
            s.unreachable,
            s.failed,
            s.skipped,
            s.rescued,
            s.ignored
        );
    }
    html.push_str("</table>\n");
}

/// One play as a table: a row per task, a column per host.
fn grid(html: &mut String, play: &Play) {
    let mut hosts: Vec<&str> = play.hosts.iter().map(String::as_str).collect();
    for cell in play.tasks.iter().flat_map(|t| &t.cells) {
        if !hosts.contains(&cell.result.host.as_str()) {
            hosts.push(&cell.result.host);
        }
    }
    let _ = write!(
        html,
        "<h2>Play: {}</h2>\n<table class=\"grid\">\n<tr><th>task</th>",
        escape(&play.name)
    );
    for host in &hosts {
        let _ = write!(html, "<th>{}</th>", escape(host));
    }
    html.push_str("</tr>\n");
    for task in &play.tasks {
        let _ = write!(
            html,
            "<tr><td class=\"task\">{}<span class=\"module\">{}</span></td>",
            escape(&task.name),
            escape(&task.module)
        );
        for host in &hosts {
            html.push_str("<td>");
            for cell in task.cells.iter().filter(|c| c.result.host == *host) {
                result(html, &cell.result);
            }
            html.push_str("</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

/// One result: a coloured badge with its duration, which opens to its
/// details when it has any.
fn result(html: &mut String, r: &HostResult) {
    let mut badge = word(r).to_string();
    if let Some(item) = &r.item {
        let _ = write!(badge, " ({item})");
    }
    let badge = format!(
        "<span class=\"badge {}\">{}</span> <span class=\"time\">{}</span>",
        class(r),
        escape(&badge),
        seconds(r.duration)
    );
    let mut details = String::new();
    for (label, text) in [
        ("message", &r.msg),
        ("stdout", &r.stdout),
        ("stderr", &r.stderr),
        ("hint", &r.hint),
    ] {
        if let Some(text) = text.as_ref().filter(|t| !t.is_empty()) {
            let _ = write!(details, "<h4>{label}</h4><pre>{}</pre>", escape(text));
        }
    }
    if let Some(rc) = r.rc {
        let _ = write!(details, "<p>rc: {rc}</p>");
    }
    for d in &r.diffs {
        let _ = write!(
            details,
            "<h4>diff: {}</h4><pre class=\"diff\">",
            escape(&d.subject)
        );
        for line in diff::unified(d).lines() {
            let kind = match line.chars().next() {
                Some('+') if !line.starts_with("+++") => "add",
                Some('-') if !line.starts_with("---") => "del",
                _ => "ctx",
            };
            let _ = writeln!(details, "<span class=\"{kind}\">{}</span>", escape(line));
        }
        details.push_str("</pre>");
    }
    if details.is_empty() {
        let _ = write!(html, "<div class=\"result\">{badge}</div>");
    } else {
        let _ = write!(
            html,
            "<details class=\"result\"><summary>{badge}</summary>{details}</details>"
        );
    }
}

fn word(r: &HostResult) -> &'static str {
    if r.status == Status::Failed && r.ignored {
        "failed (ignored)"
    } else {
        r.status.as_str()
    }
}

fn class(r: &HostResult) -> &'static str {
    if r.status == Status::Failed && r.ignored {
        "ignored"
    } else {
        r.status.as_str()
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The page's styles. The status colours are those of the terminal output
/// (green ok, yellow changed, red failed, cyan skipped, magenta
/// unreachable), chosen light enough to read black text on.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}h4{margin:.6em 0 .2em;font-size:.9em}\
table{border-collapse:collapse;font-size:.9em}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}\
tr.host-ok td:first-child{border-left:6px solid #3c9a3c}\
tr.host-changed td:first-child{border-left:6px solid #d9a400}\
tr.host-failed td:first-child{border-left:6px solid #d32f2f}\
tr.host-unreachable td:first-child{border-left:6px solid #a03ca0}\
.task .module{display:block;color:#777;font-size:.8em}\
.badge{display:inline-block;padding:.1em .5em;border-radius:.3em;font-weight:600}\
.ok{background:#3c9a3c;color:#fff}.changed{background:#d9a400;color:#000}\
.failed{background:#d32f2f;color:#fff}.skipped{background:#26a6b8;color:#000}\
.unreachable{background:#a03ca0;color:#fff}.ignored{background:#7fb7c2;color:#000}\
.time{color:#666;font-size:.85em}\
summary{cursor:pointer}\
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;max-width:60em;white-space:pre-wrap}\
.diff .add{color:#11661a;background:#e6ffec}.diff .del{color:#8b0d0d;background:#ffebe9}\
.warning{color:#8a5a00}\
.timeline{max-width:70em}\
.lane{display:flex;align-items:center;margin:.2em 0}\
.lane .host{width:10em;font-size:.85em;overflow:hidden;text-overflow:ellipsis}\
.track{position:relative;flex:1;height:1.2em;background:#f3f3f3}\
.bar{position:absolute;top:0;height:100%;min-width:2px}\
.bar.connect{background:repeating-linear-gradient(45deg,#ddd,#ddd 4px,#eee 4px,#eee 8px)}\
";
