//! The connection keywords users write at play level: `environment` (play,
//! block and task), `remote_user`, `port`, `connection: local`.

use super::{project, recap_counts};
use crate::harness::Nodes;
use dtrplay_lab::users::Users;

const ENVIRONMENT: &str = r#"
    - hosts: all
      environment:
        APP_MODE: play
        SHARED: from-play
      vars:
        db_password: S3cret-Env-Value
      tasks:
        - name: The task's values win, the play's reach it
          command: sh -c 'echo "$APP_MODE $SHARED $ONLY_TASK"'
          environment:
            APP_MODE: task
            ONLY_TASK: "{{ inventory_hostname }}"
          register: r
          changed_when: false
        - assert:
            that: r.stdout == 'task from-play ' ~ inventory_hostname
        - name: Nothing is left for the next task
          command: sh -c 'echo "${ONLY_TASK-unset} $APP_MODE"'
          register: r
          changed_when: false
        - assert:
            that: r.stdout == 'unset play'
        - name: A block's environment
          environment:
            BLOCK_VAR: "in 'quotes' and $dollars"
          block:
            - command: printenv BLOCK_VAR
              register: r
              changed_when: false
            - assert:
                that: r.stdout == "in 'quotes' and $dollars"
            - name: Under become, after sudo's environment reset
              # `shell`: `command` expands `$NAME` in its arguments itself.
              shell: echo "$(id -un) $BLOCK_VAR $APP_MODE"
              become: true
              become_user: app
              register: r
              changed_when: false
            - assert:
                that: r.stdout == "app in 'quotes' and $dollars play"
        - name: A secret in the environment
          command: printenv DB_PASSWORD
          environment:
            DB_PASSWORD: "{{ db_password }}"
          register: r
          changed_when: false
        - assert:
            that: r.stdout == db_password
"#;

#[test]
fn environment_at_play_block_and_task_level_is_exported_to_the_tasks_script() {
    let nodes = Nodes::start_with_users(
        2,
        Users {
            others: vec!["app".into()],
            ..Users::operator("lab-pass-4")
        },
    );
    let project = project(&nodes, ENVIRONMENT, "");
    // -v shows every task's output: the secret is masked there.
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml", "-v"]);
    run.success();
    assert!(
        !run.stdout.contains("S3cret-Env-Value") && !run.stderr.contains("S3cret-Env-Value"),
        "the secret was shown:\n{}",
        run.stdout
    );
    let shown = run
        .stdout
        .split("TASK [A secret in the environment]")
        .nth(1)
        .expect("the task is shown");
    assert!(
        shown.contains("ok: [node1]\n    stdout:\n      ********\n"),
        "{shown}"
    );
    let json = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    json.success();
    assert_eq!(recap_counts(&json, "node2"), (10, 0, 0, 0));

    // Bad shapes and names are input errors, before any connection.
    project.file(
        "bad.yml",
        r#"
        - hosts: all
          environment: [HTTP_PROXY]
          tasks:
            - command: "true"
              environment:
                1BAD: x
        "#,
    );
    let run = project.run(&["validate", "bad.yml", "-i", "inventory.yml"]);
    run.status(4)
        .stderr_has("`environment` must be a mapping, not a list")
        .stderr_has("`1BAD` is not an environment variable name")
        .stderr_has("bad.yml:2:");
}

#[test]
fn remote_user_port_and_connection_local_at_play_level() {
    let nodes = Nodes::start_with_users(2, Users::operator("lab-pass-5"));
    // Neither the user nor the port in the inventory: the plays say them
    // (the port per host, from a template).
    let mut inventory = String::new();
    for line in nodes.inventory(&[], "").lines() {
        let line = line.to_string();
        if line.contains("ansible_user:") {
            continue;
        }
        inventory.push_str(&line.replace("ansible_port:", "node_port:"));
        inventory.push('\n');
    }
    let local_dir = tempfile::tempdir().expect("a directory on the control machine");
    let marker = local_dir.path().join("ran-locally");
    let playbook = format!(
        r#"
        - hosts: all
          remote_user: operator
          port: "{{{{ node_port }}}}"
          tasks:
            - command: id -un
              register: who
              changed_when: false
            - assert:
                that: who.stdout == 'operator'
        - hosts: node1
          connection: local
          tasks:
            - name: On the control machine
              copy:
                content: "here\n"
                dest: {marker}
        - hosts: all
          remote_user: operator
          port: "{{{{ node_port }}}}"
          tasks:
            - name: Over SSH again after a local play
              command: id -un
              register: who
              changed_when: false
            - assert:
                that: who.stdout == 'operator'
        "#,
        marker = marker.display()
    );
    let project = crate::harness::Project::new();
    project.file("inventory.yml", &inventory);
    project.file("site.yml", &playbook);
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(recap_counts(&run, "node1"), (5, 1, 0, 0));
    assert_eq!(recap_counts(&run, "node2"), (4, 0, 0, 0));
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the local file"),
        "here\n"
    );

    // The host's own variables win over the play's keywords, as in Ansible.
    project.file("full.yml", &nodes.inventory(&[], ""));
    project.file(
        "wrong-user.yml",
        r#"
        - hosts: all
          remote_user: nobody-here
          port: 1
          tasks:
            - command: id -un
              register: who
            - assert:
                that: who.stdout == 'operator'
        "#,
    );
    project
        .run(&["apply", "wrong-user.yml", "-i", "full.yml"])
        .success();

    // `ansible_connection: local` per host.
    let local = crate::harness::Project::new();
    local.file(
        "inventory.yml",
        "all:\n  hosts:\n    control:\n      ansible_connection: local\n",
    );
    local.file(
        "site.yml",
        &format!(
            "- hosts: all\n  tasks:\n    - copy:\n        content: \"local\\n\"\n        dest: {}\n",
            local_dir.path().join("per-host").display()
        ),
    );
    local
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    assert!(local_dir.path().join("per-host").exists());

    // Bad values are input errors.
    project.file(
        "bad.yml",
        "- hosts: all\n  port: 70000\n  connection: winrm\n  tasks: []\n",
    );
    project
        .run(&["validate", "bad.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("`port` must be a port number")
        .stderr_has("connection type \"winrm\" is not supported");
}

/// Connection variables given with `-e` are used for connecting, over the
/// host's own and the play's keywords, as in Ansible (extra variables have
/// the highest precedence).
#[test]
fn extra_variables_say_how_to_connect() {
    let nodes = Nodes::start_with_users(1, Users::operator("lab-pass-6"));
    let node = nodes.node("node1");
    let port = node.port.to_string();
    // The inventory names the refused root login and a closed port.
    let inventory = nodes
        .inventory(&[], "")
        .replace("ansible_user: operator", "ansible_user: root")
        .replace(&format!("ansible_port: {port}"), "ansible_port: 1");
    let project = crate::harness::Project::new();
    project.file("inventory.yml", &inventory);
    project.file(
        "site.yml",
        r#"
        - hosts: all
          remote_user: nobody-here
          tasks:
            - command: id -un
              register: who
              changed_when: false
            - assert:
                that: who.stdout == (expected | default('operator'))
        "#,
    );
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .status(3);
    let user_and_port = format!("ansible_user=operator ansible_port={port}");
    for client in ["native", "openssh"] {
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
            "--ssh-client",
            client,
            "-e",
            &user_and_port,
        ]);
        run.success();
        assert_eq!(recap_counts(&run, "node1"), (2, 0, 0, 0), "{client}");
    }
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
        "-e",
        &user_and_port,
        "-e",
        "ansible_become=true expected=root",
    ]);
    run.success();
    assert_eq!(recap_counts(&run, "node1"), (2, 0, 0, 0));

    // A bad value says it came from the command line.
    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "-e",
            "ansible_port=seventy",
        ])
        .status(3)
        .stdout_has("`ansible_port` must be a port number")
        .stdout_has("the command line");
}
