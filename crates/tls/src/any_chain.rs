//! The one rustls verifier that accepts any certificate chain and keeps it
//! to be judged afterwards, for either end of a connection.
//!
//! Two places need a handshake that does not judge the peer's chain but
//! still makes the peer prove it holds the key of the certificate it
//! presents: the client reading the chain a server actually sends (to
//! explain a failure, or to compare it with a CA: the engine's `api/tls.rs`),
//! and the lab's DTR, which asks for any client certificate as nginx's
//! `ssl_verify_client optional_no_ca` does and lets its auth bypass judge
//! the chain per request (the lab's `apis.rs`). Both are this type: every
//! chain is accepted, every handshake signature is verified with
//! [`crate::provider`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Accepts any chain; verifies the handshake signature.
#[derive(Debug)]
pub struct AnyChain {
    provider: Arc<CryptoProvider>,
}

impl AnyChain {
    /// A verifier with dtrplay's crypto provider.
    pub fn new() -> Arc<AnyChain> {
        Arc::new(AnyChain {
            provider: crate::provider(),
        })
    }
}

/// The handshake signature checks, which both verifier traits declare with
/// the same signatures.
macro_rules! signature_checks {
    () => {
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
    };
}

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    signature_checks!();
}

impl ClientCertVerifier for AnyChain {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a client then sends whatever certificate it has.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    signature_checks!();
}
