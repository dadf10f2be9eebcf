//! The `template` task end to end: a playbook with a `.j2` file found the
//! way Ansible finds it, rendered per host, put on real sshd nodes with
//! check mode, diffs, idempotence, mode and owner, `validate` and `backup`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::harness::{Nodes, Project};

fn setup() -> (Nodes, Project) {
    let nodes = Nodes::start(2);
    let project = Project::new();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &["node1", "node2"])], "greeting: Hello"),
    );
    // `templates/` beside the playbook is searched first, then the
    // playbook's own directory.
    std::fs::create_dir_all(project.path().join("templates")).expect("templates/");
    std::fs::write(
        project.path().join("templates/motd.j2"),
        "{{ greeting }} from {{ inventory_hostname }}\n{% for port in ports %}\nport {{ port }}\n{% endfor %}\n",
    )
    .expect("the template");
    project.file("beside.j2", "beside {{ inventory_hostname }}\n");
    project.file(
        "site.yml",
        r#"
        - hosts: nodes
          vars:
            ports: [80, 443]
          tasks:
            - name: Render the motd
              template:
                src: motd.j2
                dest: /srv/motd
                mode: "0640"
                owner: "{{ ansible_user }}"
                validate: grep -q Hello %s
            - name: A template beside the playbook
              template: src=beside.j2 dest=/srv/beside
        "#,
    );
    (nodes, project)
}

fn json(project: &Project, command: &str, playbook: &str, extra: &[&str]) -> crate::harness::Run {
    let mut args = vec![command, playbook, "-i", "inventory.yml", "--output", "json"];
    args.extend_from_slice(extra);
    project.run(&args)
}

#[test]
fn template_renders_per_host_with_check_mode_diff_and_idempotence() {
    let (nodes, project) = setup();
    // Check mode reports the change with the rendered text as the diff and
    // writes nothing.
    let plan = project.run(&["plan", "site.yml", "-i", "inventory.yml"]);
    plan.success()
        .stdout_has("+Hello from node1")
        .stdout_has("+port 443")
        .stdout_has("+beside node2");
    for node in nodes.fleet.nodes() {
        assert!(
            !node.path("/srv/motd").exists(),
            "plan wrote on {}",
            node.name
        );
    }
    let first = json(&project, "apply", "site.yml", &[]);
    first.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(first.recap()[&node.name]["changed"], 2, "{}", first.stdout);
        let motd = node.path("/srv/motd");
        assert_eq!(
            std::fs::read_to_string(&motd).expect("the motd"),
            format!("Hello from {}\nport 80\nport 443\n", node.name)
        );
        let meta = std::fs::metadata(&motd).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!(meta.uid(), nix::unistd::getuid().as_raw());
        assert_eq!(
            std::fs::read_to_string(node.path("/srv/beside")).expect("beside"),
            format!("beside {}\n", node.name)
        );
    }
    let second = json(&project, "apply", "site.yml", &[]);
    second.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(
            second.recap()[&node.name]["changed"],
            0,
            "{}",
            second.stdout
        );
    }
    // A changed variable is a diff of the file, in check mode.
    let plan = project.run(&[
        "plan",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        "greeting=Hi",
    ]);
    plan.success()
        .stdout_has("-Hello from node1")
        .stdout_has("+Hi from node1");
}

#[test]
fn template_validate_failure_keeps_the_old_file_and_backup_keeps_a_copy() {
    let (nodes, project) = setup();
    json(&project, "apply", "site.yml", &[]).success();
    // `validate` runs on the temporary file: rendered text without
    // "Hello" is refused and the old file stays.
    let refused = json(&project, "apply", "site.yml", &["-e", "greeting=Bye"]);
    refused.status(2);
    assert_eq!(refused.recap()["node1"]["failed"], 1);
    let motd = nodes.node("node1").path("/srv/motd");
    assert_eq!(
        std::fs::read_to_string(&motd).expect("the motd"),
        "Hello from node1\nport 80\nport 443\n"
    );
    project.file(
        "backup.yml",
        r#"
        - hosts: nodes
          vars:
            ports: [22]
          tasks:
            - template: {src: motd.j2, dest: /srv/motd, backup: true}
              register: written
            - debug: var=written.backup_file
        "#,
    );
    let backed = json(&project, "apply", "backup.yml", &[]);
    backed.success();
    assert_eq!(
        std::fs::read_to_string(&motd).expect("the motd"),
        "Hello from node1\nport 22\n"
    );
    let backups: Vec<String> = std::fs::read_dir(motd.parent().expect("a parent"))
        .expect("read /srv")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("motd.") && n.ends_with('~'))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let kept = motd.with_file_name(&backups[0]);
    assert_eq!(
        std::fs::read_to_string(kept).expect("the backup"),
        "Hello from node1\nport 80\nport 443\n"
    );
}

#[test]
fn template_errors_name_the_template_and_where_it_was_looked_for() {
    let (_nodes, project) = setup();
    project.file(
        "missing.yml",
        r#"
        - hosts: nodes
          tasks:
            - template: {src: nosuch.j2, dest: /srv/x}
        "#,
    );
    let run = project.run(&["apply", "missing.yml", "-i", "inventory.yml"]);
    run.status(2).stdout_has("nosuch.j2");
    project.file("templates/broken.j2", "line one\n{{ undefined_thing }}\n");
    project.file(
        "broken.yml",
        r#"
        - hosts: nodes
          tasks:
            - template: {src: broken.j2, dest: /srv/x}
        "#,
    );
    let run = project.run(&["apply", "broken.yml", "-i", "inventory.yml"]);
    run.status(2)
        .stdout_has("could not render broken.j2")
        .stdout_has("line 2");
}
