//! Host data is data: what comes from hosts (registered results, `set_fact`
//! values computed from them, loop items, custom task results, what lookups
//! read from the control machine) is never
//! rendered as a template again, however it is used later (issue 11 §1).
//! Values the user wrote stay templates, rendered lazily.

use crate::harness::{Nodes, Project};

/// A project with the nodes in group `nodes` and `ucp_password` set.
fn project(nodes: &Nodes, playbook: &str) -> Project {
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &refs)], "ucp_password: S3cretPW-ucp-1"),
    );
    project.file("site.yml", playbook);
    project
}

fn apply(project: &Project) -> crate::harness::Run {
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
        "-v",
    ]);
    run.success();
    run
}

/// The messages of one task's host results, by task name.
fn messages(run: &crate::harness::Run, task: &str) -> Vec<String> {
    let mut current = String::new();
    let mut found = Vec::new();
    for event in run.events() {
        if event["event"] == "task_start" {
            current = event["name"].as_str().unwrap_or_default().to_string();
        } else if event["event"] == "host_result" && current == task {
            found.push(event["msg"].as_str().unwrap_or_default().to_string());
        }
    }
    found
}

/// The exact payload of issue 11 §1: a hostile node's file that, rendered
/// on the control machine, would write a secret and the control machine's
/// private SSH key into the host.
#[test]
fn a_registered_result_is_copied_literally_never_rendered() {
    let nodes = Nodes::start(1);
    let key = nodes.node("node1").private_key().display().to_string();
    let payload = format!("{{{{ ucp_password }}}} {{{{ lookup('file', '{key}') | b64encode }}}}");
    std::fs::write(nodes.node("node1").path("/srv/motd"), &payload).expect("plant the payload");
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          tasks:
            - command: cat /srv/motd
              register: motd
            - copy: {dest: /srv/motd_copy, content: "{{ motd.stdout }}"}
        "#,
    );
    apply(&project);
    let copy = std::fs::read_to_string(nodes.node("node1").path("/srv/motd_copy"))
        .expect("the copy is written");
    assert_eq!(copy, payload);
}

/// `{{ 7*7 }}` from a host stays that text through debug, set_fact, loop
/// items, `when`, `changed_when`/`failed_when` and further copies.
#[test]
fn host_text_stays_text_in_every_kind_of_use() {
    let nodes = Nodes::start(1);
    std::fs::write(nodes.node("node1").path("/srv/seven"), "{{ 7*7 }}\n").expect("plant");
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          tasks:
            - command: cat /srv/seven
              register: seven
            - name: debug var
              debug: var=seven.stdout
            - name: debug msg
              debug: {msg: "{{ seven.stdout }}"}
            - set_fact:
                fact: "{{ seven.stdout }}"
                joined: "got {{ seven.stdout }}"
            - name: debug fact
              debug: var=fact
            - name: debug joined
              debug: {msg: "{{ joined }}"}
            - copy: {dest: /srv/fact_copy, content: "{{ fact }}"}
            - copy: {dest: "/srv/item_copy", content: "{{ item }}"}
              loop: "{{ seven.stdout_lines }}"
            - name: rendered when
              debug: {msg: "when saw 49"}
              when: seven.stdout == '49'
            - name: literal when
              debug: {msg: "when saw the text"}
              when: seven.stdout is search('7\*7')
            - name: changed_when
              command: "true"
              changed_when: seven.stdout == '49'
            - name: failed_when
              command: "true"
              failed_when: fact == '49'
        "#,
    );
    let run = apply(&project);
    assert_eq!(messages(&run, "debug var"), ["seven.stdout: {{ 7*7 }}"]);
    assert_eq!(messages(&run, "debug msg"), ["{{ 7*7 }}"]);
    assert_eq!(messages(&run, "debug fact"), ["fact: {{ 7*7 }}"]);
    assert_eq!(messages(&run, "debug joined"), ["got {{ 7*7 }}"]);
    assert_eq!(messages(&run, "literal when"), ["when saw the text"]);
    let node = nodes.node("node1");
    for file in ["/srv/fact_copy", "/srv/item_copy"] {
        assert_eq!(
            std::fs::read_to_string(node.path(file)).expect("written"),
            "{{ 7*7 }}",
            "{file}"
        );
    }
    let statuses: Vec<(String, String)> = {
        let mut current = String::new();
        let mut out = Vec::new();
        for event in run.events() {
            if event["event"] == "task_start" {
                current = event["name"].as_str().unwrap_or_default().to_string();
            } else if event["event"] == "host_result" {
                out.push((
                    current.clone(),
                    event["status"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    };
    let status = |task: &str| {
        statuses
            .iter()
            .find(|(t, _)| t == task)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    assert_eq!(status("rendered when"), "skipped", "{statuses:?}");
    assert_eq!(status("changed_when"), "ok", "{statuses:?}");
    // `command` always reports a change; what matters is that it did not fail.
    assert_eq!(status("failed_when"), "changed", "{statuses:?}");
}

/// A condition that wraps host data in `{{ }}` would evaluate the host's
/// text as an expression; it is refused instead.
#[test]
fn a_condition_never_evaluates_host_text_as_code() {
    let nodes = Nodes::start(1);
    std::fs::write(nodes.node("node1").path("/srv/expr"), "1 == 1\n").expect("plant");
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          tasks:
            - command: cat /srv/expr
              register: expr
            - name: embedded
              debug: {msg: "evaluated the host's text"}
              when: "{{ expr.stdout }} and true"
              ignore_errors: true
        "#,
    );
    let run = apply(&project);
    let msgs = messages(&run, "embedded");
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].contains("never evaluated as an expression"),
        "{msgs:?}"
    );
}

/// A custom task's result is host data too.
#[test]
fn a_custom_tasks_registered_result_is_never_rendered() {
    use std::os::unix::fs::PermissionsExt;
    let nodes = Nodes::start(1);
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          tasks:
            - echo_template: {}
              register: custom
            - name: show
              debug: {msg: "{{ custom.data.out }}"}
            - copy: {dest: /srv/custom_copy, content: "{{ custom.data.out }}"}
        "#,
    );
    let exe = project.file(
        "library/echo_template",
        "#!/bin/sh\nprintf '%s' '{\"changed\": false, \"data\": {\"out\": \"{{ 7*7 }} {{ ucp_password }}\"}}'\n",
    );
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    project.file(
        "library/echo_template.yml",
        "description: Replies with template text\n",
    );
    let run = apply(&project);
    assert_eq!(messages(&run, "show"), ["{{ 7*7 }} {{ ucp_password }}"]);
    assert_eq!(
        std::fs::read_to_string(nodes.node("node1").path("/srv/custom_copy")).expect("written"),
        "{{ 7*7 }} {{ ucp_password }}"
    );
}

/// User-written values stay lazy templates: play vars built from inventory
/// vars, task vars from play vars, and vars_files.
#[test]
fn user_written_values_are_still_rendered_lazily() {
    let nodes = Nodes::start(1);
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          vars:
            base: "https://{{ inventory_hostname }}"
            url: "{{ base }}/v2/"
          tasks:
            - name: show
              debug: {msg: "{{ url }} {{ port }}"}
              vars:
                port: "{{ 40 + 3 }}"
        "#,
    );
    let run = apply(&project);
    assert_eq!(messages(&run, "show"), ["https://node1/v2/ 43"]);
}

/// What lookups read from the control machine (a file, the environment)
/// is data too: a template inside it is copied as text, not run.
#[test]
fn lookup_results_are_data_never_rendered_again() {
    let nodes = Nodes::start(1);
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          gather_facts: false
          vars:
            from_file: "{{ lookup('file', 'motd.txt') }}"
            from_env: "{{ lookup('env', 'DTRPLAY_TEST_HOSTILE') }}"
            both: "{{ from_file }} | {{ from_env }}"
          tasks:
            - copy: {dest: /srv/lookups, content: "{{ both }}\n"}
            - set_fact: {kept: "{{ from_file }}"}
            - copy: {dest: /srv/kept, content: "{{ kept }}\n"}
            - debug: {msg: "file said {{ from_file }}"}
              when: from_file != '49'
        "#,
    );
    project.file("motd.txt", "{{ 7*7 }} {{ ucp_password }}");
    let run = project
        .command(&["apply", "site.yml", "-i", "inventory.yml"])
        .env("DTRPLAY_TEST_HOSTILE", "{{ 6*7 }}")
        .output()
        .expect("run dtrplay");
    let run = project.finished(run);
    run.success();
    assert_eq!(
        nodes.read("node1", "/srv/lookups"),
        "{{ 7*7 }} {{ ucp_password }} | {{ 6*7 }}\n"
    );
    assert_eq!(
        nodes.read("node1", "/srv/kept"),
        "{{ 7*7 }} {{ ucp_password }}\n"
    );
    run.stdout_has("file said {{ 7*7 }} {{ ucp_password }}");
    assert!(!run.stdout.contains("S3cretPW-ucp-1"), "{}", run.stdout);
}
