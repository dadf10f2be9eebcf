//! The `wait_for` task: wait until a TCP port accepts connections (or
//! stops accepting them), a file exists (optionally containing a match of
//! `search_regex`) or is gone, or simply `timeout` seconds.
//!
//! The whole wait is one script on the host, as Ansible's module runs on
//! the target: `delay`, then a loop that probes every `sleep` seconds
//! until the condition holds or `timeout` passes. A port is probed with
//! bash's `/dev/tcp` under `timeout` (coreutils) for `connect_timeout`;
//! files with shell tests and `grep -E`. Like Ansible's, which does not
//! support check mode, it does not wait in check mode, and it is never a
//! change. The task's own `timeout` keyword still bounds the script.
//!
//! Differences from Ansible: `state: drained`, `exclude_hosts`,
//! `active_connection_states` and `search_regex` on a port are refused;
//! probing a port needs bash on the host.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, Report, shell_quote};

/// The arguments of `wait_for`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    pub host: String,
    pub port: Option<i64>,
    pub path: Option<String>,
    pub state: String,
    pub search_regex: Option<String>,
    pub delay: i64,
    pub timeout: i64,
    pub sleep: i64,
    pub connect_timeout: i64,
    pub msg: Option<String>,
}

/// The parameters of `wait_for`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "wait_for",
        vec![
            Param::new("host", Kind::Str).default("127.0.0.1"),
            Param::new("port", Kind::Int),
            Param::new("path", Kind::Path),
            Param::new("state", Kind::Str)
                .choices(&["absent", "drained", "present", "started", "stopped"])
                .default("started"),
            Param::new("search_regex", Kind::Str),
            Param::new("delay", Kind::Int).default(0),
            Param::new("timeout", Kind::Int).default(300),
            Param::new("sleep", Kind::Int).default(1),
            Param::new("connect_timeout", Kind::Int).default(5),
            Param::new("msg", Kind::Str),
        ],
    )
}

impl WaitFor {
    fn validated(&self) -> Result<(), TaskError> {
        if self.port.is_some() && self.path.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: path|port",
            ));
        }
        if self.state == "drained" {
            return Err(TaskError::failed(
                "wait_for state=drained is not supported by dtrplay",
            ));
        }
        if self.port.is_some() && self.search_regex.is_some() {
            return Err(TaskError::failed(
                "wait_for search_regex on a port is not supported by dtrplay; search a file with path",
            ));
        }
        if let Some(port) = self.port {
            if !(1..=65535).contains(&port) {
                return Err(TaskError::failed(format!("port {port} is not a TCP port")));
            }
        }
        for (name, value) in [
            ("delay", self.delay),
            ("timeout", self.timeout),
            ("sleep", self.sleep),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value < 0 {
                return Err(TaskError::failed(format!("{name} must not be negative")));
            }
        }
        Ok(())
    }

    /// Whether the state asks for something to go away.
    fn gone(&self) -> bool {
        matches!(self.state.as_str(), "absent" | "stopped")
    }

    /// The shell condition that holds when the wait is over.
    fn probe(&self) -> Option<String> {
        let not = if self.gone() { "! " } else { "" };
        if let Some(port) = self.port {
            let target = format!("/dev/tcp/{}/{port}", self.host);
            return Some(format!(
                "{not}timeout {} bash -c {} 2>/dev/null",
                self.connect_timeout.max(1),
                shell_quote(&format!("exec 3<>{target}"))
            ));
        }
        let path = remote::path_arg(self.path.as_deref()?);
        Some(match (&self.search_regex, self.gone()) {
            (Some(re), false) => format!("grep -E -q -- {} {path} 2>/dev/null", shell_quote(re)),
            (_, false) => format!("[ -e {path} ]"),
            (_, true) => format!("[ ! -e {path} ]"),
        })
    }

    fn script(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        if self.port.is_some() {
            s.push_str(
                "command -v bash >/dev/null 2>&1 || fail nobash\n\
                 command -v timeout >/dev/null 2>&1 || fail nobash\n",
            );
        }
        s.push_str(&format!(
            "start=$(date +%s)\nsleep {}\nend=$((start + {}))\n",
            self.delay, self.timeout
        ));
        match self.probe() {
            Some(probe) => s.push_str(&format!(
                "while :; do\n  if {probe}; then echo ok=1; break; fi\n\
                 \x20 [ \"$(date +%s)\" -ge \"$end\" ] && {{ echo ok=0; break; }}\n\
                 \x20 sleep {}\ndone\n",
                self.sleep.max(1)
            )),
            // Neither a port nor a path: just the time.
            None => s.push_str(&format!("sleep {}\necho ok=1\n", self.timeout)),
        }
        s.push_str("echo \"elapsed=$(($(date +%s) - start))\"\n");
        s
    }

    fn timeout_msg(&self) -> String {
        if let Some(msg) = &self.msg {
            return msg.clone();
        }
        match (&self.port, &self.path, &self.search_regex, self.gone()) {
            (Some(p), _, _, false) => format!("Timeout when waiting for {}:{p}", self.host),
            (Some(p), _, _, true) => format!("Timeout when waiting for {}:{p} to stop.", self.host),
            (_, Some(path), Some(re), _) => {
                format!("Timeout when waiting for search string {re} in {path}")
            }
            (_, Some(path), None, false) => format!("Timeout when waiting for file {path}"),
            (_, Some(path), None, true) => format!("Timeout when waiting for {path} to be absent."),
            _ => "Timeout".to_string(),
        }
    }
}

#[async_trait]
impl Task for WaitFor {
    type Drift = ();

    async fn check(&self, _cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        self.validated()?;
        // The wait runs in apply, so check mode does not wait.
        let mut preview =
            Outcome::ok().with_msg("would wait (wait_for does not run in check mode)");
        preview.changed = false;
        Ok(Check::Drift { drift: (), preview })
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        let out = cx.run(&self.script(), &[]).await?;
        if !out.success() {
            let failure = remote::failure(&out);
            let msg = match failure.code.as_deref() {
                Some("nobash") => {
                    "wait_for on a port needs bash and timeout on the host".to_string()
                }
                _ => "could not wait".to_string(),
            };
            return Err(remote::with_detail(msg, &failure));
        }
        let (ok, elapsed) = Report::parse(&out.stdout).and_then(|mut r| {
            let ok = r.flag("ok")?;
            let elapsed: i64 = r.require("elapsed")?.parse().unwrap_or(0);
            r.finish()?;
            Ok((ok, elapsed))
        })?;
        let mut outcome = Outcome::ok()
            .with_data("elapsed", elapsed)
            .with_data("state", self.state.clone());
        if let Some(port) = self.port {
            outcome = outcome.with_data("port", port);
        }
        if let Some(path) = &self.path {
            outcome = outcome.with_data("path", path.clone());
        }
        if !ok {
            return Err(TaskError::failed_with(self.timeout_msg(), outcome));
        }
        Ok(outcome)
    }
}
