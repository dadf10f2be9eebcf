//! Loops over `user` and `group` run their items side by side: each item
//! keeps its own arguments and result, and the host gets one script for
//! every item's check and one for every apply (`connection::batched`),
//! with the real useradd/groupadd on a copy-on-write node. The round trips
//! are counted from the scripts `-vv` shows, so the test fails if the loop
//! runs item by item again.

use super::{Lab, changed, diffs, results};

const HASH: &str = "$6$dtrplaysalt$c3rCipXwI7N7JTXa5ECAqJidxk1zPAxaHaIZIDkGdPMrLJHGvzaus4IlIwXdCH.gJbOvGkheHKTHEyOBh3/.h/";

/// How many scripts `-vv` showed for the task named `task`.
fn scripts_of(stdout: &str, task: &str) -> usize {
    let Some(start) = stdout.find(&format!("TASK [{task}]")) else {
        panic!("no task {task} in:\n{stdout}");
    };
    let rest = &stdout[start + 1..];
    let end = rest.find("TASK [").or_else(|| rest.find("PLAY RECAP"));
    let section = &rest[..end.unwrap_or(rest.len())];
    section.lines().filter(|l| l.trim() == "script:").count()
}

#[test]
fn a_user_loop_sends_its_checks_and_its_applies_once_each() {
    let lab = Lab::copy_on_write(1);
    lab.play(&format!(
        r#"
        - name: groups
          group:
            name: "{{{{ item }}}}"
          loop: [dtr-ops, dtr-dev]
        - name: users
          user:
            name: "{{{{ item.name }}}}"
            uid: "{{{{ item.uid }}}}"
            groups: "{{{{ item.groups }}}}"
            password: "{{{{ item.password | default(omit) }}}}"
            shell: /bin/sh
          loop:
            - {{name: dtr-alice, uid: 2501, groups: dtr-ops, password: '{HASH}'}}
            - {{name: dtr-bob, uid: 2502, groups: dtr-dev}}
            - {{name: dtr-carol, uid: 2503, groups: dtr-ops}}
          loop_control:
            label: "{{{{ item.name }}}}"
          when: item.name != 'dtr-carol'
          register: r
        - name: results
          copy:
            dest: /srv/user-results
            content: "{{% for x in r.results %}}{{{{ x.item.name }}}} changed={{{{ x.changed }}}} skipped={{{{ x.skipped | default(false) }}}} uid={{{{ x.uid | default('-') }}}}\n{{% endfor %}}"
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    let users: Vec<(String, String)> = results(&check)
        .iter()
        .filter(|r| {
            r["item"]
                .as_str()
                .is_some_and(|i| ["dtr-alice", "dtr-bob", "dtr-carol"].contains(&i))
        })
        .map(|r| {
            (
                r["item"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        users,
        [
            ("dtr-alice".into(), "changed".into()),
            ("dtr-bob".into(), "changed".into()),
            ("dtr-carol".into(), "skipped".into()),
        ]
    );
    assert!(diffs(&check).contains("+uid: 2502"), "{}", diffs(&check));
    assert_eq!(
        lab.sh("node1", "getent passwd dtr-alice dtr-bob || echo none"),
        "none\n"
    );

    let first = lab
        .project
        .run(&["apply", "site.yml", "-i", "inventory.yml", "-vv"]);
    first.success();
    // Two groups and two users: one check script and one apply script per
    // task, where the item loop sends four.
    assert_eq!(scripts_of(&first.stdout, "groups"), 2, "{}", first.stdout);
    assert_eq!(scripts_of(&first.stdout, "users"), 2, "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("node1: `user` ran 2 items in one call"),
        "{}",
        first.stdout
    );
    // The password went on stdin, never into what is shown.
    assert!(!first.stdout.contains(HASH), "{}", first.stdout);
    assert!(!first.stdout.contains("dtrplaysalt"), "{}", first.stdout);
    assert_eq!(
        lab.sh(
            "node1",
            "getent passwd dtr-alice dtr-bob | cut -d: -f1,3,7; id -Gn dtr-alice; id -Gn dtr-bob; \
             getent shadow dtr-alice | cut -d: -f2; getent passwd dtr-carol || echo no-carol"
        ),
        format!(
            "dtr-alice:2501:/bin/sh\ndtr-bob:2502:/bin/sh\ndtr-alice dtr-ops\ndtr-bob dtr-dev\n{HASH}\nno-carol\n"
        )
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/user-results"),
        "dtr-alice changed=True skipped=False uid=2501\n\
         dtr-bob changed=True skipped=False uid=2502\n\
         dtr-carol changed=False skipped=True uid=-\n"
    );

    let again = lab.apply(&[]);
    again.success();
    assert_eq!(
        changed(&again, "node1"),
        1,
        "only the results file: {}",
        again.stdout
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/user-results"),
        "dtr-alice changed=False skipped=False uid=2501\n\
         dtr-bob changed=False skipped=False uid=2502\n\
         dtr-carol changed=False skipped=True uid=-\n"
    );
}
