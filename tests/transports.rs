//! The contract every SSH transport keeps, run against each of them over
//! real sshd nodes on loopback: the native client (russh), the system
//! `ssh`, and sessions a warm ControlMaster opens for us (mux). Exact bytes
//! and statuses, one login and one shell per host, timeouts and abandoned
//! scripts stopped, lost nodes reported and reconnected, refused keys and
//! host keys, parallel hosts, and nothing left behind by a close.
//!
//! The suite is written once; `contract!` instantiates it per transport, so
//! a guarantee cannot hold for one transport and silently not for another.
//! What only one client does (how `auto` chooses, the native client's own
//! host key messages, masters kept between runs) is tested in `native.rs`
//! and `mux.rs`.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtrplay::connection::ssh::SshConnection;
use dtrplay::connection::{ConnError, ConnectOptions, Connection, SshClient, Target, connect};
use dtrplay_lab::daemon::process;
use dtrplay_lab::node::{Fleet, FleetOptions, Node};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub type TestResult = Result<(), Box<dyn Error>>;

pub const LONG: Duration = Duration::from_secs(30);

/// Which transport carries the shells under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// The in-process russh client.
    Native,
    /// A system `ssh` process per shell, cold.
    OpenSsh,
    /// A master kept by an earlier connection (`--ssh-persist`), which
    /// opens every shell for us without an ssh process.
    Mux,
}

/// A fleet and a private control directory, removed together; masters
/// the lab leaves running are stopped when it is dropped.
pub struct Lab {
    pub fleet: Fleet,
    pub carrier: Carrier,
    pub control: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn start(count: usize, carrier: Carrier) -> Result<Lab, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), count))?;
        let control = dir.path().join("ctl");
        Ok(Lab {
            fleet,
            carrier,
            control,
            dir,
        })
    }

    pub fn node(&self, name: &str) -> Result<Node, Box<dyn Error>> {
        Ok(self.fleet.node(name)?.clone())
    }

    /// A new ed25519 key pair in the lab's directory, protected by
    /// `passphrase` unless it is empty: a key no node knows.
    pub fn keygen(&self, name: &str, passphrase: &str) -> Result<PathBuf, Box<dyn Error>> {
        let key = self.dir.path().join(name);
        let keygen = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&key)
            .status()?;
        assert!(keygen.success());
        Ok(key)
    }

    /// The target an inventory entry for `node` would resolve to.
    pub fn target(&self, node: &Node) -> Target {
        crate::harness::target(&self.fleet, node)
    }

    /// The run's connection settings for this lab's transport (and, for
    /// `native.rs`, any other client).
    pub fn options_for(&self, client: SshClient) -> ConnectOptions {
        ConnectOptions {
            control_dir: self.control.clone(),
            persist: (self.carrier == Carrier::Mux).then_some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(5),
            retries: 0,
            ssh_client: client,
            jumps: Default::default(),
        }
    }

    pub fn options(&self) -> ConnectOptions {
        self.options_for(match self.carrier {
            Carrier::Native => SshClient::Native,
            Carrier::OpenSsh | Carrier::Mux => SshClient::OpenSsh,
        })
    }

    /// Connects to `target` with this lab's transport. For mux, a first
    /// connection logs in and leaves its master behind, and the one
    /// returned opens its shell on that master.
    pub async fn connect(
        &self,
        target: &Target,
        options: &ConnectOptions,
    ) -> Result<Box<dyn Connection>, ConnError> {
        if self.carrier == Carrier::Mux {
            let warm = SshConnection::open(target, options).await?;
            warm.close().await;
        }
        connect(target, options).await
    }

    /// The login that a whole test's connection to a node may cost: one,
    /// the first, whichever transport carries it.
    pub fn logins(&self, node: &Node) -> usize {
        logins(node)
    }

    /// Live processes whose command line mentions this lab's control
    /// directory: ssh clients and masters of this test, and nobody else's.
    pub fn ssh_processes(&self) -> Vec<u32> {
        let needle = self.control.display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| process::cmdline_matches(pid, &[&needle]))
            .collect()
    }

    /// How many ssh processes may stay after the connections to `hosts`
    /// hosts closed: none, but the masters mux keeps on purpose.
    pub fn kept(&self, hosts: usize) -> usize {
        match self.carrier {
            Carrier::Mux => hosts,
            Carrier::Native | Carrier::OpenSsh => 0,
        }
    }

    /// Waits up to five seconds for the ssh processes of this lab to come
    /// down to `kept`, and returns how many there are.
    pub async fn settled_ssh_processes(&self, kept: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.ssh_processes().len();
            if left <= kept || Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in self.ssh_processes() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// How many times sshd of `node` accepted a login.
pub fn logins(node: &Node) -> usize {
    std::fs::read_to_string(node.root.join("sshd.log"))
        .unwrap_or_default()
        .matches("Accepted publickey")
        .count()
}

/// Files of ours in the node's `$TMPDIR`. There should never be any:
/// stdin is piped to scripts, not written to files.
fn remote_stdin_files(node: &Node) -> Vec<PathBuf> {
    std::fs::read_dir(node.root.join("tmp"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("dtrplay-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn eventually(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    what()
}

/// Instantiates every contract test for each named transport, as a module
/// of its own (`transports::native::…`, `transports::openssh::…`).
macro_rules! contract {
    ($($module:ident => $carrier:expr;)*) => {$(
        mod $module {
            use super::*;

            const CARRIER: Carrier = $carrier;

            contract!(@tests
                runs_scripts_with_exact_bytes_and_statuses,
                two_hundred_commands_share_one_login_and_one_shell,
                a_timeout_kills_the_script_and_the_next_run_gets_a_fresh_shell,
                an_abandoned_command_does_not_leak_into_the_next_one,
                a_node_going_down_is_reported_with_its_name_and_comes_back,
                a_wrong_key_fails_at_once_with_a_hint,
                an_unknown_host_key_fails_with_a_known_hosts_hint,
                output_of_rc_files_does_not_disturb_the_frames,
                close_leaves_no_process_and_no_remote_files,
            );

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn twenty_hosts_run_in_parallel() -> TestResult {
                super::twenty_hosts_run_in_parallel(CARRIER).await
            }
        }
    )*};
    (@tests $($test:ident,)*) => {$(
        #[tokio::test]
        async fn $test() -> TestResult {
            super::$test(CARRIER).await
        }
    )*};
}

contract! {
    native => Carrier::Native;
    openssh => Carrier::OpenSsh;
    mux => Carrier::Mux;
}

async fn runs_scripts_with_exact_bytes_and_statuses(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    let via = conn.describe();
    match carrier {
        Carrier::Native => {
            assert!(via.starts_with("native SSH ("), "{via}");
            assert!(
                lab.ssh_processes().is_empty(),
                "the native client started an ssh process"
            );
        }
        Carrier::OpenSsh => assert_eq!(via, "OpenSSH"),
        Carrier::Mux => {
            assert!(via.starts_with("OpenSSH"), "{via}");
            assert_eq!(
                lab.ssh_processes().len(),
                1,
                "only the master runs: the shell came without an ssh client"
            );
        }
    }

    let out = conn.run("printf 'a\\nb'", b"", LONG).await?;
    assert_eq!((out.status, out.stdout.as_slice()), (0, &b"a\nb"[..]));
    assert!(out.stderr.is_empty());

    let out = conn
        .run("echo out; printf 'err\\n\\n' >&2; exit 3", b"", LONG)
        .await?;
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n\n");

    let out = conn.run("if then fi (", b"", LONG).await?;
    assert_eq!(out.status, 2);
    assert!(out.stdout.is_empty());
    assert!(out.stderr_text().contains("Syntax error"), "{out:?}");

    let out = conn.run("sh -c 'kill -TERM $$'", b"", LONG).await?;
    assert_eq!(out.status, 128 + 15);

    let mut binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    binary.extend_from_slice(b"'\\%s\0\n");
    let out = conn.run("cat", &binary, LONG).await?;
    assert_eq!(out.stdout, binary);

    let out = conn.run("wc -c", b"all of it", LONG).await?;
    assert_eq!(out.stdout_text().trim(), "9");

    // The script text itself is exact: quotes, backslashes, percent signs.
    let out = conn
        .run("printf '%s|' \"it's\" 'a\\b' '100%'", b"", LONG)
        .await?;
    assert_eq!(out.stdout_text(), "it's|a\\b|100%|");

    let megabyte = "abcdefghi\n".repeat(104_858);
    let out = conn
        .run("yes abcdefghi | head -c 1048580", b"", LONG)
        .await?;
    assert_eq!(out.stdout.len(), 1_048_580);
    assert!(out.stdout == megabyte.as_bytes());
    let out = conn
        .run("cat >/dev/null; echo read", megabyte.as_bytes(), LONG)
        .await?;
    assert_eq!(out.stdout, b"read\n");

    // More than a channel window in both directions at once.
    let big = "abcdefghi\n".repeat(400_000);
    let out = conn
        .run("cat; cat >&2 </dev/null", big.as_bytes(), LONG)
        .await?;
    assert_eq!(out.stdout.len(), big.len());
    assert!(out.stdout == big.as_bytes());

    let out = conn.run("", b"", LONG).await?;
    assert_eq!(out, Default::default());

    // The shell survived all of the above.
    let out = conn.run("echo still here", b"", LONG).await?;
    assert_eq!(out.stdout, b"still here\n");
    conn.close().await;
    assert_eq!(lab.logins(&node), 1);
    Ok(())
}

async fn two_hundred_commands_share_one_login_and_one_shell(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    let mut shells = std::collections::BTreeSet::new();
    for i in 0..200 {
        let out = conn
            .run(&format!("cat >/dev/null; echo $PPID {i}"), b"x", LONG)
            .await?;
        let text = out.stdout_text();
        let (ppid, n) = text.trim().split_once(' ').ok_or("no output")?;
        assert_eq!(n, i.to_string());
        shells.insert(ppid.to_string());
    }
    assert_eq!(shells.len(), 1, "commands ran under {shells:?}");
    assert_eq!(lab.logins(&node), 1);
    assert_eq!(remote_stdin_files(&node), Vec::<PathBuf>::new());
    conn.close().await;
    Ok(())
}

async fn a_timeout_kills_the_script_and_the_next_run_gets_a_fresh_shell(
    carrier: Carrier,
) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    let pid_file = node.root.join("tmp/sleeper.pid");

    let started = Instant::now();
    let err = conn
        .run(
            "exec sh -c 'echo $$ > \"$TMPDIR/sleeper.pid\"; exec sleep 60'",
            b"",
            Duration::from_secs(1),
        )
        .await
        .err()
        .ok_or("the sleeper finished")?;
    assert!(started.elapsed() < Duration::from_secs(5));
    match &err {
        ConnError::Timeout { host, after } => {
            assert_eq!(host, "node1");
            assert_eq!(*after, Duration::from_secs(1));
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    let pid: u32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    assert!(
        eventually(|| !process::is_alive(pid)).await,
        "the timed-out command (pid {pid}) still runs"
    );

    let out = conn.run("echo fresh", b"", LONG).await?;
    assert_eq!(out.stdout, b"fresh\n");
    conn.close().await;
    assert_eq!(lab.settled_ssh_processes(lab.kept(1)).await, lab.kept(1));
    // A shell that is not its connection's master is killed alone, and the
    // fresh one comes on the same connection, with no new login.
    if carrier != Carrier::OpenSsh {
        assert_eq!(
            lab.logins(&node),
            1,
            "a fresh shell logged in again: {}",
            std::fs::read_to_string(node.root.join("sshd.log")).unwrap_or_default()
        );
    }
    Ok(())
}

async fn an_abandoned_command_does_not_leak_into_the_next_one(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    // The caller gives up on the command (its future is dropped) while the
    // shell is still busy with it.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        conn.run("sleep 1; echo stale", b"", LONG),
    )
    .await;
    assert!(abandoned.is_err());
    let out = conn.run("echo fresh", b"", LONG).await?;
    assert_eq!(out.stdout, b"fresh\n");
    assert_eq!(conn.run("echo next", b"", LONG).await?.stdout, b"next\n");

    // A script abandoned for good is stopped by the shell that replaces
    // its own, here the one `close` opens to leave nothing running.
    let pid = crate::harness::abandon_a_sleeper(conn.as_ref(), &node, "abandoned.pid").await;
    conn.close().await;
    assert!(
        eventually(|| !process::is_alive(pid)).await,
        "the abandoned script (pid {pid}) still runs after close"
    );
    Ok(())
}

async fn a_node_going_down_is_reported_with_its_name_and_comes_back(
    carrier: Carrier,
) -> TestResult {
    let mut lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let mut options = lab.options();
    options.retries = 1;
    let conn = lab.connect(&lab.target(&node), &options).await?;
    assert_eq!(conn.run("echo up", b"", LONG).await?.stdout, b"up\n");

    let run = conn.run("sleep 20", b"", LONG);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lab.fleet.stop_node("node1")
    };
    let (result, stopped) = tokio::join!(run, stop);
    stopped?;
    match result {
        Err(ConnError::Lost { host, message }) => {
            assert_eq!(host, "node1");
            assert!(message.contains("while a command was running"), "{message}");
        }
        other => return Err(format!("expected a lost connection, got {other:?}").into()),
    }

    // The next command tries to reopen (with one retry) and explains why it
    // cannot.
    match conn.run("true", b"", LONG).await {
        Err(ConnError::Connect {
            host,
            message,
            hint,
        }) => {
            assert_eq!(host, "node1");
            assert!(message.contains("Connection refused"), "{message}");
            assert!(message.contains("after 2 attempts"), "{message}");
            let hint = hint.unwrap_or_default();
            assert!(hint.contains(&format!("port {}", node.port)), "{hint}");
        }
        other => return Err(format!("expected a connect error, got {other:?}").into()),
    }

    lab.fleet.start_node("node1")?;
    assert_eq!(conn.run("echo back", b"", LONG).await?.stdout, b"back\n");
    conn.close().await;
    Ok(())
}

async fn a_wrong_key_fails_at_once_with_a_hint(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let key = lab.keygen("stranger", "")?;
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let mut options = lab.options();
    options.retries = 3;

    // No master can be warm for a key that never logged in.
    let err = connect(&target, &options)
        .await
        .err()
        .ok_or("a stranger's key was accepted")?;
    match err {
        ConnError::Connect {
            host,
            message,
            hint,
        } => {
            assert_eq!(host, "node1");
            assert!(message.contains("Permission denied"), "{message}");
            assert!(!message.contains("attempts"), "retried: {message}");
            let hint = hint.unwrap_or_default();
            assert!(hint.contains("ansible_ssh_private_key_file"), "{hint}");
        }
        other => return Err(format!("expected a connect error, got {other:?}").into()),
    }
    // sshd saw exactly one attempt. It logs it once the client is gone,
    // which may be a moment after the failure was reported.
    let failed = || {
        std::fs::read_to_string(node.root.join("sshd.log"))
            .unwrap_or_default()
            .matches("Connection closed by authenticating user")
            .count()
    };
    assert!(eventually(|| failed() > 0).await, "sshd logged no attempt");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failed(), 1);
    assert_eq!(lab.settled_ssh_processes(0).await, 0);
    Ok(())
}

async fn an_unknown_host_key_fails_with_a_known_hosts_hint(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let empty = lab.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "")?;
    let mut target = lab.target(&node);
    target.ssh_args = vec![
        "-o".into(),
        format!("UserKnownHostsFile={}", empty.display()),
        "-o".into(),
        "GlobalKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
    ];
    let mut options = lab.options();
    options.retries = 3;
    let started = Instant::now();
    match connect(&target, &options).await.err() {
        Some(ConnError::Connect {
            host,
            message,
            hint,
        }) => {
            assert_eq!(host, "node1");
            assert!(
                message.contains("Host key verification failed"),
                "{message}"
            );
            assert!(hint.unwrap_or_default().contains("known_hosts"));
        }
        other => return Err(format!("expected a connect error, got {other:?}").into()),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "host key failures are not retried"
    );
    Ok(())
}

async fn output_of_rc_files_does_not_disturb_the_frames(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    // The lab gives sessions HOME=<node>/home; root's login shell is bash,
    // which reads ~/.bashrc for commands started by sshd.
    std::fs::write(
        node.root.join("home/.bashrc"),
        "echo sourced > \"$HOME/sourced\"\necho 'Welcome!'\nprintf 'no newline, %s' dtrplay\necho noise >&2\n",
    )?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    let out = conn.run("echo clean; echo also >&2", b"", LONG).await?;
    assert_eq!(out.stdout, b"clean\n");
    assert_eq!(out.stderr, b"also\n");
    conn.close().await;
    if !node.root.join("home/sourced").exists() {
        return Err("the login shell did not read .bashrc, so this test proves nothing".into());
    }
    Ok(())
}

async fn twenty_hosts_run_in_parallel(carrier: Carrier) -> TestResult {
    let lab = Lab::start(20, carrier)?;
    let targets: Vec<Target> = lab.fleet.nodes().iter().map(|n| lab.target(n)).collect();
    let options = lab.options();
    let opened = futures::future::join_all(targets.iter().map(|t| lab.connect(t, &options))).await;
    let mut conns = Vec::new();
    for conn in opened {
        conns.push(conn?);
    }
    let script = "sleep 1; echo $DTRPLAY_LAB_NODE";
    let started = Instant::now();
    let outputs = futures::future::join_all(conns.iter().map(|c| c.run(script, b"", LONG))).await;
    // Twenty one-second commands, one per host, overlap.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for (node, out) in lab.fleet.nodes().iter().zip(outputs) {
        assert_eq!(out?.stdout_text().trim(), node.root.display().to_string());
    }
    futures::future::join_all(conns.iter().map(|c| c.close())).await;
    assert_eq!(lab.settled_ssh_processes(lab.kept(20)).await, lab.kept(20));
    Ok(())
}

async fn close_leaves_no_process_and_no_remote_files(carrier: Carrier) -> TestResult {
    let lab = Lab::start(1, carrier)?;
    let node = lab.node("node1")?;
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    conn.run("cat >/dev/null", b"x", LONG).await?;
    assert_eq!(
        lab.ssh_processes().is_empty(),
        carrier == Carrier::Native,
        "only OpenSSH carries shells in ssh processes"
    );
    assert_eq!(remote_stdin_files(&node), Vec::<PathBuf>::new());
    // A process a script started in the background on purpose is not
    // killed by an orderly close.
    let out = conn
        .run("sleep 30 >/dev/null 2>&1 & echo $!", b"", LONG)
        .await?;
    let daemon: u32 = out.stdout_text().trim().parse()?;
    conn.close().await;
    assert_eq!(lab.settled_ssh_processes(lab.kept(1)).await, lab.kept(1));
    assert!(eventually(|| remote_stdin_files(&node).is_empty()).await);
    assert!(
        process::is_alive(daemon),
        "close killed a background process"
    );
    process::terminate(daemon)?;

    // Dropping without closing ends the shell and leaves nothing behind.
    let conn = lab.connect(&lab.target(&node), &lab.options()).await?;
    conn.run("cat >/dev/null", b"x", LONG).await?;
    drop(conn);
    assert_eq!(lab.settled_ssh_processes(lab.kept(1)).await, lab.kept(1));
    assert!(eventually(|| remote_stdin_files(&node).is_empty()).await);
    Ok(())
}
