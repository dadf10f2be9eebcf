//! What a node's engine trusts when it talks to a registry: the rules of
//! `/etc/docker/certs.d/<host[:port]>/` (ucp-dtr-api.md §8), turned into a
//! rustls client configuration.
//!
//! Every `*.crt` file is a CA root, added to the system pool
//! (`/etc/ssl/certs/ca-certificates.crt` when present); unparsable `.crt`
//! content is skipped, as Go's `AppendCertsFromPEM` does. Every `*.cert`
//! needs a matching `*.key` and the other way round, with moby's exact error
//! texts; the first pair in alphabetical order is the client certificate.
//! The directory is read on every command, so a new `ca.crt` takes effect
//! without restarting anything, as with the real engine.
//!
//! The verifier records the certificate chain the server presented and the
//! reason it was rejected. The push path needs both: the reason to print
//! Docker's x509 message, and the chain so that the UCP credential broker can
//! check DTR's certificate against the CA stored in UCP.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::api::tls::provider;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The Debian system trust store the engine merges `certs.d` roots into.
pub const SYSTEM_POOL: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why the `certs.d` directory or a TLS identity is unusable. The messages
/// are moby's.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "missing key {key} for client certificate {cert}. CA certificates must use the extension .crt"
    )]
    MissingKey { key: String, cert: String },
    #[error("missing client certificate {cert} for key {key}")]
    MissingCert { cert: String, key: String },
    #[error("open {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls: failed to find any PEM data in certificate input")]
    NoCertPem,
    #[error("tls: failed to find any PEM data in key input")]
    NoKeyPem,
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client certificate and its key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Parses a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Identity, TrustError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TrustError::NoCertPem);
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TrustError::NoKeyPem)?;
        Ok(Identity { chain, key })
    }
}

/// The engine's view of one registry's `certs.d` directory.
#[derive(Debug)]
pub struct Trust {
    pub roots: RootCertStore,
    pub identity: Option<Identity>,
}

impl Trust {
    /// Reads `<certs_d>/<registry>` (a missing directory means "system
    /// roots only").
    pub fn load(certs_d: &Path, registry: &str) -> Result<Trust, TrustError> {
        let mut roots = system_roots();
        let dir = certs_d.join(registry);
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(TrustError::Read { path: dir, source }),
        };
        names.sort();
        let mut identity = None;
        for name in &names {
            let path = dir.join(name);
            if name.ends_with(".crt") {
                let pem = fs::read(&path).map_err(|source| TrustError::Read {
                    path: path.clone(),
                    source,
                })?;
                add_pem_roots(&mut roots, &pem);
            } else if let Some(stem) = name.strip_suffix(".cert") {
                let key = format!("{stem}.key");
                if !names.contains(&key) {
                    return Err(TrustError::MissingKey {
                        key,
                        cert: name.clone(),
                    });
                }
                if identity.is_none() {
                    let read = |p: &Path| {
                        fs::read(p).map_err(|source| TrustError::Read {
                            path: p.to_path_buf(),
                            source,
                        })
                    };
                    identity = Some(Identity::from_pem(&read(&path)?, &read(&dir.join(&key))?)?);
                }
            } else if let Some(stem) = name.strip_suffix(".key") {
                let cert = format!("{stem}.cert");
                if !names.contains(&cert) {
                    return Err(TrustError::MissingCert {
                        cert,
                        key: name.clone(),
                    });
                }
            }
        }
        Ok(Trust { roots, identity })
    }

    /// Roots from PEM text only (no system pool), for checks made on UCP's
    /// behalf with the CA it stores.
    pub fn from_ca_pem(pem: &str) -> Trust {
        let mut roots = RootCertStore::empty();
        add_pem_roots(&mut roots, pem.as_bytes());
        Trust {
            roots,
            identity: None,
        }
    }
}

/// The system pool, or an empty store when the file is absent.
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if let Ok(pem) = fs::read(SYSTEM_POOL) {
        add_pem_roots(&mut roots, &pem);
    }
    roots
}

/// Adds every parsable certificate of `pem`; the rest is ignored.
pub fn add_pem_roots(roots: &mut RootCertStore, pem: &[u8]) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    roots.add_parsable_certificates(certs);
}

/// What the verifier saw during the last handshake.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The end-entity certificate followed by the intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why verification failed, if it did.
    pub error: Option<rustls::Error>,
}

/// A shared slot the verifier writes into.
pub type SeenSlot = Arc<Mutex<Seen>>;

#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: SeenSlot,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            // An empty root store cannot build a webpki verifier; with no
            // roots at all, every issuer is unknown.
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
            seen.error = result.as_ref().err().cloned();
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client configuration that verifies servers against
/// `trust.roots`, presents `identity` when given (falling back to the one in
/// `trust`), and records what it saw in the returned slot.
pub fn client_config(
    trust: Trust,
    identity: Option<Identity>,
) -> Result<(ClientConfig, SeenSlot), TrustError> {
    let provider = provider();
    let inner = if trust.roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(trust.roots), provider.clone())
                .build()
                .map_err(|e| TrustError::Rustls(rustls::Error::General(e.to_string())))?,
        )
    };
    let seen = SeenSlot::default();
    let verifier = RecordingVerifier {
        inner,
        provider: provider.clone(),
        seen: seen.clone(),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match identity.or(trust.identity) {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key)?,
        None => builder.with_no_client_auth(),
    };
    Ok((config, seen))
}

/// Whether `chain` (end entity first) is valid for `host` under `roots`.
pub fn chain_verifies(roots: RootCertStore, chain: &[CertificateDer<'static>], host: &str) -> bool {
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return false;
    };
    if roots.is_empty() {
        return false;
    }
    let Ok(verifier) =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
    else {
        return false;
    };
    let Ok(name) = ServerName::try_from(host.to_string()) else {
        return false;
    };
    verifier
        .verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now())
        .is_ok()
}

/// Docker's wording (Go's crypto/x509) for a rejected server certificate.
pub fn x509_text(error: &rustls::Error, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "x509: certificate signed by unknown authority".to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("x509: certificate is not valid for {host}")
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "x509: certificate has expired or is not yet valid".to_string()
            }
            other => format!("x509: {other:?}"),
        },
        other => format!("x509: {other}"),
    }
}
