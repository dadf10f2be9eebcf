//! `user` and `group` with the real useradd/usermod/userdel and groupadd
//! family, on nodes whose `/etc` and `/home` are copy-on-write, so that no
//! account on this machine is ever touched.

use super::{Lab, changed, diffs, failed, results};

#[test]
fn group_and_user_are_created_changed_and_removed_with_the_real_tools() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - group:
            name: dtrapp
            gid: 4711
        - user:
            name: dtrapp
            uid: 4711
            group: dtrapp
            groups: [adm]
            shell: /bin/sh
            comment: DTR app
            password: '$6$salt$egUxKNxDs8kPfh8iPMNcosMhb2eWah6d3R44JDm5Rj/j/XWR5E33QPd0YmHXoDHOIDR6kL5D3JcQcz0O8FHE00'
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    assert!(diffs(&check).contains("+uid: 4711"), "{}", diffs(&check));
    assert_eq!(
        lab.sh("node1", "getent passwd dtrapp || echo none"),
        "none\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2);
    assert_eq!(
        lab.sh(
            "node1",
            "getent passwd dtrapp; id -Gn dtrapp; test -d /home/dtrapp && echo home"
        ),
        "dtrapp:x:4711:4711:DTR app:/home/dtrapp:/bin/sh\ndtrapp adm\nhome\n"
    );
    assert!(
        lab.sh("node1", "getent shadow dtrapp")
            .contains("$6$salt$egUxKNx")
    );
    // The host itself never had the account.
    assert!(
        !std::fs::read_to_string("/etc/passwd")
            .unwrap_or_default()
            .contains("dtrapp")
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    lab.play(
        r#"
        - user:
            name: dtrapp
            shell: /bin/bash
        "#,
    );
    let shell = lab.apply(&[]);
    shell.success();
    assert_eq!(changed(&shell, "node1"), 1);
    assert_eq!(
        results(&shell)[0]["msg"],
        "changed user dtrapp: shell /bin/bash"
    );
    assert_eq!(
        lab.sh("node1", "getent passwd dtrapp"),
        "dtrapp:x:4711:4711:DTR app:/home/dtrapp:/bin/bash\n"
    );

    lab.play(
        r#"
        - user:
            name: dtrapp
            state: absent
            remove: true
        - group:
            name: dtrapp
            state: absent
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(
        changed(&check, "node1"),
        2,
        "both still exist in check mode"
    );
    let removed = lab.apply(&[]);
    removed.success();
    // userdel -r also removes the user's own group (USERGROUPS_ENAB), as it
    // does under Ansible, so `group: absent` then finds it gone.
    assert_eq!(changed(&removed, "node1"), 1, "{:?}", results(&removed));
    assert_eq!(
        lab.sh(
            "node1",
            "getent passwd dtrapp || getent group dtrapp || test -d /home/dtrapp || echo gone"
        ),
        "gone\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn a_failing_tool_fails_the_task_with_its_own_words() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - user:
            name: dtrnobody
            group: no-such-group
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let msg = results(&run)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("useradd failed (exit status 6)"), "{msg}");
    assert!(msg.contains("no-such-group"), "{msg}");
    lab.play(
        r#"
        - group:
            name: "-g0"
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert!(
        results(&run)[0]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("not a valid group name")
    );
}

/// A fresh public key line made by the real ssh-keygen.
fn public_key(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path.with_extension("pub"))
        .expect("the public key")
        .trim()
        .to_string()
}

#[test]
fn authorized_keys_are_added_rewritten_made_exclusive_and_removed() {
    let lab = Lab::copy_on_write(1);
    lab.sh("node1", "useradd -m -s /bin/sh dtrkeys");
    let alice = public_key(lab.project.path(), "alice");
    let bob = public_key(lab.project.path(), "bob");
    let play = |extra: &str| {
        lab.play(&format!(
            "- authorized_key:\n    user: dtrkeys\n    key: \"{alice}\"\n{extra}"
        ))
    };
    play("");
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains(&format!("+{alice}")),
        "{}",
        diffs(&check)
    );
    assert_eq!(
        lab.sh("node1", "test -e /home/dtrkeys/.ssh || echo none"),
        "none\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "stat -c '%a %U' /home/dtrkeys/.ssh /home/dtrkeys/.ssh/authorized_keys; cat /home/dtrkeys/.ssh/authorized_keys"
        ),
        format!("700 dtrkeys\n600 dtrkeys\n{alice}\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Options are rewritten in place; a hand-added key stays.
    lab.sh(
        "node1",
        &format!("echo '{bob}' >> /home/dtrkeys/.ssh/authorized_keys"),
    );
    play("    key_options: no-pty,no-port-forwarding\n");
    let options = lab.apply(&[]);
    assert_eq!(changed(&options, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /home/dtrkeys/.ssh/authorized_keys"),
        format!("no-pty,no-port-forwarding {alice}\n{bob}\n")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Exclusive keeps only the task's keys; absent removes one.
    play("    exclusive: true\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /home/dtrkeys/.ssh/authorized_keys"),
        format!("no-pty,no-port-forwarding {alice}\n")
    );
    play("    state: absent\n");
    let removed = lab.apply(&[]);
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(
        lab.sh("node1", "cat /home/dtrkeys/.ssh/authorized_keys"),
        ""
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - authorized_key:
            user: nosuchuser
            key: ssh-ed25519 AAAA x
          ignore_errors: true
        - authorized_key:
            user: dtrkeys
            key: https://github.com/alice.keys
          ignore_errors: true
        "#,
    );
    let errors = lab.apply(&[]);
    errors.success();
    let msgs: Vec<String> = results(&errors)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(msgs[0], "Failed to lookup user nosuchuser");
    assert!(msgs[1].starts_with("invalid key specified"), "{msgs:?}");
}
