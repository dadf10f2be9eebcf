//! Where tasks find their control-machine files: `src:` of `copy` (in
//! `files/`) and of `template` (in `templates/`).
//!
//! Ansible looks for a relative `src` in a list of directories, most
//! specific first (a role's directory, then the playbook's), and in each
//! directory first in the subdirectory named after the kind of file, then in
//! the directory itself. The executor builds one `SearchPath` per task and
//! hands it to the task through its `Context`; a task never guesses from
//! the working directory. Roles put their own directory in front with
//! [`SearchPath::prepend`].

use std::path::{Path, PathBuf};

/// The kinds of control-machine file a task may look for, each with the
/// subdirectory Ansible names for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcKind {
    /// `copy: src=`: `files/`.
    Files,
    /// `template: src=`: `templates/`.
    Templates,
    /// `include_vars: file=`: `vars/`.
    Vars,
}

impl SrcKind {
    pub fn subdir(self) -> &'static str {
        match self {
            SrcKind::Files => "files",
            SrcKind::Templates => "templates",
            SrcKind::Vars => "vars",
        }
    }
}

/// The directories a relative `src` is looked up in, most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The search path of a task written directly in a playbook.
    pub fn playbook(dir: &Path) -> SearchPath {
        SearchPath {
            dirs: vec![dir.to_path_buf()],
        }
    }

    /// Puts a more specific directory (a role's) in front.
    pub fn prepend(&mut self, dir: &Path) {
        self.dirs.insert(0, dir.to_path_buf());
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The path a `src` names: itself when absolute, else the first existing
    /// candidate (`<dir>/<subdir>/<src>`, then `<dir>/<src>`, for each
    /// directory in turn). When none exists, the first candidate is given,
    /// so that the error names where the file was expected.
    pub fn find(&self, kind: SrcKind, src: &str) -> PathBuf {
        let path = Path::new(src);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let candidates: Vec<PathBuf> = self
            .dirs
            .iter()
            .flat_map(|d| [d.join(kind.subdir()).join(path), d.join(path)])
            .collect();
        candidates
            .iter()
            .find(|c| c.exists())
            .or(candidates.first())
            .cloned()
            .unwrap_or_else(|| path.to_path_buf())
    }
}

/// A path made absolute as Python's `os.path.abspath` does, which is how
/// Ansible computes `playbook_dir`, `inventory_dir`, `inventory_file` and
/// `role_path`: joined to the working directory and normalised by its text
/// (`.` dropped, `..` removing the component before it), without
/// resolving symbolic links. When the working directory cannot be read the
/// path is only normalised.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                // `..` at the root stays at the root, as in Python; only a
                // path left relative keeps leading `..`s.
                let ends_in_parent = out.ends_with("..");
                if ends_in_parent || (!out.pop() && !out.has_root()) {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_subdirectory_comes_first_then_the_directory_then_later_dirs() {
        let role = tempfile::tempdir().expect("tempdir");
        let play = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(play.path().join("templates")).expect("mkdir");
        std::fs::write(play.path().join("templates/a.j2"), "t").expect("write");
        std::fs::write(play.path().join("a.j2"), "p").expect("write");
        std::fs::write(play.path().join("b.j2"), "p").expect("write");
        let mut search = SearchPath::playbook(play.path());
        search.prepend(role.path());
        assert_eq!(
            search.find(SrcKind::Templates, "a.j2"),
            play.path().join("templates/a.j2")
        );
        assert_eq!(
            search.find(SrcKind::Templates, "b.j2"),
            play.path().join("b.j2")
        );
        // Missing: where it was expected first.
        assert_eq!(
            search.find(SrcKind::Files, "c"),
            role.path().join("files/c")
        );
        assert_eq!(search.find(SrcKind::Files, "/etc/x"), Path::new("/etc/x"));
    }
}
