//! The lab's background life: `lab up` starts `lab serve` detached and waits
//! until every part answers, `lab serve` runs a [`Lab`] until SIGTERM or
//! SIGINT, `lab status` probes what `lab.json` records, and `lab down` stops
//! exactly the recorded processes.
//!
//! `lab.json` is the only link between these processes. Before any signal
//! is sent to a recorded pid, its `/proc/<pid>/cmdline` is checked (for
//! `lab serve --dir <dir>`, or for sshd with the node's config), so a pid
//! reused by an unrelated process is never touched.

pub mod cluster;
pub mod process;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::join_all;

use crate::cli::{LabFlavor, LabUpArgs};
use crate::node::has_banner;
use crate::state::{
    CONFIG_FILE, LabConfig, LabState, STATE_FILE, read_json, write_atomic, write_json,
};
use crate::{Flavor, LabError};

pub use cluster::{Lab, LabOptions};

/// The log `lab serve` writes (its stdout and stderr).
pub const LOG_FILE: &str = "lab.log";
/// `lab serve`'s pid, present from its first moment to its exit, so that a
/// lab still starting (no `lab.json` yet) can be found and stopped too.
pub const PID_FILE: &str = "serve.pid";

/// How long `lab up` waits for every part to answer.
const UP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `lab down` waits for `lab serve` to stop on SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether `pid` is the `lab serve` of `dir`.
fn is_serve_of(pid: u32, dir: &Path) -> bool {
    let dir = dir.display().to_string();
    process::cmdline_matches(pid, &["lab", "serve", &dir])
}

/// The running lab's state, or `None` if no live `lab serve` owns `dir`.
fn running(dir: &Path) -> Result<Option<LabState>, LabError> {
    let Some(state) = read_json::<LabState>(&dir.join(STATE_FILE))? else {
        return Ok(None);
    };
    if is_serve_of(state.serve_pid, dir) {
        return Ok(Some(state));
    }
    Ok(None)
}

/// The pid of a `lab serve` of `dir` that is alive but may not have
/// recorded its state yet.
fn serving_pid(dir: &Path) -> Option<u32> {
    let pid = fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_serve_of(pid, dir).then_some(pid)
}

/// Removes `serve.pid` when `lab serve` ends, however it ends.
struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The `lab serve` that `lab up` waits for.
enum Server {
    /// Started by this `lab up`: its exit status is known.
    Started(std::process::Child),
    /// Started earlier and still starting.
    Found(u32),
}

fn resolve_dir(dir: &Path, create: bool) -> Result<PathBuf, LabError> {
    if create {
        fs::create_dir_all(dir).map_err(|source| LabError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    fs::canonicalize(dir).map_err(|source| LabError::Io {
        action: "resolve",
        path: dir.to_path_buf(),
        source,
    })
}

/// `dtrplay lab up`.
pub async fn up(args: &LabUpArgs) -> Result<ExitCode, LabError> {
    cluster::check_shape(args.nodes, args.controllers)?;
    let dir = resolve_dir(&args.dir, true)?;
    let flavor = match args.flavor {
        LabFlavor::Ucp1 => Flavor::Ucp1,
        LabFlavor::Ucp3 => Flavor::Ucp3,
    };
    if let Some(state) = running(&dir)? {
        let controllers = state
            .nodes
            .iter()
            .filter(|n| n.role == crate::state::Role::Controller)
            .count();
        let with_containerd = state.nodes.iter().any(|n| n.containerd_pid.is_some());
        let shape = |flavor: Flavor, nodes: usize, controllers: usize, containerd: bool| {
            format!(
                "{} with {nodes} node(s), {controllers} controller(s){}",
                flavor.as_str(),
                if containerd { ", containerd" } else { "" }
            )
        };
        // Carrying on with the running lab would rehearse something other
        // than what was asked for, and look like success.
        if state.flavor != flavor
            || state.nodes.len() != args.nodes
            || controllers != args.controllers
            || with_containerd != args.containerd
        {
            return Err(LabError::OtherSettings {
                dir,
                pid: state.serve_pid,
                running: shape(
                    state.flavor,
                    state.nodes.len(),
                    controllers,
                    with_containerd,
                ),
                asked: shape(flavor, args.nodes, args.controllers, args.containerd),
            });
        }
        let login = |user: &str, sudo: crate::users::Sudo| match (user, sudo) {
            ("root", _) => "nodes reached as root".to_string(),
            (user, crate::users::Sudo::Nopasswd) => format!("nodes reached as {user}"),
            (user, crate::users::Sudo::Password) => {
                format!("nodes reached as {user} with --sudo password")
            }
        };
        if let Some(config) = read_json::<LabConfig>(&dir.join(CONFIG_FILE))? {
            let asked_user = args.login_user.clone().unwrap_or_else(default_login_user);
            let running = login(&config.login.user, config.login.sudo);
            let asked = login(&asked_user, sudo(args.sudo));
            if running != asked {
                return Err(LabError::OtherSettings {
                    dir,
                    pid: state.serve_pid,
                    running,
                    asked,
                });
            }
        }
        println!(
            "A lab is already running in {} (lab serve pid {}).",
            dir.display(),
            state.serve_pid
        );
        let parts = probe(&state).await;
        print_parts(&state, &parts);
        print_next_steps(&state);
        return Ok(ExitCode::SUCCESS);
    }
    let log_path = dir.join(LOG_FILE);
    if let Some(pid) = serving_pid(&dir) {
        println!(
            "A lab is starting in {} (lab serve pid {pid}); waiting for it.",
            dir.display()
        );
        let offset = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        return wait_up(&dir, Server::Found(pid), &log_path, offset).await;
    }
    let stale = dir.join(STATE_FILE);
    if stale.exists() {
        fs::remove_file(&stale).map_err(|source| LabError::Io {
            action: "remove",
            path: stale.clone(),
            source,
        })?;
    }
    let config_path = dir.join(CONFIG_FILE);
    let mut config = match read_json::<LabConfig>(&config_path)? {
        // A kept lab directory keeps its passwords.
        Some(old) => LabConfig {
            flavor,
            nodes: args.nodes,
            controllers: args.controllers,
            ..old
        },
        None => LabConfig::new(flavor, args.nodes, args.controllers),
    };
    config.login.user = match &args.login_user {
        Some(user) => user.clone(),
        None => default_login_user(),
    };
    config.login.sudo = sudo(args.sudo);
    config.containerd = args.containerd;
    if config.login.password.is_empty() {
        config.login.password = crate::state::random_password();
    }
    write_json(&config_path, &config)?;

    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| LabError::Io {
            action: "open",
            path: log_path.clone(),
            source,
        })?;
    let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let stdout = log.try_clone().map_err(|source| LabError::Io {
        action: "open",
        path: log_path.clone(),
        source,
    })?;
    // `setsid` puts `lab serve` in its own session, so it survives this
    // command and the terminal; it execs in place, so the child's pid is
    // the server's.
    let command = format!("setsid {} lab serve --dir {}", exe.display(), dir.display());
    let child = Command::new("setsid")
        .arg(&exe)
        .args(["lab", "serve", "--dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .spawn()
        .map_err(|source| LabError::Spawn { command, source })?;
    wait_up(&dir, Server::Started(child), &log_path, offset).await
}

fn sudo(asked: crate::cli::LabSudo) -> crate::users::Sudo {
    match asked {
        crate::cli::LabSudo::Nopasswd => crate::users::Sudo::Nopasswd,
        crate::cli::LabSudo::Password => crate::users::Sudo::Password,
    }
}

/// Whom the nodes are reached as without `--login-user`: a login user of
/// their own with sudo, as production nodes, where the lab can give them
/// accounts (it runs as root); otherwise the user running the lab, the only
/// account its nodes can have (recorded as `root`, which means "no
/// accounts of their own").
fn default_login_user() -> String {
    if nix::unistd::geteuid().is_root() {
        crate::users::LOGIN_USER.to_string()
    } else {
        "root".to_string()
    }
}

/// Waits until the lab in `dir` records its state and every part answers.
async fn wait_up(
    dir: &Path,
    mut server: Server,
    log_path: &Path,
    offset: u64,
) -> Result<ExitCode, LabError> {
    let not_up = |reason: String| LabError::NotUp {
        dir: dir.to_path_buf(),
        reason,
        log: log_path.to_path_buf(),
        tail: log_tail(log_path, offset),
    };
    let deadline = Instant::now() + UP_TIMEOUT;
    loop {
        match &mut server {
            Server::Started(child) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(not_up(format!("lab serve exited ({status})")));
                }
            }
            Server::Found(pid) => {
                if !is_serve_of(*pid, dir) && running(dir)?.is_none() {
                    return Err(not_up(format!("lab serve (pid {pid}) exited")));
                }
            }
        }
        if let Some(state) = running(dir)? {
            let parts = probe(&state).await;
            if parts.iter().all(|p| p.up) {
                println!("The lab is up in {}.", dir.display());
                print_parts(&state, &parts);
                if let Some(warning) = &state.engine_warning {
                    eprintln!(
                        "\nWARNING: the nodes run NO real Docker engine: {warning}.\nEvery docker command on the nodes will fail."
                    );
                }
                print_next_steps(&state);
                if let Some(proxy) = &state.https_proxy {
                    println!(
                        "UCP and DTR answer by their lab names through the lab's proxy; in a shell: . {}/env.sh (HTTPS_PROXY={proxy})",
                        state.dir.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if Instant::now() >= deadline {
                let down: Vec<String> = parts
                    .iter()
                    .filter(|p| !p.up)
                    .map(|p| p.name.clone())
                    .collect();
                return Err(not_up(format!(
                    "these parts do not answer: {}",
                    down.join(", ")
                )));
            }
        } else if Instant::now() >= deadline {
            return Err(not_up("lab serve never recorded its state".to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_next_steps(state: &LabState) {
    let config = state.inventory.parent().and_then(|dir| {
        read_json::<LabConfig>(&dir.join(CONFIG_FILE))
            .ok()
            .flatten()
    });
    if let Some(login) = config.map(|c| c.login) {
        println!();
        match (login.user.as_str(), login.sudo) {
            ("root", _) => println!("Nodes: SSH logs in as root."),
            (user, crate::users::Sudo::Nopasswd) => println!(
                "Nodes: SSH logs in as {user} (root login refused); sudo needs no password."
            ),
            (user, crate::users::Sudo::Password) => println!(
                "Nodes: SSH logs in as {user} (root login refused); sudo asks for {user}'s password: {} (ansible_become_password in the inventory).",
                login.password
            ),
        }
    }
    println!();
    println!("Inventory: {}", state.inventory.display());
    println!(
        "Next: dtrplay apply playbooks/integrate.yml -i {}",
        state.inventory.display()
    );
}

/// `dtrplay lab serve`: runs the lab in the foreground until SIGTERM/SIGINT.
pub async fn serve(dir: &Path) -> Result<ExitCode, LabError> {
    use tokio::signal::unix::{SignalKind, signal};

    let dir = resolve_dir(dir, true)?;
    if let Some(state) = running(&dir)? {
        return Err(LabError::AlreadyRunning {
            dir,
            pid: state.serve_pid,
        });
    }
    if let Some(pid) = serving_pid(&dir) {
        return Err(LabError::AlreadyRunning { dir, pid });
    }
    let pid_path = dir.join(PID_FILE);
    write_atomic(&pid_path, std::process::id().to_string().as_bytes(), 0o644)?;
    let _pid_file = PidFile(pid_path);
    let config_path = dir.join(CONFIG_FILE);
    let config = match read_json::<LabConfig>(&config_path)? {
        Some(config) => config,
        None => {
            let config = LabConfig::new(Flavor::Ucp1, 3, 1);
            write_json(&config_path, &config)?;
            config
        }
    };
    // Listen for signals before starting anything, so a `lab down` racing
    // with the start still stops what was started.
    let mut terminate = signal(SignalKind::terminate()).map_err(LabError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(LabError::Signal)?;

    let exe = std::env::current_exe().map_err(LabError::Exe)?;
    let options = LabOptions {
        dir: dir.clone(),
        config,
        dtrplay: exe,
        isolation: crate::node::Isolation::Auto,
        engines: true,
        names: true,
    };
    println!(
        "lab serve: starting the lab in {} (pid {})",
        dir.display(),
        std::process::id()
    );
    let lab = Lab::start(&options).await?;
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Some(warning) = lab.engine_warning() {
        println!("lab serve: WARNING: the nodes run no real Docker engine: {warning}");
    }
    let state = lab.state(std::process::id(), started_at);
    write_json(&dir.join(STATE_FILE), &state)?;
    println!(
        "lab serve: UCP {} DTR {} nodes {}",
        state.ucp.url,
        state.dtr.url,
        state
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.name, n.address()))
            .collect::<Vec<_>>()
            .join(" ")
    );

    tokio::select! {
        _ = terminate.recv() => println!("lab serve: SIGTERM, stopping"),
        _ = interrupt.recv() => println!("lab serve: SIGINT, stopping"),
    }
    let _ = fs::remove_file(dir.join(STATE_FILE));
    lab.stop().await?;
    println!("lab serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// One probed part of a lab.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub address: String,
    pub detail: String,
    pub up: bool,
}

/// Probes UCP (`/_ping`), DTR (`/health`) and every node's SSH banner.
pub async fn probe(state: &LabState) -> Vec<Part> {
    let ucp = https_ok(&state.ucp, "/_ping", &state.ucp_ca_file);
    let dtr = https_ok(&state.dtr, "/health", &state.dtr_ca_file);
    let nodes = join_all(state.nodes.iter().map(|n| {
        let addr = n.address();
        async move {
            tokio::task::spawn_blocking(move || has_banner(addr))
                .await
                .unwrap_or(false)
        }
    }));
    let (ucp, dtr, nodes) = tokio::join!(ucp, dtr, nodes);
    let mut parts = vec![
        Part {
            name: "ucp".into(),
            address: state.ucp.url.clone(),
            detail: "UCP".into(),
            up: ucp,
        },
        Part {
            name: "dtr".into(),
            address: state.dtr.url.clone(),
            detail: "DTR".into(),
            up: dtr,
        },
    ];
    for (node, up) in state.nodes.iter().zip(nodes) {
        parts.push(Part {
            name: node.name.clone(),
            address: node.address().to_string(),
            detail: match node.role {
                crate::state::Role::Controller => "controller".into(),
                crate::state::Role::Worker => "worker".into(),
            },
            up,
        });
    }
    parts
}

/// Whether `GET <url><path>` answers 2xx over TLS verified with `ca_file`.
/// A lab name in the URL is connected to the endpoint's address directly
/// (the certificate is still checked for the name).
async fn https_ok(endpoint: &crate::state::Endpoint, path: &str, ca_file: &Path) -> bool {
    let base = &endpoint.url;
    let Ok(pem) = fs::read(ca_file) else {
        return false;
    };
    let Ok(ca) = reqwest::Certificate::from_pem(&pem) else {
        return false;
    };
    dtrplay_tls::install_provider();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .timeout(Duration::from_secs(3));
    if let Some((name, _)) = endpoint.host.rsplit_once(':')
        && name.parse::<std::net::IpAddr>().is_err()
    {
        builder = builder.resolve(name, endpoint.addr);
    }
    let Ok(client) = builder.build() else {
        return false;
    };
    match client.get(format!("{base}{path}")).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

fn print_parts(state: &LabState, parts: &[Part]) {
    let flavor = match state.flavor {
        Flavor::Ucp1 => "ucp1",
        Flavor::Ucp3 => "ucp3",
    };
    println!("Flavor {flavor}, served by pid {}:", state.serve_pid);
    let width = parts.iter().map(|p| p.address.len()).max().unwrap_or(0);
    for part in parts {
        println!(
            "  {:<8} {:<width$}  {:<4}  {}",
            part.name,
            part.address,
            if part.up { "up" } else { "DOWN" },
            part.detail,
        );
    }
}

/// `dtrplay lab status`: exit 0 only if every part answers.
pub async fn status(dir: &Path) -> Result<ExitCode, LabError> {
    let Ok(dir) = resolve_dir(dir, false) else {
        println!("No lab in {}.", dir.display());
        return Ok(ExitCode::FAILURE);
    };
    let Some(state) = read_json::<LabState>(&dir.join(STATE_FILE))? else {
        match serving_pid(&dir) {
            Some(pid) => println!(
                "A lab is starting in {} (lab serve pid {pid}); it does not answer yet.",
                dir.display()
            ),
            None => println!("No lab is running in {}.", dir.display()),
        }
        return Ok(ExitCode::FAILURE);
    };
    let serving = is_serve_of(state.serve_pid, &dir);
    println!(
        "Lab in {}: lab serve (pid {}) is {}.",
        dir.display(),
        state.serve_pid,
        if serving { "running" } else { "NOT running" }
    );
    let parts = probe(&state).await;
    print_parts(&state, &parts);
    println!("Inventory: {}", state.inventory.display());
    if serving && parts.iter().all(|p| p.up) {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::FAILURE)
}

/// `dtrplay lab down`: stops exactly the recorded processes, waits until
/// they are gone and their ports are closed, then removes the directory
/// unless `keep`.
pub async fn down(dir: &Path, keep: bool) -> Result<ExitCode, LabError> {
    let Ok(dir) = resolve_dir(dir, false) else {
        println!("No lab in {}; nothing to stop.", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let looks_like_lab = dir.join(CONFIG_FILE).exists() || dir.join(STATE_FILE).exists();
    if !looks_like_lab {
        return Err(LabError::NotALabDir { dir });
    }
    let state = read_json::<LabState>(&dir.join(STATE_FILE))?;
    if let Some(state) = &state {
        stop_recorded(&dir, state).await?;
        println!(
            "Stopped the lab in {} (lab serve pid {}).",
            dir.display(),
            state.serve_pid
        );
    } else if let Some(pid) = serving_pid(&dir) {
        stop_serve(&dir, pid).await?;
        let left = process::wait_gone(&[pid], Duration::from_secs(5));
        if !left.is_empty() {
            return Err(LabError::Survivors { pids: left });
        }
        println!(
            "Stopped the lab starting in {} (lab serve pid {pid}).",
            dir.display()
        );
    } else {
        println!("No lab is running in {}.", dir.display());
    }
    if keep {
        let _ = fs::remove_file(dir.join(STATE_FILE));
        println!("Kept {}.", dir.display());
    } else {
        fs::remove_dir_all(&dir).map_err(|source| LabError::Io {
            action: "remove",
            path: dir.clone(),
            source,
        })?;
        println!("Removed {}.", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends SIGTERM to the `lab serve` of `dir` and waits for it to stop
/// everything it started; one that ignores SIGTERM for too long is killed
/// with its whole process tree.
async fn stop_serve(dir: &Path, serve: u32) -> Result<(), LabError> {
    if !is_serve_of(serve, dir) {
        return Ok(());
    }
    process::terminate(serve).map_err(|e| LabError::Kill {
        pid: serve,
        source: e,
    })?;
    // A server still starting handles SIGTERM once its start is over.
    let timeout = STOP_TIMEOUT + UP_TIMEOUT;
    let left = tokio::task::spawn_blocking(move || process::wait_gone(&[serve], timeout))
        .await
        .map_err(|e| LabError::Task(e.to_string()))?;
    // The cmdline check is repeated because time has passed.
    if !left.is_empty() && is_serve_of(serve, dir) {
        process::kill_tree(serve).map_err(|e| LabError::Kill {
            pid: serve,
            source: e,
        })?;
    }
    Ok(())
}

async fn stop_recorded(dir: &Path, state: &LabState) -> Result<(), LabError> {
    let serve = state.serve_pid;
    stop_serve(dir, serve).await?;
    let mut pids = vec![serve];
    for node in &state.nodes {
        pids.extend(crate::engine::stop_recorded(&node.root));
        pids.extend(crate::containerd::stop_recorded(
            &node.root,
            node.containerd_pid,
        ));
        let config = node.root.join("sshd_config").display().to_string();
        if process::cmdline_matches(node.pid, &["sshd", &config]) {
            let killed = process::kill_tree(node.pid).map_err(|e| LabError::Kill {
                pid: node.pid,
                source: e,
            })?;
            pids.extend(killed);
        } else {
            pids.push(node.pid);
        }
    }
    let pids_for_wait = pids.clone();
    let left = tokio::task::spawn_blocking(move || {
        process::wait_gone(&pids_for_wait, Duration::from_secs(10))
    })
    .await
    .map_err(|e| LabError::Task(e.to_string()))?;
    // Only processes that are still ours count; a reused pid is not.
    let ours: Vec<u32> = left
        .into_iter()
        .filter(|&pid| {
            is_serve_of(pid, dir)
                || state.nodes.iter().any(|n| {
                    n.pid == pid
                        && process::cmdline_matches(
                            pid,
                            &["sshd", &n.root.join("sshd_config").display().to_string()],
                        )
                })
        })
        .collect();
    if !ours.is_empty() {
        return Err(LabError::Survivors { pids: ours });
    }
    let mut addresses: Vec<SocketAddr> = vec![state.ucp.addr, state.dtr.addr];
    addresses.extend(state.nodes.iter().map(|n| n.address()));
    let open =
        tokio::task::spawn_blocking(move || wait_closed(&addresses, Duration::from_secs(10)))
            .await
            .map_err(|e| LabError::Task(e.to_string()))?;
    if !open.is_empty() {
        return Err(LabError::PortsOpen { addresses: open });
    }
    Ok(())
}

/// Waits until nothing accepts connections on `addresses`; returns those
/// still open at the deadline.
fn wait_closed(addresses: &[SocketAddr], timeout: Duration) -> Vec<SocketAddr> {
    let deadline = Instant::now() + timeout;
    loop {
        let open: Vec<SocketAddr> = addresses
            .iter()
            .copied()
            .filter(|a| {
                a.port() != 0 && TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok()
            })
            .collect();
        if open.is_empty() || Instant::now() >= deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The log written since `offset`, at most its last 30 lines.
fn log_tail(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    let read = File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read_to_string(&mut text)
    });
    if read.is_err() {
        return "(no log)".to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
