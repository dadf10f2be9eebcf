//! The `stat` task: facts about a path, registered as Ansible's `stat`
//! dictionary (`exists`, `isdir`, `mode`, `pw_name`, `checksum`, ...).
//!
//! One script answers everything: a `stat -c` with every field at once, the
//! access tests as shell builtins, the checksum with the matching
//! `<algorithm>sum` tool only for a readable regular file, `readlink` for
//! links and `file` for the MIME type when it is installed. The task never
//! changes anything, so check and run are the same.
//!
//! Differences from Ansible: times are whole seconds (`stat`'s `%X`), and
//! `attributes`/`version` (lsattr) are not reported.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, ProbeError, Report};

/// The arguments of `stat`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stat {
    pub path: String,
    #[serde(default)]
    pub follow: bool,
    #[serde(default = "yes")]
    pub get_checksum: bool,
    pub checksum_algorithm: String,
    #[serde(default = "yes")]
    pub get_mime: bool,
    #[serde(default = "yes")]
    pub get_attributes: bool,
}

fn yes() -> bool {
    true
}

/// The parameters of `stat`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "stat",
        vec![
            Param::new("path", Kind::Path)
                .required()
                .aliases(&["dest", "name"]),
            Param::new("follow", Kind::Bool).default(false),
            Param::new("get_checksum", Kind::Bool).default(true),
            Param::new("checksum_algorithm", Kind::Str)
                .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
                .default("sha1")
                .aliases(&["checksum", "checksum_algo"]),
            Param::new("get_mime", Kind::Bool).default(true).aliases(&[
                "mime",
                "mime_type",
                "mime-type",
            ]),
            Param::new("get_attributes", Kind::Bool)
                .default(true)
                .aliases(&["attr", "attributes"]),
        ],
    )
}

/// The `stat -c` format: one `key=value` line per field.
const FORMAT: &str = "raw=%f\nuid=%u\ngid=%g\nsize=%s\ninode=%i\ndev=%d\nnlink=%h\natime=%X\nmtime=%Y\nctime=%Z\npw_name=%U\ngr_name=%G\nblocks=%b\nblock_size=%B";

impl Stat {
    fn script(&self) -> String {
        let deref = if self.follow { "-L " } else { "" };
        let mut s = format!("p={}\n", remote::path_arg(&self.path));
        s.push_str("if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo exists=0; exit 0; fi\necho exists=1\n");
        s.push_str(&format!("stat {deref}-c '{FORMAT}' -- \"$p\" || exit\n"));
        s.push_str(
            "if [ -r \"$p\" ]; then echo readable=1; else echo readable=0; fi\n\
             if [ -w \"$p\" ]; then echo writeable=1; else echo writeable=0; fi\n\
             if [ -x \"$p\" ]; then echo executable=1; else echo executable=0; fi\n",
        );
        if self.get_checksum {
            let tool = format!("{}sum", self.checksum_algorithm);
            s.push_str(&format!(
                "if [ -f \"$p\" ] && [ -r \"$p\" ]; then c=$({tool} < \"$p\") || exit; echo \"checksum=${{c%% *}}\"; fi\n"
            ));
        }
        if !self.follow {
            s.push_str(
                "if [ -L \"$p\" ]; then echo \"lnk_target=$(readlink -- \"$p\")\"; \
                 echo \"lnk_source=$(readlink -f -- \"$p\")\"; fi\n",
            );
        }
        if self.get_mime {
            s.push_str(
                "if command -v file >/dev/null 2>&1; then \
                 echo \"mimetype=$(file -b --mime-type -- \"$p\")\"; \
                 echo \"charset=$(file -b --mime-encoding -- \"$p\")\"; fi\n",
            );
        }
        s
    }

    /// Ansible's `stat` dictionary from what the script printed.
    fn parse(&self, mut report: Report) -> Result<Map<String, Value>, ProbeError> {
        let mut out = Map::new();
        if !report.flag("exists")? {
            report.finish()?;
            out.insert("exists".into(), false.into());
            return Ok(out);
        }
        out.insert("exists".into(), true.into());
        out.insert("path".into(), self.path.clone().into());
        let raw = report.require("raw")?;
        let raw = u32::from_str_radix(&raw, 16)
            .map_err(|_| ProbeError::bad_value("raw", &raw, "not hexadecimal"))?;
        let kind = raw & 0o170000;
        let mode = raw & 0o7777;
        for (name, bits) in [
            ("isdir", 0o040000),
            ("ischr", 0o020000),
            ("isblk", 0o060000),
            ("isreg", 0o100000),
            ("isfifo", 0o010000),
            ("islnk", 0o120000),
            ("issock", 0o140000),
        ] {
            out.insert(name.into(), (kind == bits).into());
        }
        out.insert("mode".into(), remote::mode_text(mode).into());
        for (name, bit) in [
            ("rusr", 0o400),
            ("wusr", 0o200),
            ("xusr", 0o100),
            ("rgrp", 0o040),
            ("wgrp", 0o020),
            ("xgrp", 0o010),
            ("roth", 0o004),
            ("woth", 0o002),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            out.insert(name.into(), (mode & bit != 0).into());
        }
        for name in [
            "uid",
            "gid",
            "size",
            "inode",
            "dev",
            "nlink",
            "blocks",
            "block_size",
        ] {
            let text = report.require(name)?;
            let n: u64 = text
                .parse()
                .map_err(|_| ProbeError::bad_value(name, &text, "not a number"))?;
            out.insert(name.into(), n.into());
        }
        for name in ["atime", "mtime", "ctime"] {
            let text = report.require(name)?;
            let n: f64 = text
                .parse()
                .map_err(|_| ProbeError::bad_value(name, &text, "not a time"))?;
            out.insert(name.into(), n.into());
        }
        for name in ["pw_name", "gr_name"] {
            out.insert(name.into(), report.require(name)?.into());
        }
        for name in ["readable", "writeable", "executable"] {
            out.insert(name.into(), report.flag(name)?.into());
        }
        for name in [
            "checksum",
            "lnk_target",
            "lnk_source",
            "mimetype",
            "charset",
        ] {
            if let Some(value) = report.take(name) {
                out.insert(name.into(), value.into());
            }
        }
        report.finish()?;
        Ok(out)
    }
}

#[async_trait]
impl Task for Stat {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let out = cx.run(&self.script(), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("could not stat {}", self.path),
                &remote::failure(&out),
            ));
        }
        let stat = Report::parse(&out.stdout)
            .and_then(|report| self.parse(report))
            .map_err(|e| TaskError::failed(format!("could not stat {}: {e}", self.path)))?;
        Ok(Check::InSync(
            Outcome::ok().with_data("stat", Value::Object(stat)),
        ))
    }

    async fn apply(&self, _cx: &Context<'_>, _drift: ()) -> Result<Outcome, TaskError> {
        // The check never reports drift.
        Ok(Outcome::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Stat {
        let coerced = spec()
            .coerce(
                serde_json::json!({"path": "/etc/x"})
                    .as_object()
                    .expect("object"),
            )
            .expect("coerces");
        serde_json::from_value(Value::Object(coerced)).expect("deserializes")
    }

    #[test]
    fn a_regular_file_is_described_like_ansible() {
        let text = "exists=1\nraw=81a4\nuid=0\ngid=0\nsize=3\ninode=7\ndev=2049\nnlink=1\n\
                    atime=1\nmtime=2\nctime=3\npw_name=root\ngr_name=root\nblocks=8\n\
                    block_size=4096\nreadable=1\nwriteable=1\nexecutable=0\nchecksum=abc\n";
        let stat = task()
            .parse(Report::parse(text.as_bytes()).expect("parses"))
            .expect("complete");
        assert_eq!(stat["mode"], "0644");
        assert_eq!(stat["isreg"], true);
        assert_eq!(stat["isdir"], false);
        assert_eq!(stat["roth"], true);
        assert_eq!(stat["xusr"], false);
        assert_eq!(stat["checksum"], "abc");
        assert_eq!(stat["mtime"], 2.0);
    }

    #[test]
    fn a_missing_path_only_says_so() {
        let stat = task()
            .parse(Report::parse(b"exists=0\n").expect("parses"))
            .expect("complete");
        assert_eq!(Value::Object(stat), serde_json::json!({"exists": false}));
    }
}
