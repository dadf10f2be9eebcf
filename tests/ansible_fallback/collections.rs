//! Modules of the community collections (`community.general`,
//! `ansible.posix`), which PyPI carries in the `ansible` package that
//! scripts/oracle installs beside the oracle's ansible-core: PAM limits
//! edited with their diff, a program chosen with update-alternatives, an
//! archive made from a node's files, and a module refused by the host
//! itself (SELinux is absent). Each runs through the dtrplay binary on copy-on-write nodes, in
//! check mode first, then for real, then again with nothing left to change.

use super::{apply, dtrplay};
use crate::builtins::{Lab, changed, diffs, failed, results};

/// What community.general.sefcontext says (through ansible-core's
/// `missing_required_lib`) on a host whose Python lacks the SELinux
/// bindings: the host's name and Python are the node's.
fn sefcontext_refusal(hostname: &str) -> String {
    format!(
        "Failed to import the required Python library (libselinux-python) on {hostname}'s Python /usr/bin/python3. \
         Please read the module documentation and install it in the appropriate location. \
         If the required library is installed, but Ansible is using the wrong Python interpreter, \
         please consult the documentation on ansible_python_interpreter"
    )
}

/// The messages of a run's failed results.
fn failures(run: &crate::harness::Run) -> String {
    results(run)
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pam_limits_by_its_short_name_edits_with_a_diff_and_settles() {
    let lab = Lab::copy_on_write(1);
    let conf = "/etc/security/limits.conf";
    let before = lab.sh("node1", &format!("cat {conf}"));
    let machine = std::fs::read_to_string(conf).unwrap_or_default();
    lab.play(
        r#"
        - name: more open files for dtr
          pam_limits:
            domain: dtr
            limit_type: soft
            limit_item: nofile
            value: "65536"
        - name: and a hard limit
          community.general.pam_limits:
            domain: dtr
            limit_type: hard
            limit_item: nofile
            value: "131072"
        "#,
    );

    let check = apply(&lab, &["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    let shown = diffs(&check);
    assert!(shown.contains("+dtr\tsoft\tnofile\t65536"), "{shown}");
    assert!(shown.contains("+dtr\thard\tnofile\t131072"), "{shown}");
    assert_eq!(lab.sh("node1", &format!("cat {conf}")), before);

    let first = apply(&lab, &["--diff"]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        lab.sh("node1", &format!("cat {conf}")),
        format!("{before}dtr\tsoft\tnofile\t65536\ndtr\thard\tnofile\t131072\n")
    );
    // The machine's own limits.conf is as it was.
    assert_eq!(std::fs::read_to_string(conf).unwrap_or_default(), machine);

    let again = apply(&lab, &[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // `-v` names the collection module the short name resolved to, as
    // Ansible resolves it (ansible.builtin's redirect).
    let verbose = dtrplay(
        &lab,
        &["apply", "site.yml", "-i", "inventory.yml", "-v", "--check"],
    );
    verbose.success();
    verbose
        .stdout_has("`pam_limits` runs through ansible-core 2.19.14 (community.general.pam_limits)")
        .stdout_has(
            "`community.general.pam_limits` runs through ansible-core 2.19.14 (community.general.pam_limits)",
        );

    // The module's own error: a limit is a number or unlimited.
    lab.play(
        r#"
        - community.general.pam_limits: {domain: dtr, limit_type: soft, limit_item: nofile, value: lots}
        "#,
    );
    let refused = apply(&lab, &[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    assert!(
        failures(&refused).contains("Value of 'lots' for item 'nofile' is invalid"),
        "{}",
        refused.stdout
    );
}

#[test]
fn alternatives_points_a_link_at_one_program_then_another() {
    let lab = Lab::copy_on_write(1);
    let play = |path: &str| {
        lab.play(&format!(
            r#"
        - name: the lab's answer
          community.general.alternatives:
            name: dtrplay-answer
            link: /usr/local/bin/dtrplay-answer
            path: {path}
        "#
        ))
    };
    let target = |lab: &Lab| {
        lab.sh(
            "node1",
            "readlink /usr/local/bin/dtrplay-answer /etc/alternatives/dtrplay-answer; true",
        )
    };
    play("/bin/true");

    let check = apply(&lab, &["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert!(diffs(&check).contains("/bin/true"), "{}", diffs(&check));
    assert_eq!(target(&lab), "", "check mode made the link");

    let first = apply(&lab, &[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(
        target(&lab),
        "/etc/alternatives/dtrplay-answer\n/bin/true\n"
    );
    assert_eq!(
        lab.sh("node1", "dtrplay-answer && echo yes || echo no"),
        "yes\n"
    );
    assert_eq!(changed(&apply(&lab, &[]), "node1"), 0);

    // Another program: check mode leaves the first, the apply moves it.
    play("/bin/false");
    let check = apply(&lab, &["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert!(target(&lab).ends_with("/bin/true\n"));
    let second = apply(&lab, &[]);
    second.success();
    assert_eq!(changed(&second, "node1"), 1, "{}", second.stdout);
    assert!(target(&lab).ends_with("/bin/false\n"), "{}", target(&lab));
    assert_eq!(
        lab.sh("node1", "dtrplay-answer && echo yes || echo no"),
        "no\n"
    );
    assert_eq!(changed(&apply(&lab, &[]), "node1"), 0);
    // The machine's own alternatives never had it.
    assert!(!std::path::Path::new("/etc/alternatives/dtrplay-answer").exists());

    // The module's own error: the program must exist.
    play("/usr/bin/dtrplay-nowhere");
    let refused = apply(&lab, &[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    assert!(
        failures(&refused).contains("Specified path /usr/bin/dtrplay-nowhere does not exist"),
        "{}",
        refused.stdout
    );
    assert!(target(&lab).ends_with("/bin/false\n"));
}

#[test]
fn archive_packs_a_nodes_files_once() {
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        "mkdir -p /opt/app/conf && echo one > /opt/app/conf/a.conf && echo two > /opt/app/conf/b.conf",
    );
    lab.play(
        r#"
        - name: keep the configuration
          community.general.archive:
            path: /opt/app/conf
            dest: /var/backups/app-conf.tar.gz
            format: gz
        "#,
    );
    let exists = |lab: &Lab| {
        lab.sh(
            "node1",
            "test -e /var/backups/app-conf.tar.gz && echo yes || echo no",
        )
        .trim()
        .to_string()
    };

    let check = apply(&lab, &["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(exists(&lab), "no", "check mode wrote the archive");

    let first = apply(&lab, &[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    let listed = lab.sh("node1", "tar -tzf /var/backups/app-conf.tar.gz | sort");
    assert!(
        listed.contains("a.conf") && listed.contains("b.conf"),
        "{listed}"
    );

    let again = apply(&lab, &[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    lab.play(
        r#"
        - community.general.archive: {path: /opt/app/conf, dest: /var/nowhere/app.tar.gz}
        "#,
    );
    let refused = apply(&lab, &[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    assert!(
        failures(&refused).contains("/var/nowhere/app.tar.gz"),
        "{}",
        refused.stdout
    );
    assert_eq!(
        lab.sh("node1", "test -e /var/nowhere && echo yes || echo no"),
        "no\n"
    );
}

#[test]
fn sefcontext_is_refused_by_the_module_where_selinux_is_absent() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: label the web content
          community.general.sefcontext:
            target: '/srv/web(/.*)?'
            setype: httpd_sys_content_t
        - debug: {msg: "not reached"}
        "#,
    );
    let etc = || lab.sh("node1", "ls /etc");
    let before = etc();
    let expected = sefcontext_refusal(lab.sh("node1", "hostname").trim());
    for extra in [&["--check"][..], &[][..]] {
        let run = apply(&lab, extra);
        run.status(2);
        assert_eq!(failed(&run, "node1"), 1, "{}", run.stdout);
        assert_eq!(changed(&run, "node1"), 0, "{}", run.stdout);
        // The module's own message: the Python library it needs is missing.
        let why: Vec<String> = results(&run)
            .iter()
            .filter(|r| r["status"] == "failed")
            .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(why, std::slice::from_ref(&expected), "{}", run.stdout);
        assert!(!run.stdout.contains("not reached"), "{}", run.stdout);
    }
    assert_eq!(etc(), before, "the refused module changed /etc");
}
