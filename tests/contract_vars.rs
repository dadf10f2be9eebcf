//! The integration's contract variables are checked by `validate` when
//! their value is written out (issue 11 §4): an unknown `ucp_flavor` and a
//! CA pin that is not a SHA-256 fingerprint are input errors (exit 4) at
//! the value, wherever it is written (inventory, play vars, vars files,
//! task and block vars, task arguments), before any connection.

use crate::harness::Project;

#[test]
fn unknown_flavors_and_malformed_pins_are_refused_at_the_value() {
    let project = Project::new();
    project.file(
        "hosts.ini",
        "[ucp]\nucp1 ansible_host=127.0.0.1 ansible_port=1\n[ucp:vars]\nucp_flavor=ucp2\n",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          vars:
            ucp_ca_fingerprint: "AB:CD:not-hex"
            dtr_ca_fingerprint: "{{ lookup('env', 'DTR_PIN') }}"
          tasks:
            - command: "true"
        "#,
    );
    let run = project.run(&["validate", "site.yml", "-i", "hosts.ini"]);
    run.status(4)
        .stderr_has("`ucp_flavor` must be `ucp1` or `ucp3`, not `ucp2`")
        .stderr_has("hosts.ini:4:12")
        .stderr_has("did you mean `ucp1`?")
        .stderr_has("`ucp_ca_fingerprint` is not a SHA-256 fingerprint")
        .stderr_has("site.yml:4:25");
    // The templated pin is checked when it is rendered, not here.
    run.stderr_has("found 2 problems");
    let apply = project.run(&["apply", "site.yml", "-i", "hosts.ini"]);
    apply.status(4);

    // Written correctly, both pass.
    project.file(
        "hosts.ini",
        "[ucp]\nucp1 ansible_host=127.0.0.1 ansible_port=1\n[ucp:vars]\nucp_flavor=ucp3\n",
    );
    project.file(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n    ucp_ca_fingerprint: \"sha256:{}\"\n  tasks:\n    - command: \"true\"\n",
            "ab".repeat(32)
        ),
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .success();
}

#[test]
fn the_same_checks_hold_in_vars_files_task_vars_and_task_arguments() {
    let project = Project::new();
    project.file("hosts.ini", "ucp1 ansible_host=127.0.0.1 ansible_port=1\n");
    project.file("contract.yml", "ucp_flavor: ucp4\n");
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          vars_files: [contract.yml]
          tasks:
            - block:
                - command: "true"
              vars:
                dtr_ca_fingerprint: "sha256:abc"
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .status(4)
        .stderr_has("`ucp_flavor` must be `ucp1` or `ucp3`, not `ucp4`")
        .stderr_has("contract.yml:1:13")
        .stderr_has("`dtr_ca_fingerprint` is not a SHA-256 fingerprint")
        .stderr_has("site.yml:8:29")
        .stderr_has("found 2 problems");

    // A pin given to the task itself is checked as its argument.
    project.file("contract.yml", "ucp_flavor: ucp3\n");
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - dump-certs:
                fingerprint: "12:34"
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .status(4)
        .stderr_has("argument `fingerprint` is not a SHA-256 fingerprint")
        .stderr_has("site.yml:5:22");
}

#[test]
fn extra_variables_are_checked_at_the_command_line() {
    let project = Project::new();
    project.file("hosts.ini", "ucp1 ansible_host=127.0.0.1 ansible_port=1\n");
    project.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    );
    project
        .run(&[
            "validate",
            "site.yml",
            "-i",
            "hosts.ini",
            "-e",
            "ucp_flavor=ucp9",
            "-e",
            "dtr_ca_fingerprint=abc",
        ])
        .status(4)
        .stderr_has("`ucp_flavor` must be `ucp1` or `ucp3`, not `ucp9`")
        .stderr_has("`dtr_ca_fingerprint` is not a SHA-256 fingerprint")
        .stderr_has("the command line:1:")
        .stderr_has("found 2 problems");
}

#[test]
fn a_roles_defaults_and_vars_are_checked_at_their_line() {
    let project = Project::new();
    project.file("hosts.ini", "ucp1 ansible_host=127.0.0.1 ansible_port=1\n");
    project.file("roles/trust/defaults/main.yml", "---\nucp_flavor: ucp2\n");
    project.file(
        "roles/trust/vars/main.yml",
        "ucp_ca_fingerprint: \"12:ab\"\n",
    );
    project.file("roles/trust/tasks/main.yml", "- command: \"true\"\n");
    project.file(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [trust]\n",
    );
    project
        .run(&["validate", "site.yml", "-i", "hosts.ini"])
        .status(4)
        .stderr_has("`ucp_flavor` must be `ucp1` or `ucp3`, not `ucp2`")
        .stderr_has("defaults/main.yml:2:13")
        .stderr_has("`ucp_ca_fingerprint` is not a SHA-256 fingerprint")
        .stderr_has("vars/main.yml:1:21");
}
