//! `wait_for_connection` against a node whose sshd really goes away and
//! comes back on the same port, as after a reboot: the task waits, the
//! session is opened again, and the tasks after it run on it.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Lab, changed, failed, results};

/// Waits until `path` exists on the control machine's view of a node.
fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wait_for_connection_waits_for_a_restarted_node_and_reconnects() {
    let mut lab = Lab::plain(1);
    lab.play(
        r#"
        - wait_for_connection:
          register: early
        - command: touch /srv/going-down
        - pause:
            seconds: 2
        - wait_for_connection:
            sleep: 1
            connect_timeout: 2
            timeout: 60
          register: back
        - command: cat /srv/going-down
          register: after
        - assert:
            that:
              - early.elapsed == 0
              - back.elapsed >= (min_wait | default(0) | int)
              - after.rc == 0
        "#,
    );
    // Check mode neither waits nor probes, and is skipped as in Ansible.
    lab.project.file(
        "check.yml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - wait_for_connection:\n        delay: 30\n      register: w\n    - assert:\n        that: w is skipped\n",
    );
    let started = Instant::now();
    let check = lab.project.run(&[
        "apply",
        "check.yml",
        "-i",
        "inventory.yml",
        "--check",
        "--output",
        "json",
    ]);
    check.success();
    assert!(started.elapsed() < Duration::from_secs(30), "no delay");
    assert_eq!(results(&check)[0]["msg"], "skipped in check mode");
    assert_eq!(changed(&check, "node1"), 0);

    let child = lab
        .project
        .command(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "-e",
            "min_wait=1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dtrplay");
    let marker = lab.nodes.node("node1").path("/srv/going-down");
    wait_for_file(&marker);
    lab.nodes
        .fleet
        .stop_node("node1")
        .expect("the node goes down");
    // Down for longer than the pause: the wait starts while it is down.
    std::thread::sleep(Duration::from_secs(4));
    lab.nodes
        .fleet
        .start_node("node1")
        .expect("the node comes back");
    let output = child.wait_with_output().expect("dtrplay ends");
    let run = lab.project.finished(output);
    run.success();
    assert_eq!(failed(&run, "node1"), 0);
    assert_eq!(changed(&run, "node1"), 2, "the two commands");

    // A second run with the node up: only the commands change.
    std::fs::remove_file(&marker).expect("remove the marker");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 2);
}

#[test]
fn wait_for_connection_times_out_with_the_last_error() {
    let mut lab = Lab::plain(1);
    lab.play(
        r#"
        - command: touch /srv/going-down
        - pause:
            seconds: 1
        - wait_for_connection:
            timeout: 3
            connect_timeout: 1
        "#,
    );
    let child = lab
        .project
        .command(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dtrplay");
    wait_for_file(&lab.nodes.node("node1").path("/srv/going-down"));
    lab.nodes
        .fleet
        .stop_node("node1")
        .expect("the node goes down");
    let started = Instant::now();
    let output = child.wait_with_output().expect("dtrplay ends");
    assert!(started.elapsed() < Duration::from_secs(30));
    let run = lab.project.finished(output);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let last = results(&run).pop().expect("a result");
    let msg = last["msg"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("timed out waiting for the connection to node1: "),
        "{last}"
    );
    assert!(last["duration_ms"].as_u64().unwrap_or(0) >= 3000, "{last}");

    lab.nodes
        .fleet
        .start_node("node1")
        .expect("the node comes back");
    lab.play("- wait_for_connection:\n    delay: -1\n");
    let refused = lab.apply(&[]);
    refused.status(2);
    assert!(
        results(&refused)[0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("delay must not be negative"),
        "{:?}",
        results(&refused)
    );
}
