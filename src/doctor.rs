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
//! The verdicts are data ([`Verdict`]); `report::doctor` presents them
//! (for people, or JSON Lines, one object per verdict).

use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Map, Value};

use crate::api::contract::{self, DtrAccess, DtrArgs, Lookup, UcpAccess, UcpArgs};
use crate::api::dtr_ca::{self, DtrCa};
use crate::api::registry::ca_crt_path;
use crate::api::ucp::{RegistryConfig, Ucp};
use crate::api::{Flavor, Service, origin, parse_base_url, tls};
use crate::cert;
use crate::config::parse_extra_vars;
use crate::connection::escalate::Escalation;
use crate::connection::{ConnError, ConnectOptions, Connection};
use crate::env_lookups::UnsetEnv;
use crate::error::{Error, ExitStatus};
use crate::escalation::BecomeDefaults;
use crate::inventory::{Inventory, Pattern};
use crate::tasks::copy_ca_crt::{self, Remote};
use crate::tasks::node_runtime::{self, RuntimeArg, Runtimes};
use crate::tasks::push_failure::{PushFailure, X509_UNKNOWN_AUTHORITY};
use engine_probe::EngineAnswer;

mod containerd;
mod engine_probe;

/// What a push shows while step 3 or 4 is broken, on current engines and
/// on the procedure's Docker 1.11 (`push_failure.rs` keeps both texts; the
/// unit test below keeps this line equal to them).
const REFUSED_SYMPTOM: &str = "denied: requested access to the resource is denied (Docker 1.11: unauthorized: authentication required)";
use crate::tasks::set_bypass_ca::{CA_FIELD, DEFAULT_OU, OU_FIELD, installed_trust_message};
use crate::template::{Templates, Vars};
use crate::vars::RunVars;

/// CAs and certificates expiring within this many days are warned about.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Which trust link a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Step 2: DTR serves a CA that its own certificate chains to.
    DtrCa,
    /// Step 3.
    UcpKnowsDtr,
    /// Step 4.
    DtrTrustsUcp,
    /// Step 5, per node.
    NodeTrustsDtr,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::DtrCa => "dtr_ca",
            Link::UcpKnowsDtr => "ucp_knows_dtr",
            Link::DtrTrustsUcp => "dtr_trusts_ucp",
            Link::NodeTrustsDtr => "node_trusts_dtr",
        }
    }

    /// The heading people read.
    pub fn title(self) -> &'static str {
        match self {
            Link::DtrCa => "DTR's CA (step 2)",
            Link::UcpKnowsDtr => "UCP knows DTR (step 3)",
            Link::DtrTrustsUcp => "DTR trusts UCP (step 4)",
            Link::NodeTrustsDtr => "node trusts DTR (step 5)",
        }
    }

    /// The error a push from a node shows while this link is broken.
    pub fn symptom(self) -> Option<&'static str> {
        match self {
            Link::UcpKnowsDtr | Link::DtrTrustsUcp => Some(REFUSED_SYMPTOM),
            Link::NodeTrustsDtr => Some(X509_UNKNOWN_AUTHORITY),
            Link::DtrCa => None,
        }
    }
}

/// How a link is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Holds, but needs attention soon (a CA about to expire).
    Warning,
    Broken,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Broken => "broken",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub link: Link,
    /// The node, for per-node links.
    pub node: Option<String>,
    pub health: Health,
    /// What holds (or not), in one sentence.
    pub message: String,
    /// Why it is broken, when it is.
    pub cause: Option<String>,
    /// What to run or change.
    pub fix: Option<String>,
}

impl Verdict {
    fn ok(link: Link, node: Option<&str>, message: impl Into<String>) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Ok,
            message: message.into(),
            cause: None,
            fix: None,
        }
    }

    fn broken(
        link: Link,
        node: Option<&str>,
        message: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Broken,
            message: message.into(),
            cause: Some(cause.into()),
            fix: Some(fix.into()),
        }
    }

    fn warning(link: Link, node: Option<&str>, message: impl Into<String>, fix: &str) -> Verdict {
        Verdict {
            link,
            node: node.map(str::to_string),
            health: Health::Warning,
            message: message.into(),
            cause: None,
            fix: Some(fix.to_string()),
        }
    }
}

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
struct NodeShell<'a> {
    conn: &'a dyn Connection,
    escalation: Option<&'a Escalation>,
}

impl NodeShell<'_> {
    async fn run(&self, script: &str) -> Result<crate::connection::Output, ConnError> {
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
        Ok(access) => access.connect().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
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

async fn ucp_knows_dtr(
    ucp: &Result<Ucp, String>,
    flavor: Option<Flavor>,
    dtr_ca: Option<&DtrCa>,
) -> Verdict {
    let link = Link::UcpKnowsDtr;
    let ucp = match ucp {
        Ok(ucp) => ucp,
        Err(e) => {
            return Verdict::broken(
                link,
                None,
                "UCP cannot be read",
                e.clone(),
                "fix ucp_url, the UCP credentials or ucp_ca_file, then run doctor again",
            );
        }
    };
    let Some(dtr_ca) = dtr_ca else {
        return Verdict::broken(
            link,
            None,
            "cannot judge UCP's DTR configuration",
            "DTR's CA is unknown (see the step 2 verdict)",
            "fix step 2 first",
        );
    };
    let flavor = flavor.unwrap_or(Flavor::Ucp1);
    let current = match flavor {
        Flavor::Ucp1 => ucp.registry_config().await,
        Flavor::Ucp3 => ucp.trusted_registries().await.map(|regs| {
            regs.into_iter()
                .find(|r| r.host_address.eq_ignore_ascii_case(&dtr_ca.registry_host))
                .map(|r| RegistryConfig {
                    url: format!("https://{}", r.host_address),
                    insecure: false,
                    ca: r.ca_bundle,
                })
        }),
    };
    let current = match current {
        Ok(current) => current,
        Err(e) => {
            return Verdict::broken(
                link,
                None,
                "UCP's DTR configuration cannot be read",
                e.to_string(),
                "check that ucp_username is a UCP administrator",
            );
        }
    };
    let Some(current) = current else {
        return Verdict::broken(
            link,
            None,
            format!("UCP ({}) has no DTR configured", flavor.as_str()),
            format!("UCP does not know DTR at {}", dtr_ca.origin),
            FIX_UPLOAD,
        );
    };
    let same_url = parse_base_url(Service::Dtr, &current.url)
        .map(|u| origin(&u))
        .is_ok_and(|u| u == dtr_ca.origin);
    if !same_url {
        return Verdict::broken(
            link,
            None,
            format!("UCP points at another DTR: {}", current.url),
            format!("UCP's DTR URL is {}, not {}", current.url, dtr_ca.origin),
            FIX_UPLOAD,
        );
    }
    if current.insecure {
        return Verdict::broken(
            link,
            None,
            "UCP reaches DTR with \"insecure\" set",
            "UCP does not verify DTR's certificate: traffic is encrypted but open to man-in-the-middle attacks",
            FIX_UPLOAD,
        );
    }
    if dtr_ca.public_issuer.is_some() {
        return Verdict::ok(
            link,
            None,
            format!(
                "UCP knows DTR at {}; DTR is publicly trusted, no CA needed",
                dtr_ca.origin
            ),
        );
    }
    match current.ca.as_deref() {
        Some(have) if cert::same_certificates(have, &dtr_ca.pem) => Verdict::ok(
            link,
            None,
            format!(
                "UCP ({}) knows DTR at {} with its CA{}",
                flavor.as_str(),
                dtr_ca.origin,
                fingerprint_note(&dtr_ca.pem)
            ),
        ),
        Some(have) => Verdict::broken(
            link,
            None,
            "UCP holds another CA for DTR",
            format!(
                "UCP's CA for DTR is {}, but DTR's CA is {}",
                one_line(have),
                one_line(&dtr_ca.pem)
            ),
            FIX_UPLOAD,
        ),
        None => Verdict::broken(
            link,
            None,
            "UCP knows DTR's URL but has no CA for it",
            "DTR's certificate is from a private CA that UCP was not given",
            FIX_UPLOAD,
        ),
    }
}

async fn dtr_trusts_ucp(
    lookup: Lookup<'_>,
    ucp: &Result<Ucp, String>,
    flavor: Option<Flavor>,
    now: i64,
) -> Vec<Verdict> {
    let link = Link::DtrTrustsUcp;
    let ucp_url = contract::text(None, "ucp_url", lookup).ok().flatten();
    if flavor == Some(Flavor::Ucp3) {
        return vec![Verdict::ok(
            link,
            None,
            installed_trust_message(ucp_url.as_deref()),
        )];
    }
    let ucp_ca = match ucp {
        Ok(ucp) => ucp.ca().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let ucp_ca = match ucp_ca
        .and_then(|pem| cert::parse_ca(&pem, "UCP's CA", now).map_err(|e| e.to_string()))
    {
        Ok(ca) => ca,
        Err(e) => {
            return vec![Verdict::broken(
                link,
                None,
                "UCP's cluster CA cannot be read",
                e,
                "fix the UCP settings, then run doctor again",
            )];
        }
    };
    let mut verdicts = Vec::new();
    if let Ok(Some(pin)) = contract::text(None, "ucp_ca_fingerprint", lookup)
        && let Err(e) = cert::check_pin(&ucp_ca, &pin, "UCP's CA at /ca")
    {
        verdicts.push(Verdict::broken(
            link,
            None,
            "UCP's CA does not match ucp_ca_fingerprint",
            e.to_string(),
            "check the pin against `docker/ucp dump-certs --cluster --ca` on a controller",
        ));
        return verdicts;
    }
    if let Some(days) = cert::expiring_within(&ucp_ca.info, EXPIRY_WARNING_DAYS, now) {
        verdicts.push(Verdict::warning(
            link,
            None,
            format!(
                "UCP's cluster CA {} expires in {days} days ({})",
                ucp_ca.info.subject,
                ucp_ca.info.not_after_text()
            ),
            "rotate UCP's cluster CA, then re-run dump-certs and set-bypass-ca",
        ));
    }
    let settings = match DtrAccess::resolve(DtrArgs::default(), lookup, true) {
        Ok(access) => match access.connect().await {
            Ok(dtr) => dtr.settings().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            verdicts.push(Verdict::broken(
                link,
                None,
                "DTR's settings cannot be read",
                e,
                "check dtr_username/dtr_password: the settings need a DTR administrator",
            ));
            return verdicts;
        }
    };
    if !settings.contains_key(CA_FIELD) {
        verdicts.push(Verdict::ok(
            link,
            None,
            installed_trust_message(ucp_url.as_deref()),
        ));
        return verdicts;
    }
    let have = settings.get(CA_FIELD).and_then(Value::as_str).unwrap_or("");
    let ou = settings.get(OU_FIELD).and_then(Value::as_str).unwrap_or("");
    let ou = if ou.trim().is_empty() {
        DEFAULT_OU
    } else {
        ou.trim()
    };
    let verdict = if have.trim().is_empty() {
        Verdict::broken(
            link,
            None,
            "DTR's Auth Bypass TLS Root CA (authBypassCA) is empty",
            "DTR does not accept the certificates UCP's nodes present",
            FIX_BYPASS,
        )
    } else if !cert::same_certificates(have, &ucp_ca.to_pem()) {
        Verdict::broken(
            link,
            None,
            "DTR trusts another CA than UCP's cluster CA",
            format!(
                "authBypassCA is {}, UCP's cluster CA is {} (SHA-256 {})",
                one_line(have),
                ucp_ca.info.subject,
                ucp_ca.info.sha256
            ),
            FIX_BYPASS,
        )
    } else if ou != DEFAULT_OU {
        Verdict::broken(
            link,
            None,
            format!("DTR expects OU `{ou}` in UCP's node certificates"),
            format!("UCP issues its nodes certificates with OU `{DEFAULT_OU}`"),
            FIX_BYPASS,
        )
    } else {
        Verdict::ok(
            link,
            None,
            format!(
                "DTR trusts UCP's cluster CA {} (SHA-256 {}) with OU {ou}",
                ucp_ca.info.subject, ucp_ca.info.sha256
            ),
        )
    };
    verdicts.push(verdict);
    verdicts
}

async fn node_trusts_dtr(node: &NodeTarget, dtr_ca: Option<&DtrCa>) -> Vec<Verdict> {
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
                e,
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

/// Which runtimes the node runs, as its `container_runtime` asks.
async fn node_runtimes(shell: &NodeShell<'_>, trust: &TrustSettings) -> Result<Runtimes, String> {
    let text = trust.runtime.clone().unwrap_or_else(|| "auto".to_string());
    let arg = RuntimeArg::parse(&text).ok_or_else(|| {
        format!(
            "`container_runtime` must be one of {}, not `{text}`",
            node_runtime::RUNTIME_CHOICES.join(", ")
        )
    })?;
    let found = match arg {
        RuntimeArg::Docker => node_runtime::Detected::default(),
        _ => {
            let out = shell
                .run(&node_runtime::detect_script())
                .await
                .map_err(|e| e.to_string())?;
            node_runtime::parse_detect(&out.stdout_text())
        }
    };
    node_runtime::resolve(arg, &found).map_err(|e| e.to_string())
}

/// The Docker verdict, completed with what the node's engine answers to
/// [`engine_probe::script`].
async fn with_engine_answer(
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
async fn ca_file_verdict(shell: &NodeShell<'_>, node: &str, path: &str, dtr_ca: &DtrCa) -> Verdict {
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
async fn presented(dtr_ca: &DtrCa) -> Result<Vec<CertificateDer<'static>>, String> {
    let base = parse_base_url(Service::Dtr, &dtr_ca.origin).map_err(|e| e.to_string())?;
    tls::presented_chain(Service::Dtr, &base)
        .await
        .map_err(|e| e.to_string())
}

fn one_line(pem: &str) -> String {
    match cert::parse_pem(pem, "the CA") {
        Ok(certs) => certs
            .first()
            .map(|c| format!("{} (SHA-256 {})", c.info.subject, c.info.sha256))
            .unwrap_or_default(),
        Err(e) => format!("an unusable certificate ({e})"),
    }
}

fn fingerprint_note(pem: &str) -> String {
    cert::parse_pem(pem, "the CA")
        .ok()
        .and_then(|c| {
            c.first()
                .map(|c| format!(" {} (SHA-256 {})", c.info.subject, c.info.sha256))
        })
        .unwrap_or_default()
}

/// The exit status for a set of verdicts.
pub fn exit_status(verdicts: &[Verdict]) -> ExitStatus {
    if verdicts.iter().any(|v| v.health == Health::Broken) {
        ExitStatus::Unhealthy
    } else {
        ExitStatus::Success
    }
}

/// Nodes to check: the hosts of group `ucp`, each with its rendered
/// variables. The inventory, template rendering and SSH connections are
/// wired in by [`run`].
pub struct Inputs {
    /// Variables of the contract (from the first node, or `all`).
    pub vars: Map<String, Value>,
    pub nodes: Vec<NodeTarget>,
    /// Variables that read an unset environment variable, named before
    /// the verdicts (a missing password is usually an `export` away).
    pub unset_env: Vec<UnsetEnv>,
}

/// Checks the links for already loaded inputs and renders the verdicts.
pub async fn check(inputs: &Inputs, json: bool) -> (String, ExitStatus) {
    let lookup = contract::map_lookup(&inputs.vars);
    let verdicts = diagnose(&lookup, &inputs.nodes).await;
    (
        crate::report::doctor::render(inputs, &verdicts, json),
        exit_status(&verdicts),
    )
}

/// The group whose hosts are the UCP nodes (inventory contract).
pub const NODES_GROUP: &str = "ucp";

/// Loads what doctor needs from an inventory: the contract's variables
/// (from the first node, rendered) and a read-only connection per node of
/// group `ucp`, limited by `limit`.
/// How doctor connects, from the command line and the Ansible settings
/// (`ansible.cfg`, `ANSIBLE_*`), as apply connects.
#[derive(Debug, Clone)]
pub struct Connecting {
    /// `remote_user`, `private_key_file`, `host_key_checking`.
    pub defaults: crate::config::ConnectionDefaults,
    /// `timeout`.
    pub timeout: Duration,
}

impl Default for Connecting {
    fn default() -> Connecting {
        Connecting {
            defaults: crate::config::ConnectionDefaults::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

pub async fn load(
    inventory_paths: &[PathBuf],
    extra_vars: &[String],
    limit: Option<&str>,
    connecting: &Connecting,
) -> Result<Inputs, Error> {
    let inventory = Inventory::load(inventory_paths).map_err(Error::from)?;
    let extra = parse_extra_vars(extra_vars)?;
    let pattern = Pattern::parse(NODES_GROUP, None).map_err(Error::from)?;
    let mut hosts = inventory.select(&pattern);
    if hosts.is_empty() {
        return Err(Error::Usage {
            message: format!("the inventory has no hosts in group `{NODES_GROUP}`"),
            help: Some(
                "put the UCP nodes in `ucp_controllers` and `ucp_workers`, children of `ucp`"
                    .into(),
            ),
        });
    }
    if let Some(limit) = limit {
        let limit = Pattern::parse(limit, None).map_err(Error::from)?;
        let allowed = inventory.select(&limit);
        hosts.retain(|h| allowed.contains(h));
    }
    let templates = Templates::new();
    // The same variables and connection settings as `apply`: the run's
    // variable model (inventory, magic and extra variables, rendered
    // lazily) and the run's connect options (control directory, retries,
    // client choice), with ansible.cfg's timeout.
    let cwd = std::env::current_dir().unwrap_or_default();
    let run_vars = RunVars::new(&inventory, &extra, &cwd, false, false);
    let options = ConnectOptions {
        connect_timeout: connecting.timeout,
        ..crate::executor::connect_options(None, crate::connection::SshClient::Auto)?
    };
    let mut contract_vars = None;
    let mut nodes = Vec::new();
    for host in hosts {
        let scope = run_vars.host(&host);
        let escalation = become_of(&templates, &scope).map_err(|message| Error::Usage {
            message: format!("cannot tell whom to read {host}'s files as: {message}"),
            help: Some("fix the host's ansible_become* variables".into()),
        })?;
        let vars =
            crate::vars::rendered(&templates, &scope, contract::VARIABLES).map_err(|message| {
                Error::Usage {
                    message: format!("cannot render the variables of {host}: {message}"),
                    help: None,
                }
            })?;
        let (certs_dir, trust) = {
            let lookup = contract::map_lookup(&vars);
            let setting = |name: &str| contract::text(None, name, &lookup).ok().flatten();
            (
                contract::certs_dir(None, &lookup)
                    .unwrap_or_else(|_| contract::DEFAULT_CERTS_DIR.to_string()),
                TrustSettings {
                    runtime: setting("container_runtime"),
                    containerd_certs_dir: setting("containerd_certs_dir"),
                    containerd_cri_dropin: setting("containerd_cri_dropin"),
                },
            )
        };
        // The connection variables rendered in the host's scope, as apply
        // renders them.
        let mut connection_vars = inventory.connection_vars(&host, &extra);
        let rendered =
            crate::inventory::render_connection_vars(&mut connection_vars, |_, value| {
                templates.render_node(value.origin(), &scope)
            });
        let target = rendered.map_err(|e| e.message.clone()).and_then(|()| {
            inventory
                .target(&host, &connection_vars)
                .map_err(|e| e.message.clone())
        });
        let conn = match target {
            Ok(target) => {
                let target = connecting.defaults.apply(target);
                // The shell doctor reads the node with is the one it opens first.
                crate::connection::connect_as(&target, &options, escalation.clone()).await
            }
            Err(message) => Err(ConnError::Connect {
                host: host.clone(),
                message,
                hint: None,
            }),
        };
        nodes.push(NodeTarget {
            name: host.clone(),
            certs_dir,
            conn,
            trust,
            escalation,
        });
        contract_vars.get_or_insert(vars);
    }
    Ok(Inputs {
        vars: contract_vars.unwrap_or_default(),
        nodes,
        unset_env: crate::env_lookups::unset(&inventory, None),
    })
}

/// Whom a host's files are read as, from its `ansible_become*` variables
/// (rendered: a password may come from a lookup). Doctor has no keywords or
/// `-b` of its own; `-e ansible_become=false` reads as the login user.
fn become_of(templates: &Templates, scope: &Vars) -> Result<Option<Escalation>, String> {
    let var = |name: &str| -> Result<Option<Value>, String> {
        if !scope.contains(name) {
            return Ok(None);
        }
        templates
            .eval_str(name, scope)
            .map(Some)
            .map_err(|e| e.message.clone())
    };
    // No level has keywords, so nothing is rendered from a node.
    let render = |node: &crate::yaml::Node| Ok(node.to_json());
    crate::escalation::resolve(&BecomeDefaults::default(), &[], &var, &render)
        .map_err(|e| e.message)
}

/// `dtrplay doctor -i INVENTORY`: loads the inventory, connects to the nodes
/// of group `ucp` (read-only), checks the links and hands what to print
/// (human or JSON Lines, rendered by `report::doctor`) to `show`, which
/// `run.rs` writes out: first how the nodes were reached (with `-v`), then
/// the verdicts. Exit status 0 only when every link holds.
pub async fn run(
    inventory_paths: &[PathBuf],
    extra_vars: &[String],
    limit: Option<&str>,
    json: bool,
    verbose: u8,
    connecting: &Connecting,
    show: &mut dyn FnMut(&str),
) -> Result<ExitStatus, Error> {
    let inputs = load(inventory_paths, extra_vars, limit, connecting).await?;
    if verbose > 0 && !json {
        show(&crate::report::doctor::render_reached(&inputs));
    }
    let lookup = contract::map_lookup(&inputs.vars);
    let mut verdicts = diagnose(&lookup, &inputs.nodes).await;
    // The fixes name the inventory the user gave, so they can be pasted.
    let inventory = inventory_paths
        .iter()
        .map(|p| format!("-i {}", p.display()))
        .collect::<Vec<_>>()
        .join(" ");
    for verdict in &mut verdicts {
        if let Some(fix) = &mut verdict.fix {
            *fix = fix.replace("-i <inventory>", &inventory);
        }
    }
    show(&crate::report::doctor::render(&inputs, &verdicts, json));
    for node in &inputs.nodes {
        if let Ok(conn) = &node.conn {
            conn.close().await;
        }
    }
    Ok(exit_status(&verdicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::push_failure::{DENIED_20_10, UNAUTHORIZED_1_11};

    #[test]
    fn the_refused_symptom_quotes_both_engine_generations() {
        assert_eq!(
            REFUSED_SYMPTOM,
            format!("{DENIED_20_10} (Docker 1.11: {UNAUTHORIZED_1_11})")
        );
    }
}
