//! Executable tasks: a program in any language, beside a small manifest,
//! that becomes a task type with the same guarantees as the built-ins.
//!
//! A plugin is `library/<name>` (or `library/<name>.<ext>`, so a ported
//! `ensure_line.py` keeps its name) plus `library/<name>.yml`:
//!
//! ```yaml
//! description: Ensure a line is in a file
//! runs_on: target        # or `control`; `target` is the default
//! timeout: 30            # seconds
//! params:
//!   path: {type: path, required: true}
//!   line: {type: str, required: true}
//! ```
//!
//! The manifest's `params:` (see `manifest.rs`) becomes a `params::Spec`, so
//! calls are validated like a built-in's, at the call site and before any
//! host is contacted. The program follows the protocol of `protocol.rs`:
//! a JSON arguments file in, one JSON object out.
//!
//! Check and apply map onto two runs of the program: the check runs it with
//! `check_mode: true` (and a plugin must then change nothing), and a reply
//! of `changed: true` is the drift, its diff the preview. Apply runs it
//! again with `check_mode: false`. A program that cannot check declares
//! `supports_check_mode: false`; its check then reports that it would run.
//!
//! Every way a program can misbehave (crash, non-zero exit without JSON,
//! timeout, output that is not JSON, an unknown field) is a
//! `TaskError::Failed` for that task on that host only, naming the task, the
//! host and the program, with the first lines of its stderr. The timeout is
//! enforced by the script itself, not by dropping the connection, so the
//! host stays usable for the next task.
//!
//! On a target, one round trip does everything: the program travels on the
//! script's stdin, the arguments inside the script, and both live in a
//! private temporary directory that is removed afterwards (see
//! `protocol::script`). On the control machine the program runs in place.

mod protocol;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::connection::local::LocalConnection;
use crate::connection::{Connection, Output};
use crate::error::InputError;
use crate::params::{Param, Spec};
use crate::report::Diff;
use crate::source::SourceFile;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::Registry;
use crate::tasks::manifest;
use crate::yaml::{self, Node, Value as YamlValue};

pub use protocol::{ReplyError, VERSION};

/// The keys of a plugin manifest.
const MANIFEST_KEYS: [&str; 7] = [
    "description",
    "runs_on",
    "timeout",
    "supports_check_mode",
    "run_once",
    "returns",
    "params",
];

/// Extensions that never hold the program itself, when looking for
/// `<name>.<ext>` beside a manifest.
const NOT_PROGRAMS: [&str; 6] = ["yml", "yaml", "md", "txt", "json", "j2"];

/// How many lines of a program's stderr go into a failure message.
const STDERR_LINES: usize = 10;

/// Longer stderr lines are cut in failure messages.
const STDERR_LINE_CHARS: usize = 240;

/// How long the script may take beyond the program's own timeout: writing
/// the program, the SIGTERM grace period and printing the output.
const SCRIPT_SLACK: Duration = Duration::from_secs(15);

/// What secrets are replaced with in a plugin's output.
const MASK: &str = "********";

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsOn {
    /// Copied to the task's host and run there.
    Target,
    /// Run on the control machine, where dtrplay runs.
    Control,
}

/// What a directory of plugins is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A `library/` directory: every manifest must have a program and every
    /// executable file must have a manifest.
    Library,
    /// A `--task-path` directory, which also holds YAML task files: only a
    /// `<name>.yml` with a program beside it is a plugin manifest.
    TaskPath,
}

/// A plugin manifest, parsed and checked.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The task type's name: the manifest's file stem.
    pub name: String,
    /// One line for people.
    pub description: Option<String>,
    pub runs_on: RunsOn,
    /// The program's own time limit. A task's `timeout:` may shorten it.
    pub timeout: Option<Duration>,
    /// False for programs that cannot run without changing things; their
    /// check cannot look and reports that they would run.
    pub supports_check_mode: bool,
    /// Runs once per play rather than once per host.
    pub run_once: bool,
    /// Extra top-level reply fields, registered as they are.
    pub returns: Vec<String>,
    pub params: Vec<Param>,
}

/// A loaded plugin: its manifest and its program.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub manifest: Manifest,
    /// The program on the control machine (absolute).
    pub path: PathBuf,
    /// The manifest file, for diagnostics about the plugin as a whole.
    pub src: SourceFile,
    /// The program's bytes, read once at load and shipped to every target.
    program: Arc<[u8]>,
}

impl Plugin {
    /// Loads the plugin whose manifest is at `manifest_path`, finding its
    /// program beside it.
    pub fn load(manifest_path: &Path) -> Result<Plugin, Vec<InputError>> {
        let src = SourceFile::read(manifest_path).map_err(|e| {
            vec![file_error(
                manifest_path,
                format!(
                    "could not read the task manifest {}: {e}",
                    manifest_path.display()
                ),
            )]
        })?;
        let doc = yaml::parse(&src).map_err(|e| vec![e])?;
        let name = stem(manifest_path);
        let Some(program) = find_program(manifest_path).map_err(|e| vec![e])? else {
            return Err(vec![
                at_file(
                    &src,
                    format!("the task manifest {} has no program beside it", src.name()),
                )
                .with_label("a manifest without a program")
                .with_help(format!(
                    "put the executable at {} (or {}.<ext>)",
                    manifest_path.with_extension("").display(),
                    name
                )),
            ]);
        };
        let manifest = parse_manifest(&name, &doc, &src)?;
        let path = std::fs::canonicalize(&program).unwrap_or(program);
        let executable = is_executable(&path);
        let bytes = std::fs::read(&path).map_err(|e| {
            vec![at_file(
                &src,
                format!("could not read the program {}: {e}", path.display()),
            )]
        })?;
        if !executable {
            return Err(vec![
                at_file(
                    &src,
                    format!(
                        "the program of task `{name}`, {}, is not executable",
                        path.display()
                    ),
                )
                .with_label("its program lacks the executable bit")
                .with_help(format!(
                    "run `chmod +x {}` (and start it with a `#!` line)",
                    path.display()
                )),
            ]);
        }
        Ok(Plugin {
            manifest,
            path,
            src,
            program: bytes.into(),
        })
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The parameters, as the validator and the executor see them.
    pub fn spec(&self) -> Spec {
        let mut spec = Spec::new(&self.manifest.name, self.manifest.params.clone());
        spec.on_control = self.manifest.runs_on == RunsOn::Control;
        spec.run_once = self.manifest.run_once;
        spec
    }

    /// Adds the plugin to a registry as a task type.
    pub fn register(self, registry: &mut Registry) {
        let spec = self.spec();
        let plugin = Arc::new(self);
        registry.register(
            spec,
            Arc::new(move |args| {
                Ok(Box::new(PluginTask {
                    plugin: plugin.clone(),
                    args,
                }))
            }),
        );
    }
}

/// Loads every plugin of a directory. A missing directory has none.
pub fn load_dir(dir: &Path, layout: Layout) -> Result<Vec<Plugin>, Vec<InputError>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(vec![file_error(
                dir,
                format!("could not read the directory {}: {e}", dir.display()),
            )]);
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut plugins = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        if is_manifest(path) {
            if layout == Layout::TaskPath && !has_program(path) {
                continue;
            }
            match Plugin::load(path) {
                Ok(p) => plugins.push(p),
                Err(e) => errors.extend(e),
            }
        } else if layout == Layout::Library
            && is_executable(path)
            && !files
                .iter()
                .any(|m| is_manifest(m) && stem(m) == stem(path))
        {
            errors.push(
                file_error(
                    path,
                    format!("{} is executable but has no task manifest", path.display()),
                )
                .with_label("a program without a manifest")
                .with_help(format!(
                    "add {} declaring its `params:` (see docs/custom-tasks.md)",
                    path.with_extension("yml").display()
                )),
            );
        }
    }
    if errors.is_empty() {
        Ok(plugins)
    } else {
        Err(errors)
    }
}

/// Loads a directory's plugins into a registry. A plugin may not take the
/// name of a task type already there (a built-in, or a plugin found
/// earlier): silently replacing `copy` with a local script would make
/// playbooks mean something else than they say.
pub fn register_dir(registry: &mut Registry, dir: &Path, layout: Layout) -> Vec<InputError> {
    let plugins = match load_dir(dir, layout) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut errors = Vec::new();
    for plugin in plugins {
        if registry.get(plugin.name()).is_some() {
            errors.push(
                at_file(
                    &plugin.src,
                    format!("task `{}` is already defined", plugin.name()),
                )
                .with_label("this manifest would replace it")
                .with_help("rename the plugin (its program and its manifest)"),
            );
            continue;
        }
        plugin.register(registry);
    }
    errors
}

/// One call of a plugin: its coerced arguments.
struct PluginTask {
    plugin: Arc<Plugin>,
    args: Map<String, Value>,
}

#[async_trait]
impl Task for PluginTask {
    /// The check's reply says it all; apply runs the program again.
    type Drift = ();

    async fn check(&self, cx: &Context<'_>) -> Result<Check<()>, TaskError> {
        if !self.plugin.manifest.supports_check_mode {
            let preview = Outcome::changed(format!(
                "`{}` cannot check (supports_check_mode: false); it runs on apply",
                self.plugin.name()
            ));
            return Ok(Check::Drift { drift: (), preview });
        }
        let reply = self.run(cx, true).await?;
        let skipped = reply.skipped;
        let outcome = self.outcome(cx, reply);
        if skipped || !outcome.changed {
            return Ok(Check::InSync(outcome));
        }
        Ok(Check::Drift {
            drift: (),
            preview: outcome,
        })
    }

    async fn apply(&self, cx: &Context<'_>, (): ()) -> Result<Outcome, TaskError> {
        let reply = self.run(cx, false).await?;
        Ok(self.outcome(cx, reply))
    }
}

impl PluginTask {
    /// Runs the program once and reads its reply. A failure of any kind is
    /// a `TaskError` for this host.
    async fn run(&self, cx: &Context<'_>, check_mode: bool) -> Result<protocol::Reply, TaskError> {
        let plugin = &self.plugin;
        let request = protocol::request(&protocol::Request {
            args: &self.args,
            check_mode,
            diff: cx.diff,
            host: cx.host,
            task: plugin.name(),
        });
        let timeout = plugin
            .manifest
            .timeout
            .map_or(cx.timeout, |t| t.min(cx.timeout));
        // The watchdog counts whole seconds; a sub-second limit still
        // gives the program one.
        let secs = timeout.as_secs().max(1);
        let path = plugin.path.display().to_string();
        let (program, stdin): (protocol::Program<'_>, &[u8]) = match plugin.manifest.runs_on {
            RunsOn::Target => (
                protocol::Program::Stdin {
                    name: plugin.name(),
                },
                &plugin.program,
            ),
            RunsOn::Control => (protocol::Program::Path(&path), &[]),
        };
        let script = protocol::script(&program, &request, secs);
        let local;
        let conn: &dyn Connection = match plugin.manifest.runs_on {
            RunsOn::Target => cx.conn,
            RunsOn::Control => {
                local = LocalConnection::new("localhost");
                &local
            }
        };
        let out = conn
            .run(&script, stdin, Duration::from_secs(secs) + SCRIPT_SLACK)
            .await?;
        let fail = |why: String, out: &Output| self.failure(cx, why, out, check_mode);
        let Some(ran) = protocol::ran(&out.stdout) else {
            let why = match out.status {
                protocol::NO_TMPDIR => {
                    "could not get a temporary directory (check $TMPDIR)".to_string()
                }
                protocol::NO_SETUP => {
                    "could not put the program in its temporary directory".to_string()
                }
                status => format!("could not be started (the script exited with status {status})"),
            };
            return Err(fail(why, &out));
        };
        let program_out = Output {
            status: ran.status,
            stdout: ran.stdout.clone(),
            stderr: out.stderr.clone(),
        };
        if ran.timed_out {
            return Err(fail(
                format!("timed out after {secs}s and was killed"),
                &program_out,
            ));
        }
        let reply = protocol::parse_reply(&ran.stdout, plugin.name(), &plugin.manifest.returns);
        match reply {
            Ok(reply) if reply.failed || ran.status != 0 => {
                let msg = reply.msg.clone().unwrap_or_else(|| match ran.status {
                    0 => "failed".to_string(),
                    s => format!("exited with status {s}"),
                });
                let mut data = reply.registered.clone();
                if let Some(tb) = &reply.exception {
                    data.insert("exception".into(), tb.clone().into());
                }
                if ran.status != 0 {
                    data.entry("rc").or_insert(ran.status.into());
                }
                Err(TaskError::Failed {
                    msg: self.mask(&msg),
                    data: self.mask_map(data),
                })
            }
            Ok(reply) => {
                for w in &reply.warnings {
                    cx.warn(self.mask(w));
                }
                Ok(reply)
            }
            Err(e) if ran.status >= 128 => Err(fail(
                format!("was killed by signal {} ({e})", ran.status - 128),
                &program_out,
            )),
            Err(protocol::ReplyError::Empty) if ran.status != 0 => Err(fail(
                format!("exited with status {} without printing JSON", ran.status),
                &program_out,
            )),
            Err(e) => {
                let status = match ran.status {
                    0 => String::new(),
                    s => format!(" and exited with status {s}"),
                };
                Err(fail(format!("{e}{status}"), &program_out))
            }
        }
    }

    /// A failure message naming the task, the host and the program, with
    /// the start of the program's stderr. Its output is registered too.
    fn failure(&self, cx: &Context<'_>, why: String, out: &Output, check_mode: bool) -> TaskError {
        let plugin = &self.plugin;
        let mut msg = format!(
            "task `{}` on {}{}: {} {why}",
            plugin.name(),
            cx.host,
            if check_mode { " (check)" } else { "" },
            plugin.path.display(),
        );
        let stderr = out.stderr_text();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        if !lines.is_empty() {
            msg.push_str("\nstderr:");
            for line in lines.iter().take(STDERR_LINES) {
                let cut: String = line.chars().take(STDERR_LINE_CHARS).collect();
                msg.push_str("\n  ");
                msg.push_str(&cut);
            }
            if lines.len() > STDERR_LINES {
                msg.push_str(&format!("\n  ({} more lines)", lines.len() - STDERR_LINES));
            }
        }
        let outcome = Outcome::ok().with_output(out);
        TaskError::Failed {
            msg: self.mask(&msg),
            data: self.mask_map(outcome.data),
        }
    }

    /// Turns a good reply into the task's outcome, secrets masked.
    fn outcome(&self, _cx: &Context<'_>, reply: protocol::Reply) -> Outcome {
        let mut data = reply.registered;
        if reply.skipped {
            data.insert("skipped".into(), true.into());
        }
        Outcome {
            changed: reply.changed && !reply.skipped,
            msg: reply.msg.map(|m| self.mask(&m)),
            diffs: reply
                .diffs
                .into_iter()
                .map(|d| Diff {
                    subject: self.mask(&d.subject),
                    before: d.before.map(|t| self.mask(&t)),
                    after: d.after.map(|t| self.mask(&t)),
                })
                .collect(),
            data: self.mask_map(data),
            facts: reply.facts,
            changed_entries: None,
        }
    }

    /// The values of the call's secret arguments, longest first so that a
    /// secret containing another is masked whole.
    fn secrets(&self) -> Vec<&str> {
        let mut values: Vec<&str> = self
            .plugin
            .manifest
            .params
            .iter()
            .filter(|p| p.secret)
            .filter_map(|p| self.args.get(&p.name).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .collect();
        values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        values
    }

    /// Replaces every secret argument value in a text.
    fn mask(&self, text: &str) -> String {
        self.secrets()
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s, MASK))
    }

    fn mask_map(&self, map: Map<String, Value>) -> Map<String, Value> {
        map.into_iter()
            .map(|(k, v)| (k, self.mask_value(v)))
            .collect()
    }

    fn mask_value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.mask(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.mask_value(v)).collect())
            }
            Value::Object(map) => Value::Object(self.mask_map(map)),
            other => other,
        }
    }
}

/// Parses and checks a manifest document.
fn parse_manifest(name: &str, doc: &Node, src: &SourceFile) -> Result<Manifest, Vec<InputError>> {
    let mut manifest = Manifest {
        name: name.to_string(),
        description: None,
        runs_on: RunsOn::Target,
        timeout: None,
        supports_check_mode: true,
        run_once: false,
        returns: Vec::new(),
        params: Vec::new(),
    };
    let mut errors = Vec::new();
    if !manifest::valid_name(name, true) {
        errors.push(
            at_file(src, format!("`{name}` is not a valid task name"))
                .with_label("the manifest's file name is the task's name")
                .with_help("use letters, digits, `_` and `-`, starting with a letter"),
        );
    }
    if doc.is_null() {
        return if errors.is_empty() {
            Ok(manifest)
        } else {
            Err(errors)
        };
    }
    if doc.as_map().is_none() {
        errors.push(
            InputError::at(
                doc,
                format!("a task manifest must be a mapping, not {}", doc.kind()),
            )
            .with_label("expected `params:`, `runs_on:` and so on")
            .with_help("see docs/custom-tasks.md for the manifest format"),
        );
        return Err(errors);
    }
    let what = format!("the manifest of `{name}`");
    errors.extend(manifest::unknown_keys(doc, &MANIFEST_KEYS, &what));
    if let Some(node) = doc.get("description") {
        match node.as_str() {
            Some(text) => manifest.description = Some(text.to_string()),
            None => errors.push(expected(node, "description", "text")),
        }
    }
    if let Some(node) = doc.get("runs_on") {
        match node.as_str() {
            Some("target") => manifest.runs_on = RunsOn::Target,
            Some("control") => manifest.runs_on = RunsOn::Control,
            _ => errors.push(
                InputError::at(
                    node,
                    format!(
                        "`runs_on` must be `target` or `control`, not {}",
                        node.raw()
                    ),
                )
                .with_label("expected target or control")
                .with_maybe_help(
                    node.as_str()
                        .and_then(|s| crate::suggest::did_you_mean(s, ["target", "control"])),
                ),
            ),
        }
    }
    if let Some(node) = doc.get("timeout") {
        match node.value {
            YamlValue::Int(secs) if secs > 0 => {
                manifest.timeout = Some(Duration::from_secs(secs.unsigned_abs()));
            }
            _ => errors.push(
                InputError::at(
                    node,
                    format!(
                        "`timeout` must be a whole number of seconds, not {}",
                        node.raw()
                    ),
                )
                .with_label("expected seconds, e.g. 30")
                .with_help("write the limit in seconds, greater than zero"),
            ),
        }
    }
    for (key, slot) in [
        ("supports_check_mode", &mut manifest.supports_check_mode),
        ("run_once", &mut manifest.run_once),
    ] {
        if let Some(node) = doc.get(key) {
            match node.value {
                YamlValue::Bool(b) => *slot = b,
                _ => errors.push(expected(node, key, "true or false")),
            }
        }
    }
    if let Some(node) = doc.get("returns") {
        match returns(node) {
            Ok(r) => manifest.returns = r,
            Err(e) => errors.extend(e),
        }
    }
    if let Some(node) = doc.get("params") {
        match manifest::params(node) {
            Ok(p) => manifest.params = p,
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}

/// `returns:` as a list of names, or a mapping of names to descriptions
/// (the shape of Ansible's RETURN documentation).
fn returns(node: &Node) -> Result<Vec<String>, Vec<InputError>> {
    let names: Vec<&Node> = match &node.value {
        YamlValue::Seq(items) => items.iter().collect(),
        YamlValue::Map(entries) => entries.iter().map(|(k, _)| k).collect(),
        YamlValue::Null => Vec::new(),
        _ => {
            return Err(vec![
                InputError::at(
                    node,
                    format!(
                        "`returns` must be a list of field names, not {}",
                        node.kind()
                    ),
                )
                .with_label("expected a list")
                .with_help("write `returns: [path, checksum]`"),
            ]);
        }
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match n.as_str() {
            Some(name) if protocol::reserved_field(name) => errors.push(
                InputError::at(n, format!("`{name}` is already a reply field"))
                    .with_label("reserved by the protocol")
                    .with_help("only extra fields need declaring; see docs/custom-tasks.md"),
            ),
            Some(name) if manifest::valid_name(name, false) => out.push(name.to_string()),
            _ => errors.push(
                InputError::at(n, format!("{} is not a valid field name", n.raw()))
                    .with_label("expected an identifier"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn expected(node: &Node, key: &str, what: &str) -> InputError {
    InputError::at(node, format!("`{key}` must be {what}, not {}", node.kind()))
        .with_label(format!("expected {what}"))
}

/// An error about a whole file: the start of its text is underlined.
fn at_file(src: &SourceFile, message: String) -> InputError {
    let len = src.text().lines().next().map_or(0, str::len);
    InputError::new(src, (0, len).into(), message)
}

/// An error about a file that is not YAML (a program, a directory).
fn file_error(path: &Path, message: String) -> InputError {
    InputError::new(
        &SourceFile::new(path.display().to_string(), ""),
        (0, 0).into(),
        message,
    )
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether a YAML file is a plugin manifest, i.e. has a program beside it
/// (`<name>` or one `<name>.<ext>`). In a `--task-path` directory, any other
/// YAML file may be a task file.
pub fn has_program(manifest_path: &Path) -> bool {
    !matches!(find_program(manifest_path), Ok(None))
}

/// The program beside a manifest: `<name>`, or the one `<name>.<ext>`.
fn find_program(manifest_path: &Path) -> Result<Option<PathBuf>, InputError> {
    let bare = manifest_path.with_extension("");
    if bare.is_file() {
        return Ok(Some(bare));
    }
    let name = stem(manifest_path);
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && stem(p) == name)
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| !NOT_PROGRAMS.contains(&e))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => {
            let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(file_error(
                manifest_path,
                format!("task `{name}` has several programs: {}", list.join(", ")),
            )
            .with_help("keep one program per manifest"))
        }
    }
}

#[cfg(test)]
mod tests;
