//! Hosts where escalation cannot work: sudo missing, a login user sudoers
//! does not allow, and sudoers' `Defaults requiretty`. Each fails that host
//! with a message saying what is wrong and what to change, and leaves the
//! host as it was; the other hosts go on.

use std::time::{Duration, Instant};

use super::{ROOT_WORK, project, recap_counts};
use crate::harness::Nodes;
use dtrplay_lab::users::{self, Users};

/// Writes a sudoers file into a node's private `/etc/sudoers.d` (the
/// node's view only; sudo wants it owned by root, mode 0440).
fn sudoers_file(nodes: &Nodes, node: &str, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = users::sudoers_dir(&nodes.node(node).root).join(name);
    std::fs::write(&path, text).expect("write the node's sudoers file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).expect("chmod");
}

#[test]
fn a_login_user_sudoers_does_not_allow_fails_its_host_clearly() {
    let nodes = Nodes::start_with_users(2, Users::operator("lab-pass-7"));
    // node1's sudoers no longer names operator.
    std::fs::remove_file(users::sudoers_dir(&nodes.node("node1").root).join("90-dtrplay-lab"))
        .expect("take operator out of node1's sudoers");
    let project = project(&nodes, ROOT_WORK, "");
    for client in ["native", "openssh"] {
        let started = Instant::now();
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--ssh-client",
            client,
        ]);
        assert!(started.elapsed() < Duration::from_secs(30), "it waited");
        run.status(2)
            .stdout_has("operator may not use sudo to become root on node1")
            .stdout_has("allow operator in the sudoers of node1");
        assert!(!nodes.node("node1").path("/srv/escalated").exists());
        assert!(nodes.node("node2").path("/srv/escalated/app.conf").exists());
        let _ = std::fs::remove_dir_all(nodes.node("node2").path("/srv/escalated"));
    }
}

#[test]
fn requiretty_in_sudoers_is_explained_with_the_line_to_add() {
    let nodes = Nodes::start_with_users(2, Users::operator("lab-pass-8"));
    // Some distributions shipped `Defaults requiretty`; dtrplay drives sudo
    // without a terminal, as Ansible with pipelining does.
    sudoers_file(&nodes, "node1", "10-requiretty", "Defaults requiretty\n");
    let project = project(&nodes, ROOT_WORK, "");
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(2)
        .stdout_has("sudo on node1 requires a terminal")
        .stdout_has("Defaults:operator !requiretty");
    assert!(!nodes.node("node1").path("/srv/escalated").exists());
    assert!(nodes.node("node2").path("/srv/escalated/app.conf").exists());

    // The line the message suggests is enough.
    sudoers_file(
        &nodes,
        "node1",
        "20-dtrplay",
        "Defaults:operator !requiretty\n",
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(recap_counts(&run, "node1"), (4, 2, 0, 0));
}

#[test]
fn sudo_missing_on_a_host_fails_that_host_clearly() {
    // Copy-on-write nodes: operator removes sudo from node1 with sudo
    // itself, in node1's overlay of /usr only.
    let nodes = Nodes::start_with_users_copy_on_write(2, Users::operator("lab-pass-9"));
    nodes.sh("node1", "sudo rm /usr/bin/sudo");
    assert!(std::path::Path::new("/usr/bin/sudo").exists());
    let project = project(&nodes, ROOT_WORK, "");
    for client in ["native", "openssh"] {
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--ssh-client",
            client,
        ]);
        run.status(2)
            .stdout_has("sudo is not installed on node1 (or not on the PATH of operator)")
            .stdout_has("set become_exe / ansible_become_exe to its path");
        assert!(!nodes.node("node1").path("/srv/escalated").exists());
        assert!(nodes.node("node2").path("/srv/escalated/app.conf").exists());
        let _ = std::fs::remove_dir_all(nodes.node("node2").path("/srv/escalated"));
    }
}
