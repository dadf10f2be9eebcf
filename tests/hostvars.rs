//! `hostvars`: every host's variables, in every task, as Ansible exposes
//! them (inventory, group_vars, host_vars, play vars, registered values and
//! facts), rendered lazily in that host's own scope (issue 11 §2).

use crate::harness::{Nodes, Project};

fn project(nodes: &Nodes, playbook: &str) -> Project {
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file(
        "inventory/hosts.yml",
        &nodes.inventory(
            &[("nodes", &refs)],
            "site_url: \"https://{{ inventory_hostname }}.example.com\"",
        ),
    );
    project.file("inventory/group_vars/nodes.yml", "rack: r42\n");
    project.file("inventory/host_vars/node2.yml", "role: primary\n");
    project.file("site.yml", playbook);
    project
}

/// The messages of one task's host results, by host, in order.
fn messages(run: &crate::harness::Run, task: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut found = Vec::new();
    for event in run.events() {
        if event["event"] == "task_start" {
            current = event["name"].as_str().unwrap_or_default().to_string();
        } else if event["event"] == "host_result" && current == task {
            found.push((
                event["host"].as_str().unwrap_or_default().to_string(),
                event["msg"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    found
}

#[test]
fn hostvars_gives_every_hosts_variables_in_every_task() {
    let nodes = Nodes::start(2);
    let node2_port = nodes.node("node2").port;
    let project = project(
        &nodes,
        r#"
        - hosts: nodes
          vars:
            zone: "zone-of-{{ inventory_hostname }}"
          tasks:
            - command: echo "out of {{ inventory_hostname }}"
              register: out
            - set_fact:
                learned: "fact of {{ inventory_hostname }}"
            - name: port
              debug: {msg: "{{ hostvars['node2'].ansible_port }}"}
            - name: self
              debug: {msg: "{{ hostvars[inventory_hostname].rack }} {{ hostvars[inventory_hostname]['inventory_hostname'] }}"}
            - name: other
              debug:
                msg: >-
                  {{ hostvars['node2'].role }} {{ hostvars['node2'].site_url }}
                  {{ hostvars['node2'].zone }} {{ hostvars['node2'].out.stdout }}
                  {{ hostvars['node2'].learned }}
            - name: all hosts
              debug: {msg: "{{ groups['nodes'] | map('extract', hostvars, 'learned') | join(',') }}"}
            - name: unknown
              debug: {msg: "{{ hostvars['nosuch'] | default('none') }}"}
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory/hosts.yml",
        "--output",
        "json",
    ]);
    run.success();
    let both = |msg: &str| {
        vec![
            ("node1".to_string(), msg.to_string()),
            ("node2".to_string(), msg.to_string()),
        ]
    };
    assert_eq!(messages(&run, "port"), both(&node2_port.to_string()));
    assert_eq!(
        messages(&run, "self"),
        vec![
            ("node1".to_string(), "r42 node1".to_string()),
            ("node2".to_string(), "r42 node2".to_string()),
        ]
    );
    assert_eq!(
        messages(&run, "other"),
        both("primary https://node2.example.com zone-of-node2 out of node2 fact of node2")
    );
    assert_eq!(
        messages(&run, "all hosts"),
        both("fact of node1,fact of node2")
    );
    assert_eq!(messages(&run, "unknown"), both("none"));
}
