//! The lab nodes' stand-in for the Docker CLI and engine (`dtrplay lab
//! docker ARGS...`, reached as `docker` on the nodes' `PATH` through a
//! wrapper script in the lab's `bin/` only on a lab whose nodes cannot run
//! real engines, which `lab up` says loudly; the test suite never uses it),
//! and for `systemctl` acting on the Docker daemon (every lab).
//!
//! It implements exactly what the integration procedure runs on a node, with
//! Docker's own output texts (ucp-dtr-api.md §4 and §8):
//! - `docker run --rm [--name ucp] -v /var/run/docker.sock:/var/run/docker.sock
//!   docker/ucp dump-certs [--cluster] [--ca]` prints UCP's certificates on a
//!   controller. On a worker it fails with exit code 1 and
//!   `level=fatal msg="dump-certs must run on a UCP controller: ..."`,
//!   because only controllers hold UCP's certificates. Any other
//!   `docker run` is refused as "not supported by the lab".
//! - `docker pull hello-world` (built into the lab, see `store`), `docker pull
//!   <registry>/<repo>:<tag>` (registry v2, digest-verified), `docker tag`,
//!   `docker images` and `docker push`, which speaks the registry v2 API to
//!   DTR with the trust rules of `/etc/docker/certs.d` (see `trust`) and the
//!   credentials UCP brokers for the node (see `broker`).
//!
//! Each node keeps its engine state under `<node root>/engine/`: `node.json`
//! (name, role, flavor, UCP URL), the admin's client bundle (`bundle/`), the
//! node's UCP identity (`identity/`), UCP's certificates on controllers
//! (`ucp/`), the image store (`images/`), the restart log and `engine.log`.
//! `lab serve` writes these with [`install`]. The node is found through the
//! `DTRPLAY_LAB_NODE` variable, which the node's sshd sets for every
//! session; `sudo` resets it, so lab nodes are reached as root directly.

mod broker;
mod distribution;
mod reference;
mod store;
mod systemctl;
mod trust;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::lab::Flavor;
use crate::lab::docker::distribution::{Ping, RegistryError, Session};
use crate::lab::docker::reference::{HUB, Reference};
use crate::lab::docker::store::{Image, MANIFEST_V2, Manifest, Store, StoreError, short_id};
use crate::lab::docker::trust::{Identity, Trust, TrustError};
use crate::lab::node::{NODE_ENV, backing_path};
use crate::lab::state::Role;

pub use crate::lab::docker::store::{hello_world, sha256_digest};
pub use crate::lab::docker::systemctl::{restart_count, run as systemctl};

/// The engine's directory inside a node root.
pub const ENGINE_DIR: &str = "engine";

/// Who a node is, written at `lab up` and read by every command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name (`node1`).
    pub name: String,
    /// Controller or worker: only controllers hold UCP's certificates.
    pub role: Role,
    /// The UCP generation, which decides how UCP is asked about registries.
    pub flavor: Flavor,
    /// `https://host:port` of UCP.
    pub ucp_url: String,
}

/// A UCP client bundle's three PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The CA that UCP's server certificate chains to.
    pub ca_pem: String,
    /// The user's certificate, issued by UCP's client root CA.
    pub cert_pem: String,
    /// The user's private key.
    pub key_pem: String,
}

/// The certificates `dump-certs` prints on a controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerCerts {
    /// The UCP Cluster Root CA (`--cluster --ca`).
    pub cluster_ca_pem: String,
    /// A certificate issued by the cluster root CA (`--cluster`).
    pub cluster_cert_pem: String,
    /// The CA of UCP's public server certificate (`--ca`).
    pub public_ca_pem: String,
    /// UCP's public server certificate.
    pub public_cert_pem: String,
}

/// Everything a node's engine needs, installed by `lab serve`.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    pub info: NodeInfo,
    /// The admin's client bundle: how the node reaches UCP.
    pub bundle: Bundle,
    /// The node's UCP identity (cluster root CA, `OU=ucp`): certificate PEM.
    pub identity_cert_pem: String,
    /// The node's UCP identity: private key PEM.
    pub identity_key_pem: String,
    /// UCP's certificates; only on controllers.
    pub controller: Option<ControllerCerts>,
}

/// Why a `docker` command failed. Most messages are Docker's own texts,
/// because playbooks and people match on them.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "this is the dtrplay lab's docker stand-in; it runs on lab nodes only ({NODE_ENV} is not set; use `ssh -F <lab>/ssh_config <node> docker ...`)"
    )]
    NotANode,
    #[error("lab node engine state {path} is unreadable: {detail}")]
    EngineState { path: PathBuf, detail: String },
    #[error("cannot write the lab node's engine state {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("docker: '{command}' is not a docker command.\nSee 'docker --help'")]
    UnknownCommand { command: String },
    #[error(
        "docker {command}: not supported by the dtrplay lab (its docker stand-in runs: run <ucp image> dump-certs, pull, tag, images, push)"
    )]
    Unsupported { command: String },
    #[error(
        "docker: running {image} is not supported by the dtrplay lab: it only runs the UCP image's dump-certs (docker run --rm -v /var/run/docker.sock:/var/run/docker.sock docker/ucp dump-certs --cluster --ca)"
    )]
    RunUnsupported { image: String },
    #[error("\"docker {command}\" requires {requirement}.\nSee 'docker {command} --help'.")]
    Usage {
        command: &'static str,
        requirement: &'static str,
    },
    #[error("unknown flag: {flag}\nSee 'docker {command} --help'.")]
    UnknownFlag { command: &'static str, flag: String },
    #[error("level=fatal msg=\"{message}\"")]
    Ucp { message: String },
    #[error("invalid reference format")]
    InvalidReference,
    #[error(
        "Error parsing reference: \"{input}\" is not a valid repository/tag: invalid reference format"
    )]
    InvalidTarget { input: String },
    #[error("Error response from daemon: No such image: {name}")]
    NoSuchImage { name: String },
    #[error("An image does not exist locally with the tag: {name}")]
    NotLocal { name: String },
    #[error(
        "Error response from daemon: pull access denied for {name}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
    )]
    PullDenied { name: String },
    #[error("denied: requested access to the resource is denied")]
    PushDenied,
    #[error("Error response from daemon: manifest for {name} not found: {detail}")]
    ManifestUnknown { name: String, detail: String },
    #[error(
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    )]
    DaemonStopped,
    /// A failure reported by the daemon before any output.
    #[error("Error response from daemon: {0}")]
    Daemon(RegistryError),
    /// A failure in the middle of a push or pull stream, printed bare.
    #[error("{0}")]
    Stream(RegistryError),
    #[error("Error response from daemon: {0}")]
    Certs(#[from] TrustError),
    #[error("Error response from daemon: {0}")]
    Store(#[from] StoreError),
}

/// Runs `docker ARGS...` on the current node and returns its exit code; the
/// error, if any, is printed on stderr as Docker would.
pub async fn run(args: &[String]) -> ExitCode {
    match dispatch(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// The Docker commands that exist but that the lab does not implement.
const KNOWN_COMMANDS: &[&str] = &[
    "attach",
    "build",
    "builder",
    "buildx",
    "commit",
    "compose",
    "config",
    "container",
    "context",
    "cp",
    "create",
    "diff",
    "events",
    "exec",
    "export",
    "history",
    "image",
    "import",
    "info",
    "inspect",
    "kill",
    "load",
    "login",
    "logout",
    "logs",
    "manifest",
    "network",
    "node",
    "pause",
    "plugin",
    "port",
    "ps",
    "rename",
    "restart",
    "rm",
    "rmi",
    "save",
    "search",
    "secret",
    "service",
    "stack",
    "start",
    "stats",
    "stop",
    "swarm",
    "system",
    "top",
    "trust",
    "unpause",
    "update",
    "version",
    "volume",
    "wait",
];

async fn dispatch(args: &[String]) -> Result<(), DockerError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(DockerError::Usage {
            command: "",
            requirement: "a command",
        });
    };
    if command == "--version" || command == "-v" {
        println!("Docker version 1.11.2-dtrplay-lab, build lab");
        return Ok(());
    }
    let engine = Engine::from_env()?;
    if systemctl::is_stopped(&engine.root) {
        return Err(DockerError::DaemonStopped);
    }
    match command.as_str() {
        "run" => run_container(&engine, rest),
        "pull" => pull(&engine, rest).await,
        "tag" => tag(&engine, rest),
        "images" => images(&engine, rest),
        "push" => push(&engine, rest).await,
        other if KNOWN_COMMANDS.contains(&other) => Err(DockerError::Unsupported {
            command: other.to_string(),
        }),
        other => Err(DockerError::UnknownCommand {
            command: other.to_string(),
        }),
    }
}

/// A node's engine: where its state lives and who it is.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The node root (`DTRPLAY_LAB_NODE`).
    pub root: PathBuf,
    pub info: NodeInfo,
}

impl Engine {
    /// The engine of the node this process runs on.
    pub fn from_env() -> Result<Engine, DockerError> {
        let root = std::env::var_os(NODE_ENV).ok_or(DockerError::NotANode)?;
        Engine::open(Path::new(&root))
    }

    /// The engine of the node rooted at `root`.
    pub fn open(root: &Path) -> Result<Engine, DockerError> {
        let path = root.join(ENGINE_DIR).join("node.json");
        let bytes = fs::read(&path).map_err(|e| DockerError::EngineState {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let info = serde_json::from_slice(&bytes).map_err(|e| DockerError::EngineState {
            path,
            detail: e.to_string(),
        })?;
        Ok(Engine {
            root: root.to_path_buf(),
            info,
        })
    }

    fn dir(&self) -> PathBuf {
        self.root.join(ENGINE_DIR)
    }

    /// Where the node sees `/etc/docker/certs.d`, on the control side.
    pub fn certs_dir(&self) -> PathBuf {
        backing_path(&self.root, "/etc/docker/certs.d")
    }

    /// The node's image store.
    pub fn store(&self) -> Store {
        Store::new(self.dir().join("images"))
    }

    /// Appends a line to the node's `engine.log`. Logging is best effort: a
    /// full disk must not turn a push result into a different one.
    pub fn log(&self, line: &str) {
        let path = self.dir().join("engine.log");
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{} {line}", store::now_secs());
        }
    }

    /// The admin's client bundle held by the node.
    pub fn bundle(&self) -> Option<Bundle> {
        let dir = self.dir().join("bundle");
        Some(Bundle {
            ca_pem: broker::read_pem(&dir.join("ca.pem"))?,
            cert_pem: broker::read_pem(&dir.join("cert.pem"))?,
            key_pem: broker::read_pem(&dir.join("key.pem"))?,
        })
    }

    /// The user the client bundle belongs to: its certificate's CN.
    pub fn bundle_user(&self) -> Option<String> {
        let bundle = self.bundle()?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(bundle.cert_pem.as_bytes()).ok()?;
        let cert = pem.parse_x509().ok()?;
        let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
        Some(cn.to_string())
    }

    /// The node's UCP identity as a TLS client identity.
    pub fn node_identity(&self) -> Option<Identity> {
        let dir = self.dir().join("identity");
        let cert = broker::read_pem(&dir.join("cert.pem"))?;
        let key = broker::read_pem(&dir.join("key.pem"))?;
        Identity::from_pem(cert.as_bytes(), key.as_bytes()).ok()
    }
}

/// Writes a node's engine state (see the module docs). Private keys get mode
/// 0600.
pub fn install(root: &Path, setup: &NodeSetup) -> Result<(), DockerError> {
    let dir = root.join(ENGINE_DIR);
    let info = serde_json::to_vec_pretty(&setup.info).map_err(|e| DockerError::Install {
        path: dir.join("node.json"),
        source: std::io::Error::other(e),
    })?;
    write_file(&dir.join("node.json"), &info, false)?;
    let bundle = dir.join("bundle");
    write_file(
        &bundle.join("ca.pem"),
        setup.bundle.ca_pem.as_bytes(),
        false,
    )?;
    write_file(
        &bundle.join("cert.pem"),
        setup.bundle.cert_pem.as_bytes(),
        false,
    )?;
    write_file(
        &bundle.join("key.pem"),
        setup.bundle.key_pem.as_bytes(),
        true,
    )?;
    let identity = dir.join("identity");
    write_file(
        &identity.join("cert.pem"),
        setup.identity_cert_pem.as_bytes(),
        false,
    )?;
    write_file(
        &identity.join("key.pem"),
        setup.identity_key_pem.as_bytes(),
        true,
    )?;
    let ucp = dir.join("ucp");
    match &setup.controller {
        Some(certs) => {
            write_file(
                &ucp.join("cluster-ca.pem"),
                certs.cluster_ca_pem.as_bytes(),
                false,
            )?;
            write_file(
                &ucp.join("cluster-cert.pem"),
                certs.cluster_cert_pem.as_bytes(),
                false,
            )?;
            write_file(&ucp.join("ca.pem"), certs.public_ca_pem.as_bytes(), false)?;
            write_file(
                &ucp.join("cert.pem"),
                certs.public_cert_pem.as_bytes(),
                false,
            )?;
        }
        None => {
            if ucp.exists() {
                fs::remove_dir_all(&ucp).map_err(|source| DockerError::Install {
                    path: ucp.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), DockerError> {
    let err = |source| DockerError::Install {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)
}

/// `docker run ... <ucp image> dump-certs [flags]`.
fn run_container(engine: &Engine, args: &[String]) -> Result<(), DockerError> {
    const VALUE_FLAGS: &[&str] = &[
        "--name",
        "-v",
        "--volume",
        "-e",
        "--env",
        "--entrypoint",
        "-w",
        "--workdir",
        "--network",
        "--net",
        "-u",
        "--user",
        "--label",
        "-l",
        "--hostname",
        "-h",
        "--mount",
        "--pull",
        "--platform",
    ];
    const BOOL_FLAGS: &[&str] = &[
        "--rm",
        "-i",
        "-t",
        "-it",
        "-ti",
        "--interactive",
        "--tty",
        "-d",
        "--detach",
        "--init",
        "--privileged",
    ];
    let mut volumes = Vec::new();
    let mut index = 0;
    while index < args.len() && args[index].starts_with('-') {
        let arg = &args[index];
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        if VALUE_FLAGS.contains(&flag) {
            let value = match inline {
                Some(value) => value,
                None => {
                    index += 1;
                    args.get(index).cloned().ok_or(DockerError::Usage {
                        command: "run",
                        requirement: "a value for every option that takes one",
                    })?
                }
            };
            if flag == "-v" || flag == "--volume" {
                volumes.push(value);
            }
        } else if !BOOL_FLAGS.contains(&flag) {
            return Err(DockerError::UnknownFlag {
                command: "run",
                flag: arg.clone(),
            });
        }
        index += 1;
    }
    let Some(image) = args.get(index) else {
        return Err(DockerError::Usage {
            command: "run",
            requirement: "at least 1 argument",
        });
    };
    let is_ucp = Reference::parse(image)
        .ok()
        .is_some_and(|r| r.path.rsplit('/').next() == Some("ucp"));
    let container_args = &args[index + 1..];
    if !is_ucp || container_args.first().map(String::as_str) != Some("dump-certs") {
        return Err(DockerError::RunUnsupported {
            image: std::iter::once(image.as_str())
                .chain(container_args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    if !volumes
        .iter()
        .any(|v| v.starts_with("/var/run/docker.sock:/var/run/docker.sock"))
    {
        return Err(DockerError::Ucp {
            message: "dump-certs needs the Docker socket: run it with -v /var/run/docker.sock:/var/run/docker.sock".to_string(),
        });
    }
    let (mut cluster, mut ca_only) = (false, false);
    for flag in &container_args[1..] {
        match flag.as_str() {
            "--cluster" => cluster = true,
            "--ca" => ca_only = true,
            "--debug" | "-D" | "--jsonlog" => {}
            other => {
                return Err(DockerError::Ucp {
                    message: format!("Incorrect Usage. flag provided but not defined: {other}"),
                });
            }
        }
    }
    if engine.info.role != Role::Controller {
        return Err(DockerError::Ucp {
            message: format!(
                "dump-certs must run on a UCP controller: {} is a worker and holds no UCP certificates",
                engine.info.name
            ),
        });
    }
    let ucp = engine.dir().join("ucp");
    let files: &[&str] = match (cluster, ca_only) {
        (true, true) => &["cluster-ca.pem"],
        (true, false) => &["cluster-ca.pem", "cluster-cert.pem"],
        (false, true) => &["ca.pem"],
        (false, false) => &["ca.pem", "cert.pem"],
    };
    let mut out = String::new();
    for file in files {
        let path = ucp.join(file);
        let pem = broker::read_pem(&path).ok_or_else(|| DockerError::Ucp {
            message: format!("unable to read {}", path.display()),
        })?;
        out.push_str(pem.trim_end());
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// Splits `args` into options from `known` (all boolean) and operands.
fn operands<'a>(
    command: &'static str,
    args: &'a [String],
    known: &[&str],
) -> Result<(Vec<&'a str>, Vec<&'a str>), DockerError> {
    let mut flags = Vec::new();
    let mut rest = Vec::new();
    for arg in args {
        if arg.starts_with('-') && arg.len() > 1 {
            if !known.contains(&arg.as_str()) {
                return Err(DockerError::UnknownFlag {
                    command,
                    flag: arg.clone(),
                });
            }
            flags.push(arg.as_str());
        } else {
            rest.push(arg.as_str());
        }
    }
    Ok((flags, rest))
}

/// `docker pull NAME[:TAG|@DIGEST]`.
async fn pull(engine: &Engine, args: &[String]) -> Result<(), DockerError> {
    let (flags, names) = operands("pull", args, &["-q", "--quiet"])?;
    let [name] = names.as_slice() else {
        return Err(DockerError::Usage {
            command: "pull",
            requirement: "exactly 1 argument",
        });
    };
    let quiet = !flags.is_empty();
    let reference = Reference::parse(name).map_err(|_| DockerError::InvalidReference)?;
    let mut out = Output { quiet };
    if reference.tag.is_none() && reference.digest.is_none() {
        out.line("Using default tag: latest");
    }
    let store = engine.store();
    let label = reference
        .digest
        .clone()
        .unwrap_or_else(|| reference.tag_or_latest().to_string());
    let (manifest_bytes, blobs) = if reference.domain == HUB {
        hub_image(&reference)?
    } else {
        registry_image(engine, &reference, &label).await?
    };
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
        DockerError::Stream(RegistryError::Location {
            location: format!("manifest of {reference}: {e}"),
        })
    })?;
    out.line(&format!("{label}: Pulling from {}", reference.path));
    let mut fetched = blobs;
    for layer in &manifest.layers {
        let short = short_id(&layer.digest).to_string();
        if store.has_blob(&layer.digest) {
            out.line(&format!("{short}: Already exists"));
            continue;
        }
        let bytes = fetched.fetch(&layer.digest).await?;
        store.put_blob(&bytes)?;
        out.line(&format!("{short}: Pull complete"));
    }
    if !store.has_blob(&manifest.config.digest) {
        let bytes = fetched.fetch(&manifest.config.digest).await?;
        store.put_blob(&bytes)?;
    }
    let digest = store.put_blob(&manifest_bytes)?;
    let changed = store.set_tag(&reference.store_key(), &digest)?;
    out.line(&format!("Digest: {digest}"));
    let shown = match &reference.digest {
        Some(d) => format!("{}@{d}", reference.familiar_repository()),
        None => reference.familiar_tagged(),
    };
    if changed {
        out.line(&format!("Status: Downloaded newer image for {shown}"));
    } else {
        out.line(&format!("Status: Image is up to date for {shown}"));
    }
    println!("{}:{label}", reference.repository());
    Ok(())
}

/// Prints progress lines unless `--quiet`.
struct Output {
    quiet: bool,
}

impl Output {
    fn line(&mut self, text: &str) {
        if !self.quiet {
            println!("{text}");
        }
    }
}

/// Where the blobs of a pull come from.
enum Blobs {
    /// The built-in image's blobs.
    Builtin(Vec<(String, Vec<u8>)>),
    /// A registry session and the repository inside it.
    Registry(Box<Session>, String),
}

impl Blobs {
    async fn fetch(&mut self, digest: &str) -> Result<Vec<u8>, DockerError> {
        match self {
            Blobs::Builtin(blobs) => blobs
                .iter()
                .find(|(d, _)| d == digest)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| {
                    DockerError::Store(StoreError::MissingBlob {
                        digest: digest.to_string(),
                    })
                }),
            Blobs::Registry(session, name) => session
                .get_blob(name, digest)
                .await
                .map_err(DockerError::Stream),
        }
    }
}

/// The lab's one Hub image, `hello-world:latest`.
fn hub_image(reference: &Reference) -> Result<(Vec<u8>, Blobs), DockerError> {
    let image = store::hello_world();
    let digest = sha256_digest(&image.manifest);
    let wanted = reference.path == "library/hello-world"
        && match (&reference.digest, &reference.tag) {
            (Some(d), _) => *d == digest,
            (None, tag) => tag.as_deref().unwrap_or("latest") == "latest",
        };
    if !wanted {
        return Err(DockerError::PullDenied {
            name: reference.familiar_repository(),
        });
    }
    let blobs = vec![
        (sha256_digest(&image.layer), image.layer),
        (sha256_digest(&image.config), image.config),
    ];
    Ok((image.manifest, Blobs::Builtin(blobs)))
}

/// A manifest from a registry, fetched with the engine's trust and the
/// credentials UCP brokers.
async fn registry_image(
    engine: &Engine,
    reference: &Reference,
    label: &str,
) -> Result<(Vec<u8>, Blobs), DockerError> {
    let session = connect(engine, reference, "pull")
        .await
        .map_err(|e| match e {
            DockerError::Stream(inner) => DockerError::Daemon(inner),
            other => other,
        })?;
    let (bytes, _) = session
        .get_manifest(&reference.path, label)
        .await
        .map_err(|e| match e {
            RegistryError::Status { status, .. } if status == reqwest::StatusCode::NOT_FOUND => {
                DockerError::ManifestUnknown {
                    name: format!("{}:{label}", reference.familiar_repository()),
                    detail: e.to_string(),
                }
            }
            other => DockerError::Daemon(other),
        })?;
    Ok((
        bytes,
        Blobs::Registry(Box::new(session), reference.path.clone()),
    ))
}

/// Opens a session to the reference's registry, pings it and, if it wants
/// one, gets a token for `actions` (`pull` or `push,pull`).
async fn connect(
    engine: &Engine,
    reference: &Reference,
    actions: &str,
) -> Result<Session, DockerError> {
    let trust = Trust::load(&engine.certs_dir(), &reference.domain)?;
    let mut session = Session::new(&reference.domain, trust).map_err(DockerError::Daemon)?;
    match session.ping().await.map_err(DockerError::Daemon)? {
        Ping::Open => {}
        Ping::Bearer(challenge) => {
            let scope = format!("repository:{}:{actions}", reference.path);
            if let Some(token) = broker::token(engine, &session, &challenge, &scope).await {
                session.set_token(token);
            }
        }
    }
    Ok(session)
}

/// `docker tag SOURCE TARGET`.
fn tag(engine: &Engine, args: &[String]) -> Result<(), DockerError> {
    let (_, names) = operands("tag", args, &[])?;
    let [source, target] = names.as_slice() else {
        return Err(DockerError::Usage {
            command: "tag",
            requirement: "exactly 2 arguments",
        });
    };
    let store = engine.store();
    let image = find_image(&store, source)?;
    let target_ref = Reference::parse(target)
        .ok()
        .filter(|r| r.digest.is_none())
        .ok_or_else(|| DockerError::InvalidTarget {
            input: target.to_string(),
        })?;
    store.set_tag(&target_ref.store_key(), &image.manifest_digest)?;
    Ok(())
}

/// An image by reference, or by image ID prefix.
fn find_image(store: &Store, name: &str) -> Result<Image, DockerError> {
    if let Ok(reference) = Reference::parse(name)
        && reference.digest.is_none()
        && let Some(image) = store.image_for_tag(&reference.store_key())?
    {
        return Ok(image);
    }
    if let Some(image) = store.image_by_id_prefix(name)? {
        return Ok(image);
    }
    let shown = match Reference::parse(name) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() => format!("{name}:latest"),
        _ => name.to_string(),
    };
    Err(DockerError::NoSuchImage { name: shown })
}

/// `docker images [-q] [REPOSITORY[:TAG]]`.
fn images(engine: &Engine, args: &[String]) -> Result<(), DockerError> {
    let (flags, names) = operands("images", args, &["-q", "--quiet", "-a", "--all"])?;
    if names.len() > 1 {
        return Err(DockerError::Usage {
            command: "images",
            requirement: "at most 1 argument",
        });
    }
    let filter = match names.first() {
        Some(name) => Some(Reference::parse(name).map_err(|_| DockerError::InvalidReference)?),
        None => None,
    };
    let quiet = flags.iter().any(|f| *f == "-q" || *f == "--quiet");
    let store = engine.store();
    let now = store::now_secs();
    let mut rows = Vec::new();
    for (key, entry) in store.tags()? {
        let Some((repository, tag)) = key.rsplit_once(':') else {
            continue;
        };
        let Ok(reference) = Reference::parse(&key) else {
            continue;
        };
        if let Some(filter) = &filter
            && (filter.repository() != repository
                || filter.tag.as_deref().is_some_and(|t| t != tag))
        {
            continue;
        }
        let image = store.image(&entry.manifest)?;
        let size: u64 = image
            .manifest
            .layers
            .iter()
            .map(|l| uncompressed_size(&store, &l.digest).unwrap_or(l.size))
            .sum();
        let created = image
            .config
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .map(|t| store::human_age(now.saturating_sub(t)))
            .unwrap_or_else(|| "N/A".to_string());
        rows.push([
            reference.familiar_repository(),
            tag.to_string(),
            short_id(image.id()).to_string(),
            created,
            store::human_size(size),
        ]);
    }
    if quiet {
        for row in rows {
            println!("{}", row[2]);
        }
        return Ok(());
    }
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(str::to_string);
    print!("{}", table(&header, &rows));
    Ok(())
}

/// A tab-aligned table like the Docker CLI's (`tabwriter` with minimum
/// width 10 and padding 3).
fn table(header: &[String; 5], rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in std::iter::once(header).chain(rows) {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max((cell.chars().count() + 3).max(10));
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A gzip layer's uncompressed size, from its trailer.
fn uncompressed_size(store: &Store, digest: &str) -> Option<u64> {
    let bytes = store.blob(digest).ok()??;
    let tail: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(u64::from(u32::from_le_bytes(tail)))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// `docker push NAME[:TAG]`.
async fn push(engine: &Engine, args: &[String]) -> Result<(), DockerError> {
    let (_, names) = operands("push", args, &[])?;
    let [name] = names.as_slice() else {
        return Err(DockerError::Usage {
            command: "push",
            requirement: "exactly 1 argument",
        });
    };
    let reference = Reference::parse(name)
        .ok()
        .filter(|r| r.digest.is_none())
        .ok_or(DockerError::InvalidReference)?;
    if reference.tag.is_none() {
        println!("Using default tag: latest");
    }
    let store = engine.store();
    let image = store
        .image_for_tag(&reference.store_key())?
        .ok_or_else(|| DockerError::NotLocal {
            name: reference.familiar_repository(),
        })?;
    println!("The push refers to repository [{}]", reference.repository());
    if reference.domain == HUB {
        return Err(DockerError::PushDenied);
    }
    let session = connect(engine, &reference, "push,pull").await?;
    let path = &reference.path;
    let diff_ids = &image.config.rootfs.diff_ids;
    // Docker lists layers from the top of the image down.
    for (index, layer) in image.manifest.layers.iter().enumerate().rev() {
        let shown = diff_ids
            .get(index)
            .map_or(layer.digest.as_str(), String::as_str);
        let short = short_id(shown).to_string();
        let result = async {
            if session.blob_exists(path, &layer.digest).await? {
                return Ok(true);
            }
            let bytes = store.blob(&layer.digest).ok().flatten().unwrap_or_default();
            session.upload_blob(path, &layer.digest, bytes).await?;
            Ok(false)
        }
        .await;
        match result {
            Ok(true) => println!("{short}: Layer already exists"),
            Ok(false) => println!("{short}: Pushed"),
            Err(err) => {
                println!("{short}: Image push failed");
                engine.log(&format!("push {reference}: layer {short}: {err}"));
                return Err(DockerError::Stream(err));
            }
        }
    }
    let config = &image.manifest.config.digest;
    let uploaded = async {
        if !session.blob_exists(path, config).await? {
            let bytes = store.blob(config).ok().flatten().unwrap_or_default();
            session.upload_blob(path, config, bytes).await?;
        }
        let media_type = if image.manifest.media_type.is_empty() {
            MANIFEST_V2
        } else {
            image.manifest.media_type.as_str()
        };
        session
            .put_manifest(
                path,
                reference.tag_or_latest(),
                media_type,
                image.manifest_bytes.clone(),
            )
            .await
    }
    .await;
    if let Err(err) = uploaded {
        engine.log(&format!("push {reference}: {err}"));
        return Err(DockerError::Stream(err));
    }
    engine.log(&format!(
        "push {reference}: pushed {}",
        image.manifest_digest
    ));
    println!(
        "{}: digest: {} size: {}",
        reference.tag_or_latest(),
        image.manifest_digest,
        image.manifest_bytes.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_to_epoch() {
        assert_eq!(parse_rfc3339("2023-05-04T17:37:03Z"), Some(1_683_221_823));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("nonsense"), None);
    }

    #[test]
    fn tables_pad_like_tabwriter() {
        let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(str::to_string);
        let rows = [[
            "hello-world",
            "latest",
            "0123456789ab",
            "2 years ago",
            "13.3kB",
        ]
        .map(str::to_string)];
        let text = table(&header, &rows);
        assert_eq!(
            text,
            "REPOSITORY    TAG       IMAGE ID       CREATED       SIZE\nhello-world   latest    0123456789ab   2 years ago   13.3kB\n"
        );
    }
}
