//! `playbook_dir`, `inventory_dir`, `inventory_file` and `role_path` are
//! absolute, whatever form of relative path the playbook and the inventory
//! were named by, as Ansible gives them (issue 11 §2; the oracle case
//! `magic_dirs` compares the same variables with ansible-playbook).

use std::path::Path;

use crate::harness::{Nodes, Project, Run};

const PLAYBOOK: &str = r#"
- hosts: nodes
  gather_facts: false
  roles: [where]
  tasks:
    - name: dirs
      debug:
        msg: "{{ playbook_dir }}|{{ inventory_dir }}|{{ inventory_file }}"
"#;

fn project(nodes: &Nodes) -> Project {
    let project = Project::new();
    project.file(
        "inventory/hosts.yml",
        &nodes.inventory(&[("nodes", &["node1"])], ""),
    );
    project.file("site.yml", PLAYBOOK);
    project.file(
        "roles/where/tasks/main.yml",
        "- name: role\n  debug: {msg: \"{{ role_path }}\"}\n",
    );
    project.file("plays/.keep", "");
    project
}

/// The message of the task named `task` (a role's task is named
/// `role : task`) on node1.
fn message(run: &Run, task: &str) -> String {
    let mut current = String::new();
    for event in run.events() {
        if event["event"] == "task_start" {
            current = event["name"].as_str().unwrap_or_default().to_string();
        } else if event["event"] == "host_result" && current.rsplit(" : ").next() == Some(task) {
            return event["msg"].as_str().unwrap_or_default().to_string();
        }
    }
    panic!("no result of task {task}\n{}\n{}", run.stdout, run.stderr)
}

fn expected(root: &Path) -> String {
    format!(
        "{root}|{root}/inventory|{root}/inventory/hosts.yml",
        root = root.display()
    )
}

#[test]
fn relative_playbook_and_inventory_paths_give_absolute_directories() {
    let nodes = Nodes::start(1);
    let project = project(&nodes);
    let root = std::fs::canonicalize(project.path()).expect("the project directory");
    for (playbook, inventory) in [
        ("site.yml", "inventory/hosts.yml"),
        ("./site.yml", "./inventory"),
        ("plays/../site.yml", "inventory/../inventory/hosts.yml"),
    ] {
        let run = project.run(&["apply", playbook, "-i", inventory, "--output", "json"]);
        run.success();
        assert_eq!(
            message(&run, "dirs"),
            expected(&root),
            "{playbook} -i {inventory}"
        );
        assert_eq!(
            message(&run, "role"),
            format!("{}/roles/where", root.display()),
            "{playbook}"
        );
    }
}

#[test]
fn a_run_from_another_directory_gives_the_same_directories() {
    let nodes = Nodes::start(1);
    let project = project(&nodes);
    let root = std::fs::canonicalize(project.path()).expect("the project directory");
    let output = project
        .command(&[
            "apply",
            "../site.yml",
            "-i",
            "../inventory/hosts.yml",
            "--output",
            "json",
        ])
        .current_dir(project.path().join("plays"))
        .output()
        .expect("run dtrplay");
    let run = project.finished(output);
    run.success();
    assert_eq!(message(&run, "dirs"), expected(&root));
}
