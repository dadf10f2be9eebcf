//! The lab: a local UCP + DTR + nodes rehearsal cluster (`dtrplay lab`).
//!
//! A crate of its own, so that the engine (the `dtrplay` package) builds
//! without the simulator's servers and PKI (axum, rcgen, zip): the engine
//! knows only [`cli::LabCommand`] and [`run`], which its `lab` subcommand
//! calls. The simulator speaks the UCP and DTR APIs with its own wire
//! constants, taken from the reference, never the client's, so that a client
//! using a wrong name fails its tests against it.

pub(crate) mod api_auth;
pub(crate) mod api_http;
pub mod api_tls;
pub mod apis;
pub mod cli;
pub mod containerd;
pub mod daemon;
pub mod docker;
pub mod dtr;
pub(crate) mod dtr_state;
pub mod engine;
pub mod inventory;
pub mod node;
pub mod node_error;
pub mod pki;
pub mod proxy;
pub mod registry;
pub(crate) mod registry_store;
pub mod rootfs;
pub mod state;
pub mod test_image;
pub mod ucp;
pub mod ucp_engines;
pub mod ucp_image;
pub mod users;

/// Which UCP/DTR generation the lab models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// UCP 1.1 + DTR 2.0: UCP learns about DTR through `/api/config/registry`,
    /// and DTR trusts UCP through the `authBypassCA` setting.
    Ucp1,
    /// UCP 3.x / MKE + DTR 2.5+ / MSR: UCP learns about DTR through
    /// `/api/config/trustedregistry_`, and DTR trusts UCP from its installation
    /// (`dtr install --ucp-ca`); its settings API has no `authBypassCA`.
    Ucp3,
}

impl Flavor {
    /// The name `lab up --flavor` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Ucp1 => "ucp1",
            Flavor::Ucp3 => "ucp3",
        }
    }
}

pub use daemon::{Lab, LabOptions};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::LabCommand;

/// Why a `dtrplay lab` command failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "a lab has between 1 and 254 nodes and between 1 and that many controllers, not {nodes} nodes with {controllers} controllers"
    )]
    Shape { nodes: usize, controllers: usize },
    #[error(transparent)]
    Node(#[from] node::NodeError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("{}", with_causes(.0))]
    Pki(#[from] pki::PkiError),
    #[error("{}", with_causes(.0))]
    Apis(#[from] apis::StartError),
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Containerd(#[from] containerd::ContainerdError),
    #[error(transparent)]
    TestImage(#[from] test_image::ImportError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot find the dtrplay executable: {0}")]
    Exe(std::io::Error),
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("cannot listen for signals: {0}")]
    Signal(std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
    #[error("a lab is already running in {dir} (lab serve pid {pid})")]
    AlreadyRunning { dir: PathBuf, pid: u32 },
    #[error(
        "a lab is already running in {dir} (lab serve pid {pid}) as {running}, not {asked}: stop it first with `dtrplay lab down --dir {dir}`, then run `lab up` again"
    )]
    OtherSettings {
        dir: PathBuf,
        pid: u32,
        running: String,
        asked: String,
    },
    #[error("the lab in {dir} did not come up: {reason}\nlast lines of {log}:\n{tail}")]
    NotUp {
        dir: PathBuf,
        reason: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot signal lab process {pid}: {source}")]
    Kill { pid: u32, source: nix::errno::Errno },
    #[error("lab processes {pids:?} are still alive after being killed")]
    Survivors { pids: Vec<u32> },
    #[error("lab ports {addresses:?} still accept connections after the lab stopped")]
    PortsOpen { addresses: Vec<SocketAddr> },
    #[error(
        "refusing to remove {dir}: it holds no lab (no config.json or lab.json), so it may not be a lab directory"
    )]
    NotALabDir { dir: PathBuf },
}

/// An error's message followed by its causes, for errors whose message
/// leaves the cause out (the caller prints one line per error).
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Runs one `dtrplay lab ...` command. `systemctl` prints its own errors
/// (in the real tool's words) and only returns an exit code; the other
/// commands return errors for the caller to report.
pub async fn run(cmd: LabCommand) -> Result<ExitCode, LabError> {
    match cmd {
        LabCommand::Up(args) => daemon::up(&args).await,
        LabCommand::Status(args) => daemon::status(&args.dir).await,
        LabCommand::Down(args) => daemon::down(&args.dir, args.keep).await,
        LabCommand::Serve(args) => daemon::serve(&args.dir).await,
        LabCommand::Systemctl(args) => Ok(docker::systemctl(&args.args).await),
    }
}
