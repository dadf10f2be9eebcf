//! Sessions opened on a real OpenSSH ControlMaster from dtrplay's own
//! process (`connection::mux`), against real sshd nodes on loopback: exact
//! bytes both ways, exit statuses, no ssh client process per session, kill,
//! and what happens with no master, a stale socket or a master that dies.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dtrplay::connection::mux::{self, MuxChild, MuxError, MuxExit};
use dtrplay::connection::ssh::SshConnection;
use dtrplay::connection::{ConnError, ConnectOptions, Connection, Target, Transport};
use dtrplay_lab::daemon::process;
use dtrplay_lab::node::{Fleet, FleetOptions};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Nodes, Project, Run};
use crate::transports::{Carrier, Lab};

type TestResult = Result<(), Box<dyn Error>>;

const LONG: Duration = Duration::from_secs(30);

/// One node with one master connection to it, stopped on drop.
struct Master {
    fleet: Fleet,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Master {
    /// Starts a node and `ssh -M -N -f` to it, the way `--ssh-persist`
    /// leaves masters behind, and waits until the master answers.
    async fn start() -> Result<Master, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), 1))?;
        let socket = dir.path().join("master.sock");
        let master = Master {
            fleet,
            socket,
            _dir: dir,
        };
        master.spawn_master()?;
        Ok(master)
    }

    fn spawn_master(&self) -> Result<(), Box<dyn Error>> {
        let status = Command::new("ssh")
            .arg("-F")
            .arg(self.fleet.ssh_config_path())
            .args(["-M", "-N", "-f", "-o"])
            .arg(format!("ControlPath={}", self.socket.display()))
            .args(["-o", "ControlPersist=60", "node1"])
            .status()?;
        if !status.success() {
            return Err(format!("ssh -M exited with {status}").into());
        }
        Ok(())
    }

    /// The processes whose command line names this master's socket: the
    /// master itself and any ssh client using it.
    fn ssh_processes(&self) -> Vec<u32> {
        processes_named(&self.socket.display().to_string())
    }

    fn logins(&self) -> usize {
        self.fleet
            .node("node1")
            .ok()
            .and_then(|node| std::fs::read_to_string(node.root.join("sshd.log")).ok())
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        for pid in self.ssh_processes() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// Everything a session printed, and how it ended.
async fn collect(mut child: MuxChild) -> Result<(Vec<u8>, Vec<u8>, MuxExit), Box<dyn Error>> {
    drop(child.stdin.take());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    // A stream the caller took already counts as empty here.
    let reading =
        async { tokio::try_join!(read_all(stdout, &mut out), read_all(stderr, &mut err)) };
    tokio::time::timeout(LONG, reading).await??;
    let exit = tokio::time::timeout(LONG, child.wait()).await?;
    Ok((out, err, exit))
}

async fn read_all(
    stream: Option<tokio::net::unix::pipe::Receiver>,
    into: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match stream {
        Some(mut stream) => stream.read_to_end(into).await,
        None => Ok(0),
    }
}

#[tokio::test]
async fn a_session_returns_exact_bytes_and_statuses_without_an_ssh_process() -> TestResult {
    let master = Master::start().await?;
    let pid = mux::master_pid(&master.socket).await.ok_or("no master")?;
    assert_eq!(master.ssh_processes(), vec![pid]);

    let mut child = MuxChild::spawn(
        &master.socket,
        r"printf 'a\000\001\377\nb'; printf 'err\n\n' >&2; exit 7",
    )
    .await?;
    // While the session runs, the master is still the only ssh process:
    // nothing was spawned to open it.
    assert_eq!(master.ssh_processes(), vec![pid]);
    assert_eq!(child.try_wait(), None);
    let (out, err, exit) = collect(child).await?;
    assert_eq!(out, b"a\0\x01\xff\nb");
    assert_eq!(err, b"err\n\n");
    assert_eq!(exit, MuxExit::Exited(7));

    let (out, err, exit) = collect(MuxChild::spawn(&master.socket, "true").await?).await?;
    assert_eq!((out.len(), err.len(), exit), (0, 0, MuxExit::Exited(0)));

    // Bytes above 127 in the command itself reach the remote shell intact.
    let (out, _, _) = collect(MuxChild::spawn(&master.socket, "printf 'é'").await?).await?;
    assert_eq!(out, "é".as_bytes());

    let nul = MuxChild::spawn(&master.socket, "echo \0").await;
    assert!(matches!(nul, Err(MuxError::Command(_))), "{:?}", nul.err());

    assert_eq!(master.logins(), 1, "a session logged in again");
    Ok(())
}

/// The exit message can overtake output the master still holds for our
/// pipes; a session must not let go of the master before it has written
/// all of it. Many short sessions at once make that race likely.
#[tokio::test]
async fn output_is_complete_even_when_the_exit_message_comes_first() -> TestResult {
    let master = Master::start().await?;
    for round in 0..10 {
        let sessions = (0..8).map(|i| {
            let socket = master.socket.clone();
            async move {
                let command = format!(
                    "printf '%s\\n' {i}; head -c {} /dev/zero; exit {i}",
                    70_000 * i
                );
                let child = MuxChild::spawn(&socket, &command).await?;
                collect(child).await
            }
        });
        for (i, result) in futures::future::join_all(sessions)
            .await
            .into_iter()
            .enumerate()
        {
            let (out, _, exit) = result.map_err(|e| e.to_string())?;
            assert_eq!(
                (out.len(), exit),
                (2 + 70_000 * i, MuxExit::Exited(i as u32)),
                "round {round}, session {i}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn input_and_large_output_stream_both_ways_in_parallel_sessions() -> TestResult {
    let master = Master::start().await?;
    let input: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();

    // `cat` echoes 4 MiB back while we are still writing, which deadlocks
    // unless stdin and stdout really are independent streams.
    let mut child = MuxChild::spawn(&master.socket, "cat; echo done >&2").await?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let writing = async {
        stdin.write_all(&input).await?;
        drop(stdin);
        Ok::<_, std::io::Error>(())
    };
    let mut echoed = Vec::new();
    let both = async { tokio::try_join!(writing, stdout.read_to_end(&mut echoed)) };
    tokio::time::timeout(LONG, both).await??;
    assert!(echoed == input, "the echo differs from the input");
    let (_, err, exit) = collect(child).await?;
    assert_eq!((err.as_slice(), exit), (&b"done\n"[..], MuxExit::Exited(0)));

    // Eight sessions at once on one connection (sshd allows ten by default).
    let sessions = (0..8).map(|i| {
        let socket = master.socket.clone();
        async move {
            let child = MuxChild::spawn(&socket, &format!("sleep 1; echo {i}; exit {i}")).await?;
            collect(child).await
        }
    });
    let started = Instant::now();
    let results = futures::future::join_all(sessions).await;
    for (i, result) in results.into_iter().enumerate() {
        let (out, _, exit) = result.map_err(|e| e.to_string())?;
        assert_eq!(out, format!("{i}\n").as_bytes());
        assert_eq!(exit, MuxExit::Exited(i as u32));
    }
    assert!(
        // One after the other they would take 8 s; the margin is for a
        // loaded machine.
        started.elapsed() < Duration::from_secs(6),
        "the sessions did not run in parallel: {:?}",
        started.elapsed()
    );
    assert_eq!(master.logins(), 1);
    Ok(())
}

#[tokio::test]
async fn kill_ends_the_session_and_the_master_serves_the_next_one() -> TestResult {
    let master = Master::start().await?;
    // `cat` waits for input forever; only the end of the session stops it.
    // The nodes run on this machine, so the remote shell, named by a
    // unique `$0`, can be watched in /proc.
    let marker = format!("mux-kill-{}-{}", std::process::id(), line!());
    let command = format!("echo started; exec sh -c 'cat; :' {marker}");
    let mut child = MuxChild::spawn(&master.socket, &command).await?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = [0u8; 8];
    tokio::time::timeout(LONG, stdout.read_exact(&mut line)).await??;
    assert_eq!(&line, b"started\n");
    assert!(!processes_named(&marker).is_empty());

    child.kill();
    assert_eq!(child.try_wait(), Some(MuxExit::Killed));
    assert_eq!(child.wait().await, MuxExit::Killed);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stdout.read_to_end(&mut rest)).await??;
    assert!(rest.is_empty(), "{rest:?}");

    // The remote `cat` saw its input end when the channel closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_named(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the remote cat outlived its session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Dropping a session that still runs kills it too.
    let child = MuxChild::spawn(&master.socket, "exec cat").await?;
    drop(child);
    let (out, _, exit) = collect(MuxChild::spawn(&master.socket, "echo next").await?).await?;
    assert_eq!((out.as_slice(), exit), (&b"next\n"[..], MuxExit::Exited(0)));
    assert_eq!(master.logins(), 1);
    Ok(())
}

#[tokio::test]
async fn no_master_a_stale_socket_or_a_dead_master_is_reported_as_no_master() -> TestResult {
    let master = Master::start().await?;
    let dir = tempfile::tempdir()?;

    let missing = dir.path().join("missing");
    assert!(!mux::alive(&missing).await);
    assert_no_master(MuxChild::spawn(&missing, "true").await);

    // A socket file nobody listens on, as a master killed with SIGKILL
    // leaves behind.
    let stale = dir.path().join("stale");
    drop(std::os::unix::net::UnixListener::bind(&stale)?);
    assert!(stale.exists());
    assert!(!mux::alive(&stale).await);
    assert_no_master(MuxChild::spawn(&stale, "true").await);

    // Something that accepts connections but does not speak the protocol.
    let other = dir.path().join("other");
    let listener = tokio::net::UnixListener::bind(&other)?;
    let hang_up = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    assert!(!mux::alive(&other).await);
    assert_no_master(MuxChild::spawn(&other, "true").await);
    hang_up.abort();

    // A master that dies in the middle of a session ends it, without an
    // exit status, and closes its output.
    assert!(mux::alive(&master.socket).await);
    let pid = mux::master_pid(&master.socket).await.ok_or("no master")?;
    let mut child = MuxChild::spawn(&master.socket, "sleep 30").await?;
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait()).await?;
    assert_eq!(exit, MuxExit::Disconnected);
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    tokio::time::timeout(Duration::from_secs(5), stdout.read_to_end(&mut out)).await??;

    // Its socket stays behind, stale.
    assert!(master.socket.exists());
    assert!(!mux::alive(&master.socket).await);
    assert_no_master(MuxChild::spawn(&master.socket, "true").await);

    // A new master on the same path serves sessions again.
    std::fs::remove_file(&master.socket)?;
    master.spawn_master()?;
    let (out, _, _) = collect(MuxChild::spawn(&master.socket, "echo back").await?).await?;
    assert_eq!(out, b"back\n");
    Ok(())
}

/// Processes on this machine with `name` in their command line.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| process::cmdline_matches(pid, &[name]))
        .collect()
}

fn assert_no_master(result: Result<MuxChild, MuxError>) {
    match result {
        Err(MuxError::NoMaster { .. }) => {}
        Err(other) => panic!("expected NoMaster, got {other}"),
        Ok(_) => panic!("expected NoMaster, got a session"),
    }
}

// ---------------------------------------------------------------------------
// The SSH transport over warm masters: `SshConnection` opens its remote
// shell through `connection::mux` whenever a master answers on the host's
// control socket, and spawns ssh only when none does.
// ---------------------------------------------------------------------------

/// A fleet and a private control directory for `SshConnection`s.
struct Hosts {
    fleet: Fleet,
    control: PathBuf,
    _dir: tempfile::TempDir,
}

impl Hosts {
    fn start(count: usize) -> Result<Hosts, Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let fleet = Fleet::start(&FleetOptions::new(dir.path().join("fleet"), count))?;
        let control = dir.path().join("ctl");
        Ok(Hosts {
            fleet,
            control,
            _dir: dir,
        })
    }

    fn target(&self, name: &str) -> Result<Target, Box<dyn Error>> {
        let node = self.fleet.node(name)?;
        Ok(crate::harness::target(&self.fleet, node))
    }

    fn persisting(&self) -> ConnectOptions {
        ConnectOptions {
            control_dir: self.control.clone(),
            persist: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(5),
            retries: 0,
            ssh_client: dtrplay::connection::SshClient::OpenSsh,
            jumps: Default::default(),
        }
    }

    /// ssh processes of this control directory: masters and clients.
    fn ssh_processes(&self) -> Vec<u32> {
        processes_named(&self.control.display().to_string())
    }

    fn logins(&self, name: &str) -> usize {
        self.fleet
            .node(name)
            .ok()
            .and_then(|node| std::fs::read_to_string(node.root.join("sshd.log")).ok())
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for pid in self.ssh_processes() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

#[tokio::test]
async fn a_warm_master_serves_the_shell_without_an_ssh_client_and_timeouts_still_kill() -> TestResult
{
    let hosts = Hosts::start(1)?;
    let target = hosts.target("node1")?;
    let options = hosts.persisting();

    // Cold: ssh logs in and leaves a master behind.
    let conn = SshConnection::open(&target, &options).await?;
    let socket = conn.control_path().to_path_buf();
    conn.close().await;
    let master = mux::master_pid(&socket)
        .await
        .ok_or("no master persisted")?;

    // Warm: the shell comes through the master; no ssh client runs for it.
    let conn = SshConnection::open(&target, &options).await?;
    assert_eq!(
        hosts.ssh_processes(),
        vec![master],
        "an ssh client was spawned"
    );
    let out = conn
        .run(r"printf 'x\000\377y'; printf 'e\n' >&2; exit 4", b"", LONG)
        .await?;
    assert_eq!(
        (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
        (4, &b"x\0\xffy"[..], &b"e\n"[..])
    );
    let out = conn.run("cat", b"in\0put", LONG).await?;
    assert_eq!(out.stdout, b"in\0put");

    // A timeout still kills the remote script with its channel, and the
    // next command gets a fresh shell through the same master.
    let marker = format!("mux-timeout-{}-{}", std::process::id(), line!());
    let script = format!("sh -c 'sleep 30' {marker}");
    let timed_out = conn.run(&script, b"", Duration::from_secs(1)).await;
    assert!(
        matches!(timed_out, Err(ConnError::Timeout { .. })),
        "{timed_out:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_named(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the timed-out script survived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(conn.run("echo again", b"", LONG).await?.stdout, b"again\n");
    assert_eq!(hosts.ssh_processes(), vec![master]);
    // An orderly close over a master does not wait for the session's end,
    // yet the shell goes away and a process started on purpose survives.
    let out = conn
        .run("sleep 30 >/dev/null 2>&1 & echo $! $$", b"", LONG)
        .await?;
    let text = out.stdout_text();
    let (daemon, shell) = text.trim().split_once(' ').ok_or("no pids")?;
    let (daemon, shell): (u32, u32) = (daemon.parse()?, shell.parse()?);
    conn.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while process::is_alive(shell) {
        assert!(Instant::now() < deadline, "the remote shell outlived close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        process::is_alive(daemon),
        "close killed a background process"
    );
    process::terminate(daemon)?;
    assert_eq!(hosts.logins("node1"), 1, "a warm open logged in again");
    assert_eq!(mux::master_pid(&socket).await, Some(master));

    // The master dies without removing its socket: the next open falls
    // back to ssh, which logs in again and leaves a new master.
    kill(Pid::from_raw(master as i32), Signal::SIGKILL)?;
    assert!(socket.exists());
    let conn = SshConnection::open(&target, &options).await?;
    assert_eq!(conn.run("echo back", b"", LONG).await?.stdout, b"back\n");
    conn.close().await;
    assert_eq!(hosts.logins("node1"), 2);
    let second = mux::master_pid(&socket).await.ok_or("no new master")?;
    assert_ne!(second, master);

    assert!(SshConnection::stop_master(&target, &options).await?);
    Ok(())
}

// ---------------------------------------------------------------------------
// The same, as a user sees it: `dtrplay apply --ssh-persist` twice.
// ---------------------------------------------------------------------------

const PERSIST_PLAYBOOK: &str = r#"
    - name: Install a CA
      hosts: all
      tasks:
        - name: Make the directory
          file:
            path: /srv/mux/certs.d
            state: directory
            mode: "0755"
        - name: Install the CA file
          copy:
            content: "a CA\n"
            dest: /srv/mux/certs.d/ca.crt
            mode: "0644"
        - name: Verify it
          # Long enough for the test to see which processes serve the run.
          command: sh -c 'sleep 1; sha256sum /srv/mux/certs.d/ca.crt; echo "probe=$LC_DTRPLAY_PROBE"'
          changed_when: false
"#;

/// What a run printed, and the most ssh child processes it had at once.
struct Watched {
    run: Run,
    ssh_children: usize,
}

/// Runs dtrplay and samples its child processes until it exits.
fn run_watching_ssh(project: &Project, args: &[&str]) -> Result<Watched, Box<dyn Error>> {
    let stdout = project.path().join("stdout.txt");
    let stderr = project.path().join("stderr.txt");
    let mut child = project
        .command(args)
        .env("LC_DTRPLAY_PROBE", "from the control machine")
        .stdout(std::fs::File::create(&stdout)?)
        .stderr(std::fs::File::create(&stderr)?)
        .spawn()?;
    let mut most = 0;
    let status = loop {
        most = most.max(ssh_children(child.id()));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Watched {
        run: project.finished(std::process::Output {
            status,
            stdout: std::fs::read(&stdout)?,
            stderr: std::fs::read(&stderr)?,
        }),
        ssh_children: most,
    })
}

/// How many processes named `ssh` have `parent` as their parent.
fn ssh_children(parent: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid ...`; comm may contain spaces, so the
            // fields are counted from the last parenthesis.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                return false;
            };
            let comm = &stat[open + 1..close];
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            comm == "ssh" && ppid == Some(parent.to_string().as_str())
        })
        .count()
}

#[test]
fn warm_runs_spawn_no_ssh_process_and_fall_back_when_a_master_died() -> TestResult {
    let nodes = Nodes::start(3);
    let project = Project::new();
    // ssh passes LC_DTRPLAY_PROBE on (SendEnv here, AcceptEnv on the lab's
    // sshd), and a session opened through the master must too.
    let inventory = nodes.inventory(&[], "").replace(
        "IdentitiesOnly=yes\"",
        "IdentitiesOnly=yes -o SendEnv=LC_DTRPLAY_PROBE\"",
    );
    project.file("inventory.yml", &inventory);
    project.file("site.yml", PERSIST_PLAYBOOK);
    let args = [
        "apply",
        "site.yml",
        "-i",
        "inventory.yml",
        "--ssh-persist",
        "60",
        "--output",
        "json",
    ];
    let expected = format!("{}  /srv/mux/certs.d/ca.crt", hex_sha256(b"a CA\n"));
    let check = |watched: &Watched, changed: u64| {
        watched.run.success();
        let recap = watched.run.recap();
        for node in nodes.fleet.nodes() {
            assert_eq!(recap[&node.name]["changed"], changed, "{}", node.name);
        }
        // Every host's verification printed the exact checksum line, in
        // the environment ssh would have given it.
        for line in [expected.as_str(), "probe=from the control machine"] {
            assert!(
                watched.run.stdout.matches(line).count() >= nodes.fleet.nodes().len(),
                "{line:?} missing in\n{}",
                watched.run.stdout
            );
        }
    };

    let cold = run_watching_ssh(&project, &args)?;
    check(&cold, 2);
    assert!(cold.ssh_children > 0, "the cold run spawned no ssh");

    let warm = run_watching_ssh(&project, &args)?;
    check(&warm, 0);
    assert_eq!(warm.ssh_children, 0, "the warm run spawned ssh");

    // node1's master dies and leaves its socket: that host alone falls
    // back to ssh, and the run still succeeds.
    let options = dtrplay::executor::connect_options(
        Some(Duration::from_secs(60)),
        dtrplay::connection::SshClient::OpenSsh,
    )?;
    let target = |name: &str| -> Result<Target, Box<dyn Error>> {
        let node = nodes.fleet.node(name)?;
        Ok(Target {
            name: node.name.clone(),
            address: node.host.to_string(),
            port: Some(node.port),
            user: Some(node.user.clone()),
            key_file: Some(node.private_key().to_path_buf()),
            // As the inventory has it, so that the socket is the same.
            ssh_args: format!("{} -o SendEnv=LC_DTRPLAY_PROBE", node.ssh_common_args())
                .split(' ')
                .map(str::to_string)
                .collect(),
            transport: Transport::Ssh,
            ssh_client: None,
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = rt.block_on(async {
        let conn = SshConnection::open(&target("node1")?, &options).await?;
        let socket = conn.control_path().to_path_buf();
        conn.close().await;
        Ok::<_, Box<dyn Error>>(socket)
    })?;
    let pid = rt
        .block_on(mux::master_pid(&socket))
        .ok_or("node1 has no master")?;
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
    let fallback = run_watching_ssh(&project, &args)?;
    check(&fallback, 0);
    assert_eq!(fallback.ssh_children, 1, "only node1 needed ssh");

    let again = run_watching_ssh(&project, &args)?;
    check(&again, 0);
    assert_eq!(again.ssh_children, 0);

    rt.block_on(async {
        for node in nodes.fleet.nodes() {
            SshConnection::stop_master(&target(&node.name)?, &options).await?;
        }
        Ok::<_, Box<dyn Error>>(())
    })?;
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------
// Masters kept by `--ssh-persist`: they outlive close, serve the next open
// without a login, and `stop_master` ends them.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_persisted_master_survives_close_and_serves_the_next_open() -> TestResult {
    let lab = Lab::start(1, Carrier::Mux)?;
    let node = lab.node("node1")?;
    let target = lab.target(&node);
    // The mux lab's options keep masters for a minute.
    let options = lab.options();

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
    assert_eq!(lab.logins(&node), 1, "the second open logged in again");
    assert!(
        second_open < first_open,
        "reusing the master ({second_open:?}) was not faster than the handshake ({first_open:?})"
    );

    assert!(SshConnection::stop_master(&target, &options).await?);
    assert_eq!(lab.settled_ssh_processes(0).await, 0);
    assert!(!SshConnection::stop_master(&target, &options).await?);
    Ok(())
}

fn socket_alive(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}
