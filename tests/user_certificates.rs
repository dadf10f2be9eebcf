//! OpenSSH user certificates on the native client: a key no node
//! authorizes, signed by a CA (`ssh-keygen -s`) that the node's sshd trusts
//! (`TrustedUserCAKeys`), logs in with `CertificateFile` or with the
//! `-cert.pub` file beside the key, as ssh does.

use std::path::Path;
use std::process::Command;

use crate::harness::{Nodes, Project};

const PLAYBOOK: &str = r#"
    - hosts: all
      gather_facts: false
      tasks:
        - command: echo reached
          changed_when: false
"#;

fn keygen(args: &[&str], file: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q"])
        .args(args)
        .arg(file)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen {args:?} failed");
}

#[test]
fn a_certificate_signed_by_a_trusted_ca_logs_in_natively() {
    let mut nodes = Nodes::start(1);
    let project = Project::new();
    let ca = project.path().join("user_ca");
    keygen(&["-t", "ed25519", "-N", "", "-f"], &ca);
    let key = project.path().join("id_cert_only");
    keygen(&["-t", "ed25519", "-N", "", "-f"], &key);
    nodes.reconfigure(
        "node1",
        &format!("TrustedUserCAKeys {}.pub\n", ca.display()),
    );
    let node = nodes.node("node1").clone();
    let user = node.user.clone();
    keygen(
        &[
            "-s",
            ca.to_str().expect("path"),
            "-I",
            "dtrplay-test",
            "-n",
            &user,
        ],
        &key.with_extension("pub"),
    );
    // ssh-keygen wrote id_cert_only-cert.pub beside the key; keep a copy
    // elsewhere for CertificateFile, and take the one beside away.
    let beside = project.path().join("id_cert_only-cert.pub");
    let elsewhere = project.path().join("issued.cert");
    std::fs::copy(&beside, &elsewhere).expect("copy the certificate");
    std::fs::remove_file(&beside).expect("move the certificate away");
    project.file("site.yml", PLAYBOOK);
    let run = |extra: &str| {
        let inventory = format!(
            "all:\n  hosts:\n    node1:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_user: {user}\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: \"{} {extra}\"\n",
            node.host,
            node.port,
            key.display(),
            node.ssh_common_args(),
        );
        project.file("hosts.yml", &inventory);
        project.run(&["apply", "site.yml", "-i", "hosts.yml", "-v"])
    };
    // The key alone is authorized nowhere, with either client.
    run("").status(3).stdout_has("Permission denied");
    // With the certificate named, the native client logs in.
    run(&format!("-o CertificateFile={}", elsewhere.display()))
        .success()
        .stdout_has("node1: connected with native SSH");
    // And with the certificate beside the key, without naming it.
    std::fs::copy(&elsewhere, &beside).expect("put the certificate back");
    run("")
        .success()
        .stdout_has("node1: connected with native SSH");
}
