//! A real MariaDB server for tests: Debian's mariadbd, started by the test
//! inside one copy-on-write node (its data directory and socket in the
//! node's own `/var`, no TCP port), never as a service of this machine.
//! Used by the native `mysql_db`/`mysql_user` tests and the ansible-core
//! fallback's community.mysql test.

use std::time::{Duration, Instant};

use super::Lab;

/// Where the server keeps everything, in the node's view.
pub const DIR: &str = "/var/lib/dtrplay-mariadb";
pub const SOCKET: &str = "/var/lib/dtrplay-mariadb/mysqld.sock";

/// A MariaDB server running in a node; stopped when dropped.
pub struct MariaDb<'a> {
    lab: &'a Lab,
}

impl<'a> MariaDb<'a> {
    /// Makes a data directory (root logs in through the socket's peer
    /// credentials, as Debian sets it up) and starts the server detached
    /// from the ssh session. Its temporary directory is under the test's
    /// project, so the test runner's cleanup finds it if the test dies.
    pub fn start(lab: &'a Lab) -> MariaDb<'a> {
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
    pub fn query(&self, sql: &str) -> Result<String, String> {
        self.as_user("root", None, sql)
    }

    /// One statement as `user` (with its password, if any).
    pub fn as_user(&self, user: &str, password: Option<&str>, sql: &str) -> Result<String, String> {
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
