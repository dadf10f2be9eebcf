//! The files step 5 wants on a node, per runtime, and how each is judged
//! in sync: `copy-ca-crt`'s plan (`copy_ca_crt.rs` probes and writes them).
//!
//! Docker needs `<docker_certs_dir>/<dtr-host[:port]>/ca.crt`; containerd
//! needs the same CA in its hosts directory, a `hosts.toml` naming it and
//! the CRI drop-in (`containerd_trust.rs`, paths by layout in
//! `node_runtime.rs`). Certificates are judged as DER and shown described;
//! TOML files are judged by the settings that matter and shown as text.

use crate::api::contract::{self, Lookup};
use crate::api::registry::ca_crt_path;
use crate::cert;
use crate::task::TaskError;
use crate::tasks::containerd_trust;
use crate::tasks::node_runtime::{Containerd, Runtimes};

/// How a file's content is judged in sync.
#[derive(Debug, Clone)]
pub(crate) enum Judge {
    /// The same certificates (DER), whatever the PEM's whitespace.
    Cert,
    /// A `hosts.toml` in `dir` that trusts `ca` for `host`.
    Hosts {
        dir: String,
        host: String,
        ca: String,
    },
    /// A drop-in that sets `config_path` to `certs_dir`.
    Dropin {
        containerd: Containerd,
        certs_dir: String,
    },
}

/// One file step 5 wants on the node.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub(crate) path: String,
    pub(crate) content: String,
    pub(crate) judge: Judge,
    /// What it is for, in messages ("DTR's CA", "containerd's hosts.toml").
    pub(crate) what: &'static str,
    /// Said when it changes: what the runtime needs to see the change.
    pub(crate) note: Option<String>,
}

/// Where the task was told to put the files (its arguments); `None`
/// falls back to the inventory's variables, then to the layout's defaults.
/// The plan takes these rather than the task, so that the task's module
/// depends on the plan and not the other way round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Places<'a> {
    pub(crate) docker_certs_dir: Option<&'a str>,
    pub(crate) containerd_certs_dir: Option<&'a str>,
    pub(crate) containerd_cri_dropin: Option<&'a str>,
}

/// Every file the node's runtimes need for DTR.
pub(crate) fn wanted(
    task: Places<'_>,
    lookup: Lookup<'_>,
    runtimes: &Runtimes,
    registry_host: &str,
    pem: &str,
) -> Result<Vec<Wanted>, TaskError> {
    let setting = |e: contract::SettingsError| TaskError::failed(e.to_string());
    let mut files = Vec::new();
    if runtimes.docker {
        let certs_dir = contract::certs_dir(task.docker_certs_dir, lookup).map_err(setting)?;
        files.push(Wanted {
            path: ca_crt_path(&certs_dir, registry_host),
            content: pem.to_string(),
            judge: Judge::Cert,
            what: "DTR's CA",
            note: None,
        });
    }
    if let Some(containerd) = &runtimes.containerd {
        let certs_dir = contract::text(task.containerd_certs_dir, "containerd_certs_dir", lookup)
            .map_err(setting)?
            .unwrap_or_else(|| containerd.default_certs_dir().to_string());
        let dropin = contract::text(task.containerd_cri_dropin, "containerd_cri_dropin", lookup)
            .map_err(setting)?
            .unwrap_or_else(|| containerd.default_dropin().to_string());
        let dir = format!("{}/{registry_host}", certs_dir.trim_end_matches('/'));
        let ca = format!("{dir}/ca.crt");
        files.push(Wanted {
            path: ca.clone(),
            content: pem.to_string(),
            judge: Judge::Cert,
            what: "DTR's CA",
            note: None,
        });
        files.push(Wanted {
            path: format!("{dir}/hosts.toml"),
            content: containerd_trust::hosts_toml(registry_host, &ca),
            judge: Judge::Hosts {
                dir: dir.clone(),
                host: registry_host.to_string(),
                ca,
            },
            what: "containerd's hosts.toml",
            note: None,
        });
        files.push(Wanted {
                path: dropin,
                content: containerd_trust::dropin(containerd, &certs_dir),
                judge: Judge::Dropin {
                    containerd: containerd.clone(),
                    certs_dir,
                },
                what: "the CRI drop-in",
                note: Some(format!(
                    "{} reads it when it starts: restart containerd (on MKE 4, the k0s service) for Kubernetes pulls",
                    containerd.describe()
                )),
            });
    }
    Ok(files)
}

/// Whether `content` is what `judge` wants; `Err` says why not.
pub(crate) fn judged(
    judge: &Judge,
    content: &str,
    wanted: &str,
) -> Result<(), containerd_trust::Untrusted> {
    match judge {
        Judge::Cert => match cert::same_certificates(content, wanted) {
            true => Ok(()),
            false => Err(containerd_trust::Untrusted::OtherCertificate),
        },
        Judge::Hosts { dir, host, ca } => {
            containerd_trust::hosts_toml_trusts(content, dir, host, ca)
        }
        Judge::Dropin {
            containerd,
            certs_dir,
        } => containerd_trust::dropin_sets(content, containerd, certs_dir),
    }
}

/// How a file's change is shown: certificates described, TOML as text.
pub(crate) fn shown(judge: &Judge, text: &str) -> String {
    match judge {
        Judge::Cert => cert::describe(text),
        _ => text.to_string(),
    }
}
