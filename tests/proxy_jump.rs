//! ProxyJump on the native client: the jump host connected natively, each
//! host behind it reached over a `direct-tcpip` channel of that one
//! connection, against real sshd nodes (the jump node's `PermitOpen` shows
//! that the traffic goes through it).

use crate::harness::{Nodes, Project};

const PLAYBOOK: &str = r#"
    - hosts: all
      gather_facts: false
      tasks:
        - command: echo reached
          changed_when: false
"#;

/// How many logins the sshd of `name` accepted.
fn logins(nodes: &Nodes, name: &str) -> usize {
    std::fs::read_to_string(nodes.node(name).root.join("sshd.log"))
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

#[test]
fn hosts_behind_a_jump_host_share_its_one_native_connection() {
    let mut nodes = Nodes::start(4);
    let reach = |name: &str| {
        let n = nodes.node(name);
        format!("{}:{}", n.host, n.port)
    };
    // The jump host forwards to node2 and node3 only.
    let permit = format!("PermitOpen {} {}\n", reach("node2"), reach("node3"));
    nodes.reconfigure("node1", &permit);
    let before = logins(&nodes, "node1");
    // The jump host is reached by its name in the fleet's ssh_config (its
    // address, key and known_hosts), the hosts by the inventory.
    let args = format!(
        "-F {} -o ProxyJump=node1 -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
        nodes.fleet.ssh_config_path().display(),
        nodes.fleet.known_hosts_path().display()
    );
    let mut inventory = String::from("all:\n  hosts:\n");
    for name in ["node2", "node3", "node4"] {
        let n = nodes.node(name);
        inventory.push_str(&format!(
            "    {name}:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{args}\"\n",
            n.host,
            n.port,
            n.user,
            n.private_key().display()
        ));
    }
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file("hosts.yml", &inventory);
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "hosts.yml",
        "-v",
        "--output",
        "json",
    ]);
    run.status(3);
    let recap = run.recap();
    assert_eq!(recap["node2"]["ok"], 1, "{}", run.stdout);
    assert_eq!(recap["node3"]["ok"], 1, "{}", run.stdout);
    assert_eq!(recap["node4"]["unreachable"], 1, "{}", run.stdout);
    let connected: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "connected")
        .map(|e| {
            format!(
                "{}: {}",
                e["host"].as_str().unwrap_or(""),
                e["via"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        connected,
        [
            "node2: native SSH (curve25519-sha256) via node1",
            "node3: native SSH (curve25519-sha256) via node1"
        ],
        "{}",
        run.stdout
    );
    // node4 is refused by the jump host, which names it.
    assert!(
        run.stdout.contains(&format!(
            "the jump host node1 could not open a connection to {}",
            nodes.node("node4").host
        )),
        "{}",
        run.stdout
    );
    // One login on the jump host for the three hosts behind it.
    assert_eq!(logins(&nodes, "node1") - before, 1);
}
