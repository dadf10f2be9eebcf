//! The lab nodes' stand-in for `systemctl` acting on the Docker daemon
//! (`dtrplay lab systemctl ARGS...`, reached as `systemctl` on the nodes).
//!
//! The procedure's public variants restart the daemon after placing a CA in
//! `certs.d`; a good playbook restarts it only when the CA changed. Every
//! restart is therefore recorded (one line per restart, milliseconds since
//! the epoch, in `<node>/engine/restarts.log`) so tests can count them.
//! `stop` is recorded too: until the next `start` or `restart`, `is-active`
//! and `status` report the daemon inactive (the node's real engine keeps
//! running; acting on it is not built yet).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::docker::{ENGINE_DIR, Engine};

const RESTARTS_FILE: &str = "restarts.log";
const STOPPED_FILE: &str = "stopped";

/// The units the stand-in knows: Docker's daemon and its socket.
fn is_docker_unit(unit: &str) -> bool {
    matches!(unit, "docker" | "docker.service" | "docker.socket")
}

/// Runs `systemctl ARGS...` on the current node; prints like systemd.
pub async fn run(args: &[String]) -> ExitCode {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some((verb, units)) = words.split_first() else {
        eprintln!("systemctl (dtrplay lab): a command is required");
        return ExitCode::from(1);
    };
    if *verb == "daemon-reload" {
        return ExitCode::SUCCESS;
    }
    let engine = match Engine::from_env() {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(1);
        }
    };
    let [unit] = units else {
        eprintln!("systemctl (dtrplay lab): exactly one unit is supported, got {units:?}");
        return ExitCode::from(1);
    };
    let service = if unit.contains('.') {
        unit.to_string()
    } else {
        format!("{unit}.service")
    };
    if !is_docker_unit(unit) {
        return unknown_unit(verb, &service);
    }
    match *verb {
        "restart" | "start" | "reload-or-restart" | "try-restart" => {
            match record_restart(&engine.root) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("Failed to {verb} {service}: {err}");
                    ExitCode::from(1)
                }
            }
        }
        "stop" => match fs::write(engine.root.join(ENGINE_DIR).join(STOPPED_FILE), b"") {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("Failed to stop {service}: {err}");
                ExitCode::from(1)
            }
        },
        "is-active" => {
            if is_stopped(&engine.root) {
                println!("inactive");
                ExitCode::from(3)
            } else {
                println!("active");
                ExitCode::SUCCESS
            }
        }
        "is-enabled" => {
            println!("enabled");
            ExitCode::SUCCESS
        }
        "status" => status(&engine.root),
        other => {
            eprintln!("systemctl (dtrplay lab): `{other}` is not supported for {service}");
            ExitCode::from(1)
        }
    }
}

fn unknown_unit(verb: &str, service: &str) -> ExitCode {
    match verb {
        "is-active" => {
            println!("inactive");
            ExitCode::from(3)
        }
        "status" => {
            eprintln!("Unit {service} could not be found.");
            ExitCode::from(4)
        }
        _ => {
            eprintln!("Failed to {verb} {service}: Unit {service} not found.");
            ExitCode::from(5)
        }
    }
}

fn status(root: &Path) -> ExitCode {
    let active = !is_stopped(root);
    let since = restarts(root).last().copied();
    println!("● docker.service - Docker Application Container Engine (dtrplay lab stand-in)");
    println!("     Loaded: loaded (/lib/systemd/system/docker.service; enabled; preset: enabled)");
    if active {
        match since {
            Some(ms) => println!("     Active: active (running) since {}", utc(ms / 1000)),
            None => println!("     Active: active (running)"),
        }
        println!("   Restarts: {}", restarts(root).len());
        ExitCode::SUCCESS
    } else {
        println!("     Active: inactive (dead)");
        ExitCode::from(3)
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the epoch (Howard Hinnant's
/// civil-from-days algorithm).
fn utc(seconds: u128) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Whether `systemctl stop docker` was the last word on this node.
pub fn is_stopped(root: &Path) -> bool {
    root.join(ENGINE_DIR).join(STOPPED_FILE).exists()
}

fn record_restart(root: &Path) -> std::io::Result<()> {
    let dir = root.join(ENGINE_DIR);
    let stopped = dir.join(STOPPED_FILE);
    if stopped.exists() {
        fs::remove_file(&stopped)?;
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // One short append per restart: concurrent restarts each land whole.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(RESTARTS_FILE))?;
    writeln!(file, "{millis}")
}

/// Every recorded restart of the node rooted at `root`, oldest first, in
/// milliseconds since the epoch.
pub fn restarts(root: &Path) -> Vec<u128> {
    fs::read_to_string(root.join(ENGINE_DIR).join(RESTARTS_FILE))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// How many times the Docker daemon of the node rooted at `root` was
/// (re)started through the stand-in.
pub fn restart_count(root: &Path) -> usize {
    restarts(root).len()
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_683_221_823), "2023-05-04 17:37:03 UTC");
    }
}
