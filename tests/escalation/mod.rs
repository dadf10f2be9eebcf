//! `become` over real sshd nodes whose login user is not root, with the real
//! sudo (and su) of Debian's packages and the nodes' own sudoers.

mod become_user;
mod first_shell;
mod keywords;
mod passwords;
mod refusals;
pub mod terminal;

use crate::harness::{Nodes, Project};
use dtrplay_lab::users::Users;

/// A playbook that needs root: it writes under the node's root-owned /srv.
const ROOT_WORK: &str = r#"
    - hosts: all
      become: true
      tasks:
        - name: Who am I
          command: id -un
          register: who
          changed_when: false
        - assert:
            that: who.stdout == 'root'
        - name: A root-owned directory
          file:
            path: /srv/escalated
            state: directory
            mode: "0750"
        - name: A root-owned file
          copy:
            content: "written as root\n"
            dest: /srv/escalated/app.conf
            mode: "0640"
            owner: root
"#;

fn project(nodes: &Nodes, playbook: &str, vars: &str) -> Project {
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], vars));
    project.file("site.yml", playbook);
    project
}

fn recap_counts(run: &crate::harness::Run, host: &str) -> (u64, u64, u64, u64) {
    let recap = run.recap();
    let h = &recap[host];
    let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
    (n("ok"), n("changed"), n("failed"), n("unreachable"))
}

#[test]
fn passwordless_sudo_runs_tasks_as_root_with_either_client() {
    let nodes = Nodes::start_with_users(2, Users::operator("lab-pass-1"));
    assert_eq!(nodes.node("node1").user, "operator");
    let project = project(&nodes, ROOT_WORK, "");
    for client in ["native", "openssh"] {
        let _ = std::fs::remove_dir_all(nodes.node("node1").path("/srv/escalated"));
        let _ = std::fs::remove_dir_all(nodes.node("node2").path("/srv/escalated"));
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
        assert_eq!(recap_counts(&run, "node1"), (4, 2, 0, 0), "{client}");
        let file = nodes.node("node2").path("/srv/escalated/app.conf");
        let meta = std::fs::metadata(&file).expect("the file exists");
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o640), "{client}");
        let again = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "--ssh-client",
            client,
        ]);
        again.success();
        assert_eq!(
            recap_counts(&again, "node1"),
            (4, 0, 0, 0),
            "{client}: idempotent"
        );
    }
}

#[test]
fn without_become_tasks_run_as_the_login_user_and_root_login_is_refused() {
    let nodes = Nodes::start_with_users(1, Users::operator("lab-pass-2"));
    let playbook = r#"
        - hosts: all
          tasks:
            - command: id -un
              register: who
            - assert:
                that: who.stdout == 'operator'
            - file:
                path: /srv/not-mine
                state: directory
    "#;
    let project = project(&nodes, playbook, "");
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(2).stdout_has("Permission denied");
    assert!(!nodes.node("node1").path("/srv/not-mine").exists());

    let root = project.file(
        "root.yml",
        &nodes
            .inventory(&[], "")
            .replace("ansible_user: operator", "ansible_user: root"),
    );
    let run = project.run(&["apply", "site.yml", "-i", root.to_str().expect("path")]);
    run.status(3).stdout_has("Permission denied");
}
