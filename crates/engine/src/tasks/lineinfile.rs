//! The `lineinfile` task: make sure one line is in a file (or that lines
//! matching something are not), with Ansible's rules for where it goes.
//!
//! The file is fetched and edited on the control machine (`tasks::edit`),
//! following ansible-core's algorithm step by step: a `regexp` or
//! `search_string` match is replaced (the last one, or the first with
//! `firstmatch`); without one the line is added after the `insertafter` /
//! before the `insertbefore` match, at `BOF`, or at the end, unless an
//! identical line is already there. `state: absent` removes every line that
//! matches. The diff is the file's content before and after.
//!
//! Differences from Ansible: regular expressions are the regex crate's
//! (no look-around, no backreferences inside the pattern), matched against
//! each line without its newline, which is what Python's `$` sees; `\1`
//! and `\g<name>` in `line` are expanded with `backrefs` as in Python.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::FileKind;

/// The arguments of `lineinfile`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInFile {
    pub path: String,
    pub regexp: Option<String>,
    pub search_string: Option<String>,
    pub state: String,
    pub line: Option<String>,
    #[serde(default)]
    pub backrefs: bool,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub firstmatch: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub validate: Option<String>,
}

/// The parameters of `lineinfile`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "lineinfile",
        vec![
            Param::new("path", Kind::Path)
                .required()
                .aliases(&["dest", "destfile", "name"]),
            Param::new("regexp", Kind::Str).aliases(&["regex"]),
            Param::new("search_string", Kind::Str),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("line", Kind::Str).aliases(&["value"]),
            Param::new("backrefs", Kind::Bool).default(false),
            Param::new("insertafter", Kind::Str),
            Param::new("insertbefore", Kind::Str),
            Param::new("create", Kind::Bool).default(false),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("firstmatch", Kind::Bool).default(false),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("validate", Kind::Str),
        ],
    )
}

/// How a line is recognised.
enum Matcher {
    Regex(regex::bytes::Regex),
    Substring(Vec<u8>),
    Exact,
}

impl LineInFile {
    fn options(&self) -> FileOptions<'_> {
        FileOptions {
            mode: self.mode.as_deref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
            force: true,
            backup: self.backup,
            validate: self.validate.as_deref(),
        }
    }

    /// Refuses what Ansible refuses, before asking the host.
    fn validated(&self) -> Result<Matcher, TaskError> {
        if self.regexp.is_some() && self.search_string.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: regexp|search_string",
            ));
        }
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: insertafter|insertbefore",
            ));
        }
        let present = self.state == "present";
        if present && self.line.is_none() {
            return Err(TaskError::failed("line is required with state=present"));
        }
        if present && self.backrefs && self.regexp.is_none() && self.search_string.is_none() {
            return Err(TaskError::failed(
                "regexp or search_string is required with backrefs=true",
            ));
        }
        if !present && self.regexp.is_none() && self.search_string.is_none() && self.line.is_none()
        {
            return Err(TaskError::failed(
                "one of line, search_string, or regexp is required with state=absent",
            ));
        }
        Ok(match (&self.regexp, &self.search_string) {
            (Some(re), _) => Matcher::Regex(edit::regex("regexp", re)?),
            (_, Some(s)) => Matcher::Substring(s.as_bytes().to_vec()),
            _ => Matcher::Exact,
        })
    }

    /// The edited lines and the message, or `None` when nothing changes.
    fn edit(
        &self,
        matcher: &Matcher,
        lines: &mut Vec<Vec<u8>>,
    ) -> Result<Option<String>, TaskError> {
        if self.state == "absent" {
            let removed = self.remove(matcher, lines);
            return Ok((removed > 0).then(|| format!("{removed} line(s) removed")));
        }
        let line = self.line.as_deref().unwrap_or_default().as_bytes().to_vec();
        present(self, matcher, &line, lines)
    }

    /// Removes the lines `state: absent` names and counts them (Ansible's
    /// `found`).
    fn remove(&self, matcher: &Matcher, lines: &mut Vec<Vec<u8>>) -> usize {
        let line = self.line.as_deref().unwrap_or_default().as_bytes();
        let before = lines.len();
        lines.retain(|l| !matches(matcher, line, l));
        before - lines.len()
    }
}

/// Whether a line (with its newline) is one `state: absent` removes.
fn matches(matcher: &Matcher, line: &[u8], current: &[u8]) -> bool {
    match matcher {
        Matcher::Regex(re) => re.is_match(trim_newline(current)),
        Matcher::Substring(s) => contains(current, s),
        Matcher::Exact => bare_eol(current) == line,
    }
}

/// A line without its `\n`, which Python's `$` sees as the end.
fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// A line without any trailing `\r` and `\n` (Python's `rstrip(b'\r\n')`).
fn bare_eol(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| *b != b'\n' && *b != b'\r')
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Ansible's `present()`: find the line to replace or the place to insert.
fn present(
    task: &LineInFile,
    matcher: &Matcher,
    line: &[u8],
    lines: &mut Vec<Vec<u8>>,
) -> Result<Option<String>, TaskError> {
    let after = task.insertafter.as_deref();
    let before = task.insertbefore.as_deref();
    let insert_re = match (after, before) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(edit::regex("insertafter", a)?),
        (None, Some(b)) if b != "BOF" => Some(edit::regex("insertbefore", b)?),
        _ => None,
    };
    // index.0: the line the regexp or search string found (or the exact
    // line); index.1: where insertafter/insertbefore points.
    let mut found: Option<usize> = None;
    let mut place: Option<usize> = None;
    let mut matched = false;
    let mut replacement: Option<Vec<u8>> = None;
    if !matches!(matcher, Matcher::Exact) {
        for (n, current) in lines.iter().enumerate() {
            let hit = match matcher {
                Matcher::Regex(re) => re.captures(trim_newline(current)).map(|caps| {
                    let mut out = Vec::new();
                    caps.expand(
                        edit::python_replacement(&String::from_utf8_lossy(line)).as_bytes(),
                        &mut out,
                    );
                    out
                }),
                Matcher::Substring(s) => contains(current, s).then(|| line.to_vec()),
                Matcher::Exact => None,
            };
            if let Some(expanded) = hit {
                found = Some(n);
                matched = true;
                replacement = Some(expanded);
                if task.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, current) in lines.iter().enumerate() {
            if bare_eol(current) == line {
                found = Some(n);
            } else if let Some(re) = &insert_re
                && re.is_match(trim_newline(current))
            {
                place = Some(if after.is_some() { n + 1 } else { n });
                if task.firstmatch {
                    break;
                }
            }
        }
    }
    let with_eol = |l: &[u8]| {
        let mut l = l.to_vec();
        if !l.ends_with(b"\n") {
            l.push(b'\n');
        }
        l
    };
    let added = Some("line added".to_string());
    if let Some(index) = found {
        let new_line = match (task.backrefs, replacement) {
            (true, Some(expanded)) => with_eol(&expanded),
            _ => with_eol(line),
        };
        if lines[index] != new_line {
            lines[index] = new_line;
            return Ok(Some("line replaced".to_string()));
        }
        return Ok(None);
    }
    if task.backrefs {
        // Without a match there is nothing to fill the groups with.
        return Ok(None);
    }
    if before == Some("BOF") || after == Some("BOF") {
        lines.insert(0, with_eol(line));
        return Ok(added);
    }
    match place {
        Some(index) if after != Some("EOF") => {
            if after.is_some() {
                let neighbour = if index == lines.len() {
                    index - 1
                } else {
                    index
                };
                if bare_eol(&lines[neighbour]) == line {
                    return Ok(None);
                }
            }
            ensure_final_newline(lines);
            lines.insert(index, with_eol(line));
            Ok(added)
        }
        _ => {
            ensure_final_newline(lines);
            lines.push(with_eol(line));
            Ok(added)
        }
    }
}

/// A file whose last line lacks its newline gets one before a line is
/// added after it.
fn ensure_final_newline(lines: &mut [Vec<u8>]) {
    if let Some(last) = lines.last_mut()
        && !last.ends_with(b"\n")
        && !last.ends_with(b"\r")
    {
        last.push(b'\n');
    }
}

/// Splits content into lines that keep their `\n` (Python's `readlines`).
fn split_lines(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

#[async_trait]
impl Task for LineInFile {
    type Drift = EditDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<EditDrift>, TaskError> {
        let matcher = self.validated()?;
        let stat = edit::fetch(cx, &self.path).await?;
        let base = Outcome::ok().with_data("path", self.path.clone());
        if stat.kind == FileKind::Absent {
            if self.state == "absent" {
                return Ok(Check::InSync(base.with_msg("file not present")));
            }
            if !self.create {
                return Err(TaskError::failed(format!(
                    "Destination {} does not exist !",
                    self.path
                )));
            }
        }
        let mut lines = split_lines(edit::text(&stat));
        let before = lines.len();
        let msg = self.edit(&matcher, &mut lines)?;
        let removed = before.saturating_sub(lines.len());
        let new = lines.concat();
        let create_dir = self.create && stat.kind == FileKind::Absent;
        let check = edit::check(cx, &self.path, stat, new, self.options(), create_dir, msg)?;
        // Ansible reports how many lines `state: absent` removed, also 0.
        Ok(if self.state == "absent" {
            edit::with_field(check, "found", removed.into())
        } else {
            check
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: EditDrift) -> Result<Outcome, TaskError> {
        edit::apply(cx, drift).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> LineInFile {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    fn run(args: serde_json::Value, content: &str) -> (String, Option<String>) {
        let t = task(args);
        let matcher = t.validated().expect("valid");
        let mut lines = split_lines(content.as_bytes());
        let msg = t.edit(&matcher, &mut lines).expect("edits");
        (String::from_utf8(lines.concat()).expect("utf8"), msg)
    }

    #[test]
    fn a_regexp_match_is_replaced_and_a_second_run_changes_nothing() {
        let args = json!({"path": "/x", "regexp": "^port=", "line": "port=8080"});
        let (out, msg) = run(args.clone(), "a=1\nport=80\nb=2\n");
        assert_eq!(out, "a=1\nport=8080\nb=2\n");
        assert_eq!(msg.as_deref(), Some("line replaced"));
        assert_eq!(run(args, &out).1, None);
    }

    #[test]
    fn lines_are_added_at_the_end_after_or_before_a_match() {
        let (out, _) = run(json!({"path": "/x", "line": "new"}), "a\nb");
        assert_eq!(out, "a\nb\nnew\n");
        let (out, _) = run(
            json!({"path": "/x", "line": "new", "insertafter": "^a"}),
            "a\nb\n",
        );
        assert_eq!(out, "a\nnew\nb\n");
        let (out, _) = run(
            json!({"path": "/x", "line": "new", "insertbefore": "^b"}),
            "a\nb\n",
        );
        assert_eq!(out, "a\nnew\nb\n");
        let (out, _) = run(
            json!({"path": "/x", "line": "new", "insertbefore": "BOF"}),
            "a\n",
        );
        assert_eq!(out, "new\na\n");
        assert_eq!(run(json!({"path": "/x", "line": "b"}), "a\nb\n").1, None);
    }

    #[test]
    fn backrefs_expand_groups_and_do_nothing_without_a_match() {
        let args =
            json!({"path": "/x", "regexp": "^(\\w+)=.*$", "line": "\\1=on", "backrefs": true});
        assert_eq!(run(args.clone(), "debug=off\n").0, "debug=on\n");
        assert_eq!(run(args, "# nothing\n").1, None);
    }

    #[test]
    fn absent_removes_every_match() {
        let (out, msg) = run(
            json!({"path": "/x", "state": "absent", "regexp": "^#"}),
            "#a\nb\n#c\n",
        );
        assert_eq!(out, "b\n");
        assert_eq!(msg.as_deref(), Some("2 line(s) removed"));
    }

    #[test]
    fn contradictions_are_refused() {
        let err = task(json!({"path": "/x", "state": "present"}))
            .validated()
            .err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("line is required with state=present")
        );
        let err = task(json!({"path": "/x", "line": "a", "regexp": "(", }))
            .validated()
            .err();
        assert!(
            err.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("regexp \"(\"")
        );
    }
}
