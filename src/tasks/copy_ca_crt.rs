//! `copy-ca-crt`: step 5 of the procedure, making each node's Docker engine
//! trust DTR.
//!
//! It writes DTR's CA (step 2, verified by `api::dtr_ca` and fetched once per
//! run for all nodes) to `<docker_certs_dir>/<dtr-host[:port]>/ca.crt`, the
//! directory name being exactly the registry part of the image references
//! (`api::registry`). The check is one read-only remote script (does the
//! file exist, its mode and content) and the apply one script that creates
//! the directory (0755) if missing and replaces the file atomically: a
//! temporary file in the same directory, mode 0644, flushed to disk, then
//! renamed over `ca.crt`, so an engine never reads a half-written CA.
//! Contents are compared as certificates (DER), so whitespace differences
//! do not cause a rewrite.
//!
//! When DTR's certificate is issued by a publicly trusted CA the engines
//! already trust it and the task does nothing, as the procedure says.

use async_trait::async_trait;
use serde::Deserialize;

use crate::api::contract::{self, DtrAccess, DtrArgs};
use crate::api::dtr_ca::{self, DtrCa};
use crate::api::registry::ca_crt_path;
use crate::cert;
use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::dump_certs::shell_quote;

/// The mode of `ca.crt`.
pub const FILE_MODE: &str = "644";

/// [`FILE_MODE`] as bits, for the umask the file is created under.
const FILE_MODE_BITS: u32 = 0o644;
/// The mode of a created `certs.d/<host>` directory.
pub const DIR_MODE: &str = "755";

/// The arguments of `copy-ca-crt`; each falls back to its variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyCaCrt {
    #[serde(default)]
    pub dtr_url: Option<String>,
    #[serde(default)]
    pub dtr_ca_file: Option<String>,
    /// Default `docker_certs_dir`, else `/etc/docker/certs.d`.
    #[serde(default)]
    pub docker_certs_dir: Option<String>,
}

pub fn spec() -> Spec {
    Spec::new(
        "copy-ca-crt",
        vec![
            Param::new("dtr_url", Kind::Str),
            Param::new("dtr_ca_file", Kind::Path),
            Param::new("docker_certs_dir", Kind::Path),
        ],
    )
}

/// What the node holds at the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Absent,
    /// Something that is not a regular file (a directory...).
    NotAFile,
    /// A file that the SSH user cannot read.
    Unreadable,
    File {
        mode: String,
        content: String,
    },
}

/// The read-only probe of the check: one line of state, then the content.
pub fn probe_script(path: &str) -> String {
    let f = shell_quote(path);
    format!(
        "f={f}\n\
         if [ ! -e \"$f\" ]; then echo absent\n\
         elif [ ! -f \"$f\" ]; then echo notfile\n\
         elif [ ! -r \"$f\" ]; then echo unreadable\n\
         else printf 'file %s\\n' \"$(stat -c %a \"$f\" 2>/dev/null || echo unknown)\"; cat \"$f\"\n\
         fi\n"
    )
}

/// Parses what [`probe_script`] printed.
pub fn parse_probe(stdout: &str) -> Option<Remote> {
    let (first, rest) = stdout.split_once('\n').unwrap_or((stdout, ""));
    match first.trim() {
        "absent" => Some(Remote::Absent),
        "notfile" => Some(Remote::NotAFile),
        "unreadable" => Some(Remote::Unreadable),
        line => line.strip_prefix("file ").map(|mode| Remote::File {
            mode: mode.trim().to_string(),
            content: rest.to_string(),
        }),
    }
}

/// The atomic write of the apply, with the certificate inside the script.
///
/// Starting programs is what costs on the node, so the shell creates the
/// temporary file itself (`set -C` never follows an existing name) under a
/// umask that yields mode 0644, and the `printf` builtin writes it; only
/// `sync`, `mv`, `sync` and the read-back `cat` start (and `mkdir` when the
/// directory is missing).
pub fn write_script(path: &str, pem: &str) -> String {
    let dir = path.rsplit_once('/').map_or(".", |(d, _)| d);
    let dir = if dir.is_empty() { "/" } else { dir };
    format!(
        "set -eu\n\
         f={f}\n\
         d={d}\n\
         umask 022\n\
         [ -d \"$d\" ] || mkdir -p -m {DIR_MODE} -- \"$d\"\n\
         tmp=\"$d/.dtrplay.{random:016x}\"\n\
         trap '[ -e \"$tmp\" ] && rm -f -- \"$tmp\"' EXIT\n\
         trap 'exit 1' HUP INT TERM\n\
         ( umask {umask:03o}; set -C; {write} > \"$tmp\" )\n\
         sync -- \"$tmp\" 2>/dev/null || sync\n\
         mv -f -- \"$tmp\" \"$f\"\n\
         sync -- \"$d\" 2>/dev/null || true\n\
         cat -- \"$f\"\n",
        f = shell_quote(path),
        d = shell_quote(dir),
        random = crate::connection::remote_shell::random_u64(),
        umask = 0o777 & !FILE_MODE_BITS,
        write = crate::tasks::remote::printf_command(pem.as_bytes()),
    )
}

/// What the apply acts on.
#[derive(Debug)]
pub struct CopyDrift {
    path: String,
    pem: String,
    preview: Outcome,
}

/// The DTR CA for a task on this host, from the run's shared cache.
pub async fn dtr_ca_for(
    cx: &Context<'_>,
    url: Option<&str>,
    ca_file: Option<&str>,
) -> Result<std::sync::Arc<DtrCa>, TaskError> {
    let lookup = contract::context_lookup(cx);
    let access = DtrAccess::resolve(
        DtrArgs {
            url,
            ca_file,
            ..DtrArgs::default()
        },
        &lookup,
        false,
    )
    .map_err(|e| TaskError::failed(e.to_string()))?;
    dtr_ca::resolve(&access.ca_source())
        .await
        .map_err(|e| TaskError::failed(format!("cannot establish DTR's CA (step 2): {e}")))
}

#[async_trait]
impl Task for CopyCaCrt {
    type Drift = CopyDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<CopyDrift>, TaskError> {
        let lookup = contract::context_lookup(cx);
        let certs_dir = contract::certs_dir(self.docker_certs_dir.as_deref(), &lookup)
            .map_err(|e| TaskError::failed(e.to_string()))?;
        let dtr_ca = dtr_ca_for(cx, self.dtr_url.as_deref(), self.dtr_ca_file.as_deref()).await?;
        let path = ca_crt_path(&certs_dir, &dtr_ca.registry_host);
        let mut data = serde_json::Map::new();
        data.insert("path".into(), path.clone().into());
        data.insert("registry_host".into(), dtr_ca.registry_host.clone().into());
        if let Some(reason) = dtr_ca.public_skip_reason() {
            let mut out = Outcome::ok().with_msg(format!("nothing to copy: {reason}"));
            out.data = data;
            return Ok(Check::InSync(out));
        }
        if let Some(ca) = dtr_ca.primary() {
            data.insert("fingerprint".into(), ca.info.sha256.clone().into());
        }
        let out = cx.run(&probe_script(&path), b"").await?;
        let remote = match (out.success(), parse_probe(&out.stdout_text())) {
            (true, Some(remote)) => remote,
            _ => {
                return Err(TaskError::failed_with(
                    format!(
                        "cannot inspect {path} on {}: {}",
                        cx.host,
                        out.stderr_text().trim()
                    ),
                    Outcome::ok().with_output(&out),
                ));
            }
        };
        let wanted = &dtr_ca.pem;
        let (before, same_content, mode_ok) = match &remote {
            Remote::Absent => (None, false, false),
            Remote::NotAFile => {
                return Err(TaskError::failed(format!(
                    "{path} on {} exists but is not a regular file; remove it first",
                    cx.host
                )));
            }
            Remote::Unreadable => {
                return Err(TaskError::failed(format!(
                    "cannot read {path} on {}: permission denied (connect as root or use become)",
                    cx.host
                )));
            }
            Remote::File { mode, content } => (
                Some(content.as_str()),
                cert::same_certificates(content, wanted),
                mode == FILE_MODE,
            ),
        };
        if same_content && mode_ok {
            let mut out = Outcome::ok().with_msg(format!("{path} already holds DTR's CA"));
            out.data = data;
            return Ok(Check::InSync(out));
        }
        let mut preview = Outcome::changed(match (&remote, same_content) {
            (Remote::Absent, _) => format!("create {path} with DTR's CA"),
            (_, true) => format!("set the mode of {path} to 0{FILE_MODE}"),
            _ => format!("replace {path} with DTR's CA"),
        });
        if !same_content {
            preview.diffs.push(Diff {
                subject: path.clone(),
                before: before.map(cert::describe),
                after: Some(cert::describe(wanted)),
            });
        }
        if let Remote::File { mode, .. } = &remote
            && mode != FILE_MODE
        {
            preview.diffs.push(Diff {
                subject: format!("mode of {path}"),
                before: Some(format!("0{mode}\n")),
                after: Some(format!("0{FILE_MODE}\n")),
            });
        }
        preview.data = data;
        Ok(Check::Drift {
            drift: CopyDrift {
                path,
                pem: wanted.clone(),
                preview: preview.clone(),
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: CopyDrift) -> Result<Outcome, TaskError> {
        let out = cx.run(&write_script(&drift.path, &drift.pem), b"").await?;
        if !out.success() {
            let stderr = out.stderr_text();
            let hint = if stderr.to_ascii_lowercase().contains("permission denied") {
                " (connect as root or use become: /etc/docker belongs to root)"
            } else if stderr.to_ascii_lowercase().contains("no space") {
                " (the disk is full)"
            } else {
                ""
            };
            return Err(TaskError::failed_with(
                format!(
                    "cannot write {} on {}: {}{hint}",
                    drift.path,
                    cx.host,
                    stderr.trim()
                ),
                Outcome::ok().with_output(&out),
            ));
        }
        // The file is read back in the same script: a transport that lost
        // or altered the content fails here instead of leaving an engine
        // with a broken CA.
        if !cert::same_certificates(&out.stdout_text(), &drift.pem) {
            return Err(TaskError::failed_with(
                format!(
                    "wrote {} on {}, but it reads back {}; the file was not what was sent",
                    drift.path,
                    cx.host,
                    cert::describe(&out.stdout_text()).trim_end()
                ),
                Outcome::ok().with_output(&out),
            ));
        }
        Ok(drift.preview)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse() {
        assert_eq!(parse_probe("absent\n"), Some(Remote::Absent));
        assert_eq!(
            parse_probe("file 600\nPEM\n"),
            Some(Remote::File {
                mode: "600".into(),
                content: "PEM\n".into()
            })
        );
        assert_eq!(parse_probe("garbage"), None);
    }

    #[test]
    fn scripts_quote_the_path() {
        let script = write_script("/etc/docker/certs.d/dtr:4443/ca.crt", "PEM\n");
        assert!(script.contains("f=/etc/docker/certs.d/dtr:4443/ca.crt\n"));
        assert!(script.contains("d=/etc/docker/certs.d/dtr:4443\n"));
        let odd = probe_script("/tmp/a b/ca.crt");
        assert!(odd.contains("f='/tmp/a b/ca.crt'"));
    }

    /// The write script, run by a local `sh` under a strict umask, creates
    /// the directory 0755 and the file 0644 with the exact PEM, reads it
    /// back, and leaves no temporary file.
    #[test]
    fn the_write_script_installs_the_ca_exactly() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("certs.d/dtr.example.com:4443/ca.crt");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB'%\\\n-----END CERTIFICATE-----\n";
        let script = write_script(&path.display().to_string(), pem);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask 077\n{script}"))
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), pem);
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        let dir = path.parent().expect("dir");
        assert_eq!(mode(dir), 0o755);
        assert_eq!(std::fs::read_dir(dir).expect("dir").count(), 1);
    }
}
