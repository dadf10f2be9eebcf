//! `fetch` on real sshd nodes: files of each node's private `/srv` copied
//! into the project on the control machine, in Ansible's layout.

use super::{Lab, changed, failed, results};

#[test]
fn fetch_copies_each_hosts_file_into_its_own_directory_once() {
    let lab = Lab::plain(2);
    lab.sh("node1", "printf 'one\\n' > /srv/app.log");
    lab.sh("node2", "printf 'two\\0\\377\\n' > /srv/app.log");
    lab.play(
        r#"
        - fetch:
            src: /srv/app.log
            dest: fetched
          register: got
        - fetch:
            src: /srv/app.log
            dest: flat/{{ inventory_hostname }}.log
            flat: true
        - fetch:
            src: /srv/app.log
            dest: into/{{ inventory_hostname }}/
            flat: true
        - debug:
            msg: "{{ got.checksum }} {{ got.remote_checksum | default('-') }} {{ got.md5sum }} {{ got.dest }}"
        "#,
    );
    let local = |path: &str| std::fs::read(lab.project.path().join(path)).ok();

    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 3);
    assert_eq!(local("fetched/node1/srv/app.log"), None);
    assert!(!lab.project.path().join("fetched").exists());

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 3);
    assert_eq!(changed(&first, "node2"), 3);
    assert_eq!(
        local("fetched/node1/srv/app.log").as_deref(),
        Some(&b"one\n"[..])
    );
    assert_eq!(
        local("fetched/node2/srv/app.log").as_deref(),
        Some(&b"two\0\xff\n"[..])
    );
    assert_eq!(
        local("flat/node2.log").as_deref(),
        Some(&b"two\0\xff\n"[..])
    );
    assert!(local("into/node2/app.log").is_some());
    let got = results(&first)[6]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sha1 = "c7059bb19433cc3cabaa6236c83d56668a843dd2";
    assert!(
        got.starts_with(&format!("{sha1} {sha1} 5bbf5a52328e7439ae6e719dfe712200 /")),
        "{got}"
    );
    assert!(got.ends_with("/fetched/node1/srv/app.log"), "{got}");

    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);
    assert_eq!(changed(&again, "node2"), 0);

    lab.sh("node1", "printf 'one more\\n' >> /srv/app.log");
    let later = lab.apply(&[]);
    assert_eq!(changed(&later, "node1"), 3);
    assert_eq!(changed(&later, "node2"), 0);
    assert_eq!(
        local("fetched/node1/srv/app.log").as_deref(),
        Some(&b"one\none more\n"[..])
    );
}

#[test]
fn fetch_of_a_missing_file_fails_unless_told_otherwise() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - fetch:
            src: /srv/nothing
            dest: fetched
            fail_on_missing: false
          register: ignored
        - fetch:
            src: /srv
            dest: fetched
          ignore_errors: true
          register: dir
        - fetch:
            src: /srv/nothing
            dest: fetched
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let results = results(&run);
    assert_eq!(results[0]["status"], "ok", "{}", results[0]);
    assert_eq!(
        results[0]["msg"],
        "the remote file does not exist, not transferring, ignored"
    );
    assert_eq!(
        results[1]["msg"],
        "remote file is a directory, fetch cannot work on directories"
    );
    assert_eq!(
        results[2]["msg"],
        "the remote file does not exist, not transferring, ignored"
    );
    assert!(!lab.project.path().join("fetched").exists());

    lab.play(
        r#"
        - fetch:
            src: /srv/x
        "#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("dest");
}
