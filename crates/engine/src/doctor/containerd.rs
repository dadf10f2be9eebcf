//! doctor's step 5 verdict for a node's containerd (MKE 4's k0s, or plain
//! containerd): what `copy-ca-crt` writes, judged as containerd reads it.
//!
//! In order: the CA file in containerd's hosts directory is one DTR's
//! certificate chains to; `hosts.toml` names it for DTR (without one,
//! containerd uses the Docker-style `ca.crt` beside it, which doctor says);
//! the CRI drop-in sets `config_path` to the hosts directory for the CRI
//! plugin of this containerd's version; and `containerd config dump`, read
//! only, shows that containerd really imports it (a plain containerd 1.x
//! imports `conf.d` only when its main configuration says so).

use crate::api::dtr_ca::DtrCa;
use crate::doctor::ca_file::ca_file_verdict;
use crate::doctor::node::{NodeShell, TrustSettings};
use crate::doctor::{FIX_COPY, Health, Link, Verdict};
use crate::tasks::containerd_trust;
use crate::tasks::copy_ca_crt::{self, Remote};
use crate::tasks::node_runtime::Containerd;

/// The containerd verdict for one node.
pub async fn verdict(
    shell: &NodeShell<'_>,
    node: &str,
    containerd: &Containerd,
    trust: &TrustSettings,
    dtr_ca: &DtrCa,
) -> Verdict {
    let who = containerd.describe();
    let certs_dir = trust
        .containerd_certs_dir
        .clone()
        .unwrap_or_else(|| containerd.default_certs_dir().to_string());
    let certs_dir = certs_dir.trim_end_matches('/').to_string();
    let dropin = trust
        .containerd_cri_dropin
        .clone()
        .unwrap_or_else(|| containerd.default_dropin().to_string());
    let dir = format!("{certs_dir}/{}", dtr_ca.registry_host);
    let ca = format!("{dir}/ca.crt");
    let broken = |message: String, cause: String, fix: &str| {
        Verdict::broken(
            Link::NodeTrustsDtr,
            Some(node),
            format!("{who}: {message}"),
            cause,
            fix,
        )
    };

    let mut file = ca_file_verdict(shell, node, &ca, dtr_ca).await;
    file.message = format!("{who}: {}", file.message);
    if file.health == Health::Broken {
        return file;
    }

    let hosts = format!("{dir}/hosts.toml");
    let hosts_note = match read(shell, &hosts).await {
        Ok(Some(text)) => {
            if let Err(why) =
                containerd_trust::hosts_toml_trusts(&text, &dir, &dtr_ca.registry_host, &ca)
            {
                return broken(
                    format!("{hosts} does not trust {ca} for DTR"),
                    why.to_string(),
                    FIX_COPY,
                );
            }
            format!("; {hosts} names it")
        }
        Ok(None) => {
            format!("; {hosts} is missing, so containerd uses the Docker-style ca.crt beside it")
        }
        Err(why) => return broken(format!("{hosts} cannot be read"), why, FIX_COPY),
    };

    let plugin = containerd.cri_plugin();
    match read(shell, &dropin).await {
        Ok(Some(text)) => {
            if let Err(why) = containerd_trust::dropin_sets(&text, containerd, &certs_dir) {
                return broken(
                    format!("{dropin} does not point the CRI plugin at {certs_dir}"),
                    format!(
                        "{why}; Kubernetes pulls (the CRI plugin) then ignore the hosts directory"
                    ),
                    FIX_COPY,
                );
            }
        }
        Ok(None) => {
            return broken(
                format!("{dropin} is missing"),
                format!(
                    "nothing sets [plugins.\"{plugin}\".registry] config_path, so Kubernetes pulls (the CRI plugin) ignore the hosts directory"
                ),
                FIX_COPY,
            );
        }
        Err(why) => return broken(format!("{dropin} cannot be read"), why, FIX_COPY),
    }

    // What containerd itself makes of its configuration.
    let effective = match shell
        .run(&containerd_trust::config_dump_script(containerd))
        .await
    {
        Ok(out) if out.success() => {
            match containerd_trust::config_path(&out.stdout_text(), containerd) {
                Ok(Some(path)) if path.trim_end_matches('/') == certs_dir => {
                    "; containerd's merged configuration uses it".to_string()
                }
                Ok(found) => {
                    return broken(
                        format!(
                            "containerd does not read {dropin}: `containerd config dump` shows config_path {}",
                            found.map_or("unset".to_string(), |p| format!("= \"{p}\""))
                        ),
                        format!("{} does not import {dropin}", containerd.main_config()),
                        "add the drop-in to `imports` in containerd's main configuration (containerd 2.x imports conf.d itself), then restart containerd",
                    );
                }
                Err(why) => format!(" (`containerd config dump` is unreadable: {why})"),
            }
        }
        Ok(out) => format!(
            " (`containerd config dump` failed: {})",
            out.stderr_text().lines().last().unwrap_or("").trim()
        ),
        Err(e) => format!(" (`containerd config dump` did not run: {e})"),
    };

    file.message = format!(
        "{}{hosts_note}; {dropin} sets the CRI plugin's config_path{effective}",
        file.message
    );
    file
}

/// A file's text, `None` when it is absent.
async fn read(shell: &NodeShell<'_>, path: &str) -> Result<Option<String>, String> {
    let out = shell
        .run(&copy_ca_crt::probe_script(path))
        .await
        .map_err(|e| e.to_string())?;
    match copy_ca_crt::parse_probe(&out.stdout_text()) {
        Some(Remote::File { content, .. }) => Ok(Some(content)),
        Some(Remote::Absent) => Ok(None),
        Some(Remote::Unreadable) => Err("the SSH user cannot read it".into()),
        Some(Remote::NotAFile) => Err("it is not a regular file".into()),
        None => Err(out.stderr_text().trim().to_string()),
    }
}
