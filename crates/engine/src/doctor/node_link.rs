//! Link 3, "each node trusts DTR" (step 5): per node, the CA file under
//! `certs.d` (read over SSH, as the node's become settings say) is one the
//! certificate DTR presents chains to, and the node's engine agrees; for
//! containerd, `containerd.rs` judges its own files.
//!
//! Apart from the API links because this one reads each node, with its own
//! channel (`NodeShell`) and the node's runtime settings.

use super::ca_file::ca_file_verdict;
use super::containerd;
use super::engine_probe::{self, EngineAnswer};
use super::node::{NodeShell, NodeTarget, TrustSettings};
use super::{FIX_COPY, Health, Link, Verdict};
use crate::api::dtr_ca::DtrCa;
use crate::api::registry::ca_crt_path;
use crate::connection::ConnError;
use crate::tasks::node_runtime::{self, RuntimeArg, Runtimes};
use crate::tasks::push_failure::PushFailure;

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
    let shell = NodeShell::new(conn.as_ref(), node.escalation.as_ref());
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
