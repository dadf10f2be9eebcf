//! `meta: refresh_inventory` through the binary on real sshd nodes: a play
//! on the control machine rewrites the inventory file the run was given
//! (node2 joins a new group, which gets `group_vars`), reads it again, and
//! the next play targets the new group, with both strategies. An inventory
//! that no longer loads fails the hosts that asked for it. The oracle case
//! `refresh_inventory` compares the same with ansible-core.

use crate::harness::{Nodes, Project};

/// The play that rewrites the inventory from `files/next.yml` and reads it
/// again, then a play on the new group and one on every host.
fn playbook(strategy: &str) -> String {
    format!(
        r#"
- name: Grow the inventory
  hosts: localhost
  gather_facts: false
  strategy: {strategy}
  tasks:
    - name: The next inventory
      copy:
        src: next.yml
        dest: "{{{{ playbook_dir }}}}/inventory.yml"
        mode: "0644"
    - name: The new group's variables
      copy:
        dest: "{{{{ playbook_dir }}}}/group_vars/late.yml"
        mode: "0644"
        content: "greeting: hello from late\n"
    - meta: refresh_inventory
    - name: This play keeps its hosts
      copy:
        dest: "{{{{ playbook_dir }}}}/during.txt"
        mode: "0644"
        content: "{{{{ ansible_play_hosts | join(',') }}}} {{{{ groups['late'] | join(',') }}}}\n"

- name: The new group
  hosts: late
  gather_facts: false
  strategy: {strategy}
  tasks:
    - copy:
        dest: /srv/late.txt
        mode: "0644"
        content: "{{{{ greeting }}}} {{{{ group_names | join(',') }}}} {{{{ phase }}}}\n"

- name: Every node
  hosts: all
  gather_facts: false
  tasks:
    - copy:
        dest: /srv/all.txt
        mode: "0644"
        content: "{{{{ phase }}}}\n"
"#
    )
}

fn setup(nodes: &Nodes) -> Project {
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("web", &["node1"])], "phase: first"),
    );
    project.file(
        "files/next.yml",
        &nodes.inventory(
            &[("web", &["node1"]), ("late", &["node2"])],
            "phase: refreshed",
        ),
    );
    project.file("group_vars/all.yml", "site: kw\n");
    project
}

#[test]
fn later_plays_target_the_group_a_refreshed_inventory_adds() {
    let nodes = Nodes::start(2);
    for strategy in ["linear", "free"] {
        let project = setup(&nodes);
        project.file("site.yml", &playbook(strategy));
        // The group does not exist yet: validate leaves the later plays'
        // hosts and variables to the refreshed inventory.
        project
            .run(&["validate", "site.yml", "-i", "inventory.yml"])
            .success();
        project
            .run(&["apply", "site.yml", "-i", "inventory.yml"])
            .success();
        assert_eq!(
            std::fs::read_to_string(project.path().join("during.txt")).expect("during.txt"),
            "localhost node2\n",
            "{strategy}"
        );
        assert_eq!(
            nodes.read("node2", "/srv/late.txt"),
            "hello from late late refreshed\n",
            "{strategy}"
        );
        assert!(!nodes.node("node1").path("/srv/late.txt").exists());
        for node in ["node1", "node2"] {
            assert_eq!(nodes.read(node, "/srv/all.txt"), "refreshed\n");
        }
        std::fs::remove_file(nodes.node("node2").path("/srv/late.txt")).expect("clean up");
    }
}

#[test]
fn an_inventory_that_no_longer_loads_fails_the_hosts_that_refresh_it() {
    let nodes = Nodes::start(1);
    for strategy in ["linear", "free"] {
        let project = setup(&nodes);
        project.file("files/next.yml", "all:\n  hosts: [oops\n");
        project.file("site.yml", &playbook(strategy));
        let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
        assert_ne!(run.status, 0, "{strategy}: {run:?}");
        run.stdout_has("the inventory could not be read again");
        assert!(!project.path().join("during.txt").exists(), "{strategy}");
    }
}
