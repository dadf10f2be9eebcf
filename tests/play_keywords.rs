//! Play, block and task keywords of public content beyond the basics,
//! through the binary on real sshd nodes: `vars_prompt` on a real terminal,
//! `order`, `throttle`, `notify` on a block, `vars_files` alternatives and a
//! templated `no_log`.

use std::process::Command;

use crate::escalation::terminal::Terminal;
use crate::harness::{Nodes, Project};

fn setup(count: usize) -> (Nodes, Project) {
    let nodes = Nodes::start(count);
    let project = nodes.web_project("site: kw");
    (nodes, project)
}

#[track_caller]
fn read(nodes: &Nodes, name: &str, path: &str) -> String {
    nodes.read(name, path)
}

/// Waits until `text` is on the terminal's screen `times` times.
#[track_caller]
fn wait_count(terminal: &Terminal, text: &str, times: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while terminal.screen().matches(text).count() < times {
        assert!(
            std::time::Instant::now() < deadline,
            "the terminal never showed {text:?} {times} times: {:?}",
            terminal.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

const PROMPTS: &str = r#"
- hosts: web
  gather_facts: false
  vars_prompt:
    - name: release
      prompt: Which release
      private: false
      default: stable
    - name: token
      prompt: The API token
      confirm: true
  tasks:
    - copy: {content: "{{ release }}\n", dest: /srv/release.txt, mode: "0644"}
    - copy: {content: "{{ token }}\n", dest: /srv/token.txt, mode: "0600"}
    - debug: {msg: "token is {{ token }}"}
"#;

#[test]
fn vars_prompt_asks_once_on_the_terminal_before_connecting() {
    let (nodes, project) = setup(2);
    project.file("site.yml", PROMPTS);
    let mut terminal = Terminal::run(&project, &["apply", "site.yml", "-i", "inventory.yml"]);
    terminal.wait_for("Which release [stable]: ");
    terminal.type_line("");
    terminal.wait_for("The API token: ");
    terminal.type_line("s3cr3t-one");
    terminal.wait_for("confirm The API token: ");
    terminal.type_line("s3cr3t-two");
    terminal.wait_for("VALUES ENTERED DO NOT MATCH");
    // Each answer is typed once its question is on the screen: turning echo
    // off discards what was typed ahead, as on any terminal.
    wait_count(&terminal, "The API token: ", 3);
    terminal.type_line("s3cr3t-tok");
    wait_count(&terminal, "confirm The API token: ", 2);
    terminal.type_line("s3cr3t-tok");
    let screen_before = terminal.screen();
    let run = terminal.finish(&project);
    run.success();
    for node in ["node1", "node2"] {
        assert_eq!(read(&nodes, node, "/srv/release.txt"), "stable\n");
        assert_eq!(read(&nodes, node, "/srv/token.txt"), "s3cr3t-tok\n");
    }
    // Asked once for the play, not per host; the private answer was typed
    // with echo off and is masked in the output.
    assert_eq!(
        screen_before.matches("Which release").count(),
        1,
        "{screen_before}"
    );
    assert!(!screen_before.contains("s3cr3t"), "{screen_before}");
    assert!(!run.stdout.contains("s3cr3t-tok"), "{}", run.stdout);
}

#[test]
fn vars_prompt_is_not_asked_for_what_e_gives_and_needs_a_terminal_otherwise() {
    let (nodes, project) = setup(1);
    project.file("site.yml", PROMPTS);
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    // No controlling terminal at all: a new session without one.
    let no_tty = |args: &[&str]| {
        let dtrplay = project.command(args);
        let output = Command::new("setsid")
            .arg("--wait")
            .arg(dtrplay.get_program())
            .args(dtrplay.get_args())
            .current_dir(project.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run dtrplay without a terminal");
        project.finished(output)
    };
    no_tty(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        "release=edge",
    ])
    .status(4)
    .stderr_has("the play asks for `token`")
    .stderr_has("-e token=<value>");
    assert!(!nodes.node("node1").path("/srv/release.txt").exists());
    no_tty(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        "release=edge",
        "-e",
        "token=given",
    ])
    .success();
    assert_eq!(read(&nodes, "node1", "/srv/release.txt"), "edge\n");
    assert_eq!(read(&nodes, "node1", "/srv/token.txt"), "given\n");
}

#[test]
fn order_sets_the_hosts_order_and_throttle_bounds_a_task() {
    let (nodes, project) = setup(3);
    let shared = project.path().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          order: reverse_inventory
          serial: 1
          tasks:
            - debug: {msg: "{{ inventory_hostname }}"}
        - hosts: web
          gather_facts: false
          order: sorted
          tasks:
            - name: Throttled
              throttle: 1
              shell: "touch {{ dir }}/t.{{ inventory_hostname }}; sleep 1; ls {{ dir }} | grep -c '^t\\.'; rm {{ dir }}/t.{{ inventory_hostname }}"
              register: throttled
            - name: Not throttled
              shell: "touch {{ dir }}/u.{{ inventory_hostname }}; sleep 1; ls {{ dir }} | grep -c '^u\\.'; rm {{ dir }}/u.{{ inventory_hostname }}"
              register: free
            - block:
                - copy: {content: "{{ throttled.stdout }} {{ free.stdout }}\n", dest: /srv/counts.txt, mode: "0644"}
              throttle: 2
        "#,
    );
    let dir = format!("dir={}", shared.display());
    let run = project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "-e",
        &dir,
        "--forks",
        "5",
        "--output",
        "json",
    ]);
    run.success();
    let mut plays = 0;
    let mut first_play = Vec::new();
    for event in run.events() {
        if event["event"] == "play_start" {
            plays += 1;
        } else if event["event"] == "host_result" && plays == 1 {
            first_play.push(event["host"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(first_play, ["node3", "node2", "node1"], "{}", run.stdout);
    let mut free_counts = Vec::new();
    for node in ["node1", "node2", "node3"] {
        let counts = read(&nodes, node, "/srv/counts.txt");
        let (throttled, free) = counts.trim().split_once(' ').expect("two counts");
        assert_eq!(throttled, "1", "one host at a time on {node}");
        free_counts.push(free.parse::<u32>().expect("a count"));
    }
    // Without throttle the hosts overlap, which is what makes the 1s above
    // the throttle's doing.
    assert!(free_counts.iter().any(|&c| c > 1), "{free_counts:?}");
}

#[test]
fn notify_on_a_block_vars_files_alternatives_and_a_templated_no_log() {
    let (nodes, project) = setup(1);
    project.file("vars/defaults.yml", "colour: blue\n");
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          vars:
            hide: true
          vars_files:
            - [ "vars/{{ site }}-missing.yml", "vars/defaults.yml" ]
            - [ "vars/absent.yml", "vars/defaults.yml" ]
          tasks:
            - block:
                - copy: {content: "{{ colour }}\n", dest: /srv/colour.txt, mode: "0644"}
              notify: colour changed
            - name: Quiet
              command: echo hidden-output
              no_log: "{{ hide }}"
          handlers:
            - name: colour changed
              copy: {content: "handled\n", dest: /srv/handled.txt, mode: "0644"}
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
    assert_eq!(read(&nodes, "node1", "/srv/colour.txt"), "blue\n");
    assert_eq!(read(&nodes, "node1", "/srv/handled.txt"), "handled\n");
    assert!(!run.stdout.contains("hidden-output"), "{}", run.stdout);

    project.file(
        "none.yml",
        "- hosts: web\n  vars_files:\n    - [a.yml, b.yml]\n  tasks: []\n",
    );
    project
        .run(&["validate", "none.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("none of these vars files exists")
        .stderr_has("none.yml:3:7");
}

#[test]
fn any_errors_fatal_and_max_fail_percentage_stop_the_play_for_every_host() {
    let (nodes, project) = setup(3);
    project.file(
        "fatal.yml",
        r#"
        - hosts: web
          gather_facts: false
          any_errors_fatal: true
          tasks:
            - command: "{{ 'false' if inventory_hostname == 'node1' else 'true' }}"
            - copy: {content: "after\n", dest: /srv/fatal.txt, mode: "0644"}
        - hosts: web
          gather_facts: false
          tasks:
            - copy: {content: "next\n", dest: /srv/next.txt, mode: "0644"}
        "#,
    );
    project.file(
        "percent.yml",
        r#"
        - hosts: web
          gather_facts: false
          serial: 1
          max_fail_percentage: 0
          tasks:
            - command: "{{ 'false' if inventory_hostname == 'node2' else 'true' }}"
            - copy: {content: "batch\n", dest: /srv/batch.txt, mode: "0644"}
        "#,
    );
    let run = project.run(&["apply", "fatal.yml", "-i", "inventory.yml"]);
    run.status(2)
        .stdout_has("a host failed and the play has `any_errors_fatal`");
    // node1's failure stopped node2 and node3 too, for the rest of the run.
    for node in ["node1", "node2", "node3"] {
        assert!(!nodes.node(node).path("/srv/fatal.txt").exists(), "{node}");
        assert!(!nodes.node(node).path("/srv/next.txt").exists(), "{node}");
    }
    let run = project.run(&["apply", "percent.yml", "-i", "inventory.yml"]);
    run.status(2)
        .stdout_has("more than max_fail_percentage 0; stopping the play");
    // Batches of one: node1's ran whole, node2's failed, node3's never began.
    assert_eq!(read(&nodes, "node1", "/srv/batch.txt"), "batch\n");
    assert!(!nodes.node("node2").path("/srv/batch.txt").exists());
    assert!(!nodes.node("node3").path("/srv/batch.txt").exists());
}

#[test]
fn meta_end_host_and_noop_and_the_always_and_never_tags() {
    let (nodes, project) = setup(2);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          tasks:
            - meta: noop
            - meta: end_host
              when: inventory_hostname == 'node1'
            - copy: {content: "ran\n", dest: /srv/ran.txt, mode: "0644"}
            - copy: {content: "always\n", dest: /srv/always.txt, mode: "0644"}
              tags: [always]
            - copy: {content: "never\n", dest: /srv/never.txt, mode: "0644"}
              tags: [never, debug]
        "#,
    );
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .success();
    // end_host ended node1 alone; node2 went on; `never` runs only when asked.
    assert!(!nodes.node("node1").path("/srv/ran.txt").exists());
    assert!(!nodes.node("node1").path("/srv/always.txt").exists());
    assert_eq!(read(&nodes, "node2", "/srv/ran.txt"), "ran\n");
    assert_eq!(read(&nodes, "node2", "/srv/always.txt"), "always\n");
    assert!(!nodes.node("node2").path("/srv/never.txt").exists());
    // `--tags debug` selects the `never` task, and `always` runs anyway.
    std::fs::remove_file(nodes.node("node2").path("/srv/always.txt")).expect("remove");
    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--tags",
            "debug",
        ])
        .success();
    assert_eq!(read(&nodes, "node2", "/srv/never.txt"), "never\n");
    assert_eq!(read(&nodes, "node2", "/srv/always.txt"), "always\n");
}

/// `ansible_play_hosts_all`, `ansible_play_hosts`, `ansible_play_batch` and
/// `play_hosts` as ansible-core 2.19 gives them (checked against it): a
/// failed host leaves the active lists, and the batch is the `serial` one.
#[test]
fn the_play_hosts_magic_variables_follow_failures_and_batches() {
    let (nodes, project) = setup(3);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          serial: 2
          tasks:
            - fail: {msg: down}
              when: inventory_hostname == 'node2'
            - copy:
                dest: /srv/play_hosts
                content: "{{ ansible_play_hosts_all | join(',') }} / {{ ansible_play_hosts | join(',') }} / {{ ansible_play_batch | join(',') }} / {{ play_hosts | join(',') }}\n"
        "#,
    );
    project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    project
        .run(&["apply", "site.yml", "-i", "inventory.yml"])
        .status(2);
    assert_eq!(
        read(&nodes, "node1", "/srv/play_hosts"),
        "node1,node2,node3 / node1,node3 / node1 / node1\n"
    );
    assert_eq!(
        read(&nodes, "node3", "/srv/play_hosts"),
        "node1,node2,node3 / node1,node3 / node3 / node3\n"
    );
}

/// The run-wide and play-wide magic variables, as ansible-core 2.19 gives
/// them for the same command line (checked against it).
#[test]
fn magic_variables_say_how_the_run_was_asked_for() {
    let (nodes, project) = setup(2);
    project.file("roles/greet/tasks/main.yml", "- debug: {msg: hello}\n");
    project.file(
        "site.yml",
        r#"
        - name: Magic
          hosts: web
          gather_facts: false
          roles: [{role: greet, tags: [t2]}]
          tasks:
            - copy:
                dest: /srv/magic
                content: |
                  {{ ansible_play_name }} {{ ansible_run_tags | sort }} {{ ansible_skip_tags }} {{ ansible_limit }}
                  {{ ansible_forks }} {{ ansible_verbosity }} {{ ansible_version.full is version('2.10', '>=') }}
                  {{ ansible_role_names }} {{ role_names }} {{ ansible_dependent_role_names }}
                  {{ ansible_inventory_sources | map('basename') | list }} {{ ansible_host == inventory_hostname }}
              tags: [t1]
        "#,
    );
    project
        .run(&[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--tags",
            "t1,t2",
            "--skip-tags",
            "t2",
            "--limit",
            "node1",
            "-f",
            "7",
        ])
        .success();
    assert_eq!(
        read(&nodes, "node1", "/srv/magic"),
        "Magic ['t1', 't2'] ['t2'] node1\n7 0 True\n['greet'] ['greet'] []\n['inventory.yml'] False\n"
    );
}

#[test]
fn legacy_sudo_keywords_are_refused_naming_become_before_any_connection() {
    let (_nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
        - hosts: web
          gather_facts: false
          sudo: true
          tasks:
            - command: "true"
              sudo_user: admin
        "#,
    );
    for command in ["validate", "apply"] {
        project
            .run(&[command, "site.yml", "-i", "inventory.yml"])
            .status(4)
            .stderr_has("`sudo` was removed from Ansible in 2.9; use the `become` keywords")
            .stderr_has("write `become: true` instead of `sudo: true`")
            .stderr_has("`sudo_user` was removed from Ansible in 2.9")
            .stderr_has("become_user: NAME")
            .stderr_has("site.yml:3:3")
            .stderr_has("site.yml:6:7");
    }
}

#[test]
fn vars_prompt_encrypt_and_password_hash_make_the_hashes_glibc_makes() {
    let (nodes, project) = setup(1);
    project.file(
        "site.yml",
        r#"
- hosts: web
  gather_facts: false
  vars_prompt:
    - name: md5_hash
      prompt: Password one
      encrypt: md5_crypt
      salt: foo
    - name: sha_hash
      prompt: Password two
      encrypt: sha512_crypt
      salt_size: 12
  tasks:
    - copy:
        dest: /srv/hashes.txt
        mode: "0600"
        content: |
          {{ md5_hash }}
          {{ sha_hash }}
          {{ 'secret' | password_hash('sha256', 'saltsalt') }}
          {{ 'secret' | password_hash('sha512', salt='saltsalt') }}
          {{ 'secret' | password_hash('sha256_crypt', salt='saltsalt', rounds=10000) }}
"#,
    );
    let mut terminal = Terminal::run(&project, &["apply", "site.yml", "-i", "inventory.yml"]);
    terminal.wait_for("Password one: ");
    terminal.type_line("secret");
    terminal.wait_for("Password two: ");
    terminal.type_line("secret");
    terminal.finish(&project).success();
    let written = read(&nodes, "node1", "/srv/hashes.txt");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "$1$foo$ygQElgzdVoe51UiGBN5TV/");
    let sha: Vec<&str> = lines[1].split('$').collect();
    assert_eq!(
        (sha[1], sha[2].len(), sha[3].len()),
        ("6", 12, 86),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
    );
    assert_eq!(
        lines[3],
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
    );
    assert_eq!(
        lines[4],
        "$5$rounds=10000$saltsalt$RUsnTSO2Cw.gkRW/RZSmG6BCeuh1a6eDbZfnX4oz1c5"
    );

    project.file(
        "bad.yml",
        "- hosts: web\n  vars_prompt:\n    - name: p\n      encrypt: bcrypt_sha256\n      salt: \"not a salt!\"\n  tasks: []\n",
    );
    project
        .run(&["validate", "bad.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("`bcrypt_sha256` is not a password hash dtrplay can make")
        .stderr_has("bad.yml:4:16")
        .stderr_has("the salt may hold only the characters");
}

#[test]
fn meta_clear_facts_forgets_gathered_facts_of_every_play_host_and_keeps_variables() {
    let (nodes, project) = setup(2);
    let play = |strategy: &str| {
        format!(
            r#"
- hosts: web
  gather_facts: true
  strategy: {strategy}
  tasks:
    - set_fact: {{mine: kept}}
    - command: "true"
      register: reg
      changed_when: false
    - copy:
        dest: /srv/before.txt
        mode: "0644"
        content: "{{{{ ansible_facts.hostname is defined }}}} {{{{ ansible_hostname is defined }}}}\n"
    - meta: clear_facts
      when: inventory_hostname == 'node1'
    - copy:
        dest: /srv/after.txt
        mode: "0644"
        content: "{{{{ ansible_facts.hostname | default('cleared') }}}} {{{{ ansible_hostname | default('cleared') }}}} {{{{ mine }}}} {{{{ reg.rc }}}}\n"
"#
        )
    };
    for strategy in ["linear", "free"] {
        project.file("site.yml", &play(strategy));
        project
            .run(&["validate", "site.yml", "-i", "inventory.yml"])
            .success();
        project
            .run(&["apply", "site.yml", "-i", "inventory.yml"])
            .success();
        // Under `free`, node1 may clear every host's facts before node2
        // writes its first file (Ansible races the same way), so only
        // node1's is certain there.
        let before: &[&str] = if strategy == "linear" {
            &["node1", "node2"]
        } else {
            &["node1"]
        };
        for node in before {
            assert_eq!(read(&nodes, node, "/srv/before.txt"), "True True\n");
        }
        // node1's condition holds; as in Ansible, that clears every host.
        assert_eq!(
            read(&nodes, "node1", "/srv/after.txt"),
            "cleared cleared kept 0\n"
        );
        if strategy == "linear" {
            assert_eq!(
                read(&nodes, "node2", "/srv/after.txt"),
                "cleared cleared kept 0\n"
            );
        }
    }
}
