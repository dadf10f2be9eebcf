//! `script` on real sshd nodes: a script of the project's `files/` sent to
//! the node and run there by its own shell, with the line's arguments.

use super::{Lab, changed, results};

#[test]
fn script_runs_with_its_arguments_in_chdir_unless_creates_exists() {
    let lab = Lab::plain(1);
    lab.project.file(
        "files/setup.sh",
        "#!/bin/sh\nset -e\necho \"args: $# $1|$2\"\necho \"in $(pwd)\" >&2\nprintf 'made by %s\\n' \"$1\" > /srv/made.txt\ndirname \"$0\" > /srv/dir.txt\n",
    );
    lab.project.file("files/fails.sh", "echo failing; exit 3\n");
    lab.sh("node1", "mkdir -p /srv/work");
    lab.play(
        r#"
        - script: setup.sh "two words" $HOME
          args:
            chdir: /srv/work
            creates: /srv/made.txt
          register: ran
        - script:
            cmd: fails.sh
            executable: /bin/sh
          ignore_errors: true
          register: failing
        - debug:
            msg: "{{ ran.rc | default('-') }}|{{ ran.stdout | default('-') }}|{{ ran.stderr | default('-') }}|{{ failing.rc }}|{{ failing.stdout }}"
          when: not ansible_check_mode
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    let checked = results(&check);
    assert_eq!(checked[0]["status"], "changed", "{}", checked[0]);
    assert_eq!(checked[1]["status"], "skipped", "{}", checked[1]);
    assert_eq!(lab.sh("node1", "ls /srv"), "work\n");

    let first = lab.apply(&[]);
    first.success();
    let results_first = results(&first);
    assert_eq!(results_first[0]["status"], "changed");
    assert_eq!(results_first[1]["msg"], "non-zero return code");
    // `$HOME` is expanded by the node's shell, as in Ansible.
    let home = lab.sh("node1", "printf %s \"$HOME\"");
    assert_eq!(
        results_first[2]["msg"],
        format!("0|args: 2 two words|{home}|in /srv/work|3|failing")
    );
    assert_eq!(lab.sh("node1", "cat /srv/made.txt"), "made by two words\n");
    // The temporary copy of the script is gone.
    assert_eq!(
        lab.sh(
            "node1",
            "test -e \"$(cat /srv/dir.txt)\" && echo left || echo gone"
        ),
        "gone\n"
    );

    let again = lab.apply(&[]);
    again.success();
    let results_again = results(&again);
    assert_eq!(
        results_again[0]["status"], "skipped",
        "{}",
        results_again[0]
    );
    assert_eq!(
        results_again[0]["msg"],
        "/srv/made.txt exists, matching creates option"
    );
    // fails.sh has no creates: it runs every time.
    assert_eq!(results_again[1]["msg"], "non-zero return code");
    assert_eq!(changed(&again, "node1"), 0);

    lab.play(
        r#"
        - script: missing.sh
        "#,
    );
    let missing = lab.apply(&[]);
    missing.status(2);
    assert_eq!(
        results(&missing)[0]["msg"],
        "Could not find or access 'missing.sh' on the Ansible Controller."
    );
}
