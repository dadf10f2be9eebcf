//! ansible-core from PyPI in a private virtualenv: the oracle's reference
//! implementation.
//!
//! The version is pinned, so that what "Ansible does" is one fixed thing
//! for every run of the suite. The virtualenv is created once per build
//! directory (`target/tmp/oracle/`), by the first test that needs it; other
//! tests wait for it and then reuse it. It is marked complete last, so a
//! run that is killed halfway leaves nothing a later run would trust.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The ansible-core release the oracle runs. 2.19 is the newest series that
/// still runs its controller on Debian 12's Python 3.11.
pub const ANSIBLE_CORE: &str = "2.19.14";

/// The Python the virtualenv is made with, and the one Ansible finds on the
/// lab nodes (which see the machine's own filesystem). Debian's, not a
/// developer's pyenv shim.
const PYTHON: &str = "/usr/bin/python3";

/// An installed ansible-core.
pub struct Ansible {
    venv: PathBuf,
}

static INSTALLED: OnceLock<Result<Ansible, String>> = OnceLock::new();

impl Ansible {
    /// The oracle's Ansible, installed on first use. Panics (failing the
    /// test) when it cannot be installed: the oracle is part of the proof,
    /// never skipped.
    pub fn get() -> &'static Ansible {
        match INSTALLED.get_or_init(install) {
            Ok(ansible) => ansible,
            Err(why) => panic!("ansible-core {ANSIBLE_CORE} could not be installed: {why}"),
        }
    }

    /// A program of the virtualenv (`ansible-playbook`, `ansible`, `ansible-vault`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    /// A command for one of Ansible's programs, with an environment that
    /// keeps everything Ansible writes under `home` (its configuration,
    /// local temporary files, SSH control sockets) and nothing from the
    /// user's own configuration.
    pub fn command(&self, program: &str, home: &Path) -> Command {
        let mut command = Command::new(self.bin(program));
        let cfg = home.join("ansible.cfg");
        if !cfg.exists() {
            let text = format!(
                concat!(
                    "# Written by the oracle harness.\n",
                    "[defaults]\n",
                    "interpreter_python = auto_silent\n",
                    "host_key_checking = True\n",
                    "retry_files_enabled = False\n",
                    "deprecation_warnings = False\n",
                    "nocolor = True\n",
                    "forks = 10\n",
                    "\n[ssh_connection]\n",
                    "pipelining = True\n",
                    "ssh_args = -o ControlMaster=auto -o ControlPersist=30s\n",
                    "control_path_dir = {home}/cp\n",
                ),
                home = home.display()
            );
            std::fs::create_dir_all(home).expect("the Ansible home directory");
            std::fs::write(&cfg, text).expect("write ansible.cfg");
        }
        command
            .env("ANSIBLE_CONFIG", &cfg)
            .env("ANSIBLE_HOME", home.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
            .stdin(Stdio::null());
        command
    }
}

fn install() -> Result<Ansible, String> {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oracle");
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    let venv = root.join(format!("ansible-core-{ANSIBLE_CORE}"));
    let complete = venv.join(".complete");
    // A virtualenv's scripts name its interpreter by absolute path, so it
    // cannot be built elsewhere and renamed into place. It is built in
    // place under a lock instead (another test process may be doing the
    // same), and marked complete last.
    let lock = std::fs::File::create(root.join("install.lock"))
        .map_err(|e| format!("create the install lock: {e}"))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("lock the install: {e}"))?;
    if complete.exists() {
        return Ok(Ansible { venv });
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(PYTHON).arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("ansible-core=={ANSIBLE_CORE}")))?;
    std::fs::write(&complete, ANSIBLE_CORE).map_err(|e| format!("mark complete: {e}"))?;
    Ok(Ansible { venv })
}

fn run(command: &mut Command) -> Result<Output, String> {
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
    Ok(output)
}
