//! Connection variables (`ansible_host`, `ansible_port`,
//! `ansible_connection`, ...) are checked by `validate`, wherever they are
//! written (INI and YAML inventories, `group_vars/`, `host_vars/`): a bad
//! one is an input error (exit 4) at its file, line and column, before any
//! host is contacted, not a failure to connect (exit 3).

use crate::harness::{Nodes, Project};

const PLAYBOOK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n";

#[track_caller]
fn refused(project: &Project, inventory: &str) -> crate::harness::Run {
    let run = project.run(&["validate", "site.yml", "-i", inventory]);
    run.status(4);
    let apply = project.run(&["apply", "site.yml", "-i", inventory]);
    apply.status(4);
    assert!(!apply.stdout.contains("unreachable"), "{}", apply.stdout);
    run
}

#[test]
fn a_port_that_is_not_a_number_is_refused_in_an_ini_inventory() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=not-a-port\n",
    );
    refused(&project, "hosts.ini")
        .stderr_has("`ansible_port` must be a port number")
        .stderr_has("hosts.ini:2:")
        .stderr_has("expected a number from 1 to 65535");
}

#[test]
fn bad_connection_variables_in_yaml_group_vars_and_host_vars_are_all_reported() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file(
        "inventory/hosts.yml",
        r#"
        all:
          hosts:
            web1:
              ansible_host: "-oProxyCommand=touch /tmp/owned"
            web2:
              ansible_host: "10.0.0.5 10.0.0.6"
            web3:
          children:
            db:
              hosts:
                db1:
                db2:
        "#,
    );
    project.file("inventory/group_vars/db.yml", "ansible_connection: winrm\n");
    project.file("inventory/host_vars/web3.yml", "ansible_port: 70000\n");
    let run = refused(&project, "inventory");
    run.stderr_has("`ansible_host` must be a host name or an address: it starts with `-`")
        .stderr_has("hosts.yml:4:")
        .stderr_has("it contains ' '")
        .stderr_has("connection type `winrm` is not supported")
        .stderr_has("db.yml:1:21")
        .stderr_has("web3.yml:1:15");
    // A group's variable is reported once, not once per member.
    assert_eq!(
        run.stderr.matches("`winrm` is not supported").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn good_connection_variables_pass_validate() {
    let project = Project::new();
    project.file("site.yml", PLAYBOOK);
    project.file(
        "hosts.ini",
        "[web]\nweb1 ansible_host=ucp1.example.com ansible_port=2222\nweb2 ansible_host=fd00::5 ansible_connection=ssh\nweb3 ansible_host=10.0.0.5 ansible_port=22\n[web:vars]\nansible_user=admin\n",
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .success();
}

/// Ansible renders connection variables with the host's other variables
/// before it connects; so does dtrplay. `validate` checks what is written
/// literally, and the run checks what a template renders to, at the
/// template.
#[test]
fn templated_connection_variables_are_rendered_before_connecting() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = Project::new();
    project.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: whoami\n      register: who\n    - debug: var=who.stdout\n",
    );
    let inventory = |port: &str| {
        format!(
            "all:\n  vars:\n    login: {user}\n    node_port: {port}\n    node_address: {host}\n  hosts:\n    node1:\n      ansible_host: \"{{{{ node_address }}}}\"\n      ansible_port: \"{{{{ node_port | int }}}}\"\n      ansible_user: \"{{{{ login }}}}\"\n      ansible_ssh_private_key_file: {key}\n      ansible_ssh_common_args: \"{args}\"\n",
            user = node.user,
            host = node.host,
            key = node.private_key().display(),
            args = node.ssh_common_args(),
        )
    };
    project.file("hosts.yml", &inventory(&node.port.to_string()));
    project
        .run(&["validate", "site.yml", "-i", "hosts.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "hosts.yml"])
        .success()
        .stdout_has(&format!("who.stdout: {}", node.user));

    // A template that renders to something that is not a port fails that
    // host's connection, naming the variable and where it was written.
    project.file("hosts.yml", &inventory("not-a-port"));
    project
        .run(&["apply", "site.yml", "-i", "hosts.yml"])
        .status(3)
        .stdout_has("`ansible_port` must be a port number")
        .stdout_has("hosts.yml:9:");
}
