//! The strict parser of what our scripts print: `key=value` lines, then
//! possibly one raw section that runs to the end of the output.

use std::collections::BTreeMap;

use super::stat::{Attrs, FileKind, ModeError, Stat, parse_mode};
use crate::task::TaskError;

/// A probe's output that its parser does not understand, which means the
/// script and its parser disagree (or the host's tools answer otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the probe printed a line that is not UTF-8")]
    NotUtf8,
    #[error("the probe printed an unexpected line: {0:?}")]
    UnexpectedLine(String),
    /// A known line whose value is not what the probe prints.
    #[error("bad probe line {0:?}")]
    BadLine(String),
    #[error("the probe printed `{0}` twice")]
    Twice(String),
    #[error("the probe did not report `{0}`")]
    Missing(String),
    #[error("the probe reported `{key}={value}`, {expected}")]
    BadValue {
        key: String,
        value: String,
        /// What the value should have been, as the end of the sentence.
        expected: &'static str,
    },
    #[error("the probe reported an unknown kind {0:?}")]
    UnknownKind(String),
    #[error("the probe reported a bad mode: {0}")]
    BadMode(#[from] ModeError),
    #[error("the probe reported an unexpected `{0}`")]
    Unexpected(String),
    #[error("the probe sent an unexpected `{0}` section")]
    UnexpectedSection(String),
    #[error("the link target is not UTF-8")]
    TargetNotUtf8,
}

/// A task that cannot read its own probe fails with the parser's words.
impl From<ProbeError> for TaskError {
    fn from(e: ProbeError) -> TaskError {
        TaskError::failed(e.to_string())
    }
}

impl ProbeError {
    /// A known key whose value is not what the probe prints.
    pub fn bad_value(key: &str, value: &str, expected: &'static str) -> ProbeError {
        ProbeError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        }
    }
}

/// The `key=value` lines a script printed, and its raw section if any.
#[derive(Debug, Default)]
pub struct Report {
    fields: BTreeMap<String, String>,
    /// The raw section's name and bytes.
    raw: Option<(String, Vec<u8>)>,
}

/// The names that start a raw section.
const RAW_SECTIONS: [&str; 2] = ["content", "target"];

impl Report {
    /// Parses a script's standard output strictly: every line before the raw
    /// section must be `key=value` with a lowercase key seen only once.
    pub fn parse(stdout: &[u8]) -> Result<Report, ProbeError> {
        let mut report = Report::default();
        let mut rest = stdout;
        while !rest.is_empty() {
            let (line, after) = match rest.iter().position(|b| *b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = std::str::from_utf8(line).map_err(|_| ProbeError::NotUtf8)?;
            if RAW_SECTIONS.contains(&line) {
                report.raw = Some((line.to_string(), after.to_vec()));
                return Ok(report);
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| ProbeError::UnexpectedLine(line.to_string()))?;
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(ProbeError::UnexpectedLine(line.to_string()));
            }
            if report
                .fields
                .insert(key.to_string(), value.to_string())
                .is_some()
            {
                return Err(ProbeError::Twice(key.to_string()));
            }
            rest = after;
        }
        Ok(report)
    }

    /// Takes a field out of the report.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.fields.remove(key)
    }

    /// Takes a field that must be there.
    pub fn require(&mut self, key: &str) -> Result<String, ProbeError> {
        self.take(key)
            .ok_or_else(|| ProbeError::Missing(key.to_string()))
    }

    /// Takes a `0`/`1` flag that must be there.
    pub fn flag(&mut self, key: &str) -> Result<bool, ProbeError> {
        match self.require(key)?.as_str() {
            "0" => Ok(false),
            "1" => Ok(true),
            other => Err(ProbeError::bad_value(key, other, "not 0 or 1")),
        }
    }

    /// Takes a raw `content` section a script printed last.
    pub fn take_content(&mut self) -> Option<Vec<u8>> {
        self.take_raw("content")
    }

    /// Takes the raw section, if it has this name.
    pub fn take_raw(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.raw.take() {
            Some((n, bytes)) if n == name => Some(bytes),
            other => {
                self.raw = other;
                None
            }
        }
    }

    /// Fails when the script printed anything nobody took, which means the
    /// script and its parser disagree.
    pub fn finish(self) -> Result<(), ProbeError> {
        if let Some(key) = self.fields.keys().next() {
            return Err(ProbeError::Unexpected(key.clone()));
        }
        if let Some((name, _)) = self.raw {
            return Err(ProbeError::UnexpectedSection(name));
        }
        Ok(())
    }

    /// Takes the fields that `probe_script` printed.
    pub fn take_stat(&mut self) -> Result<Stat, ProbeError> {
        let kind = self.require("kind")?;
        let kind = FileKind::parse(&kind).ok_or_else(|| ProbeError::UnknownKind(kind.clone()))?;
        let mut stat = Stat {
            kind,
            attrs: None,
            size: None,
            same: None,
            content: None,
            link_target: None,
        };
        if kind == FileKind::Absent {
            return Ok(stat);
        }
        let number = |key: &str, text: String| -> Result<u64, ProbeError> {
            text.parse::<u64>()
                .map_err(|_| ProbeError::bad_value(key, &text, "not a number"))
        };
        let id = |key: &str, text: String| -> Result<u32, ProbeError> {
            text.parse::<u32>()
                .map_err(|_| ProbeError::bad_value(key, &text, "not an id"))
        };
        let mode = self.require("mode")?;
        stat.attrs = Some(Attrs {
            mode: parse_mode(&mode)?,
            uid: id("uid", self.require("uid")?)?,
            owner: self.require("owner")?,
            gid: id("gid", self.require("gid")?)?,
            group: self.require("group")?,
        });
        let size = number("size", self.require("size")?)?;
        if kind == FileKind::File {
            stat.size = Some(size);
        }
        stat.same = match self.take("same").as_deref() {
            None => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(other) => return Err(ProbeError::bad_value("same", other, "not 0 or 1")),
        };
        stat.content = self.take_raw("content");
        if let Some(mut target) = self.take_raw("target") {
            // readlink ends its answer with exactly one newline of its own.
            if target.last() == Some(&b'\n') {
                target.pop();
            }
            let target = String::from_utf8(target).map_err(|_| ProbeError::TargetNotUtf8)?;
            stat.link_target = Some(target);
        }
        Ok(stat)
    }
}
