//! `unarchive` on real sshd nodes with the machine's GNU tar and unzip:
//! archives made by the real tools, on the control machine or on the node,
//! unpacked into the node's private `/srv`.

use super::{Lab, changed, diffs, failed, results};

/// Runs a program on the control machine, in `dir`.
fn tool(dir: &std::path::Path, program: &str, args: &[&str]) {
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .expect("the tool starts");
    assert!(status.success(), "{program} {args:?}");
}

#[test]
fn unarchive_sends_a_tarball_unpacks_it_once_and_sets_attributes() {
    let lab = Lab::plain(1);
    let files = lab.project.path().join("files/app");
    std::fs::create_dir_all(&files).expect("mkdir");
    std::fs::write(files.join("a.txt"), "alpha\n").expect("write");
    std::fs::write(files.join("b.conf"), "beta=1\n").expect("write");
    tool(
        &lab.project.path().join("files"),
        "tar",
        &["-czf", "app.tgz", "-C", "app", "a.txt", "b.conf"],
    );
    lab.sh("node1", "mkdir -p /srv/app");
    lab.play(
        r#"
        - unarchive:
            src: app.tgz
            dest: /srv/app
            mode: "0640"
            list_files: true
          register: unpacked
        - debug:
            msg: "{{ unpacked.handler }} {{ unpacked.files | join(',') }}"
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(diffs(&check).contains("a.txt"), "{}", diffs(&check));
    assert_eq!(lab.sh("node1", "ls -A /srv/app"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(results(&first)[1]["msg"], "TgzArchive a.txt,b.conf");
    assert_eq!(
        lab.sh("node1", "cat /srv/app/a.txt; stat -c %a /srv/app/b.conf"),
        "alpha\n640\n"
    );

    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    // A changed file or a changed mode is put back.
    lab.sh(
        "node1",
        "echo edited > /srv/app/a.txt; chmod 0600 /srv/app/b.conf",
    );
    let repaired = lab.apply(&[]);
    assert_eq!(changed(&repaired, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /srv/app/a.txt; stat -c %a /srv/app/b.conf"),
        "alpha\n640\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn unarchive_unpacks_a_zip_already_on_the_host_and_honours_creates() {
    let lab = Lab::plain(1);
    lab.sh(
        "node1",
        "set -e; mkdir -p /srv/src/docs /srv/out; cd /srv/src; echo one > docs/one.txt; \
         echo two > two.txt; zip -qr /srv/pkg.zip docs two.txt",
    );
    lab.play(
        r#"
        - unarchive:
            src: /srv/pkg.zip
            dest: /srv/out
            remote_src: true
            list_files: true
          register: zipped
        - unarchive:
            src: /srv/pkg.zip
            dest: /srv/out
            remote_src: true
            creates: /srv/out/two.txt
        - debug:
            msg: "{{ zipped.handler }} {{ zipped.files | join(',') }}"
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    assert_eq!(lab.sh("node1", "ls -A /srv/out"), "");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    let results = results(&first);
    assert_eq!(results[2]["msg"], "ZipArchive docs/,docs/one.txt,two.txt");
    assert_eq!(results[1]["status"], "skipped", "{}", results[1]);
    assert_eq!(results[1]["msg"], "skipped, since /srv/out/two.txt exists");
    assert_eq!(
        lab.sh("node1", "cat /srv/out/docs/one.txt /srv/out/two.txt"),
        "one\ntwo\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn unarchive_refuses_a_missing_destination_or_source() {
    let lab = Lab::plain(1);
    lab.sh("node1", "echo x > /srv/x && tar -cf /srv/x.tar -C /srv x");
    lab.play(
        r#"
        - unarchive:
            src: /srv/x.tar
            dest: /srv/nowhere
            remote_src: true
          ignore_errors: true
        - unarchive:
            src: /srv/none.tar
            dest: /srv
            remote_src: true
          ignore_errors: true
        - unarchive:
            src: missing.tgz
            dest: /srv
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let results = results(&run);
    assert_eq!(
        results[0]["msg"],
        "Destination '/srv/nowhere' is not a directory"
    );
    assert_eq!(results[1]["msg"], "Source '/srv/none.tar' does not exist");
    assert_eq!(
        results[2]["msg"],
        "Could not find or access 'missing.tgz' on the Ansible Controller."
    );
}
