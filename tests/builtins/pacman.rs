//! `pacman` with Debian's real pacman (libalpm) against a local repository
//! the test builds: a package made with bsdtar (a `.PKGINFO` and one file
//! under `/opt`) and indexed with repo-add, served as a `file://` Server.
//! The nodes' `/etc`, `/usr`, `/var` and `/opt` are copy-on-write, so the
//! node's `/etc/pacman.conf`, its sync and local databases under
//! `/var/lib/pacman`, the package cache and the installed files exist on
//! the node only.

use std::path::Path;
use std::process::Command;

use super::rpm_packages::msgs;
use super::{Lab, changed, diffs};

fn run(command: &mut Command) {
    let out = command.output().expect("run the tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `dtr-hello` at `version` (release 1, architecture `any`) into
/// `repo` and adds it to the repository's database `dtrtest`.
fn publish(repo: &Path, version: &str) {
    let top = repo.join(format!("build-{version}"));
    std::fs::create_dir_all(top.join("opt/dtr-hello")).expect("package tree");
    std::fs::write(top.join("opt/dtr-hello/version"), format!("{version}\n")).expect("file");
    std::fs::write(
        top.join(".PKGINFO"),
        format!(
            "pkgname = dtr-hello\npkgbase = dtr-hello\npkgver = {version}-1\n\
             pkgdesc = a test package of dtrplay\nurl = https://example.invalid\n\
             builddate = 1700000000\npackager = dtrplay tests\nsize = 4\narch = any\nlicense = MIT\n"
        ),
    )
    .expect(".PKGINFO");
    let file = repo.join(format!("dtr-hello-{version}-1-any.pkg.tar.gz"));
    run(Command::new("bsdtar")
        .arg("-czf")
        .arg(&file)
        .arg("-C")
        .arg(&top)
        .args([".PKGINFO", "opt"]));
    std::fs::remove_dir_all(&top).expect("clean the build dir");
    run(Command::new("repo-add")
        .arg("-q")
        .arg(repo.join("dtrtest.db.tar.gz"))
        .arg(&file));
}

#[test]
fn pacman_installs_upgrades_sets_reasons_and_removes_with_the_real_pacman() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-pacman-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let lab = Lab::copy_on_write(1);
    // A node whose only repository is the local one, with its sync
    // database already downloaded, as on any Arch host.
    lab.sh(
        "node1",
        &format!(
            "printf '[options]\\nArchitecture = auto\\nSigLevel = Never\\n[dtrtest]\\nServer = file://{}\\n' > /etc/pacman.conf && pacman -Sy >/dev/null",
            repo.path().display()
        ),
    );
    let installed = "pacman -Q dtr-hello 2>&1 || :";

    // The nginx and postgresql roles' shape.
    lab.play(
        r#"
        - pacman:
            name: dtr-hello
            state: present
          register: hello
        - assert:
            that: "not hello.changed or hello.packages == ['dtr-hello']"
        - community.general.pacman:
            name: dtr-nope
          ignore_errors: true
        "#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(msgs(&check)[0], "Would have installed 1 packages");
    assert!(
        diffs(&check).contains("+dtr-hello-1.0-1"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        msgs(&check)[2],
        "Failed to list package(s) to install: error: target not found: dtr-nope"
    );
    assert_eq!(
        lab.sh("node1", installed),
        "error: package 'dtr-hello' was not found\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("cat /opt/dtr-hello/version; {installed}")),
        "1.0\ndtr-hello 1.0-1\n"
    );
    assert!(!Path::new("/opt/dtr-hello").exists());
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A newer version: `update_cache` refreshes the sync database (a
    // change), `latest` upgrades; the next run changes nothing.
    publish(repo.path(), "1.1");
    lab.play(
        r#"
        - pacman:
            name: [dtr-hello]
            state: latest
            update_cache: true
        "#,
    );
    let upgraded = lab.apply(&["--diff"]);
    upgraded.success();
    assert_eq!(changed(&upgraded, "node1"), 1);
    let diff = diffs(&upgraded);
    assert!(diff.contains("-dtr-hello-1.0-1-explicit"), "{diff}");
    assert!(diff.contains("+dtr-hello-1.1-1-explicit"), "{diff}");
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.1\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - pacman:
            name: dtr-hello
            reason: dependency
            reason_for: all
        "#,
    );
    let reason = lab.apply(&[]);
    reason.success();
    assert_eq!(changed(&reason, "node1"), 1);
    assert!(
        lab.sh("node1", "pacman -Qi dtr-hello")
            .contains("Installed as a dependency"),
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - pacman:
            name: dtr-hello
            state: absent
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("-dtr-hello-1.1-1"),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.1\n");
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(msgs(&removed), ["Removed 1 package(s)"]);
    assert_eq!(
        lab.sh("node1", installed),
        "error: package 'dtr-hello' was not found\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn pacman_without_pacman_names_it_and_bad_arguments_are_refused() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - pacman:
            name: nginx
          environment:
            PATH: /nonexistent
          ignore_errors: true
        - pacman:
            name: ./nginx-1.0-1-any.pkg.tar.zst
          ignore_errors: true
        - pacman:
            name: nginx
            upgrade: true
          ignore_errors: true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    let msgs = msgs(&run);
    assert!(
        msgs[0].starts_with("pacman is not installed on the host"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("is not a package name"), "{msgs:?}");
    assert_eq!(msgs[2], "parameters are mutually exclusive: name|upgrade");
}
