//! `pkgng` (FreeBSD's `pkg`) and `openbsd_pkg` (`pkg_info`/`pkg_add`)
//! through the binary. Neither tool exists on Linux, so what can be proved
//! here is what a user sees when a play reaches a Linux host with them:
//! `validate` accepts the java and nginx roles' task shapes, and on a
//! node without the tool the task fails on that host, in check mode and
//! in a real run alike, with a message naming the tool, and nothing on
//! the node changes.

use super::{Lab, changed, failed, results};

#[test]
fn pkgng_and_openbsd_pkg_name_their_missing_tool_per_host_and_change_nothing() {
    let lab = Lab::plain(1);
    let marker = "test -e /srv/dtrplay-bsd-marker && echo yes || echo no";
    lab.project.file(
        "site.yml",
        r#"
- hosts: nodes
  gather_facts: false
  vars:
    java_packages: [openjdk17]
    nginx_package_name: nginx
  tasks:
    - name: Ensure Java is installed.
      pkgng:
        name: "{{ java_packages }}"
        state: present
      ignore_errors: true
    - name: Ensure nginx is installed.
      community.general.pkgng:
        name: "{{ nginx_package_name }}"
        state: latest
        cached: true
      ignore_errors: true
    - name: Ensure nginx is installed on OpenBSD.
      openbsd_pkg:
        name: "{{ nginx_package_name }}"
        state: present
      ignore_errors: true
    - name: Removed with the collection's name.
      community.general.openbsd_pkg:
        name: [nginx, "php-8.2"]
        state: absent
        clean: true
    - name: Never reached.
      copy:
        content: "x\n"
        dest: /srv/dtrplay-bsd-marker
"#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    for extra in [&["--check"][..], &[]] {
        let run = lab.apply(extra);
        run.status(2);
        assert_eq!(failed(&run, "node1"), 1);
        assert_eq!(changed(&run, "node1"), 0);
        let msgs: Vec<String> = results(&run)
            .iter()
            .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        for msg in &msgs[..2] {
            assert!(
                msg.starts_with("pkg is not installed on the host"),
                "{msgs:?}"
            );
        }
        for msg in &msgs[2..] {
            assert!(
                msg.starts_with("pkg_info and pkg_add are not installed on the host"),
                "{msgs:?}"
            );
        }
        assert_eq!(lab.sh("node1", marker), "no\n");
    }

    // Mistakes are refused before any connection.
    lab.play("- pkgng:\n    name: nginx\n    state: installed\n");
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("present, latest, absent");
    lab.play("- openbsd_pkg:\n    state: present\n");
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .status(4)
        .stderr_has("name");
    lab.play("- pkgng:\n    name: nginx\n    rootdir: /a\n    jail: b\n");
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(
        results(&run)[0]["msg"],
        "parameters are mutually exclusive: rootdir|chroot|jail"
    );
}
