//! A node as doctor sees it: how it is reached, whom its files are read
//! as, and where its runtimes keep their trust.

use std::time::Duration;

use crate::connection::escalate::Escalation;
use crate::connection::{ConnError, Connection};

/// A node to check: its name, where its `certs.d` is, and the channel to it
/// (or why there is none).
pub struct NodeTarget {
    pub name: String,
    pub certs_dir: String,
    pub conn: Result<Box<dyn Connection>, ConnError>,
    /// Whom the node's files are read as: the host's `ansible_become*`
    /// variables, as for the playbook's tasks (a fleet whose login user is
    /// not root reads `certs.d` with sudo). `None` reads as the login user.
    pub escalation: Option<Escalation>,
    /// Which runtimes to check and where containerd keeps its trust.
    pub trust: TrustSettings,
}

/// A node's step 5 settings beside `docker_certs_dir`: the variables
/// `copy-ca-crt` reads (`container_runtime`, `containerd_certs_dir`,
/// `containerd_cri_dropin`); unset, doctor detects what the node runs.
#[derive(Debug, Clone, Default)]
pub struct TrustSettings {
    pub runtime: Option<String>,
    pub containerd_certs_dir: Option<String>,
    pub containerd_cri_dropin: Option<String>,
}

/// A node's channel for doctor's read-only scripts, run as the node's
/// become settings say.
pub(super) struct NodeShell<'a> {
    conn: &'a dyn Connection,
    escalation: Option<&'a Escalation>,
}

impl<'a> NodeShell<'a> {
    pub(super) fn new(conn: &'a dyn Connection, escalation: Option<&'a Escalation>) -> Self {
        NodeShell { conn, escalation }
    }

    pub(super) async fn run(&self, script: &str) -> Result<crate::connection::Output, ConnError> {
        match self.escalation {
            Some(escalation) => {
                self.conn
                    .run_as(escalation, script, b"", NODE_TIMEOUT)
                    .await
            }
            None => self.conn.run(script, b"", NODE_TIMEOUT).await,
        }
    }
}

/// How long one read-only script on a node may take.
const NODE_TIMEOUT: Duration = Duration::from_secs(30);
