//! `raw`, `slurp`, `pause` and `wait_for` on real sshd nodes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::{Lab, changed, failed, results};

#[test]
fn raw_runs_as_written_but_not_in_check_mode() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - raw: echo hi > /srv/raw; cat /srv/raw; echo err >&2
          register: r
        - raw: exit 3
          ignore_errors: true
          register: bad
        - assert:
            that:
              - r.stdout == 'hi'
              - r.stderr == 'err'
              - r.rc == 0
              - bad.rc == 3 and bad is failed
        "#,
    );
    lab.project.file(
        "check.yml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - raw: echo hi > /srv/raw\n",
    );
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
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(lab.sh("node1", "test -e /srv/raw || echo none"), "none\n");
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 1, "raw always changes");
    assert_eq!(failed(&run, "node1"), 0);
}

#[test]
fn slurp_registers_base64_and_pause_waits_once() {
    let lab = Lab::plain(2);
    lab.sh("node1", "printf 'ca\\x00data\\n' > /srv/ca.pem");
    lab.sh("node2", "printf 'other\\n' > /srv/ca.pem");
    lab.play(
        r#"
        - slurp: src=/srv/ca.pem
          register: ca
        - assert:
            that:
              - ca.encoding == 'base64'
              - ca.source == '/srv/ca.pem'
              - ca.content == ('ca\x00data\n' | b64encode) or ca.content == ('other\n' | b64encode)
        - slurp: path=/srv
          ignore_errors: true
        - slurp: path=/srv/nope
          ignore_errors: true
        - pause:
            seconds: 1
          register: paused
        - assert:
            that: paused.delta >= 1
        "#,
    );
    let started = Instant::now();
    let run = lab.apply(&[]);
    run.success();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(changed(&run, "node1"), 0);
    let msgs: Vec<String> = results(&run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        msgs.contains(&"source is a directory and must be a file: /srv".to_string()),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"file not found: /srv/nope".to_string()),
        "{msgs:?}"
    );
    // Once for the play, not once per host; the asserts after it passed on
    // both hosts, so the result was registered on both.
    assert_eq!(
        msgs.iter().filter(|m| *m == "Paused for 1 seconds").count(),
        1,
        "{msgs:?}"
    );
    assert_eq!(failed(&run, "node2"), 0);

    lab.play("- pause:\n    prompt: Press enter\n");
    let refused = lab.apply(&[]);
    refused.status(2);
    assert!(
        results(&refused)[0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("dtrplay runs without a terminal"),
        "{:?}",
        results(&refused)
    );
}

#[test]
fn wait_for_ports_and_files() {
    let lab = Lab::plain(1);
    let host = lab.nodes.node("node1").host;
    let open = TcpListener::bind((host, 0)).expect("bind");
    let open_port = open.local_addr().expect("addr").port();
    let closed_port = {
        let l = TcpListener::bind((host, 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    lab.play(&format!(
        r#"
        - wait_for: host={host} port={open_port} timeout=10
          register: up
        - wait_for: host={host} port={closed_port} state=stopped timeout=10
        - wait_for: host={host} port={closed_port} timeout=2
          ignore_errors: true
          register: never
        - shell: (sleep 1; echo ready > /srv/flag) >/dev/null 2>&1 &
        - wait_for: path=/srv/flag search_regex=ready timeout=20
          register: flag
        - wait_for: path=/srv/flag state=absent timeout=1 msg="the flag stayed"
          ignore_errors: true
        - assert:
            that:
              - up.port == {open_port}
              - up.state == 'started'
              - never is failed and never.elapsed >= 2
              - flag.path == '/srv/flag'
        "#
    ));
    let run = lab.apply(&[]);
    run.success();
    let msgs: Vec<String> = results(&run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        msgs.contains(&format!("Timeout when waiting for {host}:{closed_port}")),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"the flag stayed".to_string()), "{msgs:?}");
    assert_eq!(changed(&run, "node1"), 1, "only the shell task changes");
    drop(open);
}
