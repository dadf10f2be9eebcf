//! What a new user meets in the first hour: an unreachable host's error
//! before its hint, a play that stops saying so and why, and an unset
//! environment variable behind `lookup('env', ...)` named as such.

use crate::harness::{Nodes, Project};

/// One real node and `ghost`, a host whose name does not resolve, both in
/// group `targets` (ghost first), with `vars` on `all`.
fn ghost_and_node(vars: &str) -> (Nodes, Project) {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("targets", &["ghost", "node1"])], vars),
    );
    project.file("host_vars/ghost.yml", "ansible_host: ghost.invalid\n");
    (nodes, project)
}

#[test]
fn the_error_of_an_unreachable_host_comes_before_its_hint() {
    let (_nodes, project) = ghost_and_node("");
    project.file(
        "site.yml",
        r#"
        - hosts: targets
          tasks:
            - name: Say hello
              command: "true"
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(3);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let error = lines
        .iter()
        .position(|l| l.starts_with("unreachable: [ghost]: could not connect to ghost"))
        .unwrap_or_else(|| panic!("no unreachable line:\n{}", run.stdout));
    assert_eq!(
        lines[error + 1],
        "    hint: check the inventory name, or set ansible_host to a resolvable name or an address",
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("[WARNING]"), "{}", run.stdout);
    // The other host went on: the play did not stop.
    assert!(!run.stdout.contains("NO MORE HOSTS LEFT"), "{}", run.stdout);
    let json = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    let ghost = json
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["host"] == "ghost")
        .expect("ghost's result");
    assert_eq!(ghost["status"], "unreachable");
    assert_eq!(
        ghost["hint"],
        "check the inventory name, or set ansible_host to a resolvable name or an address"
    );
}

#[test]
fn a_play_that_runs_out_of_hosts_says_so_and_why() {
    let (_nodes, project) = ghost_and_node("");
    project.file(
        "site.yml",
        r#"
        - hosts: targets
          tasks:
            - name: Fail on the node
              command: "false"
            - name: Never run
              command: "true"
            - name: Never run either
              command: "true"
        "#,
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(2).stdout_has(
        "[WARNING]: NO MORE HOSTS LEFT: the play stopped: after `Fail on the node`, every host has failed or is unreachable; its 2 remaining tasks did not run\n",
    );
    assert!(!run.stdout.contains("TASK [Never run]"), "{}", run.stdout);

    // A task that runs once stands for every host: when it cannot run, no
    // host is left, and the line says why.
    project.file(
        "once.yml",
        r#"
        - hosts: targets
          tasks:
            - name: Once for all
              command: "true"
              run_once: true
            - name: Never run
              command: "true"
        "#,
    );
    let run = project.run(&["apply", "once.yml", "-i", "inventory.yml"]);
    run.status(3).stdout_has(
        "[WARNING]: NO MORE HOSTS LEFT: the play stopped: `Once for all` runs once for every host, and it did not succeed; its 1 remaining task did not run\n",
    );
}

#[test]
fn an_unset_environment_variable_behind_a_lookup_is_named_in_apply_and_doctor() {
    let unset = "DTRPLAY_TEST_NEVER_SET_PASSWORD";
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(
            &[("ucp", &["node1"])],
            &format!(
                r#"
                ucp_url: https://127.0.0.1:1
                ucp_username: admin
                ucp_password: "{{{{ lookup('env', '{unset}') }}}}"
                dtr_url: https://127.0.0.1:1
                dtr_username: admin
                dtr_password: "{{{{ lookup('env', '{unset}', default='') }}}}"
                "#
            ),
        ),
    );
    project.file(
        "site.yml",
        r#"
        - hosts: ucp
          tasks:
            - name: Say hello
              command: "true"
        "#,
    );
    let message = format!(
        "`ucp_password` reads lookup('env', '{unset}'), but the environment variable {unset} is not set, so `ucp_password` is empty: export {unset} before running"
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.success().stdout_has(&format!("[WARNING]: {message}\n"));
    // A lookup with a default planned for the unset variable.
    assert!(!run.stdout.contains("`dtr_password`"), "{}", run.stdout);

    let run = project.run(&["doctor", "-i", "inventory.yml"]);
    run.status(6);
    assert!(
        run.stdout.starts_with(&format!("WARNING {message}\n")),
        "{}",
        run.stdout
    );

    // Links are named once, whatever the number of nodes; nodes are
    // counted for the per-node link.
    assert!(
        run.stdout.ends_with(
            "\nbroken: DTR's CA (step 2); UCP knows DTR (step 3); DTR trusts UCP (step 4); node trusts DTR (step 5) on 1 of 1 node\n"
        ),
        "{}",
        run.stdout
    );

    // -v says what was checked and how each node was reached.
    let run = project.run(&["doctor", "-i", "inventory.yml", "-v"]);
    run.status(6)
        .stdout_has("ucp_url: https://127.0.0.1:1\ndtr_url: https://127.0.0.1:1\n")
        .stdout_has("node1: connected with native SSH (");

    // JSON: the same version/event shape as apply's, ending in a summary.
    let run = project.run(&["doctor", "-i", "inventory.yml", "--output", "json"]);
    run.status(6);
    let events = run.events();
    assert!(events.iter().all(|e| e["version"] == 1), "{}", run.stdout);
    assert_eq!(events[0]["event"], "warning");
    assert!(
        events[1..events.len() - 1]
            .iter()
            .all(|e| e["event"] == "verdict")
    );
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["healthy"], false);
    assert_eq!(
        summary["broken_links"],
        serde_json::json!([
            "dtr_ca",
            "ucp_knows_dtr",
            "dtr_trusts_ucp",
            "node_trusts_dtr"
        ])
    );
    assert_eq!(summary["nodes"], serde_json::json!({"node1": "broken"}));

    // Set, it is not mentioned.
    let run = project
        .command(&["apply", "site.yml", "-i", "inventory.yml"])
        .env(unset, "s3cret")
        .output()
        .expect("run dtrplay");
    let run = project.finished(run);
    run.success();
    assert!(!run.stdout.contains("reads lookup('env'"), "{}", run.stdout);
}

#[test]
fn completions_and_the_manual_come_from_the_command_line() {
    let project = Project::new();
    let run = project.run(&["completions", "bash"]);
    run.success().stdout_has("--start-at-task");
    // The script loads in a real bash and registers the completion.
    let script = project.path().join("dtrplay.bash");
    std::fs::write(&script, &run.stdout).expect("write the script");
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p dtrplay",
            script.display()
        ))
        .output()
        .expect("run bash");
    assert!(
        String::from_utf8_lossy(&bash.stdout).contains("-F _dtrplay dtrplay"),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    for shell in ["zsh", "fish"] {
        project
            .run(&["completions", shell])
            .success()
            .stdout_has("apply");
    }
    let man = project.run(&["man"]);
    man.success()
        .stdout_has(".TH dtrplay 1")
        .stdout_has(".SH \"DTRPLAY APPLY\"")
        .stdout_has("\\-\\-list\\-tasks");
}

/// On a terminal, a long task shows which hosts it waits for and for how
/// long, and Ctrl-C takes that line off the screen before the recap.
#[test]
fn the_spinner_shows_the_time_waited_and_is_cleared_by_ctrl_c() {
    let nodes = Nodes::start(1);
    let project = nodes.web_project("");
    project.file(
        "slow.yml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - command: sleep 30\n",
    );
    let mut terminal = crate::escalation::terminal::Terminal::run_with_stderr(
        &project,
        &["apply", "slow.yml", "-i", "inventory.yml"],
    );
    // Progress comes about once a second; any count past the first shows
    // that the time moves.
    terminal.wait_for_any(&[
        "waiting for node1 (2s)",
        "waiting for node1 (3s)",
        "waiting for node1 (4s)",
    ]);
    terminal.press_ctrl_c();
    let (run, screen) = terminal.finish_with_screen(&project);
    assert_eq!(run.status, 130, "{run:?}");
    run.stdout_has("interrupted: [node1]: `command` was stopped");
    // The last thing drawn after the spinner is the erasing of its line.
    let last_spinner = screen.rfind("waiting for node1").expect("a spinner line");
    assert!(
        screen[last_spinner..].contains("\x1b[2K"),
        "the spinner line stayed on the screen: {screen:?}"
    );
}
