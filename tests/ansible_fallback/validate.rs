//! `validate` checks calls of ansible-core modules against the module's own
//! documented options, and says how to turn the fallback on when
//! ansible-core is missing; all before any host is contacted (exit 4).

use super::python;
use crate::harness::{Project, Run};

fn project(tasks: &str) -> Project {
    let project = Project::new();
    let mut play = String::from("- hosts: all\n  gather_facts: false\n  tasks:\n");
    for line in crate::harness::unindent(tasks).lines() {
        play.push_str(&format!("    {line}\n"));
    }
    project.file("site.yml", &play);
    project.file("inventory.ini", "node1 ansible_host=127.0.0.1\n");
    project
}

/// `dtrplay validate` with this environment for ansible-core.
fn validate(project: &Project, env: &[(&str, String)], remove: &[&str]) -> Run {
    let mut command = project.command(&["validate", "site.yml", "-i", "inventory.ini"]);
    for (k, v) in env {
        command.env(k, v);
    }
    for k in remove {
        command.env_remove(k);
    }
    project.finished(command.output().expect("run dtrplay"))
}

fn with_python() -> Vec<(&'static str, String)> {
    vec![("DTRPLAY_ANSIBLE_PYTHON", python().display().to_string())]
}

#[test]
fn wrong_and_missing_options_are_errors_at_their_yaml() {
    let project = project(
        r#"
        - name: a typo
          ansible.builtin.tempfile:
            stat: file
        - name: no name
          known_hosts:
            key: root
        "#,
    );
    let run = validate(&project, &with_python(), &[]);
    run.status(4);
    run.stderr_has("unknown argument `stat` for `ansible.builtin.tempfile`")
        .stderr_has("site.yml:6:9")
        .stderr_has("did you mean `state`?")
        .stderr_has("`known_hosts` needs the argument `name`")
        .stderr_has("site.yml:8:7");
}

#[test]
fn modules_with_a_controller_side_action_plugin_are_refused_by_name() {
    let project = project(
        r#"
        - assemble: {src: /etc/conf.d, dest: /etc/all.conf}
        "#,
    );
    let run = validate(&project, &with_python(), &[]);
    run.status(4);
    run.stderr_has(
        "`assemble` (ansible.builtin.assemble) needs ansible-core's controller-side action plugin",
    );
}

#[test]
fn without_ansible_core_an_unknown_module_says_how_to_enable_the_fallback() {
    let project = project(
        r#"
        - known_hosts: {name: dtr.example.com, state: absent}
        - community.general.pam_limits: {domain: dtr, limit_type: soft, limit_item: nofile, value: "1024"}
        - alternatives: {name: editor, path: /usr/bin/vim.basic}
        "#,
    );
    let off = validate(&project, &[("DTRPLAY_ANSIBLE_PYTHON", "none".into())], &[]);
    off.status(4);
    off.stderr_has("`known_hosts` is an Ansible module that dtrplay does not implement, and ansible-core is not available")
        .stderr_has("`community.general.pam_limits` is an Ansible module")
        .stderr_has("`alternatives` (community.general.alternatives) is an Ansible module")
        .stderr_has("with the collection community.general")
        .stderr_has("--ansible-python")
        .stderr_has("site.yml:4:7");
    let nowhere = validate(
        &project,
        &[("PATH", "/usr/bin:/bin".into())],
        &["DTRPLAY_ANSIBLE_PYTHON"],
    );
    nowhere.status(4);
    nowhere.stderr_has("no `ansible` program on PATH");
}

#[test]
fn ansible_core_is_found_through_the_ansible_program_on_path() {
    let project = project(
        r#"
        - known_hosts: {name: dtr.example.com, state: absent}
        "#,
    );
    let bin = python()
        .parent()
        .expect("the venv's bin")
        .display()
        .to_string();
    let run = validate(
        &project,
        &[("PATH", format!("{bin}:/usr/bin:/bin"))],
        &["DTRPLAY_ANSIBLE_PYTHON"],
    );
    run.success();
    let collection = validate(&project_with_collection_module(), &with_python(), &[]);
    collection.status(4);
    collection.stderr_has("ansible-core has no module `acme.widgets.pam_limits`");
}

fn project_with_collection_module() -> Project {
    project(
        r#"
        - acme.widgets.pam_limits: {domain: dtr, limit_type: soft, limit_item: nofile, value: "1024"}
        "#,
    )
}

#[test]
fn collection_modules_are_checked_against_their_own_options_by_either_name() {
    let project = project(
        r#"
        - name: a typo in a collection module
          community.general.pam_limits:
            domain: dtr
            limit_tpye: soft
        - name: no path to archive
          community.general.archive:
            dest: /tmp/x.tar.gz
        - name: the short name of a redirected module
          alternatives:
            nmae: editor
        - name: a user without a name
          community.mysql.mysql_user:
            password: x
        "#,
    );
    let run = validate(&project, &with_python(), &[]);
    run.status(4);
    run.stderr_has("unknown argument `limit_tpye` for `community.general.pam_limits`")
        .stderr_has("did you mean `limit_type`?")
        .stderr_has("site.yml:7:9")
        .stderr_has("`community.general.archive` needs the argument `path`")
        .stderr_has("unknown argument `nmae` for `alternatives`")
        .stderr_has("did you mean `name`?")
        .stderr_has("`community.mysql.mysql_user` needs the argument `name`");

    let fixed = project_fixed();
    validate(&fixed, &with_python(), &[]).success();
}

fn project_fixed() -> Project {
    project(
        r#"
        - community.general.pam_limits: {domain: dtr, limit_type: soft, limit_item: nofile, value: "1024"}
        - community.general.archive: {path: /opt/app, dest: /tmp/x.tar.gz}
        - alternatives: {name: editor, path: /usr/bin/vim.basic, link: /usr/bin/editor}
        - community.general.seport: {ports: "8888", proto: tcp, setype: http_port_t, state: present}
        - community.mysql.mysql_user: {name: dtr, password: x}
        "#,
    )
}
