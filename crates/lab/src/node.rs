//! A fleet of real OpenSSH servers on loopback addresses: the lab's "UCP nodes".
//!
//! Each node is a real `/usr/sbin/sshd -D -e` listening on its own address
//! `127.<a>.<b>.<n>` (`a`, `b` random per fleet, so fleets side by side do not
//! collide) and on a port probed free on that address. A fleet of more than
//! 254 nodes continues in the next `/24`s, `127.<a>.<b+1>.<n>` and so on (see
//! [`node_address`]), always inside 127.0.0.0/8. The fleet generates one
//! ed25519 host key per node and one client key pair, and writes a ready
//! `ssh_config` and `known_hosts`, so `ssh -F <dir>/ssh_config node1 true`
//! works with strict host key checking and no prompt.
//!
//! # Private filesystem views
//!
//! Tasks on UCP nodes write `/etc/docker/certs.d/<dtr>/ca.crt`, and the
//! engine's generic tests write under `/srv`. When running as root, each sshd
//! is started in its own mount and UTS namespaces (`unshare -m -u
//! --propagation private`; the UTS namespace gives it a hostname of its own)
//! with `<node>/fs/etc/docker` bound over `/etc/docker`, `<node>/fs/srv`
//! over `/srv` and `<node>/fs/run` over `/run` (where the node's Docker
//! engine keeps its socket, see `engine.rs`), so node 3's `/etc/docker` is
//! not node 4's and the host's real directories are never written. `/tmp` and `/root` are deliberately not
//! hidden: the lab directory and the dtrplay binary may live there.
//! [`Node::path`] maps what a node sees to where it lives on the control side.
//!
//! Without root there are no namespaces ([`Isolation::Shared`]): every node
//! then sees the host's real `/etc/docker` and `/srv`, and tasks must use the
//! per-node paths instead (the lab inventory's per-host `docker_certs_dir`,
//! from [`Node::certs_dir`]).
//!
//! # Environment of a session
//!
//! sshd runs commands through the user's login shell, and Debian's bash
//! sources `~/.bashrc` for commands started by sshd, even non-interactive
//! ones. On the development machine root's `.bashrc` runs `pyenv init`, which
//! costs about 0.3 s and prints noise per command. Every session therefore
//! gets `HOME=<node>/home` (holding only a `.profile`) through sshd's
//! `SetEnv`, plus `PATH` with the lab's `bin/` first, `TMPDIR=<node>/tmp` and
//! `DTRPLAY_LAB_NODE=<node>` (which the `systemctl` stand-in reads to find its
//! node). Login shells reset `PATH` in `/etc/profile`; the node's `.profile`
//! sets it back. The working directory stays the user's real home, which
//! sshd picks. `sudo` resets this environment, so lab nodes are reached as
//! root directly and `become` is not needed.
//!
//! # Stopping
//!
//! sshd forks one child per connection and that child starts its own session,
//! so it survives the listener. Stopping a node freezes and kills the whole
//! process tree under the listener (see `daemon::process::kill_tree`), so no
//! process and no listening port remain.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::daemon::process;
pub use crate::node_error::{MAX_NODES, NODE_ENV, NodeError, SSHD};
use crate::rootfs;
use crate::users::{self, Users};

/// Nodes per loopback `/24`: `.1` to `.254`, never the network or broadcast
/// address.
const NODES_PER_SUBNET: usize = 254;

/// The directories the nodes get private copies of (when isolated), with the
/// subdirectory of the node root that backs each one. A private `/run`
/// holds the node's Docker engine socket, pidfile and exec root at their
/// default places (see `engine.rs`), and sshd's privilege separation
/// directory.
const PRIVATE_MOUNTS: [(&str, &str); 3] = [
    ("/etc/docker", "fs/etc/docker"),
    ("/srv", "fs/srv"),
    ("/run", "fs/run"),
];

/// sshd's privilege separation directory. Debian's service unit creates it;
/// without a service manager, a root sshd refuses to start unless it exists.
const PRIVSEP_DIR: &str = "/run/sshd";

/// The PATH of a node's sessions after the fleet's own directories.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the nodes' filesystem views are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Mount namespaces when running as root, otherwise shared.
    Auto,
    /// Private `/etc/docker` and `/srv` per node; needs root.
    Namespaces,
    /// Every node sees the host's real filesystem.
    Shared,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Where the fleet keeps its keys, `ssh_config`, `known_hosts` and one
    /// directory per node. Created if missing. It must not lie under
    /// `/etc/docker` or `/srv`, which the nodes' private mounts hide.
    pub dir: PathBuf,
    /// How many nodes, between 1 and [`MAX_NODES`] (254 per loopback `/24`).
    pub count: usize,
    /// Node names are this prefix followed by 1, 2, ...
    pub name_prefix: String,
    /// Directories put first on the nodes' `PATH`, in this order (the lab's
    /// `bin/` with its `docker` and `systemctl` stand-ins).
    pub path_prepend: Vec<PathBuf>,
    /// How the nodes' filesystem views are separated.
    pub isolation: Isolation,
    /// The second and third octets of the first nodes' addresses (later
    /// `/24`s follow in the third octet); `None` picks them at random so that
    /// two fleets side by side do not share addresses.
    pub subnet: Option<(u8, u8)>,
    /// How long every sshd gets to answer with its SSH banner.
    pub startup_timeout: Duration,
    /// Accounts of the nodes' own (`users.rs`): a non-root login user with
    /// sudo, and root login refused. Needs namespaces. `None` logs in as
    /// root (or the current user without root).
    pub users: Option<Users>,
    /// Give every node copy-on-write `/etc`, `/usr`, `/var`, `/opt` and
    /// `/home` (see `lab::rootfs`), for tests of package and user tools.
    /// Needs namespaces (root).
    pub copy_on_write: bool,
}

impl FleetOptions {
    /// Options for `count` nodes named `node1`, `node2`, ... kept in `dir`.
    pub fn new(dir: impl Into<PathBuf>, count: usize) -> Self {
        Self {
            dir: dir.into(),
            count,
            name_prefix: "node".to_string(),
            path_prepend: Vec::new(),
            isolation: Isolation::Auto,
            subnet: None,
            startup_timeout: Duration::from_secs(20),
            users: None,
            copy_on_write: false,
        }
    }
}

/// One node as the control machine reaches it.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's inventory and `ssh_config` name (`node1`, ...).
    pub name: String,
    /// The loopback address sshd listens on.
    pub host: IpAddr,
    /// The port sshd listens on; kept across `stop_node`/`start_node`.
    pub port: u16,
    /// The pid of the node's current sshd listener (or of the last one, after
    /// `stop_node`).
    pub pid: u32,
    /// Where this node's private files live on the control machine: its
    /// filesystem view under `fs/`, its home, tmp, sshd log and lab state.
    pub root: PathBuf,
    /// The user to log in as: root, or the current user when not root.
    pub user: String,
    /// Whether `/etc/docker` and `/srv` are private to this node.
    pub isolated: bool,
    /// Whether the node's system directories (`/etc` among them) are its
    /// own copy-on-write views (`rootfs.rs`).
    pub copy_on_write: bool,
    ssh_config: PathBuf,
    known_hosts: PathBuf,
    private_key: PathBuf,
}

impl Node {
    /// The control-side path of what this node sees at `remote`, for example
    /// `/etc/docker/certs.d/dtr/ca.crt`. Paths outside the private mounts (and
    /// every path when the node is not isolated) are the same on both sides.
    pub fn path(&self, remote: &str) -> PathBuf {
        if self.isolated {
            return backing_path(&self.root, remote);
        }
        PathBuf::from(remote)
    }

    /// The `certs.d` directory tasks on this node must write to, as the node
    /// sees it: `/etc/docker/certs.d` when isolated, else the node's own copy.
    pub fn certs_dir(&self) -> PathBuf {
        if self.isolated {
            return PathBuf::from("/etc/docker/certs.d");
        }
        self.root.join("fs/etc/docker/certs.d")
    }

    /// The address sshd listens on.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Extra ssh options for an inventory's `ansible_ssh_common_args`: trust
    /// exactly the lab's host keys, and refuse anything else.
    pub fn ssh_common_args(&self) -> String {
        format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            self.known_hosts.display()
        )
    }

    /// The fleet's client private key, authorized on every node.
    pub fn private_key(&self) -> &Path {
        &self.private_key
    }

    /// An `ssh -F <ssh_config> <name>` command; append the remote command.
    pub fn ssh_command(&self) -> Command {
        let mut command = Command::new("ssh");
        command.arg("-F").arg(&self.ssh_config).arg(&self.name);
        command
    }
}

/// Where the files a node sees at `remote` live under its root when the node
/// is isolated; paths outside the private mounts map to themselves. Lab
/// tools running on a node use this to reach the node's own copy directly,
/// which is right with and without namespaces.
pub fn backing_path(root: &Path, remote: &str) -> PathBuf {
    let remote = Path::new(remote);
    for (mount, backing) in PRIVATE_MOUNTS {
        if let Ok(rest) = remote.strip_prefix(mount) {
            if rest.as_os_str().is_empty() {
                return root.join(backing);
            }
            return root.join(backing).join(rest);
        }
    }
    remote.to_path_buf()
}

/// How one node's sshd is (re)started.
#[derive(Debug)]
struct Launch {
    program: String,
    args: Vec<String>,
    log: PathBuf,
}

impl Launch {
    fn display(&self) -> String {
        let mut line = self.program.clone();
        for arg in &self.args {
            line.push(' ');
            if arg.contains(' ') {
                line.push_str(&format!("'{arg}'"));
            } else {
                line.push_str(arg);
            }
        }
        line
    }
}

/// The running fleet. Dropping it stops every sshd it started.
#[derive(Debug)]
pub struct Fleet {
    dir: PathBuf,
    nodes: Vec<Node>,
    children: Vec<Option<Child>>,
    launches: Vec<Launch>,
    ssh_config: PathBuf,
    known_hosts: PathBuf,
    private_key: PathBuf,
    startup_timeout: Duration,
}

impl Fleet {
    /// Generates keys and configuration, starts every node and waits until
    /// each one answers with its SSH banner. On failure, the nodes already
    /// started are stopped again.
    pub fn start(opts: &FleetOptions) -> Result<Fleet, NodeError> {
        if opts.count == 0 || opts.count > MAX_NODES {
            return Err(NodeError::Count { count: opts.count });
        }
        if !Path::new(SSHD).exists() {
            return Err(NodeError::NoSshd);
        }
        create_dir(&opts.dir)?;
        let dir = fs::canonicalize(&opts.dir).map_err(|source| NodeError::Read {
            path: opts.dir.clone(),
            source,
        })?;
        ensure_plain(&dir)?;
        for extra in &opts.path_prepend {
            ensure_plain(extra)?;
        }
        let root = nix::unistd::geteuid().is_root();
        let isolated = match opts.isolation {
            Isolation::Auto => root,
            Isolation::Namespaces if !root => return Err(NodeError::NotRoot),
            Isolation::Namespaces => true,
            Isolation::Shared => false,
        };
        if isolated {
            for (mount, _) in PRIVATE_MOUNTS {
                if dir.starts_with(mount) {
                    return Err(NodeError::UnderPrivateMount {
                        path: dir,
                        mount: mount.to_string(),
                    });
                }
                // An empty mount point on the host; the host's content, if
                // any, is never touched.
                create_dir(Path::new(mount))?;
            }
        }
        if opts.copy_on_write {
            if !isolated {
                return Err(NodeError::NotRoot);
            }
            rootfs::check_dir(&dir)?;
        }
        if root {
            create_dir(Path::new(PRIVSEP_DIR))?;
        }
        if opts.users.is_some() && !isolated {
            return Err(NodeError::UsersNeedIsolation);
        }
        let user = match &opts.users {
            Some(users) => users.login.clone(),
            None => login_user(root),
        };
        let extra_options = version_specific_options();

        let private_key = dir.join("id_ed25519");
        ensure_key(&private_key, "dtrplay-lab-client")?;
        let public_key = read(&dir.join("id_ed25519.pub"))?;
        let authorized_keys = dir.join("authorized_keys");
        write(&authorized_keys, &public_key)?;

        let (a, b) = opts.subnet.unwrap_or_else(random_subnet);
        let mut fleet = Fleet {
            ssh_config: dir.join("ssh_config"),
            known_hosts: dir.join("known_hosts"),
            private_key,
            dir: dir.clone(),
            nodes: Vec::new(),
            children: Vec::new(),
            launches: Vec::new(),
            startup_timeout: opts.startup_timeout,
        };
        let mut path = String::new();
        for extra in &opts.path_prepend {
            path.push_str(&extra.display().to_string());
            path.push(':');
        }
        path.push_str(SYSTEM_PATH);

        let mut host_keys = Vec::new();
        for index in 0..opts.count {
            let name = format!("{}{}", opts.name_prefix, index + 1);
            let host = IpAddr::V4(node_address((a, b), index));
            let node_root = dir.join("nodes").join(&name);
            for sub in ["fs/etc/docker", "fs/srv", "fs/run/sshd", "home", "tmp"] {
                create_dir(&node_root.join(sub))?;
            }
            // Login shells (an interactive `ssh node1`) run /etc/profile,
            // which resets PATH; the node's own profile puts it back.
            write(
                &node_root.join("home/.profile"),
                &format!(
                    "# Written by dtrplay: the lab's tools first, as in every session.\nexport PATH={path}\n"
                ),
            )?;
            if let Some(users) = &opts.users {
                users::prepare(&node_root, users, &public_key, &path)?;
            }
            let host_key = node_root.join("ssh_host_ed25519_key");
            ensure_key(&host_key, &format!("{name}@dtrplay-lab"))?;
            host_keys.push(read(&node_root.join("ssh_host_ed25519_key.pub"))?);
            let port = free_port(&name, host)?;
            let node = Node {
                name,
                host,
                port,
                pid: 0,
                root: node_root,
                user: user.clone(),
                isolated,
                copy_on_write: opts.copy_on_write,
                ssh_config: fleet.ssh_config.clone(),
                known_hosts: fleet.known_hosts.clone(),
                private_key: fleet.private_key.clone(),
            };
            let config = SshdConfig {
                node: &node,
                host_key: &host_key,
                authorized_keys: &authorized_keys,
                path: &path,
                extra_options: &extra_options,
            };
            write(&node.root.join("sshd_config"), &config.render())?;
            if opts.copy_on_write {
                rootfs::prepare(&node.root)?;
            }
            fleet.launches.push(launch(
                &node,
                isolated,
                opts.copy_on_write,
                opts.users.is_some(),
            ));
            fleet.nodes.push(node);
            fleet.children.push(None);
        }
        write(
            &fleet.known_hosts,
            &render_known_hosts(&fleet.nodes, &host_keys),
        )?;
        write(&fleet.ssh_config, &render_ssh_config(&fleet.nodes))?;

        // Start every sshd first and wait afterwards, so that the nodes come
        // up in parallel.
        let mut offsets = Vec::new();
        for index in 0..fleet.nodes.len() {
            offsets.push(fleet.spawn(index)?);
        }
        for (index, offset) in offsets.into_iter().enumerate() {
            fleet.wait_ready(index, offset)?;
        }
        Ok(fleet)
    }

    /// The nodes, in name order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Result<&Node, NodeError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NodeError::UnknownNode {
                name: name.to_string(),
            })
    }

    /// The fleet's directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An `ssh_config` with one `Host` entry per node.
    pub fn ssh_config_path(&self) -> &Path {
        &self.ssh_config
    }

    /// The nodes' host keys, as `[host]:port` entries.
    pub fn known_hosts_path(&self) -> &Path {
        &self.known_hosts
    }

    /// The client key authorized on every node.
    pub fn private_key_path(&self) -> &Path {
        &self.private_key
    }

    /// Whether the node's sshd is running (as far as this fleet knows).
    pub fn is_running(&self, name: &str) -> bool {
        self.index(name)
            .ok()
            .and_then(|i| self.children[i].as_ref())
            .is_some()
    }

    /// Stops one node, as if it went down: its sshd and every session under it
    /// are killed, and its port is closed. Stopping a stopped node does nothing.
    pub fn stop_node(&mut self, name: &str) -> Result<(), NodeError> {
        let index = self.index(name)?;
        self.stop_index(index)
    }

    /// Starts a stopped node again, on the same address, port and keys, and
    /// waits for its banner. Starting a running node does nothing.
    pub fn start_node(&mut self, name: &str) -> Result<(), NodeError> {
        let index = self.index(name)?;
        if self.children[index].is_some() {
            return Ok(());
        }
        let offset = self.spawn(index)?;
        self.wait_ready(index, offset)
    }

    /// Stops every node and reports the first failure.
    pub fn stop(mut self) -> Result<(), NodeError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), NodeError> {
        let mut first = None;
        for index in 0..self.nodes.len() {
            if let Err(err) = self.stop_index(index)
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

    fn index(&self, name: &str) -> Result<usize, NodeError> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| NodeError::UnknownNode {
                name: name.to_string(),
            })
    }

    /// Starts the node's sshd; returns the length of its log before the
    /// start, so that errors quote only this run's output.
    fn spawn(&mut self, index: usize) -> Result<u64, NodeError> {
        let launch = &self.launches[index];
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(|source| NodeError::Write {
                path: launch.log.clone(),
                source,
            })?;
        let offset = log.seek(SeekFrom::End(0)).unwrap_or(0);
        let stdout = log.try_clone().map_err(|source| NodeError::Write {
            path: launch.log.clone(),
            source,
        })?;
        let child = Command::new(&launch.program)
            .args(&launch.args)
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|source| NodeError::Spawn {
                command: launch.display(),
                source,
            })?;
        self.nodes[index].pid = child.id();
        self.children[index] = Some(child);
        Ok(offset)
    }

    /// Waits until the node answers with an SSH banner; on failure the node
    /// is stopped and the error carries the command and sshd's output.
    fn wait_ready(&mut self, index: usize, log_offset: u64) -> Result<(), NodeError> {
        let addr = self.nodes[index].address();
        let deadline = Instant::now() + self.startup_timeout;
        loop {
            if let Some(child) = self.children[index].as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.children[index] = None;
                return Err(NodeError::Exited {
                    node: self.nodes[index].name.clone(),
                    addr,
                    status,
                    command: self.launches[index].display(),
                    log: log_since(&self.launches[index].log, log_offset),
                });
            }
            if has_banner(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.stop_index(index);
                return Err(NodeError::NoBanner {
                    node: self.nodes[index].name.clone(),
                    addr,
                    timeout: self.startup_timeout,
                    command: self.launches[index].display(),
                    log: log_since(&self.launches[index].log, log_offset),
                });
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn stop_index(&mut self, index: usize) -> Result<(), NodeError> {
        let Some(mut child) = self.children[index].take() else {
            return Ok(());
        };
        let name = self.nodes[index].name.clone();
        let pid = child.id();
        let killed = process::kill_tree(pid).map_err(|source| NodeError::Kill {
            node: name.clone(),
            pid,
            source,
        })?;
        // Reap our own child; the sessions below it were re-parented to init
        // when it died and are reaped there.
        let _ = child.wait();
        let survivors = process::wait_gone(&killed, Duration::from_secs(10));
        if !survivors.is_empty() {
            return Err(NodeError::Survivors {
                node: name,
                pids: survivors,
            });
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `Fleet::stop` reports them.
        let _ = self.stop_all();
    }
}

/// The parts of one node's `sshd_config`.
struct SshdConfig<'a> {
    node: &'a Node,
    host_key: &'a Path,
    authorized_keys: &'a Path,
    path: &'a str,
    extra_options: &'a [&'static str],
}

impl SshdConfig<'_> {
    fn render(&self) -> String {
        let node = self.node;
        let mut out = String::new();
        out.push_str(&format!(
            "# Written by dtrplay for lab node {}; regenerated at every start.\n",
            node.name
        ));
        out.push_str(&format!("ListenAddress {}:{}\n", node.host, node.port));
        out.push_str("AddressFamily inet\n");
        out.push_str(&format!("HostKey {}\n", self.host_key.display()));
        // A node with a login user of its own refuses root, as production
        // nodes do; sshd reads the keys as the user, from its home.
        let own_user = node.user != "root" && node.isolated;
        if own_user {
            out.push_str(&format!(
                "AuthorizedKeysFile .ssh/authorized_keys {}\nPermitRootLogin no\n",
                self.authorized_keys.display()
            ));
        } else {
            out.push_str(&format!(
                "AuthorizedKeysFile {}\nPermitRootLogin prohibit-password\n",
                self.authorized_keys.display()
            ));
        }
        out.push_str(concat!(
            "PubkeyAuthentication yes\n",
            "PasswordAuthentication no\n",
            "KbdInteractiveAuthentication no\n",
            "UsePAM no\n",
            "PidFile none\n",
            // The lab directory may sit in a world-writable /tmp, which
            // StrictModes would reject for the authorized_keys path.
            "StrictModes no\n",
            // Engines fan out many connections and sessions at once; the
            // defaults (10:30:100 and 10) randomly refuse them.
            "MaxStartups 500\n",
            "MaxSessions 50\n",
            "UseDNS no\n",
            "PrintMotd no\n",
            "PrintLastLog no\n",
            "X11Forwarding no\n",
            "PermitUserEnvironment no\n",
            // Like the sshd of Debian and Ubuntu, which clients' default
            // `SendEnv LANG LC_*` relies on: commands then run in the
            // control machine's locale, and tests can check that every
            // transport passes these variables on.
            "AcceptEnv LANG LC_*\n",
            "Subsystem sftp internal-sftp\n",
            "LogLevel INFO\n",
        ));
        for option in self.extra_options {
            out.push_str(option);
            out.push('\n');
        }
        let tmp = node.root.join("tmp");
        let home = node.root.join("home");
        if own_user {
            // The user's own HOME and the system's temporary directory, as
            // on a real machine; the node's name reaches sudo's commands
            // through the node's sudoers (`env_keep`).
            out.push_str(&format!(
                "SetEnv PATH={} {}={}\n",
                self.path,
                NODE_ENV,
                node.root.display()
            ));
            return out;
        }
        out.push_str(&format!(
            "SetEnv PATH={} HOME={} TMPDIR={} {}={}\n",
            self.path,
            home.display(),
            tmp.display(),
            NODE_ENV,
            node.root.display()
        ));
        out
    }
}

/// How to start a node's sshd: inside its own mount namespace when isolated,
/// after its copy-on-write overlays when asked for, with its own account
/// files when it has `users`.
fn launch(node: &Node, isolated: bool, copy_on_write: bool, users: bool) -> Launch {
    let config = node.root.join("sshd_config").display().to_string();
    let log = node.root.join("sshd.log");
    if !isolated {
        return Launch {
            program: SSHD.to_string(),
            args: vec!["-D".into(), "-e".into(), "-f".into(), config],
            log,
        };
    }
    // `unshare` without `--fork` and `exec` in sh keep one pid from start to
    // end, so the pid we hold is sshd's. Paths travel as positional
    // parameters, never spliced into the script.
    let mut script = String::new();
    // `-u`: a UTS namespace of its own, so that a task renaming the node
    // (`hostname`) renames only the node, never this machine.
    let mut args = vec![
        "-m".to_string(),
        "-u".to_string(),
        "--propagation".to_string(),
        "private".to_string(),
        "sh".to_string(),
        "-c".to_string(),
    ];
    let mut params = Vec::new();
    // The overlays come first: the private binds below lie inside `/etc`.
    if copy_on_write {
        let (mounts, paths) = rootfs::mount_script(&node.root, 1);
        script.push_str(&mounts);
        params.extend(paths);
    }
    let mut mounts = PRIVATE_MOUNTS.to_vec();
    if users {
        mounts.extend(users::MOUNTS);
    }
    for (mount, backing) in mounts.iter() {
        script.push_str(&format!(
            "mount --bind \"${{{}}}\" {mount} && ",
            params.len() + 1
        ));
        params.push(node.root.join(backing).display().to_string());
    }
    let n = params.len();
    script.push_str(&format!(
        "exec \"${{{}}}\" -D -e -f \"${{{}}}\"",
        n + 1,
        n + 2
    ));
    args.push(script);
    args.push(format!("dtrplay-{}", node.name));
    args.extend(params);
    args.push(SSHD.to_string());
    args.push(config);
    Launch {
        program: "unshare".to_string(),
        args,
        log,
    }
}

fn render_known_hosts(nodes: &[Node], host_keys: &[String]) -> String {
    let mut out = String::new();
    for (node, key) in nodes.iter().zip(host_keys) {
        // The public key file is "<type> <base64> <comment>"; known_hosts
        // wants "<host> <type> <base64>".
        let mut parts = key.split_whitespace();
        let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
            continue;
        };
        out.push_str(&format!("[{}]:{} {kind} {blob}\n", node.host, node.port));
    }
    out
}

fn render_ssh_config(nodes: &[Node]) -> String {
    let mut out = String::from(
        "# Written by dtrplay for its lab nodes. Use: ssh -F <this file> <node> <command>\n",
    );
    for node in nodes {
        out.push_str(&format!(
            concat!(
                "\nHost {name}\n",
                "  HostName {host}\n",
                "  Port {port}\n",
                "  User {user}\n",
                "  IdentityFile {key}\n",
                "  IdentitiesOnly yes\n",
                "  UserKnownHostsFile {known_hosts}\n",
                "  GlobalKnownHostsFile /dev/null\n",
                "  StrictHostKeyChecking yes\n",
                "  CheckHostIP no\n",
                "  BatchMode yes\n",
            ),
            name = node.name,
            host = node.host,
            port = node.port,
            user = node.user,
            key = node.private_key.display(),
            known_hosts = node.known_hosts.display(),
        ));
    }
    out
}

/// Options that exist only in some sshd versions.
fn version_specific_options() -> Vec<&'static str> {
    let Ok(output) = Command::new(SSHD).arg("-V").output() else {
        return Vec::new();
    };
    // `sshd -V` prints e.g. "OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL ..." on
    // stderr (and exits non-zero on older versions, which is fine).
    let text = String::from_utf8_lossy(&output.stderr);
    let Some(version) = text
        .split_whitespace()
        .next()
        .and_then(|v| v.strip_prefix("OpenSSH_"))
    else {
        return Vec::new();
    };
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    if (major, minor) >= (9, 8) {
        // OpenSSH 9.8 penalises sources that connect without authenticating,
        // which is what readiness probes do, all from 127.0.0.1.
        return vec!["PerSourcePenalties no"];
    }
    Vec::new()
}

/// Whether something on `addr` answers with an SSH identification string.
pub fn has_banner(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
    {
        return false;
    }
    let mut banner = Vec::new();
    let mut byte = [0u8; 1];
    while banner.len() < 255 {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => banner.push(byte[0]),
            _ => return false,
        }
    }
    banner.starts_with(b"SSH-2.0-")
}

/// A port nothing listens on at `host`, found by binding port 0 there. sshd
/// binds it right after; the window is small, and a clash shows up as
/// "Address already in use" in the node's error.
fn free_port(node: &str, host: IpAddr) -> Result<u16, NodeError> {
    let listener = TcpListener::bind((host, 0)).map_err(|source| NodeError::Port {
        node: node.to_string(),
        host,
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| NodeError::Port {
            node: node.to_string(),
            host,
            source,
        })?
        .port();
    Ok(port)
}

/// The address of the node at `index` (0-based) of a fleet whose first
/// `/24` is `127.<a>.<b>.0/24`: 254 nodes per `/24` (`.1` to `.254`), the
/// next `/24`s following in the third octet (wrapping past 255 within
/// `127.<a>.0.0/16`). Distinct for every index below 254 × 256, and always
/// in 127.0.0.0/8.
pub fn node_address((a, b): (u8, u8), index: usize) -> Ipv4Addr {
    let subnet = index / NODES_PER_SUBNET;
    let third = (usize::from(b) + subnet) % 256;
    let last = index % NODES_PER_SUBNET + 1;
    // Both values are below 256 by construction (modulo 256, and at most
    // 254), so the conversions never fall back.
    Ipv4Addr::new(
        127,
        a,
        u8::try_from(third).unwrap_or(0),
        u8::try_from(last).unwrap_or(1),
    )
}

/// Two octets for `127.<a>.<b>.0/24`, random per call. `a` stays within
/// 100..=254 to keep away from 127.0.0.1 and the low addresses other tools
/// favour.
fn random_subnet() -> (u8, u8) {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    let value = hasher.finish();
    let a = 100 + (value % 155) as u8;
    let b = ((value >> 16) & 0xff) as u8;
    (a, b)
}

fn login_user(root: bool) -> String {
    if root {
        return "root".to_string();
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_string())
}

/// Generates an ed25519 key pair at `path` unless both halves exist, so a
/// kept lab directory keeps its identities across restarts.
fn ensure_key(path: &Path, comment: &str) -> Result<(), NodeError> {
    let public = PathBuf::from(format!("{}.pub", path.display()));
    if path.exists() && public.exists() {
        return Ok(());
    }
    for stale in [path, public.as_path()] {
        if stale.exists() {
            fs::remove_file(stale).map_err(|source| NodeError::Write {
                path: stale.to_path_buf(),
                source,
            })?;
        }
    }
    let mut command = Command::new("ssh-keygen");
    command
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null());
    let display = format!(
        "ssh-keygen -q -t ed25519 -N '' -C {comment} -f {}",
        path.display()
    );
    let output = command.output().map_err(|source| NodeError::Spawn {
        command: display.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(NodeError::Failed {
            command: display,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Refuses paths that sshd_config or ssh_config would need quoting for.
fn ensure_plain(path: &Path) -> Result<(), NodeError> {
    let plain = path.to_str().is_some_and(|s| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@:,=%~".contains(c))
    });
    if plain {
        return Ok(());
    }
    Err(NodeError::PlainPath {
        path: path.to_path_buf(),
    })
}

fn create_dir(path: &Path) -> Result<(), NodeError> {
    fs::create_dir_all(path).map_err(|source| NodeError::Create {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, contents: &str) -> Result<(), NodeError> {
    fs::write(path, contents).map_err(|source| NodeError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<String, NodeError> {
    fs::read_to_string(path).map_err(|source| NodeError::Read {
        path: path.to_path_buf(),
        source,
    })
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
    let tail = lines[start..].join("\n");
    if tail.trim().is_empty() {
        return String::from("(nothing)");
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(isolated: bool) -> Node {
        Node {
            name: "node1".into(),
            host: IpAddr::V4(Ipv4Addr::new(127, 100, 1, 1)),
            port: 2222,
            pid: 0,
            root: PathBuf::from("/lab/nodes/node1"),
            user: "root".into(),
            isolated,
            copy_on_write: false,
            ssh_config: PathBuf::from("/lab/ssh_config"),
            known_hosts: PathBuf::from("/lab/known_hosts"),
            private_key: PathBuf::from("/lab/id_ed25519"),
        }
    }

    #[test]
    fn nodes_fill_one_slash_24_then_the_next_ones() {
        assert_eq!(node_address((100, 7), 0), Ipv4Addr::new(127, 100, 7, 1));
        assert_eq!(node_address((100, 7), 253), Ipv4Addr::new(127, 100, 7, 254));
        assert_eq!(node_address((100, 7), 254), Ipv4Addr::new(127, 100, 8, 1));
        assert_eq!(node_address((100, 7), 499), Ipv4Addr::new(127, 100, 8, 246));
        // The third octet wraps inside 127.<a>.0.0/16.
        assert_eq!(node_address((100, 255), 254), Ipv4Addr::new(127, 100, 0, 1));
    }

    #[test]
    fn every_address_of_the_largest_fleet_is_distinct_loopback_and_a_host() {
        for subnet in [(100, 0), (200, 253), (254, 255), (0, 0)] {
            let addresses: std::collections::HashSet<Ipv4Addr> = (0..MAX_NODES)
                .map(|index| node_address(subnet, index))
                .collect();
            assert_eq!(addresses.len(), MAX_NODES, "{subnet:?}");
            for address in addresses {
                let octets = address.octets();
                assert!(address.is_loopback(), "{address}");
                assert!(octets[3] != 0 && octets[3] != 255, "{address}");
            }
        }
    }

    #[test]
    fn private_paths_map_to_the_node_root() {
        let n = node(true);
        assert_eq!(
            n.path("/etc/docker/certs.d/dtr:443/ca.crt"),
            PathBuf::from("/lab/nodes/node1/fs/etc/docker/certs.d/dtr:443/ca.crt")
        );
        assert_eq!(n.path("/srv"), PathBuf::from("/lab/nodes/node1/fs/srv"));
        assert_eq!(n.path("/etc/dockerx"), PathBuf::from("/etc/dockerx"));
        assert_eq!(n.path("/tmp/x"), PathBuf::from("/tmp/x"));
        assert_eq!(node(false).path("/srv/a"), PathBuf::from("/srv/a"));
    }

    #[test]
    fn namespace_launch_keeps_paths_out_of_the_script() {
        let launch = launch(&node(true), true, false, false);
        assert_eq!(launch.program, "unshare");
        let script = &launch.args[6];
        assert!(!script.contains("/lab/"), "{script}");
        assert!(launch.args.contains(&"/lab/nodes/node1/fs/srv".to_string()));
    }

    #[test]
    fn copy_on_write_mounts_the_overlays_before_the_binds() {
        let launch = launch(&node(true), true, true, false);
        let script = &launch.args[6];
        let overlay = script.find("-t overlay").expect("an overlay mount");
        let bind = script.find("--bind").expect("a bind mount");
        assert!(overlay < bind, "{script}");
        assert!(!script.contains("/lab/"), "{script}");
        assert!(
            launch
                .args
                .contains(&"/lab/nodes/node1/cow/usr/upper".to_string())
        );
    }
}
