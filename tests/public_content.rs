//! What public roles and playbooks written for older Ansible releases hold,
//! run unchanged through the binary on real sshd nodes: role metadata as
//! `ansible-galaxy init` writes it, the bare `include`, `action` and
//! `local_action`, and free-form arguments with quotes inside templates.

use crate::harness::{Nodes, Project};

fn setup(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = nodes.web_project("site: public");
    (nodes, project)
}

#[track_caller]
fn read(nodes: &Nodes, name: &str, path: &str) -> String {
    nodes.read(name, path)
}

/// `meta/main.yml` as `ansible-galaxy init` writes it: a long run of
/// commented-out platforms inside `galaxy_info`, then the dependencies.
fn galaxy_meta(dependency: &str) -> String {
    let mut text =
        String::from("galaxy_info:\n  author: someone\n  min_ansible_version: 2.2\n  platforms:\n");
    for version in 0..120 {
        text.push_str(&format!(
            "  #- name: EL\n  #  versions:\n  #  - {version}\n"
        ));
    }
    text.push_str("  - name: Ubuntu\n    versions:\n    - jammy\n");
    text.push_str(&format!("dependencies:\n  - {dependency}\n"));
    text
}

#[test]
fn a_galaxy_role_with_commented_metadata_and_a_sibling_dependency_runs() {
    let (nodes, project) = setup(1);
    // Both roles are installed side by side outside `roles/`; the play
    // names one by its path, and its dependency is found beside it.
    std::fs::create_dir_all(project.path().join("vendor/app/meta")).expect("role dir");
    std::fs::write(
        project.path().join("vendor/app/meta/main.yml"),
        galaxy_meta("base"),
    )
    .expect("meta");
    project.file(
        "vendor/base/tasks/main.yml",
        r#"
        - name: Base directory
          file: {path: /srv/app, state: directory, mode: "0755"}
        "#,
    );
    project.file(
        "vendor/app/tasks/main.yml",
        r#"
        - name: App file
          copy: {content: "app\n", dest: /srv/app/app.txt, mode: "0644"}
        "#,
    );
    project.file(
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  roles: [vendor/app]\n",
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    assert_eq!(read(&nodes, "node1", "/srv/app/app.txt"), "app\n");
    assert!(nodes.node("node1").path("/srv/app").is_dir());
}

#[test]
fn the_bare_include_is_static_when_it_can_be_and_dynamic_otherwise() {
    let (nodes, project) = setup(2);
    project.file(
        "tasks/static.yml",
        r#"
        - name: Static include with variables
          copy:
            content: "{{ greeting }} {{ who }}\n"
            dest: /srv/inc/static.txt
            mode: "0644"
        "#,
    );
    project.file(
        "tasks/looped.yml",
        r#"
        - name: Looped include
          copy: {content: "{{ item }}\n", dest: "/srv/inc/{{ item }}.txt", mode: "0644"}
        "#,
    );
    project.file(
        "tasks/node2.yml",
        r#"
        - name: Named by a variable
          copy: {content: "mine\n", dest: /srv/inc/mine.txt, mode: "0644"}
        "#,
    );
    project.file(
        "plays/other.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - copy: {content: "imported play\n", dest: /srv/inc/play.txt, mode: "0644"}
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - file: {path: /srv/inc, state: directory, mode: "0755"}
            - include: tasks/static.yml greeting=hello who="the world"
            - include: tasks/looped.yml
              with_items: [a, b]
            - include: "tasks/{{ inventory_hostname }}.yml"
              when: inventory_hostname == 'node2'
        - include: plays/other.yml
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    for node in ["node1", "node2"] {
        assert_eq!(
            read(&nodes, node, "/srv/inc/static.txt"),
            "hello the world\n"
        );
        assert_eq!(read(&nodes, node, "/srv/inc/a.txt"), "a\n");
        assert_eq!(read(&nodes, node, "/srv/inc/b.txt"), "b\n");
        assert_eq!(read(&nodes, node, "/srv/inc/play.txt"), "imported play\n");
    }
    assert_eq!(read(&nodes, "node2", "/srv/inc/mine.txt"), "mine\n");
    assert!(!nodes.node("node1").path("/srv/inc/mine.txt").exists());
    assert_eq!(run.recap()["node1"]["skipped"].as_u64(), Some(1));

    // A missing file is still found out before any host is contacted.
    project.file(
        "broken.yml",
        "- hosts: web\n  tasks:\n    - include: tasks/nothere.yml\n",
    );
    project
        .run(&["validate", "broken.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("the task file `tasks/nothere.yml` was not found")
        .stderr_has("broken.yml:3:16");
}

#[test]
fn action_and_local_action_name_their_module_in_their_value() {
    let (nodes, project) = setup(1);
    let local = project.path().join("local");
    std::fs::create_dir_all(&local).expect("local dir");
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - name: Free-form action
              action: copy content="{{ site }}{{ ":" }} {{ inventory_hostname }}\n" dest=/srv/action.txt mode=0644
            - name: Mapping action
              action:
                module: copy
                content: "mapped\n"
                dest: /srv/mapped.txt
                mode: "0644"
            - name: On the control machine
              local_action: copy content="{{ inventory_hostname }} was here\n" dest={{ local_dir }}/from-{{ inventory_hostname }}.txt
            - name: Registered from the control machine
              local_action:
                module: command
                cmd: cat {{ local_dir }}/from-{{ inventory_hostname }}.txt
              register: seen
              changed_when: false
            - copy: {content: "{{ seen.stdout }}\n", dest: /srv/seen.txt, mode: "0644"}
        "#,
    );
    let local_dir = format!("local_dir={}", local.display());
    project
        .run(&[
            "validate",
            "site.yml",
            "-i",
            "inventory.yml",
            "-e",
            &local_dir,
        ])
        .success();
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        &local_dir,
        "--output",
        "json",
    ]);
    run.success();
    let delegated: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| format!("{}", e["delegated_to"]))
        .collect();
    assert_eq!(
        delegated,
        ["null", "null", "\"localhost\"", "\"localhost\"", "null"],
        "{}",
        run.stdout
    );
    assert_eq!(read(&nodes, "node1", "/srv/action.txt"), "public: node1\n");
    assert_eq!(read(&nodes, "node1", "/srv/mapped.txt"), "mapped\n");
    assert_eq!(
        std::fs::read_to_string(local.join("from-node1.txt")).expect("local file"),
        "node1 was here\n"
    );
    assert_eq!(read(&nodes, "node1", "/srv/seen.txt"), "node1 was here\n");

    project.file(
        "both.yml",
        "- hosts: web\n  tasks:\n    - local_action: command true\n      delegate_to: node1\n",
    );
    project
        .run(&["validate", "both.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("`local_action` cannot be combined with `delegate_to`");
}

#[test]
fn delegate_facts_gives_what_a_delegated_task_learned_to_the_host_it_ran_on() {
    let (nodes, project) = setup(2);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - name: A fact for the delegate
              set_fact: {told_by: "{{ inventory_hostname }}"}
              delegate_to: node2
              delegate_facts: true
              when: inventory_hostname == 'node1'
            - name: Gathered on the delegate, for the delegate
              setup: {gather_subset: [min]}
              delegate_to: node2
              delegate_facts: true
              when: inventory_hostname == 'node1'
            - name: Registered values stay with the host the task ran for
              command: echo token
              register: token
              delegate_to: node2
              delegate_facts: true
              changed_when: false
              when: inventory_hostname == 'node1'
            - name: A fact without delegate_facts stays here
              set_fact: {mine: "{{ inventory_hostname }}"}
              delegate_to: node2
            - copy:
                dest: /srv/facts.txt
                mode: "0644"
                content: "{{ told_by | default('none') }} {{ token.stdout | default('unset') }} {{ mine }} {{ 'gathered' if ansible_facts.hostname is defined else 'no facts' }}\n"
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    assert_eq!(
        read(&nodes, "node1", "/srv/facts.txt"),
        "none token node1 no facts\n"
    );
    assert_eq!(
        read(&nodes, "node2", "/srv/facts.txt"),
        "node1 unset node2 gathered\n"
    );
}

#[test]
fn first_found_picks_a_roles_vars_file_as_geerlingguy_roles_do() {
    let (nodes, project) = setup(2);
    project.file("roles/os/vars/Debian.yml", "os_word: debian\n");
    project.file("roles/os/vars/main.yml", "os_word: generic\n");
    project.file(
        "roles/os/tasks/main.yml",
        r#"
        - name: Load OS-specific vars.
          include_vars: "{{ lookup('first_found', params) }}"
          vars:
            params:
              files:
                - '{{ flavour }}.yml'
                - main.yml
              paths:
                - 'vars'
        - copy:
            dest: /srv/os.txt
            mode: "0644"
            content: "{{ os_word }} [{{ lookup('first_found', 'nowhere.yml', skip=true) }}]\n"
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          vars:
            flavour: "{{ 'Debian' if inventory_hostname == 'node1' else 'Plan9' }}"
          roles:
            - os
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    assert_eq!(read(&nodes, "node1", "/srv/os.txt"), "debian []\n");
    assert_eq!(read(&nodes, "node2", "/srv/os.txt"), "generic []\n");

    project.file(
        "missing.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - debug: {msg: "{{ lookup('first_found', files=['a.yml', 'b.yml'], paths=['vars']) }}"}
        "#,
    );
    project
        .run(&["apply", "missing.yml", "-i", "inventory.yml"])
        .status(2)
        .stdout_has("No file was found when using first_found (tried vars/a.yml, vars/b.yml)");
}
