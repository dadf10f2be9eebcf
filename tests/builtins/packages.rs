//! `apt` and `package` with the real apt-get and dpkg, against a small
//! local repository the test builds (`dpkg-deb --build`, a hand-written
//! `Packages` index, a `file:` source): no downloads. The nodes' `/etc`,
//! `/usr` and `/var` are copy-on-write, so the host's package database
//! never changes.

use std::path::Path;
use std::process::Command;

use super::{Lab, changed, diffs, failed, results};

/// Builds `dtrplay-hello` at `version` into `repo` and rewrites the index.
pub(super) fn publish(repo: &Path, version: &str) {
    publish_with(repo, version, None, false);
}

/// Builds `dtrplay-hello` at `version` with an optional `postinst` script
/// into `repo`; the index then lists it alone, or beside the versions
/// listed before when `keep` (so an older version stays installable).
pub(super) fn publish_with(repo: &Path, version: &str, postinst: Option<&str>, keep: bool) {
    let work = repo.join(format!("build-{version}"));
    let share = work.join("usr/share/dtrplay-hello");
    std::fs::create_dir_all(work.join("DEBIAN")).expect("control dir");
    std::fs::create_dir_all(&share).expect("share dir");
    let control = format!(
        "Package: dtrplay-hello\nVersion: {version}\nArchitecture: all\nMaintainer: dtrplay <dev@example.com>\nDescription: a test package of dtrplay\n"
    );
    std::fs::write(work.join("DEBIAN/control"), &control).expect("control");
    std::fs::write(share.join("version"), format!("{version}\n")).expect("payload");
    if let Some(script) = postinst {
        use std::os::unix::fs::PermissionsExt;
        let path = work.join("DEBIAN/postinst");
        std::fs::write(&path, script).expect("postinst");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("mode");
    }
    let deb = repo.join(format!("dtrplay-hello_{version}_all.deb"));
    let status = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&work)
        .arg(&deb)
        .output()
        .expect("run dpkg-deb");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::remove_dir_all(&work).expect("clean the build dir");
    // The newest version only, as a repository publishes it, unless the
    // test keeps the older ones.
    let bytes = std::fs::read(&deb).expect("the package");
    use sha2::Digest;
    let mut index = match keep {
        true => std::fs::read_to_string(repo.join("Packages")).unwrap_or_default(),
        false => String::new(),
    };
    index.push_str(&format!(
        "{control}Filename: ./{}\nSize: {}\nSHA256: {}\n\n",
        deb.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        bytes.len(),
        hex::encode(sha2::Sha256::digest(&bytes))
    ));
    std::fs::write(repo.join("Packages"), index).expect("index");
}

/// A node whose only apt source is the local repository.
fn lab_with_repo() -> (Lab, tempfile::TempDir) {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    (lab_on(repo.path()), repo)
}

/// A copy-on-write node whose only apt source is `repo`.
pub(super) fn lab_on(repo: &Path) -> Lab {
    let lab = Lab::copy_on_write(1);
    use_only(&lab.nodes, "node1", repo);
    lab
}

/// Makes `repo` the only apt source of the copy-on-write node `node`.
pub(crate) fn use_only(nodes: &crate::harness::Nodes, node: &str, repo: &Path) {
    // The repository sits in the test run's private temporary directory
    // (mode 0700 under ./scripts/test), which apt's unprivileged `_apt`
    // download user cannot enter; on this node only, apt downloads as root.
    nodes.sh(
        node,
        &format!(
            "echo 'APT::Sandbox::User \"root\";' > /etc/apt/apt.conf.d/99dtrplay-test-sandbox && \
             rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && \
             rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp && \
             touch -d @0 /var/lib/apt/lists && \
             echo 'deb [trusted=yes] file:{} ./' > /etc/apt/sources.list.d/dtrplay-test.list",
            repo.display()
        ),
    );
}

#[test]
fn apt_installs_upgrades_and_removes_from_a_local_repository() {
    let (lab, repo) = lab_with_repo();
    lab.play(
        r#"
        - apt:
            name: [dtrplay-hello]
            update_cache: true
            cache_valid_time: 3600
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains("+dtrplay-hello: present"),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh(
            "node1",
            "dpkg-query -W dtrplay-hello 2>/dev/null || echo none"
        ),
        "none\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(results(&first)[0]["msg"], "dtrplay-hello 1.0");
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.0\n"
    );
    assert!(
        !Path::new("/usr/share/dtrplay-hello").exists(),
        "the host is untouched"
    );
    // The cache is fresh (cache_valid_time) and the package is there.
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    publish(repo.path(), "1.1");
    lab.play(
        r#"
        - apt:
            name: dtrplay-hello
            state: latest
            update_cache: true
        "#,
    );
    let latest = lab.apply(&[]);
    latest.success();
    assert_eq!(changed(&latest, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.1\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - package:
            name: dtrplay-hello
            state: absent
        "#,
    );
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.1\n"
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "test -e /usr/share/dtrplay-hello/version || echo gone"
        ),
        "gone\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn apt_installs_a_deb_file_and_names_unknown_packages() {
    let (lab, repo) = lab_with_repo();
    // A file name that says nothing about the package: the check must read
    // the package and version from the deb's control file.
    std::fs::copy(
        repo.path().join("dtrplay-hello_1.0_all.deb"),
        repo.path().join("download.deb"),
    )
    .expect("copy the deb");
    lab.play(&format!(
        r#"
        - apt:
            deb: {}/download.deb
        "#,
        repo.path().display()
    ));
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.0\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - apt:
            name: [dtrplay-hello, dtrplay-no-such-package]
            update_cache: true
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let msg = results(&run)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("dtrplay-no-such-package"), "{msg}");
}
