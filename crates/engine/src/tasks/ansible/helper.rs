//! The helper process: `helper.py`, run by the Python that has ansible-core,
//! for the whole run.
//!
//! dtrplay asks it, one JSON line at a time, for a module's documentation
//! (its options, as `ansible-doc --json` reports them) and for a module's
//! payload (the AnsiballZ wrapper that ansible-core's own
//! `module_common.modify_module` builds, module_utils and arguments
//! inside). Starting Python and importing ansible-core costs about half a
//! second, so it happens once per run, and only when a playbook names a
//! module that dtrplay does not have.
//!
//! The helper answers on its original stdout; it points its own stdout at
//! stderr first, so nothing Ansible prints can break the protocol. Its
//! stderr is kept (the last lines) for error messages, never shown as it
//! comes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The helper's code, run with `python -c`.
const CODE: &str = include_str!("helper.py");

/// The longest reply line read: a payload is a few hundred kilobytes; a
/// module with enormous module_utils stays far below this.
const MAX_REPLY: u64 = 64 << 20;

/// How many of the helper's stderr lines are kept for error messages.
const STDERR_LINES: usize = 20;

/// Why the helper could not answer.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("could not start {python}: {source}")]
    Start {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("{python} could not import ansible-core: {why}")]
    Import { python: PathBuf, why: String },
    #[error("the ansible-core helper ({python}) stopped answering{stderr}")]
    Gone { python: PathBuf, stderr: String },
    #[error("the ansible-core helper answered with something that is not its protocol: {0}")]
    Protocol(String),
    #[error("ansible-core: {0}")]
    Ansible(String),
}

/// One option of a module, from its documentation.
#[derive(Debug, Clone, Deserialize)]
pub struct OptionDoc {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub no_log: bool,
}

/// What the helper knows of a module name.
#[derive(Debug, Clone, Deserialize)]
pub struct Doc {
    pub found: bool,
    /// Why ansible-core found no module (for example "no matches found for
    /// community.general.ini_file" when the collection is not installed).
    #[serde(default)]
    pub why: Option<String>,
    #[serde(default)]
    pub fqcn: String,
    /// The module's file on the control machine.
    #[serde(default)]
    pub path: String,
    /// The module's controller-side action plugin, when it has one of its own.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub options: IndexMap<String, OptionDoc>,
    /// The facts the module documents that it sets (`getent_*`).
    #[serde(default)]
    pub facts: Vec<String>,
    /// The documentation could not be read (the module still exists).
    #[serde(default)]
    pub doc_error: Option<String>,
}

/// What one payload is built for.
pub struct BuildRequest<'a> {
    pub fqcn: &'a str,
    pub path: &'a str,
    pub args: &'a Map<String, Value>,
    pub check_mode: bool,
    pub diff: bool,
    pub no_log: bool,
}

/// A running helper.
pub struct Helper {
    python: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// ansible-core's version, from the helper's first reply.
    pub version: String,
}

impl Helper {
    /// Starts the helper with `python`; `collections` are searched for
    /// collections before Ansible's configured paths (a playbook's
    /// adjacent `collections/`, as ansible-playbook does).
    pub fn start(python: &Path, collections: &[PathBuf]) -> Result<Helper, HelperError> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(CODE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HelperError::Start {
                python: python.to_path_buf(),
                source,
            })?;
        let gone = || HelperError::Protocol("the helper's pipes are missing".into());
        let stdin = child.stdin.take().ok_or_else(gone)?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(gone)?);
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let keep = stderr.clone();
            std::thread::spawn(move || drain(pipe, &keep));
        }
        let mut helper = Helper {
            python: python.to_path_buf(),
            child,
            stdin: Some(stdin),
            stdout,
            stderr,
            version: String::new(),
        };
        let paths: Vec<String> = collections
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let hello = helper
            .request(&json!({"op": "hello", "collections": paths}))
            .map_err(|e| match e {
                HelperError::Ansible(why) => HelperError::Import {
                    python: python.to_path_buf(),
                    why,
                },
                other => other,
            })?;
        helper.version = hello
            .get("ansible_version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        Ok(helper)
    }

    /// The documentation of a module name as written (short, FQCN or a
    /// name ansible-core redirects).
    pub fn doc(&mut self, name: &str) -> Result<Doc, HelperError> {
        let reply = self.request(&json!({"op": "doc", "name": name}))?;
        serde_json::from_value(reply).map_err(|e| HelperError::Protocol(e.to_string()))
    }

    /// The payload that runs a module once with these arguments.
    pub fn build(&mut self, req: &BuildRequest<'_>) -> Result<Vec<u8>, HelperError> {
        let reply = self.request(&json!({
            "op": "build",
            "fqcn": req.fqcn,
            "path": req.path,
            "args": req.args,
            "check_mode": req.check_mode,
            "diff": req.diff,
            "no_log": req.no_log,
        }))?;
        match reply.get("payload").and_then(Value::as_str) {
            Some(payload) => Ok(payload.as_bytes().to_vec()),
            None => Err(HelperError::Protocol(
                "a build reply without a payload".into(),
            )),
        }
    }

    fn request(&mut self, request: &Value) -> Result<Value, HelperError> {
        let mut line =
            serde_json::to_vec(request).map_err(|e| HelperError::Protocol(e.to_string()))?;
        line.push(b'\n');
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&line).and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if written.is_err() {
            return Err(self.gone());
        }
        let mut reply = Vec::new();
        let read = (&mut self.stdout)
            .take(MAX_REPLY)
            .read_until(b'\n', &mut reply);
        match read {
            Ok(0) | Err(_) => return Err(self.gone()),
            Ok(_) if !reply.ends_with(b"\n") => {
                return Err(HelperError::Protocol(format!(
                    "a reply longer than {MAX_REPLY} bytes"
                )));
            }
            Ok(_) => {}
        }
        let value: Value =
            serde_json::from_slice(&reply).map_err(|e| HelperError::Protocol(e.to_string()))?;
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            return Err(HelperError::Ansible(error.to_string()));
        }
        Ok(value)
    }

    /// The helper ended or closed its pipes: what its stderr said last.
    fn gone(&mut self) -> HelperError {
        self.stdin = None;
        // Its stderr is drained by a thread; give it the moment it needs
        // to read what a dying Python printed.
        let _ = self.child.wait();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let lines: Vec<String> = self
            .stderr
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        let stderr = if lines.is_empty() {
            String::new()
        } else {
            format!(":\n  {}", lines.join("\n  "))
        };
        HelperError::Gone {
            python: self.python.clone(),
            stderr,
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // End of input is the helper's signal to exit; it holds nothing
        // worth waiting for, so a helper that does not leave is killed.
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the last lines of the helper's stderr.
fn drain(pipe: impl Read, keep: &Mutex<VecDeque<String>>) {
    let reader = BufReader::new(pipe);
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Ok(mut lines) = keep.lock() {
            if lines.len() == STDERR_LINES {
                lines.pop_front();
            }
            lines.push_back(line.chars().take(400).collect());
        }
    }
}
