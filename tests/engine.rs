//! The engine over real sshd nodes: idempotence, check mode, failures,
//! limits, tags and variable precedence.

use crate::harness::{Nodes, Project};

/// A playbook that creates a directory, a file and runs a verification,
/// like the certificate steps of the integration do.
const CERTS_PLAYBOOK: &str = r#"
    - name: Install a CA
      hosts: nodes
      tasks:
        - name: Make the directory
          file:
            path: /srv/certs.d/dtr.example.com
            state: directory
            mode: "0755"
          tags: [dir]
        - name: Install the CA file
          copy:
            content: "{{ ca_text }}\n"
            dest: /srv/certs.d/dtr.example.com/ca.crt
            mode: "0644"
          tags: [file]
        - name: Verify it
          command: sha256sum /srv/certs.d/dtr.example.com/ca.crt
          register: sum
          changed_when: false
          tags: [verify]
"#;

fn setup(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = Project::new();
    let names: Vec<String> = nodes.fleet.nodes().iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    project.file(
        "inventory.yml",
        &nodes.inventory(&[("nodes", &refs)], "ca_text: first CA"),
    );
    project.file("site.yml", CERTS_PLAYBOOK);
    (nodes, project)
}

fn counts(run: &crate::harness::Run, host: &str) -> (u64, u64, u64, u64) {
    let recap = run.recap();
    let h = &recap[host];
    let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
    (n("ok"), n("changed"), n("failed"), n("unreachable"))
}

#[test]
fn apply_then_reapply_changes_nothing_the_second_time() {
    let (nodes, project) = setup(3);
    let first = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    first.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(
            counts(&first, &node.name),
            (3, 2, 0, 0),
            "first run on {}",
            node.name
        );
        let file = node.path("/srv/certs.d/dtr.example.com/ca.crt");
        assert_eq!(
            std::fs::read_to_string(&file).expect("the CA file exists"),
            "first CA\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
    }
    let second = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    second.success();
    for node in nodes.fleet.nodes() {
        assert_eq!(
            counts(&second, &node.name),
            (3, 0, 0, 0),
            "second run on {}",
            node.name
        );
    }
}

#[test]
fn check_mode_reports_changes_and_diffs_but_touches_nothing() {
    let (nodes, project) = setup(2);
    let run = project.run(&["plan", "site.yml", "-i", "inventory.yml"]);
    run.success()
        .stdout_has("CHECK MODE")
        .stdout_has("changed: [node1]")
        .stdout_has("+first CA");
    for node in nodes.fleet.nodes() {
        assert!(
            !node.path("/srv/certs.d").exists(),
            "check mode created files on {}",
            node.name
        );
    }
    // After a real apply, a changed variable shows as a diff of the file.
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    let plan = project.run(&[
        "plan",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        "ca_text='second CA'",
    ]);
    plan.success()
        .stdout_has("-first CA")
        .stdout_has("+second CA");
    let file = nodes
        .node("node1")
        .path("/srv/certs.d/dtr.example.com/ca.crt");
    assert_eq!(
        std::fs::read_to_string(file).expect("still there"),
        "first CA\n"
    );
}

#[test]
fn a_node_that_is_down_is_reported_and_the_others_finish() {
    let (mut nodes, project) = setup(3);
    nodes.fleet.stop_node("node2").expect("node2 stops");
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.status(3);
    assert_eq!(counts(&run, "node1"), (3, 2, 0, 0));
    assert_eq!(counts(&run, "node3"), (3, 2, 0, 0));
    let (_, _, failed, unreachable) = counts(&run, "node2");
    assert_eq!((failed, unreachable), (0, 1));
    // When it is back, re-running finishes the job.
    nodes.fleet.start_node("node2").expect("node2 restarts");
    let again = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    again.success();
    assert_eq!(counts(&again, "node2"), (3, 2, 0, 0));
    assert_eq!(counts(&again, "node1"), (3, 0, 0, 0));
}

#[test]
fn a_failing_task_stops_that_host_only() {
    let (nodes, project) = setup(2);
    project.file(
        "fail.yml",
        r#"
        - hosts: nodes
          tasks:
            - name: Fails on node1 only
              command: "false"
              when: inventory_hostname == 'node1'
            - name: Still runs elsewhere
              file: {path: /srv/after, state: directory, mode: "0700"}
        "#,
    );
    let run = project.run(&[
        "apply",
        "fail.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.status(2);
    let recap = run.recap();
    assert_eq!(recap["node1"]["failed"], 1);
    assert_eq!(recap["node2"]["changed"], 1);
    assert!(!nodes.node("node1").path("/srv/after").exists());
    assert!(nodes.node("node2").path("/srv/after").exists());
}

#[test]
fn limit_and_tags_select_hosts_and_tasks() {
    let (nodes, project) = setup(3);
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--limit",
        "node1:node3",
        "--tags",
        "dir",
        "--output",
        "json",
    ]);
    run.success();
    let recap = run.recap();
    assert!(
        recap.get("node2").is_none(),
        "node2 was not limited out: {recap}"
    );
    assert_eq!(recap["node1"]["changed"], 1);
    assert!(
        nodes
            .node("node1")
            .path("/srv/certs.d/dtr.example.com")
            .is_dir()
    );
    assert!(
        !nodes
            .node("node1")
            .path("/srv/certs.d/dtr.example.com/ca.crt")
            .exists()
    );
    assert!(!nodes.node("node2").path("/srv/certs.d").exists());
    let skip = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--skip-tags",
        "verify",
        "--output",
        "json",
    ]);
    skip.success();
    assert_eq!(skip.recap()["node2"]["ok"], 2);
}

#[test]
fn variables_follow_ansible_precedence() {
    let nodes = Nodes::start(1);
    let project = Project::new();
    let node = &nodes.fleet.nodes()[0];
    // group vars < host vars < play vars < task vars < set_fact < extra vars.
    project.file(
        "inventory/hosts.yml",
        &nodes.inventory(&[("web", &["node1"])], "level: all"),
    );
    project.file(
        "inventory/group_vars/web.yml",
        "level: group\nfrom_group: g\n",
    );
    project.file(
        "inventory/host_vars/node1.yml",
        "level: host\nfrom_host: h\n",
    );
    project.file(
        "vars.yml",
        r#"
        - hosts: web
          tasks:
            - name: inventory layers
              copy: {content: "{{ level }} {{ from_group }} {{ from_host }}", dest: /srv/inventory}
        - hosts: web
          vars: {level: play}
          tasks:
            - name: play over host
              copy: {content: "{{ level }}", dest: /srv/play}
            - name: task over play
              copy: {content: "{{ level }}", dest: /srv/task}
              vars: {level: task}
            - set_fact: {level: fact}
            - name: fact over play
              copy: {content: "{{ level }}", dest: /srv/fact}
            - name: extra over everything
              copy: {content: "{{ extra }}", dest: /srv/extra}
              vars: {extra: task}
        "#,
    );
    project
        .run(&[
            "apply",
            "vars.yml",
            "-i",
            "inventory/hosts.yml",
            "-e",
            "extra=cli",
        ])
        .success();
    let read = |p: &str| std::fs::read_to_string(node.path(p)).expect("file written");
    assert_eq!(read("/srv/inventory"), "host g h");
    assert_eq!(read("/srv/play"), "play");
    assert_eq!(read("/srv/task"), "task");
    assert_eq!(read("/srv/fact"), "fact");
    assert_eq!(read("/srv/extra"), "cli");
}

#[test]
fn a_node_stopped_mid_run_is_unreachable_and_the_others_finish() {
    let (mut nodes, project) = setup(3);
    project.file(
        "slow.yml",
        r#"
        - hosts: nodes
          tasks:
            - name: Take a while
              command: sleep 2
            - name: Then write
              copy: {content: "done\n", dest: /srv/done}
        "#,
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args([
            "apply",
            "slow.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
        ])
        .current_dir(project.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("dtrplay starts");
    // Stop node2 while the first task runs on every node.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    nodes.fleet.stop_node("node2").expect("node2 stops");
    let out = child.wait_with_output().expect("dtrplay finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recap: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|e| e["event"] == "recap")
        .map(|e| e["hosts"].clone())
        .expect("a recap");
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert_eq!(recap["node2"]["unreachable"], 1, "{recap}");
    for other in ["node1", "node3"] {
        assert_eq!(recap[other]["failed"], 0, "{recap}");
        assert!(
            nodes.node(other).path("/srv/done").exists(),
            "{other} did not finish"
        );
    }
}

/// Ctrl-C stops a run cleanly, with either SSH client: the scripts running
/// on the nodes are hung up, no further task starts, and the recap is
/// printed before dtrplay exits with 130, as shells report SIGINT, with
/// each stopped task counted as `interrupted` on its host.
#[test]
fn ctrl_c_stops_the_remote_scripts_and_ends_with_the_recap() {
    let (nodes, project) = setup(2);
    project.file(
        "slow.yml",
        r#"
        - hosts: nodes
          tasks:
            - name: Take a long while
              shell: echo $$ > /srv/slow.pid; exec sleep 60
            - name: Never reached
              copy: {content: "done\n", dest: /srv/done}
        "#,
    );
    let names = ["node1", "node2"];
    let pid_of = |name: &str| -> Option<u32> {
        let text = std::fs::read_to_string(nodes.node(name).path("/srv/slow.pid")).ok()?;
        text.trim().parse().ok()
    };
    for client in ["native", "openssh"] {
        for name in names {
            let _ = std::fs::remove_file(nodes.node(name).path("/srv/slow.pid"));
        }
        let child = project
            .command(&[
                "apply",
                "slow.yml",
                "-i",
                "inventory.yml",
                "--ssh-client",
                client,
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("dtrplay starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while names.iter().any(|n| pid_of(n).is_none()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let pids: Vec<u32> = names
            .iter()
            .map(|n| pid_of(n).expect("the script started"))
            .collect();

        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("SIGINT");
        let started = std::time::Instant::now();
        let run = project.finished(child.wait_with_output().expect("dtrplay ends"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{client}: {run:?}"
        );
        assert_eq!(run.status, 130, "{client}: {run:?}");
        assert!(
            run.stdout.contains("INTERRUPTED"),
            "{client}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("PLAY RECAP"),
            "{client}: {}",
            run.stdout
        );
        // Each stopped task is named, and counted in its host's recap.
        for name in names {
            run.stdout_has(&format!(
                "interrupted: [{name}]: `Take a long while` was stopped"
            ));
            let recap = run
                .stdout
                .lines()
                .find(|l| l.starts_with(name) && l.contains(" : ok="))
                .unwrap_or_else(|| panic!("{client}: no recap line for {name}: {}", run.stdout));
            assert!(recap.ends_with("interrupted=1"), "{client}: {recap}");
        }
        for (name, pid) in names.iter().zip(pids) {
            // The hang-up is sent before dtrplay exits; dying takes a moment.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while dtrplay_lab::daemon::process::is_alive(pid)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert!(
                !dtrplay_lab::daemon::process::is_alive(pid),
                "{client}: {name}: the script (pid {pid}) outlived the run"
            );
            assert!(
                !nodes.node(name).path("/srv/done").exists(),
                "{name} went on"
            );
        }
    }
}

#[test]
fn an_ansible_playbook_runs_unchanged() {
    let (nodes, project) = setup(2);
    project.file(
        "ansible.yml",
        r#"
        ---
        - name: Written for Ansible
          hosts: nodes
          gather_facts: no
          vars:
            app_dir: /srv/app
            files: [a.conf, b.conf]
          handlers:
            - name: restart app
              ansible.builtin.command: touch {{ app_dir }}/restarted
          tasks:
            - name: Create the directory
              ansible.builtin.file: path={{ app_dir }} state=directory mode=0755
            - name: Write config files
              ansible.builtin.copy:
                dest: "{{ app_dir }}/{{ item }}"
                content: "name={{ item | replace('.conf', '') }}\n"
                mode: 0644
              with_items: "{{ files }}"
              notify: restart app
            - name: Read one back
              ansible.builtin.shell: cat {{ app_dir }}/a.conf
              register: conf
              changed_when: false
            - name: Check it
              ansible.builtin.assert:
                that:
                  - conf.stdout == 'name=a'
                  - "'b.conf' in files"
                fail_msg: unexpected content
            - ansible.builtin.debug:
                msg: "{{ inventory_hostname }} is in {{ group_names | join(',') }}"
        "#,
    );
    let first = project.run(&[
        "apply",
        "ansible.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    first.success();
    let node = nodes.node("node1");
    assert_eq!(
        std::fs::read_to_string(node.path("/srv/app/b.conf")).expect("written"),
        "name=b\n"
    );
    assert!(node.path("/srv/app/restarted").exists(), "the handler ran");
    let second = project.run(&[
        "apply",
        "ansible.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    second.success();
    assert_eq!(second.recap()["node1"]["changed"], 0);
}

#[test]
fn secrets_are_masked_in_output_and_json() {
    let project = Project::new();
    project.file("inventory.ini", "localhost ansible_connection=local\n");
    project.file(
        "tasks/login.yml",
        r#"
        params:
          token: {type: str, secret: true}
        tasks:
          - debug: {msg: "token is {{ token }}"}
        "#,
    );
    project.file(
        "site.yml",
        r#"
        - hosts: localhost
          vars:
            dtr_password: hunter2-secret
          tasks:
            - login: {token: opensesame42}
            - debug: {msg: "password is {{ dtr_password }}"}
            - command: echo {{ dtr_password }}
              no_log: true
        "#,
    );
    for output in ["human", "json"] {
        let run = project.run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.ini",
            "--output",
            output,
            "-v",
        ]);
        run.success();
        for secret in ["opensesame42", "hunter2-secret"] {
            assert!(
                !run.stdout.contains(secret),
                "{secret} leaked in {output} output:\n{}",
                run.stdout
            );
            assert!(
                !run.stderr.contains(secret),
                "{secret} leaked on stderr:\n{}",
                run.stderr
            );
        }
        assert!(run.stdout.contains("********"), "{}", run.stdout);
    }
}

/// `groups` is shared by every host rather than copied into each one's
/// variables, and it is still visible everywhere a template can be: play
/// vars (templated lazily), task vars, task names, conditions and args.
#[test]
fn groups_is_visible_in_every_kind_of_template() {
    let project = Project::new();
    project.file(
        "inventory.yml",
        "all:\n  children:\n    web:\n      hosts:\n        w1: {ansible_connection: local}\n        w2: {ansible_connection: local}\n    db:\n      hosts:\n        d1: {ansible_connection: local}\n",
    );
    project.file(
        "site.yml",
        &crate::harness::unindent(
            r#"
            - hosts: all
              gather_facts: false
              vars:
                web_count: "{{ groups['web'] | length }}"
              tasks:
                - name: "{{ groups['db'][0] }} sees {{ web_count }} web hosts"
                  debug:
                    msg: "{{ first_web }} of {{ groups['all'] | length }}"
                  vars:
                    first_web: "{{ groups['web'] | first }}"
                  when: inventory_hostname in groups['web']
            "#,
        ),
    );
    let run = project.run(&["apply", "site.yml", "-i", "inventory.yml"]);
    run.success()
        .stdout_has("d1 sees 2 web hosts")
        .stdout_has("w1 of 3");
    let json = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    let recap = json.success().recap();
    assert_eq!(recap["d1"]["skipped"], 1, "{recap}");
    assert_eq!(recap["w2"]["ok"], 1, "{recap}");
}
