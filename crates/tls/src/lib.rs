//! TLS pieces that dtrplay's API client (`api/tls.rs` in the engine) and its
//! lab (the `dtrplay-lab` crate) share: the one crypto provider, and the one
//! rustls verifier that accepts any chain and keeps it to be judged
//! afterwards ([`AnyChain`]).
//!
//! They live in a crate of their own because the lab must not depend on the
//! engine, nor the engine on the lab's servers, and a verifier written once
//! cannot drift between the two.

mod any_chain;

pub use any_chain::AnyChain;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider of dtrplay: ring, the one backend rustls, russh and
/// rcgen share (the root Cargo.toml says why).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`provider`] the process default. reqwest is built without a
/// provider of its own and takes the process default, so this runs before
/// any client is built; a second call changes nothing.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
