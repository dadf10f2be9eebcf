//! The loader's state while a playbook is lowered.
//!
//! Each concept of the loader (plays in `parse.rs`, tasks, task keywords,
//! blocks, includes, roles, vars files, typed values) adds its methods to
//! `Loader` in its own file; they all share this state, which sits below
//! them so that none of them depends on another to name it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::InputError;
use crate::playbook::model::{RoleScope, Step, TaskDef};
use crate::tasks::Registry;

pub(crate) struct Loader<'a> {
    pub(crate) registry: &'a Registry,
    /// The playbook's directory.
    pub(crate) dir: PathBuf,
    pub(crate) roles_path: &'a [PathBuf],
    pub(crate) errors: Vec<InputError>,
    /// Problems that do not stop a run from starting (a vars file that may
    /// still be written before the play starts).
    pub(crate) warnings: Vec<InputError>,
    /// The task files being expanded, innermost last, to refuse recursion.
    pub(crate) expanding: Vec<String>,
    /// The files being read (playbooks, task files), innermost last: the
    /// base of relative names, and the guard against recursive imports.
    pub(crate) files: Vec<PathBuf>,
    /// The role whose files are being read, innermost last.
    pub(crate) roles: Vec<Arc<RoleScope>>,
    /// The current play's roles, as (path, parameters), to run each once.
    pub(crate) played_roles: Vec<(PathBuf, String)>,
    /// Every role loaded for the current play, for its variables.
    pub(crate) play_roles: Vec<Arc<RoleScope>>,
    /// Handlers that roles of the current play bring.
    pub(crate) role_handlers: Vec<TaskDef>,
    /// Whether dynamic includes are being loaded: their roles are not
    /// added to the play.
    pub(crate) dynamic: usize,
    /// While a role's dependencies load: the directory that role is in,
    /// searched for them after the roles path.
    pub(crate) role_basedir: Option<PathBuf>,
    /// The current play's `collections:`, searched in order for a module
    /// written by its short name.
    pub(crate) collections: Vec<String>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(registry: &'a Registry, dir: &Path, roles_path: &'a [PathBuf]) -> Loader<'a> {
        Loader {
            registry,
            dir: dir.to_path_buf(),
            roles_path,
            errors: Vec::new(),
            warnings: Vec::new(),
            expanding: Vec::new(),
            files: Vec::new(),
            roles: Vec::new(),
            played_roles: Vec::new(),
            play_roles: Vec::new(),
            role_handlers: Vec::new(),
            dynamic: 0,
            role_basedir: None,
            collections: Vec::new(),
        }
    }
}

/// Handlers are a flat list: blocks and imports among them give their tasks.
pub(crate) fn flatten(steps: Vec<Step>) -> Vec<TaskDef> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Task(t) => out.push(*t),
            Step::Block(b) => {
                out.extend(flatten(b.body));
                out.extend(flatten(b.rescue));
                out.extend(flatten(b.always));
            }
            Step::Include(inc) => out.extend(flatten(inc.loaded.unwrap_or_default())),
            Step::Meta(_) => {}
        }
    }
    out
}
