//! `upload-ca`: step 3 of the procedure, telling UCP about DTR.
//!
//! It configures UCP with DTR's URL and uploads DTR's CA (step 2, resolved
//! and verified by `api::dtr_ca`), through `POST /api/config/registry` on
//! UCP 1.x or `POST /api/config/trustedregistry_` on UCP 3.x. The current
//! configuration is read first (`GET /api/config/registry`, or the
//! `[[registries]]` of config-toml) and nothing is sent when it already
//! matches: URLs are compared normalised, CAs by their DER bytes. After a
//! change the configuration is read back, so a UCP that silently ignored
//! the request fails the task instead of passing it.
//!
//! It never sends `insecure: true` unless the task says `insecure: true`,
//! and then it warns about the man-in-the-middle risk. When DTR's
//! certificate comes from a publicly trusted CA the CA part is skipped, as
//! the procedure says, and only the URL is configured.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::api::contract::{self, DtrAccess, DtrArgs, UcpAccess, UcpArgs};
use crate::api::dtr_ca::{self, DtrCa};
use crate::api::ucp::{RegistryConfig, Ucp};
use crate::api::{ApiError, Flavor, Service, origin, parse_base_url};
use crate::cert;
use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The warning `insecure: true` prints, in the procedure's own words.
pub const INSECURE_WARNING: &str = "upload-ca: `insecure: true` makes UCP trust DTR's domain without verifying its certificate; traffic stays encrypted but is open to man-in-the-middle attacks (procedure step 3.3 says not to set it)";

/// The arguments of `upload-ca`; every one falls back to its inventory
/// variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadCa {
    #[serde(default)]
    pub ucp_url: Option<String>,
    #[serde(default)]
    pub ucp_username: Option<String>,
    #[serde(default)]
    pub ucp_password: Option<String>,
    #[serde(default)]
    pub ucp_ca_file: Option<String>,
    #[serde(default)]
    pub dtr_url: Option<String>,
    #[serde(default)]
    pub dtr_ca_file: Option<String>,
    /// `ucp1` or `ucp3`; default `ucp_flavor`, else detected.
    #[serde(default)]
    pub flavor: Option<String>,
    /// UCP's "Insecure" option. Off unless asked for, with a warning.
    #[serde(default)]
    pub insecure: bool,
}

pub fn spec() -> Spec {
    Spec::new(
        "upload-ca",
        vec![
            Param::new("ucp_url", Kind::Str),
            Param::new("ucp_username", Kind::Str),
            Param::new("ucp_password", Kind::Str).secret(),
            Param::new("ucp_ca_file", Kind::Path),
            Param::new("dtr_url", Kind::Str),
            Param::new("dtr_ca_file", Kind::Path),
            Param::new("flavor", Kind::Str).choices(&["ucp1", "ucp3"]),
            Param::new("insecure", Kind::Bool).default(false),
        ],
    )
    .on_control()
    .run_once()
}

/// What UCP should hold, and how it is compared.
#[derive(Debug, Clone)]
struct Wanted {
    /// `https://host[:port]` (UCP 1.x) of DTR.
    url: String,
    /// `host[:port]` (UCP 3.x `hostAddress`).
    host: String,
    insecure: bool,
    /// `None` when DTR is publicly trusted: the CA is then left alone.
    ca: Option<String>,
}

/// What the check found: UCP connected, and what to send.
pub struct UploadDrift {
    ucp: Ucp,
    flavor: Flavor,
    wanted: Wanted,
    preview: Outcome,
}

#[async_trait]
impl Task for UploadCa {
    type Drift = UploadDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<UploadDrift>, TaskError> {
        let lookup = contract::context_lookup(cx);
        let fail = |e: &dyn std::fmt::Display| TaskError::failed(e.to_string());
        let ucp_access = UcpAccess::resolve(
            UcpArgs {
                url: self.ucp_url.as_deref(),
                username: self.ucp_username.as_deref(),
                password: self.ucp_password.as_deref(),
                ca_file: self.ucp_ca_file.as_deref(),
            },
            &lookup,
        )
        .map_err(|e| fail(&e))?;
        let dtr_access = DtrAccess::resolve(
            DtrArgs {
                url: self.dtr_url.as_deref(),
                ca_file: self.dtr_ca_file.as_deref(),
                ..DtrArgs::default()
            },
            &lookup,
            false,
        )
        .map_err(|e| fail(&e))?;
        let flavor_arg = contract::flavor(self.flavor.as_deref(), &lookup).map_err(|e| fail(&e))?;
        if self.insecure {
            cx.warn(INSECURE_WARNING);
        }

        // Step 2 first: nothing is sent to UCP unless DTR's CA is proven.
        let dtr_ca = dtr_ca::resolve(cx.memory(), &dtr_access.ca_source())
            .await
            .map_err(|e| TaskError::failed(format!("cannot establish DTR's CA (step 2): {e}")))?;
        if let Some(reason) = dtr_ca.public_skip_reason() {
            cx.warn(format!("upload-ca: skipping the CA upload: {reason}"));
        }
        let ucp = ucp_access.connect().await.map_err(|e| fail(&e))?;
        let flavor = match flavor_arg {
            Some(flavor) => flavor,
            None => ucp.detect_flavor().await.map_err(|e| fail(&e))?,
        };
        if flavor == Flavor::Ucp3 && self.insecure {
            return Err(TaskError::failed(
                "`insecure` is a UCP 1.x setting; UCP 3.x (trustedregistry_) has no insecure option: remove it and let the CA be uploaded",
            ));
        }
        let wanted = Wanted {
            url: dtr_ca.origin.clone(),
            host: dtr_ca.registry_host.clone(),
            insecure: self.insecure,
            ca: dtr_ca.public_issuer.is_none().then(|| dtr_ca.pem.clone()),
        };
        let current = read_current(&ucp, flavor, &wanted.host)
            .await
            .map_err(|e| fail(&e))?;
        let diffs = differences(current.as_ref(), &wanted, &dtr_ca);
        let data = registered(&dtr_ca, flavor);
        if diffs.is_empty() {
            let mut out = Outcome::ok().with_msg(format!(
                "UCP already knows DTR at {}{}",
                wanted.url,
                ca_summary(&dtr_ca)
            ));
            out.data = data;
            return Ok(Check::InSync(out));
        }
        let mut preview = Outcome::changed(format!(
            "configure UCP ({}) with DTR at {}{}",
            flavor.as_str(),
            wanted.url,
            ca_summary(&dtr_ca)
        ));
        preview.diffs = diffs;
        preview.data = data;
        Ok(Check::Drift {
            drift: UploadDrift {
                ucp,
                flavor,
                wanted,
                preview: preview.clone(),
            },
            preview,
        })
    }

    async fn apply(&self, _cx: &Context<'_>, drift: UploadDrift) -> Result<Outcome, TaskError> {
        let UploadDrift {
            ucp,
            flavor,
            wanted,
            preview,
        } = drift;
        let fail = |e: ApiError| TaskError::failed(e.to_string());
        match flavor {
            Flavor::Ucp1 => {
                let current = ucp.registry_config().await.map_err(fail)?;
                // A publicly trusted DTR keeps whatever CA UCP already has.
                let ca = wanted.ca.clone().or_else(|| current.and_then(|c| c.ca));
                ucp.set_registry_config(&RegistryConfig {
                    url: wanted.url.clone(),
                    insecure: wanted.insecure,
                    ca,
                })
                .await
                .map_err(fail)?;
            }
            Flavor::Ucp3 => {
                ucp.add_trusted_registry(&wanted.host, wanted.ca.as_deref())
                    .await
                    .map_err(fail)?;
            }
        }
        let after = read_current(&ucp, flavor, &wanted.host)
            .await
            .map_err(fail)?;
        if !matches(after.as_ref(), &wanted) {
            return Err(TaskError::failed(format!(
                "UCP accepted the DTR configuration but reads back {}; check UCP's logs",
                after
                    .as_ref()
                    .map_or("no DTR configuration".to_string(), |c| format!(
                        "url {} insecure {} with {}",
                        c.url,
                        c.insecure,
                        c.ca.as_deref().map_or("no CA".into(), one_line)
                    ))
            )));
        }
        Ok(preview)
    }
}

/// UCP's current DTR configuration in one shape for both flavors.
async fn read_current(
    ucp: &Ucp,
    flavor: Flavor,
    host: &str,
) -> Result<Option<RegistryConfig>, ApiError> {
    match flavor {
        Flavor::Ucp1 => ucp.registry_config().await,
        Flavor::Ucp3 => Ok(ucp
            .trusted_registries()
            .await?
            .into_iter()
            .find(|r| r.host_address.eq_ignore_ascii_case(host))
            .map(|r| RegistryConfig {
                url: format!("https://{}", r.host_address),
                insecure: false,
                ca: r.ca_bundle,
            })),
    }
}

/// `https://host[:port]` normalised, or the text itself when unparsable.
fn normalise_url(url: &str) -> String {
    parse_base_url(Service::Dtr, url)
        .map(|u| origin(&u))
        .unwrap_or_else(|_| url.trim().to_string())
}

fn matches(current: Option<&RegistryConfig>, wanted: &Wanted) -> bool {
    let Some(current) = current else {
        return false;
    };
    normalise_url(&current.url) == normalise_url(&wanted.url)
        && current.insecure == wanted.insecure
        && match (&wanted.ca, &current.ca) {
            (None, _) => true,
            (Some(want), Some(have)) => cert::same_certificates(want, have),
            (Some(_), None) => false,
        }
}

fn settings_text(url: &str, insecure: bool) -> String {
    format!("url:       {url}\ninsecure:  {insecure}\n")
}

/// The diffs between UCP's configuration and the wanted one: the settings
/// (URL, insecure) and the CA, each shown only when it differs.
fn differences(current: Option<&RegistryConfig>, wanted: &Wanted, dtr_ca: &DtrCa) -> Vec<Diff> {
    let mut diffs = Vec::new();
    let subject = format!("UCP registry configuration for DTR at {}", dtr_ca.origin);
    let url_same = current.is_some_and(|c| {
        normalise_url(&c.url) == normalise_url(&wanted.url) && c.insecure == wanted.insecure
    });
    if !url_same {
        diffs.push(Diff {
            subject,
            before: current.map(|c| settings_text(&c.url, c.insecure)),
            after: Some(settings_text(&wanted.url, wanted.insecure)),
        });
    }
    if let Some(want) = &wanted.ca {
        let have = current.and_then(|c| c.ca.as_deref());
        if !have.is_some_and(|h| cert::same_certificates(h, want)) {
            diffs.push(Diff {
                subject: format!("UCP's CA for DTR at {}", dtr_ca.origin),
                before: have.map(cert::describe),
                after: Some(cert::describe(want)),
            });
        }
    }
    diffs
}

fn ca_summary(dtr_ca: &DtrCa) -> String {
    match (&dtr_ca.public_issuer, dtr_ca.primary()) {
        (Some(issuer), _) => format!(" (publicly trusted via {issuer}; no CA uploaded)"),
        (None, Some(ca)) => format!(" and CA {} (SHA-256 {})", ca.info.subject, ca.info.sha256),
        (None, None) => String::new(),
    }
}

fn one_line(pem: &str) -> String {
    cert::parse_pem(pem, "the CA")
        .ok()
        .and_then(|c| {
            c.first()
                .map(|c| format!("CA {} (SHA-256 {})", c.info.subject, c.info.sha256))
        })
        .unwrap_or_else(|| "an unreadable CA".into())
}

fn registered(dtr_ca: &DtrCa, flavor: Flavor) -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    data.insert("dtr_ca".into(), Value::Object(dtr_ca.to_json()));
    data.insert("flavor".into(), flavor.as_str().into());
    data.insert("url".into(), dtr_ca.origin.clone().into());
    data
}
