//! Arguments public content gives that belong to another module than the
//! one it names, through the binary on copy-on-write nodes: `package`
//! passing `enablerepo`/`disable_gpg_check` to the real dnf and
//! `allow_unauthenticated` to the real apt-get, `service` passing
//! `daemon_reload` to systemd, the SELinux arguments of `file`, `copy` and
//! `template` on hosts without SELinux, a scalar where a list is expected,
//! arguments ansible-core removed, and the backend arguments of apt and dnf
//! (`allow_downgrade`, `policy_rc_d`, `exclude`) against the real tools.

use super::packages::{lab_on, publish_with};
use super::rpm_packages::{lab_with_repo, msgs, publish};
use super::{Lab, changed, failed, results};

#[test]
fn package_passes_repository_and_signature_arguments_to_dnf() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-rpm-repo-")
        .tempdir()
        .expect("repo dir");
    publish(repo.path(), "1.0");
    let lab = Lab::copy_on_write(1);
    // Off unless enabled, and asking for signatures the package lacks.
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/yum.repos.d && printf '[local]\\nname=local\\nbaseurl=file://{}\\nenabled=0\\ngpgcheck=1\\n' > /etc/yum.repos.d/local.repo",
            repo.path().display()
        ),
    );
    lab.play(
        r#"
        - name: the repository is disabled
          package: {name: dtr-hello, use: dnf, releasever: "12"}
          ignore_errors: true
        - name: enabled, but the package is not signed
          package: {name: dtr-hello, use: dnf, releasever: "12", enablerepo: local}
          ignore_errors: true
        - name: enabled, signatures not checked
          package:
            name: dtr-hello
            use: dnf
            releasever: "12"
            enablerepo: [local]
            disable_gpg_check: true
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    let statuses: Vec<String> = results(&run)
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["failed", "failed", "changed"],
        "{:?}",
        msgs(&run)
    );
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.0\n");
}

#[test]
fn package_on_apt_takes_apt_arguments_and_refuses_dnf_ones_as_ansible_does() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: apt's own arguments are accepted
          package: {name: bash, allow_unauthenticated: true, update_cache: false}
        - name: dnf's argument on an apt host
          package: {name: bash, enablerepo: epel, disable_gpg_check: true}
          ignore_errors: true
        - name: guarded as content guards it
          package: {name: bash, enablerepo: epel}
          when: ansible_pkg_mgr | default('apt') == 'dnf'
        "#,
    );
    lab.project
        .run(&["validate", "site.yml", "-i", "inventory.yml"])
        .success();
    let run = lab.apply(&["-vv"]);
    run.success();
    assert_eq!(failed(&run, "node1"), 0);
    let said = msgs(&run);
    assert_eq!(
        said[1].split(". ").next(),
        Some("Unsupported parameters for (apt) module: enablerepo, disable_gpg_check"),
        "{said:?}"
    );
    assert_eq!(results(&run)[2]["status"], "skipped");
}

#[test]
fn service_passes_daemon_reload_to_systemd_and_sysvinit_refuses_it() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: systemd's daemon_reload, with no unit
          service: {daemon_reload: true, use: systemd}
          register: reload
        - name: a System V host has nothing to reload
          service: {name: cron, state: started, daemon_reload: true}
          ignore_errors: true
          register: sysv
        - assert:
            that:
              - reload is not failed and reload is not changed
              - sysv is failed
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    let said = msgs(&run);
    assert!(
        said[1].starts_with("Unsupported parameters for (sysvinit) module: daemon_reload"),
        "{said:?}"
    );
    assert!(
        run.stdout.contains("daemon_reload has nothing to reload"),
        "{}",
        run.stdout
    );
    // Without daemon_reload, a name is required, as both modules require it.
    lab.play("- service: {state: started}\n");
    let run = lab.apply(&[]);
    run.status(2);
    assert_eq!(msgs(&run), ["missing required arguments: name"]);
}

#[test]
fn selinux_arguments_change_nothing_where_selinux_is_off() {
    let lab = Lab::copy_on_write(1);
    lab.project
        .file("templates/site.conf.j2", "site {{ inventory_hostname }}\n");
    lab.play(
        r#"
        - file:
            path: /srv/www
            state: directory
            mode: "0755"
            setype: httpd_sys_content_t
            seuser: system_u
        - copy:
            content: "hello\n"
            dest: /srv/www/index.html
            mode: "0644"
            setype: httpd_sys_content_t
            serole: object_r
        - template:
            src: site.conf.j2
            dest: /srv/www/site.conf
            selevel: s0
        "#,
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 3);
    assert_eq!(
        lab.sh("node1", "cat /srv/www/index.html /srv/www/site.conf"),
        "hello\nsite node1\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
}

#[test]
fn a_number_for_a_list_is_a_one_item_list_and_removed_arguments_say_what_replaces_them() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - package: {name: bash, enablerepo: 7}
          when: false
        - get_url:
            url: https://127.0.0.1:1/file
            dest: /tmp/file
            sha256sum: 0123
        - command: /bin/true
          args:
            warn: false
        - docker_network:
            name: swarm
            ipam_options: {subnet: 10.10.0.0/24}
        "#,
    );
    let run = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    run.status(4)
        .stderr_has("argument `sha256sum` of `get_url` was removed from Ansible")
        .stderr_has("write `checksum: sha256:<the hex digest>` instead")
        .stderr_has("argument `warn` of `command` was removed from Ansible")
        .stderr_has("remove `warn:`")
        .stderr_has("argument `ipam_options` of `docker_network` was removed")
        .stderr_has("write `ipam_config:` as a list of mappings");
    assert!(!run.stderr.contains("enablerepo"), "{}", run.stderr);
}

fn statuses(run: &crate::harness::Run) -> Vec<String> {
    results(run)
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn dnf_downgrades_only_when_allowed_and_leaves_excluded_packages_alone() {
    let (lab, repo) = lab_with_repo();
    publish(repo.path(), "2.0");
    lab.play(
        r#"
        - name: the newest
          dnf: {name: dtr-hello, state: latest}
        - name: an older version is not a downgrade unless allowed
          dnf: {name: dtr-hello-1.0}
        - name: allowed
          dnf: {name: dtr-hello-1.0, allow_downgrade: true}
        - name: excluded from the update
          package: {name: dtr-hello, state: latest, use: dnf, exclude: [dtr-hello]}
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(
        statuses(&run),
        ["changed", "ok", "changed", "ok"],
        "{:?}",
        msgs(&run)
    );
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "1.0\n");
    lab.play(
        r#"
        - dnf: {name: dtr-hello, state: latest, exclude: "dtr-*"}
        - dnf: {name: dtr-hello, state: latest}
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(statuses(&run), ["ok", "changed"], "{:?}", msgs(&run));
    assert_eq!(lab.sh("node1", "cat /opt/dtr-hello/version"), "2.0\n");
}

/// Records, from the package's own `postinst`, what `policy-rc.d` said
/// while apt-get ran.
const POSTINST: &str = "#!/bin/sh\nif [ -x /usr/sbin/policy-rc.d ]; then /usr/sbin/policy-rc.d; echo \"policy $?\"; else echo none; fi >> /var/tmp/policy-seen\n";

#[test]
fn apt_downgrades_when_allowed_and_policy_rc_d_holds_only_while_apt_runs() {
    let repo = tempfile::Builder::new()
        .prefix("dtrplay-repo-")
        .tempdir()
        .expect("repo dir");
    publish_with(repo.path(), "1.0", Some(POSTINST), false);
    publish_with(repo.path(), "2.0", Some(POSTINST), true);
    let lab = lab_on(repo.path());
    // A policy of the node's own, which the task must put back.
    lab.sh(
        "node1",
        "printf '#!/bin/sh\\nexit 0\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d",
    );
    lab.play(
        r#"
        - apt: {name: dtrplay-hello, update_cache: true, policy_rc_d: 101}
        - name: a pin below the installed version fails without allow_downgrade
          apt: {name: "dtrplay-hello=1.0"}
          ignore_errors: true
        - package: {name: "dtrplay-hello=1.0", allow_downgrade: true}
        "#,
    );
    let run = lab.apply(&[]);
    run.success();
    assert_eq!(
        statuses(&run),
        ["changed", "failed", "changed"],
        "{:?}",
        msgs(&run)
    );
    assert_eq!(
        lab.sh("node1", "cat /usr/share/dtrplay-hello/version"),
        "1.0\n"
    );
    assert_eq!(
        lab.sh("node1", "cat /var/tmp/policy-seen"),
        "policy 101\npolicy 0\n",
        "101 while the first task's apt-get ran, the node's own policy after"
    );
    assert_eq!(
        lab.sh(
            "node1",
            "cat /usr/sbin/policy-rc.d; ls /usr/sbin | grep -c dtrplay || :"
        ),
        "#!/bin/sh\nexit 0\n0\n",
        "the node's own policy is back and no copy is left"
    );
}
