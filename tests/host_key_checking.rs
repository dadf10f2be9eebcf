//! Host key checking as the inventory relaxes it (issue 11 §5), the same
//! with the native client and with OpenSSH: `StrictHostKeyChecking no`,
//! `accept-new`, `ansible_host_key_checking: false` and
//! `ANSIBLE_HOST_KEY_CHECKING=False` each warn, naming the host and the
//! setting, on every run; a changed key is refused unless checking is
//! explicitly off; `accept-new` accepts and records only unknown hosts.

use std::path::Path;

use dtrplay_lab::node::Node;

use crate::harness::{Nodes, Project, Run};

const PLAYBOOK: &str = r#"
    - hosts: all
      gather_facts: false
      tasks:
        - command: echo reached
          changed_when: false
"#;

const CLIENTS: [&str; 2] = ["native", "openssh"];

/// An inventory reaching `node` with `client`, trusting `known_hosts`,
/// with `args` after it and `vars` (YAML lines for the host) besides.
fn inventory(node: &Node, client: &str, known_hosts: &Path, args: &str, vars: &str) -> String {
    let mut out = format!(
        "all:\n  hosts:\n    {}:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      dtrplay_ssh_client: {client}\n      ansible_ssh_common_args: \"-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null {args}\"\n",
        node.name,
        node.host,
        node.port,
        node.user,
        node.private_key().display(),
        known_hosts.display(),
    );
    for line in vars.lines() {
        out.push_str(&format!("      {line}\n"));
    }
    out
}

fn apply(project: &Project, inventory: &str, env: &[(&str, &str)]) -> Run {
    project.file("site.yml", PLAYBOOK);
    project.file("hosts.yml", inventory);
    let mut command = project.command(&["apply", "site.yml", "-i", "hosts.yml", "-v"]);
    for (name, value) in env {
        command.env(name, value);
    }
    project.finished(command.output().expect("run dtrplay"))
}

#[test]
fn a_changed_host_key_is_refused_unless_checking_is_explicitly_off() {
    let mut nodes = Nodes::start(1);
    nodes.change_host_key("node1");
    let node = nodes.node("node1");
    let project = Project::new();
    // The fleet's known_hosts still records the old key.
    let old = std::fs::read_to_string(nodes.fleet.known_hosts_path()).expect("known_hosts");
    let known_hosts = project.file("known_hosts", &old);
    for client in CLIENTS {
        let run = |args: &str, vars: &str, env: &[(&str, &str)]| {
            apply(
                &project,
                &inventory(node, client, &known_hosts, args, vars),
                env,
            )
        };
        let refused = run("-o StrictHostKeyChecking=yes", "", &[]);
        refused.status(3);
        assert!(
            refused
                .stdout
                .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{client}: {}",
            refused.stdout
        );
        let refused = run("-o StrictHostKeyChecking=accept-new", "", &[]);
        refused.status(3);
        assert!(
            refused
                .stdout
                .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{client}: {}",
            refused.stdout
        );

        let off = "host key checking is off for node1 (StrictHostKeyChecking no";
        run("-o StrictHostKeyChecking=no", "", &[])
            .success()
            .stdout_has(&format!("[WARNING] [node1]: {off}, in the ssh arguments)"));
        run("", "ansible_host_key_checking: false", &[])
            .success()
            .stdout_has(off);
        run("", "", &[("ANSIBLE_HOST_KEY_CHECKING", "False")])
            .success()
            .stdout_has(off)
            .stdout_has("host key checking is off ($ANSIBLE_HOST_KEY_CHECKING)");
        // The known key was not replaced by the changed one.
        assert_eq!(std::fs::read_to_string(&known_hosts).expect("read"), old);
    }
    // The native client also says which key it accepted instead of which.
    apply(
        &project,
        &inventory(
            node,
            "native",
            &known_hosts,
            "-o StrictHostKeyChecking=no",
            "",
        ),
        &[],
    )
    .success()
    .stdout_has("and StrictHostKeyChecking no accepts it");
}

#[test]
fn accept_new_records_an_unknown_host_and_the_next_strict_run_knows_it() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = Project::new();
    // Recorded under `[address]:port`, hashed when the system's ssh_config
    // says HashKnownHosts (Debian's does), as ssh records it.
    let name = format!("[{}]:{}", node.host, node.port);
    let key = nodes.public_key("node1", "ssh_host_ed25519_key.pub");
    for client in CLIENTS {
        let known_hosts = project.path().join(format!("known_hosts_{client}"));
        let strict = inventory(
            node,
            client,
            &known_hosts,
            "-o StrictHostKeyChecking=yes",
            "",
        );
        apply(&project, &strict, &[])
            .status(3)
            .stdout_has("Host key verification failed");

        let relaxed = inventory(
            node,
            client,
            &known_hosts,
            "-o StrictHostKeyChecking=accept-new",
            "",
        );
        apply(&project, &relaxed, &[]).success().stdout_has(
            "[WARNING] [node1]: host key checking is relaxed for node1 (StrictHostKeyChecking accept-new, in the ssh arguments)",
        );
        let text = std::fs::read_to_string(&known_hosts).expect("the key was recorded");
        assert!(
            text.lines()
                .any(|l| l.trim().ends_with(&key) && (l.starts_with(&name) || l.starts_with("|1|"))),
            "{client}: {text}"
        );

        let run = apply(&project, &strict, &[]);
        run.success();
        assert!(
            !run.stdout.contains("[WARNING]"),
            "{client}: {}",
            run.stdout
        );
    }
}
