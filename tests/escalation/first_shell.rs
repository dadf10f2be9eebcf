//! The escalated shell opens with the connection when the host's settings
//! say its tasks become (`connection::connect_as`): a fleet reached as a
//! login user and run as root starts one session per host, not two, and
//! the login user's shell opens only when a task does not become. The
//! nodes' sshd logs every session it starts (`LogLevel VERBOSE` in a
//! `Match` block, which overrides the lab's `INFO`).

use crate::harness::Nodes;
use dtrplay_lab::users::Users;

/// How many sessions (channels running a command) the sshd of `name` has
/// started so far.
fn sessions(nodes: &Nodes, name: &str) -> usize {
    std::fs::read_to_string(nodes.node(name).root.join("sshd.log"))
        .unwrap_or_default()
        .matches("Starting session: command for")
        .count()
}

/// Every task becomes root through the inventory's `ansible_become`.
const AS_ROOT: &str = r#"
    - hosts: all
      gather_facts: false
      tasks:
        - command: id -un
          register: who
          changed_when: false
        - assert:
            that: who.stdout == 'root'
        - file:
            path: /srv/first-shell
            state: directory
            mode: "0750"
"#;

#[test]
fn a_host_whose_tasks_all_become_starts_only_the_escalated_shell() {
    let mut nodes = Nodes::start_with_users(2, Users::operator("lab-pass-first-1"));
    for name in ["node1", "node2"] {
        nodes.reconfigure(name, "Match all\nLogLevel VERBOSE\n");
    }
    let project = super::project(&nodes, AS_ROOT, "ansible_become: true");
    for client in ["native", "openssh"] {
        let _ = std::fs::remove_dir_all(nodes.node("node1").path("/srv/first-shell"));
        let before = sessions(&nodes, "node1");
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
        assert_eq!(super::recap_counts(&run, "node1"), (3, 1, 0, 0), "{client}");
        let meta = std::fs::metadata(nodes.node("node1").path("/srv/first-shell"))
            .expect("the directory exists");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.uid(), 0, "{client}: written as root");
        // One session: the escalated shell. Before it opened with the
        // connection, the login user's shell came first and sudo's second.
        assert_eq!(sessions(&nodes, "node1") - before, 1, "{client}");
    }
}

#[test]
fn a_task_that_does_not_become_opens_the_login_users_shell_on_first_use() {
    let mut nodes = Nodes::start_with_users(1, Users::operator("lab-pass-first-2"));
    nodes.reconfigure("node1", "Match all\nLogLevel VERBOSE\n");
    let playbook = r#"
        - hosts: all
          gather_facts: false
          become: true
          tasks:
            - command: id -un
              register: escalated
              changed_when: false
            - command: id -un
              become: false
              register: login
              changed_when: false
            - assert:
                that:
                  - escalated.stdout == 'root'
                  - login.stdout == 'operator'
    "#;
    // The play's `become` (a task keyword overrides it; `ansible_become`
    // would override the task, as in Ansible).
    let project = super::project(&nodes, playbook, "");
    let before = sessions(&nodes, "node1");
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(super::recap_counts(&run, "node1"), (3, 0, 0, 0));
    assert_eq!(sessions(&nodes, "node1") - before, 2);
}
