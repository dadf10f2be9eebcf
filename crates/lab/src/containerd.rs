//! MKE 4's container runtime on the lab's nodes (`lab up --containerd`): a
//! real `containerd` per node, from Debian's `containerd` package (which
//! `docker.io` depends on), laid out as k0s lays it out on an MKE 4 node.
//!
//! Each node gets `/etc/k0s/containerd.toml` (with k0s's `# k0s_managed=true`
//! line, importing `/etc/k0s/containerd.d/*.toml`, as real-world-facts.md §3
//! describes k0s) and a containerd listening on `/run/k0s/containerd.sock`,
//! its state in the node's private `/run/k0s/containerd` and its root in the
//! node's `containerd/` directory. `/etc/k0s` exists on no machine the lab
//! runs on, so these nodes are copy-on-write (`rootfs.rs`): the node's
//! `/etc` is its own and the machine's is never written.
//!
//! containerd runs beside the node's dockerd, started with `nsenter
//! --mount` into the node's namespace like the engine (`engine.rs`), with
//! the lab's proxy as `HTTPS_PROXY`, so that its CRI plugin reaches DTR by
//! name. `ctr` pulls in the client, so a session on the node gives it
//! `HTTPS_PROXY` itself. Step 5 for containerd (`copy-ca-crt`'s
//! `runtime: containerd`) is then tested against a real containerd:
//! `ctr images pull --hosts-dir /etc/k0s/containerd.d/certs.d` fails with
//! x509 before and pulls after.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::daemon::process;
use crate::node::Node;

/// Where Debian's `containerd` package installs the daemon.
pub const CONTAINERD: &str = "/usr/bin/containerd";
/// k0s's containerd configuration, as the node sees it.
pub const CONFIG: &str = "/etc/k0s/containerd.toml";
/// k0s's drop-in directory.
pub const DROPIN_DIR: &str = "/etc/k0s/containerd.d";
/// k0s's containerd socket, as the node sees it.
pub const SOCKET: &str = "/run/k0s/containerd.sock";
/// containerd's state directory, in the node's private `/run`.
const STATE: &str = "/run/k0s/containerd";

/// The PATH containerd runs with: it finds `runc` and its shims there.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a node's containerd could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error(
        "{CONTAINERD} is missing: install Debian's containerd (docker.io brings it; `./scripts/prepare` does) to give the lab's nodes MKE 4's runtime"
    )]
    Missing,
    #[error(
        "node {node} is not copy-on-write (the lab runs without root), so it cannot have k0s's /etc/k0s of its own"
    )]
    NotCopyOnWrite { node: String },
    #[error("node {node}: cannot {action} {path}: {source}")]
    Io {
        node: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}: cannot write {CONFIG}: {message}")]
    Config { node: String, message: String },
    #[error("node {node}: cannot run `{command}`: {source}")]
    Spawn {
        node: String,
        command: String,
        source: std::io::Error,
    },
    #[error(
        "node {node}: containerd did not answer on {SOCKET} within {timeout:?}\ncommand: {command}\nits log: {log}"
    )]
    NoAnswer {
        node: String,
        timeout: Duration,
        command: String,
        log: PathBuf,
    },
    #[error("node {node}: containerd processes {pids:?} are still alive after SIGKILL")]
    Survivors { node: String, pids: Vec<u32> },
}

/// The node's containerd root (on the control machine; the node sees the
/// same path).
pub fn root_dir(node_root: &Path) -> PathBuf {
    node_root.join("containerd")
}

/// The control-side path of the node's containerd socket.
pub fn socket_path(node_root: &Path) -> PathBuf {
    crate::node::backing_path(node_root, SOCKET)
}

/// k0s's containerd configuration: the format containerd 1.6 reads, the
/// drop-ins imported, the socket at k0s's place.
pub fn config_text() -> String {
    format!(
        "# k0s_managed=true\n\
         # Written by the dtrplay lab as k0s writes it on an MKE 4 node: drop-ins go to {DROPIN_DIR}.\n\
         version = 2\n\
         imports = [\"{DROPIN_DIR}/*.toml\"]\n\
         \n\
         [grpc]\n\
         \x20 address = \"{SOCKET}\"\n"
    )
}

#[derive(Debug)]
struct Daemon {
    node: String,
    child: Option<Child>,
}

/// The lab's containerds, one per node. Dropping them stops every one.
#[derive(Debug)]
pub struct Containerds {
    daemons: Vec<Daemon>,
}

impl Containerds {
    /// Writes k0s's configuration into each node's `/etc`, starts one
    /// containerd per node and waits until each answers on its socket.
    pub fn start(
        nodes: &[Node],
        https_proxy: Option<&str>,
        timeout: Duration,
    ) -> Result<Containerds, ContainerdError> {
        if !Path::new(CONTAINERD).exists() {
            return Err(ContainerdError::Missing);
        }
        let mut started = Containerds {
            daemons: Vec::new(),
        };
        let mut waits = Vec::new();
        for node in nodes {
            if !node.copy_on_write {
                return Err(ContainerdError::NotCopyOnWrite {
                    node: node.name.clone(),
                });
            }
            write_config(node)?;
            let (daemon, command, log) = spawn(node, https_proxy)?;
            started.daemons.push(daemon);
            waits.push((node.root.clone(), command, log));
        }
        for (index, (root, command, log)) in waits.into_iter().enumerate() {
            let socket = socket_path(&root);
            let deadline = Instant::now() + timeout;
            while !answers(&socket) {
                if Instant::now() >= deadline {
                    return Err(ContainerdError::NoAnswer {
                        node: started.daemons[index].node.clone(),
                        timeout,
                        command,
                        log,
                    });
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(started)
    }

    /// The pid of each node's containerd, by node name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.daemons
            .iter()
            .filter_map(|d| d.child.as_ref().map(|c| (d.node.clone(), c.id())))
            .collect()
    }

    /// Stops every containerd and its shims.
    pub fn stop(mut self) -> Result<(), ContainerdError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), ContainerdError> {
        for daemon in &self.daemons {
            if let Some(child) = &daemon.child {
                let _ = process::terminate(child.id());
            }
        }
        let mut first = None;
        for daemon in &mut self.daemons {
            let Some(mut child) = daemon.child.take() else {
                continue;
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut gone = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    gone = true;
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            if gone {
                continue;
            }
            let killed = process::kill_tree(child.id()).unwrap_or_default();
            let _ = child.wait();
            let survivors = process::wait_gone(&killed, Duration::from_secs(10));
            if !survivors.is_empty() && first.is_none() {
                first = Some(ContainerdError::Survivors {
                    node: daemon.node.clone(),
                    pids: survivors,
                });
            }
        }
        match first {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Drop for Containerds {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `Containerds::stop` does.
        let _ = self.stop_all();
    }
}

/// Writes [`config_text`] to the node's `/etc/k0s/containerd.toml` from
/// inside its namespace, so that it lands in the node's own `/etc` layer.
fn write_config(node: &Node) -> Result<(), ContainerdError> {
    let script = format!(
        "set -e; umask 022; mkdir -p {DROPIN_DIR}; cat > {CONFIG}.tmp; mv -f {CONFIG}.tmp {CONFIG}"
    );
    let mut child = Command::new("nsenter")
        .arg(format!("--target={}", node.pid))
        .args(["--mount", "--", "/bin/sh", "-c", &script])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ContainerdError::Spawn {
            node: node.name.clone(),
            command: format!("nsenter --target={} --mount -- /bin/sh -c …", node.pid),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(config_text().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| ContainerdError::Config {
            node: node.name.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(ContainerdError::Config {
            node: node.name.clone(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The containerd command line for `node`, program first.
fn command_line(node: &Node) -> Vec<String> {
    vec![
        "nsenter".to_string(),
        format!("--target={}", node.pid),
        "--mount".to_string(),
        "--".to_string(),
        CONTAINERD.to_string(),
        format!("--config={CONFIG}"),
        format!("--root={}", root_dir(&node.root).display()),
        format!("--state={STATE}"),
    ]
}

fn spawn(
    node: &Node,
    https_proxy: Option<&str>,
) -> Result<(Daemon, String, PathBuf), ContainerdError> {
    let io = |action, path: &Path| {
        let node = node.name.clone();
        let path = path.to_path_buf();
        move |source| ContainerdError::Io {
            node,
            action,
            path,
            source,
        }
    };
    let root = root_dir(&node.root);
    fs::create_dir_all(&root).map_err(io("create", &root))?;
    let log = node.root.join("containerd.log");
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io("open", &log))?;
    let err = out.try_clone().map_err(io("open", &log))?;
    let argv = command_line(node);
    let command = argv.join(" ");
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(proxy) = https_proxy {
        cmd.env("HTTPS_PROXY", proxy);
    }
    let child = cmd.spawn().map_err(|source| ContainerdError::Spawn {
        node: node.name.clone(),
        command: command.clone(),
        source,
    })?;
    Ok((
        Daemon {
            node: node.name.clone(),
            child: Some(child),
        },
        command,
        log,
    ))
}

/// Whether something accepts connections on the socket (containerd opens
/// it once its services are ready).
fn answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// Stops the containerd a crashed `lab serve` left behind on the node kept
/// in `node_root`, found by its unique `--root`. Returns the pids signalled.
pub fn stop_recorded(node_root: &Path, pid: Option<u32>) -> Vec<u32> {
    let Some(pid) = pid else {
        return Vec::new();
    };
    let root = format!("--root={}", root_dir(node_root).display());
    if !process::cmdline_matches(pid, &["containerd", &root]) {
        return Vec::new();
    }
    process::kill_tree(pid).unwrap_or_default()
}
