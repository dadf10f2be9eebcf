//! A typed client for the UCP (MKE) API: login, `/ca`, `/_ping`, client
//! bundles, and the two ways UCP learns about DTR (UCP 1.x
//! `/api/config/registry`; UCP 3.x `/api/config/trustedregistry_` read back
//! through `/api/ucp/config-toml`), per ucp-dtr-api.md §1–2.
//!
//! The bearer token from `/auth/login` stays inside [`Ucp`] and is never
//! shown, not even by `Debug`.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::tls::{self, ClientIdentity, Trust};
use crate::api::{ApiError, Endpoint, Flavor, Service, parse_base_url};

/// The JSON field of UCP 1.x `POST /api/config/registry` that carries the
/// uploaded DTR CA. No public source names it (ucp-dtr-api.md §2 and open
/// question 1), so this is our choice. The lab's UCP simulator keeps its own
/// copy (`dtrplay_lab::ucp::REGISTRY_CA_FIELD`) on purpose: were the two the
/// same constant, a wrong name could never fail a test.
pub const REGISTRY_CA_FIELD: &str = "caBundle";

/// UCP 1.x's DTR configuration (`/api/config/registry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `https://host[:port]` of DTR.
    pub url: String,
    /// Whether UCP skips verifying DTR's certificate. dtrplay never sets it
    /// unless a task asks for it explicitly.
    pub insecure: bool,
    /// The uploaded DTR CA (PEM), if any.
    pub ca: Option<String>,
}

/// One `[[registries]]` entry of UCP 3.x's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRegistry {
    pub host_address: String,
    pub service_id: Option<String>,
    pub ca_bundle: Option<String>,
}

/// A UCP API client.
pub struct Ucp {
    ep: Endpoint,
    token: Option<String>,
}

impl fmt::Debug for Ucp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ucp")
            .field("endpoint", &self.ep)
            .field("logged_in", &self.token.is_some())
            .finish()
    }
}

#[derive(Deserialize)]
struct LoginResponse {
    auth_token: String,
}

impl Ucp {
    /// A client for `url` with the given trust, not yet logged in. With an
    /// identity (a client bundle), `/api` calls authenticate by certificate.
    pub async fn connect(
        url: &str,
        trust: &Trust,
        identity: Option<&ClientIdentity>,
    ) -> Result<Ucp, ApiError> {
        let base = parse_base_url(Service::Ucp, url)?;
        let (http, _) = tls::establish(Service::Ucp, &base, trust, identity).await?;
        Ok(Ucp {
            ep: Endpoint::new(Service::Ucp, base, http),
            token: None,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// Logs in (`POST /auth/login`) and keeps the bearer token.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), ApiError> {
        let path = "/auth/login";
        let body = serde_json::json!({ "username": user, "password": password });
        let req = self.ep.request(Method::POST, path).json(&body);
        let resp = self.ep.send(req).await?;
        match resp.status() {
            StatusCode::OK => {
                let login: LoginResponse = self.ep.json(Method::POST, path, resp).await?;
                self.token = Some(login.auth_token);
                Ok(())
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let err = self.ep.status_error(Method::POST, path, resp).await;
                Err(ApiError::BadCredentials {
                    service: Service::Ucp,
                    user: user.to_string(),
                    detail: status_message(&err),
                })
            }
            _ => Err(self.ep.status_error(Method::POST, path, resp).await),
        }
    }

    fn authed(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.ep.request(method, path);
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let req = self.ep.request(Method::GET, "/_ping");
        self.ep
            .call(Method::GET, "/_ping", req, &[StatusCode::OK])
            .await
            .map(|_| ())
    }

    /// `GET /ca`: UCP's public CA (the cluster root CA unless UCP runs
    /// custom server certificates).
    pub async fn ca(&self) -> Result<String, ApiError> {
        let req = self.ep.request(Method::GET, "/ca");
        let resp = self
            .ep
            .call(Method::GET, "/ca", req, &[StatusCode::OK])
            .await?;
        self.ep.text(Method::GET, "/ca", resp).await
    }

    /// `GET /api/clientbundle`: the zip of `ca.pem`, `cert.pem`, `key.pem`...
    /// The bytes hold a private key; the caller must treat them as a secret.
    pub async fn client_bundle(&self) -> Result<Vec<u8>, ApiError> {
        let path = "/api/clientbundle";
        let req = self.authed(Method::GET, path);
        let resp = self
            .checked(Method::GET, path, req, &[StatusCode::OK])
            .await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ApiError::Decode {
                service: Service::Ucp,
                method: "GET".into(),
                path: path.into(),
                reason: e.to_string(),
            })
    }

    /// Sends an authenticated call; a 401 becomes `BadCredentials`.
    async fn checked(
        &self,
        method: Method,
        path: &str,
        req: reqwest::RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, ApiError> {
        match self.ep.call(method, path, req, expected).await {
            Err(err) if err.status() == Some(401) => Err(ApiError::BadCredentials {
                service: Service::Ucp,
                user: "(the logged-in user)".into(),
                detail: status_message(&err),
            }),
            other => other,
        }
    }

    /// UCP 1.x: the current DTR configuration, or `None` when none is set.
    pub async fn registry_config(&self) -> Result<Option<RegistryConfig>, ApiError> {
        let path = "/api/config/registry";
        let req = self.authed(Method::GET, path);
        let resp = self
            .checked(
                Method::GET,
                path,
                req,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: Map<String, Value> = self.ep.json(Method::GET, path, resp).await?;
        let url = body
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if url.is_empty() {
            return Ok(None);
        }
        let ca = body
            .get(REGISTRY_CA_FIELD)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        Ok(Some(RegistryConfig {
            url,
            insecure: body
                .get("insecure")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ca,
        }))
    }

    /// UCP 1.x: sets the DTR configuration.
    pub async fn set_registry_config(&self, config: &RegistryConfig) -> Result<(), ApiError> {
        let path = "/api/config/registry";
        let mut body = Map::new();
        body.insert("url".into(), config.url.clone().into());
        body.insert("insecure".into(), config.insecure.into());
        if let Some(ca) = &config.ca {
            body.insert(REGISTRY_CA_FIELD.into(), ca.clone().into());
        }
        let req = self.authed(Method::POST, path).json(&body);
        self.checked(
            Method::POST,
            path,
            req,
            &[
                StatusCode::OK,
                StatusCode::CREATED,
                StatusCode::ACCEPTED,
                StatusCode::NO_CONTENT,
            ],
        )
        .await
        .map(|_| ())
    }

    /// UCP 3.x: registers (or updates) a trusted registry.
    pub async fn add_trusted_registry(
        &self,
        host_address: &str,
        ca_bundle: Option<&str>,
    ) -> Result<(), ApiError> {
        let path = "/api/config/trustedregistry_";
        let mut body = Map::new();
        body.insert("hostAddress".into(), host_address.into());
        body.insert("caBundle".into(), ca_bundle.unwrap_or("").into());
        let req = self.authed(Method::POST, path).json(&body);
        self.checked(
            Method::POST,
            path,
            req,
            &[
                StatusCode::OK,
                StatusCode::CREATED,
                StatusCode::ACCEPTED,
                StatusCode::NO_CONTENT,
            ],
        )
        .await
        .map(|_| ())
    }

    /// UCP 3.x: the configuration file (TOML).
    pub async fn config_toml(&self) -> Result<String, ApiError> {
        let path = "/api/ucp/config-toml";
        let req = self
            .authed(Method::GET, path)
            .header(reqwest::header::ACCEPT, "application/toml");
        let resp = self
            .checked(Method::GET, path, req, &[StatusCode::OK])
            .await?;
        self.ep.text(Method::GET, path, resp).await
    }

    /// UCP 3.x: the `[[registries]]` of the configuration file.
    pub async fn trusted_registries(&self) -> Result<Vec<TrustedRegistry>, ApiError> {
        let text = self.config_toml().await?;
        parse_registries(&text).map_err(|reason| ApiError::Decode {
            service: Service::Ucp,
            method: "GET".into(),
            path: "/api/ucp/config-toml".into(),
            reason,
        })
    }

    /// Tells UCP 1.x from 3.x: only 3.x serves `/api/ucp/config-toml`.
    pub async fn detect_flavor(&self) -> Result<Flavor, ApiError> {
        let path = "/api/ucp/config-toml";
        let req = self.authed(Method::GET, path);
        let resp = self
            .checked(
                Method::GET,
                path,
                req,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        Ok(if resp.status() == StatusCode::OK {
            Flavor::Ucp3
        } else {
            Flavor::Ucp1
        })
    }
}

/// The message part of an API error, for wrapping into another error.
fn status_message(err: &ApiError) -> String {
    match err {
        ApiError::Status { code, message, .. } => match code {
            Some(code) => format!("{code}: {message}"),
            None => message.clone(),
        },
        other => other.to_string(),
    }
}

/// Parses the `registries` array of a UCP 3.x configuration file.
pub fn parse_registries(text: &str) -> Result<Vec<TrustedRegistry>, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    let Some(entries) = doc.get("registries") else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or("`registries` is not an array of tables")?;
    entries
        .iter()
        .map(|entry| {
            let table = entry
                .as_table()
                .ok_or("a `registries` entry is not a table")?;
            let text = |key: &str| {
                table
                    .get(key)
                    .and_then(toml::Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string)
            };
            Ok(TrustedRegistry {
                host_address: text("host_address")
                    .ok_or("a `registries` entry has no host_address")?,
                service_id: text("service_id"),
                ca_bundle: text("ca_bundle"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_come_from_config_toml() {
        let text = r#"
[auth]
backend = "managed"

[[registries]]
host_address = "dtr.example.com:4443"
service_id = "abc"
ca_bundle = "PEM"
"#;
        let regs = parse_registries(text).expect("parses");
        assert_eq!(regs.len(), 1);
        assert_eq!(regs[0].host_address, "dtr.example.com:4443");
        assert_eq!(regs[0].ca_bundle.as_deref(), Some("PEM"));
        assert!(parse_registries("[auth]\n").expect("empty").is_empty());
        assert!(parse_registries("registries = 1").is_err());
    }
}
