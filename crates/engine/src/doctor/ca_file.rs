//! Whether a CA file on a node is one DTR's certificate chains to: the
//! question every runtime (Docker's `certs.d`, containerd's `hosts.toml`)
//! asks of its file, answered against the live DTR.

use rustls_pki_types::{CertificateDer, UnixTime};

use super::node::NodeShell;
use super::{FIX_COPY, Link, Verdict, fingerprint_note, one_line};
use crate::api::dtr_ca::DtrCa;
use crate::api::{Service, parse_base_url, tls};
use crate::cert;
use crate::tasks::copy_ca_crt::{self, Remote};

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
