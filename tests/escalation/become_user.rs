//! `become_user` to an unprivileged account of the node's own: commands,
//! files, templates and executable tasks run as that user, and what they
//! write belongs to it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::{project, recap_counts};
use crate::harness::Nodes;
use dtrplay_lab::node::Node;
use dtrplay_lab::users::Users;

/// Everything as `app`, whose home only `app` may enter (0750).
const AS_APP: &str = r#"
    - hosts: all
      become: true
      become_user: app
      tasks:
        - name: Who am I
          command: id -un
          register: who
          changed_when: false
          check_mode: false
        - assert:
            that: who.stdout == 'app'
        - name: A private directory
          file:
            path: /home/app/data
            state: directory
            mode: "0700"
        - name: A file
          copy:
            content: "owned by app\n"
            dest: /home/app/data/app.conf
            mode: "0600"
        - name: A template
          template:
            src: app.ini.j2
            dest: /home/app/data/app.ini
            mode: "0640"
        - name: An executable task
          whoami_file:
            path: /home/app/data/who
        - name: Back to the login user for one task
          command: id -un
          become: false
          register: login
          changed_when: false
          check_mode: false
        - assert:
            that: login.stdout == 'operator'
    - hosts: all
      become: true
      tasks:
        - name: A file for app, written as root
          copy:
            content: "for app\n"
            dest: /srv/for-app.conf
            owner: app
            group: app
            mode: "0640"
"#;

/// An executable task in sh: writes the name of the user it runs as into
/// `path`, and reports a change only when the file says something else.
const WHOAMI_FILE: &str = r#"#!/bin/sh
args=$1
path=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' "$args")
me=$(id -un)
if [ "$(cat "$path" 2>/dev/null)" = "$me" ]; then
    echo '{"changed": false}'
elif grep -q '"check_mode":true' "$args"; then
    echo '{"changed": true}'
else
    printf '%s\n' "$me" > "$path" && echo '{"changed": true}'
fi
"#;

const WHOAMI_MANIFEST: &str = r#"
    description: Write who runs it into a file
    params:
      path: {type: path, required: true}
"#;

/// Where `remote` under `/home` of `node` lives on this machine (a node
/// with users of its own has a private `/home`).
fn home(node: &Node, remote: &str) -> PathBuf {
    node.root
        .join("fs/home")
        .join(remote.trim_start_matches("/home/"))
}

/// The uid of `user` in the node's own `/etc/passwd`.
fn uid(node: &Node, user: &str) -> u32 {
    let passwd = std::fs::read_to_string(node.root.join("fs/etc/passwd")).expect("passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == user).then(|| f[2].parse().expect("a uid"))
        })
        .expect("the user exists on the node")
}

#[test]
fn become_user_runs_commands_files_templates_and_executables_as_that_user() {
    let nodes = Nodes::start_with_users(
        2,
        Users {
            others: vec!["app".into()],
            ..Users::operator("lab-pass-3")
        },
    );
    let project = project(&nodes, AS_APP, "");
    project.file(
        "templates/app.ini.j2",
        "[app]\nhost = {{ inventory_hostname }}\n",
    );
    project.file("library/whoami_file", WHOAMI_FILE);
    project.file("library/whoami_file.yml", WHOAMI_MANIFEST);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        project.path().join("library/whoami_file"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");

    let args = [
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ];
    let run = project.run(&args);
    run.success();
    assert_eq!(recap_counts(&run, "node1"), (9, 5, 0, 0));
    for node in nodes.fleet.nodes() {
        let app = uid(node, "app");
        for (path, mode) in [
            ("/home/app/data", 0o700),
            ("/home/app/data/app.conf", 0o600),
            ("/home/app/data/app.ini", 0o640),
            // Executable tasks run under `umask 077` (`plugin/protocol.rs`).
            ("/home/app/data/who", 0o600),
        ] {
            let meta = std::fs::metadata(home(node, path)).expect(path);
            assert_eq!(
                (meta.uid(), meta.gid(), meta.mode() & 0o777),
                (app, app, mode),
                "{path} on {}",
                node.name
            );
        }
        let ini = std::fs::read_to_string(home(node, "/home/app/data/app.ini")).expect("ini");
        assert_eq!(ini, format!("[app]\nhost = {}\n", node.name));
        let who = std::fs::read_to_string(home(node, "/home/app/data/who")).expect("who");
        assert_eq!(who, "app\n");
        let meta = std::fs::metadata(node.path("/srv/for-app.conf")).expect("for-app.conf");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (app, app, 0o640)
        );
    }

    // Check mode and the second run under become: nothing to do.
    let plan = project.run(&[
        "plan",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    plan.success();
    assert_eq!(recap_counts(&plan, "node2"), (9, 0, 0, 0));
    let again = project.run(&args);
    again.success();
    assert_eq!(recap_counts(&again, "node2"), (9, 0, 0, 0));

    // A file only app can read drifts: the plan reads it as app, shows the
    // diff, and changes nothing.
    let conf = home(nodes.node("node1"), "/home/app/data/app.conf");
    std::fs::write(&conf, "edited by hand\n").expect("edit app.conf");
    let plan = project.run(&[
        "plan",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    plan.success();
    assert_eq!(recap_counts(&plan, "node1"), (9, 1, 0, 0));
    let diff = plan
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["host"] == "node1")
        .flat_map(|e| e["diffs"].as_array().cloned().unwrap_or_default())
        .find(|d| d["subject"] == "/home/app/data/app.conf")
        .expect("a diff of app.conf");
    assert_eq!(diff["before"], "edited by hand\n");
    assert_eq!(diff["after"], "owned by app\n");
    assert_eq!(
        std::fs::read_to_string(&conf).expect("app.conf"),
        "edited by hand\n"
    );
}
