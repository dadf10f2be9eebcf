//! The record of a benchmark: every sample as JSON, and a markdown summary
//! of medians (with min–max), ratios, per-host slopes, phases, CPU, memory
//! and where dtrplay stands against the targets.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::measure::{Memory, Usage};
use crate::real_job::{self, RealJobSample};
use crate::scenario::Kex;
use crate::slope;
use crate::stat::{Stat, stat};

/// What was measured, in table order: a stable key for JSON and a label.
/// The `become-` rows are the same runs on nodes whose login user is not
/// root (`--login become`): every tool logs in as `operator` and becomes
/// root with sudo (dtrplay and Ansible `ansible_become: true`, pyinfra
/// `_sudo=True`).
pub const ROWS: [(&str, &str); 22] = [
    ("floor-fresh", "floor: `ssh true`, fresh connections"),
    ("floor-mux", "floor: `ssh true`, over open masters"),
    ("dtrplay-cold-first", "dtrplay cold, first run (changes)"),
    (
        "dtrplay-cold-second",
        "dtrplay cold, second run (no change)",
    ),
    ("dtrplay-warm-first", "dtrplay warm, first run (changes)"),
    (
        "dtrplay-warm-second",
        "dtrplay warm, second run (no change)",
    ),
    (
        "baseline-cold-first",
        "baseline dtrplay (`--baseline`) cold, first run (changes)",
    ),
    (
        "baseline-cold-second",
        "baseline dtrplay (`--baseline`) cold, second run (no change)",
    ),
    ("ansible-first", "Ansible first run (cold)"),
    ("ansible-second", "Ansible second run (masters kept)"),
    ("pyinfra-first", "pyinfra first run"),
    ("pyinfra-second", "pyinfra second run"),
    (
        "become-dtrplay-cold-first",
        "become: dtrplay cold, first run (changes)",
    ),
    (
        "become-dtrplay-cold-second",
        "become: dtrplay cold, second run (no change)",
    ),
    (
        "become-dtrplay-warm-first",
        "become: dtrplay warm, first run (changes)",
    ),
    (
        "become-dtrplay-warm-second",
        "become: dtrplay warm, second run (no change)",
    ),
    (
        "become-baseline-cold-first",
        "become: baseline dtrplay cold, first run (changes)",
    ),
    (
        "become-baseline-cold-second",
        "become: baseline dtrplay cold, second run (no change)",
    ),
    ("become-ansible-first", "become: Ansible first run (cold)"),
    (
        "become-ansible-second",
        "become: Ansible second run (masters kept)",
    ),
    ("become-pyinfra-first", "become: pyinfra first run"),
    ("become-pyinfra-second", "become: pyinfra second run"),
];

/// The `become-` key of a row.
pub fn become_key(what: &'static str) -> &'static str {
    ROWS.iter()
        .map(|(key, _)| *key)
        .find(|key| key.strip_prefix("become-") == Some(what))
        .unwrap_or(what)
}

/// One timed run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub what: &'static str,
    pub n: usize,
    pub kex: Kex,
    pub run: usize,
    /// Exit status zero, every node's file right, and the expected changes.
    pub valid: bool,
    pub problem: Option<String>,
    pub usage: Usage,
    /// CPU time the nodes' sshd spent on this run (sessions reaped by the
    /// listeners); only for runs that close every connection.
    pub server_cpu_s: Option<f64>,
    /// dtrplay's phases, from its JSON event stream.
    pub phases: Option<Phases>,
    /// The machine's 1-minute load average when the run ended.
    pub load: Option<f64>,
    /// Round trips per host counted at the delay proxy (`--delay-ms`).
    pub round_trips: Option<f64>,
}

/// Milliseconds spent in each phase of a dtrplay run, from the arrival
/// times of its JSON events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Process start until `run_start`: parsing, validation, runtime.
    pub startup_ms: f64,
    /// Each task, from its `task_start` to the next one (the last one ends
    /// at its last host result). The first includes opening connections.
    pub tasks_ms: Vec<f64>,
    /// Last host result until `recap`: closing the connections.
    pub close_ms: f64,
    /// `recap` until the process has exited.
    pub exit_ms: f64,
}

/// One run dedicated to memory.
#[derive(Debug, Clone, Serialize)]
pub struct MemorySample {
    pub what: &'static str,
    pub n: usize,
    pub kex: Kex,
    pub valid: bool,
    pub usage: Usage,
    pub memory: Memory,
}

/// `dtrplay validate` against a large generated inventory.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateTiming {
    pub hosts: usize,
    pub wall_s: Vec<f64>,
    pub max_rss_kb: u64,
}

/// Everything a benchmark run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub label: String,
    pub command: String,
    pub machine: Vec<(String, String)>,
    pub sizes: Vec<usize>,
    pub runs: usize,
    pub dtrplay_forks: String,
    pub samples: Vec<Sample>,
    pub memory: Vec<MemorySample>,
    pub validate: Option<ValidateTiming>,
    /// The real job's runs (`--real-job`), on labs instead of fleets.
    pub real_job: Vec<RealJobSample>,
}

impl Record {
    fn values(
        &self,
        what: &str,
        n: usize,
        kex: Kex,
        f: impl Fn(&Sample) -> Option<f64>,
    ) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| s.what == what && s.n == n && s.kex == kex && s.valid)
            .filter_map(f)
            .collect()
    }

    pub fn wall(&self, what: &str, n: usize, kex: Kex) -> Option<Stat> {
        stat(&self.values(what, n, kex, |s| Some(s.usage.wall_s)))
    }

    fn kexes(&self) -> Vec<Kex> {
        let mut out = Vec::new();
        for s in &self.samples {
            if !out.contains(&s.kex) {
                out.push(s.kex);
            }
        }
        out
    }

    fn invalid(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| !s.valid).collect()
    }

    /// The markdown summary.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Fleet benchmark: {}\n", self.label);
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        for (key, value) in &self.machine {
            let _ = writeln!(out, "- {key}: {value}");
        }
        let loads: Vec<f64> = self.samples.iter().filter_map(|s| s.load).collect();
        if let Some(load) = stat(&loads) {
            let _ = writeln!(
                out,
                "- 1-minute load average as each timed run ended: median {:.1} [{:.1}–{:.1}] (per run in the JSON record)",
                load.median, load.min, load.max
            );
        }
        // A record of the real job alone (`--only real-job`) has no fleet
        // rows: their explanations and targets would describe nothing.
        let fleets = !self.sizes.is_empty();
        if !fleets {
            out.push('\n');
        }
        if fleets {
            let _ = writeln!(
                out,
                "- timed runs per cell: {} (peers may have fewer); dtrplay --forks {}\n",
                self.runs, self.dtrplay_forks
            );
            let _ = writeln!(
                out,
                "Wall times are medians in seconds with [min–max] over the valid runs. A run is valid when it exited 0, every node's `ca.crt` and directory are right (checked on the control side), and it reported the expected changes (dtrplay and Ansible: changes on the first run, none on the second).\n"
            );
        }
        for kex in self.kexes() {
            self.wall_table(&mut out, kex);
            self.ratio_table(&mut out, kex);
            self.client_ratio_table(&mut out, kex);
            self.slope_table(&mut out, kex);
            self.phase_table(&mut out, kex);
            self.cpu_table(&mut out, kex);
        }
        self.memory_table(&mut out);
        self.round_trip_table(&mut out);
        real_job::markdown(&self.real_job, &mut out);
        if let Some(v) = &self.validate
            && let Some(s) = stat(&v.wall_s)
        {
            let _ = writeln!(
                out,
                "## `dtrplay validate` of playbooks/integrate.yml, {} hosts\n\n{:.1} ms median [{:.1}–{:.1}] over {} runs, max RSS {:.1} MB\n",
                v.hosts,
                s.median * 1e3,
                s.min * 1e3,
                s.max * 1e3,
                v.wall_s.len(),
                v.max_rss_kb as f64 / 1024.0
            );
        }
        if fleets {
            self.targets(&mut out);
        }
        let invalid = self.invalid();
        if !invalid.is_empty() {
            let _ = writeln!(out, "## Runs that did not count\n");
            for s in invalid {
                let _ = writeln!(
                    out,
                    "- {} N={} kex={} run {}: {}",
                    s.what,
                    s.n,
                    s.kex,
                    s.run,
                    s.problem.as_deref().unwrap_or("?")
                );
            }
            out.push('\n');
        }
        out
    }

    fn header(&self, out: &mut String, first: &str) {
        let _ = write!(out, "| {first} |");
        for n in &self.sizes {
            let _ = write!(out, " N={n} |");
        }
        out.push_str("\n|---|");
        for _ in &self.sizes {
            out.push_str("---:|");
        }
        out.push('\n');
    }

    fn wall_table(&self, out: &mut String, kex: Kex) {
        let _ = writeln!(
            out,
            "## Wall time, kex {kex} (s)\n\nThe last column is the cost of one more host between consecutive sizes measured: ms per extra host (from→to).\n"
        );
        let _ = write!(out, "| what |");
        for n in &self.sizes {
            let _ = write!(out, " N={n} |");
        }
        out.push_str(" per extra host, ms |\n|---|");
        for _ in &self.sizes {
            out.push_str("---:|");
        }
        out.push_str("---|\n");
        for (key, label) in ROWS {
            if self.sizes.iter().all(|&n| self.wall(key, n, kex).is_none()) {
                continue;
            }
            let _ = write!(out, "| {label} |");
            for &n in &self.sizes {
                match self.wall(key, n, kex) {
                    Some(s) => {
                        let _ = write!(out, " {:.2} [{:.2}–{:.2}] |", s.median, s.min, s.max);
                    }
                    None => out.push_str(" – |"),
                }
            }
            let points: Vec<(usize, f64)> = self
                .sizes
                .iter()
                .filter_map(|&n| Some((n, self.wall(key, n, kex)?.median)))
                .collect();
            let _ = writeln!(out, " {} |", slope::cell(&slope::segments(&points)));
        }
        out.push('\n');
    }

    fn ratio(&self, a: &str, b: &str, n: usize, kex: Kex) -> Option<f64> {
        Some(self.wall(a, n, kex)?.median / self.wall(b, n, kex)?.median)
    }

    fn ratio_table(&self, out: &mut String, kex: Kex) {
        let rows: [(&str, &str, &str, &str); 20] = [
            (
                "this build / baseline: dtrplay cold first",
                "dtrplay-cold-first",
                "baseline-cold-first",
                "≤ 1.0 (no regression)",
            ),
            (
                "this build / baseline: dtrplay cold second",
                "dtrplay-cold-second",
                "baseline-cold-second",
                "≤ 1.0 (no regression)",
            ),
            (
                "become: this build / baseline, cold first",
                "become-dtrplay-cold-first",
                "become-baseline-cold-first",
                "≤ 1.0 (no regression)",
            ),
            (
                "become: this build / baseline, cold second",
                "become-dtrplay-cold-second",
                "become-baseline-cold-second",
                "≤ 1.0 (no regression)",
            ),
            (
                "dtrplay cold first / floor fresh",
                "dtrplay-cold-first",
                "floor-fresh",
                "≤ 1.2 (N≥100)",
            ),
            (
                "dtrplay cold second / floor fresh",
                "dtrplay-cold-second",
                "floor-fresh",
                "≤ 1.1 (N≥100)",
            ),
            (
                "dtrplay warm first / floor mux",
                "dtrplay-warm-first",
                "floor-mux",
                "",
            ),
            (
                "dtrplay warm second / floor mux",
                "dtrplay-warm-second",
                "floor-mux",
                "≤ 1.5",
            ),
            (
                "pyinfra first / dtrplay cold first",
                "pyinfra-first",
                "dtrplay-cold-first",
                "≥ 2 (N=100)",
            ),
            (
                "pyinfra second / dtrplay cold second",
                "pyinfra-second",
                "dtrplay-cold-second",
                "≥ 2 (N=100)",
            ),
            (
                "pyinfra second / dtrplay warm second",
                "pyinfra-second",
                "dtrplay-warm-second",
                "≥ 5 (N=100)",
            ),
            (
                "Ansible first / dtrplay cold first",
                "ansible-first",
                "dtrplay-cold-first",
                "≥ 15 (N=100)",
            ),
            (
                "Ansible second / dtrplay warm second",
                "ansible-second",
                "dtrplay-warm-second",
                "≥ 15 (N=100)",
            ),
            (
                "Ansible second / dtrplay cold second",
                "ansible-second",
                "dtrplay-cold-second",
                "",
            ),
            (
                "become / root: dtrplay cold first",
                "become-dtrplay-cold-first",
                "dtrplay-cold-first",
                "≤ 1.1",
            ),
            (
                "become / root: dtrplay cold second",
                "become-dtrplay-cold-second",
                "dtrplay-cold-second",
                "≤ 1.1",
            ),
            (
                "become / root: dtrplay warm second",
                "become-dtrplay-warm-second",
                "dtrplay-warm-second",
                "≤ 1.1",
            ),
            (
                "become: pyinfra first / dtrplay cold first",
                "become-pyinfra-first",
                "become-dtrplay-cold-first",
                "",
            ),
            (
                "become: Ansible first / dtrplay cold first",
                "become-ansible-first",
                "become-dtrplay-cold-first",
                "",
            ),
            (
                "become / root: Ansible first",
                "become-ansible-first",
                "ansible-first",
                "",
            ),
        ];
        let _ = writeln!(out, "### Ratios of medians, kex {kex}\n");
        let _ = write!(out, "| ratio |");
        for n in &self.sizes {
            let _ = write!(out, " N={n} |");
        }
        out.push_str(" target |\n|---|");
        for _ in &self.sizes {
            out.push_str("---:|");
        }
        out.push_str("---|\n");
        for (label, a, b, target) in rows {
            if self
                .sizes
                .iter()
                .all(|&n| self.ratio(a, b, n, kex).is_none())
            {
                continue;
            }
            let _ = write!(out, "| {label} |");
            for &n in &self.sizes {
                match self.ratio(a, b, n, kex) {
                    Some(r) => {
                        let _ = write!(out, " {r:.2} |");
                    }
                    None => out.push_str(" – |"),
                }
            }
            let _ = writeln!(out, " {target} |");
        }
        out.push('\n');
    }

    fn client_cpu(&self, what: &str, n: usize, kex: Kex) -> Option<f64> {
        stat(&self.values(what, n, kex, |s| Some(s.usage.user_s + s.usage.sys_s))).map(|s| s.median)
    }

    fn cpu_ratio(&self, a: &str, b: &str, n: usize, kex: Kex) -> Option<f64> {
        Some(self.client_cpu(a, n, kex)? / self.client_cpu(b, n, kex)?)
    }

    /// The ratios of client CPU: what the wall ratios become on a real fleet,
    /// where every node has its own CPU and only the control machine's work
    /// (plus the network's latency) is on the critical path. On loopback the
    /// nodes' sshd and shells share the control machine's cores, so the wall
    /// ratios also charge dtrplay for the nodes' work.
    fn client_ratio_table(&self, out: &mut String, kex: Kex) {
        let rows: [(&str, &str, &str); 7] = [
            (
                "dtrplay cold first / floor fresh",
                "dtrplay-cold-first",
                "floor-fresh",
            ),
            (
                "dtrplay cold second / floor fresh",
                "dtrplay-cold-second",
                "floor-fresh",
            ),
            (
                "dtrplay warm first / floor mux",
                "dtrplay-warm-first",
                "floor-mux",
            ),
            (
                "dtrplay warm second / floor mux",
                "dtrplay-warm-second",
                "floor-mux",
            ),
            (
                "become / root: dtrplay cold first",
                "become-dtrplay-cold-first",
                "dtrplay-cold-first",
            ),
            (
                "become / root: dtrplay cold second",
                "become-dtrplay-cold-second",
                "dtrplay-cold-second",
            ),
            (
                "become / root: dtrplay warm second",
                "become-dtrplay-warm-second",
                "dtrplay-warm-second",
            ),
        ];
        let _ = writeln!(
            out,
            "### Ratios of client CPU (control machine only), kex {kex}\n\nOn loopback the nodes share the control machine's cores, so the wall ratios above also charge each tool for its work on the nodes. These ratios count only the control machine's CPU (the tool and its ssh clients), which is what stays on the critical path of a real fleet.\n"
        );
        self.header(out, "ratio");
        for (label, a, b) in rows {
            if self
                .sizes
                .iter()
                .all(|&n| self.cpu_ratio(a, b, n, kex).is_none())
            {
                continue;
            }
            let _ = write!(out, "| {label} |");
            for &n in &self.sizes {
                match self.cpu_ratio(a, b, n, kex) {
                    Some(r) => {
                        let _ = write!(out, " {r:.2} |");
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }

    fn slope_table(&self, out: &mut String, kex: Kex) {
        let _ = writeln!(
            out,
            "### Cost per host, kex {kex} (least squares over the medians)\n\n| what | per host (ms) | fixed (s) | r² |\n|---|---:|---:|---:|"
        );
        for (key, label) in ROWS {
            let points: Vec<(f64, f64)> = self
                .sizes
                .iter()
                .filter_map(|&n| Some((n as f64, self.wall(key, n, kex)?.median)))
                .collect();
            if let Some((slope, intercept, r2)) = fit(&points) {
                let _ = writeln!(
                    out,
                    "| {label} | {:.1} | {:.2} | {:.3} |",
                    slope * 1e3,
                    intercept,
                    r2
                );
            }
        }
        out.push('\n');
    }

    fn phase_table(&self, out: &mut String, kex: Kex) {
        let keys = [
            "dtrplay-cold-first",
            "dtrplay-cold-second",
            "dtrplay-warm-first",
            "dtrplay-warm-second",
            "become-dtrplay-cold-first",
            "become-dtrplay-cold-second",
            "become-dtrplay-warm-first",
            "become-dtrplay-warm-second",
        ];
        let mut lines = Vec::new();
        for key in keys {
            for &n in &self.sizes {
                let phases: Vec<&Phases> = self
                    .samples
                    .iter()
                    .filter(|s| s.what == key && s.n == n && s.kex == kex && s.valid)
                    .filter_map(|s| s.phases.as_ref())
                    .collect();
                if phases.is_empty() {
                    continue;
                }
                let med = |f: &dyn Fn(&Phases) -> Option<f64>| {
                    stat(&phases.iter().filter_map(|p| f(p)).collect::<Vec<_>>())
                        .map(|s| format!("{:.0}", s.median))
                        .unwrap_or_else(|| "–".into())
                };
                lines.push(format!(
                    "| {key} | {n} | {} | {} | {} | {} | {} | {} |",
                    med(&|p| Some(p.startup_ms)),
                    med(&|p| p.tasks_ms.first().copied()),
                    med(&|p| p.tasks_ms.get(1).copied()),
                    med(&|p| p.tasks_ms.get(2).copied()),
                    med(&|p| Some(p.close_ms)),
                    med(&|p| Some(p.exit_ms)),
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### dtrplay phases, kex {kex} (median ms, from JSON event arrival times)\n\n| run | N | start-up | task 1 (incl. connect) | task 2 | task 3 | close | exit |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }

    fn cpu_table(&self, out: &mut String, kex: Kex) {
        let mut lines = Vec::new();
        for (key, label) in ROWS {
            for &n in &self.sizes {
                let client =
                    stat(&self.values(key, n, kex, |s| Some(s.usage.user_s + s.usage.sys_s)));
                let server = stat(&self.values(key, n, kex, |s| s.server_cpu_s));
                let Some(client) = client else {
                    continue;
                };
                let server_text = server
                    .map(|s| format!("{:.2} | {:.1}", s.median, s.median * 1e3 / n as f64))
                    .unwrap_or_else(|| "– | –".into());
                lines.push(format!(
                    "| {label} | {n} | {:.2} | {:.1} | {server_text} |",
                    client.median,
                    client.median * 1e3 / n as f64
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### CPU time, kex {kex} (median)\n\nClient: the tool and every process it waited for (ssh clients; not daemonised masters). Server: what the nodes' sshd listeners reaped (handshakes, sessions, shells); only for runs that close their connections.\n\n| what | N | client s | client ms/host | server s | server ms/host |\n|---|---:|---:|---:|---:|---:|"
        );
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }

    /// Round trips per host as counted at the delay proxy, beside the wall
    /// time of the same runs.
    fn round_trip_table(&self, out: &mut String) {
        if self.samples.iter().all(|s| s.round_trips.is_none()) {
            return;
        }
        let _ = writeln!(
            out,
            "## Round trips per host, counted at the delay proxy\n\nA round trip is a client send after bytes from the server (see benches/fleet/delay.rs); handshake included. Medians over the valid runs.\n\n| run | N | kex | wall (s) | round trips per host |\n|---|---:|---|---:|---:|"
        );
        let mut seen: Vec<(&str, usize, Kex)> = Vec::new();
        for s in &self.samples {
            let key = (s.what, s.n, s.kex);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let wall = self.wall(s.what, s.n, s.kex);
            let trips = stat(&self.values(s.what, s.n, s.kex, |x| x.round_trips));
            if let (Some(wall), Some(trips)) = (wall, trips) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.2} | {:.1} |",
                    s.what, s.n, s.kex, wall.median, trips.median
                );
            }
        }
        out.push('\n');
    }

    fn memory_table(&self, out: &mut String) {
        if self.memory.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Peak memory (one sampled run each, first run, cold)\n\n`max RSS` is `getrusage(RUSAGE_CHILDREN)` of a wrapper whose only child is the tool: the larger of the tool's own peak and that of any ssh client it reaped. `VmHWM` is the tool process's own peak RSS as last sampled (a lower bound). `tool's own CPU` is the tool process alone (its threads, not its children), as last sampled. `tree PSS` is the largest sum of `Pss` over the whole process tree (ssh clients and, for Ansible, its forks and masters), sampled every 200 ms.\n\n| what | N | kex | wall s | client CPU s | tool's own CPU s | max RSS MB | VmHWM MB | tree PSS MB | processes | tool's threads |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for m in &self.memory {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {} | {} |",
                m.what,
                m.n,
                m.kex,
                m.usage.wall_s,
                m.usage.user_s + m.usage.sys_s,
                m.memory.main_cpu_s,
                m.usage.max_rss_kb as f64 / 1024.0,
                m.memory.main_hwm_kb as f64 / 1024.0,
                m.memory.tree_pss_peak_kb as f64 / 1024.0,
                m.memory.tree_procs_peak,
                m.memory.main_threads_peak
            );
        }
        out.push('\n');
    }

    fn memory_of(&self, what: &str, n: usize) -> Option<&MemorySample> {
        self.memory
            .iter()
            .find(|m| m.what == what && m.n == n && m.kex == Kex::Curve25519)
    }

    fn targets(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Targets\n\n| target | measured | verdict |\n|---|---|---|"
        );
        let kex = Kex::Curve25519;
        let mut row =
            |target: String, value: Option<f64>, limit: f64, at_most: bool, unit: &str| {
                let (text, verdict) = match value {
                    Some(v) => {
                        let ok = if at_most { v <= limit } else { v >= limit };
                        (format!("{v:.2}{unit}"), if ok { "met" } else { "not met" })
                    }
                    None => ("not measured".to_string(), "–"),
                };
                let _ = writeln!(out, "| {target} | {text} | {verdict} |");
            };
        for n in [100, 200] {
            row(
                format!("cold first run ≤ 1.2× fresh floor, N={n}"),
                self.ratio("dtrplay-cold-first", "floor-fresh", n, kex),
                1.2,
                true,
                "×",
            );
            row(
                format!("cold second run ≤ 1.1× fresh floor, N={n}"),
                self.ratio("dtrplay-cold-second", "floor-fresh", n, kex),
                1.1,
                true,
                "×",
            );
        }
        for n in [100, 200] {
            row(
                format!("cold first run ≤ 1.2× fresh floor, N={n}, client CPU only"),
                self.cpu_ratio("dtrplay-cold-first", "floor-fresh", n, kex),
                1.2,
                true,
                "×",
            );
            row(
                format!("cold second run ≤ 1.1× fresh floor, N={n}, client CPU only"),
                self.cpu_ratio("dtrplay-cold-second", "floor-fresh", n, kex),
                1.1,
                true,
                "×",
            );
            row(
                format!("warm re-run ≤ 1.5× mux floor, N={n}, client CPU only"),
                self.cpu_ratio("dtrplay-warm-second", "floor-mux", n, kex),
                1.5,
                true,
                "×",
            );
        }
        for n in [100, 200] {
            row(
                format!("warm re-run ≤ 1.5× mux floor, N={n}"),
                self.ratio("dtrplay-warm-second", "floor-mux", n, kex),
                1.5,
                true,
                "×",
            );
        }
        // Issue 17's targets for the largest fleet.
        row(
            "N=500: cold first run ≤ 1.1× fresh floor".into(),
            self.ratio("dtrplay-cold-first", "floor-fresh", 500, kex),
            1.1,
            true,
            "×",
        );
        row(
            "N=500: warm re-run ≤ 1.3× warm floor".into(),
            self.ratio("dtrplay-warm-second", "floor-mux", 500, kex),
            1.3,
            true,
            "×",
        );
        row(
            "N=500: ≥ 3× faster than pyinfra (first runs)".into(),
            self.ratio("pyinfra-first", "dtrplay-cold-first", 500, kex),
            3.0,
            false,
            "×",
        );
        row(
            "N=500: dtrplay's peak RSS ≤ 64 MB".into(),
            self.memory_of("dtrplay-cold-first", 500)
                .map(|m| m.usage.max_rss_kb as f64 / 1024.0),
            64.0,
            true,
            " MB",
        );
        row(
            "≥ 2× faster than pyinfra, cold, N=100".into(),
            self.ratio("pyinfra-first", "dtrplay-cold-first", 100, kex),
            2.0,
            false,
            "×",
        );
        row(
            "≥ 5× faster than pyinfra, warm, N=100".into(),
            self.ratio("pyinfra-second", "dtrplay-warm-second", 100, kex),
            5.0,
            false,
            "×",
        );
        row(
            "≥ 15× faster than tuned Ansible, N=100 (first runs)".into(),
            self.ratio("ansible-first", "dtrplay-cold-first", 100, kex),
            15.0,
            false,
            "×",
        );
        let became = self.samples.iter().any(|s| s.what.starts_with("become-"));
        for &n in self.sizes.iter().filter(|_| became) {
            row(
                format!("become (operator, sudo) ≤ 1.1× root login, dtrplay cold first, N={n}"),
                self.ratio("become-dtrplay-cold-first", "dtrplay-cold-first", n, kex),
                1.1,
                true,
                "×",
            );
            row(
                format!("become ≤ 1.1× root login, dtrplay cold first, N={n}, client CPU only"),
                self.cpu_ratio("become-dtrplay-cold-first", "dtrplay-cold-first", n, kex),
                1.1,
                true,
                "×",
            );
        }
        row(
            "dtrplay's own peak memory < 64 MB, N=200".into(),
            self.memory_of("dtrplay-cold-first", 200)
                .map(|m| m.usage.max_rss_kb as f64 / 1024.0),
            64.0,
            true,
            " MB",
        );
        let sizes: BTreeSet<usize> = self.memory.iter().map(|m| m.n).collect();
        for n in sizes {
            let ours = self.memory_of("dtrplay-cold-first", n);
            let theirs = self.memory_of("pyinfra-first", n);
            if let (Some(a), Some(b)) = (ours, theirs) {
                row(
                    format!("process tree ≤ 2× pyinfra's, N={n} (ratio)"),
                    Some(
                        a.memory.tree_pss_peak_kb as f64 / b.memory.tree_pss_peak_kb.max(1) as f64,
                    ),
                    2.0,
                    true,
                    "×",
                );
            }
        }
        if let Some(v) = &self.validate {
            row(
                format!("validate, {} hosts < 100 ms", v.hosts),
                stat(&v.wall_s).map(|s| s.median * 1e3),
                100.0,
                true,
                " ms",
            );
        }
        out.push('\n');
    }
}

/// Least-squares line through `points`: (slope, intercept, r²); needs two
/// distinct x values.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    Some((slope, intercept, r2))
}
