//! Registry credentials "the way a UCP client bundle does": brokered by UCP,
//! with no `docker login`.
//!
//! In UCP 1.1 an engine that belongs to the cluster pushes to DTR without
//! credentials of its own: UCP knows DTR (step 3 of the procedure) and DTR
//! trusts certificates issued by UCP's cluster root CA with `OU=ucp` (step
//! 4). The lab models that hand-off as follows, and this module is the
//! engine side of it:
//!
//! 1. The engine asks UCP for its DTR configuration over mutual TLS with the
//!    admin's client bundle held by the node (`ca.pem`, `cert.pem`,
//!    `key.pem`): `GET /api/config/registry` (ucp1) or the `[[registries]]`
//!    of `GET /api/ucp/config-toml` (ucp3).
//! 2. If UCP knows this registry (same `host[:port]`, port 443 implied) and
//!    the CA UCP stores for it verifies the certificate the registry just
//!    presented (or the entry is marked insecure), the engine asks DTR's token
//!    service for a token presenting the node's UCP identity certificate
//!    (issued by the cluster root CA, `OU=ucp`) and the bundle's user name
//!    (the bundle certificate's CN) as Basic user with an empty password.
//!    DTR's auth bypass decides whether that is good enough.
//! 3. Otherwise it asks for an anonymous token, which carries no push
//!    right, so DTR answers 401 and the CLI prints
//!    `unauthorized: authentication required`.
//!
//! Each decision is appended to the node's `engine/engine.log`, the lab's
//! stand-in for the daemon log, so a failed push can be explained.

use std::fs;

use reqwest::StatusCode;
use serde_json::Value;

use crate::api::ucp::REGISTRY_CA_FIELD;
use crate::lab::Flavor;
use crate::lab::docker::Engine;
use crate::lab::docker::distribution::{Challenge, Session, fetch_token, http_client};
use crate::lab::docker::trust::{self, Identity, Trust};

/// One registry entry as UCP stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The registry address as configured (a URL or `host[:port]`).
    pub address: String,
    /// The CA UCP holds for the registry, if one was uploaded.
    pub ca_pem: Option<String>,
    /// UCP was told to trust the registry without verification.
    pub insecure: bool,
}

/// Gets a token for `scope` from the registry's token service, brokered by
/// UCP when UCP vouches for the registry, anonymous otherwise. `None` means
/// no token could be had; the registry will then refuse the request.
pub async fn token(
    engine: &Engine,
    session: &Session,
    challenge: &Challenge,
    scope: &str,
) -> Option<String> {
    let brokered = match vouch(engine, session).await {
        Ok(user) => match engine.node_identity() {
            Some(identity) => Some((user, identity)),
            None => {
                engine
                    .log("token: this node holds no usable UCP node identity; asking anonymously");
                None
            }
        },
        Err(reason) => {
            engine.log(&format!(
                "token: UCP does not vouch for {}: {reason}; asking anonymously",
                session.registry
            ));
            None
        }
    };
    let (client, user) = match brokered {
        Some((user, identity)) => (session.client_with_identity(Some(identity)), Some(user)),
        None => (session.client_with_identity(None), None),
    };
    let client = match client {
        Ok(client) => client,
        Err(err) => {
            engine.log(&format!(
                "token: cannot build a client for the token service: {err}"
            ));
            return None;
        }
    };
    let how = match &user {
        Some(user) => format!("as {user} through UCP"),
        None => "anonymously".to_string(),
    };
    let basic = user.as_deref().map(|user| (user, ""));
    match fetch_token(&client, challenge, scope, basic).await {
        Ok(token) => {
            engine.log(&format!("token: got a token for {scope} {how}"));
            Some(token)
        }
        Err(err) => {
            engine.log(&format!(
                "token: {} refused a token for {scope} {how}: {err}",
                challenge.realm
            ));
            None
        }
    }
}

/// Whether UCP vouches for the registry of `session`; on success, the user
/// name of the client bundle, which the token request carries.
async fn vouch(engine: &Engine, session: &Session) -> Result<String, String> {
    let entries = registry_config(engine).await?;
    let wanted = normalise(&session.registry);
    let Some(entry) = entries.iter().find(|e| normalise(&e.address) == wanted) else {
        let known: Vec<&str> = entries.iter().map(|e| e.address.as_str()).collect();
        return Err(format!(
            "UCP knows no registry at {} (it knows {known:?})",
            session.registry
        ));
    };
    if !entry.insecure {
        let host = host_only(&session.registry);
        let mut roots = trust::system_roots();
        if let Some(pem) = &entry.ca_pem {
            trust::add_pem_roots(&mut roots, pem.as_bytes());
        }
        if !trust::chain_verifies(roots, &session.server_chain(), &host) {
            return Err(format!(
                "the CA UCP stores for {} does not verify the registry's certificate",
                session.registry
            ));
        }
    }
    engine
        .bundle_user()
        .ok_or_else(|| "the node's client bundle has no user name (certificate CN)".to_string())
}

/// UCP's registry configuration, read with the node's client bundle.
async fn registry_config(engine: &Engine) -> Result<Vec<RegistryEntry>, String> {
    let bundle = engine
        .bundle()
        .ok_or("the node holds no UCP client bundle")?;
    let trust = Trust::from_ca_pem(&bundle.ca_pem);
    let identity = Identity::from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes())
        .map_err(|e| format!("the node's client bundle is unusable: {e}"))?;
    let (client, _) = http_client(trust, Some(identity)).map_err(|e| e.to_string())?;
    let base = engine.info.ucp_url.trim_end_matches('/');
    let path = match engine.info.flavor {
        Flavor::Ucp1 => "/api/config/registry",
        Flavor::Ucp3 => "/api/ucp/config-toml",
    };
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| format!("cannot reach UCP at {base}: {e}"))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    if !response.status().is_success() {
        return Err(format!("UCP answered {path} with {}", response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("cannot read UCP's answer to {path}: {e}"))?;
    match engine.info.flavor {
        Flavor::Ucp1 => Ok(entries_from_json(&text)),
        Flavor::Ucp3 => entries_from_toml(&text),
    }
}

/// The ucp1 answer: one object (`{"url","insecure",<CA field>}`), or a list
/// of them; an empty body or `null` means "not configured".
pub fn entries_from_json(text: &str) -> Vec<RegistryEntry> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|item| {
            let address = item.get("url").and_then(Value::as_str)?.to_string();
            if address.is_empty() {
                return None;
            }
            Some(RegistryEntry {
                address,
                ca_pem: item
                    .get(REGISTRY_CA_FIELD)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string),
                insecure: item
                    .get("insecure")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

/// The ucp3 answer: `[[registries]]` tables with `host_address` and
/// `ca_bundle`.
pub fn entries_from_toml(text: &str) -> Result<Vec<RegistryEntry>, String> {
    let value: toml::Table = text
        .parse()
        .map_err(|e| format!("UCP's config-toml is not TOML: {e}"))?;
    let Some(registries) = value.get("registries").and_then(toml::Value::as_array) else {
        return Ok(Vec::new());
    };
    Ok(registries
        .iter()
        .filter_map(|r| {
            let address = r.get("host_address")?.as_str()?.to_string();
            Some(RegistryEntry {
                address,
                ca_pem: r
                    .get("ca_bundle")
                    .and_then(toml::Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string),
                insecure: false,
            })
        })
        .collect())
}

/// `host:port` with the scheme and path removed and port 443 made explicit,
/// so `https://dtr`, `dtr` and `dtr:443` compare equal.
pub fn normalise(address: &str) -> String {
    let without_scheme = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    let host_port = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let has_port = host_port
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if has_port {
        host_port
    } else {
        format!("{host_port}:443")
    }
}

/// The host of `host[:port]`.
pub fn host_only(registry: &str) -> String {
    normalise(registry)
        .rsplit_once(':')
        .map(|(host, _)| host.to_string())
        .unwrap_or_default()
}

/// Reads a PEM file if it exists.
pub fn read_pem(path: &std::path::Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_with_the_default_port() {
        assert_eq!(normalise("https://DTR.example/"), "dtr.example:443");
        assert_eq!(normalise("dtr.example:443"), "dtr.example:443");
        assert_eq!(normalise("https://127.0.0.1:4443"), "127.0.0.1:4443");
        assert_eq!(host_only("127.0.0.1:4443"), "127.0.0.1");
    }

    #[test]
    fn ucp1_registry_config() {
        let entries =
            entries_from_json(r#"{"url":"https://dtr:4443","insecure":false,"caBundle":"PEM"}"#);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].ca_pem.as_deref(), Some("PEM"));
        assert!(entries_from_json("null").is_empty());
    }
}
