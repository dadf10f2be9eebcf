//! Every module dtrplay does not implement runs through ansible-core's own
//! code (`tasks::ansible`): the dtrplay binary, a playbook and an inventory
//! against real sshd lab nodes, with the oracle's ansible-core 2.19 from
//! PyPI (`tests/oracle/ansible.rs`, with the collections of the `ansible`
//! package) as the control machine's ansible-core.
//! Modules that change system files run on copy-on-write nodes, so that
//! nothing on this machine changes.

mod collection_search;
mod collections;
mod core_modules;
mod mysql;
mod validate;

use std::path::PathBuf;

use crate::builtins::Lab;
use crate::harness::Run;
use crate::oracle::ansible::Ansible;

/// The Python that has the oracle's ansible-core.
pub fn python() -> PathBuf {
    Ansible::get().bin("python3")
}

/// `dtrplay <args>` in the lab's project with ansible-core given by
/// `DTRPLAY_ANSIBLE_PYTHON`.
pub fn dtrplay(lab: &Lab, args: &[&str]) -> Run {
    let output = lab
        .project
        .command(args)
        .env("DTRPLAY_ANSIBLE_PYTHON", python())
        .output()
        .expect("run dtrplay");
    lab.project.finished(output)
}

/// `dtrplay apply site.yml` with JSON output and these extra arguments.
pub fn apply(lab: &Lab, extra: &[&str]) -> Run {
    let mut args = vec![
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    dtrplay(lab, &args)
}
