//! `lineinfile`, `stat`, `ping` and `find` on real sshd nodes (their `/srv` is
//! private to each node, so the files edited there are the node's own).

use super::{Lab, changed, diffs, failed, results};

const CONFIG: &str = "/srv/app.conf";

#[test]
fn lineinfile_edits_in_check_mode_first_then_for_real_then_not_again() {
    let lab = Lab::plain(1);
    lab.sh("node1", &format!("printf 'a=1\\nport=80\\n' > {CONFIG}"));
    lab.play(&format!(
        r#"
        - name: Set the port
          lineinfile:
            path: {CONFIG}
            regexp: '^port='
            line: port=8080
          register: port
        - name: Add a line after a
          lineinfile:
            path: {CONFIG}
            insertafter: '^a='
            line: b=2
        - name: Remove comments
          lineinfile:
            path: {CONFIG}
            regexp: '^#'
            state: absent
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2);
    let diff = diffs(&check);
    assert!(diff.contains("-port=80\n+port=8080"), "{diff}");
    assert!(diff.contains("+b=2"), "{diff}");
    assert_eq!(lab.sh("node1", &format!("cat {CONFIG}")), "a=1\nport=80\n");

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2);
    assert_eq!(results(&first)[0]["msg"], "line replaced");
    assert_eq!(results(&first)[1]["msg"], "line added");
    assert_eq!(
        lab.sh("node1", &format!("cat {CONFIG}")),
        "a=1\nb=2\nport=8080\n"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);
}

#[test]
fn lineinfile_creates_only_when_asked_and_refuses_bad_arguments() {
    let lab = Lab::plain(1);
    lab.play(
        r#"
        - lineinfile:
            path: /srv/missing.conf
            line: x=1
        "#,
    );
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(failed(&run, "node1"), 1);
    let msg = results(&run)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("Destination /srv/missing.conf does not exist !"),
        "{msg}"
    );

    lab.play(
        r#"
        - lineinfile:
            path: /srv/new/made.conf
            line: x=1
            create: true
            mode: "0600"
        "#,
    );
    lab.apply(&[]).success();
    assert_eq!(
        lab.sh(
            "node1",
            "cat /srv/new/made.conf; stat -c %a /srv/new/made.conf"
        ),
        "x=1\n600\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - lineinfile:
            path: /srv/x
            lines: x=1
        "#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("unknown argument `lines` for `lineinfile`");
}

#[test]
fn stat_registers_ansibles_dictionary_and_ping_answers() {
    let lab = Lab::plain(1);
    lab.sh(
        "node1",
        "printf 'hello\\n' > /srv/f && chmod 0640 /srv/f && ln -sf /srv/f /srv/l",
    );
    lab.play(
        r#"
        - ping:
          register: pinged
        - stat:
            path: /srv/f
            checksum_algorithm: sha256
          register: f
        - stat:
            path: /srv/l
          register: l
        - stat:
            path: /srv/nothing
          register: nothing
        - assert:
            that:
              - pinged.ping == 'pong'
              - f.stat.exists and f.stat.isreg and not f.stat.isdir
              - f.stat.mode == '0640'
              - f.stat.size == 6
              - f.stat.pw_name == 'root'
              - f.stat.checksum == '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03'
              - l.stat.islnk and l.stat.lnk_source == '/srv/f'
              - not nothing.stat.exists
        - ping:
            data: crash
        "#,
    );
    for mode in [&["--check"][..], &[]] {
        let run = lab.apply(mode);
        run.status(2);
        let results = results(&run);
        assert_eq!(results.len(), 6, "{:?}", run.stdout);
        assert_eq!(results[4]["status"], "ok", "{}", run.stdout);
        assert_eq!(results[5]["msg"], "boom");
        assert_eq!(changed(&run, "node1"), 0);
    }
}

#[test]
fn find_lists_what_matches_by_name_type_age_size_and_content() {
    let lab = Lab::plain(1);
    lab.sh(
        "node1",
        "set -e; mkdir -p /srv/logs/old /srv/logs/.cache; cd /srv/logs; \
         printf 'x%.0s' $(seq 1 2048) > big.log; echo small > small.log; echo hi > notes.txt; \
         echo old > old/ancient.log; touch -d '10 days ago' old/ancient.log; echo h > .hidden.log",
    );
    lab.play(
        r#"
        - find:
            paths: /srv/logs
            patterns: "*.log"
          register: top
        - find:
            paths: [/srv/logs, /srv/nowhere]
            patterns: ["*.log"]
            excludes: "small*"
            recurse: true
            hidden: true
          register: deep
        - find:
            paths: /srv/logs
            recurse: true
            age: 2d
          register: aged
        - find:
            paths: /srv/logs
            size: 1k
          register: sized
        - find:
            paths: /srv/logs
            file_type: directory
          register: dirs
        - find:
            paths: /srv/logs
            recurse: true
            contains: "sm.ll|ol"
          register: containing
        - find:
            paths: /srv/logs
            contains: "ll\\n$"
            read_whole_file: true
          register: whole
        - assert:
            that:
              - top.files | map(attribute='path') | sort == ['/srv/logs/big.log', '/srv/logs/small.log']
              - containing.files | map(attribute='path') | sort == ['/srv/logs/old/ancient.log', '/srv/logs/small.log']
              - whole.files | map(attribute='path') | list == ['/srv/logs/small.log']
              - top.matched == 2
              - deep.files | map(attribute='path') | sort == ['/srv/logs/.hidden.log', '/srv/logs/big.log', '/srv/logs/old/ancient.log']
              - "'/srv/nowhere' in deep.skipped_paths"
              - aged.files | map(attribute='path') | list == ['/srv/logs/old/ancient.log']
              - sized.files | map(attribute='path') | list == ['/srv/logs/big.log']
              - sized.files[0].size == 2048 and sized.files[0].isreg
              - dirs.files | map(attribute='path') | list == ['/srv/logs/old']
        - find:
            paths: /srv/logs
            contains: "("
          ignore_errors: true
        - find:
            paths: /srv/logs
            age: 3 fortnights
          ignore_errors: true
        "#,
    );
    for args in [&["--check"][..], &[][..]] {
        let run = lab.apply(args);
        run.success();
        assert_eq!(changed(&run, "node1"), 0);
        let bad = &results(&run)[8];
        assert!(
            bad["msg"]
                .as_str()
                .unwrap_or_default()
                .starts_with("`contains` is not a valid regular expression"),
            "{bad}"
        );
        let last = &results(&run)[9];
        assert!(
            last["msg"]
                .as_str()
                .unwrap_or_default()
                .starts_with("`age` must be a number with an optional unit"),
            "{last}"
        );
    }
}
