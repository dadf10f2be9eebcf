//! sudo that asks for the login user's password (`lab up --sudo password`):
//! the password from the terminal (`-K`), a file and a variable; wrong and
//! missing passwords; the password never shown.

use std::time::{Duration, Instant};

use super::terminal::Terminal;
use super::{ROOT_WORK, project, recap_counts};
use crate::harness::{Nodes, Run};
use dtrplay_lab::users::{Sudo, Users};

const PASSWORD: &str = "Sudo-Pass-4711";

fn password_nodes(count: usize) -> Nodes {
    Nodes::start_with_users(
        count,
        Users {
            sudo: Sudo::Password,
            ..Users::operator(PASSWORD)
        },
    )
}

/// The password appears nowhere in what a run shows.
#[track_caller]
fn never_shown(run: &Run, password: &str) {
    assert!(
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "the password was shown\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

/// Removes what the playbook wrote, and sudo's records of earlier
/// successful authentications, so that every run must give the password.
fn clean(nodes: &Nodes) {
    for node in nodes.fleet.nodes() {
        let _ = std::fs::remove_dir_all(node.path("/srv/escalated"));
        let records = node.root.join("sudo/ts");
        for entry in std::fs::read_dir(&records)
            .expect("sudo's records")
            .flatten()
        {
            std::fs::remove_file(entry.path()).expect("forget an authentication");
        }
    }
}

#[test]
fn the_password_comes_from_a_file_or_a_variable() {
    let nodes = password_nodes(2);
    let project = project(&nodes, ROOT_WORK, "");
    project.file("become-pass.txt", &format!("{PASSWORD}\n"));
    for client in ["native", "openssh"] {
        clean(&nodes);
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "-vv",
            "--ssh-client",
            client,
            "--become-password-file",
            "become-pass.txt",
        ]);
        run.success();
        never_shown(&run, PASSWORD);
        assert_eq!(recap_counts(&run, "node2"), (4, 2, 0, 0), "{client}");
        assert!(nodes.node("node1").path("/srv/escalated/app.conf").exists());
    }

    // `ansible_become_password` (and its older name `ansible_become_pass`)
    // per host, from the inventory.
    for name in ["ansible_become_password", "ansible_become_pass"] {
        clean(&nodes);
        let project = project_with_vars(&nodes, &format!("{name}: {PASSWORD}"));
        let run = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
        run.success();
        never_shown(&run, PASSWORD);
        assert!(
            nodes.node("node2").path("/srv/escalated/app.conf").exists(),
            "{name}"
        );
    }
}

fn project_with_vars(nodes: &Nodes, vars: &str) -> crate::harness::Project {
    project(nodes, ROOT_WORK, vars)
}

#[test]
fn dash_capital_k_asks_once_on_the_terminal_for_every_host() {
    let nodes = password_nodes(2);
    let project = project(&nodes, ROOT_WORK, "");
    let mut terminal = Terminal::run(
        &project,
        &[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "-K",
        ],
    );
    terminal.wait_for("BECOME password: ");
    terminal.type_line(PASSWORD);
    let screen_before = terminal.screen();
    let run = terminal.finish(&project);
    run.success();
    never_shown(&run, PASSWORD);
    assert_eq!(recap_counts(&run, "node1"), (4, 2, 0, 0));
    assert_eq!(recap_counts(&run, "node2"), (4, 2, 0, 0));
    // Asked once for the whole run, and not echoed while typed.
    assert_eq!(screen_before.matches("BECOME password:").count(), 1);
    assert!(!screen_before.contains(PASSWORD), "{screen_before:?}");
}

#[test]
fn wrong_and_missing_passwords_fail_each_host_clearly_and_change_nothing() {
    let nodes = password_nodes(2);
    let project = project(&nodes, ROOT_WORK, "");
    project.file("wrong.txt", "Not-The-Password\n");
    let started = Instant::now();
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--become-password-file",
        "wrong.txt",
    ]);
    assert!(started.elapsed() < Duration::from_secs(30), "it waited");
    run.status(2)
        .stdout_has("incorrect sudo password for operator on node1")
        .stdout_has("incorrect sudo password for operator on node2");
    never_shown(&run, "Not-The-Password");
    for node in ["node1", "node2"] {
        assert!(!nodes.node(node).path("/srv/escalated").exists(), "{node}");
    }

    // No password at all: sudo is never left waiting for one.
    let started = Instant::now();
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    assert!(started.elapsed() < Duration::from_secs(30), "it waited");
    run.status(2)
        .stdout_has("sudo on node1 needs a password for operator")
        .stdout_has("-K (--ask-become-pass)");
    assert!(!nodes.node("node1").path("/srv/escalated").exists());

    // -K without a terminal says what to do instead, before any host is
    // contacted.
    // (`setsid` makes sure the run has no terminal, whoever runs the tests.)
    let dtrplay = project.command(&["apply", "site.yml", "-i", "inventory.yml", "-K"]);
    let output = std::process::Command::new("setsid")
        .arg("--wait")
        .arg(dtrplay.get_program())
        .args(dtrplay.get_args())
        .current_dir(project.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run dtrplay without a terminal");
    project
        .finished(output)
        .status(4)
        .stderr_has("-K needs a terminal")
        .stderr_has("--become-password-file");
}

#[test]
fn su_asks_for_the_target_users_password() {
    let nodes = Nodes::start_with_users(
        1,
        Users {
            root_password: Some("Root-Pass-0815".into()),
            ..Users::operator(PASSWORD)
        },
    );
    let project = project(
        &nodes,
        ROOT_WORK,
        "ansible_become_method: su\nansible_become_password: Root-Pass-0815",
    );
    for client in ["native", "openssh"] {
        clean(&nodes);
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "--ssh-client",
            client,
        ]);
        run.success();
        never_shown(&run, "Root-Pass-0815");
        assert_eq!(recap_counts(&run, "node1"), (4, 2, 0, 0), "{client}");
    }

    // The login user's password is not root's: su refuses it, clearly, and
    // without a password it says whose password it needs.
    let project = super::project(&nodes, ROOT_WORK, "ansible_become_method: su");
    project.file("wrong.txt", &format!("{PASSWORD}\n"));
    clean(&nodes);
    let started = Instant::now();
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--become-password-file",
        "wrong.txt",
    ]);
    assert!(started.elapsed() < Duration::from_secs(30), "it waited");
    run.status(2)
        .stdout_has("incorrect su password for root on node1");
    assert!(!nodes.node("node1").path("/srv/escalated").exists());
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(2)
        .stdout_has("su on node1 needs a password for root");
}
