//! `async`/`poll` and `meta: reset_connection` over real sshd nodes, driven
//! through the `dtrplay` binary: a task waited for within its limit, one
//! that outlives it (that host fails, the others go on), background jobs
//! that `async_status` waits for, check mode, and a reset connection that
//! picks up a group change.

use std::time::{Duration, Instant};

use crate::builtins::{Lab, changed, failed, results};

#[test]
fn async_with_poll_is_a_deadline_that_fails_only_the_slow_host() {
    let lab = Lab::plain(2);
    lab.play(
        r#"
        - name: Within the limit
          command: sh -c 'sleep 1; echo hi'
          async: 10
          poll: 1
          register: quick
        - copy:
            content: "{{ quick.stdout }}|{{ quick.rc }}|{{ quick.finished }}|{{ quick.ansible_job_id is defined }}"
            dest: /srv/quick.txt
        - name: Past the limit on node2
          shell: "echo $$ > /srv/sleeper.pid; exec sleep {{ 30 if inventory_hostname == 'node2' else 0 }}"
          async: 2
          poll: 1
        - file: {path: /srv/after, state: touch}
        "#,
    );
    let started = Instant::now();
    let run = lab.apply(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
    run.status(2);
    assert_eq!(failed(&run, "node1"), 0, "{}", run.stdout);
    assert_eq!(failed(&run, "node2"), 1, "{}", run.stdout);
    assert_eq!(run.recap()["node2"]["unreachable"], 0, "{}", run.stdout);
    let messages: Vec<String> = results(&run)
        .iter()
        .filter(|r| r["status"] == "failed")
        .filter_map(|r| r["msg"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        messages,
        ["async task did not complete within the requested time - 2s"]
    );
    assert_eq!(lab.sh("node1", "cat /srv/quick.txt"), "hi|0|True|True");
    assert_eq!(lab.sh("node1", "test -e /srv/after && echo yes"), "yes\n");
    assert_eq!(
        lab.sh("node2", "test -e /srv/after && echo yes || echo no"),
        "no\n"
    );
    // The slow command itself was stopped when its time was up.
    let pid: u32 = lab
        .sh("node2", "cat /srv/sleeper.pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        !dtrplay_lab::daemon::process::is_alive(pid),
        "the sleeper still runs"
    );
}

/// A play that starts two background jobs, looks at the first while it
/// runs, waits for both with `async_status`, and removes the first one's
/// job directory.
const JOBS: &str = r#"
- name: Start a job
  shell: "sleep 2; echo out; echo err >&2"
  async: 60
  poll: 0
  register: job
- name: Start a failing job
  command: sh -c 'echo bad; exit 3'
  async: 60
  poll: 0
  register: failing
- name: While it runs
  async_status:
    jid: "{{ job.ansible_job_id }}"
  register: early
- copy:
    content: "{{ job.started }}|{{ job.finished }}|{{ job.changed }}|{{ early.finished }}|{{ early.stdout }}"
    dest: /srv/started.txt
- name: Wait for it
  async_status:
    jid: "{{ job.ansible_job_id }}"
  register: done
  until: done.finished
  retries: 30
  delay: 1
- assert:
    that:
      - done.stdout == 'out'
      - done.stderr == 'err'
      - done.rc == 0
      - done.stdout_lines == ['out']
  when: not ansible_check_mode
- name: Wait for the failing one
  async_status:
    jid: "{{ failing.ansible_job_id }}"
  register: bad
  until: bad.finished
  retries: 30
  delay: 1
  ignore_errors: true
- copy:
    content: "{{ bad.rc | default('-') }}|{{ bad.stdout | default('-') }}|{{ bad.failed }}|{{ bad.msg | default('-') }}"
    dest: /srv/failing.txt
  when: not ansible_check_mode
- name: Clean up
  async_status:
    jid: "{{ job.ansible_job_id }}"
    mode: cleanup
  register: cleaned
- copy:
    content: "{{ job.ansible_job_id }}"
    dest: /srv/jid.txt
- name: A script in the background
  script: report.sh "two words"
  async: 60
  poll: 0
  register: scripted
- async_status:
    jid: "{{ scripted.ansible_job_id }}"
  register: script_done
  until: script_done.finished
  retries: 30
  delay: 1
- copy:
    content: "{{ script_done.stdout }}"
    dest: /srv/script.txt
  when: not ansible_check_mode
"#;

#[test]
fn poll_zero_starts_jobs_that_async_status_waits_for_and_cleans_up() {
    let lab = Lab::plain(1);
    lab.project.file(
        "files/report.sh",
        "#!/bin/sh\nsleep 1\necho \"script: $1\"\n",
    );
    lab.play(JOBS);

    // Check mode starts nothing and writes nothing, yet the playbook's
    // `async_status` tasks find their (skipped) jobs.
    let check = lab.apply(&["--check"]);
    check.success();
    let checked = results(&check);
    assert_eq!(checked[0]["status"], "changed", "{}", checked[0]);
    assert_eq!(checked[4]["status"], "skipped", "{}", checked[4]);
    assert_eq!(
        lab.sh(
            "node1",
            "test -e \"$HOME/.ansible_async\" && echo exists || echo none"
        ),
        "none\n"
    );
    assert_eq!(lab.sh("node1", "ls /srv"), "");

    let started = Instant::now();
    let run = lab.apply(&[]);
    run.success();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    // The play went on while the job ran.
    assert_eq!(
        lab.sh("node1", "cat /srv/started.txt"),
        "True|False|True|False|"
    );
    let waited = &results(&run)[4];
    assert_eq!(waited["status"], "changed", "{waited}");
    assert_eq!(
        lab.sh("node1", "cat /srv/failing.txt"),
        "3|bad|True|non-zero return code"
    );
    assert_eq!(run.recap()["node1"]["ignored"], 1, "{}", run.stdout);
    assert_eq!(lab.sh("node1", "cat /srv/script.txt"), "script: two words");
    // The cleaned-up job is gone; the other one's directory is private.
    let jid = lab.sh("node1", "cat /srv/jid.txt");
    assert_eq!(
        lab.sh(
            "node1",
            &format!("test -e \"$HOME/.ansible_async/{jid}\" && echo left || echo gone")
        ),
        "gone\n"
    );
    assert_eq!(
        lab.sh(
            "node1",
            "stat -c %a \"$HOME/.ansible_async\" \"$HOME\"/.ansible_async/*"
        ),
        "700\n700\n700\n"
    );
}

#[test]
fn poll_zero_is_refused_for_modules_that_cannot_run_in_the_background() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - copy: {content: x, dest: /srv/x}
          async: 30
          poll: 0
        "#,
    );
    let run = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.status(4);
    run.stderr_has("`poll: 0` cannot start `copy` in the background");
    // Blocks and includes are not module runs: Ansible refuses them too.
    lab.project.file("other.yml", "- debug: {msg: hi}\n");
    lab.play(
        r#"
        - block:
            - command: "true"
          async: 30
        - include_tasks: other.yml
          poll: 5
        "#,
    );
    let run = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.status(4);
    run.stderr_has("`async` cannot be used on a block");
    run.stderr_has("`poll` cannot be used on `include_tasks`");
    // Templated values are checked per host, when they are known.
    lab.play(
        r#"
        - copy: {content: x, dest: /srv/x}
          async: 30
          poll: "{{ 0 }}"
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    let msg = results(&run)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with("`poll: 0` cannot start `copy` in the background"),
        "{msg}"
    );
    lab.play(
        r#"
        - command: "true"
          async: "{{ 'soon' }}"
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(
        results(&run)[0]["msg"],
        "`async` must be a whole number of seconds, not \"soon\""
    );
    assert_eq!(lab.sh("node1", "ls /srv"), "");
}

/// A play that adds the login user to `group` between two `id -Gn`
/// on the same connection and one after `meta: reset_connection`.
fn group_change(group: &str) -> String {
    format!(
        r#"
        - command: id -Gn
          register: before
        - group: {{name: {group}}}
        - user: {{name: root, groups: [{group}], append: true}}
        - command: id -Gn
          register: same
        - meta: reset_connection
        - command: id -Gn
          register: after
        - copy:
            content: "{{{{ before.stdout }}}}|{{{{ same.stdout }}}}|{{{{ after.stdout }}}}"
            dest: /srv/groups.txt
        "#
    )
}

/// Checks what `group_change` wrote: only the new login has the group.
fn assert_new_login_has(lab: &Lab, group: &str) {
    let text = lab.sh("node1", "cat /srv/groups.txt");
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts.len(), 3, "{text}");
    let has = |part: &str| part.split_whitespace().any(|g| g == group);
    assert!(!has(parts[0]), "{text}");
    // The old login keeps its groups until the connection is new.
    assert!(!has(parts[1]), "{text}");
    assert!(has(parts[2]), "{text}");
}

#[test]
fn reset_connection_gives_the_next_task_a_new_login() {
    // Root is the login user of lab nodes; its groups come from the node's
    // own copy-on-write /etc/group.
    let lab = Lab::copy_on_write(1);
    lab.play(&group_change("dtrplayers"));
    lab.apply(&[]).success();
    assert_new_login_has(&lab, "dtrplayers");

    // Under the free strategy each host resets its own connection: the
    // shell that runs the next task is another one.
    lab.project.file(
        "free.yml",
        r#"
- hosts: nodes
  gather_facts: false
  strategy: free
  tasks:
    - shell: echo $PPID
      register: first
    - shell: echo $PPID
      register: second
    - meta: reset_connection
    - shell: echo $PPID
      register: third
    - copy:
        content: "{{ first.stdout }} {{ second.stdout }} {{ third.stdout }}"
        dest: /srv/shells.txt
"#,
    );
    let run = lab.project.run(&[
        "apply",
        "free.yml",
        "-i",
        "inventory.yml",
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(changed(&run, "node1"), 4, "{}", run.stdout);
    let shells = lab.sh("node1", "cat /srv/shells.txt");
    let pids: Vec<&str> = shells.split_whitespace().collect();
    assert_eq!(pids.len(), 3, "{shells}");
    assert_eq!(pids[0], pids[1], "{shells}");
    assert_ne!(pids[1], pids[2], "{shells}");
}

#[test]
fn background_jobs_outlive_the_run_and_stop_at_their_limit() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - name: Outlives the run
          shell: "sleep 12; echo done > /srv/late.txt"
          async: 30
          poll: 0
        - name: Outlives its limit
          command: sleep 30
          async: 1
          poll: 0
          register: slow
        - async_status:
            jid: "{{ slow.ansible_job_id }}"
          register: stopped
          until: stopped.finished
          retries: 20
          delay: 1
          ignore_errors: true
        - copy:
            content: "{{ stopped.failed }}|{{ stopped.msg }}"
            dest: /srv/stopped.txt
        - async_status:
            jid: j1.2
          ignore_errors: true
        - name: One job per item
          shell: "sleep 1; echo {{ item }}"
          async: 30
          poll: 0
          loop: [a, b]
          register: jobs
        - name: Wait for every item's job
          async_status:
            jid: "{{ item.ansible_job_id }}"
          loop: "{{ jobs.results }}"
          register: each
          until: each.finished
          retries: 20
          delay: 1
        - copy:
            content: "{{ each.results | map(attribute='stdout') | join(',') }}"
            dest: /srv/items.txt
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(
        lab.sh("node1", "cat /srv/stopped.txt"),
        "True|Timeout exceeded"
    );
    assert_eq!(results(&run)[4]["msg"], "could not find job");
    assert_eq!(lab.sh("node1", "cat /srv/items.txt"), "a,b");
    // The first job ends after dtrplay closed its connection and exited.
    assert_eq!(
        lab.sh("node1", "cat /srv/late.txt 2>/dev/null || echo not yet"),
        "not yet\n"
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    while Instant::now() < deadline
        && lab.sh("node1", "cat /srv/late.txt 2>/dev/null || true") != "done\n"
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(lab.sh("node1", "cat /srv/late.txt"), "done\n");
}

#[test]
fn reset_connection_lets_a_non_root_login_use_its_new_group_and_become_reads_root_jobs() {
    // The docker-group case: a login user added to a group with become
    // has it only in a new login. For a user other than root, sessions on
    // a kept OpenSSH master share the master's login, so the master stops.
    let nodes = crate::harness::Nodes::start_with_users_copy_on_write(
        1,
        dtrplay_lab::users::Users::operator("lab-pass-1"),
    );
    let project = crate::harness::Project::new();
    project.file("inventory.yml", &nodes.inventory(&[], ""));
    let runs: [(&str, u32, &[&str]); 2] = [
        ("dtrjoin", 2900, &["--ssh-client", "native"]),
        (
            "dtrkept",
            2901,
            &["--ssh-client", "openssh", "--ssh-persist", "30"],
        ),
    ];
    for (group, gid, client) in runs {
        project.file(
            "site.yml",
            &format!(
                r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: id -Gn
      register: before
    # The node's /etc/group is a file bound over the real one, which
    # groupadd cannot replace; appending in place is the same change.
    - shell: echo '{group}:x:{gid}:operator' >> /etc/group
      become: true
    - command: id -Gn
      register: same
    - meta: reset_connection
    - command: id -Gn
      register: after
    - copy:
        content: "{{{{ before.stdout }}}}|{{{{ same.stdout }}}}|{{{{ after.stdout }}}}"
        dest: /srv/groups.txt
      become: true
    # A job started as root is read back as root, from root's private
    # job directory.
    - shell: sleep 1; id -un
      become: true
      async: 30
      poll: 0
      register: root_job
      vars:
        ansible_async_dir: /srv/async
    - async_status:
        jid: "{{{{ root_job.ansible_job_id }}}}"
      become: true
      register: root_done
      until: root_done.finished
      retries: 20
      delay: 1
      vars:
        ansible_async_dir: /srv/async
    - copy:
        content: "{{{{ root_done.stdout }}}}"
        dest: /srv/root_job.txt
      become: true
"#
            ),
        );
        let mut args = vec![
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "--output",
            "json",
        ];
        args.extend_from_slice(client);
        project.run(&args).success();
        let text = std::fs::read_to_string(nodes.node("node1").path("/srv/groups.txt"))
            .expect("the groups file");
        let parts: Vec<&str> = text.split('|').collect();
        assert_eq!(parts.len(), 3, "{client:?}: {text}");
        let has = |part: &str| part.split_whitespace().any(|g| g == group);
        assert!(!has(parts[0]) && !has(parts[1]), "{client:?}: {text}");
        assert!(has(parts[2]), "{client:?}: {text}");
        let root_job = std::fs::read_to_string(nodes.node("node1").path("/srv/root_job.txt"))
            .expect("the job's output");
        assert_eq!(root_job, "root", "{client:?}");
        let job_dir = nodes.node("node1").path("/srv/async");
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&job_dir).expect("the job directory");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o700), "{client:?}");
    }
}
