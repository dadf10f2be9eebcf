//! Lab nodes: a fleet of real sshd processes on loopback addresses, each with
//! its own `/etc/docker` and `/srv`, that can go down and come back.

use std::error::Error;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dtrplay_lab::daemon::process;
use dtrplay_lab::node::{Fleet, FleetOptions, Node};

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

// `docker` on lab nodes is the real engine's client (`docker/ucp` is an
// image the lab makes on each engine); `systemctl` is the lab's stand-in.

mod docker {
    use std::error::Error;
    use std::process::{Output, Stdio};

    use dtrplay_lab::docker::restart_count;
    use dtrplay_lab::node::Node;
    use dtrplay_lab::{Flavor, Lab, LabOptions};
    use tokio::io::AsyncWriteExt;

    type TestResult = Result<(), Box<dyn Error>>;

    async fn start(dir: &std::path::Path, flavor: Flavor) -> Result<Lab, Box<dyn Error>> {
        let options = LabOptions::new(dir.join("lab"), flavor, 2, 1, env!("CARGO_BIN_EXE_dtrplay"));
        // What these tests drive on the nodes needs no names.
        let options = LabOptions {
            names: false,
            ..options
        };
        Ok(Lab::start(&options).await?)
    }

    /// Runs `script` on `node` over ssh, feeding `stdin`.
    async fn ssh_in(node: &Node, script: &str, stdin: &[u8]) -> Result<Output, Box<dyn Error>> {
        let mut command = tokio::process::Command::from(node.ssh_command());
        let mut child = command
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin).await?;
        }
        Ok(child.wait_with_output().await?)
    }

    async fn ssh(node: &Node, script: &str) -> Result<Output, Box<dyn Error>> {
        ssh_in(node, script, b"").await
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Step 5 of the procedure on one node: the DTR CA as certs.d/<dtr>/ca.crt.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dump_certs_works_on_controllers_only() -> TestResult {
        let dir = tempfile::tempdir()?;
        let lab = start(dir.path(), Flavor::Ucp1).await?;
        let run = "docker run --rm --name ucp -v /var/run/docker.sock:/var/run/docker.sock docker/ucp dump-certs";
        let out = ssh(&lab.nodes()[0], &format!("{run} --cluster --ca")).await?;
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            text(&out.stdout),
            lab.pki()
                .cluster_root_ca()
                .cert_pem()
                .trim_end()
                .to_string()
                + "\n"
        );

        let out = ssh(&lab.nodes()[1], &format!("{run} --cluster --ca")).await?;
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stdout), "");
        assert!(text(&out.stderr).contains("dump-certs must run on a UCP controller"));

        // The real engine runs it: any other image would be pulled from a
        // registry the lab's proxy does not reach.
        let out = ssh(&lab.nodes()[0], "docker run --rm busybox true").await?;
        assert_ne!(out.status.code(), Some(0));
        assert!(
            text(&out.stderr).contains("Unable to find image 'busybox:latest' locally"),
            "{out:?}"
        );
        lab.stop().await?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn certs_d_client_pairs_follow_the_real_engine_rules() -> TestResult {
        // DTR by its name, so that the node's real engine reads certs.d.
        let dir = tempfile::tempdir()?;
        let options = LabOptions::new(
            dir.path().join("lab"),
            Flavor::Ucp1,
            2,
            1,
            env!("CARGO_BIN_EXE_dtrplay"),
        );
        let lab = Lab::start(&options).await?;
        let node = lab.nodes()[1].clone();
        let dtr = lab.dtr_host();
        let certs = format!("/etc/docker/certs.d/{dtr}");
        let out = ssh(
            &node,
            &format!("docker tag hello-world {dtr}/admin/x && mkdir -p {certs} && touch {certs}/client.cert && docker push {dtr}/admin/x"),
        )
        .await?;
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(
            text(&out.stderr).contains(
                "missing key client.key for client certificate client.cert. Note that CA certificates should use the extension .crt"
            ),
            "{out:?}"
        );
        let out = ssh(
            &node,
            &format!("mv {certs}/client.cert {certs}/other.key && docker push {dtr}/admin/x"),
        )
        .await?;
        assert!(
            text(&out.stderr).contains("Missing client certificate other.cert for key other.key"),
            "{out:?}"
        );
        lab.stop().await?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn systemctl_records_each_docker_restart() -> TestResult {
        let dir = tempfile::tempdir()?;
        let lab = start(dir.path(), Flavor::Ucp1).await?;
        let node = lab.nodes()[0].clone();
        assert_eq!(restart_count(&node.root), 0);
        let out = ssh(&node, "systemctl restart docker && systemctl restart docker.service && systemctl is-active docker").await?;
        assert!(out.status.success(), "{out:?}");
        assert_eq!(text(&out.stdout), "active\n");
        assert_eq!(restart_count(&node.root), 2);
        assert_eq!(restart_count(&lab.nodes()[1].root), 0);

        let out = ssh(&node, "systemctl stop docker; systemctl is-active docker").await?;
        assert_eq!(out.status.code(), Some(3));
        let out = ssh(&node, "systemctl restart nginx").await?;
        assert_eq!(out.status.code(), Some(5));
        lab.stop().await?;
        Ok(())
    }
}

#[test]
fn copy_on_write_nodes_change_their_own_system_directories_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut options = FleetOptions::new(dir.path().join("fleet"), 2);
    options.copy_on_write = true;
    let mut fleet = Fleet::start(&options)?;
    let marker = format!("dtrplay-cow-{}", std::process::id());
    let node1 = fleet.node("node1")?.clone();
    let node2 = fleet.node("node2")?.clone();
    // What the host has, the node sees; what the node writes, only it sees.
    let script = format!(
        "test -x /usr/bin/dpkg && echo node1 > /etc/{marker} && mkdir -p /usr/local/{marker} \
         && groupadd {marker} && getent group {marker} >/dev/null && echo done"
    );
    assert_eq!(stdout(&ssh(&node1, &script)?), "done\n");
    assert!(!Path::new(&format!("/etc/{marker}")).exists());
    assert!(!Path::new(&format!("/usr/local/{marker}")).exists());
    let host_groups = std::fs::read_to_string("/etc/group")?;
    assert!(!host_groups.contains(&marker));
    let other = ssh(&node2, &format!("cat /etc/{marker} 2>&1 || echo absent"))?;
    assert!(stdout(&other).ends_with("absent\n"));
    // The layers live in the node's directory, so a restart keeps them.
    fleet.stop_node("node1")?;
    fleet.start_node("node1")?;
    let node1 = fleet.node("node1")?.clone();
    assert_eq!(
        stdout(&ssh(&node1, &format!("cat /etc/{marker}"))?),
        "node1\n"
    );
    fleet.stop()?;
    Ok(())
}

/// A fleet of more than 254 nodes (the benchmark's N=500) continues in the
/// next loopback /24: here the first /24 is the last of its /16, so nodes
/// 255 and 256 wrap to `127.99.0.1` and `.2`. Every address is distinct,
/// and dtrplay reaches nodes on both sides of the boundary by their own
/// sshd. The second octet 99 lies outside the random range (100–254), so
/// no other test's fleet can hold these addresses.
#[test]
fn a_fleet_past_254_nodes_continues_in_the_next_slash_24() -> TestResult {
    let nodes = crate::harness::Nodes::start_with(256, |options| {
        options.subnet = Some((99, 255));
    });
    let all = nodes.fleet.nodes();
    let distinct: std::collections::HashSet<_> = all.iter().map(|node| node.host).collect();
    assert_eq!(distinct.len(), 256);
    assert_eq!(nodes.node("node254").host.to_string(), "127.99.255.254");
    assert_eq!(nodes.node("node255").host.to_string(), "127.99.0.1");
    assert_eq!(nodes.node("node256").host.to_string(), "127.99.0.2");

    let project = nodes.web_project("");
    project.file(
        "who.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - name: Each node says who it is, in its own /etc/docker
              copy:
                content: "{{ inventory_hostname }} at {{ ansible_host }}\n"
                dest: /etc/docker/who
                mode: "0644"
        "#,
    );
    project
        .run(&[
            "apply",
            "who.yml",
            "-i",
            "inventory.yml",
            "--limit",
            "node1,node254,node255,node256",
        ])
        .success()
        .stdout_has("changed: [node256]");
    for name in ["node1", "node254", "node255", "node256"] {
        let node = nodes.node(name);
        assert_eq!(
            nodes.read(name, "/etc/docker/who"),
            format!("{name} at {}\n", node.host)
        );
    }
    // The nodes left out of the run were not touched.
    assert!(!nodes.node("node253").path("/etc/docker/who").exists());
    Ok(())
}
