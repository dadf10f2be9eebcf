//! INI inventories, read the way Ansible's `ini` inventory plugin reads them.
//!
//! ```ini
//! jump.example.com ansible_port=2200   # before any section: `ungrouped`
//! [ucp]
//! ucp[1:3].example.com user=admin
//! [cluster:children]
//! ucp
//! [cluster:vars]
//! ntp = pool.ntp.org
//! ```
//!
//! Host lines are split like a shell command line (quotes, `#` comments) and
//! their `key=value` values typed as Python literals (`literal.rs`); lines of
//! a `:vars` section are split at the first `=` only, and the rest of the
//! line, comment included, is the value. A `:children` section may name a
//! group that is declared further down.
//!
//! Ansible stops at the first bad line; this reader reports every bad line,
//! each pointing at its line and column.

use miette::SourceSpan;

use super::builder::Builder;
use super::shlex::{self, Word};
use super::{VarValue, hostrange, literal};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::suggest::did_you_mean;
use crate::yaml::{Node, Value};

const SECTION_KINDS: [&str; 3] = ["hosts", "children", "vars"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hosts,
    Children,
    Vars,
}

/// A group named before it was declared: by a `[name:vars]` section, or as
/// a child in a `[parent:children]` section.
struct Pending {
    kind: Kind,
    /// Where the name was used, for the error if it is never declared.
    at: Node,
    parents: Vec<String>,
}

/// Reads an INI inventory file into the builder.
pub(super) fn read(b: &mut Builder, src: &SourceFile) {
    if let Some(err) = src.utf8_error() {
        b.error(err);
        return;
    }
    let mut group = "ungrouped".to_string();
    let mut kind = Kind::Hosts;
    let mut pending: indexmap::IndexMap<String, Pending> = indexmap::IndexMap::new();
    let text = src.text();
    let mut offset = 0;
    for raw_line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw_line.len();
        let body = raw_line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let start = line_start + (body.len() - body.trim_start().len());
        let line = Line {
            src,
            text: trimmed,
            start,
        };
        if let Some(section) = section(&line) {
            match section {
                Ok((name, section_kind)) => {
                    open_section(b, &mut pending, &line, &name, section_kind);
                    group = name;
                    kind = section_kind;
                }
                Err(err) => {
                    b.error(err);
                    // Lines up to the next good header belong to no known
                    // section; skipping them avoids one error per line.
                    group = String::new();
                }
            }
            continue;
        }
        if group.is_empty() {
            continue;
        }
        match kind {
            Kind::Hosts => host_line(b, &line, &group),
            Kind::Vars => var_line(b, &line, &group),
            Kind::Children => child_line(b, &mut pending, &line, &group),
        }
    }
    for (name, p) in pending {
        // A `[name:vars]` section created the group it names; suggest others.
        let others = b.group_names().filter(|g| *g != name);
        let help = did_you_mean(&name, others).unwrap_or_else(|| match p.kind {
            Kind::Vars => format!("declare the group with a `[{name}]` section (it may be empty)"),
            _ => format!("declare the group with a `[{name}]` section, or remove this line"),
        });
        let err = match p.kind {
            Kind::Vars => InputError::at(
                &p.at,
                format!("`[{name}:vars]` is for a group that is never declared"),
            )
            .with_label("no `[group]` or `[group:children]` section declares this name"),
            _ => InputError::at(
                &p.at,
                format!(
                    "`[{}:children]` names group `{name}`, which is never declared",
                    p.parents.last().map_or("", String::as_str)
                ),
            )
            .with_label("unknown group"),
        };
        b.error(err.with_help(help));
    }
}

/// One non-empty line, trimmed, and where it starts in the file.
struct Line<'a> {
    src: &'a SourceFile,
    text: &'a str,
    start: usize,
}

impl Line<'_> {
    /// A node for part of the line, `from..to` relative to the trimmed text.
    fn node(&self, from: usize, to: usize, value: Value) -> Node {
        let span = SourceSpan::from((self.start + from, to.saturating_sub(from)));
        Node::new(value, span, self.src)
    }

    /// An error underlining `from..to` of the line (at least one column).
    fn error(&self, from: usize, to: usize, message: impl Into<String>) -> InputError {
        InputError::at(&self.node(from, to.max(from + 1), Value::Null), message)
    }
}

/// Reads a section header: `Some(Ok(..))` for `[name]` or `[name:kind]`,
/// `Some(Err(..))` for a line that is bracketed but not a valid header, and
/// `None` for any other line (a host line may start with `[`, as in
/// `[::1]:22`).
fn section(line: &Line<'_>) -> Option<Result<(String, Kind), InputError>> {
    let Some((name, kind)) = parse_header(line.text) else {
        if line.text.starts_with('[') && line.text.ends_with(']') {
            return Some(Err(line
                .error(
                    0,
                    line.text.len(),
                    format!("`{}` is not a valid section header", line.text),
                )
                .with_label("expected `[group]`, `[group:children]` or `[group:vars]`")
                .with_help(
                    "group names cannot contain spaces, `:` or `]`; use `_` instead",
                )));
        }
        return None;
    };
    let kind = match kind {
        None | Some("hosts") => Kind::Hosts,
        Some("children") => Kind::Children,
        Some("vars") => Kind::Vars,
        Some(other) => {
            let from = 1 + name.len() + 1;
            let help = did_you_mean(other, SECTION_KINDS).unwrap_or_else(|| {
                "a section is `[group]`, `[group:children]` or `[group:vars]`".to_string()
            });
            return Some(Err(line
                .error(
                    from,
                    from + other.len(),
                    format!("unknown section kind `{other}`"),
                )
                .with_label("expected `children` or `vars`")
                .with_help(help)));
        }
    };
    Some(Ok((name.to_string(), kind)))
}

/// Ansible's header pattern: `[`, a name without `:`, `]` or spaces, an
/// optional `:word`, `]`, then nothing but a comment.
fn parse_header(text: &str) -> Option<(&str, Option<&str>)> {
    let rest = text.strip_prefix('[')?;
    let name_end = rest.find(|c: char| c == ':' || c == ']' || c.is_whitespace())?;
    let name = &rest[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &rest[name_end..];
    let mut kind = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end == 0 {
            return None;
        }
        kind = Some(&after[..end]);
        rest = &after[end..];
    }
    let rest = rest.strip_prefix(']')?.trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some((name, kind))
}

/// Declares the section's group, resolving earlier uses of its name.
fn open_section(
    b: &mut Builder,
    pending: &mut indexmap::IndexMap<String, Pending>,
    line: &Line<'_>,
    name: &str,
    kind: Kind,
) {
    let name_node = line.node(1, 1 + name.len(), Value::Str(name.to_string()));
    if !b.has_group(name) {
        // `[name:vars]` alone does not declare a group; remember it, and
        // complain at the end unless a real declaration follows.
        if kind == Kind::Vars && !pending.contains_key(name) {
            pending.insert(
                name.to_string(),
                Pending {
                    kind,
                    at: name_node.clone(),
                    parents: Vec::new(),
                },
            );
        }
        b.add_group(name, &name_node);
    }
    if kind != Kind::Vars
        && let Some(p) = pending.shift_remove(name)
    {
        for parent in &p.parents {
            b.add_child(parent, name, &p.at);
        }
    }
}

fn host_line(b: &mut Builder, line: &Line<'_>, group: &str) {
    let words = match shlex::split(line.text, true) {
        Ok(words) => words,
        Err(err) => {
            b.error(
                line.error(
                    err.offset(),
                    line.text.len(),
                    format!("cannot split this host line: {err}"),
                )
                .with_label("the quote opened here is never closed")
                .with_help("close the quote, or escape it with a backslash"),
            );
            return;
        }
    };
    let Some((first, rest)) = words.split_first() else {
        return;
    };
    let host_node = line.node(first.start, first.end, Value::Str(first.text.clone()));
    let (names, port) = match host_names(&first.text, &host_node) {
        Ok(found) => found,
        Err(err) => {
            b.error(err);
            return;
        }
    };
    if let Some(err) = b.host_limit_error(&names, &host_node) {
        b.error(err);
        return;
    }
    let mut vars: Vec<(String, VarValue)> = Vec::new();
    let mut ok = true;
    for word in rest {
        match assignment(line, word) {
            Ok(pair) => vars.push(pair),
            Err(err) => {
                b.error(err);
                ok = false;
            }
        }
    }
    if !ok {
        return;
    }
    for name in &names {
        b.add_host(name, group, port, &host_node);
        for (k, v) in &vars {
            b.set_host_var(name, k, v.clone());
        }
    }
}

/// The host(s) the first word of a host line names, and their port.
fn host_names(text: &str, at: &Node) -> Result<(Vec<String>, Option<u64>), InputError> {
    let (pattern, port) = hostrange::split_port(text);
    if port.is_none() && text.trim_end().ends_with(':') {
        return Err(InputError::at(at, format!("invalid host `{text}`"))
            .with_label("a host cannot end with `:`")
            .with_help("write the port after the colon (`host:2222`), or remove the colon"));
    }
    if text.trim() == "---" {
        return Err(InputError::at(at, "`---` is not a host")
            .with_label("this looks like the start of a YAML document")
            .with_help("give a YAML inventory a `.yml` extension"));
    }
    let names = hostrange::expand(&pattern, hostrange::MAX_HOSTS).map_err(|err| {
        InputError::at(at, format!("invalid host range in `{text}`"))
            .with_label(err.to_string())
            .with_help(hostrange::HELP)
    })?;
    if names.iter().any(String::is_empty) {
        return Err(InputError::at(at, "a host name cannot be empty")
            .with_label("empty host name")
            .with_help("write the host's name or address"));
    }
    Ok((names, port))
}

/// A `key=value` word of a host line.
fn assignment(line: &Line<'_>, word: &Word) -> Result<(String, VarValue), InputError> {
    let Some(eq) = word.text.find('=') else {
        return Err(line
            .error(
                word.start,
                word.end,
                format!("expected `key=value`, found `{}`", word.text),
            )
            .with_label("not a variable assignment")
            .with_help(
                "host variables are written `key=value`; quote values with spaces: key=\"a b\"",
            ));
    };
    let key = word.text[..eq].to_string();
    let value_text = &word.text[eq + 1..];
    let eq_index = word.text[..eq].chars().count();
    let value_start = word.offsets.get(eq_index).map_or(word.end, |&o| o + 1);
    let value = literal::ini_value(value_text);
    let span = line.node(value_start, word.end, Value::Null).span;
    let node = Node::from_json(&value, span, line.src);
    Ok((key, VarValue::new(value, node)))
}

fn var_line(b: &mut Builder, line: &Line<'_>, group: &str) {
    let Some((key, value)) = line.text.split_once('=') else {
        b.error(
            line.error(
                0,
                line.text.len(),
                format!("expected `key=value`, found `{}`", line.text),
            )
            .with_label("not a variable assignment")
            .with_help("a `:vars` section holds only `key=value` lines"),
        );
        return;
    };
    let key = key.trim();
    let value_text = value.trim();
    let value_from = line.text.len() - value.trim_start().len();
    let value = literal::ini_value(value_text);
    let node = line.node(value_from, value_from + value_text.len(), Value::Null);
    let node = Node::from_json(&value, node.span, line.src);
    b.set_group_var(group, key, VarValue::new(value, node));
}

fn child_line(
    b: &mut Builder,
    pending: &mut indexmap::IndexMap<String, Pending>,
    line: &Line<'_>,
    group: &str,
) {
    let name_end = line
        .text
        .find(char::is_whitespace)
        .unwrap_or(line.text.len());
    let name = &line.text[..name_end];
    let after = line.text[name_end..].trim_start();
    if name.is_empty() || name.contains([':', ']']) || !(after.is_empty() || after.starts_with('#'))
    {
        b.error(
            line.error(
                0,
                line.text.len(),
                format!("expected a group name, found `{}`", line.text),
            )
            .with_label("not a group name")
            .with_help("a `:children` section lists one group name per line"),
        );
        return;
    }
    let at = line.node(0, name.len(), Value::Str(name.to_string()));
    if b.has_group(name) {
        b.add_child(group, name, &at);
        return;
    }
    pending
        .entry(name.to_string())
        .or_insert_with(|| Pending {
            kind: Kind::Children,
            at,
            parents: Vec::new(),
        })
        .parents
        .push(group.to_string());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Inventory;
    use super::super::loader::load_texts;
    use crate::error::InputError;

    fn load(text: &str) -> Result<Inventory, Vec<InputError>> {
        load_texts(&[("hosts.ini", text)])
    }

    fn messages(text: &str) -> Vec<String> {
        match load(text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.message).collect(),
        }
    }

    #[test]
    fn children_may_be_declared_after_use() {
        let inv = load("[all_nodes:children]\nucp\ndtr\n\n[ucp]\nu1\n\n[dtr]\nd1\n")
            .unwrap_or_else(|e| panic!("{} errors", e.len()));
        let group = inv
            .group("all_nodes")
            .map(|g| g.children().collect::<Vec<_>>());
        assert_eq!(group, Some(vec!["ucp", "dtr"]));
        assert_eq!(inv.groups_of("d1"), ["all_nodes", "dtr"]);
    }

    #[test]
    fn undeclared_groups_are_errors() {
        assert_eq!(
            messages("[web:children]\napi\n"),
            ["`[web:children]` names group `api`, which is never declared"]
        );
        assert_eq!(
            messages("[web:vars]\nx=1\n"),
            ["`[web:vars]` is for a group that is never declared"]
        );
    }

    #[test]
    fn vars_sections_split_at_the_first_equals_sign() {
        let inv = load("[web]\nw1\n[web:vars]\nurl = https://x/?a=b # kept\nn = 5\nq = 'quoted'\n")
            .unwrap_or_else(|e| panic!("{} errors", e.len()));
        let vars = inv.host_vars_json("w1");
        assert_eq!(vars["url"], json!("https://x/?a=b # kept"));
        assert_eq!(vars["n"], json!(5));
        assert_eq!(vars["q"], json!("quoted"));
    }

    #[test]
    fn bad_lines_are_reported_each_with_its_position() {
        let text =
            "[web servers]\nx\n[web]\nhost: \nw1 novalue\n[web:vars]\njust text\n[api:kids]\n";
        let errors = load(text).err().unwrap_or_default();
        let found: Vec<(String, String)> = errors
            .iter()
            .map(|e| (e.message.clone(), e.location()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "`[web servers]` is not a valid section header".to_string(),
                    "hosts.ini:1:1".to_string()
                ),
                (
                    "invalid host `host:`".to_string(),
                    "hosts.ini:4:1".to_string()
                ),
                (
                    "expected `key=value`, found `novalue`".to_string(),
                    "hosts.ini:5:4".to_string()
                ),
                (
                    "expected `key=value`, found `just text`".to_string(),
                    "hosts.ini:7:1".to_string()
                ),
                (
                    "unknown section kind `kids`".to_string(),
                    "hosts.ini:8:6".to_string()
                ),
            ]
        );
    }

    #[test]
    fn bracketed_ipv6_hosts_are_hosts_not_sections() {
        let inv =
            load("[::1]:2222 ansible_user=me\n").unwrap_or_else(|e| panic!("{} errors", e.len()));
        let vars = inv.host_vars_json("::1");
        assert_eq!(vars["ansible_port"], json!(2222));
        assert_eq!(inv.groups_of("::1"), ["ungrouped"]);
    }
}
