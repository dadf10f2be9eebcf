//! `timezone`, `firewalld` and `seboolean` as built-ins, by their collection
//! names and their short names, on copy-on-write nodes: the time zone the
//! Debian way (the lab's nodes do not run systemd), firewalld's permanent
//! configuration through the real `firewall-offline-cmd` (no daemon is ever
//! started), and seboolean refused as Ansible refuses it where SELinux is
//! absent.

use super::{Lab, changed, diffs, failed, results};

/// How many `task_start` events of a run say that `module` runs natively
/// (the event names the built-in, however the task spelled it).
fn native(run: &crate::harness::Run, module: &str) -> usize {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == "task_start" && e["module"] == module)
        .inspect(|e| assert_eq!(e["runner"], "natively", "{e}"))
        .count()
}

/// The messages of a run's host results, in order.
fn messages(run: &crate::harness::Run) -> Vec<String> {
    results(run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn timezone_links_localtime_writes_etc_timezone_and_adjtime() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: the office's time
          community.general.timezone:
            name: Europe/Paris
          register: tz
        - name: the hardware clock keeps local time
          timezone: {hwclock: local}
        - name: record what timezone returned
          shell: "printf '%s %s\\n' '{{ tz.diff.before.name }}' '{{ tz.diff.after.name }}' > /srv/tz-result"
          changed_when: false
        "#,
    );
    let ours = (
        std::fs::read_to_string("/etc/timezone").unwrap_or_default(),
        std::fs::read_link("/etc/localtime").ok(),
        std::path::Path::new("/etc/adjtime").exists(),
    );
    let zone = |lab: &Lab| {
        lab.sh(
            "node1",
            "cat /etc/timezone; readlink /etc/localtime; sed -n 3p /etc/adjtime 2>/dev/null; true",
        )
    };
    let before = zone(&lab);

    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    let shown = diffs(&check);
    assert!(shown.contains("+name: Europe/Paris"), "{shown}");
    assert!(shown.contains("-hwclock: UTC"), "{shown}");
    assert!(shown.contains("+hwclock: local"), "{shown}");
    assert_eq!(zone(&lab), before, "check mode changed the time zone");
    // Both spellings run natively.
    assert_eq!(native(&check, "timezone"), 2, "{}", check.stdout);

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        zone(&lab),
        "Europe/Paris\n../usr/share/zoneinfo/Europe/Paris\nLOCAL\n"
    );
    let old = before.lines().next().unwrap_or_default().to_string();
    assert_eq!(
        lab.sh("node1", "cat /srv/tz-result"),
        format!("{old} Europe/Paris\n")
    );
    // The node's own programs read the new zone.
    let abbrev = lab.sh("node1", "date +%Z");
    assert!(
        abbrev == "CET\n" || abbrev == "CEST\n",
        "date says {abbrev:?}"
    );

    let again = lab.apply(&["--diff"]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);
    assert_eq!(
        lab.sh("node1", "cat /srv/tz-result"),
        "Europe/Paris Europe/Paris\n"
    );
    assert_eq!(
        (
            std::fs::read_to_string("/etc/timezone").unwrap_or_default(),
            std::fs::read_link("/etc/localtime").ok(),
            std::path::Path::new("/etc/adjtime").exists(),
        ),
        ours,
        "this machine's time zone changed"
    );

    // A zone tzdata does not have, and one that would leave zoneinfo.
    for bad in ["Mars/Olympus_Mons", "../../etc/passwd"] {
        lab.play(&format!("- timezone: {{name: '{bad}'}}\n"));
        let refused = lab.apply(&["--check"]);
        refused.status(2);
        assert_eq!(failed(&refused, "node1"), 1);
        let why = messages(&refused).join("\n");
        assert!(
            why.contains(&format!("given timezone \"{bad}\" is not available")),
            "{why}"
        );
    }
    assert!(zone(&lab).starts_with("Europe/Paris\n"));
}

#[test]
fn firewalld_edits_the_permanent_configuration_offline() {
    let lab = Lab::copy_on_write(1);
    let list = |lab: &Lab| lab.sh("node1", "firewall-offline-cmd --zone=public --list-all");
    let line = |listing: &str, key: &str| {
        listing
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    lab.play(
        r#"
        - name: serve the web
          ansible.posix.firewalld:
            service: http
            permanent: true
            state: enabled
        - name: and the registry
          firewalld:
            port: 8080/tcp
            zone: public
            permanent: true
            immediate: true
            offline: true
            state: enabled
        "#,
    );
    let before = list(&lab);
    assert!(!line(&before, "services").contains(&"http".to_string()));

    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 2, "{}", check.stdout);
    assert!(
        diffs(&check).contains("+permanent: service http enabled"),
        "{}",
        diffs(&check)
    );
    assert_eq!(list(&lab), before, "check mode changed the zone");
    assert_eq!(native(&check, "firewalld"), 2, "{}", check.stdout);

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 2, "{}", first.stdout);
    assert_eq!(
        messages(&first),
        [
            "Permanent operation, Changed service http to enabled, (offline operation: only on-disk configs were altered)",
            "Permanent operation, Changed port 8080/tcp to enabled, (offline operation: only on-disk configs were altered)",
        ]
    );
    let after = list(&lab);
    assert!(
        line(&after, "services").contains(&"http".to_string()),
        "{after}"
    );
    assert_eq!(line(&after, "ports"), ["8080/tcp"], "{after}");
    // The machine's own firewalld configuration is untouched.
    assert!(!std::path::Path::new("/etc/firewalld/zones/public.xml").exists());

    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // disabled removes both; a second run has nothing left to remove.
    lab.play(
        r#"
        - firewalld: {service: http, permanent: true, state: disabled}
        - ansible.posix.firewalld: {port: 8080/tcp, permanent: true, state: disabled}
        "#,
    );
    let removed = lab.apply(&[]);
    removed.success();
    assert_eq!(changed(&removed, "node1"), 2, "{}", removed.stdout);
    let after = list(&lab);
    assert!(
        !line(&after, "services").contains(&"http".to_string()),
        "{after}"
    );
    assert!(line(&after, "ports").is_empty(), "{after}");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // A runtime change needs the daemon, which the node does not run.
    lab.play(
        r#"
        - firewalld: {service: https, state: enabled}
        - firewalld: {service: https, permanent: true, immediate: true, state: enabled}
        "#,
    );
    let refused = lab.apply(&[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    let why = messages(&refused).join("\n");
    assert!(
        why.contains("firewall is not currently running, unable to perform immediate actions without a running firewall daemon"),
        "{why}"
    );
    assert!(!line(&list(&lab), "services").contains(&"https".to_string()));
}

#[test]
fn seboolean_fails_as_ansible_does_where_selinux_is_absent() {
    let lab = Lab::copy_on_write(1);
    lab.play(
        r#"
        - name: let the web server connect out
          ansible.posix.seboolean:
            name: httpd_can_network_connect
            state: true
            persistent: true
          ignore_errors: true
        - name: the short name fails the same way
          seboolean: {name: httpd_can_network_connect, state: false}
          ignore_errors: true
        - name: told to go on regardless, there is no active value to set
          seboolean: {name: httpd_can_network_connect, state: true, ignore_selinux_state: true}
        - name: the play goes on
          copy: {content: "went on\n", dest: /srv/after-seboolean}
        "#,
    );
    for extra in [&["--check"][..], &[][..]] {
        let run = lab.apply(extra);
        run.success();
        let all = results(&run);
        let refused: Vec<_> = all.iter().filter(|r| r["status"] == "failed").collect();
        assert_eq!(refused.len(), 2, "{}", run.stdout);
        for r in refused {
            assert_eq!(r["msg"], "SELinux is disabled on this host.", "{r}");
            assert_eq!(r["ignored"], true, "{r}");
        }
        assert_eq!(changed(&run, "node1"), 1, "{}", run.stdout);
        assert_eq!(all[2]["status"], "ok", "{}", run.stdout);
        assert_eq!(native(&run, "seboolean"), 3, "{}", run.stdout);
    }
    assert_eq!(lab.sh("node1", "cat /srv/after-seboolean"), "went on\n");
}

#[test]
fn firewalld_makes_a_zone_with_a_source_a_rich_rule_and_an_interface() {
    let lab = Lab::copy_on_write(1);
    let list = |lab: &Lab| {
        lab.sh(
            "node1",
            "firewall-offline-cmd --zone=lab --list-all 2>&1; firewall-offline-cmd --zone=public --list-interfaces",
        )
    };
    lab.play(
        r#"
        - name: a zone for the lab
          firewalld: {zone: lab, state: present, permanent: true}
        - name: its clients
          firewalld: {zone: lab, source: 10.20.0.0/16, permanent: true, state: enabled}
        - name: ssh from them, logged
          firewalld:
            zone: lab
            rich_rule: rule family="ipv4" service name="ssh" log prefix="lab-ssh" accept
            permanent: true
            state: enabled
        - name: masquerading
          firewalld: {zone: lab, masquerade: true, permanent: true, state: enabled}
        - name: the lab's interface
          firewalld: {zone: lab, interface: dtrplay0, permanent: true, state: enabled}
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.status(2);
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    // The zone does not exist yet, so check mode cannot look inside it.
    assert_eq!(failed(&check, "node1"), 1, "{}", check.stdout);
    assert!(list(&lab).contains("INVALID_ZONE"), "{}", list(&lab));

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 5, "{}", first.stdout);
    let msgs = messages(&first);
    assert_eq!(
        msgs[0],
        "Permanent operation, Added zone lab, Changed zone lab to present, (offline operation: only on-disk configs were altered)"
    );
    assert_eq!(
        msgs[1],
        "Permanent operation, Added 10.20.0.0/16 to zone lab, (offline operation: only on-disk configs were altered)"
    );
    let after = list(&lab);
    assert!(after.contains("sources: 10.20.0.0/16"), "{after}");
    assert!(after.contains("log prefix=\"lab-ssh\""), "{after}");
    assert!(after.contains("masquerade: yes"), "{after}");
    assert!(after.contains("interfaces: dtrplay0"), "{after}");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // The interface moves to public; the zone goes.
    lab.play(
        r#"
        - firewalld: {zone: public, interface: dtrplay0, permanent: true, state: enabled}
        - firewalld: {zone: lab, state: absent, permanent: true}
        - firewalld: {zone: lab, state: absent}
        "#,
    );
    let moved = lab.apply(&[]);
    moved.status(2);
    assert_eq!(changed(&moved, "node1"), 2, "{}", moved.stdout);
    let msgs = messages(&moved);
    assert_eq!(
        msgs[0],
        "Permanent operation, Changed dtrplay0 to zone public, (offline operation: only on-disk configs were altered)"
    );
    // A zone change without `permanent` is immediate, which needs the daemon.
    assert!(
        msgs[2].starts_with("firewall is not currently running"),
        "{}",
        msgs[2]
    );
    let after = list(&lab);
    assert!(after.contains("INVALID_ZONE"), "{after}");
    assert!(after.trim_end().ends_with("dtrplay0"), "{after}");

    // firewalld's own error for a service it does not know, with Ansible's hint.
    lab.play("- firewalld: {service: dtrplay-nothing, permanent: true, state: enabled}\n");
    let refused = lab.apply(&[]);
    refused.status(2);
    let why = messages(&refused).join("\n");
    assert!(why.contains("INVALID_SERVICE"), "{why}");
    assert!(
        why.contains("Services are defined by port/tcp relationship"),
        "{why}"
    );
}
