//! `yum_repository` through the binary: the `.repo` file written byte for
//! byte as ansible-core 2.19 writes it, idempotent, removed with its last
//! repository, and read by the real dnf, which installs from the
//! repository it defines (a local `file:` repository, no downloads).

use super::rpm_packages::publish;
use super::{Lab, changed, diffs, results};

/// What ansible-core 2.19.14 wrote for the two tasks of the test (with
/// `file:///REPO` for the local repository's URL): options sorted, lists
/// of URLs continued with a tab, a blank line after each section.
const ORACLE: &str = "[dtr-local]\nbaseurl = file:///REPO\nenabled = 1\ngpgcheck = 0\nname = dtrplay local\n\n\
                      [extra]\nbaseurl = http://127.0.0.1/a\n\thttp://127.0.0.2/b\nenabled = 0\nexclude = a b\nname = Extra repo\npriority = 10\n\n";

#[test]
fn yum_repository_writes_ansibles_bytes_and_dnf_installs_from_it() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-yumrepo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let url = format!("file://{}", repo.path().display());
    let lab = Lab::copy_on_write(1);
    lab.sh(
        "node1",
        "mkdir -p /etc/yum.repos.d && rm -f /etc/yum.repos.d/*.repo",
    );
    let file = "/etc/yum.repos.d/dtr-local.repo";
    lab.play(&format!(
        r#"
        - yum_repository:
            name: dtr-local
            description: dtrplay local
            baseurl: {url}
            gpgcheck: false
            enabled: true
        - ansible.builtin.yum_repository:
            name: extra
            file: dtr-local
            description: Extra repo
            baseurl: [http://127.0.0.1/a, http://127.0.0.2/b]
            exclude: [a, b]
            priority: 10
            enabled: false
            mode: "0600"
          register: extra
        - copy:
            content: "{{{{ extra.repo }}}} {{{{ extra.state }}}}\n"
            dest: /opt/dtrplay-yum-result
        "#
    ));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 3);
    assert!(diffs(&check).contains("+[dtr-local]"), "{}", diffs(&check));
    assert_eq!(
        lab.sh(
            "node1",
            &format!("test -e {file} && echo present || echo gone")
        ),
        "gone\n",
        "check mode wrote nothing"
    );

    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 3);
    assert_eq!(
        lab.sh("node1", &format!("cat {file}")),
        ORACLE.replace("file:///REPO", &url)
    );
    assert_eq!(lab.sh("node1", &format!("stat -c %a {file}")), "600\n");
    assert_eq!(
        lab.sh("node1", "cat /opt/dtrplay-yum-result"),
        "extra present\n"
    );
    assert_eq!(
        changed(&lab.apply(&[]), "node1"),
        0,
        "a second run changes nothing"
    );

    // The real dnf reads the file and installs from the repository it
    // defines; package_facts then reports the package from rpm's database.
    let install = lab.sh(
        "node1",
        "dnf -y -q --releasever=12 --disablerepo='*' --enablerepo=dtr-local install dtr-hello >/dev/null 2>&1; cat /opt/dtr-hello/version",
    );
    assert_eq!(install, "1.0\n");
    lab.play(
        r#"
        - package_facts:
            manager: rpm
        - assert:
            that:
              - "ansible_facts.packages['dtr-hello'] == [{'name': 'dtr-hello', 'version': '1.0', 'release': '1', 'epoch': 'None', 'arch': 'noarch', 'source': 'rpm'}]"
        "#,
    );
    lab.apply(&[]).success();

    // Removing one repository rewrites the file without it; removing the
    // last one removes the file.
    lab.play(
        r#"
        - yum_repository:
            name: extra
            file: dtr-local
            state: absent
        "#,
    );
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert!(diffs(&check).contains("-[extra]"), "{}", diffs(&check));
    assert!(lab.sh("node1", &format!("cat {file}")).contains("[extra]"));
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 1);
    let first = ORACLE.split("[extra]").next().unwrap_or_default();
    assert_eq!(
        lab.sh("node1", &format!("cat {file}")),
        first.replace("file:///REPO", &url)
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play("- yum_repository: name=dtr-local state=absent\n");
    let gone = lab.apply(&[]);
    gone.success();
    assert_eq!(changed(&gone, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            &format!("test -e {file} && echo present || echo gone")
        ),
        "gone\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Ansible's refusals: no URL, no description, no directory.
    lab.play(
        r#"
        - yum_repository: name=a description=a
          ignore_errors: true
        - yum_repository: name=b baseurl=http://127.0.0.1/
          ignore_errors: true
        - yum_repository: name=c description=c baseurl=http://127.0.0.1/ reposdir=/opt/dtrplay-none
          ignore_errors: true
        "#,
    );
    let refused = lab.apply(&[]);
    let msgs: Vec<String> = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        msgs,
        [
            "state is present but any of the following are missing: baseurl, mirrorlist, metalink",
            "state is present but all of the following are missing: description",
            "Repo directory '/opt/dtrplay-none' does not exist.",
        ]
    );
}
