//! The real job's end state, checked from the control side after a run
//! (`real_job.rs`): every node's `ca.crt` is DTR's CA, UCP's registry
//! configuration names DTR with that CA, DTR's `authBypassCA` is UCP's
//! cluster root CA, and DTR lists the pushed tags. UCP and DTR are read
//! through the lab's proxy with TLS verified against the lab's CAs, as
//! their users reach them.

use std::fs;
use std::path::PathBuf;

use dtrplay_lab::node::backing_path;
use dtrplay_lab::state::{LabConfig, LabState};

/// PEM text compared without surrounding whitespace: one tool writes the
/// CA with its final newline, another may not, and both are the same file
/// to an engine.
fn same_pem(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

/// A lab started for one timed run: its directory, what `lab serve`
/// runs (`lab.json`) and its accounts (`config.json`).
pub struct LabRun {
    pub dir: PathBuf,
    pub state: LabState,
    pub config: LabConfig,
}

/// Checks the procedure's end state on the nodes, UCP and DTR; returns a
/// summary of what was found, or the first thing that is wrong.
pub fn check(lab: &LabRun, expected_tags: &[String]) -> Result<String, String> {
    let dtr_ca = fs::read_to_string(&lab.state.dtr_ca_file)
        .map_err(|e| format!("cannot read {}: {e}", lab.state.dtr_ca_file.display()))?;
    for node in &lab.state.nodes {
        let remote = format!("/etc/docker/certs.d/{}/ca.crt", lab.state.dtr.host);
        let path = backing_path(&node.root, &remote);
        let found =
            fs::read_to_string(&path).map_err(|e| format!("{}: {remote}: {e}", node.name))?;
        if !same_pem(&found, &dtr_ca) {
            return Err(format!("{}: {remote} does not hold DTR's CA", node.name));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let tags = runtime.block_on(apis_end_state(lab, &dtr_ca))?;
    if tags.is_empty() {
        return Err("DTR lists no tag of the test repository: the push did not arrive".into());
    }
    if let Some(missing) = expected_tags.iter().find(|tag| !tags.contains(tag)) {
        return Err(format!(
            "DTR lists no tag {missing} (it lists {})",
            tags.join(", ")
        ));
    }
    Ok(format!(
        "ca.crt equal to DTR's CA on {} nodes; UCP's registry and DTR's authBypassCA set; DTR lists {} tag(s) of {}",
        lab.state.nodes.len(),
        tags.len(),
        push_repo(&lab.config)
    ))
}

fn push_repo(config: &LabConfig) -> String {
    format!("{}/hello-world", config.admin_user)
}

/// UCP's registry configuration, DTR's bypass CA and the test
/// repository's tags, read through the lab's proxy with TLS verified.
async fn apis_end_state(lab: &LabRun, dtr_ca: &str) -> Result<Vec<String>, String> {
    dtrplay::api::tls::install_provider();
    let ucp_ca = fs::read_to_string(&lab.state.ucp_ca_file)
        .map_err(|e| format!("cannot read {}: {e}", lab.state.ucp_ca_file.display()))?;
    let mut builder = reqwest::Client::builder().tls_certs_only(
        [ucp_ca.as_str(), dtr_ca]
            .into_iter()
            .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the lab's CAs: {e}"))?,
    );
    if let Some(proxy) = &lab.state.https_proxy {
        builder = builder.proxy(reqwest::Proxy::https(proxy).map_err(|e| e.to_string())?);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let config = &lab.config;
    let get_json = |request: reqwest::RequestBuilder, what: &'static str| async move {
        let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{what}: HTTP {}", response.status()));
        }
        response
            .json::<serde_json::Value>()
            .await
            .map_err(|e| format!("{what}: {e}"))
    };

    let login = get_json(
        client
            .post(format!("{}/auth/login", lab.state.ucp.url))
            .json(&serde_json::json!({"username": config.admin_user, "password": config.admin_password})),
        "UCP login",
    )
    .await?;
    let token = login["auth_token"].as_str().unwrap_or_default().to_string();
    let registry = get_json(
        client
            .get(format!("{}/api/config/registry", lab.state.ucp.url))
            .bearer_auth(&token),
        "UCP's registry configuration",
    )
    .await?;
    if registry["url"].as_str() != Some(lab.state.dtr.url.as_str()) {
        return Err(format!(
            "UCP's registry configuration names {}, not DTR",
            registry["url"]
        ));
    }
    if !same_pem(registry["caBundle"].as_str().unwrap_or_default(), dtr_ca) {
        return Err("UCP's registry configuration does not hold DTR's CA".into());
    }
    let cluster_ca = client
        .get(format!("{}/ca", lab.state.ucp.url))
        .send()
        .await
        .map_err(|e| format!("UCP's /ca: {e}"))?
        .text()
        .await
        .map_err(|e| format!("UCP's /ca: {e}"))?;
    let settings = get_json(
        client
            .get(format!("{}/api/v0/meta/settings", lab.state.dtr.url))
            .basic_auth(&config.admin_user, Some(&config.admin_password)),
        "DTR's settings",
    )
    .await?;
    let bypass = settings["authBypassCA"].as_str().unwrap_or_default();
    if bypass.trim().is_empty() || !same_pem(bypass, &cluster_ca) {
        return Err("DTR's authBypassCA is not UCP's cluster root CA".into());
    }
    let tags = get_json(
        client
            .get(format!(
                "{}/api/v0/repositories/{}/tags",
                lab.state.dtr.url,
                push_repo(config)
            ))
            .basic_auth(&config.admin_user, Some(&config.admin_password)),
        "DTR's tags of the test repository",
    )
    .await?;
    Ok(tags
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| tag["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
