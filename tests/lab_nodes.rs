//! Lab nodes: a fleet of real sshd processes on loopback addresses, each with
//! its own `/etc/docker` and `/srv`, that can go down and come back.

use std::error::Error;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dtrplay::lab::daemon::process;
use dtrplay::lab::node::{Fleet, FleetOptions, Node};

type TestResult = Result<(), Box<dyn Error>>;

/// Runs `script` on `node` through the fleet's ssh_config.
fn ssh(node: &Node, script: &str) -> Result<Output, Box<dyn Error>> {
    Ok(node
        .ssh_command()
        .arg(script)
        .stdin(Stdio::null())
        .output()?)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn start(dir: &Path, count: usize) -> Result<Fleet, Box<dyn Error>> {
    Ok(Fleet::start(&FleetOptions::new(dir.join("fleet"), count))?)
}

#[test]
fn each_node_has_private_etc_docker_and_srv() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fleet = start(dir.path(), 3)?;
    let [node1, node2, node3] = fleet.nodes() else {
        return Err("expected three nodes".into());
    };

    let out = ssh(node1, "echo hi > /etc/docker/x; cat /etc/docker/x")?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(
        std::fs::read_to_string(node1.path("/etc/docker/x"))?,
        "hi\n"
    );

    let out = ssh(node2, "test -e /etc/docker/x && echo seen || echo unseen")?;
    assert_eq!(stdout(&out), "unseen\n");
    assert!(!node2.path("/etc/docker/x").exists());
    assert!(
        !Path::new("/etc/docker/x").exists(),
        "the host's /etc/docker was written"
    );

    let out = ssh(
        node3,
        "mkdir -p /srv/app && echo three > /srv/app/f && cat /srv/app/f",
    )?;
    assert_eq!(stdout(&out), "three\n");
    assert_eq!(
        std::fs::read_to_string(node3.path("/srv/app/f"))?,
        "three\n"
    );
    assert!(!node1.path("/srv/app/f").exists());
    assert!(
        !Path::new("/srv/app/f").exists(),
        "the host's /srv was written"
    );

    // Sessions get the node's own HOME (so root's ~/.bashrc is not sourced),
    // its identity and the system tools, and print nothing on stderr.
    let out = ssh(node2, "echo $HOME; echo $DTRPLAY_LAB_NODE; echo $TMPDIR")?;
    let root = node2.root.display().to_string();
    assert_eq!(stdout(&out), format!("{root}/home\n{root}\n{root}/tmp\n"));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    Ok(())
}

#[test]
fn inventory_style_ssh_options_work_without_the_config_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fleet = start(dir.path(), 1)?;
    let node = &fleet.nodes()[0];
    let mut command = Command::new("ssh");
    command.args(node.ssh_common_args().split(' '));
    let out = command
        .arg("-i")
        .arg(fleet.private_key_path())
        .args(["-o", "BatchMode=yes", "-p"])
        .arg(node.port.to_string())
        .arg(format!("{}@{}", node.user, node.host))
        .arg("echo ok")
        .stdin(Stdio::null())
        .output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "ok\n");
    Ok(())
}

#[test]
fn a_stopped_node_refuses_connections_and_comes_back_on_the_same_port() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut fleet = start(dir.path(), 2)?;
    let node2 = fleet.node("node2")?.clone();

    fleet.stop_node("node2")?;
    assert!(!fleet.is_running("node2"));
    assert!(!process::is_alive(node2.pid));
    let err = TcpStream::connect(node2.address())
        .err()
        .ok_or("node2 still accepts")?;
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let out = ssh(&node2, "true")?;
    assert_eq!(out.status.code(), Some(255));
    // The other node is unaffected.
    assert!(ssh(fleet.node("node1")?, "true")?.status.success());

    fleet.start_node("node2")?;
    let back = fleet.node("node2")?;
    assert_eq!(back.address(), node2.address());
    assert_ne!(back.pid, node2.pid);
    let out = ssh(back, "echo back")?;
    assert_eq!(stdout(&out), "back\n");
    Ok(())
}

#[test]
fn dropping_the_fleet_leaves_no_process_and_no_port() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fleet = start(dir.path(), 2)?;
    let node = fleet.nodes()[0].clone();
    let addresses: Vec<_> = fleet.nodes().iter().map(Node::address).collect();

    // An open session: sshd's per-connection child starts its own session, so
    // it would outlive a plain kill of the listener.
    let mut client = node
        .ssh_command()
        .arg("sleep 600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pids = process::descendants(node.pid);
    while !pids.iter().any(|&p| cmd_is(p, "sleep")) {
        if Instant::now() > deadline {
            return Err(format!("no session appeared under sshd {}", node.pid).into());
        }
        thread::sleep(Duration::from_millis(50));
        pids = process::descendants(node.pid);
    }
    pids.extend(fleet.nodes().iter().map(|n| n.pid));

    drop(fleet);

    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&p| process::is_alive(p))
        .collect();
    assert!(alive.is_empty(), "still alive: {alive:?}");
    for addr in addresses {
        assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");
    }
    // The client sees its connection closed.
    let status = client.wait()?;
    assert!(!status.success());
    Ok(())
}

fn cmd_is(pid: u32, name: &str) -> bool {
    process::cmdline(pid).is_some_and(|args| args.first().is_some_and(|a| a == name))
}
