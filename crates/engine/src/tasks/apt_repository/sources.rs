//! How `apt_repository` reads sources files: lines as Ansible's
//! `SourcesList` parses them, the file name it derives, and the check's
//! output.

use crate::tasks::remote::parse_mode;

/// One line of a sources file, read as Ansible reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// A `deb`/`deb-src` line (enabled or commented out).
    pub valid: bool,
    pub enabled: bool,
    /// The source with its whitespace collapsed.
    pub source: String,
    pub comment: String,
}

pub fn parse_line(line: &str) -> Line {
    let mut rest = line.trim();
    let mut enabled = true;
    if let Some(after) = rest.strip_prefix('#') {
        enabled = false;
        rest = after;
    }
    let mut comment = String::new();
    if let Some(at) = rest.find('#').filter(|at| *at > 0) {
        comment = rest[at + 1..].trim().to_string();
        rest = &rest[..at];
    }
    let chunks: Vec<&str> = rest.split_whitespace().collect();
    let valid = matches!(chunks.first(), Some(&("deb" | "deb-src")));
    Line {
        valid,
        enabled,
        source: if valid {
            chunks.join(" ")
        } else {
            rest.trim().to_string()
        },
        comment,
    }
}

/// The file name Ansible gives a new source: the URI without its scheme,
/// credentials and options, every run of other characters than letters
/// and digits made one `_`.
pub fn suggested_name(source: &str) -> String {
    let mut text = String::new();
    let mut in_options = false;
    for c in source.chars() {
        match c {
            '[' => in_options = true,
            ']' if in_options => in_options = false,
            _ if in_options => {}
            c => text.push(c),
        }
    }
    let first = text
        .split_whitespace()
        .find(|part| !matches!(*part, "deb" | "deb-src"))
        .unwrap_or_default();
    let without_scheme = match first.find("://") {
        Some(at) if at > 0 && first[..at].chars().all(|c| c.is_alphanumeric() || c == '_') => {
            &first[at + 3..]
        }
        _ => first,
    };
    let host = without_scheme
        .split_once('@')
        .map_or(without_scheme, |(_, h)| h);
    host.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// A sources file as the check found it.
#[derive(Debug, Clone)]
pub struct SourcesFile {
    pub path: String,
    pub mode: u32,
    pub ids: (u32, u32),
    pub content: String,
}

/// Reads the check's output: `target <path>` (where a new repository
/// goes, links followed), then for each file `file <size> <mode> <uid>
/// <gid> <path>` and exactly `size` bytes of content.
pub fn parse_files(stdout: &[u8]) -> Result<(Option<String>, Vec<SourcesFile>), String> {
    let mut files = Vec::new();
    let mut rest = stdout;
    let mut target = None;
    if let Some(after) = rest.strip_prefix(b"target ") {
        let end = after
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(after.len());
        target = Some(String::from_utf8_lossy(&after[..end]).into_owned());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("the probe's output ended inside a header")?;
        let header = std::str::from_utf8(&rest[..end]).map_err(|_| "a header is not UTF-8")?;
        let bad = || format!("the probe printed an unexpected line: {header:?}");
        let mut words = header.splitn(6, ' ');
        if words.next() != Some("file") {
            return Err(bad());
        }
        let mut field = || words.next().ok_or_else(bad);
        let size: usize = field()?.parse().map_err(|_| bad())?;
        let mode = parse_mode(field()?).map_err(|_| bad())?;
        let uid: u32 = field()?.parse().map_err(|_| bad())?;
        let gid: u32 = field()?.parse().map_err(|_| bad())?;
        let path = field()?.to_string();
        let body = &rest[end + 1..];
        if body.len() < size {
            return Err(format!("the probe sent less of {path} than its size"));
        }
        let content = String::from_utf8_lossy(&body[..size]).into_owned();
        files.push(SourcesFile {
            path,
            mode,
            ids: (uid, gid),
            content,
        });
        rest = &body[size..];
    }
    Ok((target, files))
}
