//! ansible-core from PyPI in a private virtualenv: the oracle's reference
//! implementation.
//!
//! The version is pinned, so that what "Ansible does" is one fixed thing
//! for every run of the suite. The virtualenv, with the collections of the
//! `ansible` package that the fallback tests run, is created once per build
//! directory (`target/tmp/oracle/`) by `scripts/oracle`, which
//! `./scripts/prepare --tests` runs, or else by the first test that needs
//! it; other tests wait for it and then reuse it. Each part is marked
//! complete last, so a run that is killed halfway leaves nothing a later
//! run would trust.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The ansible-core release the oracle runs (scripts/oracle installs it).
/// 2.19 is the newest series that still runs its controller on Debian 12's
/// Python 3.11.
pub const ANSIBLE_CORE: &str = "2.19.14";

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
    let venv = root.join(format!("ansible-core-{ANSIBLE_CORE}"));
    // One installer for the suite and for `./scripts/prepare --tests`:
    // scripts/oracle locks, installs what is missing, marks each part
    // complete last, and returns at once when everything is there.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oracle");
    run(Command::new(script).env("DTRPLAY_ORACLE_DIR", &root))?;
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
