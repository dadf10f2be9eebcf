//! The integration's contract variables are checked by `validate` when
//! their value is written out (issue 11 §4): an unknown `ucp_flavor` and a
//! CA pin that is not a SHA-256 fingerprint are input errors (exit 4) at
//! the value, in the inventory or in play vars, before any connection.

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
