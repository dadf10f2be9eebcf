//! The `ansible-playbook` flags people type, on `dtrplay apply`:
//! `--list-hosts`, `--list-tasks`, `--list-tags` (printed exactly as
//! ansible-core prints them), `--syntax-check`, `--start-at-task`, and
//! `-k`, refused with what to do instead.

use crate::harness::{Nodes, Project};
use crate::oracle::ansible::Ansible;

/// A playbook with two plays, a role, a block, an include and tags, and an
/// inventory of two hosts that are never contacted.
fn listing_project() -> Project {
    let project = Project::new();
    project.file(
        "inventory.ini",
        "[web]\nweb1 ansible_host=127.0.0.1\n\n[db]\ndb1 ansible_host=127.0.0.1\n",
    );
    project.file(
        "roles/base/tasks/main.yml",
        r#"
        - name: Base package
          command: "true"
          tags: [packages, base]
        "#,
    );
    project.file("extra.yml", "- name: Extra\n  command: \"true\"\n");
    project.file(
        "site.yml",
        r#"
        - name: Web servers
          hosts: web
          gather_facts: false
          tags: [web]
          roles:
            - base
          tasks:
            - name: Configure
              command: "true"
              tags: [config]
            - block:
                - name: Inside a block
                  command: "true"
                  tags: [config, deploy]
              rescue:
                - name: Not listed
                  command: "true"
            - include_tasks: extra.yml
            - command: echo unnamed
        - hosts: db
          gather_facts: false
          tasks:
            - name: Back up
              command: "true"
              tags: [never, backup]
            - name: Migrate
              command: "true"
        "#,
    );
    project
}

#[test]
fn listings_are_what_ansible_playbook_prints() {
    let project = listing_project();
    let cases: [&[&str]; 5] = [
        &["--list-hosts"],
        &["--list-tasks"],
        &["--list-tags"],
        &[
            "--list-hosts",
            "--list-tasks",
            "--list-tags",
            "--limit",
            "db1",
        ],
        &["--list-tasks", "--tags", "config,backup"],
    ];
    for flags in cases {
        let ansible = Ansible::get()
            .command("ansible-playbook", &project.path().join(".ansible"))
            .current_dir(project.path())
            .args(["-i", "inventory.ini", "site.yml"])
            .args(flags)
            .output()
            .expect("run ansible-playbook");
        assert!(
            ansible.status.success(),
            "{}",
            String::from_utf8_lossy(&ansible.stderr)
        );
        let mut args = vec!["apply", "site.yml", "-i", "inventory.ini"];
        args.extend(flags);
        let ours = project.run(&args);
        ours.success();
        assert_eq!(
            ours.stdout,
            String::from_utf8_lossy(&ansible.stdout),
            "dtrplay {flags:?} differs from ansible-playbook"
        );
    }
}

#[test]
fn syntax_check_checks_without_an_inventory_and_fails_on_bad_input() {
    let project = listing_project();
    project
        .run(&["apply", "site.yml", "--syntax-check"])
        .success()
        .stdout_has("\nplaybook: site.yml\n");
    project.file(
        "bad.yml",
        "- hosts: all\n  tasks:\n    - name: Typo\n      comand: \"true\"\n",
    );
    project
        .run(&["apply", "bad.yml", "--syntax-check"])
        .status(4)
        .stderr_has("comand");
}

#[test]
fn start_at_task_skips_what_comes_before_it() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - name: First step
              command: echo one
            - name: Second step
              command: echo two
            - name: Third step
              command: echo three
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--start-at-task",
        "Second step",
    ]);
    run.success();
    assert!(!run.stdout.contains("First step"), "{}", run.stdout);
    run.stdout_has("Second step").stdout_has("Third step");
    // A wildcard works as in Ansible.
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--start-at-task",
        "Th*",
    ]);
    run.success();
    assert!(!run.stdout.contains("Second step"), "{}", run.stdout);
    run.stdout_has("Third step");
    // A name no task has stops before any connection, with a suggestion.
    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--start-at-task",
            "Second stp",
        ])
        .status(4)
        .stderr_has("no task of the playbook has that name")
        .stderr_has("did you mean `Second step`?");
}

#[test]
fn ask_pass_is_refused_with_what_to_do_instead() {
    let project = listing_project();
    project
        .run(&["apply", "site.yml", "-i", "inventory.ini", "-k"])
        .status(4)
        .stderr_has("password SSH logins are not offered")
        .stderr_has("ssh-copy-id");
}

#[test]
fn step_asks_before_each_task_on_the_terminal() {
    use crate::escalation::terminal::Terminal;
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - name: One
              command: echo one
            - name: Two
              command: echo two
            - name: Three
              command: echo three
        "#,
    );
    let mut terminal = Terminal::run(
        &project,
        &["apply", "site.yml", "-i", "inventory.yml", "--step"],
    );
    terminal.wait_for("Perform task: TASK: One (N)o/(y)es/(c)ontinue: ");
    terminal.type_line("n");
    terminal.wait_for("Perform task: TASK: Two (N)o/(y)es/(c)ontinue: ");
    terminal.type_line("c");
    let screen_before_end = terminal.screen();
    let run = terminal.finish(&project);
    run.success();
    // `n` skipped One; `c` ran Two and Three without asking again.
    assert!(!run.stdout.contains("TASK [One]"), "{}", run.stdout);
    run.stdout_has("TASK [Two]").stdout_has("TASK [Three]");
    run.stdout_has("ok=2   changed=2");
    assert!(
        !screen_before_end.contains("TASK: Three"),
        "{screen_before_end}"
    );

    // Without a terminal there is nobody to ask: refused before anything runs.
    let bin = env!("CARGO_BIN_EXE_dtrplay");
    let output = std::process::Command::new("setsid")
        .args([
            "--wait",
            bin,
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--step",
        ])
        .current_dir(project.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run dtrplay without a terminal");
    project
        .finished(output)
        .status(4)
        .stderr_has("no terminal to ask on");
}
