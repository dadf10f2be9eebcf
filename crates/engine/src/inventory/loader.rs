//! Reading inventory sources into an `Inventory`.
//!
//! This is the mutating side of the inventory, the counterpart of Ansible's
//! `InventoryData`: the YAML and INI readers only call `Builder`'s methods
//! (add a group, a host, a child, a variable), and `finish` then applies the
//! rules Ansible applies after parsing (parentless groups become children of
//! `all`, hosts in no group go to `ungrouped`, group depths and the order in
//! which group variables apply). Keeping those rules in one place is what
//! makes a YAML and an INI inventory with the same content produce the same
//! graph.
//!
//! Which files of a directory are read, and whether a file is YAML or INI,
//! also follow Ansible (its `INVENTORY_IGNORE_EXTS` and plugin order), so a
//! directory that works as an Ansible inventory works here.

use std::path::{Path, PathBuf};

use miette::SourceSpan;

use super::Inventory;
use super::builder::{Builder, io_error};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::yaml::{Node, Value};

/// Names Ansible skips when reading a directory inventory: hidden files,
/// the variable directories, and these endings (its default
/// `INVENTORY_IGNORE_EXTS`).
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];
const IGNORED_ENDINGS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Loads every source and the variable directories beside them.
pub(super) fn load(paths: &[PathBuf]) -> Result<Inventory, Vec<InputError>> {
    let mut b = Builder::new();
    let mut vars_dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        let base = match std::fs::metadata(path) {
            // Like Ansible, a source that is not a path but has a comma is
            // a list of hosts; it has no group_vars/ beside it.
            Err(_) if path.to_string_lossy().contains(',') => {
                read_host_list(&mut b, &path.to_string_lossy());
                continue;
            }
            Err(err) => {
                b.error(io_error(path, "could not read the inventory", &err));
                continue;
            }
            Ok(meta) if meta.is_dir() => {
                read_dir_source(&mut b, path);
                path.clone()
            }
            Ok(_) => {
                read_file_source(&mut b, path);
                match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            }
        };
        // Two sources in one directory share its group_vars/; reading them
        // twice would change nothing but the time taken.
        let canonical = std::fs::canonicalize(&base).unwrap_or_else(|_| base.clone());
        let seen = vars_dirs
            .iter()
            .any(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()) == canonical);
        if !seen {
            vars_dirs.push(base);
        }
    }
    let (mut inv, mut errors) = b.finish();
    super::vars_dir::load(&mut inv, &vars_dirs, &mut errors);
    if errors.is_empty() {
        Ok(inv)
    } else {
        Err(errors)
    }
}

/// Reads every entry of a directory source, in name order, skipping what
/// Ansible skips; subdirectories are sources too.
fn read_dir_source(b: &mut Builder, dir: &Path) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            b.error(io_error(
                dir,
                "could not read the inventory directory",
                &err,
            ));
            return;
        }
    };
    let mut names: Vec<std::ffi::OsString> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    for name in names {
        let text = name.to_string_lossy();
        if is_ignored(&text) {
            continue;
        }
        let path = dir.join(&name);
        if path.is_dir() {
            read_dir_source(b, &path);
        } else {
            read_file_source(b, &path);
        }
    }
}

fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_ENDINGS.iter().any(|end| name.ends_with(end))
}

/// Reads one file as YAML or INI. `.yml`, `.yaml` and `.json` are YAML and
/// `.ini` is INI; anything else is YAML if it parses as a YAML mapping, and
/// INI otherwise, the order in which Ansible tries its plugins.
fn read_file_source(b: &mut Builder, path: &Path) {
    let src = match SourceFile::read(path) {
        Ok(src) => src,
        Err(err) => {
            b.error(io_error(path, "could not read the inventory file", &err));
            return;
        }
    };
    read_source(b, &src);
}

/// Reads one source's text, choosing the format from its name.
fn read_source(b: &mut Builder, src: &SourceFile) {
    let ext = src
        .path()
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    match ext {
        "yml" | "yaml" | "json" => match crate::yaml::parse(src) {
            Ok(root) => super::yaml::read(b, &root),
            Err(err) => b.error(err),
        },
        "ini" => super::ini::read(b, src),
        "toml" => b.error(
            InputError::new(
                src,
                SourceSpan::from((0, 0)),
                format!("{} is a TOML inventory", src.name()),
            )
            .with_label("TOML is not supported")
            .with_help("write the inventory as YAML or INI"),
        ),
        _ => match crate::yaml::parse(src) {
            Ok(root) if root.as_map().is_some() => super::yaml::read(b, &root),
            _ => super::ini::read(b, src),
        },
    }
}

/// Ansible's `host_list` source: `-i 'web1,web2:2222,'` names hosts
/// directly. Each goes to `ungrouped`; a `:port` sets `ansible_port`.
fn read_host_list(b: &mut Builder, text: &str) {
    let src = SourceFile::new("host list", text);
    let mut offset = 0;
    for part in text.split(',') {
        let lead = part.len() - part.trim_start().len();
        let name = part.trim();
        if !name.is_empty() {
            let span = SourceSpan::from((offset + lead, name.len()));
            let at = Node::new(Value::Str(name.to_string()), span, &src);
            // Unlike inventory files, a host list takes no ranges.
            let (host, port) = match super::hostrange::parse_address(name) {
                Some((host, port)) if !host.contains('[') => (host, port),
                _ => (name.to_string(), None),
            };
            if !b.has_host(&host) {
                b.add_host(&host, "ungrouped", port, &at);
            }
        }
        offset += part.len() + 1;
    }
}

/// Loads sources given as (name, text) pairs, for tests that need no files.
#[cfg(test)]
pub(super) fn load_texts(files: &[(&str, &str)]) -> Result<Inventory, Vec<InputError>> {
    let mut b = Builder::new();
    for (name, text) in files {
        read_source(&mut b, &SourceFile::new(*name, *text));
    }
    let (inv, errors) = b.finish();
    if errors.is_empty() {
        Ok(inv)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_what_ansible_ignores_in_directories() {
        for name in [
            ".git",
            "group_vars",
            "host_vars",
            "README.md",
            "old.bak",
            "x~",
            "a.cfg",
        ] {
            assert!(is_ignored(name), "{name} should be ignored");
        }
        for name in ["hosts", "hosts.ini", "01-cluster.yml", "prod.json", "vars"] {
            assert!(!is_ignored(name), "{name} should be read");
        }
    }
}

#[cfg(test)]
mod host_list_tests {
    use super::*;
    use crate::inventory::Host;

    #[test]
    fn a_comma_separated_source_is_a_list_of_hosts() {
        let inv = load(&[PathBuf::from("web1, web2:2222,")])
            .unwrap_or_else(|e| panic!("{} errors", e.len()));
        let names: Vec<&str> = inv.hosts().map(Host::name).collect();
        assert_eq!(names, ["web1", "web2"]);
        assert_eq!(
            inv.host_vars_json("web2")["ansible_port"],
            serde_json::json!(2222)
        );
        assert_eq!(inv.groups_of("web1"), ["ungrouped"]);
    }
}
