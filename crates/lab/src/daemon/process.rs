//! Finding, signalling and stopping processes by pid, through `/proc`.
//!
//! The lab starts long-lived processes (sshd per node, `lab serve`) and must
//! later stop exactly those, even from another dtrplay process (`lab down`).
//! A recorded pid can be reused by an unrelated process once ours is gone, so
//! every signal sent from outside the owning process is preceded by a check of
//! `/proc/<pid>/cmdline`. sshd forks one child per connection and that child
//! calls `setsid`, so killing the listener or its process group is not enough:
//! `kill_tree` freezes and kills the whole descendant tree.

use std::collections::BTreeSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, ...), or `None` when
/// the process does not exist.
pub fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(state, _)| state)
}

/// Whether the process exists and has not exited. A zombie has exited: it
/// holds no resources (its sockets are closed) and only waits to be reaped.
pub fn is_alive(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// The arguments the process was started with, or `None` when it is gone.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
    )
}

/// Whether `pid` is alive and its command line contains every one of `needles`
/// as a whole argument or as part of one. This is the guard against pid reuse.
pub fn cmdline_matches(pid: u32, needles: &[&str]) -> bool {
    if !is_alive(pid) {
        return false;
    }
    let Some(args) = cmdline(pid) else {
        return false;
    };
    needles
        .iter()
        .all(|needle| args.iter().any(|arg| arg.contains(needle)))
}

/// Splits `/proc/<pid>/stat` into its state letter and parent pid. The command
/// name in parentheses may itself contain spaces and parentheses, so parsing
/// starts after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every live process whose parent chain leads to `root` (excluding `root`).
pub fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, ppid)) = parse_stat(&stat)
            && state != 'Z'
        {
            parents.push((pid, ppid));
        }
    }
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && pid != root && found.insert(pid) {
                frontier.push(pid);
            }
        }
    }
    found.into_iter().collect()
}

/// Kills `root` and all its descendants with SIGKILL, and returns every pid
/// that was signalled.
///
/// The tree is first frozen with SIGSTOP, re-reading `/proc` until no new
/// process appears, so that nothing forks or gets re-parented to init between
/// the listing and the kill. A process that is already gone is not an error.
pub fn kill_tree(root: u32) -> Result<Vec<u32>, Errno> {
    let mut frozen: BTreeSet<u32> = BTreeSet::new();
    if signal(root, Signal::SIGSTOP)? {
        frozen.insert(root);
    }
    // Bounded: a tree that keeps growing while frozen cannot exist, but a
    // bound keeps a pathological /proc from spinning forever.
    for _ in 0..50 {
        let mut grew = false;
        for pid in descendants(root) {
            if frozen.insert(pid) {
                grew = true;
                signal(pid, Signal::SIGSTOP)?;
            }
        }
        if !grew {
            break;
        }
    }
    for &pid in &frozen {
        signal(pid, Signal::SIGKILL)?;
    }
    Ok(frozen.into_iter().collect())
}

/// Sends `sig`; returns whether the process existed.
fn signal(pid: u32, sig: Signal) -> Result<bool, Errno> {
    let Ok(raw) = i32::try_from(pid) else {
        return Ok(false);
    };
    match kill(Pid::from_raw(raw), sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Sends SIGTERM to `pid`; returns whether the process existed.
pub fn terminate(pid: u32) -> Result<bool, Errno> {
    signal(pid, Signal::SIGTERM)
}

/// Waits until none of `pids` is alive; returns the ones still alive at the
/// deadline.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&p| is_alive(p)).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let stat = "42 (a) b (c)) S 7 42 42 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 7)));
    }
}
