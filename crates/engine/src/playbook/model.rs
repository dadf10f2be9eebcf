//! The typed form of a playbook: plays, tasks, blocks, includes and the
//! roles tasks come from.
//!
//! These are plain data, below every file of the loader (which fills them
//! in) and of the executor (which walks them), so that none of those files
//! needs another to name a playbook's parts.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

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
    /// Problems worth telling the user that do not stop the run from
    /// starting, each pointing where it was written.
    pub warnings: Vec<crate::error::InputError>,
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
    /// `pre_tasks`, the `roles`, `tasks` and `post_tasks`, in that order,
    /// with a handler flush after each section, as Ansible runs them.
    pub tasks: Vec<Step>,
    pub handlers: Vec<TaskDef>,
    /// The roles loaded while the play was parsed (`roles:` and
    /// `import_role`): their defaults and vars are seen by the whole play.
    pub roles: Vec<Arc<RoleScope>>,
    /// Stop every host of the play when one fails.
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    /// `gather_facts` as written (Ansible's default is to gather).
    pub gather_facts: Option<bool>,
    /// `gather_subset` and `gather_timeout`, given to the implicit `setup`.
    pub gather_args: Vec<(Node, Node)>,
    /// `become`, `become_user`, ... at play level.
    pub escalation: BecomeKeys,
    /// `environment` at play level (`crate::environment`).
    pub environment: Option<Node>,
    /// `remote_user`, `port`, `connection`.
    pub connection: crate::playbook::connection_keys::ConnectionKeys,
    /// `vars_prompt`: the questions, and once asked (before the run
    /// connects), their answers.
    pub prompts: Vec<crate::vars_prompt::Prompt>,
    pub answers: Vec<crate::vars_prompt::Answer>,
    /// `order`: how the play's hosts are ordered.
    pub order: HostOrder,
}

/// A play's `order` keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrder {
    #[default]
    Inventory,
    ReverseInventory,
    Sorted,
    ReverseSorted,
    Shuffle,
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
    /// Which keyword wrote the loop (`loop`, `with_items`, `with_dict`, ...).
    pub loop_kind: crate::loop_kind::LoopKind,
    /// `loop_control`'s `index_var`, `pause` and `extended`.
    pub loop_control: crate::loop_kind::LoopControl,
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
    /// `delegate_facts`: the facts a delegated task returns belong to the
    /// host it ran on, not to the host it ran for.
    pub delegate_facts: bool,
    pub vars: Vec<(Node, Node)>,
    /// Seconds before the task's remote script is killed.
    pub timeout: Option<u64>,
    /// `throttle`: at most this many hosts run the task at once.
    pub throttle: Option<usize>,
    /// `async`: the most seconds the task may run (a number, or a template
    /// rendered per host); 0 or absent runs it as any other task.
    pub async_limit: Option<Node>,
    /// `poll`: how often an `async` task is checked; 0 starts it in the
    /// background (`crate::async_job`).
    pub poll: Option<Node>,
    /// Variables whose values are secrets: the `secret` parameters of the
    /// task file this task was expanded from.
    pub secret_vars: Vec<String>,
    /// The role this task comes from: its variables, `role_name`,
    /// `role_path`, and where its `src:` files are found.
    pub role: Option<Arc<RoleScope>>,
    /// `become`, `become_user`, ... of the task (and of the blocks, task
    /// file calls, roles and includes it comes from).
    pub escalation: BecomeKeys,
    /// The `environment` of the enclosing levels and of the task, outermost
    /// first (`crate::environment`).
    pub environment: Vec<Node>,
}

/// One entry of a play's task stream. Blocks and dynamic includes keep
/// their shape so that both strategies walk the same tree; static imports
/// and roles are already spliced in as their tasks.
#[derive(Debug, Clone)]
pub enum Step {
    Task(Box<TaskDef>),
    Block(Block),
    Include(Box<Include>),
    Meta(Meta),
}

/// `meta:` actions, and the handler flushes Ansible runs between sections.
#[derive(Debug, Clone)]
pub struct Meta {
    pub action: MetaAction,
    /// The task as written (its `when`, `tags` and name).
    pub task: Box<TaskDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaAction {
    FlushHandlers,
    EndPlay,
    EndHost,
    Noop,
    /// Close the host's connection, so that the next task opens a new one
    /// (a new login picks up group changes).
    ResetConnection,
    /// `meta: clear_facts`: every play host forgets its facts.
    ClearFacts,
    /// `meta: refresh_inventory`: the inventory sources are read again;
    /// later plays see the hosts, groups and variables they now give.
    RefreshInventory,
}

impl Step {
    /// Every task in this step, its blocks and the includes loaded at
    /// parse time, in order; for checks that need every task.
    pub fn tasks(&self) -> Vec<&TaskDef> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'s>(&'s self, out: &mut Vec<&'s TaskDef>) {
        match self {
            Step::Task(t) => out.push(t),
            Step::Block(b) => {
                for s in b.body.iter().chain(&b.rescue).chain(&b.always) {
                    s.collect(out);
                }
            }
            Step::Include(inc) => {
                out.push(&inc.task);
                for s in inc.loaded.iter().flat_map(|l| l.iter()) {
                    s.collect(out);
                }
            }
            Step::Meta(m) => out.push(&m.task),
        }
    }
}

impl Play {
    /// Every task of the play (blocks flattened), handlers excluded.
    pub fn all_tasks(&self) -> Vec<&TaskDef> {
        self.tasks.iter().flat_map(Step::tasks).collect()
    }
}

impl TaskDef {
    /// The name shown in output: the task's name, or its module.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.scalar_text().unwrap_or_default(),
            None => self.module.clone(),
        }
    }

    /// A task that holds keywords only (a block's, an include's `apply`),
    /// for `block::inherit`.
    pub fn keywords(node: &Node) -> TaskDef {
        TaskDef {
            node: node.clone(),
            name: None,
            module_key: node.clone(),
            module: String::new(),
            args: Vec::new(),
            when: Vec::new(),
            loop_items: None,
            loop_kind: crate::loop_kind::LoopKind::List,
            loop_control: crate::loop_kind::LoopControl::default(),
            loop_var: "item".to_string(),
            loop_label: None,
            register: None,
            tags: Vec::new(),
            notify: Vec::new(),
            listen: Vec::new(),
            ignore_errors: None,
            changed_when: Vec::new(),
            failed_when: Vec::new(),
            until: None,
            retries: None,
            delay: None,
            no_log: false,
            check_mode: None,
            diff: None,
            run_once: false,
            delegate_to: None,
            delegate_facts: false,
            vars: Vec::new(),
            timeout: None,
            throttle: None,
            async_limit: None,
            poll: None,
            secret_vars: Vec::new(),
            role: None,
            escalation: BecomeKeys::default(),
            environment: Vec::new(),
        }
    }
}

/// A `block:` with its `rescue:` and `always:` sections.
#[derive(Debug, Clone)]
pub struct Block {
    /// The whole block mapping, for messages.
    pub node: Node,
    pub name: Option<Node>,
    pub body: Vec<Step>,
    pub rescue: Vec<Step>,
    pub always: Vec<Step>,
}

/// A dynamic include, evaluated per host when the executor reaches it.
#[derive(Debug, Clone)]
pub struct Include {
    /// The include as a task: its name, `when`, `loop`, `vars`, `tags`.
    pub task: TaskDef,
    pub kind: IncludeKind,
    /// What the included tasks get: the enclosing keywords, the include's
    /// `vars` and its `apply:` keywords.
    pub inherited: TaskDef,
    /// The included tasks, when the name needed no rendering (keywords
    /// already pushed down).
    pub loaded: Option<Vec<Step>>,
    /// Directories a relative file name is looked up in, in order.
    pub search: Vec<PathBuf>,
    /// The play's `collections:`, for the short module names of the
    /// included files.
    pub collections: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum IncludeKind {
    Tasks { file: Node },
    Role { name: Node, from: RoleFrom },
}

/// What a role's tasks know about the role.
#[derive(Debug, Clone, Default)]
pub struct RoleScope {
    pub name: String,
    pub path: PathBuf,
    /// `defaults/`: the lowest precedence of all.
    pub defaults: Map<String, Value>,
    /// `vars/`: above the play's variables.
    pub vars: Map<String, Value>,
    /// Parameters given where the role is used (`vars:` of a `roles:`
    /// entry, or its other keys), above the role's vars.
    pub params: Map<String, Value>,
}

impl RoleScope {
    /// Every variable name the role defines, for `validate`.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defaults
            .keys()
            .chain(self.vars.keys())
            .chain(self.params.keys())
            .map(String::as_str)
            .chain(["role_name", "role_path"])
    }
}

/// Which files of a role to read (`tasks_from` and friends).
#[derive(Debug, Clone, Default)]
pub struct RoleFrom {
    pub tasks: Option<String>,
    pub vars: Option<String>,
    pub defaults: Option<String>,
    pub handlers: Option<String>,
}
