//! Every other module: ansible-core's own code, when it is installed on the
//! control machine.
//!
//! A task that names a module dtrplay does not implement (`tempfile`,
//! `ansible.builtin.known_hosts`, `community.general.pam_limits`) runs the
//! module's own code on the host, as Ansible does with pipelining: the
//! payload (the AnsiballZ wrapper with the module and its module_utils,
//! arguments inside) is built on the control machine by ansible-core's own
//! `module_common`, sent to the host on the script's stdin through the
//! host's long-lived shell (never on a command line: arguments may hold
//! secrets), run by the host's Python, and its JSON result read back as
//! host data (`result.rs`).
//!
//! Which ansible-core (`Choice`): `--ansible-python PATH` or
//! `DTRPLAY_ANSIBLE_PYTHON=PATH` names the Python that has it; `none`
//! turns the fallback off; by default it is the Python of the `ansible`
//! program on PATH (its `#!` line), which is where pip, pipx and distribution
//! packages put ansible-core. Nothing is started until a playbook names a
//! module dtrplay does not have; then one helper process (`helper.rs`)
//! serves the whole run: documentation for `validate`, payloads for the
//! hosts, each built once per distinct set of arguments and reused for
//! every host that shares them.
//!
//! Modules whose ansible-core action plugin does controller-side work
//! (`template`, `fetch`, `assemble`, `service`, ...) are refused by name:
//! running only their remote half would not do what Ansible does.

mod helper;
mod module;
mod redirects;
mod result;
mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use serde_json::{Map, Value};

use crate::params::{ANY, Kind, Param};
use crate::tasks::{Build, Entry, Runner};

use helper::{BuildRequest, Doc, Helper};
use redirects::redirect_of;

/// The environment variable that names ansible-core's Python.
pub const ENV: &str = "DTRPLAY_ANSIBLE_PYTHON";

/// How many payloads are kept for reuse; each is a few hundred kilobytes.
const PAYLOADS_KEPT: usize = 64;

/// The modules of ansible-core 2.19 (besides those dtrplay implements), so
/// that a playbook using one without ansible-core gets told how to run it.
const CORE_MODULES: &[&str] = &[
    "add_host",
    "assemble",
    "blockinfile",
    "debconf",
    "dnf",
    "dnf5",
    "dpkg_selections",
    "expect",
    "fetch",
    "find",
    "gather_facts",
    "get_url",
    "getent",
    "git",
    "group_by",
    "include_vars",
    "iptables",
    "known_hosts",
    "mount_facts",
    "pause",
    "raw",
    "reboot",
    "replace",
    "script",
    "service",
    "service_facts",
    "setup",
    "slurp",
    "subversion",
    "systemd",
    "systemd_service",
    "sysvinit",
    "tempfile",
    "unarchive",
    "uri",
    "wait_for",
    "wait_for_connection",
];

/// Where ansible-core is to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The Python of the `ansible` program on PATH.
    Auto,
    /// No fallback: unknown modules are errors.
    Off,
    /// This Python has ansible-core importable.
    Python(PathBuf),
}

impl Choice {
    /// The choice from `--ansible-python` (which clap fills from the
    /// environment variable too): `none` or an empty value turns it off.
    pub fn from_arg(value: Option<&Path>) -> Choice {
        match value {
            None => Choice::Auto,
            Some(p) if p.as_os_str().is_empty() || p == Path::new("none") => Choice::Off,
            Some(p) => Choice::Python(p.to_path_buf()),
        }
    }
}

/// A module ansible-core found, as a task runs it.
#[derive(Debug)]
pub struct Module {
    pub fqcn: String,
    /// The module's source on the control machine.
    pub path: String,
}

/// Why a name is not a module the run can use, for the loader's error.
#[derive(Debug, Clone)]
pub struct NotFound {
    pub message: String,
    pub help: String,
}

/// What a module name turned out to be.
#[derive(Clone)]
enum Lookup {
    Found(Arc<Entry>),
    Missing(Option<String>),
    Refused(NotFound),
}

enum State {
    NotStarted,
    Running(Box<Helper>),
    Unavailable(String),
}

/// The run's ansible-core: found and started on first use, asked once per
/// module name.
pub struct AnsibleCore {
    choice: Choice,
    collections: Vec<PathBuf>,
    me: Weak<AnsibleCore>,
    state: Mutex<State>,
    lookups: Mutex<HashMap<String, Lookup>>,
    payloads: Mutex<HashMap<String, Arc<[u8]>>>,
}

impl AnsibleCore {
    /// The fallback for a run. Turned off, it still explains why a module
    /// dtrplay does not implement cannot run. `playbook_dir/collections`
    /// is searched first, as ansible-playbook does.
    pub fn new(choice: Choice, playbook_dir: &Path) -> Option<Arc<AnsibleCore>> {
        let state = match choice {
            Choice::Off => State::Unavailable(format!(
                "turned off with --ansible-python none or {ENV}=none"
            )),
            _ => State::NotStarted,
        };
        let adjacent = playbook_dir.join("collections");
        let collections = if adjacent.is_dir() {
            vec![adjacent]
        } else {
            Vec::new()
        };
        Some(Arc::new_cyclic(|me| AnsibleCore {
            choice,
            collections,
            me: me.clone(),
            state: Mutex::new(state),
            lookups: Mutex::new(HashMap::new()),
            payloads: Mutex::new(HashMap::new()),
        }))
    }

    /// The task type for a module name as written, if ansible-core has a
    /// module by that name that dtrplay can run.
    pub fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        match self.lookup(name) {
            Lookup::Found(entry) => Some(entry),
            _ => None,
        }
    }

    /// Why `name` is not a usable module, when there is more to say than
    /// "unknown": ansible-core is missing, refuses it, or names the
    /// collection it would come from.
    pub fn not_found(&self, name: &str) -> Option<NotFound> {
        match self.lookup(name) {
            Lookup::Found(_) => None,
            Lookup::Refused(why) => Some(why),
            Lookup::Missing(why) => {
                let unavailable = match &*self.state.lock().ok()? {
                    State::Unavailable(reason) => Some(reason.clone()),
                    _ => None,
                };
                let redirect = redirect_of(name);
                let looks_like_module =
                    name.contains('.') || CORE_MODULES.contains(&name) || redirect.is_some();
                match (unavailable, why) {
                    (Some(reason), _) if looks_like_module => Some(NotFound {
                        message: match redirect {
                            Some(target) => format!(
                                "`{name}` ({target}) is an Ansible module that dtrplay does not implement, and ansible-core is not available ({reason})"
                            ),
                            None => format!(
                                "`{name}` is an Ansible module that dtrplay does not implement, and ansible-core is not available ({reason})"
                            ),
                        },
                        help: match redirect.and_then(|t| t.rsplit_once('.')) {
                            Some((collection, _)) => format!(
                                "{}, with the collection {collection} (the `ansible` package has it)",
                                enable_help()
                            ),
                            None => enable_help(),
                        },
                    }),
                    (None, Some(why)) if name.contains('.') || redirected(&why) => {
                        Some(NotFound {
                            message: format!("ansible-core has no module `{name}`: {why}"),
                            help: "check the name, or install the collection that has it \
                                   (`ansible-galaxy collection install <namespace.collection>`, \
                                   or the `ansible` package, which bundles the community collections)"
                                .to_string(),
                        })
                    }
                    _ => None,
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Lookup {
        if let Some(found) = self.lookups.lock().ok().and_then(|l| l.get(name).cloned()) {
            return found;
        }
        let found = self.ask(name);
        if let Ok(mut lookups) = self.lookups.lock() {
            lookups.insert(name.to_string(), found.clone());
        }
        found
    }

    /// Asks the helper (starting it if need be) what `name` is.
    fn ask(&self, name: &str) -> Lookup {
        let Ok(mut state) = self.state.lock() else {
            return Lookup::Missing(None);
        };
        let (doc, version) = match self.helper(&mut state) {
            Ok(helper) => (helper.doc(name), helper.version.clone()),
            Err(_) => return Lookup::Missing(None),
        };
        match doc {
            Ok(doc) if doc.found => self.found(name, doc, version),
            Ok(doc) => Lookup::Missing(doc.why),
            Err(e) => Lookup::Refused(NotFound {
                message: format!("could not look up the module `{name}` in ansible-core: {e}"),
                help: enable_help(),
            }),
        }
    }

    /// The running helper, started on first use.
    fn helper<'s>(&self, state: &'s mut State) -> Result<&'s mut Helper, String> {
        if let State::NotStarted = state {
            *state = match self.python().and_then(|python| {
                Helper::start(&python, &self.collections).map_err(|e| e.to_string())
            }) {
                Ok(helper) => State::Running(Box::new(helper)),
                Err(reason) => State::Unavailable(reason),
            };
        }
        match state {
            State::Running(helper) => Ok(helper),
            State::Unavailable(reason) => Err(reason.clone()),
            State::NotStarted => Err("ansible-core was not started".into()),
        }
    }

    /// The Python to start the helper with.
    fn python(&self) -> Result<PathBuf, String> {
        match &self.choice {
            Choice::Python(path) => Ok(path.clone()),
            Choice::Off => Err("the fallback is turned off".into()),
            Choice::Auto => python_of_ansible(),
        }
    }

    fn found(&self, name: &str, doc: Doc, version: String) -> Lookup {
        if let Some(action) = &doc.action {
            return Lookup::Refused(NotFound {
                message: format!(
                    "`{name}` ({}) needs ansible-core's controller-side action plugin {action}, which dtrplay does not run",
                    doc.fqcn
                ),
                help: "use a dtrplay built-in for it, or a module without an action plugin"
                    .to_string(),
            });
        }
        let mut spec = spec::from_doc(name, &doc);
        if doc.doc_error.is_some() {
            // Without documentation there is nothing to check names against;
            // the module checks its arguments itself.
            spec.params.push(Param::new(ANY, Kind::Raw));
        }
        let module = Arc::new(Module {
            fqcn: doc.fqcn.clone(),
            path: doc.path,
        });
        let me = self.me.clone();
        let build: Build = Arc::new(move |args: Map<String, Value>| {
            let core = me
                .upgrade()
                .ok_or_else(|| "ansible-core is no longer available".to_string())?;
            Ok(Box::new(module::ModuleTask {
                core,
                module: module.clone(),
                args,
            }))
        });
        Lookup::Found(Arc::new(Entry {
            spec,
            build,
            body: None,
            runner: Runner::AnsibleCore {
                version,
                fqcn: doc.fqcn,
            },
        }))
    }

    /// The payload that runs `module` once with `args`, built by the helper
    /// (off the async threads) or reused.
    async fn payload(
        &self,
        module: &Arc<Module>,
        args: &Map<String, Value>,
        check_mode: bool,
        diff: bool,
        no_log: bool,
    ) -> Result<Arc<[u8]>, String> {
        let core = self
            .me
            .upgrade()
            .ok_or_else(|| "ansible-core is no longer available".to_string())?;
        let module = module.clone();
        let args = args.clone();
        tokio::task::spawn_blocking(move || core.build(&module, &args, check_mode, diff, no_log))
            .await
            .map_err(|e| format!("building the payload stopped: {e}"))?
    }

    fn build(
        &self,
        module: &Module,
        args: &Map<String, Value>,
        check_mode: bool,
        diff: bool,
        no_log: bool,
    ) -> Result<Arc<[u8]>, String> {
        let key = format!(
            "{}\0{check_mode}\0{diff}\0{no_log}\0{}",
            module.fqcn,
            Value::Object(args.clone())
        );
        // The helper's lock is taken first, so that hosts asking for the
        // same payload at once wait for one build instead of making theirs.
        let mut state = self.state.lock().map_err(|_| "the helper is unusable")?;
        if let Some(payload) = self.payloads.lock().ok().and_then(|p| p.get(&key).cloned()) {
            return Ok(payload);
        }
        let helper = self.helper(&mut state)?;
        let payload: Arc<[u8]> = helper
            .build(&BuildRequest {
                fqcn: &module.fqcn,
                path: &module.path,
                args,
                check_mode,
                diff,
                no_log,
            })
            .map_err(|e| e.to_string())?
            .into();
        if let Ok(mut payloads) = self.payloads.lock() {
            if payloads.len() >= PAYLOADS_KEPT {
                payloads.clear();
            }
            payloads.insert(key, payload.clone());
        }
        Ok(payload)
    }
}

/// Whether ansible-core's answer says the name is redirected to a
/// collection that is not installed (`pam_limits` to
/// `community.general.pam_limits`), rather than unknown.
fn redirected(why: &str) -> bool {
    why.strip_prefix("no matches found for ")
        .is_some_and(|target| {
            !target.starts_with("ansible.builtin.") && !target.starts_with("ansible.legacy.")
        })
}

/// How to turn the fallback on, for error messages.
fn enable_help() -> String {
    format!(
        "install ansible-core on this machine (`pipx install ansible-core` or `pip install ansible-core`) \
         so that `ansible` is on PATH, or point --ansible-python (or {ENV}) at a Python that has it; \
         dtrplay then runs the module's own code on the host"
    )
}

/// The Python of the `ansible` program on PATH, from its `#!` line.
fn python_of_ansible() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let program = std::env::split_paths(&path)
        .map(|dir| dir.join("ansible"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no `ansible` program on PATH".to_string())?;
    let mut first = String::new();
    {
        use std::io::{BufRead, Read};
        let file = std::fs::File::open(&program)
            .map_err(|e| format!("cannot read {}: {e}", program.display()))?;
        std::io::BufReader::new(file.take(4096))
            .read_line(&mut first)
            .map_err(|e| format!("cannot read {}: {e}", program.display()))?;
    }
    interpreter_of(&first, &path).ok_or_else(|| {
        format!(
            "{} does not start with a Python `#!` line",
            program.display()
        )
    })
}

/// The interpreter a `#!` line runs: `#!/venv/bin/python3`, or
/// `#!/usr/bin/env python3` looked up on PATH.
fn interpreter_of(shebang: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    let line = shebang.strip_prefix("#!")?.trim();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if Path::new(first).file_name()? == "env" {
        let name = words.find(|w| !w.starts_with('-'))?;
        return std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file());
    }
    Some(PathBuf::from(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_comes_from_the_option() {
        assert_eq!(Choice::from_arg(None), Choice::Auto);
        assert_eq!(Choice::from_arg(Some(Path::new("none"))), Choice::Off);
        assert_eq!(Choice::from_arg(Some(Path::new(""))), Choice::Off);
        assert_eq!(
            Choice::from_arg(Some(Path::new("/v/bin/python3"))),
            Choice::Python("/v/bin/python3".into())
        );
    }

    #[test]
    fn shebangs_name_the_interpreter() {
        let dir = tempfile::tempdir().expect("a directory");
        std::fs::write(dir.path().join("python3"), "").expect("write");
        let path = dir.path().as_os_str();
        assert_eq!(
            interpreter_of("#!/venv/bin/python3\n", path),
            Some(PathBuf::from("/venv/bin/python3"))
        );
        assert_eq!(
            interpreter_of("#!/usr/bin/env python3\n", path),
            Some(dir.path().join("python3"))
        );
        assert_eq!(interpreter_of("not a shebang", path), None);
    }
}
