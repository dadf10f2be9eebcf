//! Step 5 for containerd nodes (MKE 4): every lab node also runs a real
//! containerd (Debian's, which docker.io brings) in k0s's layout, and
//! `copy-ca-crt` with `runtime: auto` finds it and writes containerd's
//! hosts directory and CRI drop-in beside Docker's certs.d. Proven with the
//! real `ctr images pull --hosts-dir …` against the lab's DTR by name:
//! x509 before, the image after.

use std::process::Output;

use dtrplay_lab::daemon::process;
use dtrplay_lab::{Flavor, Lab, LabOptions};

use crate::harness::Project;
use crate::lab_engines::{doctor, integrate};

/// Runs `script` on `node` over SSH with the lab's `ssh_config`.
fn ssh(lab: &Lab, node: usize, script: &str) -> Output {
    lab.nodes()[node]
        .ssh_command()
        .arg(script)
        .output()
        .expect("run ssh")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_ca_crt_makes_a_real_containerd_trust_dtr_in_k0s_layout() {
    let project = Project::new();
    let mut options = LabOptions::new(
        project.path().join("lab"),
        Flavor::Ucp3,
        2,
        1,
        env!("CARGO_BIN_EXE_dtrplay"),
    );
    options.config.containerd = true;
    let lab = Lab::start(&options).await.expect("start the lab");
    assert!(lab.has_engines(), "{:?}", lab.engine_warning());
    let containerds = lab.containerd_pids();
    assert_eq!(containerds.len(), 2, "{containerds:?}");
    // k0s's configuration is in each node's own /etc, never this machine's.
    assert!(!std::path::Path::new("/etc/k0s").exists());
    let dtr = lab.dtr_host();
    let image = format!("{dtr}/admin/hello-world:1");
    let hosts_dir = "/etc/k0s/containerd.d/certs.d";

    // ctr resolves and fetches in the client, so the session gives it the
    // lab's proxy, the way a real node's resolver would reach DTR.
    project.file(
        "ctr.yml",
        r#"
        - hosts: ucp
          gather_facts: false
          tasks:
            - name: Pull from DTR by name with containerd's own client
              command: ctr --address /run/k0s/containerd.sock images pull --snapshotter native --hosts-dir /etc/k0s/containerd.d/certs.d {{ image }}
              environment:
                HTTPS_PROXY: "{{ proxy }}"
              register: pull
              failed_when: false
            - assert:
                that:
                  - expected[inventory_hostname] in (pull.stdout ~ pull.stderr)
        "#,
    );
    let proxy = lab.https_proxy().expect("the lab's proxy");
    let pull = |expected: [&str; 2]| {
        let vars = serde_json::json!({
            "image": image,
            "proxy": proxy,
            "expected": {"node1": expected[0], "node2": expected[1]},
        });
        project.run(&[
            "apply",
            "ctr.yml",
            "-i",
            &lab.inventory_path().display().to_string(),
            "-e",
            &vars.to_string(),
        ])
    };
    let x509 = format!(
        "Head \"https://{dtr}/v2/admin/hello-world/manifests/1\": x509: certificate signed by unknown authority"
    );
    pull([&x509, &x509]).success();

    // Check mode shows every file with its diff and writes none of them.
    let plan = integrate(&project, &lab, Some("copy-ca-crt"), &["--check", "--diff"]);
    plan.success();
    for file in [
        format!("{hosts_dir}/{dtr}/ca.crt"),
        format!("{hosts_dir}/{dtr}/hosts.toml"),
        "/etc/k0s/containerd.d/cri-registry.toml".to_string(),
        format!("/etc/docker/certs.d/{dtr}/ca.crt"),
    ] {
        assert!(
            plan.stdout.contains(&format!("+++ after: {file}")),
            "{file}\n{}",
            plan.stdout
        );
    }
    assert!(
        plan.stdout
            .contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]"),
        "containerd 1.6 names the CRI plugin so:\n{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("subject:     CN=DTR CA"),
        "{}",
        plan.stdout
    );
    let listed = ssh(&lab, 0, "ls -A /etc/k0s/containerd.d");
    assert_eq!(text(&listed), "", "check mode wrote files");

    // The whole procedure with `runtime: auto` (the default): both of each
    // node's runtimes get their trust, and a second run changes nothing.
    let run = integrate(&project, &lab, None, &[]);
    run.success();
    assert!(
        run.stdout.contains(&format!(
            "create {hosts_dir}/{dtr}/hosts.toml with containerd's hosts.toml"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("reads it when it starts"),
        "{}",
        run.stdout
    );
    let again = integrate(&project, &lab, None, &[]);
    again.success();
    assert!(again.stdout.contains("changed=0"), "{}", again.stdout);
    assert!(!again.stdout.contains("changed=1"), "{}", again.stdout);

    // containerd itself reads the drop-in: its merged configuration
    // imports it and points the CRI plugin at the hosts directory.
    let dump = ssh(
        &lab,
        0,
        "containerd --config /etc/k0s/containerd.toml config dump",
    );
    let dump = text(&dump);
    assert!(
        dump.contains("\"/etc/k0s/containerd.d/cri-registry.toml\""),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("config_path = \"{hosts_dir}\"")),
        "{dump}"
    );

    // doctor checks the same files as containerd reads them, and what
    // containerd makes of its configuration.
    let doc = doctor(&project, &lab);
    doc.success();
    assert_eq!(
        doc.stdout.matches("containerd 1.6.20~ds1 (k0s): ").count(),
        2,
        "{}",
        doc.stdout
    );
    assert!(
        doc.stdout
            .contains("containerd's merged configuration uses it"),
        "{}",
        doc.stdout
    );

    // push-test made a private repository; made public, anyone may pull
    // it, so containerd's pull shows trust and content end to end.
    make_public(&lab, "admin/hello-world").await;
    pull(["unpacking linux/amd64", "unpacking linux/amd64"]).success();
    let listed = ssh(
        &lab,
        1,
        "ctr --address /run/k0s/containerd.sock images ls -q",
    );
    assert_eq!(text(&listed).trim(), image);

    // Without hosts.toml containerd falls back to the Docker-style ca.crt
    // beside it; without the directory, node2 fails with x509 again.
    let removed = ssh(&lab, 1, &format!("rm {hosts_dir}/{dtr}/hosts.toml"));
    assert!(removed.status.success(), "{}", text(&removed));
    pull(["unpacking linux/amd64", "unpacking linux/amd64"]).success();
    let doc = doctor(&project, &lab);
    doc.success();
    assert!(
        doc.stdout
            .contains("is missing, so containerd uses the Docker-style ca.crt beside it"),
        "{}",
        doc.stdout
    );
    let removed = ssh(&lab, 1, &format!("rm -r {hosts_dir}/{dtr}"));
    assert!(removed.status.success(), "{}", text(&removed));
    pull(["unpacking linux/amd64", &x509]).success();
    let doc = doctor(&project, &lab);
    assert_ne!(doc.status, 0, "{}", doc.stdout);
    assert!(
        doc.stdout.contains(&format!(
            "BROKEN  node2: node trusts DTR (step 5): containerd 1.6.20~ds1 (k0s): {hosts_dir}/{dtr}/ca.crt is missing"
        )),
        "{}",
        doc.stdout
    );

    // Without the drop-in, Kubernetes pulls would ignore the hosts
    // directory: doctor names the file on node1.
    let removed = ssh(&lab, 0, "rm /etc/k0s/containerd.d/cri-registry.toml");
    assert!(removed.status.success(), "{}", text(&removed));
    let doc = doctor(&project, &lab);
    assert!(
        doc.stdout.contains(
            "BROKEN  node1: node trusts DTR (step 5): containerd 1.6.20~ds1 (k0s): /etc/k0s/containerd.d/cri-registry.toml is missing"
        ),
        "{}",
        doc.stdout
    );

    // Stopping the lab stops every containerd and its children.
    let pids: Vec<u32> = containerds
        .iter()
        .flat_map(|(_, pid)| std::iter::once(*pid).chain(process::descendants(*pid)))
        .collect();
    lab.stop().await.expect("stop the lab");
    for pid in pids {
        assert!(!process::is_alive(pid), "pid {pid} is still alive");
    }
}

/// Sets a DTR repository's visibility to public, as its owner, with a
/// plain client built on public crates.
async fn make_public(lab: &Lab, repo: &str) {
    dtrplay::api::tls::install_provider();
    let ca =
        reqwest::Certificate::from_pem(lab.pki().dtr_ca().cert_pem().as_bytes()).expect("DTR's CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .proxy(reqwest::Proxy::https(lab.https_proxy().unwrap()).expect("the proxy"))
        .build()
        .expect("a client");
    let config = lab.config();
    let response = client
        .patch(format!("{}/api/v0/repositories/{repo}", lab.dtr_url()))
        .basic_auth(&config.admin_user, Some(&config.admin_password))
        .json(&serde_json::json!({"visibility": "public"}))
        .send()
        .await
        .expect("update the repository");
    assert!(response.status().is_success(), "{response:?}");
}
