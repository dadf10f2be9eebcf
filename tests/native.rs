//! The native SSH transport (russh) against real sshd nodes on loopback:
//! exact bytes and statuses, parallel hosts, timeouts on one connection,
//! host key and key failures with their messages, how `--ssh-client auto`
//! chooses, and whole `dtrplay apply` runs with each client.

use std::error::Error;
use std::time::{Duration, Instant};

use dtrplay::connection::{ConnError, ConnectOptions, Connection, SshClient, Target, connect};
use dtrplay::lab::daemon::process;
use dtrplay::lab::node::{Fleet, FleetOptions, Node};

use crate::harness::{Nodes, Project};

type TestResult = Result<(), Box<dyn Error>>;

const LONG: Duration = Duration::from_secs(30);

/// A fleet and a private control directory, removed together.
struct Lab {
    fleet: Fleet,
    dir: tempfile::TempDir,
}

impl Lab {
    fn start(count: usize) -> Result<Lab, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), count))?;
        Ok(Lab { fleet, dir })
    }

    fn node(&self, name: &str) -> Result<Node, Box<dyn Error>> {
        Ok(self.fleet.node(name)?.clone())
    }

    /// The target an inventory entry for `node` would resolve to.
    fn target(&self, node: &Node) -> Target {
        crate::harness::target(&self.fleet, node)
    }

    /// Live processes whose command line mentions this lab's control
    /// directory: the ssh clients OpenSSH connections of this test started.
    fn ssh_processes(&self) -> usize {
        let needle = self.dir.path().join("ctl").display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| process::cmdline_matches(pid, &[&needle]))
            .count()
    }

    fn options(&self, client: SshClient) -> ConnectOptions {
        ConnectOptions {
            control_dir: self.dir.path().join("ctl"),
            persist: None,
            connect_timeout: Duration::from_secs(5),
            retries: 0,
            ssh_client: client,
        }
    }

    /// A known_hosts file holding `text`, and the target's options pointing
    /// at it.
    fn with_known_hosts(
        &self,
        node: &Node,
        name: &str,
        text: &str,
    ) -> Result<Target, Box<dyn Error>> {
        let file = self.dir.path().join(name);
        std::fs::write(&file, text)?;
        let mut target = self.target(node);
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
}

/// How many times sshd of `node` accepted a login.
fn logins(node: &Node) -> usize {
    std::fs::read_to_string(node.root.join("sshd.log"))
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

async fn eventually(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    what()
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
async fn native_runs_scripts_with_exact_bytes_and_statuses() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = connect(&lab.target(&node), &lab.options(SshClient::Native)).await?;
    assert!(
        conn.describe().starts_with("native SSH ("),
        "{}",
        conn.describe()
    );
    assert_eq!(
        lab.ssh_processes(),
        0,
        "the native client started an ssh process"
    );

    let out = conn.run("printf 'a\\nb'", b"", LONG).await?;
    assert_eq!((out.status, out.stdout.as_slice()), (0, &b"a\nb"[..]));
    assert!(out.stderr.is_empty());

    let out = conn
        .run("echo out; printf 'err\\n\\n' >&2; exit 3", b"", LONG)
        .await?;
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n\n");

    let out = conn.run("sh -c 'kill -TERM $$'", b"", LONG).await?;
    assert_eq!(out.status, 128 + 15);

    let mut binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    binary.extend_from_slice(b"'\\%s\0\n");
    let out = conn.run("cat", &binary, LONG).await?;
    assert_eq!(out.stdout, binary);

    let out = conn
        .run("printf '%s|' \"it's\" 'a\\b' '100%'", b"", LONG)
        .await?;
    assert_eq!(out.stdout_text(), "it's|a\\b|100%|");

    // More than the channel window in both directions.
    let big = "abcdefghi\n".repeat(400_000);
    let out = conn
        .run("cat; cat >&2 </dev/null", big.as_bytes(), LONG)
        .await?;
    assert_eq!(out.stdout.len(), big.len());
    assert!(out.stdout == big.as_bytes());

    let out = conn.run("", b"", LONG).await?;
    assert_eq!(out, Default::default());
    conn.close().await;
    assert_eq!(logins(&node), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_runs_twenty_hosts_in_parallel() -> TestResult {
    let lab = Lab::start(20)?;
    let targets: Vec<Target> = lab.fleet.nodes().iter().map(|n| lab.target(n)).collect();
    let options = lab.options(SshClient::Native);
    let opened = futures::future::join_all(targets.iter().map(|t| connect(t, &options))).await;
    let mut conns = Vec::new();
    for conn in opened {
        conns.push(conn?);
    }
    let script = "sleep 1; echo $DTRPLAY_LAB_NODE";
    let started = Instant::now();
    let outputs = futures::future::join_all(conns.iter().map(|c| c.run(script, b"", LONG))).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for (node, out) in lab.fleet.nodes().iter().zip(outputs) {
        assert_eq!(out?.stdout_text().trim(), node.root.display().to_string());
    }
    futures::future::join_all(conns.iter().map(|c| c.close())).await;
    Ok(())
}

#[tokio::test]
async fn a_native_timeout_kills_the_script_and_the_next_run_needs_no_new_login() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = connect(&lab.target(&node), &lab.options(SshClient::Native)).await?;
    let pid_file = node.root.join("tmp/native-sleeper.pid");
    let started = Instant::now();
    let result = conn
        .run(
            "echo $$ > \"$TMPDIR/native-sleeper.pid\"; exec sleep 60",
            b"",
            Duration::from_secs(1),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Err(ConnError::Timeout { host, after }) => {
            assert_eq!(host, "node1");
            assert_eq!(after, Duration::from_secs(1));
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    let pid: u32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    assert!(
        eventually(|| !process::is_alive(pid)).await,
        "the timed-out script (pid {pid}) still runs"
    );
    let out = conn.run("echo fresh", b"", LONG).await?;
    assert_eq!(out.stdout, b"fresh\n");
    // A dropped run (the caller gave up) does not leak into the next one.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        conn.run("sleep 1; echo stale", b"", LONG),
    )
    .await;
    assert!(abandoned.is_err());
    assert_eq!(conn.run("echo next", b"", LONG).await?.stdout, b"next\n");
    // A script abandoned for good is stopped before close returns.
    let pid = crate::harness::abandon_a_sleeper(conn.as_ref(), &node, "native-abandoned.pid").await;
    conn.close().await;
    assert!(
        eventually(|| !process::is_alive(pid)).await,
        "the abandoned script (pid {pid}) still runs after close"
    );
    assert_eq!(
        logins(&node),
        1,
        "a fresh channel logged in again: {}",
        std::fs::read_to_string(node.root.join("sshd.log")).unwrap_or_default()
    );
    Ok(())
}

#[tokio::test]
async fn a_node_going_down_is_reported_and_the_native_client_reconnects() -> TestResult {
    let mut lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let mut options = lab.options(SshClient::Native);
    options.retries = 1;
    let conn = connect(&lab.target(&node), &options).await?;
    assert_eq!(conn.run("echo up", b"", LONG).await?.stdout, b"up\n");

    let run = conn.run("sleep 20", b"", LONG);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lab.fleet.stop_node("node1")
    };
    let (result, stopped) = tokio::join!(run, stop);
    stopped?;
    match result {
        Err(ConnError::Lost { host, message }) => {
            assert_eq!(host, "node1");
            assert!(message.contains("while a command was running"), "{message}");
        }
        other => return Err(format!("expected a lost connection, got {other:?}").into()),
    }
    match conn.run("true", b"", LONG).await {
        Err(ConnError::Connect { message, hint, .. }) => {
            assert!(message.contains("Connection refused"), "{message}");
            assert!(message.contains("after 2 attempts"), "{message}");
            let hint = hint.unwrap_or_default();
            assert!(hint.contains(&format!("port {}", node.port)), "{hint}");
        }
        other => return Err(format!("expected a connect error, got {other:?}").into()),
    }
    lab.fleet.start_node("node1")?;
    assert_eq!(conn.run("echo back", b"", LONG).await?.stdout, b"back\n");
    conn.close().await;
    Ok(())
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_and_never_falls_back() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let target = lab.with_known_hosts(&node, "empty_known_hosts", "")?;
    for client in [SshClient::Native, SshClient::Auto] {
        let mut options = lab.options(client);
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
    assert_eq!(lab.ssh_processes(), 0);
    Ok(())
}

#[tokio::test]
async fn a_changed_host_key_is_a_loud_failure() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    // Another ed25519 key recorded for the node's address and port.
    let key = lab.dir.path().join("impostor");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()?;
    assert!(keygen.success());
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    let line = format!("[{}]:{} {}", node.host, node.port, public.trim());
    let target = lab.with_known_hosts(&node, "changed_known_hosts", &format!("# old\n{line}\n"))?;
    for client in [SshClient::Native, SshClient::Auto] {
        let (message, hint) = connect_error(connect(&target, &lab.options(client)).await)?;
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
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let key = lab.dir.path().join("stranger");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()?;
    assert!(keygen.success());
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let mut options = lab.options(SshClient::Native);
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
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let key = lab.dir.path().join("locked");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(&key)
        .status()?;
    assert!(keygen.success());
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let (message, _) = connect_error(connect(&target, &lab.options(SshClient::Native)).await)?;
    assert!(
        message.contains("passphrase-protected keys not in the agent"),
        "{message}"
    );
    assert!(message.contains("locked"), "{message}");
    // OpenSSH gets its chance in automatic mode; in batch mode it cannot ask
    // for the passphrase either.
    let (message, _) = connect_error(connect(&target, &lab.options(SshClient::Auto)).await)?;
    assert!(message.contains("Permission denied"), "{message}");
    Ok(())
}

#[tokio::test]
async fn auto_picks_native_for_the_lab_and_openssh_for_a_proxy_command() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let auto = lab.options(SshClient::Auto);
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
    let (message, hint) = connect_error(connect(&target, &lab.options(SshClient::Native)).await)?;
    assert!(message.contains("ProxyCommand"), "{message}");
    assert!(hint.contains("dtrplay_ssh_client"), "{hint}");

    // A host's dtrplay_ssh_client overrides the run's choice.
    let mut target = lab.target(&node);
    target.ssh_client = Some(SshClient::OpenSsh);
    let conn = connect(&target, &auto).await?;
    assert_eq!(conn.describe(), "OpenSSH");
    conn.close().await;
    // So does --ssh-persist, which needs OpenSSH's masters.
    let mut persist = lab.options(SshClient::Auto);
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
