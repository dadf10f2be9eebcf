//! Modules of ansible-core itself, of different kinds: facts (`mount_facts`),
//! files the module names itself (`tempfile`), a file edited with a diff
//! (`known_hosts`), the package database (`debconf`, `dpkg_selections`, on
//! copy-on-write nodes), each through the dtrplay binary on real sshd nodes.

use super::{apply, dtrplay};
use crate::builtins::{Lab, changed, diffs, failed, results};

/// The play's `WORK` placeholder becomes a scratch directory of the project.
fn scratch(lab: &Lab) -> String {
    let work = lab.project.path().join("work");
    std::fs::create_dir_all(&work).expect("a scratch directory");
    work.display().to_string()
}

fn files_in(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn mount_facts_and_tempfile_run_their_own_code_and_what_they_return_stays_data() {
    let lab = Lab::plain(1);
    let work = scratch(&lab);
    lab.play(
        &r#"
        - name: read the mounts
          mount_facts:
        - assert: {that: ["ansible_facts.mount_points['/proc'].fstype == 'proc'"]}
        - name: make a temporary file
          ansible.builtin.tempfile:
            path: WORK
            prefix: "{% raw %}{{ 6 * 7 }}{% endraw %}"
          register: made
        - debug: {msg: "made {{ made.path }}"}
          when: made.path is defined
        - name: make one named after a secret
          ansible.builtin.tempfile:
            path: WORK
            prefix: "token-"
            suffix: "-{{ api_token }}"
          register: named
        - debug: {msg: "named {{ named.path }}"}
          when: named.path is defined
        "#
        .replace("WORK", &work),
    );
    let token = "s3cr3t-tok";
    let extra = format!("api_token={token}");

    // Check mode: tempfile cannot check, says so, and creates nothing.
    let check = apply(&lab, &["--check", "-e", &extra]);
    check.success();
    assert_eq!(files_in(&work), 0, "check mode created a file");
    assert!(
        check
            .stdout
            .contains("remote module (ansible.builtin.tempfile) does not support check mode"),
        "{}",
        check.stdout
    );

    let run = apply(&lab, &["-e", &extra]);
    run.success();
    assert_eq!(changed(&run, "node1"), 2, "{}", run.stdout);
    let mut made: Vec<String> = std::fs::read_dir(&work)
        .expect("the scratch directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    made.sort();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made[0].starts_with("token-"), "{made:?}");
    assert!(made[0].ends_with(&format!("-{token}")), "{made:?}");
    assert!(made[1].starts_with("{{ 6 * 7 }}"), "{made:?}");
    let shown = |prefix: &str| {
        results(&run)
            .iter()
            .filter_map(|r| r["msg"].as_str().map(str::to_string))
            .find(|m| m.starts_with(prefix))
            .expect("the debug result")
    };
    // The path came back from the host: it is data, never rendered again
    // (no 42).
    assert_eq!(shown("made "), format!("made {work}/{}", made[1]));
    // A result holding a secret is a secret: it is masked wherever it is shown.
    assert_eq!(shown("named "), "named ********");
    assert!(!run.stdout.contains(token), "{}", run.stdout);

    // `-v` says what runs natively and what through ansible-core.
    let verbose = dtrplay(
        &lab,
        &[
            "apply",
            "site.yml",
            "-i",
            "inventory.yml",
            "-v",
            "-e",
            &extra,
        ],
    );
    verbose.success();
    verbose.stdout_has(
        "`mount_facts` runs through ansible-core 2.19.14 (ansible.builtin.mount_facts)",
    );
    verbose.stdout_has(
        "`ansible.builtin.tempfile` runs through ansible-core 2.19.14 (ansible.builtin.tempfile)",
    );
    verbose.stdout_has("`assert` runs natively");
}

#[test]
fn known_hosts_shows_its_diff_changes_nothing_in_check_mode_and_settles() {
    let lab = Lab::plain(1);
    let work = scratch(&lab);
    let key = lab.project.path().join("dtr_key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(keygen.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("the public key");
    let line = format!("dtr.example.test {}", public.trim());
    lab.play(
        &r#"
        - name: trust the registry's host key
          known_hosts:
            path: WORK/known_hosts
            name: dtr.example.test
            key: "LINE"
        "#
        .replace("WORK", &work)
        .replace("LINE", &line),
    );
    let file = format!("{work}/known_hosts");

    let check = apply(&lab, &["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains(&format!("+{line}")),
        "{}",
        diffs(&check)
    );
    assert!(
        !std::path::Path::new(&file).exists(),
        "check mode wrote the file"
    );

    let first = apply(&lab, &["--diff"]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(
        std::fs::read_to_string(&file).expect("known_hosts written"),
        format!("{line}\n")
    );

    let again = apply(&lab, &[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);
    assert_eq!(failed(&again, "node1"), 0);
}

#[test]
fn debconf_and_dpkg_selections_change_only_a_copy_on_write_nodes_package_database() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: preseed the time zone area
          debconf:
            name: tzdata
            question: tzdata/Areas
            value: Antarctica
            vtype: select
        - name: hold tzdata
          ansible.builtin.dpkg_selections:
            name: tzdata
            selection: hold
        "#,
    );
    let selection = |text: &str| text.split_whitespace().nth(1).unwrap_or("").to_string();
    let ours = std::process::Command::new("dpkg")
        .args(["--get-selections", "tzdata"])
        .output()
        .expect("run dpkg on this machine");
    let ours = selection(&String::from_utf8_lossy(&ours.stdout));

    let check = apply(&lab, &["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert_eq!(
        selection(&lab.sh("node1", "dpkg --get-selections tzdata")),
        ours
    );

    let first = apply(&lab, &[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        selection(&lab.sh("node1", "dpkg --get-selections tzdata")),
        "hold"
    );
    assert!(
        lab.sh("node1", "debconf-show tzdata")
            .contains("tzdata/Areas: Antarctica"),
        "the answer is not in the node's debconf database"
    );

    let again = apply(&lab, &[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
    // This machine's own package database never changed.
    let after = std::process::Command::new("dpkg")
        .args(["--get-selections", "tzdata"])
        .output()
        .expect("run dpkg on this machine");
    assert_eq!(selection(&String::from_utf8_lossy(&after.stdout)), ours);
}
