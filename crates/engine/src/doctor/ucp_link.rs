//! Link 1, "UCP knows DTR" (step 3): UCP's registry configuration holds
//! DTR's address and DTR's CA, and does not mark DTR insecure.
//!
//! One file per link, so that each verdict's reading of the API and its
//! messages can be checked against the procedure's step on its own.

use super::{FIX_UPLOAD, Link, Verdict, fingerprint_note, one_line};
use crate::api::contract::SettingsError;
use crate::api::dtr_ca::DtrCa;
use crate::api::ucp::{RegistryConfig, Ucp};
use crate::api::{Flavor, Service, origin, parse_base_url};
use crate::cert;

pub(super) async fn ucp_knows_dtr(
    ucp: &Result<Ucp, SettingsError>,
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
                e.to_string(),
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
