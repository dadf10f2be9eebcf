//! `service` and `systemd` with the real service tools on copy-on-write
//! nodes.
//!
//! The nodes run no systemd as PID 1 (neither does this machine: systemd
//! as a service manager cannot run inside a test), so `service` finds
//! System V init, as Ansible would, and runs a real init script through
//! Debian's `service`, `start-stop-daemon` and `update-rc.d`; the daemon
//! is Python's `http.server`, bound to the node's own loopback address and
//! checked by connecting to it. `systemd` is tested for what works without
//! a running manager: `systemctl enable`/`disable`/`mask` on real unit
//! files (read back with `systemctl is-enabled`), `daemon_reload` skipped
//! with a warning, and starting a unit refused with a clear error.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::{Lab, changed, failed, results};

/// The init script of the test service, serving `/srv` on `addr:port`.
fn init_script(addr: IpAddr, port: u16) -> String {
    format!(
        r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          dtrplay-web
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: dtrplay's test web server
### END INIT INFO
PIDFILE=/run/dtrplay-web.pid
case "$1" in
  start) exec start-stop-daemon --start --quiet --oknodo --background --make-pidfile \
      --pidfile $PIDFILE --output /var/log/dtrplay-web.log --chdir /srv \
      --exec /usr/bin/python3 -- -m http.server --bind {addr} {port} ;;
  stop) exec start-stop-daemon --stop --quiet --oknodo --retry TERM/5/KILL/5 \
      --pidfile $PIDFILE --remove-pidfile ;;
  restart) "$0" stop && exec "$0" start ;;
  status) start-stop-daemon --status --pidfile $PIDFILE && echo "dtrplay-web is running" ;;
  *) echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 3 ;;
esac
"#
    )
}

/// Stops the test daemon however the test ends: it was started by the
/// node's session but, as a daemon, is no longer under the node's sshd.
struct Daemon<'a>(&'a Lab);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let pidfile = self.0.nodes.node("node1").path("/run/dtrplay-web.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Python takes a moment to bind after the init script returns.
fn comes_up(addr: SocketAddr) -> bool {
    // Up to 20 s: Python's start on a loaded 2-core machine can take
    // several seconds, and the wait ends as soon as the port answers.
    (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        listening(addr)
    })
}

/// A stopped daemon's port closes once `start-stop-daemon --stop` saw it exit.
fn goes_down(addr: SocketAddr) -> bool {
    (0..50).any(|_| {
        let down = !listening(addr);
        std::thread::sleep(Duration::from_millis(100));
        down
    })
}

fn pid(lab: &Lab) -> String {
    lab.sh("node1", "cat /run/dtrplay-web.pid")
}

#[test]
fn service_starts_enables_restarts_and_stops_a_sysv_service() {
    let lab = Lab::copy_on_write(1);
    let _daemon = Daemon(&lab);
    let host = lab.nodes.node("node1").host;
    let port = TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::new(host, port);
    lab.sh(
        "node1",
        &format!(
            "cat > /etc/init.d/dtrplay-web <<'EOF'\n{}EOF\nchmod 755 /etc/init.d/dtrplay-web",
            init_script(host, port)
        ),
    );
    lab.play(
        r#"
        - service:
            name: dtrplay-web
            state: started
            enabled: true
          register: web
        - assert:
            that:
              - web.name == 'dtrplay-web'
              - web.state == 'started'
              - web.enabled
        "#,
    );
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(results(&check)[0]["msg"], "would enable, start dtrplay-web");
    assert!(!listening(addr), "check mode started nothing");
    assert_eq!(
        lab.sh("node1", "ls /etc/rc2.d | grep -c dtrplay-web || :"),
        "0\n"
    );

    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(results(&first)[0]["msg"], "enable, start dtrplay-web");
    assert!(comes_up(addr), "the daemon serves on {addr}");
    assert!(lab.sh("node1", "ls /etc/rc2.d").contains("S01dtrplay-web"));
    assert!(
        !std::path::Path::new("/etc/init.d/dtrplay-web").exists(),
        "the host is untouched"
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    let before = pid(&lab);
    lab.play(
        r#"
        - service: name=dtrplay-web state=restarted
        "#,
    );
    let restarted = lab.apply(&[]);
    restarted.success();
    assert_eq!(changed(&restarted, "node1"), 1, "a restart always changes");
    assert_ne!(pid(&lab), before);
    assert!(comes_up(addr));

    lab.play(
        r#"
        - service:
            name: dtrplay-web
            state: stopped
            enabled: false
        "#,
    );
    let stopped = lab.apply(&[]);
    stopped.success();
    assert_eq!(changed(&stopped, "node1"), 1);
    assert!(goes_down(addr), "the daemon stopped");
    let links = lab.sh("node1", "ls /etc/rc2.d");
    assert!(
        links.contains("K01dtrplay-web") && !links.contains("S01dtrplay-web"),
        "{links}"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - service:
            name: dtrplay-no-such-service
            state: started
        "#,
    );
    let missing = lab.apply(&[]);
    missing.status(2);
    assert_eq!(failed(&missing, "node1"), 1);
    let msg = results(&missing)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with("Could not find the requested service dtrplay-no-such-service"),
        "{msg}"
    );
}

#[test]
fn systemd_edits_unit_links_offline_and_refuses_to_start_without_systemd() {
    let lab = Lab::copy_on_write(1);
    // A vendor unit, as a package installs it (a unit in /etc could not be
    // masked: the mask is a link in /etc in its place).
    lab.sh(
        "node1",
        "printf '%s\\n' '[Unit]' 'Description=a test unit of dtrplay' '[Service]' \
         'ExecStart=/usr/bin/python3 -m http.server --bind 127.0.0.1 8080' \
         '[Install]' 'WantedBy=multi-user.target' > /usr/lib/systemd/system/dtrplay-web.service",
    );
    lab.play(
        r#"
        - systemd:
            name: dtrplay-web
            daemon_reload: true
            enabled: true
          register: unit
        - assert:
            that: unit.enabled and unit.name == 'dtrplay-web'
        "#,
    );
    let link = "/etc/systemd/system/multi-user.target.wants/dtrplay-web.service";
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert_eq!(
        lab.sh("node1", &format!("test -e {link} || echo none")),
        "none\n"
    );
    let first = lab.apply(&[]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(results(&first)[0]["msg"], "enable dtrplay-web");
    let warnings: Vec<String> = first
        .events()
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("daemon_reload has nothing to reload")),
        "{warnings:?}"
    );
    assert_eq!(
        lab.sh(
            "node1",
            &format!("readlink -f {link}; systemctl is-enabled dtrplay-web")
        ),
        "/usr/lib/systemd/system/dtrplay-web.service\nenabled\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - systemd_service:
            name: dtrplay-web
            enabled: false
            masked: true
        "#,
    );
    let masked = lab.apply(&[]);
    masked.success();
    assert_eq!(changed(&masked, "node1"), 1);
    assert_eq!(
        lab.sh(
            "node1",
            "readlink /etc/systemd/system/dtrplay-web.service; systemctl is-enabled dtrplay-web || :"
        ),
        "/dev/null\nmasked\n"
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    lab.play(
        r#"
        - ansible.builtin.systemd:
            name: dtrplay-web
            state: started
        "#,
    );
    let start = lab.apply(&[]);
    start.status(2);
    let msg = results(&start)[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("systemd is not the running service manager on this host"),
        "{msg}"
    );
}

#[test]
fn service_facts_reports_sysv_services_in_ansibles_shape() {
    let lab = Lab::copy_on_write(1);
    let _daemon = Daemon(&lab);
    let host = lab.nodes.node("node1").host;
    let port = TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::new(host, port);
    lab.sh(
        "node1",
        &format!(
            "cat > /etc/init.d/dtrplay-web <<'EOF'\n{}EOF\nchmod 755 /etc/init.d/dtrplay-web",
            init_script(host, port)
        ),
    );
    // The init script returns before its daemon wrote the pid file, so
    // the play waits for the port before it gathers again. `service
    // --status-all` counts a service as running only when its `status`
    // succeeds and says something, as the test's init script does.
    lab.play(&format!(
        r#"
        - service_facts:
          register: before
        - assert:
            that:
              - "ansible_facts.services['dtrplay-web'] == {{'name': 'dtrplay-web', 'state': 'stopped', 'source': 'sysv'}}"
              - before.ansible_facts.services['dtrplay-web'].state == 'stopped'
        - service: name=dtrplay-web state=started
        - wait_for: host={host} port={port} timeout=30
        - ansible.builtin.service_facts:
        - assert:
            that:
              - ansible_facts.services['dtrplay-web'].state == 'running'
              - ansible_facts.services['dtrplay-web'].source == 'sysv'
        "#,
    ));
    // Check mode gathers too (the first assert passes); the service is not
    // started, so the second assert fails in check mode.
    let check = lab.apply(&["--check"]);
    check.status(2);
    let first = &results(&check)[0];
    assert!(
        first["msg"]
            .as_str()
            .unwrap_or_default()
            .ends_with("services (System V init)"),
        "{first}"
    );
    assert_eq!(results(&check)[1]["status"], "ok", "{:?}", results(&check));
    assert!(!listening(addr), "check mode started nothing");

    let run = lab.apply(&[]);
    run.success();
    assert_eq!(changed(&run, "node1"), 1, "only the service start");
    assert!(comes_up(addr));
    lab.play(
        r#"
        - service_facts:
        - assert:
            that: ansible_facts.services['dtrplay-web'].state == 'running'
        "#,
    );
    let again = lab.apply(&[]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0);

    lab.play("- service_facts:\n    name: dtrplay-web\n");
    let refused = lab
        .project
        .run(&["validate", "site.yml", "-i", "inventory.yml"]);
    refused.status(4);
    assert!(
        refused
            .stderr_filtered()
            .contains("unknown argument `name` for `service_facts`"),
        "{}",
        refused.stderr_filtered()
    );
}
