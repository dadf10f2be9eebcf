//! `git` on a real sshd node, cloning a repository the test makes in the
//! node's private `/srv` with the node's own `git`.

use super::{Lab, changed, failed, results};

const UPSTREAM: &str = "/srv/upstream";
const DEST: &str = "/srv/checkout";

/// Commits a file in the upstream repository and returns the new commit id.
fn commit(lab: &Lab, content: &str) -> String {
    lab.sh(
        "node1",
        &format!(
            "cd {UPSTREAM} && printf '%s\\n' '{content}' > app.txt && git add app.txt && \
             git -c user.name=t -c user.email=t@example.com commit -q -m '{content}' && git rev-parse HEAD"
        ),
    )
    .trim()
    .to_string()
}

#[test]
fn git_clones_updates_checks_out_tags_and_refuses_local_changes() {
    let lab = Lab::plain(1);
    lab.sh("node1", &format!("git init -q -b main {UPSTREAM}"));
    let first_commit = commit(&lab, "one");
    lab.play(&format!(
        r#"
        - name: the application
          ansible.builtin.git:
            repo: file://{UPSTREAM}
            dest: {DEST}
          register: app
        - name: record what git returned
          shell: "printf '%s %s\\n' '{{{{ app.before }}}}' '{{{{ app.after }}}}' > /srv/git-result"
          changed_when: false
        - assert:
            that: app.after | length == 40
        "#
    ));
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(
        lab.sh("node1", &format!("test -e {DEST} && echo yes || echo no")),
        "no\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    let recorded = lab.sh("node1", "cat /srv/git-result");
    assert!(
        recorded.ends_with(&format!(" {first_commit}\n")),
        "{recorded}"
    );
    assert!(!recorded.starts_with(&first_commit), "{recorded}");
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "one\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A new commit upstream: check mode sees it, the apply moves to it.
    let second_commit = commit(&lab, "two");
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "one\n");
    let update = lab.apply(&[]);
    update.success();
    assert_eq!(changed(&update, "node1"), 1, "{}", update.stdout);
    assert_eq!(
        lab.sh("node1", "cat /srv/git-result"),
        format!("{first_commit} {second_commit}\n")
    );
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "two\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A tag: the checkout goes back to the tagged commit.
    lab.sh(
        "node1",
        &format!("git -C {UPSTREAM} -c user.name=t -c user.email=t@example.com tag -a v1 -m v1 {first_commit}"),
    );
    lab.play(&format!(
        r#"
        - git: repo=file://{UPSTREAM} dest={DEST} version=v1
          register: app
        - name: record what git returned
          shell: "printf '%s %s\\n' '{{{{ app.before }}}}' '{{{{ app.after }}}}' > /srv/git-result"
          changed_when: false
        "#
    ));
    let tagged = lab.apply(&[]);
    tagged.success();
    assert_eq!(changed(&tagged, "node1"), 1, "{}", tagged.stdout);
    assert_eq!(
        lab.sh("node1", "cat /srv/git-result"),
        format!("{second_commit} {first_commit}\n")
    );
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "one\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Local modifications stop an update unless force discards them.
    lab.sh("node1", &format!("echo local > {DEST}/app.txt"));
    lab.play(&format!(
        r#"
        - git: repo=file://{UPSTREAM} dest={DEST} version=main
        "#
    ));
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    let msg = results(&refused)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("Local modifications exist"),
        "{}",
        refused.stdout
    );
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "local\n");
    lab.play(&format!(
        r#"
        - git: repo=file://{UPSTREAM} dest={DEST} version=main force=true
        "#
    ));
    let forced = lab.apply(&[]);
    forced.success();
    assert_eq!(changed(&forced, "node1"), 1, "{}", forced.stdout);
    assert_eq!(lab.sh("node1", &format!("cat {DEST}/app.txt")), "two\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}
