//! The simulators' TLS: rustls server configurations (UCP asks for client
//! certificates from its CA, DTR takes any and judges them per request) and
//! the chain a client presented.

use std::sync::Arc;

use axum_server::tls::TlsInfo;
use dtrplay_tls::AnyChain;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::pki::parse_certificates;

/// Why a rustls server configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM input holds no usable certificate or key.
    #[error("the {what} is not valid PEM")]
    Pem { what: &'static str },
    /// rustls rejected the certificate and key.
    #[error("rustls rejected the server certificate or key")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("cannot build the client certificate verifier")]
    Verifier(#[from] VerifierBuilderError),
}

/// A rustls server configuration serving `cert_pem`/`key_pem` over HTTP/1.1.
pub(crate) fn server_config(
    cert_pem: &str,
    key_pem: &str,
    verifier: Arc<dyn ClientCertVerifier>,
) -> Result<ServerConfig, TlsSetupError> {
    let chain = parse_certificates(cert_pem).ok_or(TlsSetupError::Pem {
        what: "server certificate",
    })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| TlsSetupError::Pem { what: "server key" })?;
    let mut config = ServerConfig::builder_with_provider(dtrplay_tls::provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    // Only HTTP/1.1 is served, so only it is offered.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TLS configuration that asks for a client certificate signed by `ca_pem`
/// and lets clients without one through.
pub(crate) fn optional_client_ca_config(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> Result<ServerConfig, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for ca in parse_certificates(ca_pem).ok_or(TlsSetupError::Pem {
        what: "client CA certificate",
    })? {
        roots.add(ca)?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), dtrplay_tls::provider())
            .allow_unauthenticated()
            .build()?;
    server_config(cert_pem, key_pem, verifier)
}

/// DTR's TLS configuration: any client certificate is accepted at the TLS
/// layer, so the auth bypass can judge it per request.
pub(crate) fn dtr_tls_config(cert_pem: &str, key_pem: &str) -> Result<ServerConfig, TlsSetupError> {
    // nginx's `ssl_verify_client optional_no_ca`: ask for a certificate,
    // don't require one, and don't judge its issuer; the client must still
    // prove it holds the certificate's key.
    server_config(cert_pem, key_pem, AnyChain::new())
}

/// The certificate chain the client presented on this connection, leaf
/// first; empty when it presented none.
pub(crate) fn peer_chain(tls: Option<&TlsInfo>) -> Vec<CertificateDer<'static>> {
    tls.map(|info| {
        info.peer_certificates
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect()
    })
    .unwrap_or_default()
}
