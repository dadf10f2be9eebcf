//! `set-bypass-ca`: step 4 of the procedure, making DTR trust UCP.
//!
//! DTR 2.0 authorizes requests that present a certificate issued by the CA
//! in its "Auth Bypass TLS Root CA" setting (`authBypassCA`) and carrying
//! the OU in `authBypassOU`. This task sets the CA to UCP's cluster root CA
//! (its `ca` argument, normally `"{{ ucp_ca.pem }}"` registered by
//! `dump-certs`) through `POST /api/v0/meta/settings`, a partial update that
//! sends only the fields that differ. CAs are compared by DER.
//!
//! The OU: `ou` defaults to `ucp`, the OU UCP writes into the certificates of
//! its nodes and DTR's own default (`DefaultAuthBypassOU`). DTR uses `ucp`
//! when the field is blank, which is why its UI says "Leave blank if used
//! with UCP"; blank and `ucp` are therefore the same setting here, and a
//! change between them is not reported.
//!
//! DTR 2.1+ and MSR have no `authBypassCA` in their settings API: DTR trusts
//! UCP's CA from its installation (`dtr install --ucp-ca`). On those
//! (`ucp_flavor: ucp3`, or settings without the field) the task reports ok
//! and says what to run if that trust is wrong, instead of failing on a
//! rejected setting.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::contract::{self, DtrAccess, DtrArgs};
use crate::api::dtr::Dtr;
use crate::api::{ApiError, Flavor};
use crate::cert;
use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// DTR's default bypass OU, and the OU of UCP's node certificates.
pub const DEFAULT_OU: &str = "ucp";
/// The settings field of the "Auth Bypass TLS Root CA".
pub const CA_FIELD: &str = "authBypassCA";
/// The settings field of the "Auth Bypass OU".
pub const OU_FIELD: &str = "authBypassOU";

/// The arguments of `set-bypass-ca`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBypassCa {
    /// UCP's cluster root CA (PEM).
    pub ca: String,
    #[serde(default = "default_ou")]
    pub ou: String,
    #[serde(default)]
    pub dtr_url: Option<String>,
    #[serde(default)]
    pub dtr_username: Option<String>,
    #[serde(default)]
    pub dtr_password: Option<String>,
    #[serde(default)]
    pub dtr_ca_file: Option<String>,
    #[serde(default)]
    pub flavor: Option<String>,
}

fn default_ou() -> String {
    DEFAULT_OU.to_string()
}

pub fn spec() -> Spec {
    Spec::new(
        "set-bypass-ca",
        vec![
            Param::new("ca", Kind::Pem).required(),
            Param::new("ou", Kind::Str).default(DEFAULT_OU),
            Param::new("dtr_url", Kind::Str),
            Param::new("dtr_username", Kind::Str),
            Param::new("dtr_password", Kind::Str).secret(),
            Param::new("dtr_ca_file", Kind::Path),
            Param::new("flavor", Kind::Str).choices(&["ucp1", "ucp3"]),
        ],
    )
    .on_control()
    .run_once()
}

/// The settings fields to send, and the client to send them with.
pub struct BypassDrift {
    dtr: Dtr,
    fields: Map<String, Value>,
    preview: Outcome,
}

/// What DTR does with a blank OU.
fn effective_ou(ou: &str) -> &str {
    let ou = ou.trim();
    if ou.is_empty() { DEFAULT_OU } else { ou }
}

/// What to tell a DTR 2.1+/MSR user.
pub fn installed_trust_message(ucp_url: Option<&str>) -> String {
    format!(
        "DTR has no authBypassCA setting (DTR 2.1+ / MSR): it trusts UCP's cluster CA from its installation (`dtr install --ucp-ca`); nothing to set. If pushes from the nodes fail with `unauthorized: authentication required`, reconfigure DTR with the CA from dump-certs: `docker run -it --rm docker/dtr reconfigure --ucp-url {} --ucp-ca \"$(cat ucp-cluster-ca.pem)\"`",
        ucp_url.unwrap_or("<ucp_url>")
    )
}

#[async_trait]
impl Task for SetBypassCa {
    type Drift = BypassDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<BypassDrift>, TaskError> {
        let lookup = contract::context_lookup(cx);
        let fail = |e: &dyn std::fmt::Display| TaskError::failed(e.to_string());
        // The CA is validated before DTR is contacted at all.
        let what = "the `ca` argument (UCP's cluster root CA)";
        let ca = cert::parse_ca(&self.ca, what, cert::now_unix()).map_err(|e| fail(&e))?;
        if let Some(pin) =
            contract::text(None, "ucp_ca_fingerprint", &lookup).map_err(|e| fail(&e))?
        {
            cert::check_pin(&ca, &pin, what).map_err(|e| fail(&e))?;
        }
        let flavor = contract::flavor(self.flavor.as_deref(), &lookup).map_err(|e| fail(&e))?;
        let ucp_url = contract::text(None, "ucp_url", &lookup).ok().flatten();
        if flavor == Some(Flavor::Ucp3) {
            return Ok(Check::InSync(
                Outcome::ok().with_msg(installed_trust_message(ucp_url.as_deref())),
            ));
        }
        let access = DtrAccess::resolve(
            DtrArgs {
                url: self.dtr_url.as_deref(),
                username: self.dtr_username.as_deref(),
                password: self.dtr_password.as_deref(),
                ca_file: self.dtr_ca_file.as_deref(),
            },
            &lookup,
            true,
        )
        .map_err(|e| fail(&e))?;
        let dtr = access.connect().await.map_err(|e| fail(&e))?;
        let settings = dtr.settings().await.map_err(|e| settings_error(&e))?;
        if !settings.contains_key(CA_FIELD) {
            return Ok(Check::InSync(
                Outcome::ok().with_msg(installed_trust_message(ucp_url.as_deref())),
            ));
        }
        let current_ca = settings
            .get(CA_FIELD)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let current_ou = settings.get(OU_FIELD).and_then(Value::as_str).unwrap_or("");

        let mut fields = Map::new();
        let mut diffs = Vec::new();
        if !current_ca.is_some_and(|have| cert::same_certificates(have, &self.ca)) {
            fields.insert(CA_FIELD.into(), ca.to_pem().into());
            diffs.push(Diff {
                subject: format!("DTR setting {CA_FIELD} (Auth Bypass TLS Root CA)"),
                before: current_ca.map(cert::describe),
                after: Some(cert::describe_cert(&ca)),
            });
        }
        if effective_ou(current_ou) != effective_ou(&self.ou) {
            fields.insert(OU_FIELD.into(), self.ou.trim().into());
            diffs.push(Diff {
                subject: format!("DTR setting {OU_FIELD} (Auth Bypass OU)"),
                before: Some(format!("{current_ou}\n")),
                after: Some(format!("{}\n", self.ou.trim())),
            });
        }
        let mut data = Map::new();
        data.insert("fingerprint".into(), ca.info.sha256.clone().into());
        data.insert("subject".into(), ca.info.subject.clone().into());
        data.insert("ou".into(), effective_ou(&self.ou).into());
        if fields.is_empty() {
            let mut out = Outcome::ok().with_msg(format!(
                "DTR already trusts {} (SHA-256 {}) with OU {}",
                ca.info.subject,
                ca.info.sha256,
                effective_ou(current_ou)
            ));
            out.data = data;
            return Ok(Check::InSync(out));
        }
        let mut preview = Outcome::changed(format!(
            "make DTR trust {} (SHA-256 {}) with OU {}",
            ca.info.subject,
            ca.info.sha256,
            effective_ou(&self.ou)
        ));
        preview.diffs = diffs;
        preview.data = data;
        Ok(Check::Drift {
            drift: BypassDrift {
                dtr,
                fields,
                preview: preview.clone(),
            },
            preview,
        })
    }

    async fn apply(&self, _cx: &Context<'_>, drift: BypassDrift) -> Result<Outcome, TaskError> {
        let BypassDrift {
            dtr,
            fields,
            preview,
        } = drift;
        dtr.update_settings(&fields)
            .await
            .map_err(|e| settings_error(&e))?;
        let after = dtr.settings().await.map_err(|e| settings_error(&e))?;
        let stored_ca = after.get(CA_FIELD).and_then(Value::as_str).unwrap_or("");
        if !cert::same_certificates(stored_ca, &self.ca) {
            return Err(TaskError::failed(
                "DTR accepted the authBypassCA update but reads back a different CA; check DTR's logs",
            ));
        }
        Ok(preview)
    }
}

/// Settings errors with the likely cause.
fn settings_error(err: &ApiError) -> TaskError {
    let hint = match err.status() {
        Some(403) => " (the DTR settings need an administrator: set dtr_username to an admin)",
        Some(400) if err.code() == Some("INVALID_SETTINGS") => {
            " (DTR rejected the CA or OU; DTR 2.1+ has no authBypassCA: set ucp_flavor: ucp3)"
        }
        _ => "",
    };
    TaskError::failed(format!("{err}{hint}"))
}
