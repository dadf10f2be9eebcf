//! Input is bounded (issue 11 §4): a host range past the inventory's host
//! limit is an input error at the range, an input file past 64 MiB (or a
//! device that never ends, like `/dev/zero`) fails fast naming the file
//! and the limit, and a template whose joins or concatenations would make
//! more than the template limit fails that task with a clear message
//! instead of eating the machine's memory.

use std::time::{Duration, Instant};

use crate::harness::{Nodes, Project, Run};

const PLAYBOOK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n";

#[track_caller]
fn refused_fast(project: &Project, args: &[&str]) -> Run {
    let started = Instant::now();
    let run = project.run(args);
    run.status(4);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    run
}

#[test]
fn a_host_range_past_the_inventory_limit_is_an_error_at_the_range() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file("hosts.ini", "[web]\nok1\nw[1:100000000] ansible_port=22\n");
    refused_fast(&project, &["validate", "site.yml", "-i", "hosts.ini"])
        .stderr_has("invalid host range in `w[1:100000000]`")
        .stderr_has("more than 1000000 hosts, dtrplay's limit for a whole inventory")
        .stderr_has("hosts.ini:3:1");
    // Nested ranges multiply; the product is refused before it is made.
    project.file(
        "hosts.yml",
        "all:\n  children:\n    web:\n      hosts:\n        \"n[1:1000]x[1:1001]\":\n",
    );
    refused_fast(&project, &["validate", "site.yml", "-i", "hosts.yml"])
        .stderr_has("invalid host range in `n[1:1000]x[1:1001]`")
        .stderr_has("more than 1000000 hosts")
        .stderr_has("hosts.yml:5:9");
    // Ranges under the limit each add up: the line that passes it is named.
    project.file("hosts.ini", "[web]\na[1:500000]\nb[0:500000]\n");
    refused_fast(&project, &["validate", "site.yml", "-i", "hosts.ini"])
        .stderr_has("the inventory would have more than 1000000 hosts")
        .stderr_has("hosts.ini:3:1");
}

#[test]
fn an_extra_vars_file_that_never_ends_fails_fast_naming_the_limit() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    refused_fast(
        &project,
        &["apply", "site.yml", "-i", "hosts.ini", "-e", "@/dev/zero"],
    )
    .stderr_has("/dev/zero")
    .stderr_has("larger than 64 MiB, the limit for input files");
}

#[test]
fn an_input_file_over_the_cap_is_refused_before_it_is_read_whole() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\n",
    );
    // A sparse file: 65 MiB long, no disk used.
    std::fs::create_dir_all(project.path().join("group_vars")).expect("group_vars");
    let big = std::fs::File::create(project.path().join("group_vars/all.yml")).expect("create");
    big.set_len(65 * 1024 * 1024).expect("set the length");
    refused_fast(&project, &["validate", "site.yml", "-i", "hosts.ini"])
        .stderr_has("all.yml")
        .stderr_has("larger than 64 MiB, the limit for input files");
}

#[test]
fn joins_and_concatenations_past_the_template_limit_fail_the_task() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file("hosts.yml", &nodes.inventory(&[("nodes", &["node1"])], ""));
    project.file(
        "site.yml",
        r#"
        - hosts: nodes
          gather_facts: false
          vars:
            big: "{{ 'x' * 100000000 }}"
          tasks:
            - name: join
              debug:
                msg: "{{ [big, big, big] | join(',') | length }}"
              ignore_errors: true
            - name: concatenate
              debug:
                msg: "{{ (big ~ big ~ big) | length }}"
              ignore_errors: true
            - name: small
              debug:
                msg: "{{ ['a', 'b'] | join('-') }}"
        "#,
    );
    let started = Instant::now();
    let run = project.run(&["apply", "site.yml", "-i", "hosts.yml", "--output", "json"]);
    run.success();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let results: Vec<serde_json::Value> = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .collect();
    assert_eq!(results.len(), 3, "{}", run.stdout);
    for result in &results[..2] {
        assert_eq!(result["status"], "failed", "{result}");
        let msg = result["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains("more data or does more work than dtrplay's limit for one template"),
            "{msg}"
        );
    }
    assert_eq!(results[2]["msg"], "a-b");
}
