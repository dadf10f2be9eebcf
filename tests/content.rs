//! Real Ansible content structure: roles, imports and includes, blocks,
//! run through the binary against real sshd nodes, and the diagnostics
//! `validate` gives for each of them.

use crate::harness::{Nodes, Project};

fn setup(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = nodes.web_project("inventory_port: 8080");
    (nodes, project)
}

#[track_caller]
fn read(nodes: &Nodes, name: &str, path: &str) -> String {
    nodes.read(name, path)
}

fn counts(run: &crate::harness::Run, host: &str) -> serde_json::Value {
    run.recap()[host].clone()
}

/// A role written the way public roles are: defaults, vars, a dependency,
/// handlers, files, and tasks split with include_tasks / import_tasks.
fn write_roles(project: &Project) {
    project.file(
        "roles/base/defaults/main.yml",
        r#"
        base_dir: /srv/content
        "#,
    );
    project.file(
        "roles/base/tasks/main.yml",
        r#"
        - name: Make the base directory
          file:
            path: "{{ base_dir }}"
            state: directory
            mode: "0755"
        "#,
    );
    project.file(
        "roles/web/meta/main.yml",
        r#"
        galaxy_info:
          author: someone
          description: a web role
        dependencies:
          - role: base
        "#,
    );
    project.file(
        "roles/web/defaults/main.yml",
        r#"
        web_port: 80
        inventory_port: 1
        web_greeting: "hello from {{ role_name }}"
        web_banner: "{{ web_name }} banner"
        web_name: web
        "#,
    );
    project.file(
        "roles/web/vars/main.yml",
        r#"
        web_conf: "{{ base_dir }}/web.conf"
        "#,
    );
    project.file("roles/web/files/index.html", "<h1>role file</h1>\n");
    project.file(
        "roles/web/tasks/main.yml",
        r#"
        - name: Write the config
          copy:
            content: "port={{ web_port }} inventory={{ inventory_port }} {{ web_greeting }} in {{ role_path | basename }}\n"
            dest: "{{ web_conf }}"
            mode: "0644"
          notify: restart web
        - import_tasks: pages.yml
        - include_tasks: "{{ item }}.yml"
          loop: [extra]
          when: with_extra | default(true)
        "#,
    );
    project.file(
        "roles/web/tasks/pages.yml",
        r#"
        - name: Copy the index from the role's files
          copy:
            src: index.html
            dest: "{{ base_dir }}/index.html"
            mode: "0644"
        "#,
    );
    project.file(
        "roles/web/tasks/extra.yml",
        r#"
        - name: Extra task, included with {{ item }}
          copy:
            content: "included with {{ item }}\n"
            dest: "{{ base_dir }}/extra.txt"
            mode: "0644"
        "#,
    );
    project.file(
        "roles/web/handlers/main.yml",
        r#"
        - name: restart web
          copy:
            content: "restarted\n"
            dest: /srv/content/restarted
            mode: "0644"
        "#,
    );
}

#[test]
fn roles_with_defaults_vars_dependencies_handlers_files_and_includes() {
    let (nodes, project) = setup(2);
    write_roles(&project);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          roles:
            - base
            - role: web
              vars:
                web_port: 8443
          tasks:
            - name: The play sees the role's defaults
              copy:
                content: "{{ web_banner }}\n"
                dest: /srv/content/play.txt
                mode: "0644"
        "#,
    );
    let first = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    first.success();
    for node in ["node1", "node2"] {
        assert_eq!(
            read(&nodes, node, "/srv/content/web.conf"),
            // The parameter beats the default, the inventory beats the
            // role's default, and role_name / role_path are the role's.
            "port=8443 inventory=8080 hello from web in web\n"
        );
        assert_eq!(
            read(&nodes, node, "/srv/content/index.html"),
            "<h1>role file</h1>\n"
        );
        assert_eq!(
            read(&nodes, node, "/srv/content/extra.txt"),
            "included with extra\n"
        );
        assert_eq!(read(&nodes, node, "/srv/content/restarted"), "restarted\n");
        assert_eq!(read(&nodes, node, "/srv/content/play.txt"), "web banner\n");
        // base ran once although web depends on it too: facts (gathered,
        // as the include's file is only known at run time), directory,
        // config, index, the include, the extra file, the play's task, the
        // handler.
        let c = counts(&first, node);
        assert_eq!(
            (c["ok"].as_u64(), c["changed"].as_u64()),
            (Some(8), Some(6)),
            "{c}"
        );
    }
    assert!(
        first.stdout.contains("web : Write the config"),
        "role tasks are named after their role: {}",
        first.stdout
    );
    let second = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    second.success();
    for node in ["node1", "node2"] {
        assert_eq!(counts(&second, node)["changed"].as_u64(), Some(0));
    }
}

#[test]
fn include_tasks_is_dynamic_per_host_with_when_loop_and_templated_names() {
    let (nodes, project) = setup(2);
    project.file(
        "tasks/one.yml",
        r#"
        - name: Write {{ item }}
          copy:
            content: "{{ item }} from one on {{ inventory_hostname }}\n"
            dest: "/srv/inc/{{ item }}.txt"
            mode: "0644"
        "#,
    );
    project.file(
        "tasks/two.yml",
        r#"
        - name: Write two
          copy:
            content: "two {{ extra }}\n"
            dest: /srv/inc/two.txt
            mode: "0644"
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          tasks:
            - file: {path: /srv/inc, state: directory, mode: "0755"}
            - include_tasks: tasks/one.yml
              loop: [a, b]
            - name: Only on node2, a file named by a variable
              include_tasks: "tasks/{{ which }}.yml"
              vars:
                which: two
                extra: given
              when: inventory_hostname == 'node2'
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(
        read(&nodes, "node1", "/srv/inc/a.txt"),
        "a from one on node1\n"
    );
    assert_eq!(
        read(&nodes, "node2", "/srv/inc/b.txt"),
        "b from one on node2\n"
    );
    assert_eq!(read(&nodes, "node2", "/srv/inc/two.txt"), "two given\n");
    assert!(!nodes.node("node1").path("/srv/inc/two.txt").exists());
    let c1 = counts(&run, "node1");
    assert_eq!(c1["skipped"].as_u64(), Some(1), "{c1}");
}

#[test]
fn validate_names_unknown_roles_and_missing_task_files_with_spans() {
    let project = Project::new();
    project.file("roles/common/tasks/main.yml", "- debug: {msg: hi}\n");
    project.file(
        "site.yml",
        r#"
        - hosts: all
          roles:
            - comon
          tasks:
            - import_tasks: missing.yml
            - include: old.yml
        "#,
    );
    let run = project.run(&["validate", "site.yml"]);
    run.status(4);
    run.stderr_has("the role `comon` was not found")
        .stderr_has("common")
        .stderr_has("site.yml:3:7")
        .stderr_has("the task file `missing.yml` was not found")
        .stderr_has("the task file `old.yml` was not found");
}

/// A block whose body fails on one host: the rescue runs there (and sees
/// the failed task), always runs everywhere, the host goes on, and the
/// recap counts the failure as rescued.
fn block_playbook(strategy: &str) -> String {
    format!(
        r#"
        - hosts: web
          strategy: {strategy}
          tasks:
            - file: {{path: /srv/blk, state: directory, mode: "0755"}}
            - name: Outer
              when: true
              vars:
                note: from the block
              block:
                - name: Fails on node2
                  command: /bin/false
                  when: inventory_hostname == 'node2'
                - name: Only where the body went on
                  copy:
                    content: "body {{{{ note }}}}\n"
                    dest: /srv/blk/body.txt
                    mode: "0644"
                - block:
                    - name: Inner task
                      copy: {{content: "inner\n", dest: /srv/blk/inner.txt, mode: "0644"}}
              rescue:
                - name: Rescue
                  copy:
                    content: "rescued {{{{ ansible_failed_task.name }}}} rc={{{{ ansible_failed_result.rc }}}}\n"
                    dest: /srv/blk/rescue.txt
                    mode: "0644"
              always:
                - name: Always
                  copy: {{content: "always\n", dest: /srv/blk/always.txt, mode: "0644"}}
            - name: After the block
              copy: {{content: "after\n", dest: /srv/blk/after.txt, mode: "0644"}}
        "#
    )
}

fn blocks_rescue_and_always(strategy: &str) {
    let (nodes, project) = setup(2);
    project.file("site.yml", &block_playbook(strategy));
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    let exists = |node: &str, f: &str| nodes.node(node).path(&format!("/srv/blk/{f}")).exists();
    assert_eq!(
        read(&nodes, "node1", "/srv/blk/body.txt"),
        "body from the block\n"
    );
    assert!(exists("node1", "inner.txt"));
    assert!(!exists("node1", "rescue.txt"));
    assert!(!exists("node2", "body.txt"));
    assert!(!exists("node2", "inner.txt"));
    assert_eq!(
        read(&nodes, "node2", "/srv/blk/rescue.txt"),
        "rescued Fails on node2 rc=1\n"
    );
    for node in ["node1", "node2"] {
        assert!(exists(node, "always.txt"), "always on {node}");
        assert!(exists(node, "after.txt"), "after on {node}");
    }
    let c2 = counts(&run, "node2");
    assert_eq!(
        (c2["failed"].as_u64(), c2["rescued"].as_u64()),
        (Some(0), Some(1)),
        "{c2}"
    );
    let c1 = counts(&run, "node1");
    assert_eq!(
        (c1["rescued"].as_u64(), c1["skipped"].as_u64()),
        (Some(0), Some(1)),
        "{c1}"
    );
    let human = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    human.success().stdout_has("rescued=1");
}

#[test]
fn blocks_rescue_and_always_linear() {
    blocks_rescue_and_always("linear");
}

#[test]
fn blocks_rescue_and_always_free() {
    blocks_rescue_and_always("free");
}

#[test]
fn a_failure_in_rescue_or_without_rescue_still_fails_the_host_after_always() {
    let (nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          tasks:
            - block:
                - command: /bin/false
              always:
                - copy: {content: "always\n", dest: /srv/always.txt, mode: "0644"}
            - copy: {content: "never\n", dest: /srv/never.txt, mode: "0644"}
        "#,
    );
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.status(2);
    assert!(nodes.node("node1").path("/srv/always.txt").exists());
    assert!(!nodes.node("node1").path("/srv/never.txt").exists());
    assert_eq!(counts(&run, "node1")["failed"].as_u64(), Some(1));
}
