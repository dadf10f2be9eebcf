//! `dnf` and `yum` with Debian's real dnf and rpm, against a small local
//! repository the test builds (`rpmbuild`, `createrepo_c`, a `file:`
//! baseurl): no downloads. The nodes' `/etc`, `/usr`, `/var` and `/opt` are
//! copy-on-write, so the RPM database and the files the package installs
//! exist on the node only.

use std::path::Path;
use std::process::Command;

use super::{Lab, changed, diffs, results};

fn run(command: &mut Command) {
    let out = command.output().expect("run the tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `dtr-hello` at `version` (a noarch package with one file under
/// `/opt`) into `repo` and indexes the repository again.
pub(super) fn publish(repo: &Path, version: &str) {
    publish_named(repo, "dtr-hello", version);
}

/// Builds the package `name` at `version` (noarch, one file under
/// `/opt/<name>`) into `repo` and indexes the repository again.
pub(super) fn publish_named(repo: &Path, name: &str, version: &str) {
    let top = repo.join(format!("build-{name}-{version}"));
    std::fs::create_dir_all(top.join("SPECS")).expect("spec dir");
    let spec = top.join(format!("SPECS/{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: a test package of dtrplay\nLicense: MIT\nBuildArch: noarch\n\
             %description\na test package of dtrplay\n%install\nmkdir -p %{{buildroot}}/opt/{name}\n\
             echo {version} > %{{buildroot}}/opt/{name}/version\n%files\n/opt/{name}/version\n"
        ),
    )
    .expect("spec");
    let define = |name: &str, value: &Path| format!("{name} {}", value.display());
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(define("_topdir", &top))
        .arg("--define")
        .arg(define("_tmppath", &top))
        .arg("--define")
        .arg(define("_rpmdir", repo))
        .arg("-bb")
        .arg(&spec));
    std::fs::remove_dir_all(&top).expect("clean the build dir");
    run(Command::new("createrepo_c").arg("-q").arg(repo));
}

/// A copy-on-write node whose only repository is the local one.
pub(super) fn lab_with_repo() -> (Lab, tempfile::TempDir) {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-rpm-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/yum.repos.d && printf '[local]\\nname=local\\nbaseurl=file://{}\\ngpgcheck=0\\n' > /etc/yum.repos.d/local.repo",
            repo.path().display()
        ),
    );
    (lab, repo)
}

pub(super) fn msgs(run: &crate::harness::Run) -> Vec<String> {
    results(run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn dnf_and_yum_install_upgrade_and_remove_with_the_real_dnf() {
    let (lab, repo) = lab_with_repo();
    let installed = "rpm -q --qf '%{VERSION}\\n' dtr-hello || :";
    lab.play(
        r#"
        - dnf:
            name: dtr-hello
            releasever: "12"
          register: hello
        - assert:
            that: "not hello.changed or hello.results == ['Installed: dtr-hello']"
        - ansible.builtin.dnf:
            name: dtr-nope
            releasever: "12"
          ignore_errors: true
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+dtr-hello: present"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        msgs(&check)[2],
        "No package matching 'dtr-nope' found available, installed or updated"
    );
    assert_eq!(
        lab.sh("node1", installed),
        "package dtr-hello is not installed\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "cat /opt/dtr-hello/version; rpm -q --qf '%{VERSION}\\n' dtr-hello"
        ),
        "1.0\n1.0\n"
    );
    // The machine itself has neither the package nor its file.
    assert!(!Path::new("/opt/dtr-hello").exists());
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A newer version in the repository: `latest` upgrades (through yum's
    // name, which runs dnf where there is no yum), `present` would not.
    publish(repo.path(), "1.1");
    lab.play(
        r#"
        - yum:
            name: [dtr-hello]
            state: present
            releasever: "12"
        - yum:
            name: dtr-hello
            state: latest
            update_cache: true
            releasever: "12"
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(msgs(&check)[1], "would upgrade dtr-hello");
    let upgraded = lab.apply(&[]);
    upgraded.success();
    assert_eq!(changed(&upgraded, "node1"), 1);
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.1\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - dnf:
            name: dtr-hello
            state: absent
            releasever: "12"
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(msgs(&removed), ["Removed: dtr-hello"]);
    assert_eq!(
        lab.sh("node1", installed),
        "package dtr-hello is not installed\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn dnf_without_dnf_or_yum_names_both_and_odd_names_are_refused() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - dnf:
            name: httpd
          environment:
            PATH: /nonexistent
          ignore_errors: true
        - yum:
            name: "@Development Tools"
          ignore_errors: true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    let msgs = msgs(&run);
    assert!(
        msgs[0].starts_with("neither dnf nor yum is installed on the host"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("is not a package name"), "{msgs:?}");
}

#[test]
fn package_uses_dnf_when_told() {
    let (lab, _repo) = lab_with_repo();
    lab.play(
        r#"
        - package:
            name: dtr-hello
            use: dnf
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(msgs(&check), ["would install dtr-hello"]);
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.0\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
