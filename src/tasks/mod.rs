//! The built-in tasks, and the registry that also holds users' custom tasks.
//!
//! Built-ins form a closed serde enum, `Builtin`: the rendered arguments of a
//! task are deserialized into exactly one variant, whose struct denies
//! unknown fields, so a typo can never reach a host. Each built-in lives in
//! its own file, named after its YAML key, with the same shape: a `spec()`
//! describing its parameters, an argument struct, and a `task::Task` impl
//! (check, then apply).
//!
//! To add a built-in: write `tasks/<name>.rs`, then add one line to the
//! `builtins!` list below.

pub mod apt;
pub mod assert;
pub mod command;
pub mod copy;
pub mod copy_ca_crt;
pub mod custom;
pub mod debug;
pub mod dump_certs;
pub mod edit;
pub mod fail;
pub mod file;
pub mod get_url;
pub mod group;
pub mod http;
pub mod include_vars;
pub mod lineinfile;
pub mod manifest;
pub mod package;
pub mod ping;
pub mod plugin;
pub mod push_bundle;
pub mod push_failure;
pub mod push_test;
pub mod remote;
pub mod service;
pub mod set_bypass_ca;
pub mod set_fact;
pub mod setup;
pub mod stat;
pub mod systemd;
pub mod template;
pub mod upload_ca;
pub mod uri;
pub mod user;

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::params::Spec;
use crate::task::DynTask;

/// Turns a task's coerced arguments into a runnable task.
pub type Build = Arc<dyn Fn(Map<String, Value>) -> Result<Box<dyn DynTask>, String> + Send + Sync>;

/// One task type the loader and executor know.
#[derive(Clone)]
pub struct Entry {
    pub spec: Spec,
    pub build: Build,
    /// For a YAML task file: its body (a list of tasks), which the loader
    /// expands in place of each call.
    pub body: Option<crate::yaml::Node>,
}

/// Every task type of a run, by YAML key: the built-ins plus custom tasks.
#[derive(Clone, Default)]
pub struct Registry {
    entries: IndexMap<String, Entry>,
}

/// Ansible spells built-ins with a collection prefix too.
const PREFIXES: [&str; 2] = ["ansible.builtin.", "ansible.legacy."];

impl Registry {
    /// The built-in tasks only.
    pub fn builtins() -> Registry {
        let mut registry = Registry::default();
        for (name, spec) in builtin_specs() {
            let key = name.to_string();
            registry.register(spec, Arc::new(move |args| build_builtin(&key, args)));
        }
        registry
    }

    /// Adds (or replaces) a task type.
    pub fn register(&mut self, spec: Spec, build: Build) {
        self.entries.insert(
            spec.name.clone(),
            Entry {
                spec,
                build,
                body: None,
            },
        );
    }

    /// Adds a YAML task file: calls are expanded into its body by the loader.
    pub fn register_task_file(&mut self, spec: Spec, body: crate::yaml::Node) {
        let name = spec.name.clone();
        let build: Build =
            Arc::new(move |_| Err(format!("`{name}` is a task file; the loader expands it")));
        self.entries.insert(
            spec.name.clone(),
            Entry {
                spec,
                build,
                body: Some(body),
            },
        );
    }

    /// Finds a task type by the key written in the playbook.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        let name = PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p))
            .unwrap_or(key);
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// Declares the built-ins once: YAML key, argument struct, spec function.
/// It generates the closed `Builtin` enum and the list of specs.
macro_rules! builtins {
    ($($key:literal => $variant:ident($ty:ty), $spec:path;)*) => {
        /// Every built-in task, deserialized from `{"module": key, "args": {...}}`.
        #[derive(serde::Deserialize)]
        #[serde(tag = "module", content = "args")]
        pub enum Builtin {
            $(#[serde(rename = $key)] $variant($ty),)*
        }

        impl Builtin {
            pub fn into_task(self) -> Box<dyn DynTask> {
                match self {
                    $(Builtin::$variant(task) => Box::new(task),)*
                }
            }
        }

        fn builtin_specs() -> Vec<(&'static str, Spec)> {
            vec![$(($key, $spec())),*]
        }
    };
}

builtins! {
    "assert" => Assert(assert::Assert), assert::spec;
    "command" => Command(command::Command), command::spec;
    "copy" => Copy(copy::Copy), copy::spec;
    "debug" => Debug(debug::Debug), debug::spec;
    "fail" => Fail(fail::Fail), fail::spec;
    "file" => File(file::File), file::spec;
    "set_fact" => SetFact(set_fact::SetFact), set_fact::spec;
    "include_vars" => IncludeVars(include_vars::IncludeVars), include_vars::spec;
    "setup" => Setup(setup::Setup), setup::spec;
    "shell" => Shell(command::Shell), command::shell_spec;
    "lineinfile" => LineInFile(lineinfile::LineInFile), lineinfile::spec;
    "ping" => Ping(ping::Ping), ping::spec;
    "stat" => Stat(stat::Stat), stat::spec;
    "template" => Template(template::Template), template::spec;
    "group" => Group(group::Group), group::spec;
    "user" => User(user::User), user::spec;
    "apt" => Apt(apt::Apt), apt::spec;
    "package" => Package(package::Package), package::spec;
    "get_url" => GetUrl(get_url::GetUrl), get_url::spec;
    "uri" => Uri(uri::Uri), uri::spec;
    "service" => Service(service::Service), service::spec;
    "systemd" => Systemd(systemd::Systemd), systemd::spec;
    "systemd_service" => SystemdService(systemd::Systemd), systemd::service_spec;
    "copy-ca-crt" => CopyCaCrt(copy_ca_crt::CopyCaCrt), copy_ca_crt::spec;
    "dump-certs" => DumpCerts(dump_certs::DumpCerts), dump_certs::spec;
    "push-test" => PushTest(push_test::PushTest), push_test::spec;
    "set-bypass-ca" => SetBypassCa(set_bypass_ca::SetBypassCa), set_bypass_ca::spec;
    "upload-ca" => UploadCa(upload_ca::UploadCa), upload_ca::spec;
}

fn build_builtin(key: &str, args: Map<String, Value>) -> Result<Box<dyn DynTask>, String> {
    let tagged = serde_json::json!({ "module": key, "args": Value::Object(args) });
    serde_json::from_value::<Builtin>(tagged)
        .map(Builtin::into_task)
        .map_err(|e| e.to_string())
}
