//! The task protocol: every task, built-in or custom, checks then applies.
//!
//! A task first runs a read-only `check` that compares the host with what the
//! task wants and returns either `Check::InSync` or `Check::Drift`, carrying
//! the diffs to show and a task-specific description of exactly what differs.
//! Only then, and only outside check mode, does the executor call `apply` with
//! that drift, and `apply` acts on nothing else. Check mode is therefore
//! "run every check, never apply": it cannot change a host by construction.
//!
//! This trait is the public extension point for tasks written in Rust; see
//! docs/custom-tasks.md. Implement `Task`, describe the arguments with a
//! `params::Spec`, and register both in a `tasks::Registry`.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::connection::{ConnError, Connection, Output};
use crate::report::Diff;
use crate::run_memory::RunMemory;
use crate::search_path::{SearchPath, SrcKind};

/// What a task did (or, in check mode, would do).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changed: bool,
    /// One line for people.
    pub msg: Option<String>,
    pub diffs: Vec<Diff>,
    /// Fields added to the registered result (`rc`, `stdout`, `pem`, ...).
    pub data: Map<String, Value>,
    /// Variables to set on the host from now on (`set_fact`).
    pub facts: Map<String, Value>,
    /// For a task whose spec collapses loops (`Spec::collapses`): the
    /// entries of the collapsing argument, as written, that this outcome
    /// changes (or would change, in check mode). A collapsed loop reports
    /// an item changed only when one of its own entries is among them.
    pub changed_entries: Option<Vec<String>>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::default()
    }

    pub fn changed(msg: impl Into<String>) -> Outcome {
        Outcome {
            changed: true,
            msg: Some(msg.into()),
            ..Outcome::default()
        }
    }

    pub fn with_msg(mut self, msg: impl Into<String>) -> Outcome {
        self.msg = Some(msg.into());
        self
    }

    pub fn with_diff(mut self, diff: Diff) -> Outcome {
        self.diffs.push(diff);
        self
    }

    pub fn with_data(mut self, key: &str, value: impl Into<Value>) -> Outcome {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// Records which entries of the collapsing argument change.
    pub fn with_changed_entries(mut self, entries: Vec<String>) -> Outcome {
        self.changed_entries = Some(entries);
        self
    }

    /// Records a command's output the way Ansible registers it.
    pub fn with_output(mut self, out: &Output) -> Outcome {
        let stdout = out.stdout_text();
        let stderr = out.stderr_text();
        let lines = |s: &str| Value::from(s.lines().map(str::to_string).collect::<Vec<_>>());
        self.data.insert("rc".into(), out.status.into());
        self.data.insert("stdout_lines".into(), lines(&stdout));
        self.data.insert("stderr_lines".into(), lines(&stderr));
        self.data
            .insert("stdout".into(), stdout.trim_end_matches('\n').into());
        self.data
            .insert("stderr".into(), stderr.trim_end_matches('\n').into());
        self
    }
}

/// The result of a check.
#[derive(Debug)]
pub enum Check<D> {
    /// The host is already as the task wants it.
    InSync(Outcome),
    /// The host differs. `preview` is what check mode reports (its diffs,
    /// message, and whether it counts as a change: set `changed` to true
    /// unless applying would only verify); `drift` is what `apply` will act on.
    Drift { drift: D, preview: Outcome },
}

/// Why a task failed on a host.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The task ran and failed; `data` is registered with the failure.
    #[error("{msg}")]
    Failed {
        msg: String,
        data: Map<String, Value>,
    },
    /// The host could not be reached; it is dropped from the rest of the run.
    #[error(transparent)]
    Conn(#[from] ConnError),
}

impl TaskError {
    pub fn failed(msg: impl Into<String>) -> TaskError {
        TaskError::Failed {
            msg: msg.into(),
            data: Map::new(),
        }
    }

    /// A failure that keeps a command's output in the registered result.
    pub fn failed_with(msg: impl Into<String>, outcome: Outcome) -> TaskError {
        TaskError::Failed {
            msg: msg.into(),
            data: outcome.data,
        }
    }
}

/// Evaluates a Jinja expression (`x is defined`, `result.rc == 0`) against
/// the current host's variables. Supplied by the executor.
pub type Evaluator<'a> = &'a (dyn Fn(&str) -> Result<Value, String> + Sync);

/// Finds the open connection to another host of the play, by inventory name.
pub type Peers<'a> = &'a (dyn Fn(&str) -> Option<Arc<dyn Connection>> + Sync);

/// Renders the text of a template file (`template: src=`) with the host's
/// variables: `(text, trim_blocks, lstrip_blocks, extra)`, where `extra`
/// are variables of this render only, above the host's (`ansible_managed`,
/// `template_path`, ...). Supplied by the executor, which owns the template
/// engine.
pub type FileRenderer<'a> =
    &'a (dyn Fn(&str, bool, bool, &[(String, Value)]) -> Result<String, String> + Sync);

/// Everything a task may use while it runs on one host.
pub struct Context<'a> {
    /// The inventory name of the host the task runs for.
    pub host: &'a str,
    /// The channel to the host the task runs on (the delegate, if any).
    pub conn: &'a dyn Connection,
    /// True in check mode: `check` runs, `apply` never does.
    pub check_mode: bool,
    /// True when diffs are wanted; tasks may skip fetching "before"
    /// contents otherwise.
    pub diff: bool,
    /// The longest any one remote script may take.
    pub timeout: Duration,
    /// The host's variables, already merged by precedence.
    pub vars: &'a Map<String, Value>,
    /// Evaluates expressions against `vars`.
    pub eval: Evaluator<'a>,
    /// Connections to other hosts of the play, for tasks that must run on a
    /// specific host (dump-certs on a controller).
    pub peers: Peers<'a>,
    /// Where relative `src:` paths are looked up (`find_src`); without one,
    /// they are relative to the working directory.
    search_path: Option<&'a SearchPath>,
    /// The renderer of template files (`render_file`).
    renderer: Option<FileRenderer<'a>>,
    /// The task's `no_log`: tasks that log on the host must not log it.
    no_log: bool,
    /// What the run computes once for all its hosts.
    memory: Arc<RunMemory>,
    warnings: Mutex<Vec<String>>,
}

impl<'a> Context<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: &'a str,
        conn: &'a dyn Connection,
        check_mode: bool,
        diff: bool,
        timeout: Duration,
        vars: &'a Map<String, Value>,
        eval: Evaluator<'a>,
        peers: Peers<'a>,
    ) -> Context<'a> {
        Context {
            host,
            conn,
            check_mode,
            diff,
            timeout,
            vars,
            eval,
            peers,
            search_path: None,
            renderer: None,
            no_log: false,
            memory: Arc::new(RunMemory::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Gives the task the run's shared memory (without it, a context
    /// remembers only for itself).
    pub fn with_memory(mut self, memory: Arc<RunMemory>) -> Self {
        self.memory = memory;
        self
    }

    /// What the run computes once for all its hosts.
    pub fn memory(&self) -> &RunMemory {
        &self.memory
    }

    /// Gives the task the control-machine side of `src:` files: where they
    /// are looked up, and the engine that renders template files.
    pub fn with_files(mut self, search_path: &'a SearchPath, renderer: FileRenderer<'a>) -> Self {
        self.search_path = Some(search_path);
        self.renderer = Some(renderer);
        self
    }

    /// Marks the task `no_log`.
    pub fn with_no_log(mut self, no_log: bool) -> Self {
        self.no_log = no_log;
        self
    }

    /// Whether the task is `no_log`.
    pub fn no_log(&self) -> bool {
        self.no_log
    }

    /// The control-machine path a task's `src:` names (see `SearchPath`).
    pub fn find_src(&self, kind: SrcKind, src: &str) -> std::path::PathBuf {
        match self.search_path {
            Some(search) => search.find(kind, src),
            None => std::path::PathBuf::from(src),
        }
    }

    /// Renders a template file's text with the host's variables and the
    /// render's own `extra` ones, which are data (never rendered again).
    pub fn render_file(
        &self,
        text: &str,
        trim_blocks: bool,
        lstrip_blocks: bool,
        extra: &[(String, Value)],
    ) -> Result<String, String> {
        match self.renderer {
            Some(render) => render(text, trim_blocks, lstrip_blocks, extra),
            None => Err("no template engine is available to this task".into()),
        }
    }

    /// Runs a script on the task's host.
    pub async fn run(&self, script: &str, stdin: &[u8]) -> Result<Output, ConnError> {
        self.conn.run(script, stdin, self.timeout).await
    }

    /// Records a warning; the executor reports it with the task's result.
    pub fn warn(&self, message: impl Into<String>) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message.into());
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// The open connection to another host of the play.
    pub fn peer(&self, host: &str) -> Option<Arc<dyn Connection>> {
        (self.peers)(host)
    }

    /// A variable of the host, if set.
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }
}

/// A task: a read-only check, then an apply that acts on what the check found.
#[async_trait]
pub trait Task: Send + Sync {
    /// What the check found to differ; handed unchanged to `apply`.
    type Drift: Send + 'static;

    /// Compares the host with what the task wants. Must not change anything.
    async fn check(&self, cx: &Context<'_>) -> Result<Check<Self::Drift>, TaskError>;

    /// Acts on exactly the drift the check found.
    async fn apply(&self, cx: &Context<'_>, drift: Self::Drift) -> Result<Outcome, TaskError>;

    /// One loop item's share of the outcome of a collapsed loop (one task
    /// run for every item, see `Spec::collapses`): `entries` are the
    /// item's own entries of the collapsing argument. Only tasks whose
    /// spec collapses are ever asked; the default suits a package
    /// manager's result (`item_share`).
    fn item_outcome(&self, whole: &Outcome, entries: &[String]) -> Outcome {
        item_share(whole, entries)
    }
}

/// The keys of a result that belong to the command a collapsed call ran:
/// an item that did not change ran no command of its own, as in Ansible,
/// where its own run of the module found nothing to do.
const COMMAND_OUTPUT: [&str; 5] = ["rc", "stdout", "stderr", "stdout_lines", "stderr_lines"];

/// The generic share of one item in a collapsed outcome: changed when one
/// of its entries changed (as the task says in `changed_entries`; without
/// that, as the whole did); a changed item carries the whole's message,
/// command output and the diff lines about its entries (see
/// `entry_lines`), an unchanged one only the result's other fields.
pub fn item_share(whole: &Outcome, entries: &[String]) -> Outcome {
    let changed = match &whole.changed_entries {
        Some(changing) => entries.iter().any(|e| changing.contains(e)),
        None => whole.changed,
    };
    let mut data = whole.data.clone();
    if !changed {
        for key in COMMAND_OUTPUT {
            data.remove(key);
        }
    }
    // A package manager's `results` lines (dnf's `Installed: name`) are
    // about one package each: an item keeps the lines about its own.
    if let Some(Value::Array(lines)) = data.get_mut("results") {
        lines.retain(|line| {
            line.as_str()
                .and_then(|l| l.split_once(": "))
                .is_none_or(|(_, name)| entries.iter().any(|e| e == name))
        });
    }
    let diffs = match changed {
        true => whole
            .diffs
            .iter()
            .map(|d| Diff {
                subject: d.subject.clone(),
                before: d.before.as_deref().map(|t| entry_lines(t, entries)),
                after: d.after.as_deref().map(|t| entry_lines(t, entries)),
            })
            .collect(),
        false => Vec::new(),
    };
    Outcome {
        changed,
        msg: whole.msg.clone().filter(|_| changed),
        diffs,
        data,
        facts: Map::new(),
        changed_entries: None,
    }
}

/// The lines of a package listing (`name: version`, one per package)
/// that name one of `entries` (or its bare name, before a `=` pin); a text
/// that is not such a listing is kept whole.
fn entry_lines(text: &str, entries: &[String]) -> String {
    let bare = |e: &str| e.split('=').next().unwrap_or(e).to_string();
    let names: Vec<String> = entries.iter().map(|e| bare(e)).collect();
    let listing = text.lines().all(|l| l.contains(": "));
    if !listing {
        return text.to_string();
    }
    text.lines()
        .filter(|l| {
            l.split_once(": ")
                .is_some_and(|(name, _)| names.iter().any(|n| n == name))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The object-safe form of `Task` the executor works with; every `Task`
/// gets it for free.
#[async_trait]
pub trait DynTask: Send + Sync {
    async fn check_dyn(&self, cx: &Context<'_>) -> Result<Check<Box<dyn Any + Send>>, TaskError>;
    async fn apply_dyn(
        &self,
        cx: &Context<'_>,
        drift: Box<dyn Any + Send>,
    ) -> Result<Outcome, TaskError>;
    fn item_outcome_dyn(&self, whole: &Outcome, entries: &[String]) -> Outcome;
}

#[async_trait]
impl<T: Task> DynTask for T {
    async fn check_dyn(&self, cx: &Context<'_>) -> Result<Check<Box<dyn Any + Send>>, TaskError> {
        Ok(match self.check(cx).await? {
            Check::InSync(outcome) => Check::InSync(outcome),
            Check::Drift { drift, preview } => Check::Drift {
                drift: Box::new(drift),
                preview,
            },
        })
    }

    async fn apply_dyn(
        &self,
        cx: &Context<'_>,
        drift: Box<dyn Any + Send>,
    ) -> Result<Outcome, TaskError> {
        match drift.downcast::<T::Drift>() {
            Ok(drift) => self.apply(cx, *drift).await,
            // The executor only ever passes back what check_dyn returned.
            Err(_) => Err(TaskError::failed("internal error: drift of the wrong type")),
        }
    }

    fn item_outcome_dyn(&self, whole: &Outcome, entries: &[String]) -> Outcome {
        self.item_outcome(whole, entries)
    }
}
