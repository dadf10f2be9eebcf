//! `getent` through the binary: the host's name service databases as
//! `ansible_facts.getent_<database>` (and as the plain variable), read by
//! later tasks, in check mode too; the failures in ansible-core's words.
//! The oracle case `getent_facts` compares the same facts with
//! ansible-core's.

use super::{Lab, changed, failed, results};

#[test]
fn getent_sets_the_database_as_facts_in_check_mode_too() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - getent:
            database: passwd
            key: root
        - assert:
            that:
              - ansible_facts.getent_passwd.root[1] == '0'
              - getent_passwd.root[4] == '/root'
        - getent:
            database: group
            key: root
            split: ":"
          register: grp
        - assert:
            that:
              - grp.ansible_facts.getent_group.root == ['x', '0', '']
        - ansible.builtin.getent:
            database: ahosts
            key: localhost
          register: hosts
        - assert:
            that:
              - not hosts.changed
              - hosts.ansible_facts.getent_ahosts['127.0.0.1'] | length > 1
              - hosts.ansible_facts.getent_ahosts['127.0.0.1'][0][0] == 'STREAM'
        - getent:
            database: passwd
            key: dtrplay-nobody
            fail_key: false
          register: missing
        - assert:
            that:
              - missing.msg == 'One or more supplied key could not be found in the database.'
              - "ansible_facts.getent_passwd == {'dtrplay-nobody': none}"
        - getent:
            database: passwd
            key: dtrplay-nobody
          ignore_errors: true
        - getent:
            database: dtrplay-nosuchdb
          ignore_errors: true
        - getent:
            database: passwd
          environment:
            PATH: /nonexistent
          ignore_errors: true
        "#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    for extra in [&["--check"][..], &[]] {
        let run = lab.apply(extra);
        run.success();
        assert_eq!(changed(&run, "node1"), 0);
        assert_eq!(failed(&run, "node1"), 0);
        let msgs: Vec<String> = results(&run)
            .iter()
            .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m == "One or more supplied key could not be found in the database.")
        );
        assert!(
            msgs.iter()
                .any(|m| m == "Missing arguments, or database unknown.")
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("getent is not installed on the host")),
            "{msgs:?}"
        );
    }
}
