//! A play's `vars_files`: each entry's file (or the first found of a list
//! of alternatives) read and checked when the playbook loads, or kept for
//! the run when its name is templated or the file may still be written.
//!
//! Apart from the play loader because finding, reading and reporting a
//! missing vars file is a concept of its own, with its own messages.

use std::path::Path;

use crate::error::InputError;
use crate::playbook::loader::Loader;
use crate::playbook::model::VarsFile;
use crate::source::SourceFile;
use crate::yaml::{self, Node, Value};

impl Loader<'_> {
    pub(crate) fn vars_files(&mut self, node: &Node) -> Vec<VarsFile> {
        let names: Vec<Node> = match &node.value {
            Value::Str(_) => vec![node.clone()],
            Value::Seq(items) => items.clone(),
            _ => {
                self.errors.push(InputError::at(
                    node,
                    "`vars_files` must be a list of file names",
                ));
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for name in names {
            if let Value::Seq(alternatives) = &name.value {
                files.extend(self.first_found_vars_file(&name, alternatives));
                continue;
            }
            let Some(text) = name.as_str() else {
                self.errors.push(InputError::at(
                    &name,
                    format!("expected a file name, not {}", name.kind()),
                ));
                continue;
            };
            let loaded = if yaml::is_template(text) {
                None
            } else {
                self.load_vars_file(&name, text)
            };
            files.push(VarsFile {
                name: name.clone(),
                loaded,
            });
        }
        files
    }

    /// A `vars_files` entry that is itself a list: the first of these files
    /// that exists, as in Ansible. Names without templates are settled now;
    /// with one, the choice is made per host when the play starts.
    pub(crate) fn first_found_vars_file(
        &mut self,
        entry: &Node,
        alternatives: &[Node],
    ) -> Option<VarsFile> {
        let mut texts = Vec::new();
        for alternative in alternatives {
            match alternative.as_str() {
                Some(text) => texts.push(text),
                None => {
                    self.errors.push(InputError::at(
                        alternative,
                        format!("expected a file name, not {}", alternative.kind()),
                    ));
                    return None;
                }
            }
        }
        if texts.iter().any(|t| yaml::is_template(t)) {
            return Some(VarsFile {
                name: entry.clone(),
                loaded: None,
            });
        }
        match alternatives
            .iter()
            .zip(&texts)
            .find(|(_, t)| self.dir.join(t).is_file())
        {
            Some((alternative, text)) => Some(VarsFile {
                name: alternative.clone(),
                loaded: self.load_vars_file(alternative, text),
            }),
            None => {
                self.errors.push(
                    InputError::at(entry, "none of these vars files exists")
                        .with_label("the first one found is read")
                        .with_help(format!(
                            "looked for {} in {}",
                            texts.join(", "),
                            self.dir.display()
                        )),
                );
                None
            }
        }
    }

    pub(crate) fn load_vars_file(&mut self, at: &Node, name: &str) -> Option<Node> {
        let path = self.dir.join(name);
        match SourceFile::read(&path) {
            Ok(src) => match yaml::parse(&src) {
                Ok(node) if node.as_map().is_some() || node.is_null() => Some(node),
                Ok(node) => {
                    self.errors.push(
                        InputError::at(
                            &node,
                            format!("a vars file must hold a mapping, not {}", node.kind()),
                        )
                        .with_label("expected `name: value` pairs"),
                    );
                    None
                }
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.missing_vars_file(at, &path);
                None
            }
            Err(e) => {
                self.errors.push(
                    InputError::at(
                        at,
                        format!("could not read the vars file {}: {e}", path.display()),
                    )
                    .with_label("this file")
                    .with_help("paths in `vars_files` are relative to the playbook's directory"),
                );
                None
            }
        }
    }

    /// A `vars_files` entry naming a file that does not exist. Ansible reads
    /// vars files only when the play starts, and content often names one the
    /// user writes first (credentials, a vault), so this is a warning; a
    /// sibling with a near name is more likely a typo, and that is an error.
    pub(crate) fn missing_vars_file(&mut self, at: &Node, path: &Path) {
        let wanted = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A playbook named without a directory has "" as its directory.
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let siblings: Vec<String> = std::fs::read_dir(dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        match crate::suggest::closest(&wanted, siblings.iter().map(String::as_str)) {
            Some(near) => self.errors.push(
                InputError::at(
                    at,
                    format!("the vars file {} does not exist", path.display()),
                )
                .with_label("this file")
                .with_help(format!("did you mean `{near}`?")),
            ),
            None => self.warnings.push(
                InputError::at(
                    at,
                    format!("the vars file {} does not exist", path.display()),
                )
                .with_label("the play fails when it starts if it is still missing")
                .with_help(
                    "write the file before running the playbook; paths in `vars_files` \
                         are relative to the playbook's directory",
                ),
            ),
        }
    }
}
