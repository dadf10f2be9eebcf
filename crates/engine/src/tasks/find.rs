//! The `find` task: files below `paths` that match, registered as
//! Ansible's `find` registers them (`files`, `matched`, `examined`,
//! `skipped_paths`, `msg`). Read-only: check mode runs it too, and it is
//! never a change.
//!
//! One script: the host's `find` lists every candidate once with `-printf`
//! (type, size, mode, ids, mtime, path), limited by `recurse`/`depth`; the
//! matching (`patterns` and `excludes` as shell globs on the base name, or
//! regular expressions with `use_regex`, `file_type`, `hidden`, `age`,
//! `size`) is done here.
//!
//! `contains` needs a second script: the host's `grep -P` (Perl-compatible
//! expressions, the closest the host has to Python's) over the regular
//! files that matched everything else, anchored at the start of each line
//! as Python's `re.match` is, or searched in the whole file with
//! `read_whole_file`.
//!
//! Differences from Ansible: `get_checksum`, `follow` and `encoding` are
//! not supported; each file's
//! entry has `path`, `mode`, `size`, `uid`, `gid`, `mtime`, `isdir`,
//! `isreg`, `islnk`.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote;

/// The arguments of `find`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Find {
    pub paths: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub excludes: Vec<String>,
    pub file_type: String,
    #[serde(default)]
    pub recurse: bool,
    pub depth: Option<i64>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub use_regex: bool,
    pub age: Option<String>,
    pub age_stamp: String,
    pub size: Option<String>,
    pub contains: Option<String>,
    #[serde(default)]
    pub read_whole_file: bool,
}

/// The parameters of `find`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "find",
        vec![
            Param::new("paths", Kind::List)
                .required()
                .aliases(&["name", "path"]),
            Param::new("patterns", Kind::List).aliases(&["pattern"]),
            Param::new("excludes", Kind::List).aliases(&["exclude"]),
            Param::new("file_type", Kind::Str)
                .choices(&["file", "directory", "link", "any"])
                .default("file"),
            Param::new("recurse", Kind::Bool).default(false),
            Param::new("depth", Kind::Int),
            Param::new("hidden", Kind::Bool).default(false),
            Param::new("use_regex", Kind::Bool).default(false),
            Param::new("age", Kind::Str),
            Param::new("age_stamp", Kind::Str)
                .choices(&["atime", "ctime", "mtime"])
                .default("mtime"),
            Param::new("size", Kind::Str),
            Param::new("contains", Kind::Str),
            Param::new("read_whole_file", Kind::Bool).default(false),
        ],
    )
}

/// A shell glob as a regular expression over a whole name (Python's
/// `fnmatch`, which Ansible uses).
fn glob_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut class = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == ']' && !class.is_empty() {
                        closed = true;
                        break;
                    }
                    class.push(d);
                }
                if closed {
                    let class = class
                        .strip_prefix('!')
                        .map_or(class.clone(), |c| format!("^{c}"));
                    out.push_str(&format!("[{}]", class.replace('\\', "\\\\")));
                } else {
                    out.push_str(&regex::escape(&format!("[{class}")));
                }
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    out
}

/// A number with an optional unit suffix (`age: 2d`, `size: 10m`), signed:
/// negative means "at most".
fn amount(text: &str, units: &[(char, i64)], what: &str) -> Result<i64, TaskError> {
    let bad = || {
        TaskError::failed(format!(
            "`{what}` must be a number with an optional unit ({}), not {text:?}",
            units
                .iter()
                .map(|(u, _)| u.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let t = text.trim().to_ascii_lowercase();
    let (number, factor) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let factor = units.iter().find(|(u, _)| *u == c).ok_or_else(bad)?.1;
            (&t[..t.len() - 1], factor)
        }
        _ => (t.as_str(), 1),
    };
    number.parse::<i64>().map(|n| n * factor).map_err(|_| bad())
}

const AGE_UNITS: [(char, i64); 5] = [
    ('s', 1),
    ('m', 60),
    ('h', 3600),
    ('d', 86400),
    ('w', 604800),
];
const SIZE_UNITS: [(char, i64); 5] = [
    ('b', 1),
    ('k', 1024),
    ('m', 1024 * 1024),
    ('g', 1024 * 1024 * 1024),
    ('t', 1024 * 1024 * 1024 * 1024),
];

/// Whether `value` passes a signed limit: `n` means at least `n`, `-n`
/// at most `n`.
fn within(value: i64, limit: i64) -> bool {
    if limit >= 0 {
        value >= limit
    } else {
        value <= -limit
    }
}

impl Find {
    fn matchers(&self, list: &[String]) -> Result<Vec<Regex>, TaskError> {
        list.iter()
            .map(|p| {
                let source = if self.use_regex {
                    p.clone()
                } else {
                    glob_regex(p)
                };
                Regex::new(&source)
                    .map_err(|e| TaskError::failed(format!("invalid pattern {p:?}: {e}")))
            })
            .collect()
    }

    fn script(&self) -> String {
        let depth = match (self.recurse, self.depth) {
            (false, _) => " -maxdepth 1".to_string(),
            (true, Some(d)) => format!(" -maxdepth {d}"),
            (true, None) => String::new(),
        };
        let stamp = match self.age_stamp.as_str() {
            "atime" => "%A@",
            "ctime" => "%C@",
            _ => "%T@",
        };
        let mut s = format!("{}printf 'now %s\\n' \"$(date +%s)\"\n", remote::FAIL_FN);
        for path in &self.paths {
            s.push_str(&format!(
                "if [ -d {p} ]; then find {p} -mindepth 1{depth} -printf 'F\\t%y\\t%s\\t%m\\t%U\\t%G\\t{stamp}\\t%p\\n' 2>/dev/null || :; \
                 else printf 'S\\t%s\\n' {p}; fi\n",
                p = remote::path_arg(path)
            ));
        }
        s
    }
}

impl Find {
    /// Keeps the regular files among `files` whose content matches
    /// `contains` (other kinds are not filtered by content, as in Ansible).
    async fn containing(
        &self,
        cx: &Context<'_>,
        contains: &str,
        files: Vec<Value>,
    ) -> Result<Vec<Value>, TaskError> {
        let regular: Vec<&str> = files
            .iter()
            .filter(|f| f["isreg"] == true)
            .filter_map(|f| f["path"].as_str())
            .collect();
        if regular.is_empty() {
            return Ok(files);
        }
        let (flags, pattern) = if self.read_whole_file {
            ("-lZzP", contains.to_string())
        } else {
            ("-lZP", format!("^(?:{contains})"))
        };
        // grep says 2 for an expression it cannot compile, 1 for no match.
        let quoted = remote::shell_quote(&pattern);
        let script = format!(
            "{}grep -P -e {quoted} </dev/null >/dev/null\n[ $? -le 1 ] || fail pattern\n\
             xargs -0 grep {flags} -e {quoted} -- 2>/dev/null\nexit 0\n",
            remote::FAIL_FN
        );
        let stdin: Vec<u8> = regular
            .iter()
            .flat_map(|p| p.bytes().chain(std::iter::once(0)))
            .collect();
        let out = cx.run(&script, &stdin).await?;
        if !out.success() {
            return Err(remote::with_detail(
                format!("`contains` is not a valid regular expression: {contains:?}"),
                &remote::failure(&out),
            ));
        }
        let hits: std::collections::HashSet<&[u8]> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .collect();
        Ok(files
            .into_iter()
            .filter(|f| {
                f["isreg"] != true
                    || f["path"]
                        .as_str()
                        .is_some_and(|p| hits.contains(p.as_bytes()))
            })
            .collect())
    }
}

#[async_trait]
impl Task for Find {
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        let patterns = self.matchers(&self.patterns)?;
        let excludes = self.matchers(&self.excludes)?;
        let age = self
            .age
            .as_deref()
            .map(|a| amount(a, &AGE_UNITS, "age"))
            .transpose()?;
        let size = self
            .size
            .as_deref()
            .map(|s| amount(s, &SIZE_UNITS, "size"))
            .transpose()?;
        let out = cx.run(&self.script(), &[]).await?;
        if !out.success() {
            return Err(remote::with_detail(
                "find could not list the paths".to_string(),
                &remote::failure(&out),
            ));
        }
        let text = out.stdout_text();
        let mut now = 0i64;
        let mut files = Vec::new();
        let mut skipped = serde_json::Map::new();
        let mut examined = 0u64;
        for line in text.lines() {
            let fields: Vec<&str> = line.splitn(8, '\t').collect();
            match fields.as_slice() {
                [n] if n.starts_with("now ") => now = n[4..].trim().parse().unwrap_or(0),
                ["S", path] => {
                    skipped.insert(path.to_string(), "not a directory (or missing)".into());
                }
                ["F", kind, bytes, mode, uid, gid, time, path] => {
                    examined += 1;
                    let name = remote::base_name(path);
                    if !self.hidden && name.starts_with('.') {
                        continue;
                    }
                    let wanted_type = match self.file_type.as_str() {
                        "file" => *kind == "f",
                        "directory" => *kind == "d",
                        "link" => *kind == "l",
                        _ => true,
                    };
                    let named = patterns.is_empty() || patterns.iter().any(|p| p.is_match(name));
                    let excluded = excludes.iter().any(|p| p.is_match(name));
                    let bytes: i64 = bytes.parse().unwrap_or(0);
                    let time: f64 = time.parse().unwrap_or(0.0);
                    let old_enough = age.is_none_or(|a| within(now - time as i64, a));
                    let big_enough = size.is_none_or(|s| within(bytes, s));
                    if wanted_type && named && !excluded && old_enough && big_enough {
                        files.push(json!({
                            "path": path,
                            "mode": format!("0{mode}"),
                            "size": bytes,
                            "uid": uid.parse::<i64>().unwrap_or(-1),
                            "gid": gid.parse::<i64>().unwrap_or(-1),
                            "mtime": time,
                            "isdir": *kind == "d",
                            "isreg": *kind == "f",
                            "islnk": *kind == "l",
                        }));
                    }
                }
                _ => {}
            }
        }
        if let Some(contains) = &self.contains {
            files = self.containing(cx, contains, files).await?;
        }
        let matched = files.len();
        Ok(Check::InSync(
            Outcome::ok()
                .with_data("files", Value::Array(files))
                .with_data("matched", matched)
                .with_data("examined", examined)
                .with_data("skipped_paths", Value::Object(skipped))
                .with_data("msg", "All paths examined"),
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

    #[test]
    fn globs_match_whole_names_like_fnmatch() {
        let re = Regex::new(&glob_regex("*.log")).expect("valid");
        assert!(re.is_match("app.log"));
        assert!(!re.is_match("app.log.1"));
        let class = Regex::new(&glob_regex("app[!0-9].conf")).expect("valid");
        assert!(class.is_match("appx.conf"));
        assert!(!class.is_match("app1.conf"));
    }

    #[test]
    fn ages_and_sizes_read_their_units() {
        assert_eq!(amount("2d", &AGE_UNITS, "age").ok(), Some(172800));
        assert_eq!(amount("-10k", &SIZE_UNITS, "size").ok(), Some(-10240));
        assert!(amount("3x", &AGE_UNITS, "age").is_err());
        assert!(within(5, -10) && !within(5, 10));
    }
}
