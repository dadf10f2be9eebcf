//! The process limits a fleet of N nodes needs on the control machine.
//!
//! Every node is an sshd on this machine, and at the fan-out moments every
//! node has a session at once: the floor starts one `ssh` per node (each
//! with its own sshd session, two processes on the node side), dtrplay and
//! pyinfra hold one socket per node, and the delay proxy holds two sockets
//! per connection plus one listener per node in the benchmark's own
//! process. The soft `RLIMIT_NOFILE` of a login shell (often 1024) is too
//! small for N=500, so the benchmark raises it for itself and everything it
//! starts (limits are inherited) before the first fleet, and says so in the
//! record. Process counts are bounded by the kernel's `pid_max` and
//! `threads-max`, which only root could change system-wide; the benchmark
//! checks them and refuses a size they cannot carry instead of changing
//! this machine's settings.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// File descriptors per node at the widest moment (the delay proxy's
/// listener and two sockets per connection, the tool's socket, the
/// wrapper's pipes), with room to spare.
const FILES_PER_NODE: u64 = 8;
/// File descriptors beyond the nodes: the runtime, logs, the tool itself.
const FILES_BASE: u64 = 1024;
/// Processes per node at the widest moment: the sshd listener, its
/// session's two processes, the login shell, a task's program and the
/// floor's `ssh` client, with room to spare.
const PROCESSES_PER_NODE: u64 = 8;
/// Processes beyond the nodes: whatever else runs on the machine.
const PROCESSES_BASE: u64 = 2048;

/// How many file descriptors a run on `nodes` nodes needs.
pub fn files_needed(nodes: usize) -> u64 {
    nodes as u64 * FILES_PER_NODE + FILES_BASE
}

/// How many processes a run on `nodes` nodes needs.
pub fn processes_needed(nodes: usize) -> u64 {
    nodes as u64 * PROCESSES_PER_NODE + PROCESSES_BASE
}

/// The `(soft, hard)` file limit to set so that `needed` descriptors fit,
/// `None` when the current one already does. Root may raise the hard
/// limit too; anyone else only up to the hard limit, so a shortfall is an
/// error that names the `ulimit` to run.
pub fn raised_files(
    soft: u64,
    hard: u64,
    needed: u64,
    root: bool,
) -> Result<Option<(u64, u64)>, String> {
    if soft >= needed {
        return Ok(None);
    }
    if hard >= needed {
        return Ok(Some((needed, hard)));
    }
    if root {
        return Ok(Some((needed, needed)));
    }
    Err(format!(
        "the largest fleet needs {needed} open files but the hard limit is {hard}; raise it (`ulimit -Hn {needed}` as root) or measure smaller fleets"
    ))
}

/// Raises `RLIMIT_NOFILE` for the largest fleet and checks the kernel's
/// process limits; returns what the record should say about both.
pub fn prepare(largest: usize) -> Result<Vec<(String, String)>, String> {
    let mut facts = Vec::new();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    let needed = files_needed(largest);
    let root = nix::unistd::geteuid().is_root();
    let text = match raised_files(soft, hard, needed, root)? {
        Some((new_soft, new_hard)) => {
            setrlimit(Resource::RLIMIT_NOFILE, new_soft, new_hard)
                .map_err(|e| format!("cannot raise RLIMIT_NOFILE to {new_soft}: {e}"))?;
            format!(
                "raised from {soft} (hard {hard}) to {new_soft} (hard {new_hard}) for this run; {needed} needed at N={largest}"
            )
        }
        None => format!("{soft} (hard {hard}), {needed} needed at N={largest}: unchanged"),
    };
    facts.push(("open files (RLIMIT_NOFILE)".to_string(), text));
    let processes = processes_needed(largest);
    for (name, path) in [
        ("pid_max", "/proc/sys/kernel/pid_max"),
        ("threads-max", "/proc/sys/kernel/threads-max"),
    ] {
        let Some(limit) = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
        else {
            continue;
        };
        if limit < processes {
            return Err(format!(
                "the largest fleet needs about {processes} processes but the kernel's {name} is {limit}; measure smaller fleets"
            ));
        }
        facts.push((
            format!("kernel {name}"),
            format!("{limit}, about {processes} processes needed at N={largest}"),
        ));
    }
    Ok(facts)
}
