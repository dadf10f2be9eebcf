//! Inputs public content leaves to the user, through the binary on real
//! sshd nodes: a `vars_files` entry the README says to write first (a
//! warning in `validate`, the play's failure at its start in `apply`, as in
//! Ansible), and the variables a role takes from its callers (a warning
//! unless a defined name is near, then an error).

use crate::harness::{Nodes, Project};

fn setup() -> (Nodes, Project) {
    let nodes = Nodes::start(1);
    let project = nodes.web_project("site: deferred");
    (nodes, project)
}

const TWO_PLAYS: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: First play
      copy: {content: "first\n", dest: /srv/first.txt, mode: "0644"}

- hosts: web
  gather_facts: false
  vars_files:
    - creds.yml
  tasks:
    - name: Second play
      copy: {content: "{{ registry_password }}\n", dest: /srv/second.txt, mode: "0600"}
"#;

#[test]
fn a_vars_file_not_written_yet_is_a_warning_and_fails_its_play_at_the_start() {
    let (nodes, project) = setup();
    project.file("site.yml", TWO_PLAYS);
    // The file's names cannot be known, so the variable it would define is
    // not reported as undefined either.
    let run = project.run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.success()
        .stderr_has("the vars file")
        .stderr_has("creds.yml does not exist")
        .stderr_has("the play fails when it starts if it is still missing")
        .stderr_has("site.yml:10:7");
    assert!(!run.stderr.contains("undefined variable"), "{}", run.stderr);

    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(4)
        .stderr_has("could not read the vars file")
        .stderr_has("site.yml:10:7")
        .stderr_has("no task of this play was run");
    assert_eq!(nodes.read("node1", "/srv/first.txt"), "first\n");
    assert!(
        !nodes.node("node1").path("/srv/second.txt").exists(),
        "the second play ran a task without its vars file"
    );

    // Once the user writes the file, the same playbook runs unchanged.
    project.file("creds.yml", "registry_password: s3cret\n");
    let run = project.run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.success();
    assert!(!run.stderr.contains("does not exist"), "{}", run.stderr);
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    assert_eq!(nodes.read("node1", "/srv/second.txt"), "s3cret\n");
}

#[test]
fn a_missing_vars_file_beside_a_near_name_is_an_error() {
    let project = Project::new();
    project.file(
        "inventory.yml",
        "all:\n  children:\n    web:\n      hosts:\n        node1:\n",
    );
    project.file("creds.yml", "registry_password: s3cret\n");
    project.file("site.yml", &TWO_PLAYS.replace("- creds.yml", "- cred.yml"));
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("cred.yml does not exist")
        .stderr_has("did you mean `creds.yml`?")
        .stderr_has("site.yml:10:7");
}

/// A role that reads `app_port`, which only its caller can give, in a task
/// and in a handler.
fn role_with_an_input(project: &Project) {
    project.file("roles/app/defaults/main.yml", "app_user: www\n");
    project.file(
        "roles/app/tasks/main.yml",
        r#"
        - name: Port file
          copy: {content: "{{ app_port }} {{ app_user }}\n", dest: /srv/port.txt, mode: "0644"}
          notify: Report port
        "#,
    );
    project.file(
        "roles/app/handlers/main.yml",
        r#"
        - name: Report port
          debug: {msg: "listening on {{ app_port }}"}
        "#,
    );
    project.file(
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  roles: [app]\n",
    );
}

#[test]
fn a_role_input_defined_nowhere_is_a_warning_and_its_task_fails_without_it() {
    let (nodes, project) = setup();
    role_with_an_input(&project);
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success()
        .stderr_has("`app_port` is used by role app and defined nowhere")
        .stderr_has("give it in the inventory, vars or -e")
        .stderr_has("roles/app/tasks/main.yml:2:")
        .stderr_has("roles/app/handlers/main.yml:2:");

    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.status(2).stdout_has("app_port");
    assert!(!nodes.node("node1").path("/srv/port.txt").exists());

    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "-e",
            "app_port=8080",
        ])
        .success()
        .stdout_has("listening on 8080");
    assert_eq!(nodes.read("node1", "/srv/port.txt"), "8080 www\n");
}

#[test]
fn a_role_variable_near_a_defined_name_and_a_playbook_variable_stay_errors() {
    let project = Project::new();
    project.file(
        "inventory.yml",
        "all:\n  children:\n    web:\n      hosts:\n        node1:\n",
    );
    role_with_an_input(&project);
    // `app_usr` is a typo of the role's own default `app_user`.
    project.file(
        "roles/app/tasks/main.yml",
        r#"
        - name: Port file
          copy: {content: "{{ app_usr }}\n", dest: /srv/port.txt, mode: "0644"}
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          roles: [app]
          tasks:
            - debug: {msg: "{{ release_name }}"}
        "#,
    );
    let run = project.run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.status(4)
        .stderr_has("undefined variable `app_usr`")
        .stderr_has("did you mean `app_user`?")
        .stderr_has("undefined variable `release_name`");
    assert!(
        !run.stderr.contains("release_name` is used by role"),
        "{}",
        run.stderr
    );
}
