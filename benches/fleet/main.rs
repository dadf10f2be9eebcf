//! The fleet benchmark: dtrplay against the SSH floor, Ansible and pyinfra on
//! N loopback OpenSSH nodes (see README.md beside this file).
//!
//! `cargo bench --bench fleet -- [options]` starts, for each fleet size, N
//! real sshd nodes on 127.x.y.z addresses (the lab's `Fleet`, with private
//! `/etc/docker` and `/srv` per node, which needs root), and times:
//!
//! - the floor: `ssh <node> true` to every node at once, over fresh
//!   connections and over already open masters;
//! - dtrplay on the scenario (`scenario.rs`), first and second run, cold
//!   (no open connection) and warm (masters kept by `--ssh-persist`);
//! - with `--peers`, Ansible and pyinfra on the same scenario;
//! - with `--real-job`, playbooks/integrate.yml on a lab with real engines
//!   against the same steps in Ansible (`real_job.rs`).
//!
//! Each measured run is executed by a wrapper process (`measure.rs`) that
//! reports wall time, CPU and peak RSS; one extra run per tool samples the
//! whole process tree's memory. Every run is checked afterwards on the
//! control side: a run that left a wrong file on any node does not count.
//! The record is written as markdown and JSON (`report.rs`).
//!
//! The benchmark only ever connects to loopback addresses: every node is a
//! lab node, and the lab picks its addresses in 127.0.0.0/8.

mod delay;
mod end_state;
mod limits;
mod measure;
mod peers;
mod real_job;
mod report;
mod scenario;
mod slope;
mod stat;

use std::ffi::OsString;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use dtrplay_lab::node::{Fleet, FleetOptions, Isolation, MAX_NODES};
use dtrplay_lab::state::random_password;
use dtrplay_lab::users::Users;

use crate::delay::DelayProxy;
use crate::measure::{Spec, WRAPPER_ARG};
use crate::peers::Peers;
use crate::report::{MemorySample, Phases, Record, Sample, ValidateTiming};
use crate::scenario::{CommonArgs, FleetFiles, Kex, Login, Scenario};

/// How long the warm runs keep their masters (`--ssh-persist`); longer than
/// any series of runs on one fleet.
const PERSIST_SECONDS: u64 = 900;

/// How long to wait for the nodes' sessions of a finished run to go away
/// before the next run starts.
const QUIET_TIMEOUT: Duration = Duration::from_secs(10);

/// Timed runs of `dtrplay validate`.
const VALIDATE_RUNS: usize = 10;

/// The groups of measurements `--only` can select; `real-job` is not on a
/// fleet of its own size but on a lab (`--real-job`).
const GROUPS: [&str; 7] = [
    "floor", "cold", "warm", "memory", "ansible", "pyinfra", "real-job",
];

/// The group that runs on a lab instead of the fleets of `--sizes`.
const REAL_JOB: &str = "real-job";

#[derive(Parser, Debug)]
#[command(
    name = "fleet",
    about = "Times dtrplay against the SSH floor, Ansible and pyinfra on N loopback sshd nodes"
)]
struct Cli {
    /// Fleet sizes, comma separated (at most 1000 nodes each; past 254 a
    /// fleet spans several loopback /24s).
    #[arg(long, value_delimiter = ',', default_value = "10,50,100,200")]
    sizes: Vec<usize>,
    /// Timed runs of each measurement (the median and min–max are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Key exchanges: `curve25519` (KexAlgorithms curve25519-sha256, what
    /// paramiko uses) and `default` (OpenSSH's post-quantum preference).
    #[arg(long, value_delimiter = ',', default_value = "curve25519,default")]
    kex: Vec<Kex>,
    /// Also measure Ansible and pyinfra, installed from PyPI into a private
    /// virtualenv under the work directory.
    #[arg(long)]
    peers: bool,
    /// Timed runs of each peer measurement (they are slow).
    #[arg(long, default_value_t = 2)]
    peer_runs: usize,
    /// The largest fleet the peers are measured on.
    #[arg(long, default_value_t = MAX_NODES)]
    peer_max: usize,
    /// The largest fleet Ansible is measured on (its runs take minutes).
    #[arg(long, default_value_t = 100)]
    ansible_max: usize,
    /// How the nodes are logged in to: `root`, and `become` (a login user
    /// of the nodes' own, `operator`, root login refused, and sudo to root
    /// for every task). Become fleets run the cold, warm and peer groups;
    /// their rows are compared with the root rows.
    #[arg(long, value_delimiter = ',', default_value = "root")]
    login: Vec<Login>,
    /// How the inventory gives dtrplay and Ansible the ssh settings:
    /// `config` (`-F` the generated ssh_config) or `options` (`-o
    /// UserKnownHostsFile=… -o StrictHostKeyChecking=yes -o
    /// HostKeyAlgorithms=ssh-ed25519 -o KexAlgorithms=…`, as people write
    /// them). The floor and pyinfra keep the ssh_config either way.
    #[arg(long, default_value = "config")]
    common_args: CommonArgs,
    /// Every tool reads the hosts' facts first: `gather_facts: true` for
    /// dtrplay and Ansible (their default subsets), pyinfra's facts of the
    /// same kinds.
    #[arg(long)]
    facts: bool,
    /// Puts a delay proxy in front of every node (`delay.rs`) that holds
    /// each chunk this many milliseconds per direction, and counts every
    /// tool's round trips at it. One delay per invocation: every row of
    /// the record is measured through it.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Key exchanges the peers are measured with.
    #[arg(long, value_delimiter = ',', default_value = "curve25519")]
    peer_kex: Vec<Kex>,
    /// Only these groups of measurements: floor, cold, warm, memory, ansible,
    /// pyinfra, real-job (default: the first four, plus the peers with
    /// --peers and the real job with --real-job).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// dtrplay's `--forks`: a number, or `n` for the fleet size (every host
    /// at once, like the floor).
    #[arg(long, default_value = "n")]
    forks: String,
    /// dtrplay's `--ssh-client` for the cold runs (`auto`, `native` or
    /// `openssh`); warm runs keep masters, which only OpenSSH has.
    #[arg(long, default_value = "auto")]
    ssh_client: String,
    /// The dtrplay binary (default: the one cargo built with this benchmark).
    #[arg(long)]
    dtrplay: Option<PathBuf>,
    /// Another dtrplay binary (an earlier build) timed in the same cells as
    /// `baseline-…` rows, its cold runs alternating with this build's, so
    /// that "before and after" is one run on one machine state.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// The Python that creates the peers' virtualenv.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Fleets, generated files, logs and the virtualenv. Kept between runs
    /// (keys are reused); safe to delete.
    #[arg(long, default_value = "/tmp/dtrplay-fleet-bench")]
    work_dir: PathBuf,
    /// Where the record (markdown and JSON) is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fleet/results"))]
    out: PathBuf,
    /// The record's file name, without extension (default: UTC date and time).
    #[arg(long)]
    label: Option<String>,
    /// Hosts in the generated inventory for timing `dtrplay validate` of
    /// playbooks/integrate.yml (0 skips it).
    #[arg(long, default_value_t = 1000)]
    validate_hosts: usize,
    /// Also time the real job: playbooks/integrate.yml applied by dtrplay on
    /// a fresh lab of `--real-job-nodes` nodes with real Docker engines
    /// (`dtrplay lab up`), against the same steps in Ansible
    /// (benches/fleet/peers/integrate.yml) on another fresh lab.
    #[arg(long)]
    real_job: bool,
    /// The real job's lab size (controllers included; one controller).
    #[arg(long, default_value_t = 20)]
    real_job_nodes: usize,
    /// Timed runs of the real job with each tool (each on a fresh lab).
    #[arg(long, default_value_t = 1)]
    real_job_runs: usize,
    /// The `ansible-playbook` of the real job (default: the peers'
    /// virtualenv, installed when missing).
    #[arg(long)]
    ansible_playbook: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == WRAPPER_ARG) {
        let Some(spec) = args.get(2) else {
            eprintln!("usage: fleet {WRAPPER_ARG} <spec.json>");
            return ExitCode::from(2);
        };
        return match measure::wrapper_main(Path::new(spec)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("fleet wrapper: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match Bench::new(cli).and_then(|mut bench| bench.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fleet benchmark: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What to measure on one fleet with one key exchange.
struct Cell<'a> {
    fleet: &'a Fleet,
    files: FleetFiles,
    n: usize,
    kex: Kex,
    login: Login,
}

impl Cell<'_> {
    /// The record's key of a measurement in this cell (`become-…` on
    /// fleets reached through sudo).
    fn key(&self, what: &'static str) -> &'static str {
        match self.login {
            Login::Root => what,
            Login::Become => report::become_key(what),
        }
    }
}

struct Bench {
    cli: Cli,
    groups: Vec<String>,
    dtrplay: PathBuf,
    scenario: Scenario,
    peers: Option<Peers>,
    record: Record,
    logs: PathBuf,
    counter: usize,
    /// The delay proxy of the fleet being measured (`--delay-ms`).
    proxy: Option<DelayProxy>,
}

impl Bench {
    fn new(cli: Cli) -> Result<Bench, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("the benchmark needs root: every node gets its own /etc/docker through a mount namespace, so that no run writes the host's".into());
        }
        if let Some(&bad) = cli.sizes.iter().find(|&&n| n == 0 || n > MAX_NODES) {
            return Err(format!("a fleet has 1 to {MAX_NODES} nodes, not {bad}"));
        }
        if cli.real_job_nodes == 0 || cli.real_job_nodes > 254 {
            return Err(format!(
                "the real job's lab has 1 to 254 nodes (`dtrplay lab up --nodes`), not {}",
                cli.real_job_nodes
            ));
        }
        let groups: Vec<String> = if cli.only.is_empty() {
            let mut g: Vec<String> = GROUPS[..4].iter().map(|s| s.to_string()).collect();
            if cli.peers {
                g.extend(["ansible".to_string(), "pyinfra".to_string()]);
            }
            if cli.real_job {
                g.push(REAL_JOB.to_string());
            }
            g
        } else {
            cli.only.clone()
        };
        if let Some(bad) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
            return Err(format!(
                "unknown group `{bad}` in --only; use {}",
                GROUPS.join(", ")
            ));
        }
        if cli.forks != "n" && cli.forks.parse::<usize>().is_err() {
            return Err(format!(
                "--forks takes a number or `n`, not `{}`",
                cli.forks
            ));
        }
        let dtrplay = cli
            .dtrplay
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_dtrplay")));
        fs::create_dir_all(&cli.work_dir)
            .map_err(|e| format!("cannot create {}: {e}", cli.work_dir.display()))?;
        let work = fs::canonicalize(&cli.work_dir).map_err(|e| e.to_string())?;
        // Logs are per invocation: the previous one's would be mistaken for
        // this one's.
        let logs = work.join("logs");
        let _ = fs::remove_dir_all(&logs);
        fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let scenario = Scenario::write(&work.join("scenario"), cli.facts)?;
        let wants_peers = groups.iter().any(|g| g == "ansible" || g == "pyinfra")
            || (groups.iter().any(|g| g == REAL_JOB) && cli.ansible_playbook.is_none());
        let peers = if wants_peers {
            Some(Peers::install(&work.join("venv"), &cli.python)?)
        } else {
            None
        };
        let label = cli.label.clone().unwrap_or_else(timestamp);
        let mut machine = machine_facts(&dtrplay);
        if let Some(baseline) = &cli.baseline {
            machine.push(("baseline binary".into(), baseline.display().to_string()));
        }
        machine.push((
            "delay proxy per direction".into(),
            match cli.delay_ms {
                Some(ms) => format!("{ms} ms (round trips counted at the proxy)"),
                None => "none (direct to the nodes)".into(),
            },
        ));
        machine.push((
            "facts gathered first".into(),
            if cli.facts { "yes" } else { "no" }.into(),
        ));
        machine.push((
            "inventory's ansible_ssh_common_args".into(),
            cli.common_args.to_string(),
        ));

        if let Some(p) = &peers {
            for (name, version) in &p.versions {
                machine.push((name.clone(), version.clone()));
            }
        }
        if let Some(ansible) = &cli.ansible_playbook {
            machine.push(("real job's ansible-playbook".into(), tool_version(ansible)));
        }
        // The widest fan-out needs descriptors past a login shell's soft
        // limit at N=500; raise it for this process and everything it starts.
        let fleet_groups = groups.iter().any(|g| g != REAL_JOB);
        let largest = cli
            .sizes
            .iter()
            .copied()
            .filter(|_| fleet_groups)
            .max()
            .unwrap_or(0);
        let lab_nodes = if groups.iter().any(|g| g == REAL_JOB) {
            cli.real_job_nodes
        } else {
            0
        };
        machine.extend(limits::prepare(largest.max(lab_nodes))?);
        let record = Record {
            label,
            command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
            machine,
            sizes: if fleet_groups {
                cli.sizes.clone()
            } else {
                Vec::new()
            },
            runs: cli.runs,
            dtrplay_forks: cli.forks.clone(),
            samples: Vec::new(),
            memory: Vec::new(),
            validate: None,
            real_job: Vec::new(),
        };
        Ok(Bench {
            cli,
            groups,
            dtrplay,
            scenario,
            peers,
            record,
            logs,
            counter: 0,
            proxy: None,
        })
    }

    fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    fn work(&self) -> PathBuf {
        self.scenario
            .dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn run(&mut self) -> Result<(), String> {
        if self.cli.validate_hosts > 0 {
            self.validate()?;
        }
        let fleet_groups = self.groups.iter().any(|g| g != REAL_JOB);
        let sizes = if fleet_groups {
            self.cli.sizes.clone()
        } else {
            Vec::new()
        };
        for n in sizes {
            for login in self.cli.login.clone() {
                let dir = match login {
                    Login::Root => self.work().join(format!("fleet-{n}")),
                    Login::Become => self.work().join(format!("fleet-{n}-become")),
                };
                let mut options = FleetOptions::new(&dir, n);
                options.isolation = Isolation::Namespaces;
                if login == Login::Become {
                    options.users = Some(Users::operator(&random_password()));
                }
                eprintln!("starting {n} nodes ({login} login)");
                let fleet = Fleet::start(&options).map_err(|e| e.to_string())?;
                ensure_loopback(&fleet)?;
                self.proxy = match self.cli.delay_ms {
                    Some(ms) => {
                        let sshds: Vec<std::net::SocketAddr> = fleet
                            .nodes()
                            .iter()
                            .map(|node| std::net::SocketAddr::new(node.host, node.port))
                            .collect();
                        Some(DelayProxy::start(&sshds, Duration::from_millis(ms))?)
                    }
                    None => None,
                };
                for kex in self.cli.kex.clone() {
                    let fronts = self.proxy.as_ref().map(|proxy| &proxy.fronts);
                    let files = scenario::fleet_files(
                        &fleet,
                        kex,
                        login,
                        self.cli.common_args,
                        fronts,
                        &dir,
                    )?;
                    let cell = Cell {
                        fleet: &fleet,
                        files,
                        n,
                        kex,
                        login,
                    };
                    self.cell(&cell)?;
                    self.save()?;
                }
                self.proxy = None;
                fleet.stop().map_err(|e| e.to_string())?;
            }
        }
        if self.wants(REAL_JOB) {
            self.real_job()?;
        }
        let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
        self.record
            .machine
            .push(("load average at the end".into(), load.trim().to_string()));
        let path = self.save()?;
        println!("{}", self.record.markdown());
        eprintln!("record written to {}", path.display());
        Ok(())
    }

    /// Writes the record so far; returns the markdown path.
    fn save(&self) -> Result<PathBuf, String> {
        fs::create_dir_all(&self.cli.out)
            .map_err(|e| format!("cannot create {}: {e}", self.cli.out.display()))?;
        let json = serde_json::to_string_pretty(&self.record).map_err(|e| e.to_string())?;
        let base = self.cli.out.join(&self.record.label);
        let json_path = base.with_extension("json");
        fs::write(&json_path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
        let md_path = base.with_extension("md");
        fs::write(&md_path, self.record.markdown())
            .map_err(|e| format!("cannot write {}: {e}", md_path.display()))?;
        Ok(md_path)
    }

    fn cell(&mut self, cell: &Cell) -> Result<(), String> {
        // The floor and memory are the root fleet's: `ssh true` costs the
        // same whoever logs in.
        let root = cell.login == Login::Root;
        if root && self.wants("floor") {
            self.floor_fresh(cell)?;
            self.floor_mux(cell)?;
        }
        if self.wants("cold") {
            for run in 0..self.cli.runs {
                scenario::reset(cell.fleet)?;
                self.dtrplay(cell, "dtrplay-cold-first", run, None, true)?;
                self.dtrplay(cell, "dtrplay-cold-second", run, None, false)?;
                if self.cli.baseline.is_some() {
                    scenario::reset(cell.fleet)?;
                    self.dtrplay(cell, "baseline-cold-first", run, None, true)?;
                    self.dtrplay(cell, "baseline-cold-second", run, None, false)?;
                }
            }
        }
        if self.wants("warm") {
            // The first run opens the masters that the timed runs reuse.
            scenario::reset(cell.fleet)?;
            self.dtrplay(cell, "dtrplay-warm-prime", 0, Some(PERSIST_SECONDS), true)?;
            for run in 0..self.cli.runs {
                scenario::reset(cell.fleet)?;
                self.dtrplay(cell, "dtrplay-warm-first", run, Some(PERSIST_SECONDS), true)?;
                self.dtrplay(
                    cell,
                    "dtrplay-warm-second",
                    run,
                    Some(PERSIST_SECONDS),
                    false,
                )?;
            }
            let stopped = stop_dtrplay_masters(&cell.files.inventory)?;
            eprintln!("  stopped {stopped} dtrplay masters");
        }
        if root && self.wants("memory") {
            scenario::reset(cell.fleet)?;
            self.dtrplay_memory(cell)?;
        }
        let peer_cell = cell.n <= self.cli.peer_max && self.cli.peer_kex.contains(&cell.kex);
        if peer_cell && self.wants("pyinfra") {
            for run in 0..self.cli.peer_runs {
                scenario::reset(cell.fleet)?;
                self.pyinfra(cell, "pyinfra-first", run)?;
                self.pyinfra(cell, "pyinfra-second", run)?;
            }
        }
        if peer_cell && cell.n <= self.cli.ansible_max && self.wants("ansible") {
            let control = self.work().join("acp");
            for run in 0..self.cli.peer_runs {
                peers::stop_masters(&control);
                scenario::reset(cell.fleet)?;
                self.ansible(cell, "ansible-first", run)?;
                self.ansible(cell, "ansible-second", run)?;
            }
            peers::stop_masters(&control);
        }
        Ok(())
    }

    fn next_paths(
        &mut self,
        what: &str,
        n: usize,
        kex: Kex,
    ) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        self.counter += 1;
        let base = self
            .logs
            .join(format!("{:04}-{what}-{n}-{kex}", self.counter));
        let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        (
            with("spec.json"),
            with("report.json"),
            with("out"),
            with("err"),
        )
    }

    fn floor_fresh(&mut self, cell: &Cell) -> Result<(), String> {
        let commands: Vec<Vec<String>> = cell
            .fleet
            .nodes()
            .iter()
            .map(|node| {
                argv(&[
                    "ssh",
                    "-F",
                    &cell.files.ssh_config.display().to_string(),
                    "-o",
                    "ControlMaster=no",
                    "-o",
                    "ControlPath=none",
                    &node.name,
                    "true",
                ])
            })
            .collect();
        for run in 0..self.cli.runs {
            self.fanout(cell, "floor-fresh", run, commands.clone(), true)?;
        }
        Ok(())
    }

    fn floor_mux(&mut self, cell: &Cell) -> Result<(), String> {
        let control = self.work().join("mux");
        fs::create_dir_all(&control).map_err(|e| e.to_string())?;
        peers::stop_masters(&control);
        let path = format!("ControlPath={}/%C", control.display());
        let config = cell.files.ssh_config.display().to_string();
        // Open one persistent master per node, all at once, untimed.
        let mut openers = Vec::new();
        for node in cell.fleet.nodes() {
            let child = Command::new("ssh")
                .args(["-F", &config, "-o", "ControlMaster=auto", "-o"])
                .arg(format!("ControlPersist={PERSIST_SECONDS}"))
                .args(["-o", &path, &node.name, "true"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run ssh: {e}"))?;
            openers.push(child);
        }
        for mut child in openers {
            let _ = child.wait();
        }
        let commands: Vec<Vec<String>> = cell
            .fleet
            .nodes()
            .iter()
            .map(|node| {
                argv(&[
                    "ssh",
                    "-F",
                    &config,
                    "-o",
                    "ControlMaster=no",
                    "-o",
                    &path,
                    &node.name,
                    "true",
                ])
            })
            .collect();
        for run in 0..self.cli.runs {
            self.fanout(cell, "floor-mux", run, commands.clone(), false)?;
        }
        peers::stop_masters(&control);
        Ok(())
    }

    /// Runs `commands` all at once and records the sample.
    fn fanout(
        &mut self,
        cell: &Cell,
        what: &'static str,
        run: usize,
        commands: Vec<Vec<String>>,
        closes: bool,
    ) -> Result<(), String> {
        let (spec_path, report, stdout, stderr) = self.next_paths(what, cell.n, cell.kex);
        let spec = Spec {
            commands,
            env: Vec::new(),
            cwd: None,
            stdout: Some(stdout),
            stderr: Some(stderr),
            stamp: false,
            report,
        };
        quiesce(cell.fleet, !closes);
        let before = server_cpu(cell.fleet);
        let measured = self.timed(&spec, &spec_path, false)?;
        let server_cpu_s = closes.then(|| {
            quiesce(cell.fleet, false);
            server_cpu(cell.fleet) - before
        });
        let usage = measured.usage;
        let problem = (usage.failures > 0).then(|| {
            format!(
                "{} of {} ssh commands failed ({})",
                usage.failures,
                usage.commands,
                usage.first_failure.clone().unwrap_or_default()
            )
        });
        self.push(Sample {
            what: cell.key(what),
            n: cell.n,
            kex: cell.kex,
            run,
            valid: problem.is_none(),
            problem,
            usage,
            server_cpu_s,
            phases: None,
            load: None,
            round_trips: None,
        });
        Ok(())
    }

    fn dtrplay_argv(&self, cell: &Cell, what: &str, persist: Option<u64>) -> Vec<String> {
        let program = match (&self.cli.baseline, what.starts_with("baseline-")) {
            (Some(baseline), true) => baseline,
            _ => &self.dtrplay,
        };
        let forks = if self.cli.forks == "n" {
            cell.n.to_string()
        } else {
            self.cli.forks.clone()
        };
        let mut argv = argv(&[
            &program.display().to_string(),
            "apply",
            &self.scenario.playbook.display().to_string(),
            "-i",
            &cell.files.inventory.display().to_string(),
            "--forks",
            &forks,
            "--output",
            "json",
        ]);
        match persist {
            Some(seconds) => {
                argv.push("--ssh-persist".into());
                argv.push(seconds.to_string());
            }
            None => {
                argv.push("--ssh-client".into());
                argv.push(self.cli.ssh_client.clone());
            }
        }
        argv
    }

    fn dtrplay(
        &mut self,
        cell: &Cell,
        what: &'static str,
        run: usize,
        persist: Option<u64>,
        expect_changes: bool,
    ) -> Result<(), String> {
        let (spec_path, report, stdout, stderr) = self.next_paths(what, cell.n, cell.kex);
        let spec = Spec {
            commands: vec![self.dtrplay_argv(cell, what, persist)],
            env: Vec::new(),
            cwd: None,
            stdout: Some(stdout.clone()),
            stderr: Some(stderr.clone()),
            stamp: true,
            report,
        };
        let warm = persist.is_some();
        quiesce(cell.fleet, warm);
        let before = server_cpu(cell.fleet);
        let measured = self.timed(&spec, &spec_path, false)?;
        let server_cpu_s = (!warm).then(|| {
            quiesce(cell.fleet, false);
            server_cpu(cell.fleet) - before
        });
        let events = fs::read_to_string(&stdout).unwrap_or_default();
        let (phases, recap_problem) =
            read_events(&events, cell.n, expect_changes, measured.usage.wall_s);
        let problem = self.judge(cell, &measured.usage, recap_problem, &stderr);
        if what == "dtrplay-warm-prime" {
            if let Some(p) = problem {
                return Err(format!("the run that opens the warm masters failed: {p}"));
            }
            return Ok(());
        }
        self.push(Sample {
            what: cell.key(what),
            n: cell.n,
            kex: cell.kex,
            run,
            valid: problem.is_none(),
            problem,
            usage: measured.usage,
            server_cpu_s,
            phases: Some(phases),
            load: None,
            round_trips: None,
        });
        Ok(())
    }

    /// Why a run does not count: its exit status, its reported changes, or
    /// any node's file.
    fn judge(
        &self,
        cell: &Cell,
        usage: &measure::Usage,
        reported: Option<String>,
        stderr: &Path,
    ) -> Option<String> {
        if usage.failures > 0 {
            let said = fs::read_to_string(stderr).unwrap_or_default();
            let tail: String = said.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
            return Some(format!(
                "exited with {}: {tail}",
                usage.first_failure.clone().unwrap_or_default()
            ));
        }
        if let Some(problem) = reported {
            return Some(problem);
        }
        let wrong = scenario::verify(cell.fleet, &self.scenario.ca);
        if let Some(first) = wrong.first() {
            return Some(format!("{} nodes wrong, e.g. {first}", wrong.len()));
        }
        None
    }

    fn dtrplay_memory(&mut self, cell: &Cell) -> Result<(), String> {
        let (spec_path, report, stdout, stderr) =
            self.next_paths("dtrplay-memory", cell.n, cell.kex);
        let spec = Spec {
            commands: vec![self.dtrplay_argv(cell, "dtrplay-memory", None)],
            env: Vec::new(),
            cwd: None,
            stdout: Some(stdout.clone()),
            stderr: Some(stderr.clone()),
            stamp: true,
            report,
        };
        quiesce(cell.fleet, false);
        let measured = self.timed(&spec, &spec_path, true)?;
        let events = fs::read_to_string(&stdout).unwrap_or_default();
        let (_, recap_problem) = read_events(&events, cell.n, true, measured.usage.wall_s);
        let problem = self.judge(cell, &measured.usage, recap_problem, &stderr);
        self.push_memory(cell, "dtrplay-cold-first", measured, problem);
        Ok(())
    }

    fn push_memory(
        &mut self,
        cell: &Cell,
        what: &'static str,
        measured: measure::Measured,
        problem: Option<String>,
    ) {
        let memory = measured.memory.unwrap_or_default();
        eprintln!(
            "  memory {what}: max RSS {:.1} MB, VmHWM {:.1} MB, tree PSS {:.1} MB ({} processes){}",
            measured.usage.max_rss_kb as f64 / 1024.0,
            memory.main_hwm_kb as f64 / 1024.0,
            memory.tree_pss_peak_kb as f64 / 1024.0,
            memory.tree_procs_peak,
            problem
                .as_deref()
                .map(|p| format!(" INVALID: {p}"))
                .unwrap_or_default()
        );
        self.record.memory.push(MemorySample {
            what,
            n: cell.n,
            kex: cell.kex,
            valid: problem.is_none(),
            usage: measured.usage,
            memory,
        });
    }

    fn pyinfra(&mut self, cell: &Cell, what: &'static str, run: usize) -> Result<(), String> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        let argv = argv(&[
            &peers.pyinfra().display().to_string(),
            "-y",
            "--parallel",
            &cell.n.to_string(),
            &cell.files.pyinfra_inventory.display().to_string(),
            &match cell.login {
                Login::Root => &self.scenario.deploy,
                Login::Become => &self.scenario.deploy_sudo,
            }
            .display()
            .to_string(),
        ]);
        let (spec_path, report, stdout, stderr) = self.next_paths(what, cell.n, cell.kex);
        let spec = Spec {
            commands: vec![argv],
            env: vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())],
            cwd: Some(self.scenario.dir.clone()),
            stdout: Some(stdout),
            stderr: Some(stderr.clone()),
            stamp: false,
            report,
        };
        // The first timed run also samples memory: its runs are long, and
        // the sampler costs well under 1 % of a core at its rate.
        let sample = run == 0
            && what == "pyinfra-first"
            && cell.login == Login::Root
            && self.wants("memory");
        quiesce(cell.fleet, false);
        let before = server_cpu(cell.fleet);
        let measured = self.timed(&spec, &spec_path, sample)?;
        quiesce(cell.fleet, false);
        let server_cpu_s = Some(server_cpu(cell.fleet) - before);
        let problem = self.judge(cell, &measured.usage, None, &stderr);
        if sample {
            self.push_memory(cell, what, measured.clone(), problem.clone());
        }
        self.push(Sample {
            what: cell.key(what),
            n: cell.n,
            kex: cell.kex,
            run,
            valid: problem.is_none(),
            problem,
            usage: measured.usage,
            server_cpu_s,
            phases: None,
            load: None,
            round_trips: None,
        });
        Ok(())
    }

    fn ansible(&mut self, cell: &Cell, what: &'static str, run: usize) -> Result<(), String> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        let work = self.work();
        let (_, env) = peers::ansible_config(&work, cell.n, &work.join("acp"))?;
        let argv = argv(&[
            &peers.ansible_playbook().display().to_string(),
            "-i",
            &cell.files.inventory.display().to_string(),
            &self.scenario.playbook.display().to_string(),
        ]);
        let (spec_path, report, stdout, stderr) = self.next_paths(what, cell.n, cell.kex);
        let spec = Spec {
            commands: vec![argv],
            env,
            cwd: Some(self.scenario.dir.clone()),
            stdout: Some(stdout.clone()),
            stderr: Some(stderr.clone()),
            stamp: false,
            report,
        };
        let sample = run == 0
            && what == "ansible-first"
            && cell.login == Login::Root
            && self.wants("memory");
        quiesce(cell.fleet, what == "ansible-second");
        let measured = self.timed(&spec, &spec_path, sample)?;
        let changed = peers::ansible_changed(&fs::read_to_string(&stdout).unwrap_or_default());
        let expect_changes = what == "ansible-first";
        let recap_problem = if changed.len() != cell.n {
            Some(format!(
                "the recap lists {} of {} hosts",
                changed.len(),
                cell.n
            ))
        } else if expect_changes && changed.contains(&0) {
            Some("a host reported no change on a first run".to_string())
        } else if !expect_changes && changed.iter().any(|&c| c > 0) {
            Some("a host reported changes on a second run".to_string())
        } else {
            None
        };
        let problem = self.judge(cell, &measured.usage, recap_problem, &stderr);
        if sample {
            self.push_memory(cell, what, measured.clone(), problem.clone());
        }
        self.push(Sample {
            what: cell.key(what),
            n: cell.n,
            kex: cell.kex,
            run,
            valid: problem.is_none(),
            problem,
            usage: measured.usage,
            // Ansible's masters outlive the run, so the nodes' sessions are
            // not reaped yet and their CPU cannot be attributed.
            server_cpu_s: None,
            phases: None,
            load: None,
            round_trips: None,
        });
        Ok(())
    }

    /// Measures one run; the proxy's round trips start counting here.
    fn timed(
        &self,
        spec: &Spec,
        spec_path: &Path,
        sample_memory: bool,
    ) -> Result<measure::Measured, String> {
        if let Some(proxy) = &self.proxy {
            proxy.take();
        }
        measure::measure(spec, spec_path, sample_memory)
    }

    fn push(&mut self, mut sample: Sample) {
        if let Some(proxy) = &self.proxy {
            sample.round_trips = Some(proxy.take() as f64 / sample.n.max(1) as f64);
        }
        // The machine is shared: every measurement carries the load it
        // was taken under (the 1-minute average as the run ended).
        sample.load = fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        let cpu = sample.usage.user_s + sample.usage.sys_s;
        eprintln!(
            "  N={} {} {} run {}: {:.3} s, client CPU {:.2} s{}{}",
            sample.n,
            sample.kex,
            sample.what,
            sample.run + 1,
            sample.usage.wall_s,
            cpu,
            sample
                .server_cpu_s
                .map(|s| format!(", server CPU {s:.2} s"))
                .unwrap_or_default(),
            sample
                .problem
                .as_deref()
                .map(|p| format!(" INVALID: {p}"))
                .unwrap_or_default()
        );
        self.record.samples.push(sample);
    }

    /// Times `dtrplay validate playbooks/integrate.yml` against a generated
    /// inventory of `--validate-hosts` hosts.
    fn validate(&mut self) -> Result<(), String> {
        let hosts = self.cli.validate_hosts;
        let dir = self.work().join("validate");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let inventory = dir.join(format!("inventory-{hosts}.yml"));
        fs::write(&inventory, validate_inventory(hosts)).map_err(|e| e.to_string())?;
        let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/integrate.yml");
        let argv = argv(&[
            &self.dtrplay.display().to_string(),
            "validate",
            &playbook.display().to_string(),
            "-i",
            &inventory.display().to_string(),
        ]);
        let mut timing = ValidateTiming {
            hosts,
            wall_s: Vec::new(),
            max_rss_kb: 0,
        };
        for _ in 0..VALIDATE_RUNS {
            let (spec_path, report, stdout, stderr) =
                self.next_paths("validate", hosts, Kex::Curve25519);
            let spec = Spec {
                commands: vec![argv.clone()],
                env: Vec::new(),
                cwd: None,
                stdout: Some(stdout),
                stderr: Some(stderr.clone()),
                stamp: false,
                report,
            };
            let usage = measure::measure(&spec, &spec_path, false)?.usage;
            if usage.failures > 0 {
                let said = fs::read_to_string(&stderr).unwrap_or_default();
                return Err(format!("dtrplay validate failed: {said}"));
            }
            timing.wall_s.push(usage.wall_s);
            timing.max_rss_kb = timing.max_rss_kb.max(usage.max_rss_kb);
        }
        if let Some(s) = stat::stat(&timing.wall_s) {
            eprintln!(
                "validate, {hosts} hosts: {:.1} ms median [{:.1}–{:.1}]",
                s.median * 1e3,
                s.min * 1e3,
                s.max * 1e3
            );
        }
        self.record.validate = Some(timing);
        Ok(())
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Refuses any node outside 127.0.0.0/8: the benchmark never reaches out.
fn ensure_loopback(fleet: &Fleet) -> Result<(), String> {
    for node in fleet.nodes() {
        let loopback = match node.host {
            IpAddr::V4(v4) => v4.octets()[0] == 127,
            IpAddr::V6(_) => false,
        };
        if !loopback {
            return Err(format!(
                "node {} is on {}, not a loopback address",
                node.name, node.host
            ));
        }
    }
    Ok(())
}

/// The CPU seconds the nodes' sshd listeners and the sessions they reaped
/// have used (`utime + stime + cutime + cstime` of `/proc/<pid>/stat`).
fn server_cpu(fleet: &Fleet) -> f64 {
    let ticks = measure::clock_ticks();
    let mut total = 0.0;
    for node in fleet.nodes() {
        if let Some(fields) = measure::read_stat(node.pid) {
            for index in 11..=14 {
                total += fields
                    .get(index)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
        }
    }
    total / ticks
}

/// Waits until the previous run has left the nodes: when no masters are
/// meant to stay, until no sshd listener has a child any more (its sessions
/// are over and reaped); otherwise briefly.
fn quiesce(fleet: &Fleet, masters_stay: bool) {
    if masters_stay {
        thread::sleep(Duration::from_millis(300));
        return;
    }
    let listeners: std::collections::HashSet<u32> = fleet.nodes().iter().map(|n| n.pid).collect();
    let deadline = Instant::now() + QUIET_TIMEOUT;
    while Instant::now() < deadline {
        let busy = measure::process_parents()
            .values()
            .any(|ppid| listeners.contains(ppid));
        if !busy {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("  (sessions still open on the nodes after {QUIET_TIMEOUT:?}; going on)");
}

/// Reads dtrplay's stamped JSON events: the phases of the run, and whether
/// its recap shows the expected changes on every host.
fn read_events(
    stamped: &str,
    n: usize,
    expect_changes: bool,
    wall_s: f64,
) -> (Phases, Option<String>) {
    let mut phases = Phases::default();
    let mut task_starts = Vec::new();
    let mut last_result = 0.0;
    let mut recap_at = None;
    let mut problem = Some("no recap in the event stream".to_string());
    for line in stamped.lines() {
        let Some((ms, json)) = line.split_once(' ') else {
            continue;
        };
        let (Ok(ms), Ok(event)) = (
            ms.parse::<f64>(),
            serde_json::from_str::<serde_json::Value>(json),
        ) else {
            continue;
        };
        match event["event"].as_str() {
            Some("run_start") => phases.startup_ms = ms,
            Some("task_start") => task_starts.push(ms),
            Some("host_result") => last_result = ms,
            Some("recap") => {
                recap_at = Some(ms);
                problem = judge_recap(&event["hosts"], n, expect_changes);
            }
            _ => {}
        }
    }
    for (i, start) in task_starts.iter().enumerate() {
        let end = task_starts.get(i + 1).copied().unwrap_or(last_result);
        phases.tasks_ms.push(end - start);
    }
    if let Some(recap) = recap_at {
        phases.close_ms = recap - last_result;
        phases.exit_ms = wall_s * 1000.0 - recap;
    }
    (phases, problem)
}

fn judge_recap(hosts: &serde_json::Value, n: usize, expect_changes: bool) -> Option<String> {
    let Some(hosts) = hosts.as_object() else {
        return Some("the recap has no hosts".into());
    };
    if hosts.len() != n {
        return Some(format!("the recap lists {} of {n} hosts", hosts.len()));
    }
    for (name, stats) in hosts {
        let count = |key: &str| stats[key].as_u64().unwrap_or(0);
        if count("failed") > 0 || count("unreachable") > 0 {
            return Some(format!("{name} failed or was unreachable"));
        }
        if expect_changes && count("changed") == 0 {
            return Some(format!("{name} reported no change on a first run"));
        }
        if !expect_changes && count("changed") > 0 {
            return Some(format!("{name} reported changes on a second run"));
        }
    }
    None
}

/// Stops the masters that warm runs kept, through dtrplay's own transport
/// (which knows their control paths), and returns how many were running.
fn stop_dtrplay_masters(inventory: &Path) -> Result<usize, String> {
    use dtrplay::connection::ssh::SshConnection;
    let inventory = dtrplay::inventory::Inventory::load(&[inventory.to_path_buf()])
        .map_err(|errors| format!("cannot load the inventory: {} problems", errors.len()))?;
    let options = dtrplay::executor::connect_options(
        Some(Duration::from_secs(PERSIST_SECONDS)),
        dtrplay::connection::SshClient::OpenSsh,
    )
    .map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    for host in inventory.hosts() {
        let target = inventory
            .target(host.name(), &inventory.host_vars(host.name()))
            .map_err(|e| e.to_string())?;
        targets.push(target);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let results = runtime.block_on(futures::future::join_all(
        targets
            .iter()
            .map(|t| SshConnection::stop_master(t, &options)),
    ));
    Ok(results
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count())
}

/// An inventory of `hosts` hosts with playbooks/integrate.yml's contract
/// variables (the shape of inventory/prod.yml). It is only validated, never
/// connected to; its addresses are loopback all the same.
fn validate_inventory(hosts: usize) -> String {
    let controllers = hosts.clamp(1, 3);
    let mut out = String::from(
        "# Written by the fleet benchmark for timing `dtrplay validate`.\nall:\n  children:\n    ucp:\n      children:\n        ucp_controllers:\n          hosts:\n",
    );
    for i in 0..hosts {
        if i == controllers {
            out.push_str("        ucp_workers:\n          hosts:\n");
        }
        let kind = if i < controllers { "ctl" } else { "wrk" };
        out.push_str(&format!(
            "            ucp-{kind}-{i}.example.com: {{ansible_host: 127.0.{}.{}}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    out.push_str(concat!(
        "      vars:\n",
        "        ansible_user: root\n",
        "        ucp_url: https://ucp.example.com\n",
        "        ucp_username: admin\n",
        "        ucp_password: \"{{ lookup('env', 'UCP_PASSWORD') }}\"\n",
        "        dtr_url: https://dtr.example.com\n",
        "        dtr_username: admin\n",
        "        dtr_password: \"{{ lookup('env', 'DTR_PASSWORD') }}\"\n",
        "        docker_certs_dir: /etc/docker/certs.d\n",
        "        push_test_repo: admin/hello-world\n",
    ));
    out
}

/// What the record says about the machine and the software.
fn machine_facts(dtrplay: &Path) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    facts.push(("CPU".into(), cpu));
    let cores = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    facts.push(("cores".into(), cores.to_string()));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    facts.push(("kernel".into(), kernel.trim().to_string()));
    let ssh = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    facts.push(("OpenSSH".into(), ssh));
    let commit = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    facts.push(("dtrplay commit".into(), commit));
    facts.push(("dtrplay binary".into(), dtrplay.display().to_string()));
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    facts.push(("load average at the start".into(), load.trim().to_string()));
    facts
}

/// The first line of `<program> --version`, for the record.
fn tool_version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            format!(
                "{} ({})",
                text.lines().next().unwrap_or("").trim(),
                program.display()
            )
        })
        .unwrap_or_else(|e| format!("cannot run {}: {e}", program.display()))
}

/// `YYYY-MM-DDTHHMMZ`, for the record's default name.
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}
