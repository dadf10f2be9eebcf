//! `include_vars`: a file (free form or `file:`), `dir` with
//! `files_matching`, `name`, role `vars/` lookup, vaulted files, values
//! that are templates rendered when used, and precedence over play vars.

use crate::harness::{Nodes, Project};

#[test]
fn include_vars_reads_files_dirs_names_and_role_vars() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("web", &["node1"])], ""),
    );
    project.file(
        "vars/common.yml",
        "greeting: \"hello {{ who }}\"\nwho: world\nshadowed: from-file\n",
    );
    project.file("vars/Debian.yml", "family_pkg: apt-from-file\n");
    project.file("conf/10-a.yml", "a: 1\n");
    project.file("conf/20-b.yml", "b: 2\n");
    project.file("conf/skip.yml", "c: 3\n");
    project.file("roles/r/vars/extra.yml", "role_value: from-role-vars\n");
    project.file(
        "roles/r/tasks/main.yml",
        r#"
        - include_vars: extra.yml
        - copy:
            dest: /srv/role.txt
            mode: "0644"
            content: "{{ role_value }}\n"
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          vars:
            shadowed: from-play
          tasks:
            - include_vars: common.yml
            - include_vars:
                file: "{{ 'Debian' }}.yml"
            - include_vars:
                dir: conf
                files_matching: '^\d+-'
                name: conf
              register: loaded
            - include_role: {name: r}
            - copy:
                dest: /srv/vars.txt
                mode: "0644"
                content: |
                  greeting={{ greeting }}
                  shadowed={{ shadowed }}
                  pkg={{ family_pkg }}
                  conf={{ conf }}
                  files={{ loaded.ansible_included_var_files | map('basename') | list }}
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    let text =
        std::fs::read_to_string(nodes.node("node1").path("/srv/vars.txt")).expect("vars.txt");
    for want in [
        "greeting=hello world",
        "shadowed=from-file",
        "pkg=apt-from-file",
        "conf={'a': 1, 'b': 2}",
        "files=['10-a.yml', '20-b.yml']",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    let role =
        std::fs::read_to_string(nodes.node("node1").path("/srv/role.txt")).expect("role.txt");
    assert_eq!(role, "from-role-vars\n");
}

#[test]
fn a_missing_vars_file_fails_the_task_naming_it() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("web", &["node1"])], ""),
    );
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - include_vars: nosuch.yml
        "#,
    );
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .status(2)
        .stdout_has("nosuch.yml");
}
