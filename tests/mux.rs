//! Sessions opened on a real OpenSSH ControlMaster from dtrplay's own
//! process (`connection::mux`), against real sshd nodes on loopback: exact
//! bytes both ways, exit statuses, no ssh client process per session, kill,
//! and what happens with no master, a stale socket or a master that dies.

use std::error::Error;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use dtrplay::connection::mux::{self, MuxChild, MuxError, MuxExit};
use dtrplay::lab::daemon::process;
use dtrplay::lab::node::{Fleet, FleetOptions};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
            let child = MuxChild::spawn(&socket, &format!("sleep 0.3; echo {i}; exit {i}")).await?;
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
        started.elapsed() < Duration::from_secs(2),
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
