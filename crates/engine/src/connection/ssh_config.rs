//! A host's effective SSH client settings, resolved the way OpenSSH resolves
//! them, for the subset of OpenSSH's configuration that the native transport
//! (`native.rs`) implements.
//!
//! # Why a subset, and why "not understood" is an answer
//!
//! The native transport is only correct when it connects exactly where, as
//! whom, with the keys and with the host key checks the system `ssh` would
//! use. So this module resolves everything OpenSSH would read for the host —
//! the inventory's connection variables, the words of
//! `ansible_ssh_common_args`, `~/.ssh/config` and `/etc/ssh/ssh_config` (or
//! the `-F` file instead), with `Host` blocks and `Include` — and answers
//! [`Resolution::NotUnderstood`] as soon as anything in effect for the host
//! is outside the subset (`ProxyCommand`, `Match`, certificates, unknown
//! keywords…). The host then uses OpenSSH, which understands everything.
//! Settings in `Host` blocks that do not apply to the host are never looked
//! at, so one jump host in a big `~/.ssh/config` does not send every host to
//! OpenSSH.
//!
//! # OpenSSH's rules, as implemented here
//!
//! - Command line first, then the user's file, then the system file; for
//!   each keyword the first value obtained wins. `IdentityFile` and
//!   `SendEnv` accumulate instead. `-p` and `-l` overwrite (ssh assigns them
//!   while it parses its arguments), `-o` obeys first-wins.
//! - `Host` lines list patterns with `*` and `?`; a host matches when one
//!   pattern matches and no negated (`!`) pattern does. Patterns are matched
//!   against the host as given to ssh (the inventory's `ansible_host`, or
//!   its name), never against the `HostName` it resolves to.
//! - `Include` takes globs; relative ones are relative to `~/.ssh` in user
//!   files (and `-F` files) and to `/etc/ssh` in the system file. An
//!   `Include` inside a `Host` block only applies when the block does.
//! - Tokens (`%d %u %h %r %p %n %%`) and `~` are expanded in `IdentityFile`
//!   and the known hosts files once every value is known, as ssh does.
//!
//! The functions are pure: files are read through [`Files`], so every rule
//! is tested with in-memory configurations below.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::connection::Target;
use crate::connection::algorithms::{self, Kind};
use crate::connection::ssh_refusal::Refusal;
use crate::wildcard;

/// Keywords that do not change how the native transport connects,
/// authenticates or what the remote scripts see, so their values are
/// accepted and ignored. Each one is here for a reason:
///
/// - `BatchMode`, `ConnectionAttempts`: dtrplay imposes batch mode and its
///   own retries on both transports (ssh.rs passes them before the user's
///   options).
/// - `LogLevel`, `VisualHostKey`, `EscapeChar`, `RequestTTY`,
///   `NumberOfPasswordPrompts`: interactive or diagnostic only.
/// - `UpdateHostKeys`, `AddKeysToAgent`: they change what ssh *writes*
///   (known_hosts, the agent), never what it accepts.
/// - `GSSAPIAuthentication`, `GSSAPIDelegateCredentials`,
///   `PasswordAuthentication`, `KbdInteractiveAuthentication`,
///   `ChallengeResponseAuthentication`, `PreferredAuthentications`,
///   `HostbasedAuthentication`: methods the native transport does not
///   offer. Debian's `/etc/ssh/ssh_config` turns GSSAPI on for every host,
///   so refusing it would send every host to OpenSSH; instead, in automatic
///   mode, a host whose native public key authentication fails is handed to
///   OpenSSH, which can try these methods.
/// - `ForwardX11`, `ForwardX11Trusted`, `XAuthLocation`, `ExitOnForwardFailure`,
///   `ClearAllForwardings`: dtrplay opens no forwardings.
/// - `TCPKeepAlive`, `Compression`, `IPQoS`, `Protocol`, `UseRoaming`,
///   `UseKeychain`, `IgnoreUnknown`: transport tuning or obsolete switches.
const IGNORED: &[&str] = &[
    "batchmode",
    "connectionattempts",
    "loglevel",
    "visualhostkey",
    "escapechar",
    "requesttty",
    "numberofpasswordprompts",
    "updatehostkeys",
    "addkeystoagent",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
    "preferredauthentications",
    "hostbasedauthentication",
    "forwardx11",
    "forwardx11trusted",
    "xauthlocation",
    "exitonforwardfailure",
    "clearallforwardings",
    "tcpkeepalive",
    "compression",
    "ipqos",
    "protocol",
    "useroaming",
    "usekeychain",
    "ignoreunknown",
];

/// Keywords that are harmless when switched off (`none` or `no`), and
/// outside the subset otherwise.
const OFF_ONLY: &[&str] = &[
    "proxycommand",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "forwardagent",
    "pkcs11provider",
    "securitykeyprovider",
    "localcommand",
    "permitlocalcommand",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "tunnel",
    "canonicalizehostname",
    "proxyusefdpass",
    "streamlocalbindunlink",
];

/// How deeply `Include` may nest, as in OpenSSH.
const MAX_INCLUDE_DEPTH: u32 = 16;

/// The identity files ssh tries when none is configured, in the order the
/// native transport tries them (the key types it supports).
const DEFAULT_IDENTITIES: [&str; 3] = ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"];

/// The known hosts files ssh reads when none is configured.
const DEFAULT_USER_KNOWN_HOSTS: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS: [&str; 2] =
    ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// The system-wide configuration file.
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// The keep-alive interval dtrplay asks of OpenSSH (ssh.rs passes
/// `ServerAliveInterval=15` after the user's options, so theirs wins).
const DEFAULT_ALIVE_INTERVAL: u64 = 15;

/// How configuration files are read and globs expanded; the real file
/// system in production, a map in tests.
pub trait Files: Sync {
    /// The file's text, or `None` when it does not exist or is unreadable
    /// (ssh skips a missing configuration file silently).
    fn read(&self, path: &Path) -> Option<String>;
    /// The existing paths matching a glob with `*` and `?`, sorted.
    fn glob(&self, pattern: &Path) -> Vec<PathBuf>;
}

/// The file system.
pub struct RealFiles;

impl Files for RealFiles {
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    fn glob(&self, pattern: &Path) -> Vec<PathBuf> {
        let mut found = vec![PathBuf::from("/")];
        for part in pattern.components().skip(1) {
            let part = part.as_os_str().to_string_lossy().into_owned();
            let mut next = Vec::new();
            for dir in &found {
                if part.contains(['*', '?']) {
                    if let Ok(entries) = std::fs::read_dir(dir) {
                        for entry in entries.flatten() {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            // Like glob(3), a wildcard never matches a leading dot.
                            if !name.starts_with('.') && wildcard::matches(&part, &name) {
                                next.push(dir.join(name));
                            }
                        }
                    }
                } else {
                    let path = dir.join(&part);
                    if path.exists() {
                        next.push(path);
                    }
                }
            }
            next.sort();
            found = next;
        }
        found
    }
}

/// Where the configuration comes from besides the target itself.
pub struct Env<'a> {
    /// The user's home directory (`~`, `%d`).
    pub home: PathBuf,
    /// The local user name (`%u`, and the default remote user).
    pub local_user: String,
    pub files: &'a dyn Files,
}

impl Env<'_> {
    /// The environment of this process.
    pub fn current(files: &dyn Files) -> Env<'_> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let local_user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .unwrap_or_else(|| "root".to_string());
        Env {
            home,
            local_user,
            files,
        }
    }
}

/// What the native transport needs to reach one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The host as given to ssh (`%n`): what known_hosts entries are for
    /// when no `HostName` is set, and what messages name.
    pub host: String,
    /// `HostName`, or the host.
    pub host_name: String,
    pub port: u16,
    pub user: String,
    /// Identity files in the order they are tried, tokens expanded. Missing
    /// ones are skipped at connect time, as ssh does.
    pub identity_files: Vec<PathBuf>,
    /// `CertificateFile`s, tokens expanded: OpenSSH user certificates
    /// offered with the identity whose public key they certify (besides
    /// `<identity>-cert.pub`, which ssh tries by itself).
    pub certificate_files: Vec<PathBuf>,
    /// Whether no agent key may be offered.
    pub identities_only: bool,
    pub user_known_hosts: Vec<PathBuf>,
    pub global_known_hosts: Vec<PathBuf>,
    /// Key exchange algorithms in order of preference (OpenSSH names that
    /// russh implements); `None` keeps russh's default order.
    pub kex: Option<Vec<String>>,
    /// `Ciphers`, `MACs`, `HostKeyAlgorithms` and
    /// `PubkeyAcceptedAlgorithms` as the lists to offer (`algorithms.rs`);
    /// `None` keeps the native default.
    pub ciphers: Option<Vec<String>>,
    pub macs: Option<Vec<String>>,
    pub host_key_algorithms: Option<Vec<String>>,
    pub pubkey_algorithms: Option<Vec<String>>,
    /// `HostKeyAlias`: the name host keys are looked up under instead of
    /// `[host_name]:port`.
    pub host_key_alias: Option<String>,
    /// `CheckHostIP`: also check the key recorded for the address the host
    /// name resolved to.
    pub check_host_ip: bool,
    /// `AddressFamily`.
    pub address_family: AddressFamily,
    /// `ConnectTimeout` from the command line (the inventory's arguments),
    /// which comes before dtrplay's own in ssh.rs; `None` uses dtrplay's.
    pub connect_timeout: Option<Duration>,
    /// `IdentityAgent`: where the agent's socket is.
    pub identity_agent: IdentityAgent,
    /// `StrictHostKeyChecking`, and where it was set (`None`: ssh's
    /// default, which batch mode makes strict).
    pub strict: Strict,
    pub strict_place: Option<String>,
    /// `HashKnownHosts`: record accepted keys under a hashed name.
    pub hash_known_hosts: bool,
    /// `ProxyJump` (or `-J`): the jump hosts, first one first.
    pub proxy_jump: Vec<Hop>,
    /// The `-F` file of the command line, which jump hosts are resolved
    /// with too (ssh passes it on to the ssh it runs for them).
    pub config_file: Option<String>,
    /// `ServerAliveInterval`; zero turns keep-alives off.
    pub alive_interval: Duration,
    /// `ServerAliveCountMax`.
    pub alive_count_max: usize,
    /// `SendEnv` patterns, for the environment passed to the remote shell.
    pub send_env: Vec<String>,
}

/// What to do with a host key that known_hosts does not confirm
/// (`StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strict {
    /// `yes` (and `ask`, which batch mode turns into `yes`): refuse unknown
    /// and changed keys.
    #[default]
    Yes,
    /// `accept-new`: record unknown keys, refuse changed ones.
    AcceptNew,
    /// `no`: record unknown keys and accept changed ones.
    No,
}

impl Strict {
    /// The value as OpenSSH spells it.
    pub fn word(self) -> &'static str {
        match self {
            Strict::Yes => "yes",
            Strict::AcceptNew => "accept-new",
            Strict::No => "no",
        }
    }

    /// The warning for a run that reaches `host` with this policy, or none
    /// when host keys are checked. `place` is where the setting was made.
    pub fn warning(self, host: &str, place: Option<&str>) -> Option<String> {
        let place = match place {
            Some("-o") | None => "in the ssh arguments".to_string(),
            Some(place) => format!("at {place}"),
        };
        match self {
            Strict::Yes => None,
            Strict::AcceptNew => Some(format!(
                "host key checking is relaxed for {host} (StrictHostKeyChecking accept-new, {place}): a key seen for the first time is accepted and recorded without verification; a changed key is still refused"
            )),
            Strict::No => Some(format!(
                "host key checking is off for {host} (StrictHostKeyChecking no, {place}): an unknown or changed host key is accepted, so any machine that answers at its address is trusted with this run; remove the setting to check the host against known_hosts"
            )),
        }
    }
}

/// One jump host of `ProxyJump`: `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Hop {
    fn parse(text: &str) -> Result<Hop, Refusal> {
        let rest = text.strip_prefix("ssh://").unwrap_or(text);
        let (user, rest) = match rest.rsplit_once('@') {
            Some((user, rest)) => (Some(user.to_string()), rest),
            None => (None, rest),
        };
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, tail)) => (host, tail.strip_prefix(':')),
                None => {
                    return Err(Refusal::JumpHost {
                        text: text.to_string(),
                    });
                }
            },
            None => match rest.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (rest, None),
            },
        };
        if host.is_empty() || user.as_deref() == Some("") {
            return Err(Refusal::JumpHost {
                text: text.to_string(),
            });
        }
        Ok(Hop {
            user,
            host: host.to_string(),
            port: port.map(self::port).transpose()?,
        })
    }

    /// How ssh reaches this jump host: `ssh [-F file] [-l user] [-p port]
    /// host`, resolved like any host but without the inventory's options.
    pub fn target(&self, config_file: Option<&str>) -> Target {
        Target {
            name: self.host.clone(),
            address: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            key_file: None,
            ssh_args: config_file
                .map(|f| vec!["-F".to_string(), f.to_string()])
                .unwrap_or_default(),
            transport: crate::connection::Transport::Ssh,
            ssh_client: None,
        }
    }
}

/// Which addresses of a host name may be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressFamily {
    #[default]
    Any,
    Inet,
    Inet6,
}

impl AddressFamily {
    /// Whether `address` is of this family.
    pub fn admits(self, address: &std::net::SocketAddr) -> bool {
        match self {
            AddressFamily::Any => true,
            AddressFamily::Inet => address.is_ipv4(),
            AddressFamily::Inet6 => address.is_ipv6(),
        }
    }
}

/// Where the agent is reached (`IdentityAgent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IdentityAgent {
    /// `SSH_AUTH_SOCK`, as when nothing is configured.
    #[default]
    Environment,
    /// `none`: no agent.
    None,
    /// A socket path, tokens and `~` expanded.
    Socket(PathBuf),
}

/// The answer for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Everything in effect for the host is understood.
    Native(Box<Settings>),
    /// Something is not; the host must use OpenSSH.
    NotUnderstood { reason: String },
}

/// Resolves `target`'s settings the way `ssh` would for the command line
/// ssh.rs builds for it.
pub fn resolve(target: &Target, env: &Env<'_>) -> Resolution {
    match Resolver::new(target, env).run(target) {
        Ok(settings) => Resolution::Native(Box::new(settings)),
        Err(refusal) => Resolution::NotUnderstood {
            reason: refusal.to_string(),
        },
    }
}

/// The `StrictHostKeyChecking` in effect for `target` and where it was set,
/// read the way [`resolve`] reads everything, skipping what the native
/// transport does not understand (`Match` blocks count as not applying).
/// This is how a host that goes to OpenSSH gets the same warning.
pub fn host_key_policy(target: &Target, env: &Env<'_>) -> (Strict, Option<String>) {
    let mut resolver = Resolver::new(target, env);
    resolver.lenient = true;
    match resolver.run(target) {
        Ok(settings) => (settings.strict, settings.strict_place),
        Err(_) => match resolver_values_strict(target, env) {
            Some((strict, place)) => (strict, Some(place)),
            None => (Strict::Yes, None),
        },
    }
}

/// The policy from the command line alone, for configurations that cannot
/// be read at all (a missing `-F` file, a line that does not parse).
fn resolver_values_strict(target: &Target, env: &Env<'_>) -> Option<(Strict, String)> {
    let mut resolver = Resolver::new(target, env);
    resolver.lenient = true;
    let _ = resolver.command_line(&target.ssh_args);
    resolver.values.strict
}

/// Values as obtained, before defaults and token expansion.
#[derive(Debug, Default)]
struct Values {
    host_name: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity_files: Vec<String>,
    certificate_files: Vec<String>,
    identities_only: Option<bool>,
    user_known_hosts: Option<Vec<String>>,
    global_known_hosts: Option<Vec<String>>,
    kex: Option<Vec<String>>,
    ciphers: Option<Vec<String>>,
    macs: Option<Vec<String>>,
    host_key_algorithms: Option<Vec<String>>,
    pubkey_algorithms: Option<Vec<String>>,
    host_key_alias: Option<String>,
    check_host_ip: Option<bool>,
    address_family: Option<AddressFamily>,
    connect_timeout: Option<u64>,
    identity_agent: Option<String>,
    strict: Option<(Strict, String)>,
    hash_known_hosts: Option<bool>,
    proxy_jump: Option<Vec<Hop>>,
    alive_interval: Option<u64>,
    alive_count_max: Option<usize>,
    send_env: Vec<String>,
}

/// Sets `slot` unless a value was already obtained.
fn first<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

struct Resolver<'a> {
    env: &'a Env<'a>,
    /// The command line's `-F` file.
    config_file: Option<String>,
    /// Whether what is not understood is skipped rather than an answer:
    /// for the host key policy of hosts that go to OpenSSH anyway.
    lenient: bool,
    /// The host as given to ssh, which `Host` patterns are matched against.
    host: String,
    values: Values,
}

impl<'a> Resolver<'a> {
    fn new(target: &Target, env: &'a Env<'a>) -> Resolver<'a> {
        Resolver {
            env,
            config_file: None,
            lenient: false,
            host: target.address.clone(),
            values: Values::default(),
        }
    }

    fn run(mut self, target: &Target) -> Result<Settings, Refusal> {
        // The words ssh.rs puts before the inventory's own arguments.
        let mut words: Vec<String> = Vec::new();
        if let Some(port) = target.port {
            words.extend(["-p".to_string(), port.to_string()]);
        }
        if let Some(user) = &target.user {
            words.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(key) = &target.key_file {
            words.extend([
                "-i".to_string(),
                key.display().to_string(),
                "-o".to_string(),
                "IdentitiesOnly=yes".to_string(),
            ]);
        }
        words.extend(target.ssh_args.iter().cloned());
        let config_file = self.command_line(&words)?;
        self.config_file.clone_from(&config_file);
        match config_file {
            Some(file) if file == "none" => {}
            Some(file) => {
                let path = self.expand_path(&file)?;
                let text = self
                    .env
                    .files
                    .read(&path)
                    .ok_or_else(|| Refusal::Unreadable { path: path.clone() })?;
                self.file(&path, &text, Scope::User, 0)?;
            }
            None => {
                let user = self.env.home.join(".ssh/config");
                if let Some(text) = self.env.files.read(&user) {
                    self.file(&user, &text, Scope::User, 0)?;
                }
                let system = PathBuf::from(SYSTEM_CONFIG);
                if let Some(text) = self.env.files.read(&system) {
                    self.file(&system, &text, Scope::System, 0)?;
                }
            }
        }
        self.finish()
    }

    /// Applies ssh's command line words; returns the `-F` file, if any.
    fn command_line(&mut self, words: &[String]) -> Result<Option<String>, Refusal> {
        let mut config_file = None;
        let mut rest = words.iter();
        while let Some(word) = rest.next() {
            let Some(flag) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
                return Err(Refusal::Argument { word: word.clone() });
            };
            let mut chars = flag.chars();
            let letter = chars.next().unwrap_or('-');
            let attached: String = chars.collect();
            if "qTxa".contains(letter) && attached.chars().all(|c| "qTxa".contains(c)) {
                // Quiet, no terminal, no X11 and no agent forwarding: what the
                // native transport does anyway.
                continue;
            }
            if !"FopliJ".contains(letter) {
                return Err(Refusal::Option { word: word.clone() });
            }
            let value = if attached.is_empty() {
                rest.next()
                    .cloned()
                    .ok_or_else(|| Refusal::MissingValue { word: word.clone() })?
            } else {
                attached
            };
            match letter {
                'F' => first(&mut config_file, value),
                'o' => {
                    let (keyword, args) =
                        split_line(&value).ok_or_else(|| Refusal::OptionSyntax {
                            value: value.clone(),
                        })?;
                    self.apply(&keyword, &args, "-o")?;
                }
                'p' => self.values.port = Some(port(&value)?),
                'l' => self.values.user = Some(value),
                'J' => self.apply("proxyjump", std::slice::from_ref(&value), "-J")?,
                _ => self.values.identity_files.push(value),
            }
        }
        Ok(config_file)
    }

    /// Applies one configuration file.
    fn file(&mut self, path: &Path, text: &str, scope: Scope, depth: u32) -> Result<(), Refusal> {
        let mut active = true;
        for (index, line) in text.lines().enumerate() {
            let place = format!("{}:{}", path.display(), index + 1);
            let Some((keyword, args)) = split_line(line) else {
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                return Err(Refusal::LineSyntax { place });
            };
            match keyword.as_str() {
                "host" => active = host_matches(&args, &self.host),
                "match" => {
                    if args.len() == 1 && args[0].eq_ignore_ascii_case("all") {
                        active = true;
                    } else if self.lenient {
                        // Its conditions are OpenSSH's to evaluate.
                        active = false;
                    } else {
                        return Err(Refusal::Match { place });
                    }
                }
                _ if !active => {}
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(Refusal::IncludeDepth { place });
                    }
                    for pattern in &args {
                        let pattern = self.expand_tilde(pattern)?;
                        let pattern = if Path::new(&pattern).is_absolute() {
                            PathBuf::from(pattern)
                        } else {
                            scope.include_dir(&self.env.home).join(pattern)
                        };
                        for included in self.env.files.glob(&pattern) {
                            if let Some(text) = self.env.files.read(&included) {
                                self.file(&included, &text, scope, depth + 1)?;
                            }
                        }
                    }
                }
                _ => self.apply(&keyword, &args, &place)?,
            }
        }
        Ok(())
    }

    /// Applies one keyword, or skips it in lenient mode when it is not
    /// understood.
    fn apply(&mut self, keyword: &str, args: &[String], place: &str) -> Result<(), Refusal> {
        match self.keyword(keyword, args, place) {
            Err(_) if self.lenient => Ok(()),
            other => other,
        }
    }

    /// Applies one keyword (lowercase) with its arguments.
    fn keyword(&mut self, keyword: &str, args: &[String], place: &str) -> Result<(), Refusal> {
        let one = || -> Result<&String, Refusal> {
            match args {
                [value] => Ok(value),
                _ => Err(Refusal::OneValue {
                    keyword: keyword.to_string(),
                    place: place.to_string(),
                }),
            }
        };
        let yes_no = |value: &str| -> Result<bool, Refusal> {
            match value.to_ascii_lowercase().as_str() {
                "yes" | "true" => Ok(true),
                "no" | "false" => Ok(false),
                other => Err(Refusal::YesNo {
                    keyword: keyword.to_string(),
                    value: other.to_string(),
                    place: place.to_string(),
                }),
            }
        };
        let number = |keyword: &'static str| Refusal::Number {
            keyword,
            place: place.to_string(),
        };
        let unsupported = || Refusal::Keyword {
            keyword: display_keyword(keyword),
            place: place.to_string(),
        };
        let values = &mut self.values;
        match keyword {
            "hostname" => first(&mut values.host_name, one()?.clone()),
            "port" => {
                let port = port(one()?)?;
                first(&mut values.port, port);
            }
            "user" => first(&mut values.user, one()?.clone()),
            "identityfile" => values.identity_files.push(one()?.clone()),
            "certificatefile" => values.certificate_files.push(one()?.clone()),
            "identitiesonly" => {
                let on = yes_no(one()?)?;
                first(&mut values.identities_only, on);
            }
            "userknownhostsfile" => first(&mut values.user_known_hosts, args.to_vec()),
            "globalknownhostsfile" => first(&mut values.global_known_hosts, args.to_vec()),
            "stricthostkeychecking" => {
                // Batch mode turns `ask` into a refusal of unknown keys, the
                // same as `yes`.
                let policy = match one()?.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "ask" => Strict::Yes,
                    "accept-new" => Strict::AcceptNew,
                    "no" | "false" | "off" => Strict::No,
                    other => {
                        return Err(Refusal::Strict {
                            value: other.to_string(),
                            place: place.to_string(),
                        });
                    }
                };
                first(&mut values.strict, (policy, place.to_string()));
            }
            "proxyjump" => {
                let value = one()?;
                if values.proxy_jump.is_none() {
                    let hops = if value.eq_ignore_ascii_case("none") {
                        Vec::new()
                    } else {
                        value
                            .split(',')
                            .map(|hop| {
                                Hop::parse(hop).map_err(|e| Refusal::At {
                                    refusal: Box::new(e),
                                    place: place.to_string(),
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    };
                    values.proxy_jump = Some(hops);
                }
            }
            "hashknownhosts" => {
                let on = yes_no(one()?)?;
                first(&mut values.hash_known_hosts, on);
            }
            "kexalgorithms"
            | "ciphers"
            | "macs"
            | "hostkeyalgorithms"
            | "pubkeyacceptedalgorithms"
            | "pubkeyacceptedkeytypes" => {
                let (kind, slot) = match keyword {
                    "kexalgorithms" => (Kind::Kex, &mut values.kex),
                    "ciphers" => (Kind::Cipher, &mut values.ciphers),
                    "macs" => (Kind::Mac, &mut values.macs),
                    "hostkeyalgorithms" => (Kind::HostKey, &mut values.host_key_algorithms),
                    _ => (Kind::Pubkey, &mut values.pubkey_algorithms),
                };
                if slot.is_none() {
                    let list =
                        algorithms::list(kind, one()?).map_err(|reason| Refusal::Algorithms {
                            reason,
                            keyword: kind.keyword(),
                            place: place.to_string(),
                        })?;
                    *slot = Some(list);
                }
            }
            "hostkeyalias" => first(&mut values.host_key_alias, one()?.clone()),
            "checkhostip" => {
                let on = yes_no(one()?)?;
                first(&mut values.check_host_ip, on);
            }
            "addressfamily" => {
                let family = match one()?.to_ascii_lowercase().as_str() {
                    "any" => AddressFamily::Any,
                    "inet" => AddressFamily::Inet,
                    "inet6" => AddressFamily::Inet6,
                    other => {
                        return Err(Refusal::AddressFamily {
                            value: other.to_string(),
                            place: place.to_string(),
                        });
                    }
                };
                first(&mut values.address_family, family);
            }
            "connecttimeout" => {
                let seconds = one()?
                    .parse::<u64>()
                    .map_err(|_| number("ConnectTimeout"))?;
                // ssh.rs passes dtrplay's own ConnectTimeout after the
                // inventory's arguments and before the files, so only a
                // value from the command line beats it.
                if place == "-o" {
                    first(&mut values.connect_timeout, seconds);
                }
            }
            "identityagent" => first(&mut values.identity_agent, one()?.clone()),
            "serveraliveinterval" => {
                let seconds = one()?
                    .parse::<u64>()
                    .map_err(|_| number("ServerAliveInterval"))?;
                first(&mut values.alive_interval, seconds);
            }
            "serveralivecountmax" => {
                let count = one()?
                    .parse::<usize>()
                    .map_err(|_| number("ServerAliveCountMax"))?;
                first(&mut values.alive_count_max, count);
            }
            "sendenv" => {
                for pattern in args {
                    match pattern.strip_prefix('-') {
                        Some(removed) => values.send_env.retain(|p| p != removed),
                        None => values.send_env.push(pattern.clone()),
                    }
                }
            }
            "pubkeyauthentication" => {
                if !yes_no(one()?)? {
                    return Err(Refusal::NoPubkey {
                        place: place.to_string(),
                    });
                }
            }
            _ if IGNORED.contains(&keyword) => {}
            _ if OFF_ONLY.contains(&keyword) => {
                let off = matches!(
                    args.first().map(|a| a.to_ascii_lowercase()).as_deref(),
                    Some("none" | "no")
                );
                if !off {
                    return Err(unsupported());
                }
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// Applies defaults and expands tokens.
    fn finish(self) -> Result<Settings, Refusal> {
        let values = &self.values;
        let host_name = match &values.host_name {
            Some(name) => self.expand_host_name(name)?,
            None => self.host.clone(),
        };
        let port = values.port.unwrap_or(22);
        let user = values
            .user
            .clone()
            .unwrap_or_else(|| self.env.local_user.clone());
        let tokens = Tokens {
            home: self.env.home.display().to_string(),
            local_user: self.env.local_user.clone(),
            host_name: host_name.clone(),
            remote_user: user.clone(),
            port,
            original: self.host.clone(),
        };
        let paths = |raw: &[String]| -> Result<Vec<PathBuf>, Refusal> {
            raw.iter()
                .filter(|p| !p.eq_ignore_ascii_case("none"))
                .map(|p| {
                    let expanded = tokens.expand(p)?;
                    self.expand_path(&expanded)
                })
                .collect()
        };
        let identity_files = if values.identity_files.is_empty() {
            paths(&DEFAULT_IDENTITIES.map(String::from))?
        } else {
            paths(&values.identity_files)?
        };
        let certificate_files = paths(&values.certificate_files)?;
        let user_known_hosts = match &values.user_known_hosts {
            Some(files) => paths(files)?,
            None => paths(&DEFAULT_USER_KNOWN_HOSTS.map(String::from))?,
        };
        let global_known_hosts = match &values.global_known_hosts {
            Some(files) => paths(files)?,
            None => paths(&DEFAULT_GLOBAL_KNOWN_HOSTS.map(String::from))?,
        };
        let identity_agent = match values.identity_agent.as_deref() {
            None => IdentityAgent::Environment,
            Some(agent) if agent.eq_ignore_ascii_case("none") => IdentityAgent::None,
            Some("SSH_AUTH_SOCK") => IdentityAgent::Environment,
            Some(agent) => {
                let agent = match agent.strip_prefix('$') {
                    Some(name) => std::env::var(name).map_err(|_| Refusal::UnsetAgent {
                        name: name.to_string(),
                    })?,
                    None => tokens.expand(agent)?,
                };
                IdentityAgent::Socket(self.expand_path(&agent)?)
            }
        };
        Ok(Settings {
            ciphers: values.ciphers.clone(),
            macs: values.macs.clone(),
            host_key_algorithms: values.host_key_algorithms.clone(),
            pubkey_algorithms: values.pubkey_algorithms.clone(),
            host_key_alias: values.host_key_alias.clone(),
            check_host_ip: values.check_host_ip.unwrap_or(false),
            address_family: values.address_family.unwrap_or_default(),
            connect_timeout: values.connect_timeout.map(Duration::from_secs),
            identity_agent,
            strict: values.strict.as_ref().map_or(Strict::Yes, |(s, _)| *s),
            strict_place: values.strict.as_ref().map(|(_, place)| place.clone()),
            hash_known_hosts: values.hash_known_hosts.unwrap_or(false),
            proxy_jump: values.proxy_jump.clone().unwrap_or_default(),
            certificate_files,
            config_file: self.config_file.clone(),
            host: self.host.clone(),
            host_name,
            port,
            user,
            identity_files,
            identities_only: values.identities_only.unwrap_or(false),
            user_known_hosts,
            global_known_hosts,
            kex: values.kex.clone(),
            alive_interval: Duration::from_secs(
                values.alive_interval.unwrap_or(DEFAULT_ALIVE_INTERVAL),
            ),
            alive_count_max: values.alive_count_max.unwrap_or(3),
            send_env: values.send_env.clone(),
        })
    }

    /// `HostName` may only use `%h` (the host as given) and `%%`.
    fn expand_host_name(&self, name: &str) -> Result<String, Refusal> {
        let mut out = String::new();
        let mut chars = name.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(&self.host),
                Some('%') => out.push('%'),
                other => {
                    return Err(Refusal::Token {
                        token: other.map(String::from).unwrap_or_default(),
                        text: "HostName".to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// `~/x` → home; `~user/x` only for the local user.
    fn expand_tilde(&self, path: &str) -> Result<String, Refusal> {
        let Some(rest) = path.strip_prefix('~') else {
            return Ok(path.to_string());
        };
        let (user, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if user.is_empty() || user == self.env.local_user {
            Ok(format!("{}{tail}", self.env.home.display()))
        } else {
            Err(Refusal::OtherHome {
                path: path.to_string(),
            })
        }
    }

    /// A configured path: `~` expanded, `${VAR}` refused, relative paths
    /// relative to the home directory (as ssh does for `IdentityFile`).
    fn expand_path(&self, path: &str) -> Result<PathBuf, Refusal> {
        if path.contains("${") {
            return Err(Refusal::EnvInPath {
                path: path.to_string(),
            });
        }
        let path = PathBuf::from(self.expand_tilde(path)?);
        Ok(if path.is_absolute() {
            path
        } else {
            self.env.home.join(path)
        })
    }
}

/// Which directory relative `Include`s are relative to.
#[derive(Debug, Clone, Copy)]
enum Scope {
    User,
    System,
}

impl Scope {
    fn include_dir(self, home: &Path) -> PathBuf {
        match self {
            Scope::User => home.join(".ssh"),
            Scope::System => PathBuf::from("/etc/ssh"),
        }
    }
}

/// The values of the tokens in paths.
struct Tokens {
    home: String,
    local_user: String,
    host_name: String,
    remote_user: String,
    port: u16,
    original: String,
}

impl Tokens {
    fn expand(&self, text: &str) -> Result<String, Refusal> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('d') => out.push_str(&self.home),
                Some('u') => out.push_str(&self.local_user),
                Some('h') => out.push_str(&self.host_name),
                Some('r') => out.push_str(&self.remote_user),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('n') => out.push_str(&self.original),
                Some('%') => out.push('%'),
                other => {
                    return Err(Refusal::Token {
                        token: other.map(String::from).unwrap_or_default(),
                        text: text.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Splits a configuration line into its keyword (lowercase) and arguments,
/// the way ssh does: the keyword ends at whitespace or `=`, arguments are
/// separated by whitespace and may be double-quoted. `None` for blank lines,
/// comments and unbalanced quotes.
pub fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            // An unquoted `#` starts a trailing comment.
            '#' if !quoted && !in_word => break,
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return None;
    }
    if in_word {
        args.push(current);
    }
    Some((keyword, args))
}

/// Whether `host` matches a `Host` line's patterns.
pub fn host_matches(patterns: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let mut matched = false;
    for pattern in patterns {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if wildcard::matches(negated, &host) {
                    return false;
                }
            }
            None => matched |= wildcard::matches(&pattern, &host),
        }
    }
    matched
}

fn port(value: &str) -> Result<u16, Refusal> {
    value
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| Refusal::Port {
            value: value.to_string(),
        })
}

/// A lowercase keyword in OpenSSH's spelling, for messages.
fn display_keyword(keyword: &str) -> String {
    const NAMES: &[&str] = &[
        "ProxyJump",
        "ProxyCommand",
        "ControlMaster",
        "ControlPath",
        "ControlPersist",
        "ForwardAgent",
        "PKCS11Provider",
        "SecurityKeyProvider",
        "CertificateFile",
        "HostKeyAlgorithms",
        "Ciphers",
        "MACs",
        "HostKeyAlias",
        "LocalCommand",
        "PermitLocalCommand",
        "LocalForward",
        "RemoteForward",
        "DynamicForward",
        "Tunnel",
        "CanonicalizeHostname",
        "BindAddress",
        "BindInterface",
        "AddressFamily",
        "IdentityAgent",
        "KnownHostsCommand",
        "SetEnv",
        "RekeyLimit",
        "PubkeyAcceptedAlgorithms",
        "PubkeyAcceptedKeyTypes",
        "CASignatureAlgorithms",
        "RevokedHostKeys",
        "VerifyHostKeyDNS",
        "StreamLocalBindUnlink",
        "ProxyUseFdpass",
    ];
    NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(keyword))
        .map(|n| n.to_string())
        .unwrap_or_else(|| keyword.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::connection::Transport;

    /// Configuration files in memory.
    struct Map(BTreeMap<PathBuf, String>);

    impl Files for Map {
        fn read(&self, path: &Path) -> Option<String> {
            self.0.get(path).cloned()
        }

        fn glob(&self, pattern: &Path) -> Vec<PathBuf> {
            let pattern = pattern.display().to_string();
            self.0
                .keys()
                .filter(|p| wildcard::matches(&pattern, &p.display().to_string()))
                .cloned()
                .collect()
        }
    }

    fn target(address: &str, args: &str) -> Target {
        Target {
            name: "web1".into(),
            address: address.into(),
            port: None,
            user: None,
            key_file: None,
            ssh_args: args.split_whitespace().map(str::to_string).collect(),
            transport: Transport::Ssh,
            ssh_client: None,
        }
    }

    fn resolve_with(target: &Target, files: &[(&str, &str)]) -> Resolution {
        let map = Map(files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect());
        let env = Env {
            home: PathBuf::from("/home/me"),
            local_user: "me".into(),
            files: &map,
        };
        resolve(target, &env)
    }

    fn settings(target: &Target, files: &[(&str, &str)]) -> Settings {
        match resolve_with(target, files) {
            Resolution::Native(s) => *s,
            Resolution::NotUnderstood { reason } => panic!("not understood: {reason}"),
        }
    }

    const USER: &str = "/home/me/.ssh/config";
    const SYSTEM: &str = "/etc/ssh/ssh_config";
    const DEBIAN: &str = "Include /etc/ssh/ssh_config.d/*.conf\nHost *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n";

    #[test]
    fn defaults_without_any_configuration() {
        let s = settings(&target("web1.example.com", ""), &[]);
        assert_eq!(s.host_name, "web1.example.com");
        assert_eq!(s.port, 22);
        assert_eq!(s.user, "me");
        assert_eq!(
            s.identity_files,
            [
                "/home/me/.ssh/id_ed25519",
                "/home/me/.ssh/id_ecdsa",
                "/home/me/.ssh/id_rsa"
            ]
            .map(PathBuf::from)
        );
        assert!(!s.identities_only);
        assert_eq!(
            s.user_known_hosts,
            ["/home/me/.ssh/known_hosts", "/home/me/.ssh/known_hosts2"].map(PathBuf::from)
        );
        assert_eq!(s.global_known_hosts.len(), 2);
        assert_eq!(s.kex, None);
        assert_eq!(s.alive_interval, Duration::from_secs(15));
    }

    #[test]
    fn debian_system_config_is_understood() {
        let s = settings(&target("h", ""), &[(SYSTEM, DEBIAN)]);
        assert_eq!(s.send_env, ["LANG", "LC_*"]);
    }

    /// One row: the inventory (address, common args), the files, and the
    /// expected (host name, port, user, identity files) or a reason fragment.
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        Result<(&'a str, u16, &'a str, &'a [&'a str]), &'a str>,
    );

    #[test]
    fn resolution_table() {
        let rows: &[Row] = &[
            // Host blocks: first value wins, patterns and negation.
            (
                "web1",
                "",
                &[(
                    USER,
                    "Host web*\n  HostName 10.0.0.1\n  User deploy\nHost *\n  User nobody\n  Port 2200\n",
                )],
                Ok((
                    "10.0.0.1",
                    2200,
                    "deploy",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            (
                "web1",
                "",
                &[(USER, "Host * !web1\n  Port 1\nHost w?b1 db\n  Port 2\n")],
                Ok((
                    "web1",
                    2,
                    "me",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            // Keywords are case-insensitive, `=` separates, quotes group.
            (
                "h",
                "",
                &[(
                    USER,
                    "HOSTNAME=\"my host\"\nport = 23\nIdentityFile \"~/my keys/%r@%h\"\nuser root # trailing comment\n",
                )],
                Ok(("my host", 23, "root", &["/home/me/my keys/root@my host"])),
            ),
            // The user's file wins over the system file.
            (
                "h",
                "",
                &[(USER, "Port 5\n"), (SYSTEM, "Port 6\nUser sys\n")],
                Ok((
                    "h",
                    5,
                    "sys",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            // -F replaces both files; -o comes before the file.
            (
                "h",
                "-F /cfg -o Port=7 -oUser=x",
                &[
                    (USER, "Port 5\n"),
                    ("/cfg", "Port 8\nIdentityFile %d/k-%u-%n-%p\n"),
                ],
                Ok(("h", 7, "x", &["/home/me/k-me-h-7"])),
            ),
            // The inventory's values come first; IdentityFile accumulates.
            (
                "h",
                "-i /k2",
                &[(USER, "IdentityFile /k3\nHostName %h.example.com\n")],
                Ok(("h.example.com", 22, "me", &["/k2", "/k3"])),
            ),
            // Include with globs, relative to ~/.ssh, only inside active blocks.
            (
                "h",
                "",
                &[
                    (
                        USER,
                        "Host other\n  Include never.conf\nHost *\n  Include conf.d/*.conf\n",
                    ),
                    ("/home/me/.ssh/conf.d/a.conf", "Port 40\n"),
                    ("/home/me/.ssh/conf.d/b.conf", "Port 41\nUser b\n"),
                    ("/home/me/.ssh/never.conf", "ProxyJump bastion\n"),
                ],
                Ok((
                    "h",
                    40,
                    "b",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            // System Includes are relative to /etc/ssh.
            (
                "h",
                "",
                &[
                    (SYSTEM, "Include ssh_config.d/*.conf\n"),
                    ("/etc/ssh/ssh_config.d/x.conf", "User etc\n"),
                ],
                Ok((
                    "h",
                    22,
                    "etc",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            // A ProxyJump for another host does not matter; `none` is fine.
            (
                "h",
                "",
                &[(
                    USER,
                    "Host bastion-*\n  ProxyJump b\nHost h\n  ProxyJump none\n  ControlMaster no\n",
                )],
                Ok((
                    "h",
                    22,
                    "me",
                    &[
                        "/home/me/.ssh/id_ed25519",
                        "/home/me/.ssh/id_ecdsa",
                        "/home/me/.ssh/id_rsa",
                    ],
                )),
            ),
            // Outside the subset.
            (
                "h",
                "-o ProxyCommand=nc",
                &[],
                Err("ProxyCommand is not supported natively"),
            ),
            (
                "h",
                "-o ProxyJump=a@",
                &[],
                Err("cannot parse the jump host"),
            ),
            ("h", "", &[(USER, "Match host h\n")], Err("Match blocks")),
            (
                "h",
                "",
                &[(USER, "FrobnicateLevel 3\n")],
                Err("frobnicatelevel is not supported"),
            ),
            (
                "h",
                "",
                &[(USER, "StrictHostKeyChecking maybe\n")],
                Err("StrictHostKeyChecking maybe is not one of"),
            ),
            (
                "h",
                "",
                &[(USER, "KexAlgorithms sntrup761x25519-sha512@openssh.com\n")],
                Err("sntrup761x25519"),
            ),
            (
                "h",
                "",
                &[(USER, "IdentityFile ~/.ssh/%l\n")],
                Err("token %l"),
            ),
            (
                "h",
                "",
                &[(USER, "IdentityFile ~bob/.ssh/id\n")],
                Err("another user"),
            ),
            (
                "h",
                "",
                &[(USER, "ControlMaster auto\n")],
                Err("ControlMaster"),
            ),
            ("h", "-F /missing", &[], Err("cannot be read")),
            (
                "h",
                "",
                &[(USER, "Host h\n  Port \"22\n")],
                Err("cannot parse"),
            ),
            ("h", "-o", &[], Err("lacks its value")),
            ("h", "", &[(USER, "Port 99999\n")], Err("not a port")),
        ];
        for (index, (address, args, files, expected)) in rows.iter().enumerate() {
            let got = resolve_with(&target(address, args), files);
            match (expected, got) {
                (Ok((host_name, port, user, keys)), Resolution::Native(s)) => {
                    assert_eq!(s.host_name, *host_name, "row {index}");
                    assert_eq!(s.port, *port, "row {index}");
                    assert_eq!(s.user, *user, "row {index}");
                    let keys: Vec<PathBuf> = keys.iter().map(PathBuf::from).collect();
                    assert_eq!(s.identity_files, keys, "row {index}");
                }
                (Err(fragment), Resolution::NotUnderstood { reason }) => {
                    assert!(reason.contains(fragment), "row {index}: {reason}");
                }
                (expected, got) => panic!("row {index}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn the_inventory_comes_first_and_forces_identities_only() {
        let mut t = target(
            "10.0.0.5",
            "-o UserKnownHostsFile=/kh -o StrictHostKeyChecking=yes -p 2",
        );
        t.port = Some(2222);
        t.user = Some("root".into());
        t.key_file = Some(PathBuf::from("/k/id"));
        let s = settings(
            &t,
            &[(USER, "IdentitiesOnly no\nIdentityFile /other\nUser x\n")],
        );
        // ssh assigns -p as it reads it, so a later -p overrides ansible_port.
        assert_eq!((s.port, s.user.as_str()), (2, "root"));
        assert_eq!(
            s.identity_files,
            [PathBuf::from("/k/id"), PathBuf::from("/other")]
        );
        assert!(s.identities_only);
        assert_eq!(s.user_known_hosts, [PathBuf::from("/kh")]);
    }

    #[test]
    fn the_lab_and_benchmark_configs_are_understood() {
        let lab = "Host node1\n  HostName 127.0.0.2\n  Port 2222\n  User root\n  IdentityFile /lab/id\n  IdentitiesOnly yes\n  UserKnownHostsFile /lab/kh\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  CheckHostIP no\n  BatchMode yes\n\nHost *\n  LogLevel ERROR\n  KexAlgorithms curve25519-sha256\n";
        let s = settings(
            &target("node1", "-F /lab/ssh_config"),
            &[("/lab/ssh_config", lab)],
        );
        assert_eq!(s.host_name, "127.0.0.2");
        assert_eq!(s.global_known_hosts, [PathBuf::from("/dev/null")]);
        assert_eq!(s.kex, Some(vec!["curve25519-sha256".to_string()]));
    }

    #[test]
    fn the_host_key_policy_is_read_past_what_is_not_understood() {
        let map = Map(BTreeMap::from([(
            PathBuf::from(USER),
            "Match exec true\n  StrictHostKeyChecking yes\nHost h\n  ProxyCommand nc %h %p\n  StrictHostKeyChecking accept-new\n".to_string(),
        )]));
        let env = Env {
            home: PathBuf::from("/home/me"),
            local_user: "me".into(),
            files: &map,
        };
        let (strict, place) = host_key_policy(&target("h", ""), &env);
        assert_eq!(strict, Strict::AcceptNew);
        assert_eq!(place.as_deref(), Some("/home/me/.ssh/config:5"));
        let (strict, place) = host_key_policy(&target("h", "-o StrictHostKeyChecking=no"), &env);
        assert_eq!((strict, place.as_deref()), (Strict::No, Some("-o")));
        assert_eq!(host_key_policy(&target("x", ""), &env).0, Strict::Yes);
        assert!(Strict::Yes.warning("h", None).is_none());
    }

    #[test]
    fn jump_hosts_from_proxy_jump_and_dash_j() {
        let s = settings(
            &target("h", "-F /cfg -J ops@bastion:2200,ssh://[10.0.0.9]:22,plain"),
            &[("/cfg", "Host h\n  ProxyJump ignored\n")],
        );
        let hops: Vec<(Option<&str>, &str, Option<u16>)> = s
            .proxy_jump
            .iter()
            .map(|h| (h.user.as_deref(), h.host.as_str(), h.port))
            .collect();
        assert_eq!(
            hops,
            [
                (Some("ops"), "bastion", Some(2200)),
                (None, "10.0.0.9", Some(22)),
                (None, "plain", None)
            ]
        );
        let jump = s.proxy_jump[0].target(s.config_file.as_deref());
        assert_eq!(jump.ssh_args, ["-F", "/cfg"]);
        let none = settings(
            &target("h", "-o ProxyJump=none"),
            &[(USER, "ProxyJump b\n")],
        );
        assert!(none.proxy_jump.is_empty());
    }

    #[test]
    fn patterns() {
        let cases = [
            ("*", "anything", true),
            ("web?", "web1", true),
            ("web?", "web10", false),
            ("*.example.com", "A.Example.com", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("", "", true),
        ];
        for (pattern, host, expected) in cases {
            assert_eq!(
                host_matches(&[pattern.to_string()], host),
                expected,
                "{pattern} {host}"
            );
        }
        assert!(!host_matches(&["!web1".to_string()], "web2"));
        assert!(!host_matches(&["*".into(), "!web1".into()], "web1"));
    }
}
