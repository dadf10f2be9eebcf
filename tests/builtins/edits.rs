//! `blockinfile` and `replace` on real sshd nodes, editing files in the
//! nodes' private `/srv`.

use super::{Lab, changed, diffs, failed, results};

const CONF: &str = "/srv/sshd_config";

#[test]
fn blockinfile_and_replace_edit_in_check_mode_first_then_once() {
    let lab = Lab::plain(1);
    lab.sh(
        "node1",
        &format!("printf 'Port 22\\nPermitRootLogin yes\\n# end\\n' > {CONF}"),
    );
    lab.play(&format!(
        r#"
        - name: Allow the DTR subnet
          blockinfile:
            path: {CONF}
            insertbefore: '^# end'
            block: |
              Match Address 10.0.0.0/8
                PasswordAuthentication no
        - name: No root logins
          replace:
            path: {CONF}
            regexp: '^(PermitRootLogin) yes$'
            replace: '\1 no'
          register: root
        - assert:
            that: root.msg in ['1 replacements made', '']
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    let diff = diffs(&check);
    assert!(
        diff.contains("+# BEGIN ANSIBLE MANAGED BLOCK\n+Match Address 10.0.0.0/8"),
        "{diff}"
    );
    assert!(
        diff.contains("-PermitRootLogin yes\n+PermitRootLogin no"),
        "{diff}"
    );
    assert_eq!(
        lab.sh("node1", &format!("cat {CONF}")),
        "Port 22\nPermitRootLogin yes\n# end\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2);
    assert_eq!(results(&first)[0]["msg"], "Block inserted");
    assert_eq!(results(&first)[1]["msg"], "1 replacements made");
    assert_eq!(
        lab.sh("node1", &format!("cat {CONF}")),
        "Port 22\nPermitRootLogin no\n# BEGIN ANSIBLE MANAGED BLOCK\nMatch Address 10.0.0.0/8\n  PasswordAuthentication no\n# END ANSIBLE MANAGED BLOCK\n# end\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // The block is replaced in place, then removed.
    lab.play(&format!(
        r#"
        - blockinfile:
            path: {CONF}
            block: "Match User dtr"
        "#
    ));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("sed -n 3,5p {CONF}")),
        "# BEGIN ANSIBLE MANAGED BLOCK\nMatch User dtr\n# END ANSIBLE MANAGED BLOCK\n"
    );
    lab.play(&format!(
        r#"
        - blockinfile: path={CONF} state=absent
        "#
    ));
    let removed = lab.apply(&[]);
    assert_eq!(changed(&removed, "node1"), 1);
    assert_eq!(results(&removed)[0]["msg"], "Block removed");
    assert_eq!(
        lab.sh("node1", &format!("cat {CONF}")),
        "Port 22\nPermitRootLogin no\n# end\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - replace: path=/srv/missing regexp=a replace=b
          ignore_errors: true
        - blockinfile: path=/srv/missing block=x
          ignore_errors: true
        - blockinfile: path=/srv/new.conf block=x create=true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(
        results(&run)[0]["msg"],
        "Path /srv/missing does not exist !"
    );
    assert_eq!(
        results(&run)[1]["msg"],
        "Path /srv/missing does not exist !"
    );
    assert_eq!(results(&run)[2]["msg"], "File created");
    assert_eq!(failed(&run, "node1"), 0);
    assert_eq!(
        lab.sh("node1", "cat /srv/new.conf"),
        "# BEGIN ANSIBLE MANAGED BLOCK\nx\n# END ANSIBLE MANAGED BLOCK\n"
    );
}
