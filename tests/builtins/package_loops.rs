//! Loops over `apt` and `dnf` collapse into one call on the host: one
//! check, one apply, one apt-get (or dnf) for every item that runs, with
//! results reported per item as Ansible reports a loop. Against the real
//! apt-get/dpkg and dnf/rpm on copy-on-write nodes, with local
//! repositories the test builds (no downloads). The round trips are
//! counted from the scripts `-vv` shows, the apt-get runs from the node's
//! own `/var/log/apt/history.log`, so the tests fail if the loop runs item
//! by item again.

use std::path::Path;
use std::process::Command;

use super::packages::lab_on;
use super::{Lab, changed, diffs, results};

fn run(command: &mut Command) {
    let out = command.output().expect("run the tool");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the Debian packages `names` (version 1.0) into `repo` and writes
/// an index listing them all.
pub(crate) fn publish_debs(repo: &Path, names: &[&str]) {
    use sha2::Digest;
    let mut index = String::new();
    for name in names {
        let work = repo.join(format!("build-{name}"));
        let share = work.join("usr/share").join(name);
        std::fs::create_dir_all(work.join("DEBIAN")).expect("control dir");
        std::fs::create_dir_all(&share).expect("share dir");
        let control = format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: dtrplay <dev@example.com>\nDescription: a test package of dtrplay\n"
        );
        std::fs::write(work.join("DEBIAN/control"), &control).expect("control");
        std::fs::write(share.join("version"), "1.0\n").expect("payload");
        let deb = repo.join(format!("{name}_1.0_all.deb"));
        run(Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&work)
            .arg(&deb));
        std::fs::remove_dir_all(&work).expect("clean the build dir");
        let bytes = std::fs::read(&deb).expect("the package");
        index.push_str(&format!(
            "{control}Filename: ./{name}_1.0_all.deb\nSize: {}\nSHA256: {}\n\n",
            bytes.len(),
            hex::encode(sha2::Sha256::digest(&bytes))
        ));
    }
    std::fs::write(repo.join("Packages"), index).expect("index");
}

/// How many scripts `-vv` showed for the task named `task`: the round
/// trips it cost.
fn scripts_of(stdout: &str, task: &str) -> usize {
    let Some(start) = stdout.find(&format!("TASK [{task}]")) else {
        panic!("no task {task} in:\n{stdout}");
    };
    let rest = &stdout[start + 1..];
    let end = rest.find("TASK [").or_else(|| rest.find("PLAY RECAP"));
    let section = &rest[..end.unwrap_or(rest.len())];
    section.lines().filter(|l| l.trim() == "script:").count()
}

/// The `host_result` events of the looped task (those with an item).
fn items(run: &crate::harness::Run) -> Vec<(String, String)> {
    results(run)
        .iter()
        .filter(|r| r["item"].is_string())
        .map(|r| {
            (
                r["item"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const APT_PLAY: &str = r#"
- name: a package there before
  apt:
    name: dtrplay-a
- name: packages
  apt:
    name: "{{ item }}"
    state: present
  loop: [dtrplay-a, dtrplay-b, dtrplay-c, dtrplay-d]
  when: item != 'dtrplay-d'
  register: r
- name: results
  copy:
    dest: /srv/loop-results
    content: |
      {% for x in r.results %}{{ x.item }} changed={{ x.changed }} skipped={{ x.skipped | default(false) }} var={{ x.ansible_loop_var }}
      {% endfor %}changed={{ r.changed }} items={{ r.results | length }}
"#;

/// The apt-get runs the node's apt logged, one line each.
fn apt_runs(lab: &Lab) -> Vec<String> {
    lab.sh(
        "node1",
        "grep '^Commandline:' /var/log/apt/history.log 2>/dev/null || :",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn an_apt_loop_runs_as_one_apt_get_and_reports_each_item() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish_debs(
        repo.path(),
        &["dtrplay-a", "dtrplay-b", "dtrplay-c", "dtrplay-d"],
    );
    let lab = lab_on(repo.path());
    // The node knows the repository's packages before the check-mode run.
    lab.sh("node1", "apt-get update -q >/dev/null");
    lab.play(APT_PLAY);
    // The node's log starts as a copy of this machine's.
    let before = apt_runs(&lab).len();

    // Check mode: every item's own verdict and diff, nothing installed.
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 3, "{}", check.stdout);
    assert_eq!(
        items(&check),
        [
            ("dtrplay-a".into(), "changed".into()),
            ("dtrplay-b".into(), "changed".into()),
            ("dtrplay-c".into(), "changed".into()),
            ("dtrplay-d".into(), "skipped".into()),
        ]
    );
    let shown = diffs(&check);
    assert!(shown.contains("+dtrplay-b: present"), "{shown}");
    assert!(!shown.contains("+dtrplay-d:"), "{shown}");
    assert_eq!(apt_runs(&lab).len(), before, "check mode runs no apt-get");

    // The real run, verbose: one check and one apply for the loop, one
    // apt-get for both missing packages, and `-v` says so.
    let first = lab
        .project
        .run(&["apply", "site.yml", "-i", "inventory.yml", "-vv"]);
    first.success();
    assert_eq!(scripts_of(&first.stdout, "packages"), 2, "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("node1: `apt` ran 3 items in one call"),
        "{}",
        first.stdout
    );
    let runs = apt_runs(&lab).split_off(before);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs[1].contains("dtrplay-b") && runs[1].contains("dtrplay-c"),
        "{runs:?}"
    );
    assert!(!runs[1].contains("dtrplay-a"), "{runs:?}");
    assert_eq!(
        lab.sh(
            "node1",
            "cat /usr/share/dtrplay-b/version /usr/share/dtrplay-c/version; \
             test -e /usr/share/dtrplay-d || echo no-d"
        ),
        "1.0\n1.0\nno-d\n"
    );
    // The registered value is Ansible's loop result: one result per item,
    // in item order, changed only where the package changed.
    assert_eq!(
        lab.sh("node1", "cat /srv/loop-results"),
        "dtrplay-a changed=False skipped=False var=item\n\
         dtrplay-b changed=True skipped=False var=item\n\
         dtrplay-c changed=True skipped=False var=item\n\
         dtrplay-d changed=False skipped=True var=item\n\
         changed=True items=4\n"
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
        apt_runs(&lab).len(),
        before + 2,
        "no apt-get on the second run"
    );
    assert!(
        lab.sh("node1", "cat /srv/loop-results")
            .starts_with("dtrplay-a changed=False skipped=False var=item\ndtrplay-b changed=False"),
    );
}

#[test]
fn a_failing_collapsed_loop_runs_item_by_item_and_names_the_item() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish_debs(repo.path(), &["dtrplay-a", "dtrplay-b"]);
    let lab = lab_on(repo.path());
    lab.play(
        r#"
        - apt:
            update_cache: true
        - name: packages
          apt:
            name: "{{ item }}"
          loop: [dtrplay-a, no-such-package, dtrplay-b]
        "#,
    );
    let run = lab.project.run(&[
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "-v",
        "--output",
        "json",
    ]);
    run.status(2);
    let by_item: Vec<serde_json::Value> = results(&run)
        .into_iter()
        .filter(|r| r["item"].is_string())
        .collect();
    let statuses: Vec<(&str, &str)> = by_item
        .iter()
        .map(|r| {
            (
                r["item"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("dtrplay-a", "changed"),
            ("no-such-package", "failed"),
            ("dtrplay-b", "changed")
        ]
    );
    assert!(
        by_item[1]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-package")),
        "{:?}",
        by_item[1]
    );
    assert!(
        run.stdout
            .contains("`apt` failed for 3 items in one call; running them one by one"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lab.sh(
            "node1",
            "dpkg-query -W -f='${Package}\\n' dtrplay-a dtrplay-b"
        ),
        "dtrplay-a\ndtrplay-b\n"
    );
}

/// Builds the noarch RPMs `names` (version 1.0) into `repo` and indexes it.
fn publish_rpms(repo: &Path, names: &[&str]) {
    for name in names {
        let top = repo.join(format!("build-{name}"));
        std::fs::create_dir_all(top.join("SPECS")).expect("spec dir");
        let spec = top.join(format!("SPECS/{name}.spec"));
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: a test package of dtrplay\nLicense: MIT\nBuildArch: noarch\n\
                 %description\na test package of dtrplay\n%install\nmkdir -p %{{buildroot}}/opt/{name}\n\
                 echo 1.0 > %{{buildroot}}/opt/{name}/version\n%files\n/opt/{name}/version\n"
            ),
        )
        .expect("spec");
        let define = |key: &str, value: &Path| format!("{key} {}", value.display());
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(define("_topdir", &top))
            .arg("--define")
            .arg(define("_tmppath", &top))
            .arg("--define")
            .arg(define("_rpmdir", repo))
            .arg("-bb")
            .arg(&spec));
        std::fs::remove_dir_all(&top).expect("clean the build dir");
    }
    run(Command::new("createrepo_c").arg("-q").arg(repo));
}

#[test]
fn a_dnf_loop_runs_as_one_dnf_call_and_reports_each_item() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-rpm-repo-")
        .tempdir()
        .expect("repo dir");
    publish_rpms(repo.path(), &["dtr-one", "dtr-two", "dtr-three"]);
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/yum.repos.d && printf '[local]\\nname=local\\nbaseurl=file://{}\\ngpgcheck=0\\n' > /etc/yum.repos.d/local.repo",
            repo.path().display()
        ),
    );
    lab.play(
        r#"
        - name: one first
          dnf:
            name: dtr-one
        - name: packages
          dnf:
            name: "{{ item }}"
          loop: [dtr-one, dtr-two, dtr-three]
          register: r
        - name: results
          copy:
            dest: /srv/loop-results
            content: "{% for x in r.results %}{{ x.item }} {{ x.changed }} {{ x.results | join(',') }}\n{% endfor %}"
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(
        items(&check),
        [
            ("dtr-one".into(), "changed".into()),
            ("dtr-two".into(), "changed".into()),
            ("dtr-three".into(), "changed".into()),
        ]
    );
    let first = lab
        .project
        .run(&["apply", "site.yml", "-i", "inventory.yml", "-vv"]);
    first.success();
    assert_eq!(scripts_of(&first.stdout, "packages"), 2, "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("node1: `dnf` ran 3 items in one call"),
        "{}",
        first.stdout
    );
    assert_eq!(
        lab.sh(
            "node1",
            "rpm -q --qf '%{NAME}\\n' dtr-one dtr-two dtr-three"
        ),
        "dtr-one\ndtr-two\ndtr-three\n"
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/loop-results"),
        "dtr-one False \ndtr-two True Installed: dtr-two\ndtr-three True Installed: dtr-three\n"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(
        changed(&again, "node1"),
        1,
        "only the results file: {}",
        again.stdout
    );
}

#[test]
fn a_pip_loop_runs_as_one_pip_call_and_reports_each_item() {
    let wheels = tempfile::Builder::new()
        .prefix("dtrplay-wheels-")
        .tempdir()
        .expect("wheel dir");
    for name in ["dtrplay-one", "dtrplay-two", "dtrplay-three"] {
        super::pip::wheel(wheels.path(), name, "1.0");
    }
    let links = wheels.path().display().to_string();
    let lab = Lab::plain(1);
    lab.play(&format!(
        r#"
        - name: the virtualenv, with one package
          pip:
            name: dtrplay-one
            virtualenv: /srv/venv
            virtualenv_command: /usr/bin/python3 -m venv
            extra_args: --no-index --find-links {links}
        - name: packages
          pip:
            name: "{{{{ item }}}}"
            virtualenv: /srv/venv
            extra_args: --no-index --find-links {links}
          loop: [dtrplay-one, dtrplay-two, dtrplay-three]
          register: r
        - name: results
          copy:
            dest: /srv/loop-results
            content: "{{% for x in r.results %}}{{{{ x.item }}}} {{{{ x.changed }}}} {{{{ x.name | join(',') }}}}\n{{% endfor %}}"
        "#
    ));
    let first = lab
        .project
        .run(&["apply", "site.yml", "-i", "inventory.yml", "-vv"]);
    first.success();
    assert_eq!(scripts_of(&first.stdout, "packages"), 2, "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains("node1: `pip` ran 3 items in one call"),
        "{}",
        first.stdout
    );
    assert_eq!(
        lab.sh(
            "node1",
            "/srv/venv/bin/python -c 'import dtrplay_two, dtrplay_three; print(dtrplay_two.VERSION)'"
        ),
        "1.0\n"
    );
    assert_eq!(
        lab.sh("node1", "cat /srv/loop-results"),
        "dtrplay-one False dtrplay-one\ndtrplay-two True dtrplay-two\ndtrplay-three True dtrplay-three\n"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(
        changed(&again, "node1"),
        1,
        "only the results file: {}",
        again.stdout
    );
}
