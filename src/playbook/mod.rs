//! Playbooks: the typed form of a playbook file.
//!
//! `parse.rs` lowers the YAML node tree into these types by hand, so that
//! every field keeps the node it came from. Values that are templated at run
//! time (task arguments, `when`, `loop`, names) stay `Node`s here: they are
//! rendered per host by the executor, and their spans let a template error
//! point inside the YAML string.

pub mod parse;

use std::path::PathBuf;

use crate::escalation::BecomeKeys;
use crate::source::SourceFile;
use crate::yaml::Node;

/// A whole playbook file.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub src: SourceFile,
    /// The playbook's directory: `playbook_dir`, and the base for `src:`,
    /// `vars_files`, `files/`, `templates/`, `tasks/` and `library/`.
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// How hosts move through a play's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every host finishes a task before any host starts the next one.
    Linear,
    /// Each host runs through the tasks as fast as it can.
    Free,
}

/// Batch sizes for `serial`.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchSize {
    Count(usize),
    /// A percentage of the play's hosts, at least one host.
    Percent(f64),
}

#[derive(Debug, Clone)]
pub struct Play {
    /// The whole play mapping, for messages.
    pub node: Node,
    pub name: Option<Node>,
    /// The host pattern.
    pub hosts: Node,
    pub vars: Vec<(Node, Node)>,
    /// Variable files, relative to the playbook, already loaded when their
    /// names hold no template.
    pub vars_files: Vec<VarsFile>,
    /// `serial`: batch sizes; the last one repeats.
    pub serial: Vec<BatchSize>,
    pub strategy: Strategy,
    pub tags: Vec<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    /// `pre_tasks`, `tasks` and `post_tasks`, in that order.
    pub tasks: Vec<TaskDef>,
    pub handlers: Vec<TaskDef>,
    /// Stop every host of the play when one fails.
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    /// `become`, `become_user`, ... at play level.
    pub escalation: BecomeKeys,
}

#[derive(Debug, Clone)]
pub struct VarsFile {
    /// The file name as written (possibly templated).
    pub name: Node,
    /// The loaded mapping, when the name needed no rendering.
    pub loaded: Option<Node>,
}

/// A task as written: everything but the module arguments is a keyword.
#[derive(Debug, Clone)]
pub struct TaskDef {
    /// The whole task mapping, for messages.
    pub node: Node,
    pub name: Option<Node>,
    /// The module key as written (`ansible.builtin.copy`), for messages.
    pub module_key: Node,
    /// The module's canonical name in the registry (`copy`).
    pub module: String,
    /// The arguments: a mapping node (free-form strings already split).
    pub args: Vec<(Node, Node)>,
    pub when: Vec<Node>,
    pub loop_items: Option<Node>,
    pub loop_var: String,
    /// `loop_control.label`: how an item is shown.
    pub loop_label: Option<Node>,
    pub register: Option<String>,
    pub tags: Vec<String>,
    pub notify: Vec<String>,
    /// For handlers: the other names they answer to.
    pub listen: Vec<String>,
    pub ignore_errors: Option<Node>,
    pub changed_when: Vec<Node>,
    pub failed_when: Vec<Node>,
    pub until: Option<Node>,
    pub retries: Option<Node>,
    pub delay: Option<Node>,
    pub no_log: bool,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    pub run_once: bool,
    pub delegate_to: Option<Node>,
    pub vars: Vec<(Node, Node)>,
    /// Seconds before the task's remote script is killed.
    pub timeout: Option<u64>,
    /// Variables whose values are secrets: the `secret` parameters of the
    /// task file this task was expanded from.
    pub secret_vars: Vec<String>,
    /// `become`, `become_user`, ... of the task (and of the task file call
    /// or block it comes from).
    pub escalation: BecomeKeys,
}

impl TaskDef {
    /// The name shown in output: the task's name, or its module.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.scalar_text().unwrap_or_default(),
            None => self.module.clone(),
        }
    }
}
