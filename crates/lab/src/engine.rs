//! Real Docker engines on the lab's nodes: one `dockerd` per node, from
//! Debian's `docker.io` package, inside that node's own filesystem view.
//!
//! Each engine is started with `nsenter --mount` into the mount namespace of
//! its node's sshd (see `node.rs`), so it sees exactly what the node's
//! sessions see: the node's private `/etc/docker` (where it reads
//! `certs.d/` and writes `key.json`) and the node's private `/run`, which
//! holds its socket (`/run/docker.sock`, the default, so `docker` on the
//! node needs no `DOCKER_HOST`, with `/usr/local/bin/docker` and
//! `/usr/bin/docker` alike, under `sudo` too), its pidfile, its exec root
//! and the containerd it starts for itself. Its data root is the node's
//! `docker/` directory on the control machine. The command line is the one
//! measured to work on this kind of machine (real-world-facts.md §1): no
//! iptables, no bridge, the `vfs` storage driver, which needs no kernel
//! support and mounts nothing.
//!
//! nsenter does not fork for a mount namespace, so the pid we hold is
//! dockerd's own. An engine outlives its node's sshd (a stopped and
//! restarted node keeps its engine: the socket lives in the node's backing
//! directory, which the new namespace binds again), and is stopped by
//! [`Engines::stop`] or, after a crash of `lab serve`, by [`stop_recorded`]
//! from its pidfile.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::daemon::process;
use crate::node::Node;

/// Where Debian's `docker.io` installs the daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";

/// The node's engine socket, as the node sees it.
pub const NODE_SOCKET: &str = SOCKET;
/// The node's socket, pidfile and exec root, as the node sees them.
const SOCKET: &str = "/run/docker.sock";
const PIDFILE: &str = "/run/docker.pid";
const EXEC_ROOT: &str = "/run/docker";

/// The PATH dockerd runs with: it finds `containerd`, `runc` and
/// `docker-init` there.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How many times an engine is started before its failure counts.
const START_ATTEMPTS: u32 = 3;

/// What dockerd says when its containerd did not come up in time.
const CONTAINERD_TIMEOUT: &str = "timeout waiting for containerd to start";

/// How the engines are started.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `vfs` (works everywhere) or `overlay2`.
    pub storage_driver: String,
    /// `http://host:port` of the lab's CONNECT proxy, given to dockerd as
    /// `HTTPS_PROXY`, so that it reaches registries by their lab names.
    pub https_proxy: Option<String>,
    /// How long each engine gets to answer `GET /_ping` on its socket.
    pub startup_timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            storage_driver: "vfs".to_string(),
            https_proxy: None,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// Why an engine could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "{DOCKERD} is missing: install Debian's docker.io (`./scripts/prepare` does) to give the lab's nodes real Docker engines"
    )]
    NoDockerd,
    #[error(
        "node {node} has no private filesystem view (the lab runs without root), so it cannot have its own Docker engine"
    )]
    NotIsolated { node: String },
    #[error("node {node}: cannot {action} {path}: {source}")]
    Io {
        node: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}: cannot run `{command}`: {source}")]
    Spawn {
        node: String,
        command: String,
        source: std::io::Error,
    },
    #[error(
        "node {node}: dockerd exited ({status}) before answering on its socket\ncommand: {command}\ndockerd said:\n{log}"
    )]
    Exited {
        node: String,
        status: std::process::ExitStatus,
        command: String,
        log: String,
    },
    #[error(
        "node {node}: dockerd did not answer on {socket} within {timeout:?}\ncommand: {command}\ndockerd said:\n{log}"
    )]
    NoAnswer {
        node: String,
        socket: PathBuf,
        timeout: Duration,
        command: String,
        log: String,
    },
    #[error("node {node}: cannot stop dockerd (pid {pid}): {source}")]
    Kill {
        node: String,
        pid: u32,
        source: nix::errno::Errno,
    },
    #[error("node {node}: dockerd processes {pids:?} are still alive after SIGKILL")]
    Survivors { node: String, pids: Vec<u32> },
}

/// Whether this machine can run the lab's engines: root (for the nodes'
/// mount namespaces) and dockerd installed.
pub fn available() -> Result<(), EngineError> {
    if !Path::new(DOCKERD).exists() {
        return Err(EngineError::NoDockerd);
    }
    Ok(())
}

/// The control-side path of a node's engine socket.
pub fn socket_path(root: &Path) -> PathBuf {
    crate::node::backing_path(root, SOCKET)
}

/// The node's engine data root (on the control machine; the node sees the
/// same path).
pub fn data_root(root: &Path) -> PathBuf {
    root.join("docker")
}

/// One node's running engine.
#[derive(Debug)]
struct Engine {
    node: String,
    root: PathBuf,
    child: Option<Child>,
    command: String,
    log: PathBuf,
}

/// The lab's engines, one per node. Dropping them stops every dockerd.
#[derive(Debug)]
pub struct Engines {
    engines: Vec<Engine>,
}

impl Engines {
    /// Starts one dockerd per node, all at once, and waits until each
    /// answers on its socket. On failure, the engines already started are
    /// stopped again.
    pub fn start(nodes: &[Node], opts: &EngineOptions) -> Result<Engines, EngineError> {
        available()?;
        let mut engines = Engines {
            engines: Vec::new(),
        };
        let mut offsets = Vec::new();
        for node in nodes {
            if !node.isolated {
                return Err(EngineError::NotIsolated {
                    node: node.name.clone(),
                });
            }
            let (engine, offset) = spawn(node, opts)?;
            engines.engines.push(engine);
            offsets.push(offset);
        }
        for (index, mut offset) in offsets.into_iter().enumerate() {
            // On a machine that is very busy, the containerd that dockerd
            // starts for itself can miss dockerd's fixed start-up deadline;
            // dockerd then exits and a second attempt usually succeeds.
            let mut attempts = 1;
            loop {
                match engines.wait_ready(index, offset, opts.startup_timeout) {
                    Ok(()) => break,
                    Err(EngineError::Exited { log, .. })
                        if attempts < START_ATTEMPTS && log.contains(CONTAINERD_TIMEOUT) =>
                    {
                        attempts += 1;
                        let (engine, again) = spawn(&nodes[index], opts)?;
                        engines.engines[index] = engine;
                        offset = again;
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(engines)
    }

    /// The pid of each node's dockerd, by node name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.engines
            .iter()
            .filter_map(|e| e.child.as_ref().map(|c| (e.node.clone(), c.id())))
            .collect()
    }

    /// Stops every engine and reports the first failure.
    pub fn stop(mut self) -> Result<(), EngineError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), EngineError> {
        // Ask all of them first, so that their shutdowns overlap.
        for engine in &self.engines {
            if let Some(child) = &engine.child {
                let _ = process::terminate(child.id());
            }
        }
        let mut first = None;
        for engine in &mut self.engines {
            if let Err(err) = engine.stop()
                && first.is_none()
            {
                first = Some(err);
            }
        }
        match first {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn wait_ready(
        &mut self,
        index: usize,
        offset: u64,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let socket = socket_path(&self.engines[index].root);
        let deadline = Instant::now() + timeout;
        loop {
            let engine = &mut self.engines[index];
            if let Some(child) = engine.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                engine.child = None;
                return Err(EngineError::Exited {
                    node: engine.node.clone(),
                    status,
                    command: engine.command.clone(),
                    log: log_since(&engine.log, offset),
                });
            }
            if pings(&socket) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = engine.stop();
                return Err(EngineError::NoAnswer {
                    node: engine.node.clone(),
                    socket,
                    timeout,
                    command: engine.command.clone(),
                    log: log_since(&engine.log, offset),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `Engines::stop` reports them.
        let _ = self.stop_all();
    }
}

impl Engine {
    /// SIGTERM (dockerd then stops its containers and its containerd), and
    /// SIGKILL for the whole tree if it is not gone within ten seconds.
    fn stop(&mut self) -> Result<(), EngineError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        let _ = process::terminate(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let killed = process::kill_tree(pid).map_err(|source| EngineError::Kill {
            node: self.node.clone(),
            pid,
            source,
        })?;
        let _ = child.wait();
        let survivors = process::wait_gone(&killed, Duration::from_secs(10));
        if !survivors.is_empty() {
            return Err(EngineError::Survivors {
                node: self.node.clone(),
                pids: survivors,
            });
        }
        Ok(())
    }
}

/// The dockerd command line for `node`, program first.
fn command_line(node: &Node, opts: &EngineOptions) -> Vec<String> {
    vec![
        "nsenter".to_string(),
        format!("--target={}", node.pid),
        "--mount".to_string(),
        "--".to_string(),
        DOCKERD.to_string(),
        "--iptables=false".to_string(),
        "--ip6tables=false".to_string(),
        "--bridge=none".to_string(),
        format!("--storage-driver={}", opts.storage_driver),
        format!("--data-root={}", data_root(&node.root).display()),
        format!("--exec-root={EXEC_ROOT}"),
        format!("--host=unix://{SOCKET}"),
        format!("--pidfile={PIDFILE}"),
    ]
}

/// Starts the node's dockerd; returns it with the length of its log before
/// the start, so that errors quote only this run's output.
fn spawn(node: &Node, opts: &EngineOptions) -> Result<(Engine, u64), EngineError> {
    let io = |action, path: &Path| {
        let node = node.name.clone();
        let path = path.to_path_buf();
        move |source| EngineError::Io {
            node,
            action,
            path,
            source,
        }
    };
    let data = data_root(&node.root);
    fs::create_dir_all(&data).map_err(io("create", &data))?;
    let log = node.root.join("dockerd.log");
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io("open", &log))?;
    let offset = out.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = writeln!(out, "--- dtrplay lab: starting the engine of {}", node.name);
    let err = out.try_clone().map_err(io("open", &log))?;
    let argv = command_line(node, opts);
    let command = argv.join(" ");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(proxy) = &opts.https_proxy {
        // Only HTTPS goes through the proxy; dockerd talks to nothing else.
        cmd.env("HTTPS_PROXY", proxy);
    }
    let child = cmd.spawn().map_err(|source| EngineError::Spawn {
        node: node.name.clone(),
        command: command.clone(),
        source,
    })?;
    Ok((
        Engine {
            node: node.name.clone(),
            root: node.root.clone(),
            child: Some(child),
            command,
            log,
        },
        offset,
    ))
}

/// Whether the engine behind `socket` answers `GET /_ping` with 200.
pub fn pings(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// Stops the engine a crashed `lab serve` left behind on the node kept in
/// `root`, found by its pidfile; checks that the pid still runs this node's
/// dockerd first. Returns the pids it signalled.
pub fn stop_recorded(root: &Path) -> Vec<u32> {
    let pidfile = crate::node::backing_path(root, PIDFILE);
    let Some(pid) = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    else {
        return Vec::new();
    };
    let data = data_root(root).display().to_string();
    if !process::cmdline_matches(pid, &["dockerd", &format!("--data-root={data}")]) {
        return Vec::new();
    }
    process::kill_tree(pid).unwrap_or_default()
}

/// The log written since `offset`, at most its last 40 lines.
fn log_since(path: &Path, offset: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log)");
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return String::from("(no log)");
    }
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return String::from("(unreadable log)");
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(40);
    lines[start..].join("\n")
}
