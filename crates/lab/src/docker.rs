//! What the lab's nodes keep about themselves for the lab's own tools
//! (`<node root>/engine/node.json`: name, role, flavor, UCP's URL, written
//! by `lab serve` with [`install`]), the certificates the `docker/ucp` image
//! carries on controllers ([`ControllerCerts`], `ucp_image.rs`), and the
//! nodes' `systemctl` stand-in acting on
//! the Docker daemon (`systemctl.rs`).
//!
//! Every node's `docker` is the real client talking to the node's real
//! engine (`engine.rs`). There is no Docker stand-in: a lab whose nodes
//! cannot run engines (no root, no dockerd) has no `docker` on its nodes,
//! and `lab up` says so loudly; the test suite never runs such a lab.

mod systemctl;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Flavor;
use crate::node::NODE_ENV;
use crate::state::Role;

pub use crate::docker::systemctl::{restart_count, run as systemctl};

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

/// Why a node's state cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "this is the dtrplay lab's systemctl stand-in; it runs on lab nodes only ({NODE_ENV} is not set; use `ssh -F <lab>/ssh_config <node> systemctl ...`)"
    )]
    NotANode,
    #[error("lab node engine state {path} is unreadable: {detail}")]
    EngineState { path: PathBuf, detail: String },
    #[error("cannot write the lab node's engine state {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A node's state: where it lives and who the node is.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The node root (`DTRPLAY_LAB_NODE`).
    pub root: PathBuf,
    pub info: NodeInfo,
}

impl Engine {
    /// The state of the node this process runs on.
    pub fn from_env() -> Result<Engine, DockerError> {
        let root = std::env::var_os(NODE_ENV).ok_or(DockerError::NotANode)?;
        Engine::open(Path::new(&root))
    }

    /// The state of the node rooted at `root`.
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
}

/// Writes a node's `node.json` (see the module docs).
pub fn install(root: &Path, info: &NodeInfo) -> Result<(), DockerError> {
    let dir = root.join(ENGINE_DIR);
    let bytes = serde_json::to_vec_pretty(info).map_err(|e| DockerError::Install {
        path: dir.join("node.json"),
        source: std::io::Error::other(e),
    })?;
    // A lab directory kept from before the stand-in went may hold its
    // copies of UCP's certificates and keys; they are of no use now.
    for stale in ["bundle", "identity", "ucp", "images"] {
        let path = dir.join(stale);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|source| DockerError::Install {
                path: path.clone(),
                source,
            })?;
        }
    }
    write_file(&dir.join("node.json"), &bytes, false)
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
