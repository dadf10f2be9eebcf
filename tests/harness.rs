//! The test harness: a playbook and inventory written into a temporary
//! directory, the real `dtrplay` binary run on them, and its output checked.
//!
//! Tests read as specs: the YAML inline (indentation removed), the command,
//! then what must be true. Real sshd nodes come from the lab's `Fleet`.

// Not every test module uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use dtrplay_lab::node::{Fleet, FleetOptions, Node};
use tempfile::TempDir;

/// Removes the common leading indentation of an inline YAML block, so that
/// fixtures can be indented with the test code.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: String = text
        .lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// Starts a script on `conn` that writes its pid to the node's
/// `$TMPDIR/<name>` and sleeps a minute, gives up on it after half a second
/// (the caller's future is dropped, as a cancelled run drops it), and
/// returns the pid, checked to be alive.
pub async fn abandon_a_sleeper(
    conn: &dyn dtrplay::connection::Connection,
    node: &Node,
    name: &str,
) -> u32 {
    // `sh -c` gives the sleeper a pid of its own (in the request's
    // subshell, `$$` names the driver).
    let script = format!("exec sh -c 'echo $$ > \"$TMPDIR/{name}\"; exec sleep 60'");
    let long = std::time::Duration::from_secs(30);
    let run = conn.run(&script, b"", long);
    let abandoned = tokio::time::timeout(std::time::Duration::from_millis(500), run).await;
    assert!(abandoned.is_err(), "the sleeper finished");
    let text = std::fs::read_to_string(node.root.join("tmp").join(name)).expect("the pid file");
    let pid: u32 = text.trim().parse().expect("a pid");
    assert!(dtrplay_lab::daemon::process::is_alive(pid));
    pid
}

/// The connection target an inventory entry for `node` resolves to: its
/// loopback address and port, the fleet's key, and the node's ssh options.
pub fn target(fleet: &Fleet, node: &Node) -> dtrplay::connection::Target {
    dtrplay::connection::Target {
        name: node.name.clone(),
        address: node.host.to_string(),
        port: Some(node.port),
        user: Some(node.user.clone()),
        key_file: Some(fleet.private_key_path().to_path_buf()),
        ssh_args: node
            .ssh_common_args()
            .split(' ')
            .map(str::to_string)
            .collect(),
        transport: dtrplay::connection::Transport::Ssh,
        ssh_client: None,
    }
}

/// A temporary project directory.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("dtrplay-it-")
                .tempdir()
                .expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (unindented), creating its directories.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(&path, unindent(content)).expect("write fixture");
        path
    }

    /// Runs dtrplay with these arguments in the project directory.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run dtrplay");
        self.finished(output)
    }

    /// The command `run` runs, for tests that watch dtrplay while it runs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dtrplay"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1");
        command
    }

    /// The outcome of a run of `command`.
    pub fn finished(&self, output: std::process::Output) -> Run {
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            root: self.dir.path().display().to_string(),
        }
    }
}

/// The outcome of one dtrplay run.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    root: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Run {
        assert_eq!(
            self.status, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.status, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\nstderr:\n{}",
            self.stderr
        );
        self
    }

    /// The JSON events of a `--output json` run.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The recap counts of a JSON run: host → (ok, changed, failed, unreachable, skipped).
    pub fn recap(&self) -> serde_json::Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["event"] == "recap")
            .map(|e| e["hosts"].clone())
            .expect("a recap event")
    }

    /// Stderr with the project path, addresses and timings replaced, for snapshots.
    pub fn stderr_filtered(&self) -> String {
        filter(&self.stderr, &self.root)
    }

    pub fn stdout_filtered(&self) -> String {
        filter(&self.stdout, &self.root)
    }
}

fn filter(text: &str, root: &str) -> String {
    let text = text.replace(root, "[DIR]");
    let addr = regex::Regex::new(r"127\.\d+\.\d+\.\d+(:\d+)?").expect("valid regex");
    let time = regex::Regex::new(r"finished in \d+\.\d+s").expect("valid regex");
    let text = addr.replace_all(&text, "[ADDR]");
    time.replace_all(&text, "finished in [TIME]").into_owned()
}

/// A fleet of real sshd nodes and an inventory that reaches them.
pub struct Nodes {
    pub fleet: Fleet,
    _dir: TempDir,
}

impl Nodes {
    pub fn start(count: usize) -> Nodes {
        let dir = tempfile::Builder::new()
            .prefix("dtrplay-fleet-")
            .tempdir()
            .expect("a temporary directory");
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), count))
            .expect("the sshd fleet starts");
        Nodes { fleet, _dir: dir }
    }

    /// Nodes with copy-on-write `/etc`, `/usr`, `/var`, `/opt` and `/home`
    /// (`lab::rootfs`), for tests that run real package and user tools.
    pub fn start_copy_on_write(count: usize) -> Nodes {
        let dir = tempfile::Builder::new()
            .prefix("dtrplay-fleet-")
            .tempdir()
            .expect("a temporary directory");
        let mut options = FleetOptions::new(dir.path().join("fleet"), count);
        options.copy_on_write = true;
        let fleet = Fleet::start(&options).expect("the copy-on-write sshd fleet starts");
        Nodes { fleet, _dir: dir }
    }

    /// Runs a shell command on a node over ssh, as the tests' own eyes into
    /// what the node sees; panics unless it succeeds.
    pub fn sh(&self, name: &str, command: &str) -> String {
        let output = self
            .node(name)
            .ssh_command()
            .arg(command)
            .output()
            .expect("run ssh");
        assert!(
            output.status.success(),
            "`{command}` on {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A fleet whose nodes have accounts of their own (`lab::users`): the
    /// nodes log in as `users.login`, and root login is refused.
    pub fn start_with_users(count: usize, users: dtrplay_lab::users::Users) -> Nodes {
        let dir = tempfile::Builder::new()
            .prefix("dtrplay-fleet-")
            .tempdir()
            .expect("a temporary directory");
        let mut options = FleetOptions::new(dir.path().join("fleet"), count);
        options.users = Some(users);
        let fleet = Fleet::start(&options).expect("the sshd fleet starts");
        Nodes { fleet, _dir: dir }
    }

    /// Nodes with accounts of their own over copy-on-write system
    /// directories: the login user may change the node's programs with
    /// sudo, in the node's overlays only.
    pub fn start_with_users_copy_on_write(count: usize, users: dtrplay_lab::users::Users) -> Nodes {
        Nodes::start_with(count, |options| {
            options.users = Some(users);
            options.copy_on_write = true;
        })
    }

    /// A fleet started with options of the test's choosing.
    pub fn start_with(count: usize, adjust: impl FnOnce(&mut FleetOptions)) -> Nodes {
        let dir = tempfile::Builder::new()
            .prefix("dtrplay-fleet-")
            .tempdir()
            .expect("a temporary directory");
        let mut options = FleetOptions::new(dir.path().join("fleet"), count);
        adjust(&mut options);
        let fleet = Fleet::start(&options).expect("the sshd fleet starts");
        Nodes { fleet, _dir: dir }
    }

    /// Appends `lines` to a node's `sshd_config` and restarts its sshd, so
    /// that the node offers what a test needs (one cipher, another host
    /// key, a trusted user CA).
    pub fn reconfigure(&mut self, name: &str, lines: &str) {
        let config = self.node(name).root.join("sshd_config");
        let mut text = std::fs::read_to_string(&config).expect("read sshd_config");
        text.push_str(&unindent(lines));
        std::fs::write(&config, text).expect("write sshd_config");
        self.fleet.stop_node(name).expect("stop the node");
        self.fleet.start_node(name).expect("the node restarts");
    }

    /// Gives a node a new Ed25519 host key and restarts it, as a
    /// reinstalled machine (or a machine in the middle) would present.
    pub fn change_host_key(&mut self, name: &str) {
        let key = self.node(name).root.join("ssh_host_ed25519_key");
        for file in [key.clone(), key.with_extension("pub")] {
            let _ = std::fs::remove_file(file);
        }
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("run ssh-keygen");
        assert!(status.success(), "ssh-keygen failed");
        self.fleet.stop_node(name).expect("stop the node");
        self.fleet.start_node(name).expect("the node restarts");
    }

    /// `<type> <base64>` of a public key file of a node (under its root).
    pub fn public_key(&self, name: &str, file: &str) -> String {
        let text = std::fs::read_to_string(self.node(name).root.join(file)).expect("a public key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn node(&self, name: &str) -> &Node {
        self.fleet.node(name).expect("a node of the fleet")
    }

    /// A YAML inventory with the nodes in `groups` (group → node names),
    /// plus `vars` (YAML text of `all` vars, unindented).
    /// A project whose `inventory.yml` puts every node in group `web`,
    /// with `vars` for all hosts: the set-up most playbook tests share.
    pub fn web_project(&self, vars: &str) -> Project {
        let project = Project::new();
        let names: Vec<String> = self.fleet.nodes().iter().map(|n| n.name.clone()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        project.file("inventory.yml", &self.inventory(&[("web", &refs)], vars));
        project
    }

    /// A file on a node, as the node sees it.
    #[track_caller]
    pub fn read(&self, name: &str, path: &str) -> String {
        std::fs::read_to_string(self.node(name).path(path))
            .unwrap_or_else(|e| panic!("{path} on {name}: {e}"))
    }

    pub fn inventory(&self, groups: &[(&str, &[&str])], vars: &str) -> String {
        let mut out = String::from("all:\n  hosts:\n");
        for node in self.fleet.nodes() {
            out.push_str(&format!(
                "    {}:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{}\"\n",
                node.name,
                node.host,
                node.port,
                node.user,
                node.private_key().display(),
                node.ssh_common_args()
            ));
        }
        if !vars.trim().is_empty() {
            out.push_str("  vars:\n");
            for line in unindent(vars).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if !groups.is_empty() {
            out.push_str("  children:\n");
            for (group, members) in groups {
                out.push_str(&format!("    {group}:\n      hosts:\n"));
                for m in *members {
                    out.push_str(&format!("        {m}:\n"));
                }
            }
        }
        out
    }
}
