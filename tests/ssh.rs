//! The SSH transport against real sshd nodes on loopback: exact bytes and
//! statuses, one shell per host, timeouts, lost nodes, refused keys and host
//! keys, parallel hosts, and no ssh process left behind.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dtrplay::connection::ssh::SshConnection;
use dtrplay::connection::{ConnError, ConnectOptions, Connection, SshClient, Target, connect};
use dtrplay::lab::daemon::process;
use dtrplay::lab::node::{Fleet, FleetOptions, Node};

type TestResult = Result<(), Box<dyn Error>>;

const LONG: Duration = Duration::from_secs(30);

/// A fleet and a private control directory, removed together.
struct Lab {
    fleet: Fleet,
    control: PathBuf,
    dir: tempfile::TempDir,
}

impl Lab {
    fn start(count: usize) -> Result<Lab, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), count))?;
        let control = dir.path().join("ctl");
        Ok(Lab {
            fleet,
            control,
            dir,
        })
    }

    fn node(&self, name: &str) -> Result<Node, Box<dyn Error>> {
        Ok(self.fleet.node(name)?.clone())
    }

    /// The target an inventory entry for `node` would resolve to.
    fn target(&self, node: &Node) -> Target {
        crate::harness::target(&self.fleet, node)
    }

    fn options(&self) -> ConnectOptions {
        ConnectOptions {
            control_dir: self.control.clone(),
            persist: None,
            connect_timeout: Duration::from_secs(5),
            retries: 0,
            // This module tests the OpenSSH transport; native.rs has its own.
            ssh_client: SshClient::OpenSsh,
        }
    }

    /// Live processes whose command line mentions this lab's control
    /// directory: ssh clients and masters of this test, and nobody else's.
    fn ssh_processes(&self) -> Vec<u32> {
        let needle = self.control.display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| process::cmdline_matches(pid, &[&needle]))
            .collect()
    }

    /// Waits up to five seconds for every ssh process of this lab to exit.
    async fn no_ssh_processes(&self) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.ssh_processes();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// How many times sshd of `node` accepted a login.
fn logins(node: &Node) -> usize {
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

async fn eventually(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    what()
}

#[tokio::test]
async fn run_returns_exact_bytes_and_statuses() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = connect(&lab.target(&node), &lab.options()).await?;

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

    let out = conn.run("", b"", LONG).await?;
    assert_eq!(out, Default::default());

    // The shell survived all of the above.
    let out = conn.run("echo still here", b"", LONG).await?;
    assert_eq!(out.stdout, b"still here\n");
    conn.close().await;
    Ok(())
}

#[tokio::test]
async fn two_hundred_commands_share_one_login_and_one_shell() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
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
    assert_eq!(logins(&node), 1);
    assert_eq!(remote_stdin_files(&node), Vec::<PathBuf>::new());
    conn.close().await;
    Ok(())
}

#[tokio::test]
async fn a_timeout_kills_the_command_and_the_next_run_gets_a_fresh_shell() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
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
    assert!(lab.no_ssh_processes().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_abandoned_command_does_not_leak_into_the_next_one() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
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

    // A script abandoned for good is stopped by the shell that replaces
    // its own, here the one `close` opens to leave nothing running.
    let pid = crate::harness::abandon_a_sleeper(&conn, &node, "abandoned.pid").await;
    conn.close().await;
    assert!(
        eventually(|| !process::is_alive(pid)).await,
        "the abandoned script (pid {pid}) still runs after close"
    );
    Ok(())
}

#[tokio::test]
async fn a_node_going_down_is_reported_with_its_name_and_comes_back() -> TestResult {
    let mut lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let mut options = lab.options();
    options.retries = 1;
    let conn = SshConnection::open(&lab.target(&node), &options).await?;
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

#[tokio::test]
async fn a_wrong_key_fails_at_once_with_a_hint() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let key = lab.dir.path().join("stranger");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()?;
    assert!(keygen.success());
    let mut target = lab.target(&node);
    target.key_file = Some(key);
    let mut options = lab.options();
    options.retries = 3;

    let err = SshConnection::open(&target, &options)
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
    // which may be a moment after ssh reported the failure.
    let failed = || {
        std::fs::read_to_string(node.root.join("sshd.log"))
            .unwrap_or_default()
            .matches("Connection closed by authenticating user")
            .count()
    };
    assert!(eventually(|| failed() > 0).await, "sshd logged no attempt");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failed(), 1);
    assert!(lab.no_ssh_processes().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unknown_host_key_fails_with_a_known_hosts_hint() -> TestResult {
    let lab = Lab::start(1)?;
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
    match SshConnection::open(&target, &options).await.err() {
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

#[tokio::test]
async fn output_of_rc_files_does_not_disturb_the_frames() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    // The lab gives sessions HOME=<node>/home; root's login shell is bash,
    // which reads ~/.bashrc for commands started by sshd.
    std::fs::write(
        node.root.join("home/.bashrc"),
        "echo sourced > \"$HOME/sourced\"\necho 'Welcome!'\nprintf 'no newline, %s' dtrplay\necho noise >&2\n",
    )?;
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
    let out = conn.run("echo clean; echo also >&2", b"", LONG).await?;
    assert_eq!(out.stdout, b"clean\n");
    assert_eq!(out.stderr, b"also\n");
    conn.close().await;
    if !node.root.join("home/sourced").exists() {
        return Err("the login shell did not read .bashrc, so this test proves nothing".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_hosts_run_in_parallel() -> TestResult {
    let lab = Lab::start(20)?;
    let targets: Vec<Target> = lab.fleet.nodes().iter().map(|n| lab.target(n)).collect();
    let options = lab.options();
    let opened = futures::future::join_all(targets.iter().map(|t| connect(t, &options))).await;
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
    assert!(lab.no_ssh_processes().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn close_leaves_no_ssh_process_and_no_remote_files() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
    conn.run("cat >/dev/null", b"x", LONG).await?;
    assert!(!lab.ssh_processes().is_empty());
    assert_eq!(remote_stdin_files(&node), Vec::<PathBuf>::new());
    // A process a script started in the background on purpose is not
    // killed by an orderly close.
    let out = conn
        .run("sleep 30 >/dev/null 2>&1 & echo $!", b"", LONG)
        .await?;
    let daemon: u32 = out.stdout_text().trim().parse()?;
    conn.close().await;
    assert_eq!(lab.no_ssh_processes().await, Vec::<u32>::new());
    assert!(eventually(|| remote_stdin_files(&node).is_empty()).await);
    assert!(
        process::is_alive(daemon),
        "close killed a background process"
    );
    process::terminate(daemon)?;

    // Dropping without closing kills ssh and leaves nothing behind.
    let conn = SshConnection::open(&lab.target(&node), &lab.options()).await?;
    conn.run("cat >/dev/null", b"x", LONG).await?;
    drop(conn);
    assert_eq!(lab.no_ssh_processes().await, Vec::<u32>::new());
    assert!(eventually(|| remote_stdin_files(&node).is_empty()).await);
    Ok(())
}

#[tokio::test]
async fn a_persisted_master_survives_close_and_serves_the_next_open() -> TestResult {
    let lab = Lab::start(1)?;
    let node = lab.node("node1")?;
    let target = lab.target(&node);
    let mut options = lab.options();
    options.persist = Some(Duration::from_secs(60));

    let started = Instant::now();
    let conn = SshConnection::open(&target, &options).await?;
    let first_open = started.elapsed();
    let socket = conn.control_path().to_path_buf();
    conn.run("true", b"", LONG).await?;
    conn.close().await;
    assert!(socket_alive(&socket), "the master did not survive close");
    assert_eq!(lab.ssh_processes().len(), 1, "only the master remains");

    let started = Instant::now();
    let conn = SshConnection::open(&target, &options).await?;
    let second_open = started.elapsed();
    assert_eq!(
        conn.run("echo reused", b"", LONG).await?.stdout,
        b"reused\n"
    );
    // A timeout kills only this channel's ssh client; the fresh shell of
    // the next command comes through the master, without a new login.
    let timed_out = conn.run("sleep 30", b"", Duration::from_secs(1)).await;
    assert!(
        matches!(timed_out, Err(ConnError::Timeout { .. })),
        "{timed_out:?}"
    );
    assert_eq!(conn.run("echo again", b"", LONG).await?.stdout, b"again\n");
    conn.close().await;
    assert_eq!(logins(&node), 1, "the second open logged in again");
    assert!(
        second_open < first_open,
        "reusing the master ({second_open:?}) was not faster than the handshake ({first_open:?})"
    );

    assert!(SshConnection::stop_master(&target, &options).await?);
    assert_eq!(lab.no_ssh_processes().await, Vec::<u32>::new());
    assert!(!SshConnection::stop_master(&target, &options).await?);
    Ok(())
}

fn socket_alive(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}
