//! Asynchronous tasks: Ansible's `async` and `poll` keywords.
//!
//! With `poll` above 0 (15 when only `async` is given) a task runs as any
//! other, within `async` seconds: each of its remote scripts gets that
//! long (the task `timeout` machinery stops a script that outlives it), and
//! the whole task a little more, so a task of several scripts is bounded
//! too. Passing the limit fails the task with Ansible's message.
//!
//! With `poll: 0` the task's one remote script is started in the
//! background and the play moves on. That is possible for the modules
//! whose work is one script (`command`, `shell`, `script`): their check
//! runs as usual, and the script their apply sends goes through
//! [`Detached`], which writes it into a private job directory
//! (`~/.ansible_async/<jid>/`, mode 0700, or under `ansible_async_dir`)
//! and starts it there with `setsid` (`nohup` where there is none), so
//! that neither the end of the shell that started it nor the end of the
//! run stops it. The job writes its output to `stdout` and `stderr` and
//! its exit status to `rc` when it ends; `timeout` (coreutils) stops it
//! after `async` seconds, leaving `timedout`. The `async_status` module
//! reads those files back.
//!
//! A background task that starts nothing (check mode, or `creates` saying
//! there is nothing to do) still returns a job id, so that the playbook's
//! `async_status` task works as in Ansible; that job's result is kept in
//! this process ([`settle`]) instead of on the host, since check mode
//! writes nothing.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::connection::{ConnError, Connection, Output, View, escalate};
use crate::tasks::remote::{self, Expand};

/// Where jobs live on the host unless `ansible_async_dir` says otherwise.
pub const DEFAULT_DIR: &str = "~/.ansible_async";

/// How often Ansible polls when `async` is given without `poll`.
pub const DEFAULT_POLL: u64 = 15;

/// How much longer than `async` a task of several scripts may take in
/// all, on top of each script's own limit: the time to stop a script that
/// outlived it.
const DEADLINE_GRACE: Duration = Duration::from_secs(15);

/// How a task with `async` runs on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `poll` above 0: waited for, within the limit.
    Deadline(Duration),
    /// `poll: 0`: started in the background, stopped after `limit`
    /// seconds; its job directory is under `dir` (as written, `~` allowed).
    Background { limit: u64, dir: String },
}

impl Mode {
    /// The mode of `async: limit` with `poll: poll`; none for `async: 0`,
    /// which Ansible runs as any other task.
    pub fn of(limit: u64, poll: u64, dir: String) -> Option<Mode> {
        match (limit, poll) {
            (0, _) => None,
            (limit, 0) => Some(Mode::Background { limit, dir }),
            (limit, _) => Some(Mode::Deadline(Duration::from_secs(limit))),
        }
    }

    /// The longest the whole task may take, scripts and all.
    pub fn backstop(&self) -> Option<Duration> {
        match self {
            Mode::Deadline(limit) => Some(*limit + DEADLINE_GRACE),
            Mode::Background { .. } => None,
        }
    }
}

/// Ansible's message for a task that outlived its `async` limit.
pub fn expired(limit: Duration) -> String {
    format!(
        "async task did not complete within the requested time - {}s",
        limit.as_secs()
    )
}

/// A new job id, shaped like Ansible's (`j123456789012.4242`).
pub fn new_jid() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "j{:012}.{}",
        hasher.finish() % 1_000_000_000_000,
        std::process::id()
    )
}

/// Whether `jid` can name a job directory: no path separators, no dot
/// names, nothing a shell would read specially.
pub fn valid_jid(jid: &str) -> bool {
    !jid.is_empty()
        && jid != "."
        && jid != ".."
        && jid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The shell text that sets `d` to the job's directory (and `b` to the
/// directory of all jobs).
fn dir_lines(dir: &str, jid: &str) -> String {
    let base = remote::expand_word(
        dir,
        Expand {
            vars: true,
            glob: false,
        },
    );
    format!("b={base}\nd=\"$b\"/{}\n", remote::shell_quote(jid))
}

/// What the background job runs: the task's script, with its stdin and
/// output in files, then its exit status, written last and atomically so
/// that a reader never sees a half-written one.
const RUNNER: &str = r#"d=$1
if command -v timeout >/dev/null 2>&1; then
  timeout "$2" /bin/sh "$d/job" <"$d/stdin" >"$d/stdout" 2>"$d/stderr"
  rc=$?
  [ "$rc" -eq 124 ] && echo "$2" >"$d/timedout"
else
  /bin/sh "$d/job" <"$d/stdin" >"$d/stdout" 2>"$d/stderr"
  rc=$?
fi
echo "$rc" >"$d/rc.tmp" && mv "$d/rc.tmp" "$d/rc"
"#;

/// The script that starts `script` in the background as job `jid`, its
/// stdin being the request's, and prints the job's directory.
pub fn launch_script(dir: &str, jid: &str, limit: u64, script: &str) -> String {
    format!(
        "umask 077\n{}\
         mkdir -p \"$b\" && mkdir \"$d\" || {{ echo \"could not create the job directory $d\" >&2; exit 1; }}\n\
         cat >\"$d/stdin\" && printf '%s' {} >\"$d/job\" || {{ echo \"could not write the job into $d\" >&2; exit 1; }}\n\
         if command -v setsid >/dev/null 2>&1; then s=setsid; else s=nohup; fi\n\
         $s /bin/sh -c {} dtrplay-async \"$d\" {limit} </dev/null >/dev/null 2>&1 &\n\
         printf '%s\\n' \"$d\"\n",
        dir_lines(dir, jid),
        remote::shell_quote(script),
        remote::shell_quote(RUNNER),
    )
}

/// The script that reports a job: `missing`, `running`, or `finished RC
/// LIMIT` (LIMIT 0 unless `timeout` stopped it) followed by its stdout,
/// with its stderr on stderr. It also prints the job's directory first.
pub fn status_script(dir: &str, jid: &str) -> String {
    format!(
        "{}printf '%s\\n' \"$d\"\n\
         if [ ! -d \"$d\" ]; then echo missing\n\
         elif [ ! -f \"$d/rc\" ]; then echo running\n\
         else\n\
         t=0; [ -f \"$d/timedout\" ] && t=$(cat \"$d/timedout\")\n\
         printf 'finished %s %s\\n' \"$(cat \"$d/rc\")\" \"$t\"\n\
         cat \"$d/stdout\" 2>/dev/null; cat \"$d/stderr\" >&2 2>/dev/null\n\
         fi\n",
        dir_lines(dir, jid)
    )
}

/// The script that removes a job's directory.
pub fn cleanup_script(dir: &str, jid: &str) -> String {
    format!(
        "{}printf '%s\\n' \"$d\"\nrm -rf -- \"$d\"\n",
        dir_lines(dir, jid)
    )
}

/// A job as `status_script` reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Missing,
    Running,
    Finished {
        rc: i32,
        /// The limit `timeout` stopped it at, if it did.
        timed_out: Option<u64>,
        stdout: String,
        stderr: String,
    },
}

/// What `status_script` printed that is no job status: the script and
/// its reader disagree, or the job directory holds something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("the job's exit status {0:?} is not a number")]
    ExitStatus(String),
    #[error("unexpected job status {0:?}")]
    Unexpected(String),
}

/// Reads what `status_script` printed: the job's directory and its state.
pub fn parse_status(out: &Output) -> Result<(String, Status), StatusError> {
    let text = out.stdout_text();
    let mut parts = text.splitn(3, '\n');
    let dir = parts.next().unwrap_or_default().to_string();
    let head = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let status = match head.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["missing"] => Status::Missing,
        ["running"] => Status::Running,
        ["finished", rc, limit] => Status::Finished {
            rc: rc
                .parse()
                .map_err(|_| StatusError::ExitStatus(rc.to_string()))?,
            timed_out: limit.parse().ok().filter(|l| *l > 0),
            stdout: strip_ends(rest),
            stderr: strip_ends(&out.stderr_text()),
        },
        _ => return Err(StatusError::Unexpected(head.to_string())),
    };
    Ok((dir, status))
}

/// Output as Ansible's `command` registers it: without trailing newlines.
fn strip_ends(text: &str) -> String {
    text.trim_end_matches(['\n', '\r']).to_string()
}

/// The lines of a text, as `stdout_lines` holds them.
pub fn lines(text: &str) -> Value {
    Value::from(text.lines().map(str::to_string).collect::<Vec<_>>())
}

/// A job's results by host and job id.
type Results = HashMap<(String, String), Map<String, Value>>;

/// Results of jobs that started nothing on the host.
static SETTLED: LazyLock<Mutex<Results>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Keeps the result of a job that needed no background process.
pub fn settle(host: &str, jid: &str, result: Map<String, Value>) {
    SETTLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((host.to_string(), jid.to_string()), result);
}

/// The result of a job kept by [`settle`].
pub fn settled(host: &str, jid: &str) -> Option<Map<String, Value>> {
    SETTLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(host.to_string(), jid.to_string()))
        .cloned()
}

/// Forgets a job kept by [`settle`] (`async_status: mode=cleanup`).
pub fn forget(host: &str, jid: &str) -> bool {
    SETTLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(host.to_string(), jid.to_string()))
        .is_some()
}

/// A connection view that starts the first script sent through it as a
/// background job instead of waiting for it, and answers that script with
/// an empty success. Whether the job started is read with [`Detached::launched`].
pub struct Detached<'a> {
    pub conn: &'a dyn Connection,
    pub jid: String,
    pub dir: String,
    pub limit: u64,
    launched: Mutex<Option<Result<String, String>>>,
}

impl<'a> Detached<'a> {
    pub fn new(conn: &'a dyn Connection, jid: String, dir: String, limit: u64) -> Detached<'a> {
        Detached {
            conn,
            jid,
            dir,
            limit,
            launched: Mutex::new(None),
        }
    }

    /// The job's directory on the host once it started, or why it did not
    /// start; `None` when no script was sent.
    pub fn launched(&self) -> Option<Result<String, String>> {
        self.launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn start(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        if self.launched().is_some() {
            // The modules that run in the background send one script; a
            // second one would not belong to the job.
            return Ok(Output {
                status: 1,
                stdout: Vec::new(),
                stderr: b"a background job runs one script".to_vec(),
            });
        }
        let launch = launch_script(&self.dir, &self.jid, self.limit, script);
        let out = match escalation {
            Some(e) => self.conn.run_as(e, &launch, stdin, timeout).await?,
            None => self.conn.run(&launch, stdin, timeout).await?,
        };
        let result = if out.success() {
            Ok(out.stdout_text().trim_end().to_string())
        } else {
            Err(format!(
                "could not start the background job: {}",
                out.stderr_text().trim()
            ))
        };
        *self.launched.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        Ok(Output {
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }
}

#[async_trait]
impl View for Detached<'_> {
    fn wrapped(&self) -> &dyn Connection {
        self.conn
    }

    async fn script(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        self.start(escalation, script, stdin, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_ansible() {
        assert_eq!(Mode::of(0, 0, DEFAULT_DIR.into()), None);
        assert_eq!(
            Mode::of(10, 2, DEFAULT_DIR.into()),
            Some(Mode::Deadline(Duration::from_secs(10)))
        );
        assert_eq!(
            Mode::of(10, 0, "/d".into()),
            Some(Mode::Background {
                limit: 10,
                dir: "/d".into()
            })
        );
    }

    #[test]
    fn job_ids_name_nothing_else() {
        let jid = new_jid();
        assert!(jid.starts_with('j') && valid_jid(&jid), "{jid}");
        for bad in ["", "..", "a/b", "$(x)", "a b"] {
            assert!(!valid_jid(bad), "{bad}");
        }
    }

    #[test]
    fn statuses_are_read_back() {
        let out = |stdout: &str, stderr: &str| Output {
            status: 0,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        };
        assert_eq!(
            parse_status(&out("/h/.ansible_async/j1\nrunning\n", "")),
            Ok(("/h/.ansible_async/j1".into(), Status::Running))
        );
        assert_eq!(
            parse_status(&out("/d/j1\nfinished 3 0\nout\nmore\n\n", "err\n")),
            Ok((
                "/d/j1".into(),
                Status::Finished {
                    rc: 3,
                    timed_out: None,
                    stdout: "out\nmore".into(),
                    stderr: "err".into()
                }
            ))
        );
        assert_eq!(
            parse_status(&out("/d/j1\nfinished 124 5\n", "")).map(|(_, s)| s),
            Ok(Status::Finished {
                rc: 124,
                timed_out: Some(5),
                stdout: String::new(),
                stderr: String::new()
            })
        );
        assert!(parse_status(&out("/d/j1\nwhat\n", "")).is_err());
    }
}
