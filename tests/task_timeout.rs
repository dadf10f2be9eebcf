//! A task's `timeout:` over real sshd nodes: a task failure (not an
//! unreachable host), `ignore_errors` applies, the host stays in the play,
//! and the remote process is stopped.

use crate::harness::{Nodes, Project};

#[test]
fn a_timeout_is_a_task_failure_that_ignore_errors_can_ignore() {
    let nodes = Nodes::start(2);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &["node1", "node2"])], ""),
    );
    project.file(
        "site.yml",
        r#"
        - hosts: nodes
          tasks:
            - name: Slow but ignored
              shell: sh -c 'echo $$ > /srv/sleeper.pid; exec sleep 60'
              timeout: 2
              ignore_errors: true
            - name: Slow and fatal on node2
              command: sleep 30
              timeout: 1
              when: inventory_hostname == 'node2'
            - name: After
              file: {path: /srv/after, state: directory}
        "#,
    );
    let started = std::time::Instant::now();
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    // A failed task, not an unreachable host: exit 2.
    run.status(2);
    let recap = run.recap();
    assert_eq!(recap["node1"]["unreachable"], 0, "{}", run.stdout);
    assert_eq!(recap["node1"]["failed"], 0, "{}", run.stdout);
    assert_eq!(recap["node1"]["ignored"], 1, "{}", run.stdout);
    assert_eq!(recap["node2"]["unreachable"], 0, "{}", run.stdout);
    assert_eq!(recap["node2"]["failed"], 1, "{}", run.stdout);
    let messages: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
        .filter_map(|e| e["msg"].as_str().map(str::to_string))
        .collect();
    assert!(
        messages.iter().any(|m| m == "timed out after 2 s"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "timed out after 1 s"),
        "{messages:?}"
    );
    // The host whose failure was ignored stays in the play; the other one
    // stops there.
    assert!(nodes.node("node1").path("/srv/after").exists());
    assert!(!nodes.node("node2").path("/srv/after").exists());
    // The timed-out process itself was stopped on both hosts.
    for node in nodes.fleet.nodes() {
        let text = std::fs::read_to_string(node.path("/srv/sleeper.pid")).expect("the pid file");
        let pid: u32 = text.trim().parse().expect("a pid");
        assert!(
            !dtrplay_lab::daemon::process::is_alive(pid),
            "the sleeper still runs on {}",
            node.name
        );
    }
}
