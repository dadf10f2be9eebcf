//! The `unarchive` task: a tar (plain, gzip, bzip2, xz, zstd) or zip
//! archive unpacked into an existing directory with the host's GNU `tar`
//! or `unzip`, as Ansible's `unarchive` does. The archive comes from the
//! control machine (found like `copy`'s `src`, sent on the script's
//! standard input) or, with `remote_src`, is already on the host.
//!
//! The check is one script: `creates`, the destination, the archive's kind
//! from its first bytes, its file list, and GNU tar's own `--diff` of the
//! archive against the destination (a zip is unpacked into a private
//! temporary directory and compared through a tar stream of it, so both
//! kinds are judged by the same rules). As in Ansible, a file that is
//! missing or whose content, size, link target or modification time
//! differs needs unpacking; so do owner and mode differences unless
//! `owner`/`group`/`mode` are given, which are then compared and set on
//! every listed path. The apply unpacks, then sets those attributes.
//!
//! Differences from Ansible: check mode reports changes for tar archives
//! too (Ansible skips them), `src` URLs with `remote_src` are refused (download them with
//! `get_url` first), and `mode` is octal only.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::search_path::SrcKind;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `unarchive`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unarchive {
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub remote_src: bool,
    pub copy: Option<bool>,
    pub creates: Option<String>,
    #[serde(default)]
    pub list_files: bool,
    #[serde(default)]
    pub keep_newer: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub extra_opts: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
    #[serde(default)]
    pub validate_certs: Option<bool>,
    #[serde(default)]
    pub decrypt: Option<bool>,
}

/// The parameters of `unarchive`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "unarchive",
        vec![
            Param::new("src", Kind::Path).required(),
            Param::new("dest", Kind::Path).required(),
            Param::new("remote_src", Kind::Bool).default(false),
            Param::new("copy", Kind::Bool),
            Param::new("creates", Kind::Path),
            Param::new("list_files", Kind::Bool).default(false),
            Param::new("keep_newer", Kind::Bool).default(false),
            Param::new("exclude", Kind::List),
            Param::new("include", Kind::List),
            Param::new("extra_opts", Kind::List),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("mode", Kind::Mode),
            Param::new("validate_certs", Kind::Bool),
            Param::new("decrypt", Kind::Bool),
        ],
    )
}

/// The largest archive sent from the control machine: it travels inside
/// the script's request.
pub const ARCHIVE_LIMIT: u64 = 64 * 1024 * 1024;

/// What the apply does: unpack, set attributes, or both.
pub struct Unpack {
    extract: bool,
    kind: ArchiveKind,
    files: Vec<String>,
}

/// The kinds of archive, by their first bytes, with Ansible's handler names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    Zip,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Tar,
}

impl ArchiveKind {
    fn parse(text: &str) -> ArchiveKind {
        match text {
            "zip" => ArchiveKind::Zip,
            "gz" => ArchiveKind::Gzip,
            "bz2" => ArchiveKind::Bzip2,
            "xz" => ArchiveKind::Xz,
            "zst" => ArchiveKind::Zstd,
            _ => ArchiveKind::Tar,
        }
    }

    fn handler(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "ZipArchive",
            ArchiveKind::Gzip => "TgzArchive",
            ArchiveKind::Bzip2 => "TarBzipArchive",
            ArchiveKind::Xz => "TarXzArchive",
            ArchiveKind::Zstd => "TarZstdArchive",
            ArchiveKind::Tar => "TarArchive",
        }
    }

    /// GNU tar's option for the compression.
    fn tar_flag(self) -> &'static str {
        match self {
            ArchiveKind::Gzip => " -z",
            ArchiveKind::Bzip2 => " -j",
            ArchiveKind::Xz => " -J",
            ArchiveKind::Zstd => " --use-compress-program=zstd",
            ArchiveKind::Zip | ArchiveKind::Tar => "",
        }
    }
}

/// The lines of GNU tar's `--diff` that mean the archive is not unpacked
/// (Ansible's list), and those that count only when the task does not set
/// that attribute itself.
const DIFFERS: [&str; 7] = [
    "Mod time differs",
    ": Warning: Cannot stat: No such file or directory",
    ": Invalid owner",
    ": Invalid group",
    ": Symlink differs",
    ": Contents differ",
    ": Size differs",
];

/// Shell words, quoted.
fn words(list: &[String]) -> String {
    list.iter()
        .map(|w| format!(" {}", remote::shell_quote(w)))
        .collect()
}

impl Unarchive {
    fn remote(&self) -> bool {
        self.remote_src || self.copy == Some(false)
    }

    fn attrs_wanted(&self) -> bool {
        self.owner.is_some() || self.group.is_some() || self.mode.is_some()
    }

    /// The snippet that puts the archive in `$s`: the control machine's
    /// copy from stdin into a private temporary directory `$t`, or the
    /// host's own.
    fn source_script(&self) -> String {
        let mut s = String::from("t=$(mktemp -d) || fail tmp\ntrap 'rm -rf \"$t\"' EXIT\n");
        if self.remote() {
            s.push_str(&format!(
                "s={}\n[ -e \"$s\" ] || fail src\n[ -r \"$s\" ] || fail unreadable\n[ -s \"$s\" ] || fail empty\n",
                remote::path_arg(&self.src)
            ));
        } else {
            s.push_str("s=\"$t/archive\"\ncat > \"$s\" || fail tmp\n");
        }
        s
    }

    /// The `--exclude`s and included names for tar.
    fn tar_selection(&self) -> String {
        let excludes: String = self
            .exclude
            .iter()
            .map(|e| {
                format!(
                    " --exclude={}",
                    remote::shell_quote(e.trim_end_matches('/'))
                )
            })
            .collect();
        format!("{excludes} -f \"$s\"{}", words(&self.include))
    }

    /// The included names and `-x` excludes for unzip.
    fn zip_selection(&self) -> String {
        let mut s = format!(" \"$s\"{}", words(&self.include));
        if !self.exclude.is_empty() {
            s.push_str(&format!(" -x{}", words(&self.exclude)));
        }
        s
    }

    fn check_script(&self) -> String {
        let mut s = String::from(remote::FAIL_FN);
        if let Some(creates) = &self.creates {
            s.push_str(&format!(
                "[ -e {} ] && {{ echo creates; exit 0; }}\n",
                remote::path_arg(creates)
            ));
        }
        s.push_str(&format!(
            "d={}\n[ -d \"$d\" ] || fail dest\n",
            remote::path_arg(&self.dest)
        ));
        s.push_str(&self.source_script());
        s.push_str(
            "m=$(od -An -tx1 -N6 -- \"$s\" | tr -d ' \\n')\n\
             case $m in 504b0304*) k=zip;; 1f8b*) k=gz;; 425a68*) k=bz2;; fd377a585a00) k=xz;; 28b52ffd*) k=zst;; *) k=tar;; esac\n\
             echo \"kind $k\"\nid -u | sed 's/^/uid /'\n",
        );
        let opts = words(&self.extra_opts);
        let tar_opts = if opts.is_empty() {
            String::new()
        } else {
            format!(" --show-transformed-names{opts}")
        };
        let keep = if self.keep_newer {
            " --keep-newer-files"
        } else {
            ""
        };
        let selection = self.tar_selection();
        s.push_str(&format!(
            "if [ $k = zip ]; then\n\
             command -v unzip >/dev/null || fail unzip\n\
             unzip -Z1{zip} > \"$t/list\" 2>\"$t/err\" || fail list\n\
             mkdir \"$t/x\" && unzip -q -o{opts}{zip} -d \"$t/x\" >/dev/null 2>\"$t/err\" || fail list\n\
             (cd \"$t/x\" && tar -cf - .) | tar --diff -C \"$d\" -f - > \"$t/diff\" 2>&1\n\
             else\n\
             case $k in gz) f=-z;; bz2) f=-j;; xz) f=-J;; zst) f=--use-compress-program=zstd;; *) f=;; esac\n\
             tar --list $f{tar_opts}{selection} > \"$t/list\" 2>\"$t/err\" || fail list\n\
             [ -s \"$t/list\" ] || fail nofiles\n\
             tar --diff -C \"$d\" $f{tar_opts}{keep}{selection} > \"$t/diff\" 2>&1\n\
             fi\n\
             echo '== list'; cat \"$t/list\"; echo '== diff'; cat \"$t/diff\"\n",
            zip = self.zip_selection(),
        ));
        if self.attrs_wanted() {
            s.push_str(
                "echo '== attrs'\ncd \"$d\" && sed 's|^/||' \"$t/list\" | xargs -r -d '\\n' stat -c '%U\t%G\t%a\t%u\t%g\t%n' -- 2>/dev/null\n",
            );
        }
        s.push_str("exit 0\n");
        s
    }

    /// The apply's script: unpack when `extract`, then set attributes.
    fn apply_script(
        &self,
        kind: ArchiveKind,
        files: &[String],
        extract: bool,
    ) -> Result<String, TaskError> {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(&format!("d={}\n", remote::path_arg(&self.dest)));
        if extract {
            s.push_str(&self.source_script());
        } else {
            s.push_str("t=$(mktemp -d) || fail tmp\ntrap 'rm -rf \"$t\"' EXIT\n");
        }
        let opts = words(&self.extra_opts);
        if !extract {
            // Only attributes differ: nothing to send or unpack.
        } else if kind == ArchiveKind::Zip {
            s.push_str(&format!(
                "unzip -q -o{opts}{} -d \"$d\" || fail extract\n",
                self.zip_selection()
            ));
        } else {
            let tar_opts = if opts.is_empty() {
                String::new()
            } else {
                format!(" --show-transformed-names{opts}")
            };
            let mut ids = String::new();
            if let Some(owner) = &self.owner {
                ids.push_str(&format!(" --owner={}", remote::shell_quote(owner)));
            }
            if let Some(group) = &self.group {
                ids.push_str(&format!(" --group={}", remote::shell_quote(group)));
            }
            let keep = if self.keep_newer {
                " --keep-newer-files"
            } else {
                ""
            };
            s.push_str(&format!(
                "tar --extract -C \"$d\"{}{tar_opts}{ids}{keep}{} || fail extract\n",
                kind.tar_flag(),
                self.tar_selection()
            ));
        }
        if self.attrs_wanted() {
            // Ansible sets the attributes on every listed path and on the
            // top directories they lie in.
            let mut paths: Vec<String> = Vec::new();
            for file in files {
                let file = file.trim_start_matches('/').trim_end_matches('/');
                if file.is_empty() {
                    continue;
                }
                if let Some((top, _)) = file.split_once('/') {
                    if !paths.iter().any(|p| p == top) {
                        paths.push(top.to_string());
                    }
                }
                paths.push(file.to_string());
            }
            let list: String = paths.iter().map(|p| format!("{p}\n")).collect();
            s.push_str(&format!(
                "cd \"$d\" || fail dest\n{} > \"$t/attrs\"\n",
                remote::printf_command(list.as_bytes())
            ));
            let owner = match (&self.owner, &self.group) {
                (Some(o), Some(g)) => Some(format!("{o}:{g}")),
                (Some(o), None) => Some(o.clone()),
                (None, Some(g)) => Some(format!(":{g}")),
                (None, None) => None,
            };
            if let Some(owner) = owner {
                s.push_str(&format!(
                    "xargs -r -d '\\n' chown -h -- {} < \"$t/attrs\" || fail chown\n",
                    remote::shell_quote(&owner)
                ));
            }
            if let Some(mode) = &self.mode {
                let mode =
                    remote::parse_mode(mode).map_err(|e| TaskError::failed(format!("mode {e}")))?;
                s.push_str(&format!(
                    "xargs -r -d '\\n' chmod -- {:o} < \"$t/attrs\" || fail chmod\n",
                    mode
                ));
            }
        }
        Ok(s)
    }

    /// The archive from the control machine, to send on stdin.
    fn local_archive(&self, cx: &Context<'_>) -> Result<Vec<u8>, TaskError> {
        if self.remote() {
            return Ok(Vec::new());
        }
        let path = cx.find_src(SrcKind::Files, &self.src);
        let meta = std::fs::metadata(&path).map_err(|_| {
            TaskError::failed(format!(
                "Could not find or access '{}' on the Ansible Controller.",
                self.src
            ))
        })?;
        if meta.len() > ARCHIVE_LIMIT {
            return Err(TaskError::failed(format!(
                "{} is larger than {} MiB; copy it to the host first and use remote_src",
                path.display(),
                ARCHIVE_LIMIT / (1024 * 1024)
            )));
        }
        std::fs::read(&path)
            .map_err(|e| TaskError::failed(format!("could not read {}: {e}", path.display())))
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let (src, dest) = (&self.src, &self.dest);
        let msg = match failure.code.as_deref() {
            Some("dest") => format!("Destination '{dest}' is not a directory"),
            Some("src") => format!("Source '{src}' does not exist"),
            Some("unreadable") => format!("Source '{src}' not readable"),
            Some("empty") => format!("Invalid archive '{src}', the file is 0 bytes"),
            Some("unzip") => format!(
                "Failed to find handler for \"{src}\". Make sure the required command to extract the file is installed.\nUnable to find required 'unzip' binary in the path"
            ),
            Some("list") => format!(
                "Failed to find handler for \"{src}\". Make sure the required command to extract the file is installed.\nCommand could not handle archive: Unable to list files in the archive"
            ),
            Some("nofiles") => format!(
                "Failed to find handler for \"{src}\". Empty archive files are not supported."
            ),
            Some("extract") => format!("failed to unpack {src} to {dest}"),
            Some("chown") | Some("chmod") => {
                format!("could not set owner, group or mode on the files unpacked into {dest}")
            }
            Some("tmp") => "could not create a temporary directory on the host".to_string(),
            _ => format!("could not unpack {src} to {dest}"),
        };
        remote::with_detail(msg, &failure)
    }

    fn result(&self, outcome: Outcome, kind: ArchiveKind, files: &[String]) -> Outcome {
        let mut outcome = outcome
            .with_data("handler", kind.handler())
            .with_data("dest", self.dest.clone())
            .with_data("src", self.src.clone());
        if self.list_files {
            outcome = outcome.with_data(
                "files",
                Value::from(
                    files
                        .iter()
                        .map(|f| f.trim_start_matches('/'))
                        .collect::<Vec<_>>(),
                ),
            );
        }
        outcome
    }
}

#[async_trait]
impl Task for Unarchive {
    type Drift = Unpack;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<Unpack>, TaskError> {
        if self.remote() && self.src.contains("://") {
            return Err(TaskError::failed(format!(
                "{}: downloading with remote_src is not supported natively; fetch it with get_url first",
                self.src
            )));
        }
        if let Some(mode) = &self.mode {
            remote::parse_mode(mode).map_err(|e| TaskError::failed(format!("mode {e}")))?;
        }
        let archive = self.local_archive(cx)?;
        let out = cx.run(&self.check_script(), &archive).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let text = out.stdout_text();
        if text.starts_with("creates") {
            let creates = self.creates.as_deref().unwrap_or_default();
            return Ok(Check::InSync(
                Outcome::ok()
                    .with_msg(format!("skipped, since {creates} exists"))
                    .with_data("skipped", true),
            ));
        }
        let mut kind = ArchiveKind::Tar;
        let mut root = false;
        let mut section = "";
        let (mut files, mut differs, mut attrs_differ) = (Vec::new(), Vec::new(), Vec::new());
        let wanted_mode = self
            .mode
            .as_deref()
            .map(remote::parse_mode)
            .transpose()
            .map_err(|e| TaskError::failed(format!("mode {e}")))?;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("== ") {
                section = match name {
                    "list" => "list",
                    "diff" => "diff",
                    _ => "attrs",
                };
                continue;
            }
            match section {
                "" => {
                    if let Some(k) = line.strip_prefix("kind ") {
                        kind = ArchiveKind::parse(k);
                    } else if let Some(uid) = line.strip_prefix("uid ") {
                        root = uid.trim() == "0";
                    }
                }
                "list" => files.push(line.to_string()),
                "diff" => {
                    let counts = DIFFERS.iter().any(|d| line.contains(d))
                        || (root && self.owner.is_none() && line.ends_with(": Uid differs"))
                        || (root && self.group.is_none() && line.ends_with(": Gid differs"))
                        || (self.mode.is_none() && line.ends_with(": Mode differs"));
                    if counts {
                        differs.push(line.to_string());
                    }
                }
                _ => {
                    let fields: Vec<&str> = line.splitn(6, '\t').collect();
                    if let [user, group, mode, uid, gid, name] = fields.as_slice() {
                        let owner_ok = self
                            .owner
                            .as_deref()
                            .is_none_or(|o| o == *user || o == *uid);
                        let group_ok = self
                            .group
                            .as_deref()
                            .is_none_or(|g| g == *group || g == *gid);
                        let mode_ok = wanted_mode
                            .is_none_or(|m| u32::from_str_radix(mode, 8).ok() == Some(m));
                        if !(owner_ok && group_ok && mode_ok) {
                            attrs_differ.push(name.to_string());
                        }
                    }
                }
            }
        }
        let extract = !differs.is_empty();
        if !extract && attrs_differ.is_empty() {
            return Ok(Check::InSync(self.result(Outcome::ok(), kind, &files)));
        }
        let mut reasons = differs.clone();
        reasons.extend(
            attrs_differ
                .iter()
                .map(|f| format!("{f}: attributes differ")),
        );
        let before = reasons.join("\n") + "\n";
        let preview = self.result(
            Outcome::changed(format!("unpack {} into {}", self.src, self.dest)).with_diff(
                crate::report::Diff {
                    subject: format!("{} (unpacked from {})", self.dest, self.src),
                    before: Some(before),
                    after: Some(String::new()),
                },
            ),
            kind,
            &files,
        );
        Ok(Check::Drift {
            drift: Unpack {
                extract,
                kind,
                files,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: Unpack) -> Result<Outcome, TaskError> {
        let script = self.apply_script(drift.kind, &drift.files, drift.extract)?;
        let archive = if drift.extract {
            self.local_archive(cx)?
        } else {
            Vec::new()
        };
        let out = cx.run(&script, &archive).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let mut outcome = Outcome::changed(format!("unpacked {} into {}", self.src, self.dest));
        if drift.extract {
            outcome = outcome.with_data(
                "extract_results",
                serde_json::json!({
                    "rc": out.status,
                    "out": out.stdout_text(),
                    "err": remote::failure(&out).detail,
                }),
            );
        }
        Ok(self.result(outcome, drift.kind, &drift.files))
    }
}
