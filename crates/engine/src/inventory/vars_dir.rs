//! `group_vars/` and `host_vars/`: variable files beside inventory sources.
//!
//! For every source, Ansible looks in the source's directory (the directory
//! itself when the source is one) for `group_vars/<group>` and
//! `host_vars/<host>`. Each is a file, `<name>`, `<name>.yml`,
//! `<name>.yaml` or `<name>.json` (the first that exists wins), or a
//! directory `<name>/` whose files (same extensions, or none; hidden files
//! and `~` backups skipped; subdirectories included) are read in name order.
//! Every file must hold a mapping (or nothing).
//!
//! Only names of groups and hosts that exist are looked up, as in Ansible: a
//! file for a group defined in another inventory is not an error. Each
//! directory is listed once and looked up in memory, so a 1000-host
//! inventory costs two directory listings, not thousands of `stat` calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::builder::io_error;
use super::{Inventory, VarValue, Vars};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::yaml::Value;

/// The names tried for `<name>`, in Ansible's order.
const EXTENSIONS: [&str; 4] = ["", ".yml", ".yaml", ".json"];

/// Reads the variable directories beside every source into the inventory's
/// groups and hosts (one `file_vars` slot per source directory).
pub(super) fn load(inv: &mut Inventory, dirs: &[PathBuf], errors: &mut Vec<InputError>) {
    inv.vars_dirs = dirs.len();
    for group in inv.groups.values_mut() {
        group.file_vars = vec![Vars::new(); dirs.len()];
    }
    for host in inv.hosts.values_mut().chain(inv.implicit.iter_mut()) {
        host.file_vars = vec![Vars::new(); dirs.len()];
    }
    for (index, dir) in dirs.iter().enumerate() {
        if let Some(listing) = Listing::read(&dir.join("group_vars"), errors) {
            for group in inv.groups.values_mut() {
                if let Some(slot) = group.file_vars.get_mut(index) {
                    *slot = listing.vars_for(&group.name, errors);
                }
            }
        }
        if let Some(listing) = Listing::read(&dir.join("host_vars"), errors) {
            for host in inv.hosts.values_mut().chain(inv.implicit.iter_mut()) {
                if let Some(slot) = host.file_vars.get_mut(index) {
                    *slot = listing.vars_for(&host.name, errors);
                }
            }
        }
    }
}

/// The entries of one `group_vars/` or `host_vars/` directory.
struct Listing {
    dir: PathBuf,
    /// Entry name → whether it is a directory.
    entries: HashMap<String, bool>,
}

impl Listing {
    /// Lists the directory; `None` when it does not exist (the usual case)
    /// or is not a directory (Ansible skips it with a warning).
    fn read(dir: &Path, errors: &mut Vec<InputError>) -> Option<Listing> {
        let read = match std::fs::read_dir(dir) {
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) if !dir.is_dir() => return None,
            Err(err) => {
                errors.push(io_error(
                    dir,
                    "could not read the variables directory",
                    &err,
                ));
                return None;
            }
        };
        let entries = read
            .filter_map(Result::ok)
            .map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.path().is_dir();
                (name, is_dir)
            })
            .collect();
        Some(Listing {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    /// The merged variables of every file for `name`.
    fn vars_for(&self, name: &str, errors: &mut Vec<InputError>) -> Vars {
        let mut vars = Vars::new();
        // Ansible skips names that look like absolute paths (chroot hosts).
        if name.starts_with('/') {
            return vars;
        }
        let found = EXTENSIONS.iter().find_map(|ext| {
            let candidate = format!("{name}{ext}");
            self.entries
                .get(&candidate)
                .map(|&is_dir| (candidate, is_dir))
        });
        let Some((entry, is_dir)) = found else {
            return vars;
        };
        let path = self.dir.join(entry);
        let files = if is_dir {
            let mut files = Vec::new();
            collect_dir(&path, &mut files, errors);
            files
        } else {
            vec![path]
        };
        for file in files {
            read_file(&file, &mut vars, errors);
        }
        vars
    }
}

/// The variable files of a `<name>/` directory, in name order, descending
/// into subdirectories that have no extension.
fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(err) => {
            errors.push(io_error(
                dir,
                "could not read the variables directory",
                &err,
            ));
            return;
        }
    };
    let mut names: Vec<String> = read
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = extension(&name);
        let path = dir.join(&name);
        if path.is_dir() {
            if ext.is_empty() {
                collect_dir(&path, files, errors);
            }
        } else if ext.is_empty() || EXTENSIONS.contains(&ext) {
            files.push(path);
        }
    }
}

/// The extension as Python's `os.path.splitext` sees it, with its dot.
fn extension(name: &str) -> &str {
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(dot) => &trimmed[dot..],
        None => "",
    }
}

/// Reads one variables file and merges its top-level mapping into `vars`.
fn read_file(path: &Path, vars: &mut Vars, errors: &mut Vec<InputError>) {
    let src = match SourceFile::read(path) {
        Ok(src) => src,
        Err(err) => {
            errors.push(io_error(path, "could not read the variables file", &err));
            return;
        }
    };
    let root = match crate::yaml::parse(&src) {
        Ok(root) => root,
        Err(err) => {
            errors.push(err);
            return;
        }
    };
    match &root.value {
        Value::Null => {}
        Value::Map(entries) => {
            for (k, v) in entries {
                vars.insert(k.key().to_string(), VarValue::from_node(v));
            }
        }
        _ => errors.push(
            InputError::at(
                &root,
                format!("{} must hold a mapping of variables", src.name()),
            )
            .with_label(format!(
                "expected `name: value` lines, found {}",
                root.kind()
            ))
            .with_help(
                "a group_vars/ or host_vars/ file maps variable names to values, such as \
                     `ntp_server: pool.ntp.org`",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_read_like_python_splitext() {
        assert_eq!(extension("main.yml"), ".yml");
        assert_eq!(extension("a.b.json"), ".json");
        assert_eq!(extension("plain"), "");
        assert_eq!(extension(".hidden"), "");
    }
}
