//! What only the native SSH client (russh) does, against real sshd nodes on
//! loopback: its own host key and key failure messages, how `--ssh-client
//! auto` chooses between it and OpenSSH, and whole `dtrplay apply` runs
//! with each client. The guarantees every transport keeps (bytes, timeouts,
//! lost nodes, parallel hosts) are the contract suite in `transports.rs`.

use std::error::Error;
use std::time::{Duration, Instant};

use dtrplay::connection::{ConnError, Connection, SshClient, Target, connect};
use dtrplay_lab::node::Node;

use crate::harness::{Nodes, Project};
use crate::transports::{Carrier, LONG, Lab, TestResult};

/// A native lab: the contract suite's, with a known_hosts file of its own
/// for a target.
fn lab() -> Result<Lab, Box<dyn Error>> {
    Lab::start(1, Carrier::Native)
}

/// A known_hosts file holding `text`, and the target's options pointing at
/// it.
fn with_known_hosts(
    lab: &Lab,
    node: &Node,
    name: &str,
    text: &str,
) -> Result<Target, Box<dyn Error>> {
    let file = lab.dir.path().join(name);
    std::fs::write(&file, text)?;
    let mut target = lab.target(node);
    target.ssh_args = vec![
        "-o".into(),
        format!("UserKnownHostsFile={}", file.display()),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
    ];
    Ok(target)
}

fn connect_error(
    result: Result<Box<dyn Connection>, ConnError>,
) -> Result<(String, String), Box<dyn Error>> {
    match result {
        Err(ConnError::Connect { message, hint, .. }) => Ok((message, hint.unwrap_or_default())),
        Err(other) => Err(format!("expected a connect error, got {other:?}").into()),
        Ok(conn) => Err(format!("connected with {}", conn.describe()).into()),
    }
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_and_never_falls_back() -> TestResult {
    let lab = lab()?;
    let node = lab.node("node1")?;
    let target = with_known_hosts(&lab, &node, "empty_known_hosts", "")?;
    for client in [SshClient::Native, SshClient::Auto] {
        let mut options = lab.options_for(client);
        options.retries = 3;
        let started = Instant::now();
        let (message, hint) = connect_error(connect(&target, &options).await)?;
        assert!(
            message.contains("Host key verification failed"),
            "{message}"
        );
        assert!(message.contains("empty_known_hosts"), "{message}");
        assert!(hint.contains("ssh-keyscan"), "{hint}");
        assert!(hint.contains("SHA256:"), "{hint}");
        assert!(started.elapsed() < Duration::from_secs(3), "retried");
    }
    assert!(lab.ssh_processes().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_changed_host_key_is_a_loud_failure() -> TestResult {
    let lab = lab()?;
    let node = lab.node("node1")?;
    // Another ed25519 key recorded for the node's address and port.
    let key = lab.keygen("impostor", "")?;
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    let line = format!("[{}]:{} {}", node.host, node.port, public.trim());
    let target = with_known_hosts(
        &lab,
        &node,
        "changed_known_hosts",
        &format!("# old\n{line}\n"),
    )?;
    for client in [SshClient::Native, SshClient::Auto] {
        let (message, hint) = connect_error(connect(&target, &lab.options_for(client)).await)?;
        assert!(
            message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{message}"
        );
        assert!(message.contains("changed_known_hosts:2"), "{message}");
        assert!(hint.contains("ssh-keygen -f"), "{hint}");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_is_refused_natively_and_auto_hands_it_to_openssh() -> TestResult {
    let lab = lab()?;
    let node = lab.node("node1")?;
    let key = lab.keygen("stranger", "")?;
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let mut options = lab.options_for(SshClient::Native);
    options.retries = 3;
    let (message, hint) = connect_error(connect(&target, &options).await)?;
    assert!(
        message.contains("Permission denied (publickey)"),
        "{message}"
    );
    assert!(message.contains("stranger"), "{message}");
    assert!(!message.contains("attempts"), "retried: {message}");
    assert!(hint.contains("ansible_ssh_private_key_file"), "{hint}");

    // In automatic mode OpenSSH gets its chance, and says the same.
    options.ssh_client = SshClient::Auto;
    let (message, _) = connect_error(connect(&target, &options).await)?;
    assert!(message.contains("Permission denied"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_passphrase_protected_key_without_an_agent_is_named() -> TestResult {
    let lab = lab()?;
    let node = lab.node("node1")?;
    let key = lab.keygen("locked", "a passphrase")?;
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let (message, _) = connect_error(connect(&target, &lab.options_for(SshClient::Native)).await)?;
    assert!(
        message.contains("passphrase-protected keys not in the agent"),
        "{message}"
    );
    assert!(message.contains("locked"), "{message}");
    // OpenSSH gets its chance in automatic mode; in batch mode it cannot ask
    // for the passphrase either.
    let (message, _) = connect_error(connect(&target, &lab.options_for(SshClient::Auto)).await)?;
    assert!(message.contains("Permission denied"), "{message}");
    Ok(())
}

#[tokio::test]
async fn auto_picks_native_for_the_lab_and_openssh_for_a_proxy_command() -> TestResult {
    let lab = lab()?;
    let node = lab.node("node1")?;
    let auto = lab.options_for(SshClient::Auto);
    let conn = connect(&lab.target(&node), &auto).await?;
    assert!(
        conn.describe().starts_with("native SSH"),
        "{}",
        conn.describe()
    );
    conn.close().await;

    // The node is its own proxy, through a ProxyCommand: OpenSSH can do
    // that, the native client cannot, so automatic mode picks OpenSSH and
    // says why.
    let config = lab.dir.path().join("jump_config");
    std::fs::write(
        &config,
        format!(
            "Host jumphost\n  HostName {host}\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n\nHost {host}\n  ProxyCommand ssh -F {config} -W %h:%p jumphost\n",
            host = node.host,
            port = node.port,
            user = node.user,
            key = lab.fleet.private_key_path().display(),
            kh = lab.fleet.known_hosts_path().display(),
            config = config.display(),
        ),
    )?;
    let mut target = lab.target(&node);
    target
        .ssh_args
        .extend(["-F".to_string(), config.display().to_string()]);
    let conn = connect(&target, &auto).await?;
    let via = conn.describe();
    assert!(
        via.starts_with("OpenSSH: ProxyCommand is not supported natively"),
        "{via}"
    );
    assert!(via.contains("jump_config:13"), "{via}");
    assert_eq!(
        conn.run("echo jumped", b"", LONG).await?.stdout,
        b"jumped\n"
    );
    conn.close().await;

    // Forcing the native client there is an error that says why.
    let (message, hint) =
        connect_error(connect(&target, &lab.options_for(SshClient::Native)).await)?;
    assert!(message.contains("ProxyCommand"), "{message}");
    assert!(hint.contains("dtrplay_ssh_client"), "{hint}");

    // A host's dtrplay_ssh_client overrides the run's choice.
    let mut target = lab.target(&node);
    target.ssh_client = Some(SshClient::OpenSsh);
    let conn = connect(&target, &auto).await?;
    assert_eq!(conn.describe(), "OpenSSH");
    conn.close().await;
    // So does --ssh-persist, which needs OpenSSH's masters.
    let mut persist = lab.options_for(SshClient::Auto);
    persist.persist = Some(Duration::from_secs(1));
    let conn = connect(&lab.target(&node), &persist).await?;
    assert!(
        conn.describe().contains("--ssh-persist"),
        "{}",
        conn.describe()
    );
    conn.close().await;
    Ok(())
}

const PLAYBOOK: &str = r#"
    - hosts: nodes
      gather_facts: false
      tasks:
        - name: certs directory
          file: {path: /srv/certs.d/dtr.example.com, state: directory, mode: "0755"}
        - name: CA file
          copy: {content: "{{ ca_text }}\n", dest: /srv/certs.d/dtr.example.com/ca.crt, mode: "0644"}
        - name: verify
          command: sha256sum /srv/certs.d/dtr.example.com/ca.crt
          changed_when: false
"#;

fn apply_project(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &refs)], "ca_text: native CA"),
    );
    project.file("site.yml", PLAYBOOK);
    (nodes, project)
}

#[test]
fn apply_with_the_native_client_and_auto() {
    let (nodes, project) = apply_project(3);
    let native = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--ssh-client",
        "native",
        "--output",
        "json",
    ]);
    native.success();
    let events = native.events();
    let connected: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "connected")
        .collect();
    assert_eq!(connected.len(), 3, "{events:?}");
    for event in connected {
        let via = event["via"].as_str().unwrap_or_default();
        assert!(via.starts_with("native SSH ("), "{via}");
    }
    for node in nodes.fleet.nodes() {
        let file = node.path("/srv/certs.d/dtr.example.com/ca.crt");
        assert_eq!(
            std::fs::read_to_string(&file).expect("the CA file exists"),
            "native CA\n"
        );
    }
    let recap = native.recap();
    assert_eq!(recap["node1"]["changed"], 2);

    // Automatic mode, verbose: the second run changes nothing and says how
    // each host was reached.
    let auto = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
    auto.success();
    auto.stdout_has("node1: connected with native SSH (");
    auto.stdout_has("changed=0");

    // A host can be sent to OpenSSH from the inventory.
    let mut inventory =
        std::fs::read_to_string(project.path().join("inventory.yml")).expect("inventory");
    inventory = inventory.replacen(
        "    node2:\n",
        "    node2:\n      dtrplay_ssh_client: openssh\n",
        1,
    );
    std::fs::write(project.path().join("inventory.yml"), inventory).expect("write");
    let mixed = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
    mixed.success();
    mixed.stdout_has("node2: connected with OpenSSH\n");
    mixed.stdout_has("node3: connected with native SSH (");
}

#[test]
fn a_bad_ssh_client_value_is_an_input_error() {
    let project = Project::new();
    project.file(
        "inventory.yml",
        "all:\n  hosts:\n    h1:\n      dtrplay_ssh_client: putty\n",
    );
    project.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    assert_ne!(run.status, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("dtrplay_ssh_client"), "{all}");
    let bad = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--ssh-client",
        "putty",
    ]);
    assert_ne!(bad.status, 0);
    assert!(bad.stderr.contains("putty"), "{}", bad.stderr);
}
