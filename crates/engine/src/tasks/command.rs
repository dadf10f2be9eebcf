//! The `command` and `shell` tasks: run a program on the host, register its
//! output, and skip it when `creates` exists or `removes` does not.
//!
//! A command is arbitrary, so its check can only answer the `creates` and
//! `removes` questions (in one script, after `chdir`, with glob patterns as
//! Ansible allows); without them the check asks the host nothing and reports
//! that the command would run. Whether a run counts as changed or failed
//! beyond the exit status is the executor's business (`changed_when`,
//! `failed_when`).
//!
//! `command` never goes through a shell, like Ansible's: its `cmd` is split
//! the way Python's `shlex` splits it, and every word reaches the program
//! quoted, with only the expansions Ansible's `command` performs (`~` and
//! `$NAME` of variables that are set; see `remote::expand_word`). Pipes,
//! redirections, globs and `$(...)` stay literal. The program is `exec`ed,
//! so `echo` is `/bin/echo`, not a shell builtin. `shell` runs its `cmd`
//! with `/bin/sh -c` (or `executable -c`).
//!
//! Differences from Ansible: `start` and `end` are taken on the control
//! machine, in UTC; a missing `chdir` is only noticed when the command runs
//! unless `creates` or `removes` make the check visit the host; a program
//! that does not exist exits 127 (from `sh`) rather than 2.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::connection::Output;
use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, Expand, Report};

/// The arguments of `command`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// The command line, split like Python's `shlex.split`.
    pub cmd: Option<String>,
    /// The command as words, instead of `cmd`.
    pub argv: Option<Vec<Value>>,
    /// A path or glob pattern; when it matches, the command is not run.
    pub creates: Option<String>,
    /// A path or glob pattern; unless it matches, the command is not run.
    pub removes: Option<String>,
    /// The directory to run in (and to resolve `creates`/`removes` from).
    pub chdir: Option<String>,
    /// Text fed to the command's standard input.
    pub stdin: Option<String>,
    #[serde(default = "yes")]
    pub stdin_add_newline: bool,
    /// Remove trailing newlines from the registered output.
    #[serde(default = "yes")]
    pub strip_empty_ends: bool,
    /// Expand `~` and `$NAME` in the words, as Ansible does by default.
    #[serde(default = "yes")]
    pub expand_argument_vars: bool,
}

/// The arguments of `shell`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shell {
    /// The shell script to run.
    pub cmd: String,
    /// The shell to run it with (`-c` is passed); `/bin/sh` by default.
    pub executable: Option<String>,
    /// A path or glob pattern; when it matches, the command is not run.
    pub creates: Option<String>,
    /// A path or glob pattern; unless it matches, the command is not run.
    pub removes: Option<String>,
    /// The directory to run in (and to resolve `creates`/`removes` from).
    pub chdir: Option<String>,
    /// Text fed to the command's standard input.
    pub stdin: Option<String>,
    #[serde(default = "yes")]
    pub stdin_add_newline: bool,
    /// Remove trailing newlines from the registered output.
    #[serde(default = "yes")]
    pub strip_empty_ends: bool,
}

/// What `command` and `shell` share, borrowed from either.
struct Common<'a> {
    creates: Option<&'a str>,
    removes: Option<&'a str>,
    chdir: Option<&'a str>,
    stdin: Option<&'a str>,
    stdin_add_newline: bool,
    strip_empty_ends: bool,
}

/// Borrows the shared arguments of a `command` or `shell` struct.
macro_rules! common {
    ($task:expr) => {
        Common {
            creates: $task.creates.as_deref(),
            removes: $task.removes.as_deref(),
            chdir: $task.chdir.as_deref(),
            stdin: $task.stdin.as_deref(),
            stdin_add_newline: $task.stdin_add_newline,
            strip_empty_ends: $task.strip_empty_ends,
        }
    };
}

fn yes() -> bool {
    true
}

/// What replaces `warn`, which ansible-core 2.14 removed with the warnings it
/// turned off.
const WARN_REMOVED: &str =
    "remove `warn:`; ansible-core 2.14 removed it along with the warnings it turned off";

/// The parameters both tasks take.
fn common_params() -> Vec<Param> {
    vec![
        Param::new("creates", Kind::Path),
        Param::new("removes", Kind::Path),
        Param::new("chdir", Kind::Path),
        Param::new("stdin", Kind::Str),
        Param::new("stdin_add_newline", Kind::Bool).default(true),
        Param::new("strip_empty_ends", Kind::Bool).default(true),
    ]
}

/// The parameters of `command`, as Ansible names them.
pub fn spec() -> Spec {
    let mut params = vec![
        Param::new("cmd", Kind::Str),
        Param::new("argv", Kind::List),
        Param::new("expand_argument_vars", Kind::Bool).default(true),
    ];
    params.extend(common_params());
    Spec::new("command", params)
        .free_form("cmd")
        .removed("warn", WARN_REMOVED)
}

/// The parameters of `shell`, as Ansible names them.
pub fn shell_spec() -> Spec {
    let mut params = vec![
        Param::new("cmd", Kind::Str).required(),
        Param::new("executable", Kind::Path),
    ];
    params.extend(common_params());
    Spec::new("shell", params)
        .free_form("cmd")
        .removed("warn", WARN_REMOVED)
}

/// A command ready to send: the line that runs it and what to register.
struct Prepared {
    /// The shell words that `exec` runs.
    line: String,
    /// The registered `cmd`: the words for `command`, the text for `shell`.
    registered: Value,
    /// How to show the command in messages.
    shown: String,
}

impl Command {
    fn prepare(&self) -> Result<Prepared, TaskError> {
        let words: Vec<String> = match (&self.cmd, &self.argv) {
            (Some(_), Some(_)) => {
                return Err(TaskError::failed(
                    "only command or argv can be given, not both",
                ));
            }
            (Some(cmd), None) => remote::shlex_split(cmd)
                .map_err(|e| TaskError::failed(format!("cannot split the command {cmd:?}: {e}")))?,
            (None, Some(argv)) => argv.iter().map(word_text).collect(),
            (None, None) => Vec::new(),
        };
        if words.first().is_none_or(|w| w.trim().is_empty()) {
            return Err(TaskError::failed("no command given"));
        }
        let how = Expand {
            vars: self.expand_argument_vars,
            glob: false,
        };
        let line: Vec<String> = words.iter().map(|w| remote::expand_word(w, how)).collect();
        let shown = match &self.cmd {
            Some(cmd) => cmd.clone(),
            None => words
                .iter()
                .map(|w| remote::shell_quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        };
        Ok(Prepared {
            line: line.join(" "),
            registered: Value::from(words),
            shown,
        })
    }
}

impl Shell {
    fn prepare(&self) -> Result<Prepared, TaskError> {
        if self.cmd.trim().is_empty() {
            return Err(TaskError::failed("no command given"));
        }
        let shell = self.executable.as_deref().unwrap_or("/bin/sh");
        Ok(Prepared {
            line: format!(
                "{} -c {}",
                remote::expand_word(shell, PATH_WORD),
                remote::shell_quote(&self.cmd)
            ),
            registered: Value::from(self.cmd.clone()),
            shown: self.cmd.clone(),
        })
    }
}

/// A word of `argv` as Python's `str()` would write it.
fn word_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Null => "None".to_string(),
        other => other.to_string(),
    }
}

/// Ansible expands `~` and variables in path parameters.
const PATH_WORD: Expand = Expand {
    vars: true,
    glob: false,
};

/// `creates` and `removes` are glob patterns too.
const PATTERN_WORD: Expand = Expand {
    vars: true,
    glob: true,
};

#[async_trait]
impl Task for Command {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let prepared = self.prepare()?;
        check_guards(cx, &common!(self), &prepared).await
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        run(cx, &common!(self), self.prepare()?).await
    }
}

#[async_trait]
impl Task for Shell {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let prepared = self.prepare()?;
        check_guards(cx, &common!(self), &prepared).await
    }

    async fn apply(&self, cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        run(cx, &common!(self), self.prepare()?).await
    }
}

/// The line that changes into `chdir`, failing with code `chdir`.
fn chdir_line(common: &Common<'_>) -> String {
    match common.chdir {
        Some(dir) => format!(
            "cd -- {} || fail chdir\n",
            remote::expand_word(dir, PATH_WORD)
        ),
        None => String::new(),
    }
}

/// Answers `creates` and `removes` in one script; without them there is
/// nothing to ask and the command would run.
async fn check_guards(
    cx: &Context<'_>,
    common: &Common<'_>,
    prepared: &Prepared,
) -> Result<Check<()>, TaskError> {
    let base = Outcome::ok().with_data("cmd", prepared.registered.clone());
    let would_run = || {
        let mut preview = base
            .clone()
            .with_msg(format!("would run: {}", prepared.shown));
        preview.changed = true;
        Check::Drift { drift: (), preview }
    };
    if common.creates.is_none() && common.removes.is_none() {
        return Ok(would_run());
    }
    let mut script = format!("{}{}", remote::FAIL_FN, chdir_line(common));
    for (key, pattern) in [("creates", common.creates), ("removes", common.removes)] {
        if let Some(pattern) = pattern {
            script.push_str(&format!(
                "set -- {}\nif [ -e \"$1\" ] || [ -L \"$1\" ]; then echo {key}=1; else echo {key}=0; fi\n",
                remote::expand_word(pattern, PATTERN_WORD)
            ));
        }
    }
    let out = cx.run(&script, &[]).await?;
    if !out.success() {
        return Err(guard_failure(&out, "could not check creates/removes"));
    }
    let answers = Report::parse(&out.stdout).and_then(|mut report| {
        let creates = report.take("creates");
        let removes = report.take("removes");
        report.finish()?;
        Ok((creates, removes))
    });
    let (creates, removes) =
        answers.map_err(|e| TaskError::failed(format!("could not check creates/removes: {e}")))?;
    let verb = if cx.check_mode { "Would" } else { "Did" };
    let skip = match (
        common.creates,
        creates.as_deref(),
        common.removes,
        removes.as_deref(),
    ) {
        (Some(path), Some("1"), _, _) => Some((
            format!("{verb} not run command since '{path}' exists"),
            format!("skipped, since {path} exists"),
        )),
        (_, _, Some(path), Some("0")) => Some((
            format!("{verb} not run command since '{path}' does not exist"),
            format!("skipped, since {path} does not exist"),
        )),
        _ => None,
    };
    match skip {
        Some((msg, stdout)) => Ok(Check::InSync(
            base.with_msg(msg)
                .with_data("rc", 0)
                .with_data("stdout_lines", vec![stdout.clone()])
                .with_data("stdout", stdout)
                .with_data("stderr", "")
                .with_data("stderr_lines", Vec::<String>::new()),
        )),
        None => Ok(would_run()),
    }
}

/// A failure of our own `chdir` step, or a generic one.
fn guard_failure(out: &Output, context: &str) -> TaskError {
    let failure = remote::failure(out);
    match failure.code.as_deref() {
        Some("chdir") => TaskError::failed(format!(
            "Unable to change directory before execution: {}",
            failure.detail
        )),
        _ => remote::with_detail(format!("{context} (exit status {})", out.status), &failure),
    }
}

/// Runs the command and registers what it did.
async fn run(
    cx: &Context<'_>,
    common: &Common<'_>,
    prepared: Prepared,
) -> Result<Outcome, TaskError> {
    // Every script has a shell environment of its own (`Connection::run`),
    // so the program can replace that shell: no extra `fork` on the host.
    let script = format!(
        "{}{}exec {}\n",
        remote::FAIL_FN,
        chdir_line(common),
        prepared.line
    );
    let mut stdin = common.stdin.unwrap_or_default().as_bytes().to_vec();
    if common.stdin.is_some() && common.stdin_add_newline {
        stdin.push(b'\n');
    }
    let started = SystemTime::now();
    let out = cx.run(&script, &stdin).await?;
    let ended = SystemTime::now();
    if remote::failure(&out).code.as_deref() == Some("chdir") && out.status == 1 {
        return Err(guard_failure(&out, "could not run the command"));
    }
    let mut outcome = Outcome::ok()
        .with_output(&out)
        .with_data("cmd", prepared.registered)
        .with_data("start", timestamp(started))
        .with_data("end", timestamp(ended))
        .with_data(
            "delta",
            delta(ended.duration_since(started).unwrap_or_default()),
        )
        .with_data("msg", "");
    if !common.strip_empty_ends {
        outcome = outcome
            .with_data("stdout", out.stdout_text())
            .with_data("stderr", out.stderr_text());
    }
    if !out.success() {
        return Err(TaskError::failed_with("non-zero return code", outcome));
    }
    outcome.changed = true;
    Ok(outcome)
}

/// A time as Ansible registers it (`2024-05-01 12:00:00.123456`), in UTC.
fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// A duration as Python prints a `timedelta` (`0:00:01.250000`).
fn delta(d: Duration) -> String {
    let secs = d.as_secs();
    let whole = format!("{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60);
    match d.subsec_micros() {
        0 => whole,
        micros => format!("{whole}.{micros:06}"),
    }
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_look_like_ansibles() {
        let t = UNIX_EPOCH + Duration::from_micros(1_714_564_800_123_456);
        assert_eq!(timestamp(t), "2024-05-01 12:00:00.123456");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000000");
        assert_eq!(delta(Duration::from_millis(1250)), "0:00:01.250000");
        assert_eq!(delta(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn command_words_are_quoted_not_interpreted() {
        let command = Command {
            cmd: Some("echo 'a b' $HOME ; rm -rf /".into()),
            argv: None,
            creates: None,
            removes: None,
            chdir: None,
            stdin: None,
            stdin_add_newline: true,
            strip_empty_ends: true,
            expand_argument_vars: true,
        };
        let prepared = command.prepare().expect("prepares");
        assert_eq!(prepared.line, "echo 'a b' \"${HOME-\\$HOME}\" ';' rm -rf /");
        assert_eq!(
            prepared.registered,
            serde_json::json!(["echo", "a b", "$HOME", ";", "rm", "-rf", "/"])
        );
    }
}
