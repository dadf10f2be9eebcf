//! The connection keywords users write at play level: `environment` (play,
//! block and task), `remote_user`, `port`, `connection: local`.

use super::{project, recap_counts};
use crate::harness::Nodes;
use dtrplay::lab::users::Users;

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
    run.stdout_has(
        "TASK [A secret in the environment]\nok: [node1]\n    stdout:\n      ********\n",
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
