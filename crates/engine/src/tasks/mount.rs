//! The `mount` task (`ansible.posix.mount`): a filesystem's line in fstab
//! and, depending on `state`, the filesystem mounted at its path now.
//!
//! The check is one script: the mount point's line of
//! `/proc/self/mountinfo` (the topmost mount there) and the fstab file
//! with its attributes. The fstab edit runs on
//! the control machine as ansible.posix does it: a line whose mount point
//! (and, for swap lines at `none`, whose source) matches is rewritten as
//! `src path fstype opts dump passno` with single spaces when any field
//! differs, other lines stay byte for byte, and a missing line is added at
//! the end. The apply writes fstab atomically (`copy`'s write, with
//! `backup`), then mounts, remounts or unmounts in a second script; a mount
//! that fails puts the old fstab back and removes the directories it
//! created, so that a broken line never waits for the next boot.
//!
//! States: `present` edits fstab only; `mounted` edits it and mounts the
//! filesystem (creating the path), remounting it when its line changed;
//! `unmounted` unmounts and keeps the line; `absent` removes the line and,
//! when there was one, unmounts and removes the mount point; `remounted`
//! runs `mount -o remount` and `ephemeral` mounts without fstab, both
//! reporting a change every time, as Ansible does.
//!
//! Differences from Ansible: bind mounts are recognised by their mount
//! point only; the fstab change is shown as a diff.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::{self, Probe, Report, shell_quote};

mod fstab;

use fstab::{Entry, escaped, with_entry, without_entry};

/// The arguments of `mount`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub path: String,
    pub src: Option<String>,
    pub fstype: Option<String>,
    pub opts: Option<String>,
    pub dump: String,
    pub passno: String,
    pub state: String,
    pub fstab: String,
    pub boot: bool,
    pub backup: bool,
    pub opts_no_log: bool,
}

/// The parameters of `mount`, as ansible.posix names them.
pub fn spec() -> Spec {
    Spec::new(
        "mount",
        vec![
            Param::new("path", Kind::Path).required().aliases(&["name"]),
            Param::new("src", Kind::Path),
            Param::new("fstype", Kind::Str),
            Param::new("opts", Kind::Str),
            Param::new("dump", Kind::Str).default("0"),
            Param::new("passno", Kind::Str).default("0"),
            Param::new("state", Kind::Str).required().choices(&[
                "absent",
                "mounted",
                "present",
                "unmounted",
                "remounted",
                "ephemeral",
            ]),
            Param::new("fstab", Kind::Path).default("/etc/fstab"),
            Param::new("boot", Kind::Bool).default(true),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("opts_no_log", Kind::Bool).default(false),
        ],
    )
}

/// What is mounted at the path now, from its `/proc/self/mountinfo` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mounted {
    source: String,
}

impl Mounted {
    /// Reads a mountinfo line: `id parent maj:min root point opts
    /// [optional...] - fstype source superopts`.
    fn parse(line: &str) -> Option<Mounted> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        Some(Mounted {
            source: fields.get(dash + 2)?.to_string(),
        })
    }
}

/// What the apply does after the fstab write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Nothing,
    /// `mount`, creating the path first when it is missing.
    Mount,
    /// `mount -o remount`, or unmount and mount when the kernel refuses.
    Remount,
    /// `umount`, then `rmdir` when `absent` asks for it.
    Unmount {
        rmdir: bool,
    },
    /// `rmdir` of the unmounted mount point (`absent`).
    Rmdir,
}

/// What `apply` does.
#[derive(Debug)]
pub struct MountDrift {
    /// The new fstab.
    file: Option<EditDrift>,
    /// The old fstab, put back when the mount fails.
    old: Option<Vec<u8>>,
    action: Action,
}

impl Mount {
    /// The mount point as the kernel and fstab spell it.
    fn name(&self) -> String {
        escaped(&self.path)
    }

    /// The mount point as mountinfo lists it: without a trailing slash.
    fn mount_point(&self) -> String {
        let trimmed = self.path.trim_end_matches('/');
        escaped(if trimmed.is_empty() { "/" } else { trimmed })
    }

    /// `opts`, with `noauto` added when the filesystem must not be mounted
    /// at boot (`ephemeral` has no boot to speak of, so it ignores `boot`).
    fn opts(&self) -> String {
        let mut opts = self
            .opts
            .clone()
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| "defaults".to_string());
        if !self.boot && self.state != "ephemeral" && !opts.split(',').any(|o| o == "noauto") {
            opts.push_str(",noauto");
        }
        opts
    }

    fn uses_fstab(&self) -> bool {
        matches!(self.state.as_str(), "present" | "mounted" | "absent")
    }

    /// The line the task wants, after Ansible's checks of the arguments.
    fn wanted(&self) -> Result<Entry, TaskError> {
        if self.path.is_empty() {
            return Err(TaskError::failed("path cannot be empty"));
        }
        let needs_source = matches!(self.state.as_str(), "present" | "mounted" | "ephemeral");
        let missing: Vec<&str> = [("src", &self.src), ("fstype", &self.fstype)]
            .iter()
            .filter(|(_, v)| v.as_deref().is_none_or(str::is_empty))
            .map(|(k, _)| *k)
            .collect();
        if needs_source && !missing.is_empty() {
            return Err(TaskError::failed(format!(
                "state is {} but all of the following are missing: {}",
                self.state,
                missing.join(", ")
            )));
        }
        Ok(Entry {
            src: escaped(self.src.as_deref().unwrap_or_default()),
            name: self.name(),
            fstype: escaped(self.fstype.as_deref().unwrap_or_default()),
            opts: escaped(&self.opts()),
            dump: escaped(&self.dump),
            passno: escaped(&self.passno),
        })
    }

    fn probe(&self) -> String {
        let mut s = format!(
            "export LC_ALL=C LANG=C\nmp={}\nm=\n\
             while IFS=' ' read -r f1 f2 f3 f4 f5 rest; do \
             [ \"$f5\" = \"$mp\" ] && m=\"$f1 $f2 $f3 $f4 $f5 $rest\"; \
             done < /proc/self/mountinfo\n\
             printf 'mountinfo=%s\\n' \"$m\"\n",
            shell_quote(&self.mount_point()),
        );
        if self.uses_fstab() {
            let probe = Probe {
                follow: true,
                content_up_to: Some(edit::EDIT_LIMIT),
                ..Probe::default()
            };
            s.push_str(&format!(
                "p={}\n{}",
                remote::path_arg(&self.fstab),
                remote::probe_script("p", &probe)
            ));
        }
        s
    }

    /// The `-T fstab` a `mount` of another fstab than the system's needs.
    fn fstab_arg(&self) -> String {
        if self.fstab == "/etc/fstab" {
            String::new()
        } else {
            format!(" -T {}", remote::path_arg(&self.fstab))
        }
    }

    /// The arguments that mount without fstab (`ephemeral`).
    fn ephemeral_args(&self) -> String {
        format!(
            " -t {} -o {} {}",
            shell_quote(self.fstype.as_deref().unwrap_or_default()),
            shell_quote(&self.opts()),
            remote::path_arg(self.src.as_deref().unwrap_or_default())
        )
    }

    /// The script that mounts, remounts or unmounts. A failed mount puts
    /// the old fstab back (sent on stdin when `restore` is set) and removes
    /// the directories the script created.
    fn action_script(&self, action: Action, restore: bool) -> String {
        let ephemeral = self.state == "ephemeral";
        let extra = if ephemeral {
            self.ephemeral_args()
        } else {
            self.fstab_arg()
        };
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!(
            "export LC_ALL=C LANG=C\np={}\nf={}\n\
             run() {{ code=$1; shift; out=$(\"$@\" 2>&1) && return 0; printf '%s\\n' \"$out\" >&2; return 1; }}\n",
            remote::path_arg(&self.path),
            remote::path_arg(&self.fstab)
        ));
        if restore {
            s.push_str(
                "restore() { t=\"$f.dtrplay-restore.$$\"; cp -p \"$f\" \"$t\" && cat > \"$t\" && mv -f \"$t\" \"$f\"; }\n",
            );
        } else {
            s.push_str("restore() { :; }\n");
        }
        let remount_opts = match (&self.opts, ephemeral) {
            (_, true) => format!("remount,{}", self.opts()),
            (Some(o), false) if self.state == "remounted" && !o.is_empty() && o != "defaults" => {
                format!("remount,{o}")
            }
            _ => "remount".to_string(),
        };
        let mount = format!("mount{extra} \"$p\"");
        let remount = format!("mount -o {}{extra} \"$p\"", shell_quote(&remount_opts));
        match action {
            Action::Nothing => {}
            Action::Mount => s.push_str(&format!(
                "top=; d=$p; while [ ! -e \"$d\" ]; do top=$d; d=$(dirname -- \"$d\"); done\n\
                 undo() {{ [ -n \"$top\" ] || return 0; d=$p; while :; do rmdir -- \"$d\" 2>/dev/null; \
                 [ \"$d\" = \"$top\" ] && break; d=$(dirname -- \"$d\"); done; }}\n\
                 if [ -n \"$top\" ]; then mkdir -p -- \"$p\" || {{ restore; fail mkdir; }}; fi\n\
                 run mount {mount} || {{ restore; undo; fail mount; }}\n"
            )),
            Action::Remount => s.push_str(&format!(
                "run remount {remount} || {{ run umount umount -- \"$p\" && run mount {mount}; }} \
                 || {{ restore; fail remount; }}\n"
            )),
            Action::Unmount { rmdir } => {
                s.push_str("run umount umount -- \"$p\" || fail umount\n");
                if rmdir {
                    s.push_str("if [ -e \"$p\" ]; then rmdir -- \"$p\" || fail rmdir; fi\n");
                }
            }
            Action::Rmdir => {
                s.push_str("if [ -e \"$p\" ]; then rmdir -- \"$p\" || fail rmdir; fi\n");
            }
        }
        s
    }

    /// The module's return values (`name`, `src`, ...), as strings.
    fn returned(&self, mut outcome: Outcome) -> Outcome {
        edit::drop_file_fields(&mut outcome);
        let mut outcome = outcome
            .with_data("name", self.path.clone())
            .with_data(
                "opts",
                if self.opts_no_log {
                    "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER".to_string()
                } else {
                    self.opts()
                },
            )
            .with_data("dump", self.dump.clone())
            .with_data("passno", self.passno.clone())
            .with_data("fstab", self.fstab.clone())
            .with_data("boot", if self.boot { "yes" } else { "no" });
        if let Some(src) = &self.src {
            outcome = outcome.with_data("src", src.clone());
        }
        if let Some(fstype) = &self.fstype {
            outcome = outcome.with_data("fstype", fstype.clone());
        }
        if !outcome.data.contains_key("backup_file") {
            outcome = outcome.with_data("backup_file", "");
        }
        outcome
    }

    /// What the state asks for, given what is mounted and whether fstab
    /// changes, with the message that says it.
    fn action(
        &self,
        mounted: Option<&Mounted>,
        fstab_changes: bool,
    ) -> Result<(Action, bool, String), TaskError> {
        let path = &self.path;
        let is_mounted = mounted.is_some();
        Ok(match self.state.as_str() {
            "present" => (
                Action::Nothing,
                fstab_changes,
                format!("{path} set in fstab"),
            ),
            "mounted" if !is_mounted => (Action::Mount, true, format!("{path} mounted")),
            "mounted" if fstab_changes => (Action::Remount, true, format!("{path} remounted")),
            "mounted" => (Action::Nothing, false, String::new()),
            "unmounted" if is_mounted => (
                Action::Unmount { rmdir: false },
                true,
                format!("{path} unmounted"),
            ),
            "unmounted" => (Action::Nothing, false, String::new()),
            "absent" if !fstab_changes => (Action::Nothing, false, String::new()),
            "absent" if is_mounted => (
                Action::Unmount { rmdir: true },
                true,
                format!("{path} unmounted and removed from fstab"),
            ),
            "absent" => (Action::Rmdir, true, format!("{path} removed from fstab")),
            "remounted" => (Action::Remount, true, format!("{path} remounted")),
            "ephemeral" => match mounted {
                Some(m) if m.source != escaped(self.src.as_deref().unwrap_or_default()) => {
                    return Err(TaskError::failed(
                        "Ephemeral mount point is already mounted with a different source",
                    ));
                }
                Some(_) => (Action::Remount, true, format!("{path} remounted")),
                None => (Action::Mount, true, format!("{path} mounted")),
            },
            other => return Err(TaskError::failed(format!("unknown state {other}"))),
        })
    }
}

#[async_trait]
impl Task for Mount {
    type Drift = MountDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<MountDrift>, TaskError> {
        let wanted = self.wanted()?;
        let fstab = &self.fstab;
        let out = cx.run(&self.probe(), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not read {fstab} and the mounts of {}", self.path),
                &remote::failure(&out),
            ));
        }
        let parsed = Report::parse(&out.stdout).and_then(|mut report| {
            let mountinfo = report.require("mountinfo")?;
            let stat = if self.uses_fstab() {
                Some(report.take_stat()?)
            } else {
                None
            };
            report.finish()?;
            Ok((mountinfo, stat))
        });
        let (mountinfo, stat) =
            parsed.map_err(|e| TaskError::failed(format!("could not read {fstab}: {e}")))?;
        let mounted = Mounted::parse(&mountinfo);

        let mut new = None;
        if let Some(stat) = &stat {
            edit::refuse_uneditable(stat, fstab)?;
            let content = String::from_utf8_lossy(edit::text(stat)).into_owned();
            new = if self.state == "absent" {
                let src = self.src.as_deref().map(escaped);
                without_entry(&content, &wanted.name, src.as_deref())
            } else {
                with_entry(&content, &wanted)
            };
        }
        let (action, changed, msg) = self.action(mounted.as_ref(), new.is_some())?;
        if !changed {
            return Ok(Check::InSync(self.returned(Outcome::ok())));
        }
        let mut drift = MountDrift {
            file: None,
            old: None,
            action,
        };
        let (Some(new), Some(stat)) = (new, stat) else {
            let preview = self.returned(Outcome::changed(msg));
            return Ok(Check::Drift { drift, preview });
        };
        drift.old = Some(edit::text(&stat).to_vec());
        let options = FileOptions {
            mode: None,
            owner: None,
            group: None,
            force: true,
            backup: self.backup,
            validate: None,
        };
        let check = edit::check(
            cx,
            fstab,
            stat,
            new.into_bytes(),
            options,
            true,
            Some(msg.clone()),
        )?;
        Ok(match check {
            Check::InSync(_) => Check::Drift {
                drift,
                preview: self.returned(Outcome::changed(msg)),
            },
            Check::Drift {
                drift: file,
                preview,
            } => Check::Drift {
                drift: MountDrift {
                    file: Some(file),
                    ..drift
                },
                preview: self.returned(preview),
            },
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: MountDrift) -> Result<Outcome, TaskError> {
        let msg = match drift.action {
            Action::Mount => format!("{} mounted", self.path),
            Action::Remount => format!("{} remounted", self.path),
            Action::Unmount { .. } => format!("{} unmounted", self.path),
            Action::Nothing | Action::Rmdir => format!("{} set in {}", self.path, self.fstab),
        };
        let wrote = drift.file.is_some();
        let mut outcome = match drift.file {
            Some(file) => edit::apply(cx, file).await?,
            None => Outcome::changed(msg.clone()),
        };
        outcome.changed = true;
        if drift.action != Action::Nothing {
            let restore = wrote && matches!(drift.action, Action::Mount | Action::Remount);
            let stdin = match (&drift.old, restore) {
                (Some(old), true) => old.clone(),
                _ => Vec::new(),
            };
            let out = cx
                .run(&self.action_script(drift.action, restore), &stdin)
                .await?;
            if !out.success() {
                let failure = remote::failure(&out);
                let path = &self.path;
                let why = match failure.code.as_deref() {
                    Some("mkdir") => format!("Error making dir {path}"),
                    Some("mount") => format!("Error mounting {path}"),
                    Some("remount") => format!("Error remounting {path}"),
                    Some("umount") => format!("Error unmounting {path}"),
                    Some("rmdir") => format!("Error rmdir {path}"),
                    _ => format!("mount failed (exit status {})", out.status),
                };
                return Err(remote::with_detail(why, &failure));
            }
        }
        Ok(self.returned(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_false_adds_noauto_once_except_for_ephemeral_mounts() {
        let mut task = Mount {
            path: "/srv/x".into(),
            src: Some("tmpfs".into()),
            fstype: Some("tmpfs".into()),
            opts: None,
            dump: "0".into(),
            passno: "0".into(),
            state: "present".into(),
            fstab: "/etc/fstab".into(),
            boot: false,
            backup: false,
            opts_no_log: false,
        };
        assert_eq!(task.opts(), "defaults,noauto");
        task.opts = Some("ro,noauto".into());
        assert_eq!(task.opts(), "ro,noauto");
        task.state = "ephemeral".into();
        task.opts = Some("ro".into());
        assert_eq!(task.opts(), "ro");
    }

    #[test]
    fn special_characters_are_escaped_and_mountinfo_is_read() {
        assert_eq!(escaped("/a b\\c"), "/a\\040b\\134c");
        let line = "36 35 98:0 / /srv/cache rw,relatime shared:1 - tmpfs tmpfs rw,size=1024k";
        assert_eq!(
            Mounted::parse(line),
            Some(Mounted {
                source: "tmpfs".into()
            })
        );
        assert_eq!(Mounted::parse(""), None);
    }
}
