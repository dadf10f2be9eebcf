//! `ini_file` (community.general's, by either name) as a built-in, on a
//! copy-on-write node: check mode with the file's diff changes nothing, the
//! real run writes exactly the collection's bytes, a second run changes
//! nothing, and the module's errors.

use super::{Lab, changed, diffs, results};

const APP: &str = "/etc/dtrplay/app.ini";

/// Who ran each task, as the JSON report's `task_start` events say.
fn runners(run: &crate::harness::Run) -> Vec<String> {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == "task_start")
        .map(|e| e["runner"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn ini_file_sets_adds_and_removes_options_by_either_name() {
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/dtrplay && printf '# app\\n[server]\\n;port = 1\\nport=80\\n\\n[old]\\nx = 1\\n' > {APP}"
        ),
    );
    lab.play(&format!(
        r#"
        - name: serve on 8443
          ini_file:
            path: {APP}
            section: server
            option: port
            value: 8443
          register: port
        - name: record what ini_file returned
          copy:
            dest: /etc/dtrplay/result
            content: "{{{{ port.msg }}}} {{{{ port.path }}}}\n"
          when: port is changed
        - name: name the registry
          community.general.ini_file:
            dest: {APP}
            section: registry
            option: host
            values: [a.example.test, b.example.test]
            mode: "0640"
        - name: no more old section
          community.general.ini_file:
            path: {APP}
            section: old
            state: absent
        - name: a flag without a value, in a new file
          ini_file:
            path: /etc/dtrplay/new/my.cnf
            section: mysqld
            option: skip-name-resolve
            allow_no_value: true
            no_extra_spaces: true
        "#
    ));
    let before = "# app\n[server]\n;port = 1\nport=80\n\n[old]\nx = 1\n";

    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 5, "{}", check.stdout);
    assert_eq!(
        runners(&check).iter().filter(|r| *r == "natively").count(),
        5,
        "{:?}",
        runners(&check)
    );
    let shown = diffs(&check);
    assert!(shown.contains("-;port = 1"), "{shown}");
    assert!(shown.contains("-port=80"), "{shown}");
    assert!(shown.contains("+port = 8443"), "{shown}");
    assert!(shown.contains("+host = b.example.test"), "{shown}");
    assert!(shown.contains("+skip-name-resolve"), "{shown}");
    assert_eq!(lab.sh("node1", &format!("cat {APP}")), before);
    assert_eq!(
        lab.sh("node1", "test -e /etc/dtrplay/new && echo yes || echo no"),
        "no\n"
    );

    let first = lab.apply(&["--diff"]);
    first.success();
    assert_eq!(changed(&first, "node1"), 5, "{}", first.stdout);
    // The bytes community.general 11 writes for these edits (checked with
    // the collection itself).
    assert_eq!(
        lab.sh("node1", &format!("cat {APP}")),
        "# app\n[server]\nport = 8443\n\n[registry]\nhost = a.example.test\nhost = b.example.test\n"
    );
    assert_eq!(lab.sh("node1", &format!("stat -c %a {APP}")), "640\n");
    assert_eq!(
        lab.sh("node1", "cat /etc/dtrplay/new/my.cnf"),
        "\n[mysqld]\nskip-name-resolve\n"
    );
    assert_eq!(
        lab.sh("node1", "cat /etc/dtrplay/result"),
        format!("option changed {APP}\n")
    );
    // The machine's own /etc never had the file.
    assert!(!std::path::Path::new(APP).exists());

    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
    let msgs: Vec<String> = results(&again)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(msgs[0], "OK", "{msgs:?}");

    // Errors: a directory is no INI file; a missing file with create: false;
    // state present without a value.
    lab.play(
        r#"
        - community.general.ini_file: {path: /etc/dtrplay, section: a, option: b, value: c}
          ignore_errors: true
        - ini_file: {path: /etc/dtrplay/none.ini, section: a, option: b, value: c, create: false}
          ignore_errors: true
        - ini_file: {path: /etc/dtrplay/x.ini, section: a, option: b}
          ignore_errors: true
        "#,
    );
    let refused = lab.apply(&[]);
    refused.success();
    assert_eq!(refused.recap()["node1"]["ignored"], 3, "{}", refused.stdout);
    let msgs: Vec<String> = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(msgs[0], "Path /etc/dtrplay is a directory !", "{msgs:?}");
    assert_eq!(
        msgs[1], "Destination /etc/dtrplay/none.ini does not exist!",
        "{msgs:?}"
    );
    assert_eq!(
        msgs[2], "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        "{msgs:?}"
    );
    assert_eq!(lab.sh("node1", "ls /etc/dtrplay"), "app.ini\nnew\nresult\n");
}
