//! The `replace` task: every match of a regular expression in a file
//! replaced, optionally only in the part `after` and/or `before` other
//! expressions, with Python's replacement syntax (`\1`, `\g<name>`).
//!
//! The file is fetched and edited on the control machine (`tasks::edit`),
//! following ansible-core's algorithm: the section is what lies between the
//! first `after` match and the following `before` match (`.` matching
//! newlines there, as Python's `DOTALL`), `regexp` is matched with `^`/`$`
//! at line boundaries (`MULTILINE`), and the file changes only when the
//! replaced section differs. The diff is the file before and after.
//!
//! Differences from Ansible: regular expressions are the regex crate's (no
//! look-around, no backreferences inside the pattern); `encoding` is not
//! supported (files are bytes).

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::FileKind;

/// The arguments of `replace`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    pub path: String,
    pub regexp: String,
    pub replace: String,
    pub after: Option<String>,
    pub before: Option<String>,
    #[serde(default)]
    pub backup: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub validate: Option<String>,
}

/// The parameters of `replace`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "replace",
        vec![
            Param::new("path", Kind::Path)
                .required()
                .aliases(&["dest", "destfile", "name"]),
            Param::new("regexp", Kind::Str).required(),
            Param::new("replace", Kind::Str).default(""),
            Param::new("after", Kind::Str),
            Param::new("before", Kind::Str),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("validate", Kind::Str),
        ],
    )
}

impl Replace {
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

    /// The edited content and how many replacements were made.
    fn edit(&self, contents: &[u8]) -> Result<(Vec<u8>, usize), TaskError> {
        let pattern = match (&self.after, &self.before) {
            (Some(a), Some(b)) => Some(format!("(?s:{a})(?P<subsection>(?s:.*?))(?s:{b})")),
            (Some(a), None) => Some(format!("(?s:{a})(?P<subsection>(?s:.*))")),
            (None, Some(b)) => Some(format!("(?P<subsection>(?s:.*))(?s:{b})")),
            (None, None) => None,
        };
        let (start, end) = match &pattern {
            None => (0, contents.len()),
            Some(p) => {
                let re = edit::regex("after/before", p)?;
                match re.captures(contents).and_then(|c| c.name("subsection")) {
                    Some(m) => (m.start(), m.end()),
                    // No section: nothing to replace in.
                    None => return Ok((contents.to_vec(), 0)),
                }
            }
        };
        let section = &contents[start..end];
        let mre = regex::bytes::RegexBuilder::new(&self.regexp)
            .multi_line(true)
            .build()
            .map_err(|e| {
                TaskError::failed(format!(
                    "regexp {:?} is not a regular expression dtrplay supports: {e}",
                    self.regexp
                ))
            })?;
        let count = mre.find_iter(section).count();
        let replacement = edit::python_replacement(&self.replace);
        let replaced = mre.replace_all(section, replacement.as_bytes());
        let mut out = contents[..start].to_vec();
        out.extend_from_slice(&replaced);
        out.extend_from_slice(&contents[end..]);
        Ok((out, count))
    }
}

#[async_trait]
impl Task for Replace {
    type Drift = EditDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<EditDrift>, TaskError> {
        let stat = edit::fetch(cx, &self.path).await?;
        if stat.kind == FileKind::Absent {
            return Err(TaskError::failed(format!(
                "Path {} does not exist !",
                self.path
            )));
        }
        let contents = edit::text(&stat).to_vec();
        let (new, count) = self.edit(&contents)?;
        let msg = (new != contents).then(|| format!("{count} replacements made"));
        edit::check(cx, &self.path, stat, new, self.options(), false, msg)
    }

    async fn apply(&self, cx: &Context<'_>, drift: EditDrift) -> Result<Outcome, TaskError> {
        edit::apply(cx, drift).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(args: serde_json::Value, content: &str) -> (String, usize) {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        let task: Replace =
            serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes");
        let (out, n) = task.edit(content.as_bytes()).expect("edits");
        (String::from_utf8(out).expect("utf-8"), n)
    }

    #[test]
    fn every_match_is_replaced_with_python_backrefs() {
        let (out, n) = run(
            json!({"path": "/f", "regexp": "^(\\w+)=80$", "replace": "\\1=8080"}),
            "a=80\nb=80\nc=1\n",
        );
        assert_eq!((out.as_str(), n), ("a=8080\nb=8080\nc=1\n", 2));
    }

    #[test]
    fn only_the_section_between_after_and_before_changes() {
        let (out, n) = run(
            json!({"path": "/f", "regexp": "on", "replace": "off", "after": "\\[b\\]", "before": "\\[c\\]"}),
            "[a]\non\n[b]\non\n[c]\non\n",
        );
        assert_eq!((out.as_str(), n), ("[a]\non\n[b]\noff\n[c]\non\n", 1));
    }
}
