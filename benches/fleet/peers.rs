//! The peers: Ansible (`ansible-core`) and pyinfra, installed from PyPI
//! into a private virtualenv under the work directory, and only when asked
//! (`--peers`), because the install needs the network and the runs are long.
//!
//! Ansible is tuned the way its documentation recommends for speed: forks
//! equal to the fleet size up to 50, pipelining, no fact gathering, a fixed
//! Python interpreter (no discovery), and ControlPersist masters (its default
//! 60 s) in a private control directory. Its first run of each pair starts
//! without masters; the second finds the first run's masters, so Ansible's
//! second run is "warm" in dtrplay's terms. pyinfra (paramiko) keeps nothing
//! between runs: both its runs are cold.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What is installed into the virtualenv. Versions are not pinned: the
/// newest ones that support the local Python are taken, and the results
/// record which ones ran.
const PACKAGES: [&str; 2] = ["ansible-core", "pyinfra>=3"];

/// Ansible's fork cap, as in the issue: forks = N up to 50.
const ANSIBLE_MAX_FORKS: usize = 50;

/// The installed peers.
pub struct Peers {
    pub venv: PathBuf,
    pub versions: Vec<(String, String)>,
}

impl Peers {
    /// Creates the virtualenv with `python` and installs the peers, unless
    /// both commands are already there.
    pub fn install(venv: &Path, python: &str) -> Result<Peers, String> {
        let bin = venv.join("bin");
        if !bin.join("ansible-playbook").exists() || !bin.join("pyinfra").exists() {
            eprintln!("installing {} into {}", PACKAGES.join(", "), venv.display());
            run_quiet(Command::new(python).arg("-m").arg("venv").arg(venv))?;
            run_quiet(
                Command::new(bin.join("pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .args(PACKAGES),
            )?;
        }
        let mut versions = Vec::new();
        let output = Command::new(bin.join("pip"))
            .args(["list", "--format=freeze", "--disable-pip-version-check"])
            .output()
            .map_err(|e| format!("cannot run pip: {e}"))?;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some((name, version)) = line.split_once("==")
                && ["ansible-core", "pyinfra", "paramiko", "gevent"].contains(&name)
            {
                versions.push((name.to_string(), version.to_string()));
            }
        }
        Ok(Peers {
            venv: venv.to_path_buf(),
            versions,
        })
    }

    pub fn ansible_playbook(&self) -> PathBuf {
        self.venv.join("bin/ansible-playbook")
    }

    pub fn pyinfra(&self) -> PathBuf {
        self.venv.join("bin/pyinfra")
    }
}

fn run_quiet(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Writes an `ansible.cfg` for a fleet of `n` hosts; returns its path and
/// the environment Ansible runs with.
pub fn ansible_config(
    dir: &Path,
    n: usize,
    control_dir: &Path,
) -> Result<(PathBuf, Vec<(String, String)>), String> {
    fs::create_dir_all(control_dir)
        .map_err(|e| format!("cannot create {}: {e}", control_dir.display()))?;
    let path = dir.join(format!("ansible-{n}.cfg"));
    let forks = n.min(ANSIBLE_MAX_FORKS);
    let text = format!(
        concat!(
            "# Written by the fleet benchmark: Ansible tuned for speed.\n",
            "[defaults]\n",
            "forks = {forks}\n",
            "gathering = explicit\n",
            "interpreter_python = /usr/bin/python3\n",
            "host_key_checking = True\n",
            "retry_files_enabled = False\n",
            "deprecation_warnings = False\n",
            "\n[ssh_connection]\n",
            "pipelining = True\n",
            "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n",
            "control_path_dir = {control}\n",
        ),
        forks = forks,
        control = control_dir.display(),
    );
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let env = vec![
        ("ANSIBLE_CONFIG".to_string(), path.display().to_string()),
        (
            "ANSIBLE_HOME".to_string(),
            dir.join("ansible-home").display().to_string(),
        ),
        ("ANSIBLE_NOCOLOR".to_string(), "1".to_string()),
    ];
    Ok((path, env))
}

/// Stops every ssh master whose socket is in `control_dir` (Ansible's, or
/// the floor's), so that the next run starts cold.
pub fn stop_masters(control_dir: &Path) {
    let Ok(entries) = fs::read_dir(control_dir) else {
        return;
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let mut path = std::ffi::OsString::from("ControlPath=");
        path.push(entry.path());
        // The destination is required by the command line but unused: the
        // control path alone names the master.
        let child = Command::new("ssh")
            .arg("-o")
            .arg(path)
            .args(["-O", "exit", "benchmark-master"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(child) = child {
            children.push(child);
        }
    }
    for mut child in children {
        let _ = child.wait();
    }
}

/// The `changed=` counts of an Ansible PLAY RECAP, one per host.
pub fn ansible_changed(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("changed="))
                .and_then(|n| n.parse().ok())
        })
        .collect()
}
