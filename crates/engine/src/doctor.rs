//! `dtrplay doctor`: checks the three trust links of the integration without
//! changing anything, and says for each broken one why and how to fix it.
//!
//! The links, in the procedure's words:
//! 1. **UCP knows DTR**: UCP holds DTR's URL and DTR's CA, not "insecure"
//!    (step 3). Broken, pushes fail with `denied: requested access to the
//!    resource is denied` (Docker 1.11: `unauthorized: authentication
//!    required`; every text is in `tasks/push_failure.rs`).
//! 2. **DTR trusts UCP**: DTR's `authBypassCA` is UCP's cluster root CA
//!    (step 4; DTR 2.1+/MSR trust it from installation, which the API cannot
//!    show). Broken, pushes fail with the same refusal.
//! 3. **Each node trusts DTR**: `<docker_certs_dir>/<dtr-host[:port]>/ca.crt`
//!    on the node is a CA the certificate DTR actually presents chains to
//!    (step 5), read over SSH, and the node's engine agrees
//!    (`doctor/engine_probe.rs`: an anonymous pull of a tag that never
//!    exists, classified as push-test classifies). A node running
//!    containerd gets a verdict for it too (`doctor/containerd.rs`:
//!    hosts directory, `hosts.toml`, CRI drop-in, `containerd config
//!    dump`); which runtimes, `container_runtime` says or doctor detects
//!    (`tasks/node_runtime.rs`). Broken, pushes fail with `x509:
//!    certificate signed by unknown authority`.
//!
//! Every API read is the same one the tasks make (`api::*`), so doctor and
//! `apply` can never disagree about what "configured" means. CAs expiring
//! within 30 days are reported as warnings. The exit status is 0 only when
//! every link holds on every node (`ExitStatus::Unhealthy` otherwise).
//!
//! The verdicts are data ([`Verdict`], in `report/verdict.rs`), sent to
//! the same `Reporter`s apply uses as `Event::Verdict`, and all of them in
//! the closing `Event::DoctorSummary`; `report::doctor` presents them for
//! people and as JSON Lines, `report::doctor_documents` as JUnit and HTML.
//!
//! This file holds the verdicts and `diagnose`, which runs the checks in
//! order; each link has its own file (`ucp_link`, `bypass_link`,
//! `node_link`, with `containerd` and `engine_probe` for the node's
//! runtimes), and `inputs` loads the inventory and connects to the nodes.

use std::path::PathBuf;
use std::time::Instant;

use crate::api::contract::{self, DtrAccess, DtrArgs, Lookup, SettingsError, UcpAccess, UcpArgs};
use crate::api::dtr_ca::{self, DtrCa};
use crate::cert;
use crate::error::{Error, ExitStatus};
use crate::report::human::HumanReporter;
use crate::report::json::JsonReporter;
use crate::report::{Event, Reporter};

mod bypass_link;
mod ca_file;
mod containerd;
mod engine_probe;
mod inputs;
mod node;
mod node_link;
mod ucp_link;

use crate::report::verdict::Reach;
pub use crate::report::verdict::{Health, Link, Verdict};
use bypass_link::dtr_trusts_ucp;
pub use inputs::{Connecting, Inputs, NODES_GROUP, load};
pub use node::{NodeTarget, TrustSettings};
use node_link::node_trusts_dtr;
use ucp_link::ucp_knows_dtr;

/// CAs and certificates expiring within this many days are warned about.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The fix for links 3–4 and 5, as commands.
const FIX_UPLOAD: &str =
    "run `dtrplay apply playbooks/integrate.yml -i <inventory> --tags upload-ca` (step 3)";
const FIX_BYPASS: &str = "run `dtrplay apply playbooks/integrate.yml -i <inventory> --tags dump-certs,set-bypass-ca` (step 4)";
const FIX_COPY: &str =
    "run `dtrplay apply playbooks/integrate.yml -i <inventory> --tags copy-ca-crt` (step 5)";

/// Checks every link. `lookup` gives the inventory contract's variables
/// (rendered); `nodes` are the UCP nodes to check.
pub async fn diagnose(lookup: Lookup<'_>, nodes: &[NodeTarget]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let now = cert::now_unix();

    // Step 2 first: every other link is judged against DTR's proven CA.
    let dtr_access = DtrAccess::resolve(DtrArgs::default(), lookup, false);
    let dtr_ca = match &dtr_access {
        Ok(access) => dtr_ca::fetch(&access.ca_source())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match &dtr_ca {
        Ok(ca) => {
            verdicts.push(Verdict::ok(Link::DtrCa, None, describe_dtr_ca(ca)));
            expiry_warnings(&mut verdicts, ca, now);
        }
        Err(e) => verdicts.push(Verdict::broken(
            Link::DtrCa,
            None,
            "DTR's CA cannot be established",
            e.clone(),
            "fix DTR's address or the dtr_ca_file / dtr_ca_fingerprint variables, then run doctor again",
        )),
    }

    // UCP, once, for links 1 and 2.
    let ucp = match UcpAccess::resolve(UcpArgs::default(), lookup) {
        Ok(access) => access.connect().await.map_err(SettingsError::from),
        Err(e) => Err(e),
    };
    let flavor_var = contract::flavor(None, lookup).ok().flatten();
    let flavor = match (&ucp, flavor_var) {
        (_, Some(f)) => Some(f),
        (Ok(ucp), None) => ucp.detect_flavor().await.ok(),
        (Err(_), None) => None,
    };
    verdicts.push(ucp_knows_dtr(&ucp, flavor, dtr_ca.as_ref().ok()).await);
    verdicts.extend(dtr_trusts_ucp(lookup, &ucp, flavor, now).await);

    for node in nodes {
        verdicts.extend(node_trusts_dtr(node, dtr_ca.as_ref().ok()).await);
    }
    verdicts
}

fn describe_dtr_ca(ca: &DtrCa) -> String {
    match (&ca.public_issuer, ca.primary()) {
        (Some(issuer), _) => format!(
            "DTR at {} presents a certificate from {issuer}, publicly trusted: steps 3's CA upload and 5 are not needed",
            ca.origin
        ),
        (None, Some(c)) => format!(
            "DTR at {} serves CA {} (SHA-256 {}), and its server certificate chains to it",
            ca.origin, c.info.subject, c.info.sha256
        ),
        (None, None) => format!("DTR at {} serves no CA", ca.origin),
    }
}

fn expiry_warnings(verdicts: &mut Vec<Verdict>, ca: &DtrCa, now: i64) {
    for c in &ca.certs {
        if let Some(days) = cert::expiring_within(&c.info, EXPIRY_WARNING_DAYS, now) {
            verdicts.push(Verdict::warning(
                Link::DtrCa,
                None,
                format!(
                    "DTR's CA {} expires in {days} days ({})",
                    c.info.subject,
                    c.info.not_after_text()
                ),
                "renew DTR's CA, then re-run the integration playbook so UCP and every node get the new one",
            ));
        }
    }
    if let Some(server) = &ca.server
        && let Some(days) = cert::expiring_within(server, EXPIRY_WARNING_DAYS, now)
    {
        verdicts.push(Verdict::warning(
            Link::DtrCa,
            None,
            format!(
                "DTR's server certificate {} expires in {days} days ({})",
                server.subject,
                server.not_after_text()
            ),
            "renew DTR's server certificate (webTLSCert) before it expires",
        ));
    }
}

/// The exit status for a set of verdicts.
pub fn exit_status(verdicts: &[Verdict]) -> ExitStatus {
    if verdicts.iter().any(|v| v.health == Health::Broken) {
        ExitStatus::Unhealthy
    } else {
        ExitStatus::Success
    }
}

/// Checks the links for already loaded inputs and renders the verdicts
/// through the reporter `--output` would choose (human or JSON Lines),
/// as text: the unset environment variables, the verdicts, the summary.
pub async fn check(inputs: &Inputs, json: bool) -> (String, ExitStatus) {
    let mut out = Vec::new();
    let status = {
        let mut reporter: Box<dyn Reporter + '_> = if json {
            Box::new(JsonReporter::new(&mut out))
        } else {
            Box::new(HumanReporter::new(&mut out, false, false, 0, false))
        };
        report(inputs, Vec::new(), Instant::now(), reporter.as_mut()).await
    };
    (String::from_utf8_lossy(&out).into_owned(), status)
}

/// `dtrplay doctor -i INVENTORY`: loads the inventory, connects to the nodes
/// of group `ucp` (read-only), checks the links and reports to `reporter`,
/// as apply does: how the nodes were reached (`Event::DoctorStart`), the
/// warnings, a verdict per check, and the summary last. Exit status 0
/// only when every link holds.
pub async fn run(
    inventory_paths: &[PathBuf],
    extra_vars: &[String],
    limit: Option<&str>,
    connecting: &Connecting,
    reporter: &mut dyn Reporter,
) -> Result<ExitStatus, Error> {
    let started = Instant::now();
    let inputs = load(inventory_paths, extra_vars, limit, connecting).await?;
    // The fixes name the inventory the user gave, so they can be pasted.
    let inventory = inventory_paths
        .iter()
        .map(|p| format!("-i {}", p.display()))
        .collect::<Vec<_>>()
        .join(" ");
    let status = report(
        &inputs,
        vec![("-i <inventory>", inventory)],
        started,
        reporter,
    )
    .await;
    for node in &inputs.nodes {
        if let Ok(conn) = &node.conn {
            conn.close().await;
        }
    }
    Ok(status)
}

/// Checks the links and sends everything a doctor run shows to
/// `reporter`; `replace` rewrites the fixes (placeholder, text).
async fn report(
    inputs: &Inputs,
    replace: Vec<(&str, String)>,
    started: Instant,
    reporter: &mut dyn Reporter,
) -> ExitStatus {
    let url = |name: &str| {
        inputs
            .vars
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("(not set)")
            .to_string()
    };
    reporter.report(&Event::DoctorStart {
        ucp_url: url("ucp_url"),
        dtr_url: url("dtr_url"),
        nodes: inputs
            .nodes
            .iter()
            .map(|node| {
                let reached = match &node.conn {
                    Ok(conn) => Reach::Connected(conn.describe()),
                    Err(e) => Reach::Failed(e.to_string()),
                };
                (node.name.clone(), reached)
            })
            .collect(),
    });
    for unset in &inputs.unset_env {
        reporter.report(&Event::Warning {
            host: None,
            message: unset.message(),
        });
    }
    let lookup = contract::map_lookup(&inputs.vars);
    let mut verdicts = diagnose(&lookup, &inputs.nodes).await;
    for verdict in &mut verdicts {
        if let Some(fix) = &mut verdict.fix {
            for (placeholder, text) in &replace {
                *fix = fix.replace(placeholder, text);
            }
        }
        reporter.report(&Event::Verdict(verdict.clone()));
    }
    let status = exit_status(&verdicts);
    reporter.report(&Event::DoctorSummary {
        verdicts,
        elapsed: started.elapsed(),
    });
    status
}

/// A CA as one line of a verdict: its subject and fingerprint. The links'
/// messages share it, so every verdict names a CA the same way.
fn one_line(pem: &str) -> String {
    match cert::parse_pem(pem, "the CA") {
        Ok(certs) => certs
            .first()
            .map(|c| format!("{} (SHA-256 {})", c.info.subject, c.info.sha256))
            .unwrap_or_default(),
        Err(e) => format!("an unusable certificate ({e})"),
    }
}

/// The subject and fingerprint of a PEM's first certificate, as a note
/// after a message (empty when it cannot be read).
fn fingerprint_note(pem: &str) -> String {
    cert::parse_pem(pem, "the CA")
        .ok()
        .and_then(|c| {
            c.first()
                .map(|c| format!(" {} (SHA-256 {})", c.info.subject, c.info.sha256))
        })
        .unwrap_or_default()
}
