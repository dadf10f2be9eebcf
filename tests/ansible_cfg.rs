//! The Ansible configuration people bring: `ansible.cfg` (found as Ansible
//! finds it) and the `ANSIBLE_*` environment variables, under the command
//! line and under the inventory's own connection variables.

use crate::harness::{Nodes, Project};

/// An inventory that says where the node is but not who logs in or with
/// which key, so those come from the configuration.
fn bare_inventory(nodes: &Nodes) -> String {
    let node = nodes.node("node1");
    format!(
        "all:\n  hosts:\n    node1:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_ssh_common_args: \"{}\"\n",
        node.host,
        node.port,
        node.ssh_common_args()
    )
}

fn project_with_role(nodes: &Nodes, cfg: &str) -> Project {
    let project = Project::new();
    project.file("hosts/lab.yml", &bare_inventory(nodes));
    project.file("ansible.cfg", cfg);
    project.file(
        "shared-roles/greet/tasks/main.yml",
        r#"
        - name: Greet
          command: echo hello from the role
          changed_when: false
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          roles:
            - greet
        "#,
    );
    project
}

#[test]
fn ansible_cfg_gives_the_inventory_user_key_and_roles_path() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = project_with_role(
        &nodes,
        &format!(
            "# As people write it.\n[defaults]\ninventory = hosts/lab.yml\nremote_user = {}\nprivate_key_file = {}\nroles_path = ./shared-roles ; inline comment\nforks = 5\n\n[ssh_connection]\npipelining = True\n",
            node.user,
            node.private_key().display()
        ),
    );
    let run = project.run(&["apply", "site.yml", "-v"]);
    run.success()
        .stdout_has(&format!(
            "configuration: {}/ansible.cfg",
            project.path().display()
        ))
        .stdout_has("hello from the role");
}

#[test]
fn the_environment_beats_the_file_and_the_inventory_beats_both() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = project_with_role(
        &nodes,
        &format!(
            "[defaults]\ninventory = hosts/lab.yml\nremote_user = {}\nprivate_key_file = {}\nroles_path = shared-roles\n",
            node.user,
            node.private_key().display()
        ),
    );
    // ANSIBLE_REMOTE_USER wins over remote_user: a user that does not
    // exist on the node cannot log in.
    let wrong = project
        .command(&["apply", "site.yml"])
        .env("ANSIBLE_REMOTE_USER", "no-such-user")
        .output()
        .expect("run dtrplay");
    let wrong = project.finished(wrong);
    wrong.status(3).stdout_has("no-such-user");
    // -u wins over the environment.
    let flag = project
        .command(&["apply", "site.yml", "-u", &node.user])
        .env("ANSIBLE_REMOTE_USER", "no-such-user")
        .output()
        .expect("run dtrplay");
    project.finished(flag).success();
    // The inventory's ansible_user wins over -u, as in Ansible.
    project.file(
        "hosts/lab.yml",
        &format!(
            "{}      ansible_user: {}\n",
            bare_inventory(&nodes),
            node.user
        ),
    );
    project
        .run(&["apply", "site.yml", "-u", "no-such-user"])
        .success();
    // ANSIBLE_INVENTORY wins over the file's inventory.
    project.file(
        "other.yml",
        "all:\n  hosts:\n    elsewhere:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n",
    );
    let other = project
        .command(&["apply", "site.yml"])
        .env("ANSIBLE_INVENTORY", "other.yml")
        .output()
        .expect("run dtrplay");
    project.finished(other).status(3).stdout_has("elsewhere");
}

#[test]
fn a_mistyped_setting_is_an_error_at_its_line_not_a_silent_default() {
    let nodes = Nodes::start(1);
    let project = project_with_role(
        &nodes,
        "[defaults]\ninventory = hosts/lab.yml\nhost_key_checking = Fasle\n",
    );
    let run = project.run(&["apply", "site.yml"]);
    run.status(4)
        .stderr_has("`host_key_checking` must be a boolean")
        .stderr_has("ansible.cfg:3:21");
    project.file("ansible.cfg", "[defaults]\ninventory = hosts/lab.yml\n");
    let run = project
        .command(&["apply", "site.yml"])
        .env("ANSIBLE_FORKS", "many")
        .output()
        .expect("run dtrplay");
    project
        .finished(run)
        .status(4)
        .stderr_has("ANSIBLE_FORKS=many is not a whole number above 0");
}

#[test]
fn host_key_checking_off_is_loudly_warned_and_the_inventory_can_still_insist() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = project_with_role(
        &nodes,
        &format!(
            "[defaults]\ninventory = hosts/lab.yml\nremote_user = {}\nprivate_key_file = {}\nroles_path = shared-roles\nhost_key_checking = False\n",
            node.user,
            node.private_key().display()
        ),
    );
    // The lab inventory's own `StrictHostKeyChecking=yes` wins, so the
    // known host key is still checked and the run succeeds.
    let run = project.run(&["apply", "site.yml"]);
    run.success().stdout_has(&format!(
        "[WARNING]: host key checking is off ({}/ansible.cfg:6)",
        project.path().display()
    ));
}

#[test]
fn a_world_writable_directory_s_ansible_cfg_is_not_read_and_ansible_config_is() {
    use std::os::unix::fs::PermissionsExt;
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let cfg = format!(
        "[defaults]\ninventory = hosts/lab.yml\nremote_user = {}\nprivate_key_file = {}\nroles_path = shared-roles\n",
        node.user,
        node.private_key().display()
    );
    let project = project_with_role(&nodes, &cfg);
    std::fs::set_permissions(project.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let run = project.run(&["apply", "site.yml", "-v"]);
    // Without the file, there is no inventory at all.
    run.status(4).stderr_has("no inventory");
    // ANSIBLE_CONFIG reads it anyway, as in Ansible.
    let run = project
        .command(&["apply", "site.yml", "-v"])
        .env("ANSIBLE_CONFIG", project.path().join("ansible.cfg"))
        .output()
        .expect("run dtrplay");
    project.finished(run).success();
    // ANSIBLE_CONFIG naming nothing is an error, not a silent default.
    let run = project
        .command(&["apply", "site.yml"])
        .env("ANSIBLE_CONFIG", "/nonexistent/ansible.cfg")
        .output()
        .expect("run dtrplay");
    project
        .finished(run)
        .status(4)
        .stderr_has("ANSIBLE_CONFIG names /nonexistent/ansible.cfg");
}

#[test]
fn become_settings_come_from_ansible_cfg_and_the_environment() {
    let nodes = Nodes::start_with_users(1, dtrplay_lab::users::Users::operator("cfg-pass-1"));
    let project = Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    project.file(
        "ansible.cfg",
        "[defaults]\ninventory = inventory.yml\n\n[privilege_escalation]\nbecome = True\nbecome_method = sudo\nbecome_user = root\n",
    );
    project.file(
        "site.yml",
        r#"
        - hosts: all
          gather_facts: false
          tasks:
            - name: Who am I
              command: id -un
              register: who
              changed_when: false
            - name: Say who
              debug:
                msg: "running as {{ who.stdout }}"
        "#,
    );
    project
        .run(&["apply", "site.yml", "-v"])
        .success()
        .stdout_has("running as root");
    let run = project
        .command(&["apply", "site.yml", "-v"])
        .env("ANSIBLE_BECOME", "false")
        .output()
        .expect("run dtrplay");
    project
        .finished(run)
        .success()
        .stdout_has("running as operator");
}

/// doctor finds its inventory, login user and key where apply does.
#[test]
fn doctor_reads_the_inventory_user_and_key_from_ansible_cfg() {
    let nodes = Nodes::start(1);
    let node = nodes.node("node1");
    let project = Project::new();
    project.file(
        "hosts/lab.yml",
        &format!(
            "{}  children:\n    ucp:\n      hosts:\n        node1:\n  vars:\n    ucp_url: https://127.0.0.1:1\n    dtr_url: https://127.0.0.1:1\n",
            bare_inventory(&nodes)
        ),
    );
    project.file(
        "ansible.cfg",
        &format!(
            "[defaults]\ninventory = hosts/lab.yml\nremote_user = {}\nprivate_key_file = {}\n",
            node.user,
            node.private_key().display()
        ),
    );
    // Nothing answers at the APIs, so links are broken; the node is reached.
    project
        .run(&["doctor", "-v"])
        .status(6)
        .stdout_has(&format!(
            "configuration: {}/ansible.cfg",
            project.path().display()
        ))
        .stdout_has("node1: connected with native SSH (");
}
