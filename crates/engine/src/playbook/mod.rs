//! Playbooks: the typed form of a playbook file, and the loader that
//! lowers YAML into it.
//!
//! The layers, from the bottom: `model.rs` holds the types (plays, tasks,
//! blocks, includes, role scopes); `loader.rs` the loader's shared state;
//! the loader's concepts (`task.rs`, `task_keywords.rs`, `task_file.rs`,
//! `vars_files.rs`, `values.rs`, `block.rs`, `include.rs`, `role.rs`) add
//! their methods to it; `parse.rs`, on top, loads a whole playbook. The
//! YAML is lowered by hand, so that every field keeps the node it came
//! from. Values that are templated at run time (task arguments, `when`,
//! `loop`, names) stay `Node`s here: they are rendered per host by the
//! executor, and their spans let a template error point inside the YAML
//! string.

pub mod block;
pub mod connection_keys;
pub(crate) mod free_form;
pub mod include;
pub mod parse;
pub mod role;
mod task;
mod task_file;
pub(crate) mod task_keywords;
pub(crate) mod values;
mod vars_files;

mod loader;
mod model;

pub use model::{
    BatchSize, Block, HostOrder, Include, IncludeKind, Meta, MetaAction, Play, Playbook, RoleFrom,
    RoleScope, Step, Strategy, TaskDef, VarsFile,
};
