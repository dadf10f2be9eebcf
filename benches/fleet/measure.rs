//! Measuring one run: wall time, CPU time and peak memory of a command, or of
//! a fan-out of commands started all at once.
//!
//! The benchmark re-executes itself as a small wrapper (`fleet __measure
//! <spec.json>`) that spawns the measured commands, waits for them and
//! writes a [`Usage`] report. A separate process is needed because
//! `getrusage(RUSAGE_CHILDREN)` only says something about one run when the
//! caller has no other children: its maximum RSS is the largest of the
//! waited-for descendants, which is the measured tool itself or one of the
//! `ssh` clients it reaped. The wrapper is also a child subreaper, so that
//! daemonised ssh masters (ControlPersist) stay in the process tree that the
//! memory sampler walks.
//!
//! The sampler ([`Sampler`]) runs in the driver while a wrapper runs. It adds
//! up the proportional set size (`Pss` from `/proc/<pid>/smaps_rollup`) of
//! every descendant of the wrapper, and reads the peak RSS (`VmHWM`) of the
//! tool's own process. Reading smaps costs CPU, so it only runs during runs
//! dedicated to memory, never during timed ones.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

/// The first argument that turns the benchmark binary into the wrapper.
pub const WRAPPER_ARG: &str = "__measure";

/// How often the memory sampler looks at the process tree.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// What the wrapper is asked to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// One argv per command; all are started at once.
    pub commands: Vec<Vec<String>>,
    /// Added to the inherited environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Where the commands' standard output goes (`None`: discarded).
    pub stdout: Option<PathBuf>,
    /// Where their standard error goes (`None`: discarded).
    pub stderr: Option<PathBuf>,
    /// Prefix every stdout line with the milliseconds since the start, to
    /// time the phases of a run from its event stream (one command only).
    pub stamp: bool,
    /// Where the wrapper writes its [`Usage`].
    pub report: PathBuf,
}

/// What one measured run cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// From the first spawn until the last command exited.
    pub wall_s: f64,
    /// CPU time of the commands and of every descendant they waited for.
    pub user_s: f64,
    pub sys_s: f64,
    /// The largest maximum RSS among the commands and their reaped
    /// descendants, from `getrusage(RUSAGE_CHILDREN)`.
    pub max_rss_kb: u64,
    /// How many commands ran, and how many exited with a failure.
    pub commands: usize,
    pub failures: usize,
    /// The first failure's exit status, for messages.
    pub first_failure: Option<String>,
}

/// The wrapper's entry point: `fleet __measure <spec.json>`.
pub fn wrapper_main(spec_path: &Path) -> Result<(), String> {
    let text = fs::read_to_string(spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
    let spec: Spec = serde_json::from_str(&text).map_err(|e| format!("bad spec: {e}"))?;
    // Orphaned descendants (ssh masters that daemonise) are re-parented to
    // us instead of init, so the sampler still sees them.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let usage = run_spec(&spec)?;
    let json = serde_json::to_string(&usage).map_err(|e| e.to_string())?;
    fs::write(&spec.report, json).map_err(|e| format!("cannot write the report: {e}"))
}

fn output_file(path: &Option<PathBuf>) -> Result<Stdio, String> {
    match path {
        Some(path) => fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Stdio::from)
            .map_err(|e| format!("cannot open {}: {e}", path.display())),
        None => Ok(Stdio::null()),
    }
}

fn run_spec(spec: &Spec) -> Result<Usage, String> {
    let started = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    let mut stamper = None;
    for argv in &spec.commands {
        let (program, args) = argv.split_first().ok_or("an empty command")?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(output_file(&spec.stderr)?);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        if spec.stamp {
            command.stdout(Stdio::piped());
        } else {
            command.stdout(output_file(&spec.stdout)?);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if spec.stamp
            && let (Some(out), Some(path)) = (child.stdout.take(), spec.stdout.clone())
        {
            stamper = Some(thread::spawn(move || stamp_lines(out, &path, started)));
        }
        children.push(child);
    }
    let mut usage = Usage {
        commands: children.len(),
        ..Usage::default()
    };
    for mut child in children {
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                usage.failures += 1;
                usage.first_failure.get_or_insert(status.to_string());
            }
            Err(err) => {
                usage.failures += 1;
                usage.first_failure.get_or_insert(err.to_string());
            }
        }
    }
    usage.wall_s = started.elapsed().as_secs_f64();
    if let Some(stamper) = stamper {
        let _ = stamper.join();
    }
    let rusage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| e.to_string())?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    usage.user_s = seconds(rusage.user_time());
    usage.sys_s = seconds(rusage.system_time());
    // Linux reports ru_maxrss in kilobytes.
    usage.max_rss_kb = u64::try_from(rusage.max_rss()).unwrap_or(0);
    Ok(usage)
}

/// Copies `out` to `path`, each line prefixed with the milliseconds since
/// `started` at which it arrived.
fn stamp_lines(out: impl std::io::Read, path: &Path, started: Instant) {
    let Ok(mut file) = fs::File::create(path) else {
        return;
    };
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else {
            return;
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let _ = writeln!(file, "{ms:.1} {line}");
    }
}

/// Runs `spec` through a wrapper process; samples the process tree's memory
/// meanwhile when `sample` is set.
pub fn measure(spec: &Spec, spec_path: &Path, sample: bool) -> Result<Measured, String> {
    let json = serde_json::to_string_pretty(spec).map_err(|e| e.to_string())?;
    fs::write(spec_path, json).map_err(|e| format!("cannot write {}: {e}", spec_path.display()))?;
    let _ = fs::remove_file(&spec.report);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut wrapper = Command::new(exe)
        .arg(WRAPPER_ARG)
        .arg(spec_path)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the wrapper: {e}"))?;
    let sampler = sample.then(|| Sampler::start(wrapper.id()));
    let status = wrapper.wait().map_err(|e| e.to_string())?;
    let memory = sampler.map(Sampler::stop);
    if !status.success() {
        return Err(format!("the measuring wrapper failed ({status})"));
    }
    let text =
        fs::read_to_string(&spec.report).map_err(|e| format!("no report from the wrapper: {e}"))?;
    let usage = serde_json::from_str(&text).map_err(|e| format!("bad report: {e}"))?;
    Ok(Measured { usage, memory })
}

/// A wrapper's report plus, when sampled, the tree's memory.
#[derive(Debug, Clone)]
pub struct Measured {
    pub usage: Usage,
    pub memory: Option<Memory>,
}

/// The memory peaks seen while sampling.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    /// The largest sum of `Pss` over every descendant of the wrapper.
    pub tree_pss_peak_kb: u64,
    /// The most processes seen in the tree at once.
    pub tree_procs_peak: usize,
    /// The tool's own `VmHWM` (peak RSS) at the last sample that saw it: a
    /// lower bound of its true peak, without its children.
    pub main_hwm_kb: u64,
    /// The tool process's own CPU time (user + system, its threads
    /// included, its children not) at the last sample that saw it: a lower
    /// bound, which tells its share of the client CPU from the ssh clients'.
    pub main_cpu_s: f64,
    /// The most threads the tool process had at once.
    pub main_threads_peak: u64,
    pub samples: usize,
}

/// Samples the memory of a wrapper's process tree from a thread.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Memory>,
}

impl Sampler {
    pub fn start(root: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut memory = Memory::default();
            while !flag.load(Ordering::Relaxed) {
                sample_once(root, &mut memory);
                thread::sleep(SAMPLE_EVERY);
            }
            memory
        });
        Sampler { stop, thread }
    }

    pub fn stop(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn sample_once(root: u32, memory: &mut Memory) {
    let parents = process_parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let direct = children.get(&root).cloned().unwrap_or_default();
    let mut stack = direct.clone();
    let mut pss = 0;
    let mut count = 0;
    while let Some(pid) = stack.pop() {
        count += 1;
        pss += status_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:").unwrap_or(0);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    if count == 0 {
        return;
    }
    memory.samples += 1;
    memory.tree_pss_peak_kb = memory.tree_pss_peak_kb.max(pss);
    memory.tree_procs_peak = memory.tree_procs_peak.max(count);
    // The wrapper's first child is the tool; orphans adopted later come
    // after it in pid order only by accident, so take the smallest pid.
    let Some(&main) = direct.iter().min() else {
        return;
    };
    let status = format!("/proc/{main}/status");
    if let Some(hwm) = status_field(&status, "VmHWM:") {
        memory.main_hwm_kb = memory.main_hwm_kb.max(hwm);
    }
    if let Some(threads) = status_field(&status, "Threads:") {
        memory.main_threads_peak = memory.main_threads_peak.max(threads);
    }
    if let Some(stat) = read_stat(main) {
        let ticks: f64 = stat
            .get(11..=12)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.parse::<f64>().ok())
            .sum();
        memory.main_cpu_s = memory.main_cpu_s.max(ticks / clock_ticks());
    }
}

/// Clock ticks per second, the unit of CPU times in `/proc/<pid>/stat`.
pub fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// Every process's parent, from `/proc/<pid>/stat`.
pub fn process_parents() -> HashMap<u32, u32> {
    let mut parents = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return parents;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(pid)
            && let Some(ppid) = stat.get(1).and_then(|s| s.parse().ok())
        {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// The fields of `/proc/<pid>/stat` after the command name, which may hold
/// spaces and parentheses: index 0 is the state, 1 the parent pid, and so
/// on (field N of proc(5) is index N - 3).
pub fn read_stat(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// A `Key:   123 kB` line's number from a `/proc` file.
fn status_field(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
