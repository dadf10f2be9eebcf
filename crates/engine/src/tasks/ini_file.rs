//! The `ini_file` task (community.general's, with or without the
//! `community.general.` prefix): one option of one section of an INI-style
//! file set, added, replaced or removed, or a whole section added or
//! removed, with the other lines left as they are.
//!
//! The file is fetched and edited on the control machine (`tasks::edit`),
//! following the collection's algorithm step by step so that the bytes
//! written are the ones it writes: the file is read as Python reads text
//! (a UTF-8 byte order mark dropped, `\r\n` and `\r` read as `\n`), a
//! missing final newline is added, the section is found between sentinel
//! lines (the part before the first section is a section without a name),
//! matching option lines are rewritten (commented-out ones too, unless
//! `modify_inactive_option: false`), surplus ones dropped, missing ones
//! added after the section's last line that is neither blank nor a comment,
//! and a missing section is appended at the end. A file whose edit changes
//! nothing is left byte for byte as it was, whatever its line endings.
//!
//! Differences from the collection: `follow` is not supported (a link is
//! read through and replaced by the edited file, as with `follow: false`);
//! `value` given without `option` is ignored rather than failing with a
//! Python exception; `mode`, `owner` and `group` are compared in check mode
//! too.

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::copy::FileOptions;
use crate::tasks::edit::{self, EditDrift};
use crate::tasks::remote::FileKind;

/// The arguments of `ini_file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IniFile {
    pub path: String,
    pub section: Option<String>,
    pub section_has_values: Option<Vec<Value>>,
    pub option: Option<String>,
    pub value: Option<Value>,
    pub values: Option<Vec<Value>>,
    pub state: String,
    pub exclusive: bool,
    pub no_extra_spaces: bool,
    pub ignore_spaces: bool,
    pub allow_no_value: bool,
    pub modify_inactive_option: bool,
    pub create: bool,
    pub backup: bool,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// The parameters of `ini_file`, as community.general names them.
pub fn spec() -> Spec {
    Spec::new(
        "ini_file",
        vec![
            Param::new("path", Kind::Path).required().aliases(&["dest"]),
            Param::new("section", Kind::Str),
            Param::new("section_has_values", Kind::List),
            Param::new("option", Kind::Str),
            // Raw so that a YAML boolean is written as Python's str() writes
            // it (`True`), as the collection does.
            Param::new("value", Kind::Raw),
            Param::new("values", Kind::List),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("exclusive", Kind::Bool).default(true),
            Param::new("no_extra_spaces", Kind::Bool).default(false),
            Param::new("ignore_spaces", Kind::Bool).default(false),
            Param::new("allow_no_value", Kind::Bool).default(false),
            Param::new("modify_inactive_option", Kind::Bool).default(true),
            Param::new("create", Kind::Bool).default(true),
            Param::new("backup", Kind::Bool).default(false),
            Param::new("mode", Kind::Mode),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
        ],
    )
}

/// The name of the section that stands for the lines before the first
/// section header. It is the collection's own, so that a file edited by
/// both comes out the same even in its oddest corners.
const NAMELESS: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// A value as Python's `str()` writes it, which is what the collection
/// receives for a string option: `True`, `2.5`; a null is an empty string.
fn python_str(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => return Err(format!("must be a string, not {other}")),
    })
}

/// One entry of `section_has_values`: the section must have `option`, with
/// one of `values` when there are any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub option: String,
    pub values: Vec<String>,
}

/// An option line as the collection's pattern reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    /// The line starts with `#` or `;` before the option.
    commented: bool,
    /// Everything after `=` and the blanks that follow it (or nothing, for
    /// a line with the option alone).
    value: String,
}

/// Recognises the lines of one option: `[ \t]*[#;]?[ \t]*option[ \t]*(=|end)[ \t]*value`.
#[derive(Debug, Clone)]
struct OptionPattern {
    any: Regex,
    active: Regex,
}

impl OptionPattern {
    fn new(option: &str) -> Result<OptionPattern, String> {
        let escaped = regex::escape(option);
        let build = |prefix: &str| {
            Regex::new(&format!(
                r"^[ \t]*{prefix}[ \t]*{escaped}[ \t]*(?:=|$)[ \t]*(.*)"
            ))
            .map_err(|e| format!("option {option:?} cannot be matched: {e}"))
        };
        Ok(OptionPattern {
            any: build("([#;]?)")?,
            active: build("()")?,
        })
    }

    /// Matches a line, commented-out ones too when `inactive` allows them.
    /// Python's `$` also matches before a final newline, and its `.` stops
    /// at one, so the line is matched without its newline.
    fn find(&self, line: &str, inactive: bool) -> Option<Found> {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        let re = if inactive { &self.any } else { &self.active };
        let caps = re.captures(bare)?;
        Some(Found {
            commented: caps.get(1).is_some_and(|m| !m.as_str().is_empty()),
            value: caps.get(2).map_or("", |m| m.as_str()).to_string(),
        })
    }
}

/// What an edit of the file's text came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub changed: bool,
    pub msg: &'static str,
    pub content: String,
}

/// Reads text as Python's text mode does: without a leading byte order
/// mark, every `\r\n` and lone `\r` a `\n`, split after each `\n`.
fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// A line that is blank or a comment (the collection's
/// `^[ \t]*([#;].*)?$`).
fn blank_or_comment(line: &str) -> bool {
    let bare = line.strip_suffix('\n').unwrap_or(line);
    let rest = bare.trim_start_matches([' ', '\t']);
    rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')
}

/// The edit's state while its steps run.
struct Work<'a> {
    task: &'a IniFile,
    option: Option<(&'a str, OptionPattern)>,
    changed: bool,
    msg: &'static str,
}

impl Work<'_> {
    fn assignment(&self, option: &str, value: &str) -> String {
        if self.task.no_extra_spaces {
            format!("{option}={value}\n")
        } else {
            format!("{option} = {value}\n")
        }
    }

    /// Puts `new` in place of line `index`, unless with `ignore_spaces`
    /// only the blanks around `=` of an active line would change.
    fn update(&mut self, lines: &mut [String], touched: &mut [bool], index: usize, new: String) {
        let mut differs = None;
        if self.task.ignore_spaces
            && let Some((_, pattern)) = &self.option
            && let Some(old) = pattern.find(&lines[index], true)
            && !old.commented
        {
            let new_value = pattern.find(&new, true).map(|f| f.value);
            differs = Some(Some(old.value) != new_value);
        }
        let differs = differs.unwrap_or(lines[index] != new);
        if differs {
            lines[index] = new;
            self.changed = true;
            self.msg = "option changed";
        }
        touched[index] = true;
    }
}

impl IniFile {
    /// The values to set, without repeats, in the order given.
    fn wanted_values(&self) -> Result<Vec<String>, TaskError> {
        let given: Vec<Value> = match (&self.value, &self.values) {
            (Some(v), None) if !v.is_null() => vec![v.clone()],
            (_, Some(list)) => list.clone(),
            _ => Vec::new(),
        };
        let mut values: Vec<String> = Vec::new();
        for v in given {
            let text = python_str(&v).map_err(|e| TaskError::failed(format!("values {e}")))?;
            if !values.contains(&text) {
                values.push(text);
            }
        }
        Ok(values)
    }

    fn conditions(&self) -> Result<Vec<Condition>, TaskError> {
        let bad = |why: String| TaskError::failed(format!("section_has_values: {why}"));
        let mut out = Vec::new();
        for item in self.section_has_values.iter().flatten() {
            let map = item
                .as_object()
                .ok_or_else(|| bad(format!("each entry must be a mapping, not {item}")))?;
            for key in map.keys() {
                if !["option", "value", "values"].contains(&key.as_str()) {
                    return Err(bad(format!(
                        "unknown key `{key}` (expected option, value or values)"
                    )));
                }
            }
            let option = match map.get("option") {
                Some(Value::Null) | None => {
                    return Err(bad("each entry needs `option`".to_string()));
                }
                Some(v) => python_str(v).map_err(|e| bad(format!("option {e}")))?,
            };
            let value = map.get("value").filter(|v| !v.is_null());
            let values = map.get("values").filter(|v| !v.is_null());
            let values = match (value, values) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        "parameters are mutually exclusive: value|values".to_string()
                    ));
                }
                (Some(v), None) => vec![python_str(v).map_err(|e| bad(format!("value {e}")))?],
                (None, Some(Value::Array(list))) => list
                    .iter()
                    .map(python_str)
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(format!("values {e}")))?,
                (None, Some(other)) => {
                    vec![python_str(other).map_err(|e| bad(format!("values {e}")))?]
                }
                (None, None) => Vec::new(),
            };
            out.push(Condition { option, values });
        }
        Ok(out)
    }

    /// Refuses what the collection refuses, before asking the host.
    fn validated(&self) -> Result<(), TaskError> {
        if self.value.is_some() && self.values.is_some() {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: value|values",
            ));
        }
        let no_value = self.value.as_ref().is_none_or(Value::is_null)
            && self.values.as_ref().is_none_or(Vec::is_empty);
        if self.state == "present" && !self.allow_no_value && no_value {
            return Err(TaskError::failed(
                "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
            ));
        }
        self.conditions()?;
        Ok(())
    }

    /// Whether the lines of a section (its header first) satisfy every
    /// `section_has_values` condition; commented-out options count, as in
    /// the collection.
    fn has_values(conditions: &[(Condition, OptionPattern)], lines: &[String]) -> bool {
        conditions.iter().all(|(cond, pattern)| {
            lines.iter().any(|line| {
                pattern
                    .find(line, true)
                    .is_some_and(|f| cond.values.is_empty() || cond.values.contains(&f.value))
            })
        })
    }

    /// The edit itself, on the file's text (empty when it does not exist).
    pub fn edit(&self, original: &str) -> Result<Edited, TaskError> {
        let mut values = self.wanted_values()?;
        let conditions = self
            .conditions()?
            .into_iter()
            .map(|c| OptionPattern::new(&c.option).map(|p| (c, p)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TaskError::failed)?;
        let option = match &self.option {
            Some(o) => Some((
                o.as_str(),
                OptionPattern::new(o).map_err(TaskError::failed)?,
            )),
            None => None,
        };
        let mut work = Work {
            task: self,
            option,
            changed: false,
            msg: "OK",
        };
        let present = self.state == "present";
        let inactive = self.modify_inactive_option;

        let mut lines = read_lines(original);
        if lines.is_empty() {
            lines.push("\n".to_string());
        }
        if let Some(last) = lines.last_mut()
            && !last.ends_with('\n')
        {
            last.push('\n');
            work.changed = true;
        }
        // Sentinels: a header for the nameless section before the first
        // one, and a line that ends the last section.
        lines.insert(0, format!("[{NAMELESS}]"));
        lines.push("[".to_string());

        let section = match self.section.as_deref() {
            Some(s) if !s.is_empty() => s,
            _ => NAMELESS,
        };
        let header = Regex::new(&format!(r"^\[\s*{}\s*\]", regex::escape(section.trim())))
            .map_err(|e| {
                TaskError::failed(format!("section {section:?} cannot be matched: {e}"))
            })?;

        let mut within = false;
        let (mut start, mut end) = (0, 0);
        for (index, line) in lines.iter().enumerate() {
            if within && line.starts_with('[') {
                if Self::has_values(&conditions, &lines[start..index]) {
                    end = index;
                    break;
                }
                // Not this one: look for another section of that name.
                within = false;
                start = 0;
                end = 0;
            }
            if header.is_match(line) {
                within = true;
                start = index;
            }
        }
        let after = lines.split_off(end);
        let mut body = lines.split_off(start);
        let before = lines;
        let mut touched = vec![false; body.len()];
        let mut no_value_present = false;

        if present && let Some((name, pattern)) = &work.option {
            let name = name.to_string();
            let pattern = pattern.clone();
            for index in 0..body.len() {
                let Some(found) = pattern.find(&body[index], inactive) else {
                    continue;
                };
                if !values.is_empty() && values.contains(&found.value) {
                    let new = if found.value.is_empty() && self.allow_no_value {
                        no_value_present = true;
                        format!("{name}\n")
                    } else {
                        work.assignment(&name, &found.value)
                    };
                    work.update(&mut body, &mut touched, index, new);
                    if let Some(at) = values.iter().position(|v| *v == found.value) {
                        values.remove(at);
                    }
                } else if values.is_empty() && self.allow_no_value {
                    work.update(&mut body, &mut touched, index, format!("{name}\n"));
                    no_value_present = true;
                    break;
                }
            }
        }

        if present
            && self.exclusive
            && !self.allow_no_value
            && let Some((name, pattern)) = &work.option
        {
            let name = name.to_string();
            let pattern = pattern.clone();
            // The remaining values take the places of other lines of the
            // option, in order; whatever is left of those lines goes.
            if !values.is_empty() {
                for index in 0..body.len() {
                    if !touched[index] && pattern.find(&body[index], inactive).is_some() {
                        let new = work.assignment(&name, &values.remove(0));
                        work.update(&mut body, &mut touched, index, new);
                        if values.is_empty() {
                            break;
                        }
                    }
                }
            }
            for index in (1..body.len()).rev() {
                if !touched[index] && pattern.find(&body[index], inactive).is_some() {
                    body.remove(index);
                    touched.remove(index);
                    work.changed = true;
                    work.msg = "option changed";
                }
            }
        }

        if present {
            // Missing lines go after the section's last line that is
            // neither blank nor a comment, in the order given.
            if let Some(index) = (1..=body.len())
                .rev()
                .find(|i| !blank_or_comment(&body[i - 1]))
            {
                match &work.option {
                    Some((name, _)) if !values.is_empty() => {
                        let name = name.to_string();
                        for value in values.iter().rev() {
                            body.insert(index, work.assignment(&name, value));
                        }
                        work.msg = "option added";
                        work.changed = true;
                    }
                    Some((name, _)) if self.allow_no_value && !no_value_present => {
                        body.insert(index, format!("{name}\n"));
                        work.msg = "option added";
                        work.changed = true;
                    }
                    _ => {}
                }
            }
        } else {
            match &work.option {
                Some((_, pattern)) => {
                    let kept: Vec<String> = if self.exclusive {
                        body.iter()
                            .filter(|l| pattern.find(l, false).is_none())
                            .cloned()
                            .collect()
                    } else if !values.is_empty() {
                        body.iter()
                            .filter(|l| {
                                !pattern
                                    .find(l, false)
                                    .is_some_and(|f| values.contains(&f.value))
                            })
                            .cloned()
                            .collect()
                    } else {
                        body.clone()
                    };
                    if kept != body {
                        body = kept;
                        work.changed = true;
                        work.msg = "option changed";
                    }
                }
                None if !body.is_empty() => {
                    body.clear();
                    work.changed = true;
                    work.msg = "section removed";
                }
                None => {}
            }
        }

        let mut lines: Vec<String> = before.into_iter().chain(body).chain(after).collect();
        // The sentinels go. (With the nameless section removed, its header
        // is gone already and the first real line goes instead, as in the
        // collection.)
        if !lines.is_empty() {
            lines.remove(0);
        }
        lines.pop();

        if !within && present {
            lines.push(format!("[{section}]\n"));
            work.msg = "section and option added";
            let option_name = work.option.as_ref().map(|(n, _)| *n);
            for (cond, _) in &conditions {
                if Some(cond.option.as_str()) != option_name {
                    if !cond.values.is_empty() {
                        for value in &cond.values {
                            lines.push(work.assignment(&cond.option, value));
                        }
                    } else if self.allow_no_value {
                        lines.push(format!("{}\n", cond.option));
                    }
                } else if !self.exclusive {
                    for value in &cond.values {
                        if !values.contains(value) {
                            values.push(value.clone());
                        }
                    }
                }
            }
            match option_name {
                Some(name) if !values.is_empty() => {
                    for value in &values {
                        lines.push(work.assignment(name, value));
                    }
                }
                Some(name) if self.allow_no_value => lines.push(format!("{name}\n")),
                _ => work.msg = "only section added",
            }
            work.changed = true;
        }

        Ok(Edited {
            changed: work.changed,
            msg: work.msg,
            content: lines.concat(),
        })
    }

    fn options(&self) -> FileOptions<'_> {
        FileOptions {
            mode: self.mode.as_deref(),
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
            force: true,
            backup: self.backup,
            validate: None,
        }
    }
}

#[async_trait]
impl Task for IniFile {
    type Drift = EditDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<EditDrift>, TaskError> {
        self.validated()?;
        let stat = edit::fetch(cx, &self.path).await?;
        let absent = stat.kind == FileKind::Absent;
        if absent && !self.create {
            return Err(TaskError::failed(format!(
                "Destination {} does not exist!",
                self.path
            )));
        }
        let raw = edit::text(&stat);
        let text = std::str::from_utf8(raw).map_err(|e| {
            TaskError::failed(format!(
                "{} is not UTF-8 text ({e}); ini_file reads and writes UTF-8 only",
                self.path
            ))
        })?;
        let edited = self.edit(text)?;
        let in_sync = Outcome::ok()
            .with_msg(edited.msg)
            .with_data("path", self.path.clone())
            .with_data("msg", edited.msg);
        if absent && !edited.changed {
            return Ok(Check::InSync(in_sync));
        }
        // An edit that changes nothing keeps the file's own bytes, so only
        // its attributes can differ.
        let new = if edited.changed {
            edited.content.into_bytes()
        } else {
            raw.to_vec()
        };
        let check = edit::check(
            cx,
            &self.path,
            stat,
            new,
            self.options(),
            absent,
            Some(edited.msg.to_string()),
        )?;
        Ok(match check {
            Check::InSync(outcome) => Check::InSync(
                outcome
                    .with_msg(edited.msg)
                    .with_data("path", self.path.clone())
                    .with_data("msg", edited.msg),
            ),
            Check::Drift { drift, preview } => Check::Drift {
                drift,
                preview: preview.with_data("path", self.path.clone()),
            },
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: EditDrift) -> Result<Outcome, TaskError> {
        Ok(edit::apply(cx, drift)
            .await?
            .with_data("path", self.path.clone()))
    }
}

#[cfg(test)]
mod oracle_cases;

#[cfg(test)]
mod tests {
    use super::oracle_cases::ORACLE;
    use super::*;
    use serde_json::json;

    fn task(args: serde_json::Value) -> IniFile {
        let coerced = spec()
            .coerce(args.as_object().expect("object"))
            .expect("coerces");
        serde_json::from_value(serde_json::Value::Object(coerced)).expect("deserializes")
    }

    /// The edited text and the message, or the task's refusal.
    fn run(args: serde_json::Value, content: &str) -> Result<(String, bool, &'static str), String> {
        let mut args = args;
        args["path"] = json!("/x.ini");
        let t = task(args);
        t.validated().map_err(|e| e.to_string())?;
        let edited = t.edit(content).map_err(|e| e.to_string())?;
        Ok((edited.content, edited.changed, edited.msg))
    }

    #[test]
    fn python_str_writes_booleans_and_numbers_as_python_does() {
        assert_eq!(python_str(&json!(true)).as_deref(), Ok("True"));
        assert_eq!(python_str(&json!(2.5)).as_deref(), Ok("2.5"));
        assert_eq!(python_str(&json!(null)).as_deref(), Ok(""));
    }

    #[test]
    fn option_lines_are_read_as_the_collection_reads_them() {
        let p = OptionPattern::new("port").expect("pattern");
        let found = |line: &str, inactive: bool| p.find(line, inactive);
        assert_eq!(
            found("  port =  80 \n", true),
            Some(Found {
                commented: false,
                value: "80 ".into()
            })
        );
        assert_eq!(found("# port=80\n", true).map(|f| f.commented), Some(true));
        assert_eq!(found("# port=80\n", false), None);
        assert_eq!(found("port\n", true).map(|f| f.value), Some(String::new()));
        assert_eq!(found("ports = 1\n", true), None);
        assert!(blank_or_comment("   \n") && blank_or_comment("; x\n"));
        assert!(!blank_or_comment("[s]\n"));
    }

    #[test]
    fn edits_write_the_bytes_the_collection_writes() {
        for (before, args, changed, msg, after) in ORACLE {
            let args: serde_json::Value = serde_json::from_str(args).expect("json");
            let (content, was_changed, was_msg) =
                run(args.clone(), before.unwrap_or_default()).expect("runs");
            assert_eq!(
                (was_changed, was_msg),
                (*changed, *msg),
                "{args} on {before:?}"
            );
            // An edit that changes nothing leaves the file as it was.
            let written = if *changed {
                Some(content.as_str())
            } else {
                *before
            };
            assert_eq!(written, *after, "{args} on {before:?}");
        }
    }

    #[test]
    fn contradictions_are_refused() {
        let err = run(json!({"section": "a", "option": "b"}), "").expect_err("refused");
        assert!(
            err.contains("Parameter 'value(s)' must be defined"),
            "{err}"
        );
        let err =
            run(json!({"option": "b", "value": "1", "values": ["2"]}), "").expect_err("refused");
        assert_eq!(err, "parameters are mutually exclusive: value|values");
        let err = run(
            json!({"section": "a", "option": "b", "value": "1",
                   "section_has_values": [{"value": "x"}]}),
            "",
        )
        .expect_err("refused");
        assert_eq!(err, "section_has_values: each entry needs `option`");
    }
}
