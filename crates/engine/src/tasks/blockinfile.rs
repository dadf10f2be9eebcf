//! The `blockinfile` task: a block of lines between two marker lines kept
//! in a file (inserted, replaced in place, or removed), with Ansible's
//! rules for where a new block goes.
//!
//! The file is fetched and edited on the control machine (`tasks::edit`),
//! following ansible-core's algorithm: the markers are
//! `marker` with `{mark}` replaced by `marker_begin`/`marker_end`; an
//! existing pair of markers is replaced by the new block; otherwise the
//! block goes after the last `insertafter` match (or at the end), before
//! the last `insertbefore` match, or at the top for `insertbefore: BOF`.
//! An empty `block` or `state: absent` removes the block. The diff is the
//! file before and after.
//!
//! Differences from Ansible: regular expressions are the regex crate's (no
//! look-around); `prepend_newline`/`append_newline` are supported, `encoding`
//! is not (files are bytes, as they are to the regex).

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::FileKind;

/// The arguments of `blockinfile`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockInFile {
    pub path: String,
    pub block: String,
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub state: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub prepend_newline: bool,
    #[serde(default)]
    pub append_newline: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub validate: Option<String>,
}

/// The parameters of `blockinfile`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "blockinfile",
        vec![
            Param::new("path", Kind::Path)
                .required()
                .aliases(&["dest", "destfile", "name"]),
            Param::new("block", Kind::Str)
                .default("")
                .aliases(&["content"]),
            Param::new("marker", Kind::Str).default("# {mark} ANSIBLE MANAGED BLOCK"),
            Param::new("marker_begin", Kind::Str).default("BEGIN"),
            Param::new("marker_end", Kind::Str).default("END"),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("insertafter", Kind::Str),
            Param::new("insertbefore", Kind::Str),
            Param::new("create", Kind::Bool).default(false),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("prepend_newline", Kind::Bool).default(false),
            Param::new("append_newline", Kind::Bool).default(false),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("validate", Kind::Str),
        ],
    )
}

/// Python's `str.splitlines()` for `\n` and `\r\n` files: lines without
/// their ends.
fn split_lines(content: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = content
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    if content.ends_with(b"\n") || content.is_empty() {
        lines.pop();
    }
    lines
}

impl BlockInFile {
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

    /// The edited file, or the same bytes when nothing changes.
    fn edit(&self, original: Option<&[u8]>) -> Result<Vec<u8>, TaskError> {
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: insertafter|insertbefore",
            ));
        }
        let mut lines = split_lines(original.unwrap_or_default());
        let marker0 = self
            .marker
            .replace("{mark}", &self.marker_begin)
            .into_bytes();
        let marker1 = self.marker.replace("{mark}", &self.marker_end).into_bytes();
        let present = self.state == "present";
        let blocklines: Vec<Vec<u8>> = if present && !self.block.is_empty() {
            std::iter::once(marker0.clone())
                .chain(split_lines(self.block.as_bytes()))
                .chain(std::iter::once(marker1.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let insertre = match (&self.insertafter, &self.insertbefore) {
            (Some(a), _) if a != "EOF" => Some(edit::regex("insertafter", a)?),
            (None, Some(b)) if b != "BOF" => Some(edit::regex("insertbefore", b)?),
            _ => None,
        };
        let (mut n0, mut n1) = (None, None);
        for (i, line) in lines.iter().enumerate() {
            if *line == marker0 {
                n0 = Some(i);
            }
            if *line == marker1 {
                n1 = Some(i);
            }
        }
        let at = match (n0, n1) {
            (Some(a), Some(b)) if a < b => {
                lines.drain(a..=b);
                a
            }
            (Some(a), Some(b)) => {
                lines.drain(b..=a);
                b
            }
            _ => match &insertre {
                Some(re) => match lines.iter().rposition(|l| re.is_match(l)) {
                    None => lines.len(),
                    Some(i) if self.insertafter.is_some() => i + 1,
                    Some(i) => i,
                },
                None if self.insertbefore.is_some() => 0,
                None => lines.len(),
            },
        };
        let mut block = blocklines;
        if !block.is_empty() {
            if self.prepend_newline && at > 0 && !lines[at - 1].is_empty() {
                block.insert(0, Vec::new());
            }
            if self.append_newline && at < lines.len() && !lines[at].is_empty() {
                block.push(Vec::new());
            }
        }
        lines.splice(at..at, block);
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let mut result = lines.join(&b"\n"[..]);
        if original.is_none_or(|o| o.ends_with(b"\n")) {
            result.push(b'\n');
        }
        Ok(result)
    }
}

#[async_trait]
impl Task for BlockInFile {
    type Drift = EditDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<EditDrift>, TaskError> {
        let stat = edit::fetch(cx, &self.path).await?;
        let base = Outcome::ok().with_data("msg", "");
        let exists = stat.kind != FileKind::Absent;
        if !exists {
            if self.state == "absent" {
                return Ok(Check::InSync(
                    base.with_msg(format!("File {} not present", self.path)),
                ));
            }
            if !self.create {
                return Err(TaskError::failed(format!(
                    "Path {} does not exist !",
                    self.path
                )));
            }
        }
        let original = exists.then(|| edit::text(&stat).to_vec());
        let new = self.edit(original.as_deref())?;
        let msg = match (&original, self.state == "present" && !self.block.is_empty()) {
            (Some(o), _) if *o == new => "",
            (None, _) => "File created",
            (Some(_), false) => "Block removed",
            (Some(_), true) => "Block inserted",
        };
        let msg = (!msg.is_empty()).then(|| msg.to_string());
        edit::check(cx, &self.path, stat, new, self.options(), !exists, msg)
    }

    async fn apply(&self, cx: &Context<'_>, drift: EditDrift) -> Result<Outcome, TaskError> {
        edit::apply(cx, drift).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(args: serde_json::Value, content: Option<&str>) -> String {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        let task: BlockInFile =
            serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes");
        String::from_utf8(task.edit(content.map(str::as_bytes)).expect("edits")).expect("utf-8")
    }

    #[test]
    fn a_block_is_added_replaced_and_removed() {
        let added = run(json!({"path": "/f", "block": "a=1\nb=2"}), Some("x\n"));
        assert_eq!(
            added,
            "x\n# BEGIN ANSIBLE MANAGED BLOCK\na=1\nb=2\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let replaced = run(json!({"path": "/f", "block": "c=3"}), Some(&added));
        assert_eq!(
            replaced,
            "x\n# BEGIN ANSIBLE MANAGED BLOCK\nc=3\n# END ANSIBLE MANAGED BLOCK\n"
        );
        let again = run(json!({"path": "/f", "block": "c=3"}), Some(&replaced));
        assert_eq!(again, replaced);
        let removed = run(json!({"path": "/f", "state": "absent"}), Some(&replaced));
        assert_eq!(removed, "x\n");
    }

    #[test]
    fn insertbefore_and_insertafter_use_the_last_match() {
        let text = "[a]\nk=1\n[b]\nk=2\n";
        let before = run(
            json!({"path": "/f", "block": "z", "insertbefore": "^\\[", "marker": "#{mark}"}),
            Some(text),
        );
        assert_eq!(before, "[a]\nk=1\n#BEGIN\nz\n#END\n[b]\nk=2\n");
        let bof = run(
            json!({"path": "/f", "block": "z", "insertbefore": "BOF", "marker": "#{mark}"}),
            Some(text),
        );
        assert!(bof.starts_with("#BEGIN\nz\n#END\n[a]"));
    }
}
