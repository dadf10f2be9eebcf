//! The `sysctl` task (`ansible.posix.sysctl`): one kernel parameter in a
//! sysctl file (`/etc/sysctl.conf` unless `sysctl_file` says otherwise),
//! and, when asked, in the running kernel.
//!
//! The check is one script: the file with its attributes and, when the
//! running value matters (`reload` or `sysctl_set` with `state: present`),
//! that value as `sysctl -e -n` prints it. The file edit keeps every other
//! line as it is: the first `name = value` line gets the new value (as
//! `name=value`, the way Ansible writes it), later ones for the same name
//! go, and a missing one is added at the end. The apply writes the file
//! atomically, then runs `sysctl -w name=value` (`sysctl_set`, when the
//! running value differs) and `sysctl -p <file>` (`reload`, after any
//! change), as ansible.posix does. Check mode shows the file's diff and the
//! running value's, and changes nothing.
//!
//! Differences from Ansible: lines other than the parameter's are kept
//! verbatim, where ansible.posix rewrites every line stripped and as
//! `key=value`; a later duplicate of the parameter is removed rather than
//! left to override the first.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::{self, Probe, Report, shell_quote};

/// The arguments of `sysctl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    pub name: String,
    pub value: Option<String>,
    pub state: String,
    pub reload: bool,
    pub sysctl_set: bool,
    pub ignoreerrors: bool,
    pub sysctl_file: String,
}

/// The parameters of `sysctl`, as ansible.posix names them.
pub fn spec() -> Spec {
    Spec::new(
        "sysctl",
        vec![
            Param::new("name", Kind::Str).required().aliases(&["key"]),
            Param::new("value", Kind::Str).aliases(&["val"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("reload", Kind::Bool).default(true),
            Param::new("sysctl_set", Kind::Bool).default(false),
            Param::new("ignoreerrors", Kind::Bool).default(false),
            Param::new("sysctl_file", Kind::Path).default("/etc/sysctl.conf"),
        ],
    )
}

/// The value as sysctl files hold it: booleans as `1`/`0`, the way
/// ansible.posix reads `yes`, `on`, `true` and the like.
fn normalized(value: &str) -> String {
    match value.to_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => "1".to_string(),
        "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => "0".to_string(),
        _ => value.trim().to_string(),
    }
}

/// Whether two values hold the same words in the same order: the kernel
/// prints multi-value parameters with tabs where files have spaces.
fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The parameter's name and value on a line, unless the line is blank, a
/// comment (`#`, `;`) or has no `=`.
fn setting(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(['#', ';']) {
        return None;
    }
    let (k, v) = line.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// The file's new content, or `None` when it stays as it is.
fn edited(content: &str, name: &str, value: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(content.len() + name.len() + 8);
    let mut seen = false;
    for line in content.split_inclusive('\n') {
        match setting(line) {
            Some((k, v)) if k == name => {
                if seen {
                    continue;
                }
                seen = true;
                match value {
                    Some(value) if v == value => out.push_str(line),
                    Some(value) => out.push_str(&format!("{name}={value}\n")),
                    None => {}
                }
            }
            _ => out.push_str(line),
        }
    }
    if let (false, Some(value)) = (seen, value) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{name}={value}\n"));
    }
    (out != content).then_some(out)
}

/// What `apply` does.
#[derive(Debug)]
pub struct SysctlDrift {
    /// The file's new content.
    file: Option<EditDrift>,
    /// `sysctl -w`.
    set: bool,
    /// `sysctl -p`.
    reload: bool,
}

impl Sysctl {
    fn present(&self) -> bool {
        self.state == "present"
    }

    /// The trimmed name and the normalized value, or what Ansible says
    /// about them.
    fn validated(&self) -> Result<(String, Option<String>), TaskError> {
        let name = self.name.trim().to_string();
        if name.is_empty() {
            return Err(TaskError::failed("name cannot be blank"));
        }
        if !self.present() {
            return Ok((name, None));
        }
        let value = self.value.as_deref().ok_or_else(|| {
            TaskError::failed("state is present but all of the following are missing: value")
        })?;
        let value = normalized(value);
        if value.is_empty() {
            return Err(TaskError::failed("value cannot be blank"));
        }
        Ok((name, Some(value)))
    }

    /// Whether the check needs the running value.
    fn reads_kernel(&self) -> bool {
        self.present() && (self.reload || self.sysctl_set)
    }

    fn probe(&self, name: &str) -> String {
        let mut s = String::from("export LC_ALL=C LANG=C\n");
        if self.reads_kernel() {
            // The running value travels hex-encoded: some parameters print
            // several lines or tabs.
            s.push_str(&format!(
                "if ! command -v sysctl >/dev/null 2>&1; then echo sysctl=0; \
                 elif v=$(sysctl -e -n {} 2>/dev/null); then echo sysctl=1; \
                 printf 'kernel=%s\\n' \"$(printf '%s' \"$v\" | od -An -v -tx1 | tr -d ' \\n')\"; \
                 else echo sysctl=1; fi\n",
                shell_quote(name)
            ));
        }
        let probe = Probe {
            follow: true,
            content_up_to: Some(edit::EDIT_LIMIT),
            ..Probe::default()
        };
        s.push_str(&format!(
            "p={}\n{}",
            remote::path_arg(&self.sysctl_file),
            remote::probe_script("p", &probe)
        ));
        s
    }

    /// `sysctl -w` and `sysctl -p`, as the drift asks; both fail on the
    /// errors sysctl reports with exit status 0.
    fn kernel_script(&self, name: &str, value: &str, drift: &SysctlDrift) -> String {
        let e = if self.ignoreerrors { " -e" } else { "" };
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "export LC_ALL=C LANG=C\n\
             command -v sysctl >/dev/null 2>&1 || fail nosysctl\n\
             run() { code=$1; shift; out=$(\"$@\" 2>&1); rc=$?; printf '%s\\n' \"$out\" >&2; \
             [ \"$rc\" -eq 0 ] || fail \"$code\"; \
             if printf '%s\\n' \"$out\" | grep -Eq '^sysctl: setting key \"[^\"]+\": (Invalid argument|Read-only file system)$'; \
             then fail \"$code\"; fi; }\n",
        );
        if drift.set {
            s.push_str(&format!(
                "run set sysctl{e} -w {}\n",
                shell_quote(&format!("{name}={value}"))
            ));
        }
        if drift.reload {
            s.push_str(&format!(
                "run reload sysctl{e} -p {}\n",
                remote::path_arg(&self.sysctl_file)
            ));
        }
        s
    }
}

/// Decodes the hex `od` printed.
fn unhex(text: &str) -> Option<String> {
    let bytes = hex::decode(text).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[async_trait]
impl Task for Sysctl {
    type Drift = SysctlDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<SysctlDrift>, TaskError> {
        let (name, value) = self.validated()?;
        let path = &self.sysctl_file;
        let out = cx.run(&self.probe(&name), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not read {path}"),
                &remote::failure(&out),
            ));
        }
        let parsed = Report::parse(&out.stdout).and_then(|mut report| {
            let tool = report.take("sysctl");
            let kernel = report.take("kernel");
            let stat = report.take_stat()?;
            report.finish()?;
            Ok((tool, kernel, stat))
        });
        let (tool, kernel, stat) =
            parsed.map_err(|e| TaskError::failed(format!("could not read {path}: {e}")))?;
        if tool.as_deref() == Some("0") {
            return Err(TaskError::failed(
                "sysctl was not found on the host: install it (Debian: apt-get install procps), or set reload: false and sysctl_set: false to edit the file only",
            ));
        }
        edit::refuse_uneditable(&stat, path)?;
        let content = String::from_utf8_lossy(edit::text(&stat)).into_owned();
        let new = edited(&content, &name, value.as_deref());
        let running = kernel.as_deref().and_then(unhex);
        let wanted = value.clone().unwrap_or_default();
        let mismatch =
            self.reads_kernel() && !running.as_deref().is_some_and(|r| same_words(r, &wanted));
        let set = self.sysctl_set && self.present() && running.is_some() && mismatch;
        let changed = new.is_some() || mismatch;
        if !changed {
            return Ok(Check::InSync(Outcome::ok()));
        }
        let drift = SysctlDrift {
            file: None,
            set,
            reload: self.reload,
        };
        let mut kernel_diff = None;
        if mismatch && cx.diff {
            kernel_diff = Some(Diff {
                subject: format!("{name} (running kernel)"),
                before: running.map(|r| format!("{}\n", r.trim_end())),
                after: Some(format!("{wanted}\n")),
            });
        }
        let msg = match (&new, self.present()) {
            (Some(_), true) => format!("{name}={wanted} set in {path}"),
            (Some(_), false) => format!("{name} removed from {path}"),
            (None, _) => format!("{name} differs in the running kernel"),
        };
        let Some(new) = new else {
            let mut preview = Outcome::changed(format!("would apply {name}={wanted}: {msg}"));
            preview.diffs.extend(kernel_diff);
            return Ok(Check::Drift { drift, preview });
        };
        let options = FileOptions {
            mode: None,
            owner: None,
            group: None,
            force: true,
            backup: false,
            validate: None,
        };
        let check = edit::check(cx, path, stat, new.into_bytes(), options, false, Some(msg))?;
        Ok(match check {
            Check::InSync(mut outcome) => {
                edit::drop_file_fields(&mut outcome);
                Check::InSync(outcome)
            }
            Check::Drift {
                drift: file,
                mut preview,
            } => {
                edit::drop_file_fields(&mut preview);
                preview.diffs.extend(kernel_diff);
                Check::Drift {
                    drift: SysctlDrift {
                        file: Some(file),
                        ..drift
                    },
                    preview,
                }
            }
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: SysctlDrift) -> Result<Outcome, TaskError> {
        let (name, value) = self.validated()?;
        let value = value.unwrap_or_default();
        // Ansible sets the running value before it writes the file, and
        // reloads the file after any change.
        if drift.set {
            self.run_kernel(
                cx,
                &name,
                &value,
                &SysctlDrift {
                    file: None,
                    set: true,
                    reload: false,
                },
            )
            .await?;
        }
        let mut outcome = match drift.file {
            Some(file) => {
                let mut outcome = edit::apply(cx, file).await?;
                edit::drop_file_fields(&mut outcome);
                outcome
            }
            None => Outcome::changed(format!("{name}={value} applied")),
        };
        if drift.reload {
            self.run_kernel(
                cx,
                &name,
                &value,
                &SysctlDrift {
                    file: None,
                    set: false,
                    reload: true,
                },
            )
            .await?;
        }
        outcome.changed = true;
        Ok(outcome)
    }
}

impl Sysctl {
    async fn run_kernel(
        &self,
        cx: &Context<'_>,
        name: &str,
        value: &str,
        drift: &SysctlDrift,
    ) -> Result<(), TaskError> {
        let out = cx.run(&self.kernel_script(name, value, drift), &[]).await?;
        if out.success() {
            return Ok(());
        }
        let failure = remote::failure(&out);
        let msg = match failure.code.as_deref() {
            Some("nosysctl") => {
                "sysctl was not found on the host: install it (Debian: apt-get install procps)"
                    .to_string()
            }
            Some("set") => format!("setting {name} failed"),
            Some("reload") => "Failed to reload sysctl".to_string(),
            _ => format!("sysctl failed (exit status {})", out.status),
        };
        Err(remote::with_detail(msg, &failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_become_one_and_zero() {
        assert_eq!(normalized("yes"), "1");
        assert_eq!(normalized("False"), "0");
        assert_eq!(normalized(" 4096 87380 "), "4096 87380");
    }

    #[test]
    fn the_first_line_of_the_parameter_changes_and_others_stay() {
        let file = "# kernel\nnet.ipv4.ip_forward = 0\nvm.swappiness=10\nnet.ipv4.ip_forward=0\n";
        assert_eq!(
            edited(file, "net.ipv4.ip_forward", Some("1")).as_deref(),
            Some("# kernel\nnet.ipv4.ip_forward=1\nvm.swappiness=10\n")
        );
        assert_eq!(
            edited("a = 1\n", "a", Some("1")),
            None,
            "an equal value keeps its spelling"
        );
        assert_eq!(edited("a=1", "b", Some("2")).as_deref(), Some("a=1\nb=2\n"));
        assert_eq!(edited("a=1\nb=2\n", "a", None).as_deref(), Some("b=2\n"));
        assert_eq!(edited("b=2\n", "a", None), None);
    }

    #[test]
    fn running_values_compare_word_by_word() {
        assert!(same_words("4096\t87380\t6291456\n", "4096 87380 6291456"));
        assert!(!same_words("", "1"));
    }
}
