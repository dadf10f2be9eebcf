//! The whole procedure against a full lab: UCP and DTR simulators plus real
//! sshd nodes with real engines, reached at DTR's address (no names: these
//! tasks run in this process, which has no HTTPS_PROXY), so the engines
//! never verify DTR. The node tasks reach the nodes over real SSH, one `sh`
//! script per round trip, as the SSH transport does.
//!
//! It proves the tasks compose: after dump-certs, upload-ca, set-bypass-ca
//! and copy-ca-crt, the push through UCP works and every node's engine
//! reaches DTR; a second run changes nothing; and doctor names a node whose
//! `ca.crt` is removed. `lab_engines` proves the x509 verdicts with names,
//! through the binary.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dtrplay::connection::{ConnError, Connection, Output};
use dtrplay::doctor::{self, Health, Link, NodeTarget};
use dtrplay::tasks::dump_certs::shell_quote;
use dtrplay_lab::node::Node;
use dtrplay_lab::{Flavor, Lab, LabOptions};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use crate::integration_tasks::{Run, run_task, run_task_with_peers};

/// A lab node reached with the system `ssh` and the fleet's `ssh_config`.
struct SshNode {
    node: Node,
}

#[async_trait]
impl Connection for SshNode {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let lost = |e: std::io::Error| ConnError::Lost {
            host: self.node.name.clone(),
            message: e.to_string(),
        };
        let mut command = tokio::process::Command::from(self.node.ssh_command());
        command
            .arg(format!("sh -c {}", shell_quote(script)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(lost)?;
        if let Some(mut pipe) = child.stdin.take() {
            let _ = pipe.write_all(stdin).await;
        }
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| ConnError::Timeout {
                host: self.node.name.clone(),
                after: timeout,
            })?
            .map_err(lost)?;
        Ok(Output {
            status: out.status.code().unwrap_or(255),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn close(&self) {}
}

fn vars(lab: &Lab, host: &str) -> Map<String, Value> {
    let config = lab.config();
    let pki = lab.pki();
    let controllers: Vec<&str> = lab
        .nodes()
        .iter()
        .take(config.controllers)
        .map(|n| n.name.as_str())
        .collect();
    let workers: Vec<&str> = lab
        .nodes()
        .iter()
        .skip(config.controllers)
        .map(|n| n.name.as_str())
        .collect();
    let certs_dir = lab
        .nodes()
        .iter()
        .find(|n| n.name == host)
        .map(|n| n.certs_dir().display().to_string())
        .unwrap_or_default();
    let vars = json!({
        "inventory_hostname": host,
        "groups": {"ucp_controllers": controllers, "ucp_workers": workers},
        "ucp_url": lab.ucp_url(),
        "ucp_username": config.admin_user,
        "ucp_password": config.admin_password,
        "ucp_ca_file": pki.cluster_root_ca().cert_path(),
        "dtr_url": lab.dtr_url(),
        "dtr_username": config.admin_user,
        "dtr_password": config.admin_password,
        "dtr_ca_file": pki.dtr_ca().cert_path(),
        "docker_certs_dir": certs_dir,
    });
    match vars {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

async fn start(flavor: Flavor, dir: &std::path::Path) -> Lab {
    let options = LabOptions::new(dir.join("lab"), flavor, 3, 1, env!("CARGO_BIN_EXE_dtrplay"));
    // These tasks run in this process, which has no HTTPS_PROXY for the
    // lab's names.
    let options = LabOptions {
        names: false,
        ..options
    };
    Lab::start(&options).await.expect("start the lab")
}

/// Runs the five tasks over the lab; returns whether anything changed.
async fn integrate(lab: &Lab, nodes: &[SshNode]) -> Vec<(String, Run)> {
    let mut runs = Vec::new();
    let first = &nodes[0];
    let controller_vars = vars(lab, &first.node.name);
    let peers: Vec<(String, Arc<dyn Connection>)> = nodes
        .iter()
        .map(|n| {
            let conn: Arc<dyn Connection> = Arc::new(SshNode {
                node: n.node.clone(),
            });
            (n.node.name.clone(), conn)
        })
        .collect();
    // run_once picks the play's first host; here a worker, so dump-certs
    // must reach the controller through the play's other connections.
    let worker = &nodes[1];
    let dumped = run_task_with_peers(
        "dump-certs",
        json!({}),
        &vars(lab, &worker.node.name),
        worker,
        &peers,
        false,
    )
    .await
    .expect("dump-certs over SSH");
    let pem = dumped
        .outcome
        .data
        .get("pem")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    runs.push(("dump-certs".into(), dumped));
    let local = crate::integration_tasks::local();
    for (module, args) in [
        ("upload-ca", json!({})),
        ("set-bypass-ca", json!({"ca": pem})),
    ] {
        let run = run_task(module, args, &controller_vars, &local, false)
            .await
            .unwrap_or_else(|e| panic!("{module}: {e}"));
        runs.push((module.into(), run));
    }
    for module in ["copy-ca-crt", "push-test"] {
        for node in nodes {
            let vars = vars(lab, &node.node.name);
            let run = run_task(module, json!({}), &vars, node, false)
                .await
                .unwrap_or_else(|e| panic!("{module} on {}: {e}", node.node.name));
            runs.push((format!("{module} {}", node.node.name), run));
        }
    }
    runs
}

async fn procedure_end_to_end(flavor: Flavor) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(flavor, dir.path()).await;
    let nodes: Vec<SshNode> = lab
        .nodes()
        .iter()
        .map(|n| SshNode { node: n.clone() })
        .collect();

    let first = integrate(&lab, &nodes).await;
    let changed: Vec<&str> = first
        .iter()
        .filter(|(_, r)| r.outcome.changed)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(changed.contains(&"upload-ca"), "{changed:?}");
    assert!(changed.contains(&"copy-ca-crt node3"), "{changed:?}");
    assert!(changed.contains(&"push-test node1"), "{changed:?}");
    assert!(!changed.contains(&"dump-certs"), "{changed:?}");

    let second = integrate(&lab, &nodes).await;
    let changed: Vec<&str> = second
        .iter()
        .filter(|(_, r)| r.outcome.changed)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(changed.is_empty(), "second run changed {changed:?}");

    // Doctor over SSH agrees: every link holds.
    let targets = |lab: &Lab| -> Vec<NodeTarget> {
        lab.nodes()
            .iter()
            .map(|n| NodeTarget {
                name: n.name.clone(),
                certs_dir: n.certs_dir().display().to_string(),
                conn: Ok(Box::new(SshNode { node: n.clone() }) as Box<dyn Connection>),
                trust: Default::default(),
                escalation: None,
            })
            .collect()
    };
    let controller_vars = vars(&lab, &nodes[0].node.name);
    let lookup = dtrplay::api::contract::map_lookup(&controller_vars);
    let verdicts = doctor::diagnose(&lookup, &targets(&lab)).await;
    assert_eq!(
        doctor::exit_status(&verdicts),
        dtrplay::error::ExitStatus::Success,
        "{verdicts:#?}"
    );

    // Break node2's trust in DTR: doctor names that node and step 5. (With
    // DTR at 127.0.0.1 the real engines never verify it; push-test's x509
    // verdict is proven by `lab_engines::push_test_…`, with names.)
    let node2 = &nodes[1];
    let path = format!(
        "{}/{}/ca.crt",
        node2.node.certs_dir().display(),
        lab.dtr_host()
    );
    node2
        .run(
            &format!("rm -f {}", shell_quote(&path)),
            b"",
            Duration::from_secs(30),
        )
        .await
        .expect("remove ca.crt");
    let verdicts = doctor::diagnose(&lookup, &targets(&lab)).await;
    let broken: Vec<_> = verdicts
        .iter()
        .filter(|v| v.health == Health::Broken)
        .collect();
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert_eq!(broken[0].link, Link::NodeTrustsDtr);
    assert_eq!(broken[0].node.as_deref(), Some("node2"));

    lab.stop().await.expect("stop the lab");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedure_runs_end_to_end_on_ucp1() {
    procedure_end_to_end(Flavor::Ucp1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedure_runs_end_to_end_on_ucp3() {
    procedure_end_to_end(Flavor::Ucp3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_before_dtr_trusts_ucp_is_diagnosed_as_steps_3_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(Flavor::Ucp1, dir.path()).await;
    let node = SshNode {
        node: lab.nodes()[0].clone(),
    };
    let vars = vars(&lab, &node.node.name);
    // The node trusts DTR (step 5) but UCP and DTR are not integrated.
    run_task("copy-ca-crt", json!({}), &vars, &node, false)
        .await
        .expect("copy-ca-crt");
    let err = run_task("push-test", json!({}), &vars, &node, false)
        .await
        .expect_err("the push is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("denied: requested access to the resource is denied"),
        "{msg}"
    );
    assert!(msg.contains("steps 3–4"), "{msg}");
    lab.stop().await.expect("stop the lab");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_the_lab_inventory_and_reaches_the_nodes_over_ssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(Flavor::Ucp1, dir.path()).await;
    let inventory = lab.inventory_path().to_path_buf();
    let inputs = doctor::load(
        std::slice::from_ref(&inventory),
        &[],
        None,
        &Default::default(),
    )
    .await
    .expect("load the lab inventory");
    assert_eq!(inputs.nodes.len(), 3);
    let (text, status) = doctor::check(&inputs, false).await;
    assert_eq!(status, dtrplay::error::ExitStatus::Unhealthy, "{text}");
    assert!(
        text.contains("BROKEN  node2: node trusts DTR (step 5)"),
        "{text}"
    );
    assert!(!text.contains("cannot be reached"), "{text}");

    // Integrate, then doctor over the same inventory is healthy; --limit
    // narrows the nodes checked.
    let nodes: Vec<SshNode> = lab
        .nodes()
        .iter()
        .map(|n| SshNode { node: n.clone() })
        .collect();
    integrate(&lab, &nodes).await;
    let inputs = doctor::load(&[inventory], &[], Some("node1"), &Default::default())
        .await
        .expect("load");
    assert_eq!(inputs.nodes.len(), 1);
    let (text, status) = doctor::check(&inputs, true).await;
    assert_eq!(status, dtrplay::error::ExitStatus::Success, "{text}");
    for node in &inputs.nodes {
        if let Ok(conn) = &node.conn {
            conn.close().await;
        }
    }
    lab.stop().await.expect("stop the lab");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publicly_trusted_dtr_needs_no_ca_upload_nor_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = start(Flavor::Ucp1, dir.path()).await;
    // With DTR's CA as the whole system trust store, DTR's certificate is
    // "issued by a publicly trusted CA" as far as dtrplay can tell.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(["apply", "playbooks/integrate.yml", "-i"])
        .arg(lab.inventory_path())
        .args(["--tags", "upload-ca,copy-ca-crt"])
        .env("SSL_CERT_FILE", lab.pki().dtr_ca().cert_path())
        .env_remove("SSL_CERT_DIR")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("run dtrplay");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("publicly trusted"), "{stdout}");
    assert!(stdout.contains("nothing to copy"), "{stdout}");
    for node in lab.nodes() {
        let path = node.path(&format!("/etc/docker/certs.d/{}/ca.crt", lab.dtr_host()));
        assert!(!path.exists(), "{} was written", path.display());
    }
    // UCP knows DTR's URL, without a CA.
    let trust = dtrplay::api::tls::Trust::Ca(lab.pki().cluster_root_ca().cert_pem().to_string());
    let mut ucp = dtrplay::api::ucp::Ucp::connect(&lab.ucp_url(), &trust, None)
        .await
        .expect("connect");
    ucp.login(&lab.config().admin_user, &lab.config().admin_password)
        .await
        .expect("login");
    let config = ucp
        .registry_config()
        .await
        .expect("read")
        .expect("configured");
    assert_eq!(config.url, lab.dtr_url());
    assert_eq!(config.ca, None);
    lab.stop().await.expect("stop the lab");
}
