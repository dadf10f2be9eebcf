//! `zypper` and `zypper_repository` with Debian's real zypper (libzypp)
//! and rpm, against the local rpm-md repository the dnf tests build
//! (`rpm_packages::publish`: rpmbuild and createrepo_c, a `file:` URL, no
//! downloads). The nodes' `/etc`, `/usr`, `/var` and `/opt` are
//! copy-on-write, so the repository definitions, zypper's caches, the RPM
//! database and the files the package installs exist on the node only;
//! zypper's lock file, which libzypp keeps under `/run`, is moved into the
//! node's `/var` with `ZYPP_LOCKFILE_ROOT` so that nothing under this
//! machine's `/run` is written either.

use std::path::Path;

use super::rpm_packages::{msgs, publish, publish_named};
use super::{Lab, changed, diffs, results};

/// Writes `site.yml`: one play over `nodes` with these tasks, and the
/// environment that keeps zypper's lock file inside the node's view.
fn play(lab: &Lab, tasks: &str) {
    let mut text = String::from(
        "- hosts: nodes\n  gather_facts: false\n  environment:\n    ZYPP_LOCKFILE_ROOT: /var/lib/dtrplay-zypp-lock\n  tasks:\n",
    );
    for line in crate::harness::unindent(tasks).lines() {
        text.push_str(&format!("    {line}\n"));
    }
    lab.project.file("site.yml", &text);
}

#[test]
fn zypper_repository_and_zypper_install_upgrade_and_remove_with_the_real_zypper() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-zypper-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let url = format!("file://{}", repo.path().display());
    let lab = Lab::copy_on_write(1);
    // libzypp refuses a transaction that leaves the system without glibc
    // (`/etc/zypp/systemCheck`); on a Debian node glibc is a dpkg package,
    // not in the RPM database, so the node's copy of that check goes.
    lab.sh("node1", "sed -i '/^requires:glibc/d' /etc/zypp/systemCheck");
    // libzypp fails to cache an RPM database left empty by a removal
    // (`rpmdb2solv`), which a real SUSE system never has: one package that
    // is in no repository stays installed throughout.
    let keep = tempfile::Builder::new()
        .prefix("dtrplay-zypper-keep-")
        .tempdir()
        .expect("keep dir");
    publish_named(keep.path(), "dtr-keep", "1.0");
    lab.sh(
        "node1",
        &format!(
            "rpm --dbpath /var/lib/rpm -i --nodeps {}/noarch/dtr-keep-1.0-1.noarch.rpm 2>/dev/null",
            keep.path().display()
        ),
    );
    let repos = "ls /etc/zypp/repos.d 2>/dev/null | grep -c dtrlocal || :";
    // libzypp keeps its RPM database in /var/lib/rpm; Debian's own rpm
    // command defaults to ~/.rpmdb, so the test names zypper's.
    let installed = "rpm --dbpath /var/lib/rpm -q --qf '%{VERSION}\\n' dtr-hello || :";

    // The nginx role's shape.
    let add = format!(
        r#"
        - zypper_repository:
            name: dtrlocal
            repo: "{url}"
            state: present
            disable_gpg_check: true
            autorefresh: true
        "#
    );
    play(&lab, &add);
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(diffs(&check).contains("+[dtrlocal]"), "{}", diffs(&check));
    assert_eq!(lab.sh("node1", repos), "0\n");
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(lab.sh("node1", repos), "1\n");
    assert!(!Path::new("/etc/zypp/repos.d/dtrlocal.repo").exists());
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Another priority replaces the repository; runrefresh reads it.
    play(
        &lab,
        &format!(
            r#"
            - community.general.zypper_repository:
                name: dtrlocal
                repo: "{url}"
                priority: 50
                disable_gpg_check: true
                runrefresh: true
            "#
        ),
    );
    let changed_priority = lab.apply(&[]);
    changed_priority.success();
    assert_eq!(changed(&changed_priority, "node1"), 1);
    assert!(
        lab.sh("node1", "cat /etc/zypp/repos.d/dtrlocal.repo")
            .contains("priority=50"),
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // The docker role's shape: `ansible.legacy.zypper` with a list.
    play(
        &lab,
        r#"
        - ansible.legacy.zypper:
            name: [dtr-hello]
            state: present
            update_cache: true
          register: hello
        - assert:
            that: "not hello.changed or hello.cmd[-1] == '+dtr-hello'"
        - community.general.zypper:
            name: dtr-nope
          ignore_errors: true
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+installed: dtr-hello"),
        "{}",
        diffs(&check)
    );
    // zypper is given `+dtr-nope`, as by the module, and says so.
    assert_eq!(msgs(&check)[2], "No provider of '+dtr-nope' found.");
    assert_eq!(
        lab.sh("node1", installed),
        "package dtr-hello is not installed\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{:?}", msgs(&first));
    assert_eq!(
        lab.sh(
            "node1",
            "cat /opt/dtr-hello/version; rpm --dbpath /var/lib/rpm -q --qf '%{VERSION}\\n' dtr-hello"
        ),
        "1.0\n1.0\n"
    );
    assert!(!Path::new("/opt/dtr-hello").exists());
    assert!(!Path::new("/run/zypp.pid").exists());
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A newer version: `latest` upgrades, `present` leaves it.
    publish(repo.path(), "1.1");
    play(
        &lab,
        r#"
        - zypper:
            name: dtr-hello
        - zypper:
            name: dtr-hello
            state: latest
            update_cache: true
        "#,
    );
    let upgraded = lab.apply(&["--diff"]);
    upgraded.success();
    assert_eq!(changed(&upgraded, "node1"), 1);
    assert!(
        diffs(&upgraded).contains("+upgraded: dtr-hello (1.0-1 => 1.1-1)"),
        "{}",
        diffs(&upgraded)
    );
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.1\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    play(
        &lab,
        &format!(
            r#"
            - zypper:
                name: dtr-hello
                state: absent
            - zypper_repository:
                repo: "{url}"
                state: absent
            "#
        ),
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.1\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2);
    assert_eq!(msgs(&removed)[0], "removed: dtr-hello");
    assert_eq!(
        lab.sh("node1", installed),
        "package dtr-hello is not installed\n"
    );
    assert_eq!(lab.sh("node1", repos), "0\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn zypper_without_zypper_names_it_and_bad_arguments_are_refused() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - zypper:
            name: nginx
          environment:
            PATH: /nonexistent
          ignore_errors: true
        - zypper_repository:
            name: nginx
            repo: http://nginx.org/packages/sles/15
          environment:
            PATH: /nonexistent
          ignore_errors: true
        - zypper:
            name: nginx
            state: dist-upgrade
          ignore_errors: true
        - zypper_repository:
            repo: http://example.invalid/nginx.repo
          ignore_errors: true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    let msgs = msgs(&run);
    assert!(
        msgs[0].starts_with("zypper is not installed on the host"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("zypper is not installed on the host"),
        "{msgs:?}"
    );
    assert_eq!(msgs[2], "Can not dist-upgrade specific packages.");
    assert!(msgs[3].contains("a .repo file as `repo`"), "{msgs:?}");
    assert_eq!(results(&run).len(), 4);

    lab.play("- zypper:\n    name: nginx\n    state: running\n");
    // A bad state is refused before any connection.
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("dist-upgrade");
}
