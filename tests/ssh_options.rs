//! What people write in `ansible_ssh_common_args` and ssh_config, served by
//! the native client against real sshd nodes configured to offer one
//! cipher, one MAC, one host key algorithm: algorithm lists with their
//! `+`/`-`/`^` modifiers, `HostKeyAlias`, `CheckHostIP`, `AddressFamily`,
//! `ConnectTimeout`. Every run goes through `dtrplay apply -v`, which says
//! which client carried each host.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dtrplay_lab::node::Node;

use crate::harness::{Nodes, Project};

const PLAYBOOK: &str = r#"
    - hosts: all
      gather_facts: false
      tasks:
        - command: echo reached
          changed_when: false
"#;

/// One inventory host entry reaching `node` at `address` with the fleet's
/// key and exactly `args` as its common arguments.
fn host(node: &Node, address: &str, args: &str) -> String {
    format!(
        "    {}:\n      ansible_host: {address}\n      ansible_port: {}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{args}\"\n",
        node.name,
        node.port,
        node.user,
        node.private_key().display(),
    )
}

fn inventory(entries: &[String]) -> String {
    format!("all:\n  hosts:\n{}", entries.concat())
}

/// The arguments that trust exactly `known_hosts`, strictly, plus `extra`.
fn strict(known_hosts: &std::path::Path, extra: &str) -> String {
    format!(
        "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes {extra}",
        known_hosts.display()
    )
}

/// Runs the playbook on `inventory` with `apply -v`.
fn apply(project: &Project, inventory: &str) -> crate::harness::Run {
    project.file("site.yml", PLAYBOOK);
    project.file("hosts.yml", inventory);
    project.run(&["apply", "site.yml", "-i", "hosts.yml", "-v"])
}

#[test]
fn the_issue_inventory_with_algorithm_options_stays_native() {
    let nodes = Nodes::start(2);
    let known_hosts = nodes.fleet.known_hosts_path();
    let args = strict(
        known_hosts,
        "-o HostKeyAlgorithms=ssh-ed25519 -o KexAlgorithms=curve25519-sha256 -o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o IdentitiesOnly=yes -o IdentityAgent=none -o ConnectTimeout=7 -o CheckHostIP=no -o AddressFamily=inet",
    );
    let entries: Vec<String> = nodes
        .fleet
        .nodes()
        .iter()
        .map(|n| host(n, &n.host.to_string(), &args))
        .collect();
    let project = Project::new();
    let run = apply(&project, &inventory(&entries));
    run.success()
        .stdout_has("node1: connected with native SSH (curve25519-sha256)")
        .stdout_has("node2: connected with native SSH (curve25519-sha256)");
}

#[test]
fn ciphers_and_macs_with_modifiers_reach_nodes_that_offer_only_one() {
    let mut nodes = Nodes::start(2);
    // node1 offers only a cipher the native default leaves out; node2 only
    // a MAC it leaves out.
    nodes.reconfigure("node1", "Ciphers aes128-gcm@openssh.com\n");
    nodes.reconfigure("node2", "Ciphers aes128-ctr\nMACs hmac-sha1\n");
    let known_hosts = nodes.fleet.known_hosts_path().to_path_buf();
    let (node1, node2) = (nodes.node("node1"), nodes.node("node2"));
    let project = Project::new();

    // With the defaults, there is nothing in common, and it says what.
    let plain = inventory(&[
        host(node1, &node1.host.to_string(), &strict(&known_hosts, "")),
        host(node2, &node2.host.to_string(), &strict(&known_hosts, "")),
    ]);
    let run = apply(&project, &plain);
    run.status(3)
        .stdout_has("no matching Cipher algorithm")
        .stdout_has("no matching Mac algorithm");

    // The modifiers add what each node offers, and the hosts stay native.
    let added = inventory(&[
        host(
            node1,
            &node1.host.to_string(),
            &strict(&known_hosts, "-o Ciphers=+aes128-gcm@openssh.com"),
        ),
        host(
            node2,
            &node2.host.to_string(),
            &strict(&known_hosts, "-o Ciphers=aes*-ctr -o MACs=^hmac-sha1"),
        ),
    ]);
    apply(&project, &added)
        .success()
        .stdout_has("node1: connected with native SSH")
        .stdout_has("node2: connected with native SSH");

    // A cipher the native client does not implement sends the host to
    // OpenSSH, which says why with -v.
    let other = inventory(&[host(
        node2,
        &node2.host.to_string(),
        &strict(
            &known_hosts,
            "-o Ciphers=3des-cbc,aes128-ctr -o MACs=hmac-sha1",
        ),
    )]);
    apply(&project, &other)
        .success()
        .stdout_has("node2: connected with OpenSSH: the cipher 3des-cbc is not supported natively");
}

#[test]
fn host_key_algorithms_and_alias_choose_which_key_is_checked_and_where() {
    let mut nodes = Nodes::start(1);
    let root = nodes.node("node1").root.clone();
    let ecdsa = root.join("ssh_host_ecdsa_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "", "-f"])
        .arg(&ecdsa)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    nodes.reconfigure(
        "node1",
        &format!(
            "HostKey {}\nHostKeyAlgorithms ecdsa-sha2-nistp256\n",
            ecdsa.display()
        ),
    );
    let node = nodes.node("node1");
    let address = node.host.to_string();
    // The node's address knows only its Ed25519 key; its ECDSA key is
    // recorded under an alias.
    let project = Project::new();
    let known_hosts = project.file(
        "known_hosts",
        &format!(
            "[{address}]:{} {}\nbuild-node {}\n",
            node.port,
            nodes.public_key("node1", "ssh_host_ed25519_key.pub"),
            nodes.public_key("node1", "ssh_host_ecdsa_key.pub"),
        ),
    );
    let with = |extra: &str| inventory(&[host(node, &address, &strict(&known_hosts, extra))]);

    // Only Ed25519 offered: the node has no such algorithm any more.
    apply(&project, &with("-o HostKeyAlgorithms=ssh-ed25519"))
        .status(3)
        .stdout_has("no matching Key algorithm");
    // ECDSA offered: the key is checked under the address, which does not
    // record it.
    apply(&project, &with("-o HostKeyAlgorithms=-ssh-ed25519"))
        .status(3)
        .stdout_has("No ecdsa-sha2-nistp256 host key is known");
    // And under the alias, which does.
    apply(
        &project,
        &with("-o HostKeyAlgorithms=^ecdsa-sha2-nistp256 -o HostKeyAlias=build-node"),
    )
    .success()
    .stdout_has("node1: connected with native SSH");
}

#[test]
fn address_family_and_check_host_ip_for_a_host_named_localhost() {
    // The fleet's first node listens on 127.0.0.1, the address `localhost`
    // resolves to.
    let nodes = Nodes::start_with(1, |options| options.subnet = Some((0, 0)));
    let node = nodes.node("node1");
    let project = Project::new();
    let key = nodes.public_key("node1", "ssh_host_ed25519_key.pub");
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKPempD9U9hBHeqb6MfehRMQJJLyCbY9jTBKjrYxvbCb";
    // The name is recorded with the node's key; the address with another.
    let known_hosts = project.file(
        "known_hosts",
        &format!(
            "[localhost]:{port} {key}\n[127.0.0.1]:{port} {other}\n",
            port = node.port
        ),
    );
    let with = |extra: &str| inventory(&[host(node, "localhost", &strict(&known_hosts, extra))]);

    apply(&project, &with("-o AddressFamily=inet"))
        .success()
        .stdout_has("node1: connected with native SSH");
    apply(&project, &with("-o AddressFamily=inet6"))
        .status(3)
        .stdout_has("Address family for hostname not supported");
    // CheckHostIP notices that the address is recorded with another key,
    // and strict checking refuses it, as ssh does.
    apply(&project, &with("-o CheckHostIP=yes"))
        .status(3)
        .stdout_has("REMOTE HOST IDENTIFICATION HAS CHANGED");
}

#[test]
fn connect_timeout_bounds_the_wait_for_a_silent_server() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    // A port that accepts connections and never says a word.
    let silent = TcpListener::bind((node.host, 0)).expect("bind");
    let port = silent.local_addr().expect("address").port();
    let project = Project::new();
    let entry = format!(
        "    silent:\n      ansible_host: {}\n      ansible_port: {port}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{}\"\n",
        node.host,
        node.private_key().display(),
        strict(nodes.fleet.known_hosts_path(), "-o ConnectTimeout=1"),
    );
    let started = Instant::now();
    apply(&project, &inventory(&[entry]))
        .status(3)
        .stdout_has("Connection timed out during banner exchange");
    // Four attempts of one second and their backoff, far below dtrplay's
    // own ten-second timeout per attempt.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
