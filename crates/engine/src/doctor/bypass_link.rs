//! Link 2, "DTR trusts UCP" (step 4): DTR's `authBypassCA` is UCP's
//! cluster root CA, or DTR trusts UCP from its installation (2.1+ and MSR),
//! which the API cannot show and doctor says so.
//!
//! One file per link, so that each verdict's reading of the API and its
//! messages can be checked against the procedure's step on its own.

use serde_json::Value;

use super::{EXPIRY_WARNING_DAYS, FIX_BYPASS, Link, Verdict, one_line};
use crate::api::Flavor;
use crate::api::contract::{self, DtrAccess, DtrArgs, Lookup, SettingsError};
use crate::api::ucp::Ucp;
use crate::cert;
use crate::tasks::set_bypass_ca::{CA_FIELD, DEFAULT_OU, OU_FIELD, installed_trust_message};

pub(super) async fn dtr_trusts_ucp(
    lookup: Lookup<'_>,
    ucp: &Result<Ucp, SettingsError>,
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
        Err(e) => Err(e.to_string()),
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
