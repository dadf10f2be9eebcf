//! Step 2 of the procedure, shared by `upload-ca`, `copy-ca-crt` and
//! `doctor`: find DTR's CA and prove it is the right one.
//!
//! The CA comes from `GET <dtr_url>/ca` (or, where that is missing, the
//! settings API's `webTLSCA`). It is accepted only if it is a valid CA, the
//! certificate the DTR server actually presents chains to it, and it matches
//! `dtr_ca_fingerprint` when one is pinned. When the presented certificate
//! is issued by a CA of the system trust store instead, DTR is "publicly
//! trusted": the procedure then skips uploading the CA to UCP and copying it
//! to the nodes (steps 3 and 5), and the result says so.
//!
//! The answer is kept per DTR URL in the run's memory (`RunMemory`),
//! shared by every task and host of the run, so 200 nodes cause one fetch
//! and one handshake, not 200. Failures are kept too: an unreachable DTR is
//! reported once per host without 200 connection timeouts.

use std::sync::Arc;

use reqwest::StatusCode;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Map, Value};

use crate::api::dtr::Dtr;
use crate::api::registry::registry_host;
use crate::api::tls::{self, Trust};
use crate::api::{ApiError, Service, origin, parse_base_url};
use crate::cert::{self, Cert, CertError};
use crate::run_memory::RunMemory;

/// Where DTR is and how to trust it: the inventory's `dtr_*` variables.
#[derive(Clone)]
pub struct DtrCaSource {
    pub url: String,
    /// `dtr_ca_file`.
    pub ca_file: Option<String>,
    /// `dtr_ca_fingerprint`.
    pub pin: Option<String>,
    /// Basic credentials, used only when `/ca` is missing and the CA must
    /// be read from the settings (`webTLSCA`).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for DtrCaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtrCaSource")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// DTR's CA, verified.
#[derive(Debug, Clone)]
pub struct DtrCa {
    /// `https://host[:port]` of DTR.
    pub origin: String,
    /// `host[:port]` as Docker names the registry (the `certs.d` directory).
    pub registry_host: String,
    /// The CA bundle as served, normalised to PEM (one block per certificate).
    pub pem: String,
    pub certs: Vec<Cert>,
    /// The issuer of DTR's server certificate when it chains to the system
    /// trust store: the CA need not be uploaded nor copied.
    pub public_issuer: Option<String>,
    /// The server certificate DTR presents.
    pub server: Option<cert::CertInfo>,
}

impl DtrCa {
    /// The first certificate of the bundle: the one described and pinned.
    pub fn primary(&self) -> Option<&Cert> {
        self.certs.first()
    }

    /// What `register:` stores about the DTR CA.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = self.primary().map(|c| c.info.to_json()).unwrap_or_default();
        map.insert("pem".into(), self.pem.clone().into());
        map.insert("registry_host".into(), self.registry_host.clone().into());
        map.insert(
            "publicly_trusted".into(),
            self.public_issuer.is_some().into(),
        );
        if let Some(issuer) = &self.public_issuer {
            map.insert("public_issuer".into(), issuer.clone().into());
        }
        map
    }

    /// The procedure's reason for skipping a step, when DTR is publicly trusted.
    pub fn public_skip_reason(&self) -> Option<String> {
        self.public_issuer.as_ref().map(|issuer| {
            format!(
                "DTR's certificate is issued by {issuer}, a CA of the system trust store, so UCP and the engines trust it without an uploaded CA (procedure steps 3 and 5)"
            )
        })
    }
}

/// Why DTR's CA could not be established.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DtrCaError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the DTR URL cannot name a registry: {0}")]
    Name(#[from] crate::api::registry::NameError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(
        "DTR at {url} presents a certificate for {subject} issued by {issuer}, which does not chain to the CA it serves at /ca ({ca}): {why}"
    )]
    Mismatch {
        url: String,
        subject: String,
        issuer: String,
        ca: String,
        why: crate::cert::ChainError,
    },
    #[error("DTR at {url} presented no certificate")]
    NoCertificate { url: String },
}

/// Resolves DTR's CA once per run and source: every host's step 3 and
/// step 5 see the same answer, and a later run asks DTR again.
pub async fn resolve(memory: &RunMemory, source: &DtrCaSource) -> Result<Arc<DtrCa>, DtrCaError> {
    let key = format!(
        "{}\n{}\n{}",
        source.url.trim(),
        source.ca_file.as_deref().unwrap_or(""),
        source.pin.as_deref().unwrap_or("")
    );
    memory
        .once("dtr-ca", &key, || async {
            fetch(source).await.map(Arc::new)
        })
        .await
        .0
}

/// Fetches and verifies, uncached.
pub async fn fetch(source: &DtrCaSource) -> Result<DtrCa, DtrCaError> {
    let base = parse_base_url(Service::Dtr, &source.url)?;
    let host = registry_host(&source.url)?;
    let trust = Trust::from_settings(
        Service::Dtr,
        source.ca_file.as_deref(),
        source.pin.as_deref(),
    )?;
    let (user, password) = source.credentials.clone().unwrap_or_default();
    let dtr = match Dtr::connect(&source.url, &trust, &user, &password).await {
        Ok(dtr) => dtr,
        Err(err) => return Err(explain_untrusted(err, &base).await.into()),
    };
    // What the server presents decides whether a CA is needed at all: a
    // certificate from a publicly trusted CA needs none (steps 3 and 5 skip
    // it), so problems with /ca then do not stop the run.
    let chain = tls::presented_chain(Service::Dtr, &base).await?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or(DtrCaError::NoCertificate { url: origin(&base) })?;
    let server = cert::info(leaf).ok();
    let public_issuer = cert::publicly_trusted(&chain, UnixTime::now());
    let served = match dtr.ca().await {
        Ok(pem) => Ok(pem),
        Err(err) if err.status() == Some(404) && source.credentials.is_some() => {
            settings_ca(&dtr).await
        }
        Err(err) => Err(explain_untrusted(err, &base).await),
    };
    let what = "the CA DTR serves at /ca";
    let now = cert::now_unix();
    let parsed = served.map_err(DtrCaError::from).and_then(|pem| {
        let certs = cert::parse_pem(&pem, what)?;
        for c in &certs {
            cert::check_ca(c, what, now)?;
        }
        if let Some(pin) = source.pin.as_deref().filter(|p| !p.trim().is_empty()) {
            pin_any(&certs, pin, what)?;
        }
        Ok(certs)
    });
    let certs = match (parsed, &public_issuer) {
        (Ok(certs), _) => certs,
        (Err(_), Some(_)) => Vec::new(),
        (Err(err), None) => return Err(err),
    };
    if public_issuer.is_none() {
        let anchors: Vec<CertificateDer<'_>> = certs.iter().map(|c| c.der.clone()).collect();
        if let Err(why) = cert::verify_chain(leaf, intermediates, &anchors, UnixTime::now()) {
            let server = server.clone();
            return Err(DtrCaError::Mismatch {
                url: origin(&base),
                subject: server
                    .as_ref()
                    .map_or("(unparsable)".into(), |s| s.subject.clone()),
                issuer: server.map_or("(unparsable)".into(), |s| s.issuer),
                ca: certs
                    .first()
                    .map_or(String::new(), |c| c.info.subject.clone()),
                why,
            });
        }
    }
    let pem = certs.iter().map(Cert::to_pem).collect::<String>();
    Ok(DtrCa {
        origin: origin(&base),
        registry_host: host,
        pem,
        certs,
        public_issuer,
        server,
    })
}

fn pin_any(certs: &[Cert], pin: &str, what: &str) -> Result<(), CertError> {
    let mut first_err = None;
    for c in certs {
        match cert::check_pin(c, pin, what) {
            Ok(_) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(CertError::NoCertificate { what: what.into() }))
}

/// DTR 2.0's settings hold the CA as `webTLSCA` (the UI's "TLS CA").
async fn settings_ca(dtr: &Dtr) -> Result<String, ApiError> {
    let settings = dtr.settings().await?;
    settings
        .get("webTLSCA")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::Status {
            service: Service::Dtr,
            method: "GET".into(),
            path: "/api/v0/meta/settings".into(),
            status: StatusCode::OK.as_u16(),
            code: None,
            message: "the settings hold no webTLSCA".into(),
        })
}

/// When DTR's certificate is not trusted and no CA file or pin was given,
/// adds the fingerprint of the CA DTR serves, for the user to check out of
/// band and pin. That CA is only displayed, never used.
async fn explain_untrusted(err: ApiError, base: &reqwest::Url) -> ApiError {
    let ApiError::Tls {
        service,
        url,
        reason,
        presented,
        ..
    } = err
    else {
        return err;
    };
    let served = async {
        let insecure = tls::client(Service::Dtr, &Trust::Insecure, None).ok()?;
        let pem = insecure
            .get(format!("{}ca", base.as_str()))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        cert::parse_pem(&pem, "/ca")
            .ok()?
            .first()
            .map(|c| (c.info.subject.clone(), c.info.sha256.clone()))
    }
    .await;
    let hint = match served {
        Some((subject, fp)) => format!(
            "DTR serves the CA {subject} with SHA-256 {fp} at /ca; check that fingerprint out of band, then set dtr_ca_fingerprint to it (or dtr_ca_file to the CA)"
        ),
        None => "set dtr_ca_file to DTR's CA, or dtr_ca_fingerprint to its SHA-256".into(),
    };
    ApiError::Tls {
        service,
        url,
        reason,
        presented,
        hint: Some(hint),
    }
}
