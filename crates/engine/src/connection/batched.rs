//! A connection view that sends the scripts of several tasks running side
//! by side as one script: the round trip a loop over `user` or `group`
//! costs once for all its items' checks, and once for all their applies.
//!
//! Each task runs as usual (check, then apply) and calls `run` as usual;
//! the view holds each script until every task still running has sent
//! one (or finished), then sends them together, each in a subshell of its
//! own (so `exit`, `exec`, `cd` and traps stay in it, as `Connection::run`
//! promises), between marker lines on stdout and stderr that carry its
//! exit status, and hands every task its own output back. A task's stdin
//! travels in the script as the `printf` builtin's octal escapes, piped
//! into its subshell; the scripts kept for `-vv` show only its length, so
//! a password on stdin is never shown.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures::channel::oneshot;

use crate::connection::{ConnError, Connection, Output, View, escalate};

/// One held script and where its output goes.
struct Request {
    script: String,
    stdin: Vec<u8>,
    timeout: Duration,
    reply: oneshot::Sender<Result<Output, ConnError>>,
}

struct State {
    /// The tasks that have not finished yet.
    running: usize,
    waiting: Vec<Request>,
}

/// The view; `running` tasks share it, and each calls `leave` when done.
pub struct Batched<'a> {
    conn: &'a dyn Connection,
    state: Mutex<State>,
    /// Where the sent scripts are kept for `-vv`, when they are.
    scripts: Option<&'a Mutex<Vec<String>>>,
    token: String,
}

impl<'a> Batched<'a> {
    pub fn new(
        conn: &'a dyn Connection,
        running: usize,
        scripts: Option<&'a Mutex<Vec<String>>>,
    ) -> Batched<'a> {
        Batched {
            conn,
            state: Mutex::new(State {
                running,
                waiting: Vec::new(),
            }),
            scripts,
            token: format!(
                "dtrplay-batch-{:016x}",
                crate::connection::remote_shell::random_u64()
            ),
        }
    }

    /// A task is done: the others no longer wait for its script.
    pub async fn leave(&self) {
        let ready = {
            let mut state = self.lock();
            state.running = state.running.saturating_sub(1);
            self.take_if_ready(&mut state)
        };
        if let Some(requests) = ready {
            self.send(requests).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_if_ready(&self, state: &mut State) -> Option<Vec<Request>> {
        (!state.waiting.is_empty() && state.waiting.len() >= state.running)
            .then(|| std::mem::take(&mut state.waiting))
    }

    /// Sends the held scripts as one, and answers each.
    async fn send(&self, requests: Vec<Request>) {
        let (script, shown) = self.combine(&requests);
        if let Some(scripts) = self.scripts {
            scripts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(shown);
        }
        // The scripts run one after the other, each within its own time.
        let timeout = requests
            .iter()
            .fold(Duration::ZERO, |total, r| total.saturating_add(r.timeout));
        match self.conn.run(&script, &[], timeout).await {
            Ok(out) => {
                let mut parts = self.split(&out, requests.len()).into_iter();
                for request in requests {
                    let part = parts.next().flatten().ok_or_else(|| ConnError::Lost {
                        host: String::new(),
                        message: "the batched script's output was cut short".to_string(),
                    });
                    let _ = request.reply.send(part);
                }
            }
            Err(e) => {
                for request in requests {
                    let _ = request.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }

    /// The script sent, and the one shown (stdin as its length only).
    fn combine(&self, requests: &[Request]) -> (String, String) {
        let t = &self.token;
        let mut sent = String::new();
        let mut shown = String::new();
        for (i, r) in requests.iter().enumerate() {
            let begin = format!("printf '%s\\n' '{t} {i}'; printf '%s\\n' '{t} {i}' >&2\n");
            sent.push_str(&begin);
            shown.push_str(&begin);
            // `eval` of the quoted script, as the remote shell runs one:
            // whatever the script's own syntax, it stays one word here.
            let body = format!("(eval '{}')", r.script.replace('\'', "'\\''"));
            if r.stdin.is_empty() {
                sent.push_str(&format!("{body} </dev/null"));
                shown.push_str(&format!("{body} </dev/null"));
            } else {
                let octal: String = r.stdin.iter().map(|b| format!("\\{b:03o}")).collect();
                sent.push_str(&format!("printf '{octal}' | {body}"));
                shown.push_str(&format!(
                    "printf '({} bytes of stdin)' | {body}",
                    r.stdin.len()
                ));
            }
            let end = format!("\nprintf '\\n%s %d\\n' '{t}' \"$?\"; printf '\\n%s\\n' '{t}' >&2\n");
            sent.push_str(&end);
            shown.push_str(&end);
        }
        (sent, shown)
    }

    /// Each script's output, cut at the markers; `None` from the first
    /// one whose markers are missing (the host stopped part way).
    fn split(&self, out: &Output, count: usize) -> Vec<Option<Output>> {
        let t = self.token.as_bytes();
        let mut stdout = out.stdout.as_slice();
        let mut stderr = out.stderr.as_slice();
        let mut parts = Vec::new();
        for i in 0..count {
            let begin = [t, format!(" {i}\n").as_bytes()].concat();
            let part = (|| {
                let body_out = after(stdout, &begin)?;
                let body_err = after(stderr, &begin)?;
                let end_out = [b"\n", t, b" "].concat();
                let at = find(body_out, &end_out)?;
                let rest = &body_out[at + end_out.len()..];
                let line_end = find(rest, b"\n")?;
                let status = std::str::from_utf8(&rest[..line_end]).ok()?.parse().ok()?;
                let end_err = [b"\n", t, b"\n"].concat();
                let at_err = find(body_err, &end_err)?;
                let output = Output {
                    status,
                    stdout: body_out[..at].to_vec(),
                    stderr: body_err[..at_err].to_vec(),
                };
                Some((
                    output,
                    &rest[line_end + 1..],
                    &body_err[at_err + end_err.len()..],
                ))
            })();
            match part {
                Some((output, next_out, next_err)) => {
                    parts.push(Some(output));
                    stdout = next_out;
                    stderr = next_err;
                }
                None => break,
            }
        }
        parts
    }
}

/// The bytes after the first `marker` in `text`.
fn after<'t>(text: &'t [u8], marker: &[u8]) -> Option<&'t [u8]> {
    find(text, marker).map(|at| &text[at + marker.len()..])
}

fn find(text: &[u8], needle: &[u8]) -> Option<usize> {
    text.windows(needle.len()).position(|w| w == needle)
}

/// The same failure, for every task of the batch.
fn copy_error(e: &ConnError) -> ConnError {
    match e {
        ConnError::Connect {
            host,
            message,
            hint,
        } => ConnError::Connect {
            host: host.clone(),
            message: message.clone(),
            hint: hint.clone(),
        },
        ConnError::Lost { host, message } => ConnError::Lost {
            host: host.clone(),
            message: message.clone(),
        },
        ConnError::Timeout { host, after } => ConnError::Timeout {
            host: host.clone(),
            after: *after,
        },
        ConnError::Become {
            host,
            message,
            hint,
        } => ConnError::Become {
            host: host.clone(),
            message: message.clone(),
            hint: hint.clone(),
        },
    }
}

#[async_trait]
impl View for Batched<'_> {
    fn wrapped(&self) -> &dyn Connection {
        self.conn
    }

    /// A script run as another user goes alone: batches share one shell.
    async fn script(
        &self,
        escalation: Option<&escalate::Escalation>,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        if let Some(escalation) = escalation {
            return self.conn.run_as(escalation, script, stdin, timeout).await;
        }
        let (reply, answer) = oneshot::channel();
        let ready = {
            let mut state = self.lock();
            state.waiting.push(Request {
                script: script.to_string(),
                stdin: stdin.to_vec(),
                timeout,
                reply,
            });
            self.take_if_ready(&mut state)
        };
        if let Some(requests) = ready {
            self.send(requests).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(ConnError::Lost {
                host: String::new(),
                message: "the batched script was abandoned".to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sh;

    #[async_trait]
    impl Connection for Sh {
        async fn run(
            &self,
            script: &str,
            stdin: &[u8],
            _timeout: Duration,
        ) -> Result<Output, ConnError> {
            use std::io::Write;
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("sh starts");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(stdin)
                .expect("stdin written");
            let out = child.wait_with_output().expect("sh ends");
            Ok(Output {
                status: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }

        async fn close(&self) {}

        fn describe(&self) -> String {
            "sh".into()
        }
    }

    #[tokio::test]
    async fn every_task_gets_its_own_output_status_and_stdin() {
        let kept = Mutex::new(Vec::new());
        let batch = Batched::new(&Sh, 3, Some(&kept));
        let one = async {
            let out = batch
                .run(
                    "echo one; echo err >&2; exit 3",
                    &[],
                    Duration::from_secs(5),
                )
                .await;
            batch.leave().await;
            out
        };
        let two = async {
            let out = batch
                .run("printf 'no newline'", &[], Duration::from_secs(5))
                .await;
            batch.leave().await;
            out
        };
        let three = async {
            let out = batch
                .run(
                    "read -r line; echo \"got $line\"",
                    b"secret\xff\n",
                    Duration::from_secs(5),
                )
                .await;
            batch.leave().await;
            out
        };
        let (one, two, three) = futures::join!(one, two, three);
        let (one, two, three) = (one.expect("one"), two.expect("two"), three.expect("three"));
        assert_eq!(
            (one.status, one.stdout_text(), one.stderr_text()),
            (3, "one\n".into(), "err\n".into())
        );
        assert_eq!((two.status, two.stdout_text()), (0, "no newline".into()));
        assert_eq!(three.stdout, b"got secret\xff\n");
        let kept = kept.lock().expect("kept");
        assert_eq!(kept.len(), 1, "one round trip");
        assert!(
            !kept[0].contains("secret") && !kept[0].contains("\\163"),
            "{}",
            kept[0]
        );
    }
}
