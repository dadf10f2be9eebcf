//! Link 3, "each node trusts DTR" (step 5): per node, the CA file under
//! `certs.d` (read over SSH, as the node's become settings say) is one the
//! certificate DTR presents chains to, and the node's engine agrees; for
//! containerd, `containerd.rs` judges its own files.
//!
//! Apart from the API links because this one reads each node, with its own
//! channel (`NodeShell`) and the node's runtime settings.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};

use super::containerd;
use super::engine_probe::{self, EngineAnswer};
use super::{FIX_COPY, Health, Link, Verdict, fingerprint_note, one_line};
use crate::api::dtr_ca::DtrCa;
use crate::api::registry::ca_crt_path;
use crate::api::{Service, parse_base_url, tls};
use crate::cert;
use crate::connection::escalate::Escalation;
use crate::connection::{ConnError, Connection};
use crate::tasks::copy_ca_crt::{self, Remote};
use crate::tasks::node_runtime::{self, RuntimeArg, Runtimes};
use crate::tasks::push_failure::PushFailure;

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

impl NodeShell<'_> {
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

pub(super) async fn node_trusts_dtr(node: &NodeTarget, dtr_ca: Option<&DtrCa>) -> Vec<Verdict> {
    let link = Link::NodeTrustsDtr;
    let name = Some(node.name.as_str());
    let Some(dtr_ca) = dtr_ca else {
        return vec![Verdict::broken(
            link,
            name,
            "cannot judge the node's trust in DTR",
            "DTR's CA is unknown (see the step 2 verdict)",
            "fix step 2 first",
        )];
    };
    if dtr_ca.public_issuer.is_some() {
        return vec![Verdict::ok(
            link,
            name,
            "DTR is publicly trusted; the node's runtimes need no CA file",
        )];
    }
    let conn = match &node.conn {
        Ok(conn) => conn,
        Err(e) => {
            return vec![Verdict::broken(
                link,
                name,
                format!("{} cannot be reached", node.name),
                e.to_string(),
                "check SSH access to the node (ansible_host, ansible_user, keys), then run doctor again",
            )];
        }
    };
    let shell = NodeShell {
        conn: conn.as_ref(),
        escalation: node.escalation.as_ref(),
    };
    let runtimes = match node_runtimes(&shell, &node.trust).await {
        Ok(runtimes) => runtimes,
        Err(e) => {
            return vec![Verdict::broken(
                link,
                name,
                format!("cannot tell which container runtime {} runs", node.name),
                e.to_string(),
                "set `container_runtime` (docker or containerd) for the node, then run doctor again",
            )];
        }
    };
    let mut verdicts = Vec::new();
    if runtimes.docker {
        let path = ca_crt_path(&node.certs_dir, &dtr_ca.registry_host);
        let file = ca_file_verdict(&shell, &node.name, &path, dtr_ca).await;
        verdicts.push(with_engine_answer(&shell, file, dtr_ca).await);
    }
    if let Some(containerd) = &runtimes.containerd {
        verdicts
            .push(containerd::verdict(&shell, &node.name, containerd, &node.trust, dtr_ca).await);
    }
    verdicts
}

/// Why doctor cannot tell which runtimes a node runs.
#[derive(Debug, thiserror::Error)]
pub(super) enum UnknownRuntime {
    #[error(
        "`container_runtime` must be one of {}, not `{value}`",
        node_runtime::RUNTIME_CHOICES.join(", ")
    )]
    Choice { value: String },
    /// The detection script could not run on the node.
    #[error(transparent)]
    Detect(#[from] ConnError),
    /// What the node runs does not fit `container_runtime`.
    #[error(transparent)]
    Resolve(#[from] node_runtime::RuntimeError),
}

/// Which runtimes the node runs, as its `container_runtime` asks.
pub(super) async fn node_runtimes(
    shell: &NodeShell<'_>,
    trust: &TrustSettings,
) -> Result<Runtimes, UnknownRuntime> {
    let text = trust.runtime.clone().unwrap_or_else(|| "auto".to_string());
    let arg = RuntimeArg::parse(&text).ok_or(UnknownRuntime::Choice { value: text })?;
    let found = match arg {
        RuntimeArg::Docker => node_runtime::Detected::default(),
        _ => {
            let out = shell.run(&node_runtime::detect_script()).await?;
            node_runtime::parse_detect(&out.stdout_text())
        }
    };
    Ok(node_runtime::resolve(arg, &found)?)
}

/// The Docker verdict, completed with what the node's engine answers to
/// [`engine_probe::script`].
pub(super) async fn with_engine_answer(
    shell: &NodeShell<'_>,
    mut verdict: Verdict,
    dtr_ca: &DtrCa,
) -> Verdict {
    let answer = match shell
        .run(&engine_probe::script(&dtr_ca.registry_host))
        .await
    {
        Ok(out) => engine_probe::classify(&out.stdout_text()),
        Err(e) => EngineAnswer::Unknown(e.to_string()),
    };
    match (verdict.health, answer) {
        (Health::Broken, EngineAnswer::Failed { line, .. }) => {
            let cause = verdict.cause.take().unwrap_or_default();
            verdict.cause = Some(format!("{cause}; the node's engine confirms: `{line}`"));
        }
        (Health::Broken, EngineAnswer::Verified) => {
            let cause = verdict.cause.take().unwrap_or_default();
            verdict.cause = Some(format!(
                "{cause}; yet the node's engine reached DTR (it trusts DTR's CA another way, or treats DTR's address as an insecure registry)"
            ));
        }
        (_, EngineAnswer::Failed { failure, line }) => {
            let why = match failure {
                PushFailure::UnknownAuthority => {
                    "DTR presents a certificate this file's CA did not issue, or the engine reads another certs.d"
                }
                PushFailure::MissingClientKey => {
                    "the certs.d directory holds a client certificate without its key; only ca.crt belongs there"
                }
                _ => {
                    "DTR's certificate is not valid for the name the engine dialled, or has expired"
                }
            };
            verdict = Verdict::broken(
                Link::NodeTrustsDtr,
                verdict.node.as_deref(),
                format!("{}, but the node's engine fails: `{line}`", verdict.message),
                why,
                FIX_COPY,
            );
        }
        (_, EngineAnswer::Verified) => {
            verdict.message.push_str(
                "; the node's engine verifies DTR (an anonymous pull reached the registry)",
            );
        }
        (_, EngineAnswer::Unknown(why)) => {
            verdict
                .message
                .push_str(&format!(" (the engine was not asked: {why})"));
        }
    }
    verdict
}

/// Whether the CA file at `path` on the node is one DTR's certificate
/// chains to: the question a runtime asks of it.
pub(super) async fn ca_file_verdict(
    shell: &NodeShell<'_>,
    node: &str,
    path: &str,
    dtr_ca: &DtrCa,
) -> Verdict {
    let link = Link::NodeTrustsDtr;
    let name = Some(node);
    let out = match shell.run(&copy_ca_crt::probe_script(path)).await {
        Ok(out) => out,
        Err(e) => {
            return Verdict::broken(
                link,
                name,
                format!("{node} cannot be reached"),
                e.to_string(),
                "check SSH access to the node, then run doctor again",
            );
        }
    };
    let remote = copy_ca_crt::parse_probe(&out.stdout_text());
    let content = match remote {
        Some(Remote::File { content, .. }) => content,
        Some(Remote::Absent) => {
            return Verdict::broken(
                link,
                name,
                format!("{path} is missing"),
                "the runtime has no CA for DTR's private certificate",
                FIX_COPY,
            );
        }
        Some(Remote::Unreadable) => {
            return Verdict::broken(
                link,
                name,
                format!("{path} cannot be read"),
                "the SSH user cannot read it",
                "connect as root (ansible_user), or let the login user become root (ansible_become: true), to let doctor read it",
            );
        }
        Some(Remote::NotAFile) => {
            return Verdict::broken(
                link,
                name,
                format!("{path} is not a file"),
                "something else is in the way of ca.crt",
                format!("remove it, then {FIX_COPY}"),
            );
        }
        None => {
            return Verdict::broken(
                link,
                name,
                format!("{path} cannot be inspected"),
                out.stderr_text().trim().to_string(),
                "check the node's shell",
            );
        }
    };
    // The engine's question is whether DTR's chain verifies against the
    // file; the chain is read once per DTR and the file may be a bundle.
    let anchors: Vec<CertificateDer<'static>> = match cert::parse_pem(&content, "ca.crt") {
        Ok(certs) => certs.into_iter().map(|c| c.der).collect(),
        Err(e) => {
            return Verdict::broken(
                link,
                name,
                format!("{path} is not a usable CA"),
                e.to_string(),
                FIX_COPY,
            );
        }
    };
    match presented(dtr_ca).await {
        Ok(chain) => match chain.split_first() {
            Some((leaf, rest)) => match cert::verify_chain(leaf, rest, &anchors, UnixTime::now()) {
                Ok(()) => Verdict::ok(
                    link,
                    name,
                    format!(
                        "{path} holds a CA that DTR's certificate chains to{}",
                        fingerprint_note(&content)
                    ),
                ),
                Err(why) => Verdict::broken(
                    link,
                    name,
                    format!("{path} holds another CA"),
                    format!(
                        "DTR's certificate does not chain to {} in {path} ({why}); DTR's CA is {}",
                        one_line(&content),
                        one_line(&dtr_ca.pem)
                    ),
                    FIX_COPY,
                ),
            },
            None => Verdict::broken(
                link,
                name,
                "DTR presented no certificate",
                "the TLS handshake with DTR returned no certificate",
                "check DTR",
            ),
        },
        Err(e) => Verdict::broken(link, name, "DTR cannot be reached", e, "check DTR"),
    }
}

/// The chain DTR presents (read again here, not cached, because doctor
/// judges the live server).
pub(super) async fn presented(dtr_ca: &DtrCa) -> Result<Vec<CertificateDer<'static>>, String> {
    let base = parse_base_url(Service::Dtr, &dtr_ca.origin).map_err(|e| e.to_string())?;
    tls::presented_chain(Service::Dtr, &base)
        .await
        .map_err(|e| e.to_string())
}
