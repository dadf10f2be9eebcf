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

pub mod ansible;
pub mod apt;
pub mod apt_key;
pub mod apt_repository;
pub mod assert;
pub mod async_status;
pub mod authorized_key;
pub mod blockinfile;
pub mod command;
pub mod containerd_trust;
pub mod copy;
pub mod copy_ca_crt;
pub mod cron;
pub mod crontab;
pub mod custom;
pub mod deb822_repository;
pub mod debug;
pub mod dnf;
pub mod docker_cli;
pub mod docker_container;
pub mod docker_container_config;
pub mod docker_container_mounts;
pub mod docker_container_networks;
pub mod docker_container_ports;
pub mod docker_image;
pub mod docker_login;
pub mod docker_network;
pub mod docker_volume;
pub mod dump_certs;
pub mod edit;
pub mod fail;
pub mod fetch;
pub mod file;
pub mod find;
pub mod firewalld;
pub mod get_url;
pub mod getent;
pub mod git;
pub mod group;
pub mod hostname;
pub mod http;
pub mod include_vars;
pub mod ini_file;
pub mod lineinfile;
pub mod manifest;
pub mod mount;
pub mod mysql_client;
pub mod mysql_db;
pub mod mysql_privs;
pub mod mysql_user;
pub mod node_runtime;
pub mod npm;
pub mod openbsd_pkg;
pub mod openssl_csr;
pub mod openssl_privatekey;
pub mod package;
pub mod package_facts;
pub mod pacman;
pub mod pause;
pub mod ping;
pub mod pip;
pub mod pkgng;
pub mod plugin;
pub mod push_bundle;
pub mod push_failure;
pub mod push_test;
pub mod raw;
pub mod remote;
pub mod replace;
pub mod rpm_key;
pub mod script;
pub mod seboolean;
pub mod sections;
pub mod selinux;
pub mod service;
pub mod service_facts;
pub mod set_bypass_ca;
pub mod set_fact;
pub mod setup;
pub mod slurp;
pub mod stat;
pub mod step5_files;
pub mod sysctl;
pub mod systemd;
pub mod template;
pub mod template_vars;
pub mod timezone;
pub mod unarchive;
pub mod upload_ca;
pub mod uri;
pub mod user;
pub mod wait_for;
pub mod wait_for_connection;
pub mod x509_certificate;
pub mod x509_common;
pub mod x509_script;
pub mod yum_repository;
pub mod zypper;
pub mod zypper_repository;
pub mod zypper_xml;

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
    /// What runs it, as `-v` says.
    pub runner: Runner,
}

/// What runs a task type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// dtrplay's own code: a built-in.
    Native,
    /// A task the user added (a task file, a program, a Rust task).
    Custom,
    /// A module of ansible-core or of a collection, run by its own code
    /// (`tasks/ansible/`): ansible-core's version and the module's FQCN.
    AnsibleCore { version: String, fqcn: String },
}

impl Runner {
    /// One phrase for people: "natively", "through ansible-core 2.19.14 (ansible.builtin.tempfile)".
    pub fn describe(&self) -> String {
        match self {
            Runner::Native => "natively".to_string(),
            Runner::Custom => "as a custom task".to_string(),
            Runner::AnsibleCore { version, fqcn } => {
                format!("through ansible-core {version} ({fqcn})")
            }
        }
    }
}

/// Every task type of a run, by YAML key: the built-ins plus custom tasks,
/// and, when ansible-core is there, every module it can find.
#[derive(Clone, Default)]
pub struct Registry {
    entries: IndexMap<String, Arc<Entry>>,
    fallback: Option<Arc<ansible::AnsibleCore>>,
}

/// Ansible spells built-ins with a collection prefix too.
const PREFIXES: [&str; 2] = ["ansible.builtin.", "ansible.legacy."];

/// The collection whose Docker modules are built-ins here, and the prefix
/// of their names: `community.docker.docker_image` is `docker_image`, but
/// `community.docker.docker_stack` is left to the ansible-core fallback.
const DOCKER_COLLECTION: &str = "community.docker.";

/// The collection whose certificate modules are built-ins here.
const CRYPTO_COLLECTION: &str = "community.crypto.";

/// Modules of other collections that are built-ins here, by their full
/// names, and the built-in each one is. Their short names (`timezone`) are
/// the built-ins' own keys, so both spellings run natively and never reach
/// ansible-core's redirects.
const NATIVE_COLLECTION_MODULES: &[(&str, &str)] = &[
    ("ansible.posix.firewalld", "firewalld"),
    ("ansible.posix.mount", "mount"),
    ("ansible.posix.seboolean", "seboolean"),
    ("ansible.posix.sysctl", "sysctl"),
    ("community.general.ini_file", "ini_file"),
    ("community.general.npm", "npm"),
    ("community.general.openbsd_pkg", "openbsd_pkg"),
    ("community.general.pacman", "pacman"),
    ("community.general.pkgng", "pkgng"),
    ("community.general.timezone", "timezone"),
    ("community.general.zypper", "zypper"),
    ("community.general.zypper_repository", "zypper_repository"),
    ("community.mysql.mysql_db", "mysql_db"),
    ("community.mysql.mysql_user", "mysql_user"),
];

impl Registry {
    /// The built-in tasks only.
    pub fn builtins() -> Registry {
        let mut registry = Registry::default();
        for (name, spec) in builtin_specs() {
            let key = name.to_string();
            let build: Build = Arc::new(move |args| build_builtin(&key, args));
            registry.insert(spec, build, None, Runner::Native);
        }
        registry
    }

    /// Adds (or replaces) a task type.
    pub fn register(&mut self, spec: Spec, build: Build) {
        self.insert(spec, build, None, Runner::Custom);
    }

    fn insert(
        &mut self,
        spec: Spec,
        build: Build,
        body: Option<crate::yaml::Node>,
        runner: Runner,
    ) {
        self.entries.insert(
            spec.name.clone(),
            Arc::new(Entry {
                spec,
                build,
                body,
                runner,
            }),
        );
    }

    /// Makes every module that ansible-core finds a task type too, after
    /// the built-ins and custom tasks (which keep their names).
    pub fn set_fallback(&mut self, fallback: Option<Arc<ansible::AnsibleCore>>) {
        self.fallback = fallback;
    }

    /// The fallback, taken out while custom tasks are registered: a custom
    /// task may take the name of a module ansible-core has, as `library/`
    /// modules do in Ansible.
    pub fn take_fallback(&mut self) -> Option<Arc<ansible::AnsibleCore>> {
        self.fallback.take()
    }

    /// Why a key that is neither a keyword nor a task type is not a module,
    /// when the fallback can say more than "unknown" (ansible-core is
    /// missing, or refuses the module).
    pub fn not_a_module(&self, key: &str) -> Option<ansible::NotFound> {
        match &self.fallback {
            Some(fallback) => fallback.not_found(key),
            None => None,
        }
    }

    /// Adds a YAML task file: calls are expanded into its body by the loader.
    pub fn register_task_file(&mut self, spec: Spec, body: crate::yaml::Node) {
        let name = spec.name.clone();
        let build: Build =
            Arc::new(move |_| Err(format!("`{name}` is a task file; the loader expands it")));
        self.insert(spec, build, Some(body), Runner::Custom);
    }

    /// Finds a task type by the key written in the playbook: a built-in or
    /// custom task, else a module of ansible-core (asked once per key).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let name = PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p))
            .or_else(|| {
                key.strip_prefix(DOCKER_COLLECTION)
                    .filter(|name| name.starts_with("docker_"))
            })
            .or_else(|| {
                key.strip_prefix(CRYPTO_COLLECTION)
                    .filter(|name| name.starts_with("openssl_") || name.starts_with("x509_"))
            })
            .or_else(|| {
                NATIVE_COLLECTION_MODULES
                    .iter()
                    .find_map(|(fqcn, name)| (*fqcn == key).then_some(*name))
            })
            .unwrap_or(key);
        if let Some(entry) = self.entries.get(name) {
            return Some(entry.clone());
        }
        self.fallback.as_ref()?.entry(key)
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
    "async_status" => AsyncStatus(async_status::AsyncStatus), async_status::spec;
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
    "blockinfile" => BlockInFile(blockinfile::BlockInFile), blockinfile::spec;
    "replace" => Replace(replace::Replace), replace::spec;
    "ping" => Ping(ping::Ping), ping::spec;
    "stat" => Stat(stat::Stat), stat::spec;
    "template" => Template(template::Template), template::spec;
    "group" => Group(group::Group), group::spec;
    "user" => User(user::User), user::spec;
    "apt" => Apt(apt::Apt), apt::spec;
    "package" => Package(package::Package), package::spec;
    "apt_repository" => AptRepository(apt_repository::AptRepository), apt_repository::spec;
    "apt_key" => AptKey(apt_key::AptKey), apt_key::spec;
    "deb822_repository" => Deb822Repository(deb822_repository::Deb822Repository), deb822_repository::spec;
    "pip" => Pip(pip::Pip), pip::spec;
    "npm" => Npm(npm::Npm), npm::spec;
    "get_url" => GetUrl(get_url::GetUrl), get_url::spec;
    "git" => Git(git::Git), git::spec;
    "ini_file" => IniFile(ini_file::IniFile), ini_file::spec;
    "rpm_key" => RpmKey(rpm_key::RpmKey), rpm_key::spec;
    "cron" => Cron(cron::Cron), cron::spec;
    "sysctl" => Sysctl(sysctl::Sysctl), sysctl::spec;
    "mount" => Mount(mount::Mount), mount::spec;
    "hostname" => Hostname(hostname::Hostname), hostname::spec;
    "uri" => Uri(uri::Uri), uri::spec;
    "slurp" => Slurp(slurp::Slurp), slurp::spec;
    "find" => Find(find::Find), find::spec;
    "fetch" => Fetch(fetch::Fetch), fetch::spec;
    "unarchive" => Unarchive(unarchive::Unarchive), unarchive::spec;
    "script" => Script(script::Script), script::spec;
    "raw" => Raw(raw::Raw), raw::spec;
    "pause" => Pause(pause::Pause), pause::spec;
    "wait_for" => WaitFor(wait_for::WaitFor), wait_for::spec;
    "wait_for_connection" => WaitForConnection(wait_for_connection::WaitForConnection), wait_for_connection::spec;
    "service" => Service(service::Service), service::spec;
    "service_facts" => ServiceFacts(service_facts::ServiceFacts), service_facts::spec;
    "package_facts" => PackageFacts(package_facts::PackageFacts), package_facts::spec;
    "yum_repository" => YumRepository(yum_repository::YumRepository), yum_repository::spec;
    "docker_image" => DockerImage(docker_image::DockerImage), docker_image::spec;
    "authorized_key" => AuthorizedKey(authorized_key::AuthorizedKey), authorized_key::spec;
    "dnf" => Dnf(dnf::Dnf), dnf::spec;
    "yum" => Yum(dnf::Yum), dnf::yum_spec;
    "docker_container" => DockerContainer(docker_container::DockerContainer), docker_container::spec;
    "docker_network" => DockerNetwork(docker_network::DockerNetwork), docker_network::spec;
    "docker_volume" => DockerVolume(docker_volume::DockerVolume), docker_volume::spec;
    "docker_login" => DockerLogin(docker_login::DockerLogin), docker_login::spec;
    "openssl_privatekey" => OpensslPrivatekey(openssl_privatekey::OpensslPrivatekey), openssl_privatekey::spec;
    "openssl_csr" => OpensslCsr(openssl_csr::OpensslCsr), openssl_csr::spec;
    "x509_certificate" => X509Certificate(x509_certificate::X509Certificate), x509_certificate::spec;
    "openssl_certificate" => OpensslCertificate(x509_certificate::X509Certificate), x509_certificate::openssl_certificate_spec;
    "mysql_db" => MysqlDb(mysql_db::MysqlDb), mysql_db::spec;
    "mysql_user" => MysqlUser(mysql_user::MysqlUser), mysql_user::spec;
    "systemd" => Systemd(systemd::Systemd), systemd::spec;
    "timezone" => Timezone(timezone::Timezone), timezone::spec;
    "firewalld" => Firewalld(firewalld::Firewalld), firewalld::spec;
    "seboolean" => Seboolean(seboolean::Seboolean), seboolean::spec;
    "systemd_service" => SystemdService(systemd::Systemd), systemd::service_spec;
    "copy-ca-crt" => CopyCaCrt(copy_ca_crt::CopyCaCrt), copy_ca_crt::spec;
    "dump-certs" => DumpCerts(dump_certs::DumpCerts), dump_certs::spec;
    "push-test" => PushTest(push_test::PushTest), push_test::spec;
    "set-bypass-ca" => SetBypassCa(set_bypass_ca::SetBypassCa), set_bypass_ca::spec;
    "upload-ca" => UploadCa(upload_ca::UploadCa), upload_ca::spec;
    "getent" => Getent(getent::Getent), getent::spec;
    "zypper" => Zypper(zypper::Zypper), zypper::spec;
    "zypper_repository" => ZypperRepository(zypper_repository::ZypperRepository), zypper_repository::spec;
    "pacman" => Pacman(pacman::Pacman), pacman::spec;
    "pkgng" => Pkgng(pkgng::Pkgng), pkgng::spec;
    "openbsd_pkg" => OpenbsdPkg(openbsd_pkg::OpenbsdPkg), openbsd_pkg::spec;
}

fn build_builtin(key: &str, args: Map<String, Value>) -> Result<Box<dyn DynTask>, String> {
    let tagged = serde_json::json!({ "module": key, "args": Value::Object(args) });
    serde_json::from_value::<Builtin>(tagged)
        .map(Builtin::into_task)
        .map_err(|e| e.to_string())
}
