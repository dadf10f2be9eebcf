//! `community.mysql.mysql_user` against a real MariaDB: Debian's mariadbd,
//! started by the test inside one copy-on-write node (its data directory
//! and socket in the node's own `/var`, no TCP port), never as a service of
//! this machine. The module reaches it through PyMySQL on the node's Python.

use std::time::{Duration, Instant};

use super::apply;
use crate::builtins::{Lab, changed, failed, results};

/// Where the server keeps everything, in the node's view.
const DIR: &str = "/var/lib/dtrplay-mariadb";
const SOCKET: &str = "/var/lib/dtrplay-mariadb/mysqld.sock";

/// A MariaDB server running in a node; stopped when dropped.
struct MariaDb<'a> {
    lab: &'a Lab,
}

impl<'a> MariaDb<'a> {
    /// Makes a data directory (root logs in through the socket's peer
    /// credentials, as Debian sets it up) and starts the server detached
    /// from the ssh session. Its temporary directory is under the test's
    /// project, so the test runner's cleanup finds it if the test dies.
    fn start(lab: &'a Lab) -> MariaDb<'a> {
        let tmp = lab.project.path().join("mariadb-tmp");
        std::fs::create_dir_all(&tmp).expect("the server's temporary directory");
        lab.sh(
            "node1",
            &format!(
                "mkdir -p {DIR} && mariadb-install-db --no-defaults --user=root --datadir={DIR}/data \
                 --auth-root-authentication-method=socket --skip-test-db > {DIR}/install.log 2>&1 \
                 || {{ cat {DIR}/install.log >&2; exit 1; }}"
            ),
        );
        lab.sh(
            "node1",
            &format!(
                "setsid mariadbd --no-defaults --user=root --datadir={DIR}/data --socket={SOCKET} \
                 --pid-file={DIR}/mysqld.pid --skip-networking --tmpdir={tmp} \
                 --log-error={DIR}/error.log < /dev/null > /dev/null 2>&1 &",
                tmp = tmp.display()
            ),
        );
        let server = MariaDb { lab };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.query("SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "mariadbd did not answer in 60 s: {}",
                lab.sh("node1", &format!("tail -20 {DIR}/error.log"))
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// One statement as root through the real client in the node.
    fn query(&self, sql: &str) -> Result<String, String> {
        self.as_user("root", None, sql)
    }

    fn as_user(&self, user: &str, password: Option<&str>, sql: &str) -> Result<String, String> {
        let node = self.lab.nodes.node("node1");
        let password = password.map(|p| format!(" -p'{p}'")).unwrap_or_default();
        let output = node
            .ssh_command()
            .arg(format!(
                "mariadb --no-defaults --socket={SOCKET} -u {user}{password} -N -B -e \"{sql}\""
            ))
            .output()
            .expect("run ssh");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

impl Drop for MariaDb<'_> {
    fn drop(&mut self) {
        let _ = self
            .lab
            .nodes
            .node("node1")
            .ssh_command()
            .arg(format!(
                "kill $(cat {DIR}/mysqld.pid) 2>/dev/null; i=0; \
                 while [ -e {DIR}/mysqld.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done"
            ))
            .output();
    }
}

#[test]
fn mysql_user_creates_a_user_in_a_real_mariadb_inside_a_node() {
    let lab = Lab::copy_on_write(1);
    let db = MariaDb::start(&lab);
    lab.play(
        &r#"
        - name: the registry's database user
          community.mysql.mysql_user:
            login_unix_socket: SOCKET
            name: dtr
            host: localhost
            password: "{{ db_password }}"
            priv: "*.*:SELECT"
        "#
        .replace("SOCKET", SOCKET),
    );
    let password = "Mar1a-s3cret";
    let extra = format!("db_password={password}");
    let users = || db.query("SELECT user FROM mysql.user WHERE user = 'dtr'");

    let check = apply(&lab, &["--check", "-e", &extra]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1, "{}", check.stdout);
    assert_eq!(users().expect("the server answers"), "");

    let first = apply(&lab, &["-e", &extra]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1, "{}", first.stdout);
    assert_eq!(users().expect("the server answers"), "dtr\n");
    let grants = db
        .query("SHOW GRANTS FOR 'dtr'@'localhost'")
        .expect("the grants");
    assert!(grants.contains("GRANT SELECT ON *.*"), "{grants}");
    // The password the play set is the one the server checks.
    assert_eq!(
        db.as_user("dtr", Some(password), "SELECT CURRENT_USER()")
            .expect("dtr logs in with its password"),
        "dtr@localhost\n"
    );
    assert!(db.as_user("dtr", Some("wrong"), "SELECT 1").is_err());
    // The password is a secret by its name: never shown.
    assert!(!first.stdout.contains(password), "{}", first.stdout);

    let again = apply(&lab, &["-e", &extra]);
    again.success();
    assert_eq!(changed(&again, "node1"), 0, "{}", again.stdout);

    // The module's own error when it cannot reach the server, with
    // nothing changed on it.
    lab.play(
        &r#"
        - community.mysql.mysql_user:
            login_unix_socket: SOCKET.gone
            name: dtr
            state: absent
        "#
        .replace("SOCKET", SOCKET),
    );
    let refused = apply(&lab, &[]);
    refused.status(2);
    assert_eq!(failed(&refused, "node1"), 1);
    let why = results(&refused)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect::<String>();
    assert!(
        why.contains("unable to connect to database"),
        "{}",
        refused.stdout
    );
    let grants = db
        .query("SHOW GRANTS FOR 'dtr'@'localhost'")
        .expect("the grants");
    assert!(grants.contains("GRANT SELECT ON *.*"), "{grants}");
}
