//! `cron`, `sysctl` and `hostname` on real sshd nodes. Crontabs and
//! hostnames are changed on copy-on-write nodes (their `/etc` and `/var`
//! are private; every isolated node has its own UTS namespace), with the
//! real `crontab` and `hostname` programs.
//!
//! `sysctl` is tested on the file only (`reload: false`, `sysctl_set:
//! false`, or a read-only parameter in check mode): lab nodes share this
//! machine's kernel and network namespace, so `sysctl -w` or `sysctl -p`
//! on a node would change the machine itself.

use super::{Lab, changed, diffs, failed, results};

/// The crontab of `user` on the node, as `crontab -l` prints it.
fn crontab(lab: &Lab, user: &str) -> String {
    lab.sh(
        "node1",
        &format!("crontab -u {user} -l 2>/dev/null || echo 'no crontab'"),
    )
}

#[test]
fn cron_manages_jobs_and_variables_in_a_users_crontab() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: nightly backup
          ansible.builtin.cron:
            name: nightly backup
            user: daemon
            minute: "0"
            hour: "3"
            job: /usr/local/bin/backup >/dev/null
          register: backup
        - cron:
            name: PATH
            env: true
            user: daemon
            value: /usr/bin:/bin
        - name: record what cron returned
          shell: "printf '%s\\n' '{{ backup.jobs | join(',') }}' > /srv/cron-jobs"
          changed_when: false
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    let diff = diffs(&check);
    assert!(
        diff.contains("+#Ansible: nightly backup\n+0 3 * * * /usr/local/bin/backup >/dev/null"),
        "{diff}"
    );
    assert_eq!(crontab(&lab, "daemon"), "no crontab\n");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        crontab(&lab, "daemon"),
        "PATH=\"/usr/bin:/bin\"\n#Ansible: nightly backup\n0 3 * * * /usr/local/bin/backup >/dev/null\n"
    );
    assert_eq!(lab.sh("node1", "cat /srv/cron-jobs"), "nightly backup\n");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // The job changes in place, disabled; then it goes, the variable stays.
    lab.play(
        r#"
        - cron:
            name: nightly backup
            user: daemon
            minute: "30"
            hour: "4"
            job: /usr/local/bin/backup >/dev/null
            disabled: true
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        crontab(&lab, "daemon"),
        "PATH=\"/usr/bin:/bin\"\n#Ansible: nightly backup\n#30 4 * * * /usr/local/bin/backup >/dev/null\n"
    );
    lab.play(
        r#"
        - cron:
            name: nightly backup
            user: daemon
            state: absent
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(crontab(&lab, "daemon").contains("#Ansible: nightly backup"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(crontab(&lab, "daemon"), "PATH=\"/usr/bin:/bin\"\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Without `user`, the crontab is the connecting user's (root here).
    lab.play(
        r#"
        - cron: name=rotate hour=1 minute=15 job=/usr/sbin/logrotate
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", "crontab -l"),
        "#Ansible: rotate\n15 1 * * * /usr/sbin/logrotate\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn cron_writes_a_cron_d_file_and_removes_it_with_its_last_job() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - cron:
            name: registry garbage collection
            cron_file: dtr-gc
            user: root
            special_time: daily
            job: /usr/local/bin/dtr-gc
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+@daily root /usr/local/bin/dtr-gc"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh("node1", "test -e /etc/cron.d/dtr-gc && echo yes || echo no"),
        "no\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "stat -c %a /etc/cron.d/dtr-gc && cat /etc/cron.d/dtr-gc"
        ),
        "644\n#Ansible: registry garbage collection\n@daily root /usr/local/bin/dtr-gc\n"
    );
    // The machine's own /etc/cron.d never had it.
    assert!(!std::path::Path::new("/etc/cron.d/dtr-gc").exists());
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - cron:
            name: registry garbage collection
            cron_file: dtr-gc
            state: absent
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "test -e /etc/cron.d/dtr-gc && echo yes || echo no"),
        "no\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A cron_file job names its user; Ansible's words when it does not.
    lab.play(
        r#"
        - cron:
            name: no user
            cron_file: dtr-gc
            job: /bin/true
        "#,
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    assert_eq!(
        results(&refused)[0]["msg"],
        "To use cron_file=... parameter you must specify user=... as well"
    );
}

const SYSCTL_FILE: &str = "/srv/sysctl.d/99-dtr.conf";

#[test]
fn sysctl_edits_the_file_and_keeps_other_lines() {
    let lab = Lab::plain(1);
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /srv/sysctl.d && printf '# DTR nodes\\nvm.swappiness = 60\\n' > {SYSCTL_FILE}"
        ),
    );
    // File only: never `sysctl -w` or `sysctl -p` on the machine's kernel.
    lab.play(&format!(
        r#"
        - sysctl:
            name: net.ipv4.ip_forward
            value: "1"
            sysctl_file: {SYSCTL_FILE}
            reload: false
        - ansible.posix.sysctl:
            name: vm.swappiness
            value: 10
            sysctl_file: {SYSCTL_FILE}
            reload: false
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    let diff = diffs(&check);
    assert!(diff.contains("+net.ipv4.ip_forward=1"), "{diff}");
    assert!(
        diff.contains("-vm.swappiness = 60\n+vm.swappiness=10"),
        "{diff}"
    );
    assert_eq!(
        lab.sh("node1", &format!("cat {SYSCTL_FILE}")),
        "# DTR nodes\nvm.swappiness = 60\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2);
    assert_eq!(
        lab.sh("node1", &format!("cat {SYSCTL_FILE}")),
        "# DTR nodes\nvm.swappiness=10\nnet.ipv4.ip_forward=1\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(&format!(
        r#"
        - sysctl: name=vm.swappiness state=absent sysctl_file={SYSCTL_FILE} reload=false
        "#
    ));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("cat {SYSCTL_FILE}")),
        "# DTR nodes\nnet.ipv4.ip_forward=1\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn sysctl_set_compares_with_the_running_kernel() {
    let lab = Lab::plain(1);
    lab.sh("node1", "mkdir -p /srv/sysctl.d");
    // kernel.ostype is read-only: even a wrong `sysctl -w` could not change
    // the machine. The running value is "Linux", so the real run only
    // writes the file.
    lab.play(&format!(
        r#"
        - sysctl:
            name: kernel.ostype
            value: Linux
            sysctl_set: true
            reload: false
            sysctl_file: {SYSCTL_FILE}
        "#
    ));
    let first = lab.apply(&["--diff"]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert!(
        !diffs(&first).contains("running kernel"),
        "{}",
        diffs(&first)
    );
    assert_eq!(
        lab.sh("node1", &format!("cat {SYSCTL_FILE}")),
        "kernel.ostype=Linux\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Another value differs in the running kernel too; check mode shows
    // both and changes neither.
    lab.play(&format!(
        r#"
        - sysctl:
            name: kernel.ostype
            value: Plan9
            sysctl_set: true
            reload: false
            sysctl_file: {SYSCTL_FILE}
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    let diff = diffs(&check);
    assert!(
        diff.contains("-kernel.ostype=Linux\n+kernel.ostype=Plan9"),
        "{diff}"
    );
    assert!(diff.contains("-Linux\n+Plan9"), "{diff}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap_or_default(),
        "Linux\n"
    );

    // With `reload` (the default) a file and kernel in agreement change
    // nothing, so nothing is reloaded; a different value is a change that
    // check mode only reports.
    lab.play(&format!(
        r#"
        - sysctl: name=kernel.ostype value=Linux sysctl_file={SYSCTL_FILE}
        "#
    ));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(&format!(
        r#"
        - sysctl: name=kernel.ostype value=Plan9 sysctl_file={SYSCTL_FILE}
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+kernel.ostype=Plan9"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh("node1", &format!("cat {SYSCTL_FILE}")),
        "kernel.ostype=Linux\n"
    );
}

/// This machine's running name and its /etc/hostname, which no test may
/// change.
fn machine_names() -> (String, String) {
    (
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default(),
        std::fs::read_to_string("/etc/hostname").unwrap_or_default(),
    )
}

#[test]
fn hostname_renames_the_node_and_never_the_machine() {
    let machine = machine_names();
    let lab = Lab::copy_on_write(1);
    let before = lab.sh("node1", "hostname");
    lab.play(
        r#"
        - ansible.builtin.hostname:
            name: dtr-replica-1.example.com
          register: renamed
        - name: record what hostname returned
          shell: "printf '%s %s\\n' '{{ renamed.name }}' '{{ ansible_hostname }}' > /srv/hostname-result"
          changed_when: false
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    let diff = diffs(&check);
    assert!(
        diff.contains(&format!(
            "-hostname = {}\n+hostname = dtr-replica-1.example.com",
            before.trim()
        )),
        "{diff}"
    );
    assert_eq!(lab.sh("node1", "hostname"), before);

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(
        lab.sh(
            "node1",
            "hostname; cat /etc/hostname; cat /srv/hostname-result"
        ),
        "dtr-replica-1.example.com\ndtr-replica-1.example.com\ndtr-replica-1.example.com dtr-replica-1\n"
    );
    assert_eq!(machine_names(), machine, "the machine's own names stay");
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // `generic` sets the running name only; the file keeps the last one.
    lab.play(
        r#"
        - hostname:
            name: dtr-replica-2
            use: generic
        "#,
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", "hostname; cat /etc/hostname"),
        "dtr-replica-2\ndtr-replica-1.example.com\n"
    );
    assert_eq!(machine_names(), machine);

    // Refusals: a strategy dtrplay lacks, systemd where systemd does not
    // run (the lab's nodes), and no `hostname` program at all.
    lab.play(
        r#"
        - hostname:
            name: dtr-replica-3
            use: freebsd
          ignore_errors: true
        - hostname:
            name: dtr-replica-3
            use: systemd
          ignore_errors: true
        - hostname:
            name: dtr-replica-3
          environment:
            PATH: /nonexistent
          ignore_errors: true
        "#,
    );
    let refused = lab.apply(&[]);
    refused.success();
    assert_eq!(refused.recap()["node1"]["ignored"], 3, "{}", refused.stdout);
    let msgs: Vec<String> = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        msgs[0].contains("use: freebsd is not supported"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("hostnamectl could not read the host's name"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].starts_with("the hostname program was not found on the host"),
        "{msgs:?}"
    );
    assert_eq!(lab.sh("node1", "hostname"), "dtr-replica-2\n");
    assert_eq!(machine_names(), machine);
}
