//! The registry v2 HTTP API as a Docker engine speaks it: ping, bearer
//! token, blob existence, monolithic blob upload, manifest put and get.
//!
//! Every byte that crosses is digest-checked on the way in, and every error
//! keeps what the registry said (`{"errors":[{"code","message"}]}`), because
//! the Docker CLI prints the lower-cased code and the message verbatim
//! (`unauthorized: authentication required`).

use std::io::ErrorKind;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use rustls_pki_types::CertificateDer;

use crate::lab::docker::store::{MANIFEST_V2, sha256_digest};
use crate::lab::docker::trust::{self, Identity, SeenSlot, TrustError};

/// The OCI manifest media type, accepted on pull besides Docker's.
const MANIFEST_OCI: &str = "application/vnd.oci.image.manifest.v1+json";

/// Why a registry request failed, worded the way Docker prints it.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The TLS handshake rejected the registry's certificate.
    #[error("Get \"{url}\": tls: failed to verify certificate: {x509}")]
    Certificate { url: String, x509: String },
    /// Nothing listens, or the connection broke.
    #[error("Get \"{url}\": dial tcp {addr}: {detail}")]
    Dial {
        url: String,
        addr: String,
        detail: String,
    },
    /// The registry answered with an error document or status.
    #[error("{}", registry_text(*.status, .code.as_deref(), .message.as_deref()))]
    Status {
        status: StatusCode,
        code: Option<String>,
        message: Option<String>,
    },
    /// Content did not match its digest.
    #[error("filesystem layer verification failed for digest {digest}")]
    Digest { digest: String },
    /// Any other transport failure.
    #[error("{method} \"{url}\": {source}")]
    Transport {
        method: Method,
        url: String,
        source: reqwest::Error,
    },
    #[error("{0}")]
    Trust(#[from] TrustError),
    #[error("cannot build an HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("the registry sent an upload location that is not a URL: {location}")]
    Location { location: String },
}

impl RegistryError {
    /// Whether this is the registry refusing credentials (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RegistryError::Status { status, .. } if *status == StatusCode::UNAUTHORIZED)
    }
}

fn registry_text(status: StatusCode, code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!("{}: {message}", code.to_lowercase()),
        _ if status == StatusCode::UNAUTHORIZED => "unauthorized: authentication required".into(),
        _ => format!("unexpected status: {status}"),
    }
}

/// A bearer challenge from `GET /v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
}

/// What `GET /v2/` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// The registry needs no token.
    Open,
    /// The registry wants a bearer token from this realm.
    Bearer(Challenge),
}

/// One engine's connection to one registry.
#[derive(Debug)]
pub struct Session {
    /// `host[:port]` of the registry.
    pub registry: String,
    base: Url,
    client: Client,
    seen: SeenSlot,
    roots: rustls::RootCertStore,
    token: Option<String>,
}

impl Session {
    /// A session that trusts `trust` (the engine's `certs.d` view).
    pub fn new(registry: &str, trust: trust::Trust) -> Result<Session, RegistryError> {
        let base =
            Url::parse(&format!("https://{registry}/")).map_err(|_| RegistryError::Location {
                location: registry.to_string(),
            })?;
        let roots = trust.roots.clone();
        let (client, seen) = http_client(trust, None)?;
        Ok(Session {
            registry: registry.to_string(),
            base,
            client,
            seen,
            roots,
            token: None,
        })
    }

    /// The certificate chain the registry presented in the last handshake.
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        self.seen
            .lock()
            .map(|s| s.chain.clone())
            .unwrap_or_default()
    }

    /// A client with the same roots as this session, presenting `identity`.
    pub fn client_with_identity(
        &self,
        identity: Option<Identity>,
    ) -> Result<Client, RegistryError> {
        let trust = trust::Trust {
            roots: self.roots.clone(),
            identity: None,
        };
        Ok(http_client(trust, identity)?.0)
    }

    /// Uses `token` for every following request.
    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.client.request(method, url);
        match &self.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        request: RequestBuilder,
    ) -> Result<Response, RegistryError> {
        request
            .send()
            .await
            .map_err(|source| self.transport_error(method, url.as_str(), source))
    }

    /// Turns a transport failure into Docker's wording: the x509 reason if
    /// the handshake rejected the certificate, the dial error if nothing
    /// answered.
    fn transport_error(&self, method: Method, url: &str, source: reqwest::Error) -> RegistryError {
        let rejected = self.seen.lock().ok().and_then(|s| s.error.clone());
        if let Some(error) = rejected {
            let host = self.base.host_str().unwrap_or_default().to_string();
            return RegistryError::Certificate {
                url: url.to_string(),
                x509: trust::x509_text(&error, &host),
            };
        }
        if source.is_connect() {
            let mut detail = None;
            let mut cause: Option<&dyn std::error::Error> = Some(&source);
            while let Some(err) = cause {
                if let Some(io) = err.downcast_ref::<std::io::Error>() {
                    detail = Some(match io.kind() {
                        ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
                        ErrorKind::TimedOut => "i/o timeout".to_string(),
                        _ => format!("connect: {io}"),
                    });
                    break;
                }
                cause = err.source();
            }
            return RegistryError::Dial {
                url: url.to_string(),
                addr: self.registry.clone(),
                detail: detail.unwrap_or_else(|| "connect: connection refused".to_string()),
            };
        }
        RegistryError::Transport {
            method,
            url: url.to_string(),
            source,
        }
    }

    /// `GET /v2/`: is the registry there, and does it want a token?
    pub async fn ping(&self) -> Result<Ping, RegistryError> {
        let url = self.url("/v2/");
        let response = self
            .send(Method::GET, url.clone(), self.client.get(url))
            .await?;
        if response.status().is_success() {
            return Ok(Ping::Open);
        }
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(challenge) = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_bearer)
        {
            return Ok(Ping::Bearer(challenge));
        }
        Err(status_error(response).await)
    }

    /// Whether the registry already has `digest` in repository `name`.
    pub async fn blob_exists(&self, name: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{name}/blobs/{digest}"));
        let response = self
            .send(Method::HEAD, url.clone(), self.request(Method::HEAD, url))
            .await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(response).await),
        }
    }

    /// Uploads a blob in one request (`POST` then `PUT ?digest=`).
    pub async fn upload_blob(
        &self,
        name: &str,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("/v2/{name}/blobs/uploads/"));
        let response = self
            .send(Method::POST, url.clone(), self.request(Method::POST, url))
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(status_error(response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut upload = self
            .base
            .join(&location)
            .map_err(|_| RegistryError::Location {
                location: location.clone(),
            })?;
        upload.query_pairs_mut().append_pair("digest", digest);
        let request = self
            .request(Method::PUT, upload.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        let response = self.send(Method::PUT, upload, request).await?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(response).await);
        }
        Ok(())
    }

    /// Puts a manifest under `reference`; returns the digest the registry
    /// reports (`Docker-Content-Digest`), if any.
    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("/v2/{name}/manifests/{reference}"));
        let request = self
            .request(Method::PUT, url.clone())
            .header(CONTENT_TYPE, media_type)
            .body(bytes);
        let response = self.send(Method::PUT, url, request).await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(status_error(response).await);
        }
        Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// Gets a manifest by tag or digest; returns its bytes and digest. When
    /// `reference` is a digest, the bytes must hash to it.
    pub async fn get_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let url = self.url(&format!("/v2/{name}/manifests/{reference}"));
        let request = self
            .request(Method::GET, url.clone())
            .header(ACCEPT, format!("{MANIFEST_V2}, {MANIFEST_OCI}"));
        let response = self.send(Method::GET, url.clone(), request).await?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|source| self.transport_error(Method::GET, url.as_str(), source))?
            .to_vec();
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::Digest {
                digest: reference.to_string(),
            });
        }
        Ok((bytes, digest))
    }

    /// Gets a blob and checks it against `digest`.
    pub async fn get_blob(&self, name: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("/v2/{name}/blobs/{digest}"));
        let response = self
            .send(
                Method::GET,
                url.clone(),
                self.request(Method::GET, url.clone()),
            )
            .await?;
        if !response.status().is_success() {
            return Err(status_error(response).await);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|source| self.transport_error(Method::GET, url.as_str(), source))?
            .to_vec();
        if sha256_digest(&bytes) != digest {
            return Err(RegistryError::Digest {
                digest: digest.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// Asks a token service for a token (`GET realm?service=&scope=`), with
/// `client` deciding which certificate is presented and `basic` the
/// credentials, if any.
pub async fn fetch_token(
    client: &Client,
    challenge: &Challenge,
    scope: &str,
    basic: Option<(&str, &str)>,
) -> Result<String, RegistryError> {
    let mut url = Url::parse(&challenge.realm).map_err(|_| RegistryError::Location {
        location: challenge.realm.clone(),
    })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = &challenge.service {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let mut request = client.get(url.clone());
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|source| RegistryError::Transport {
            method: Method::GET,
            url: url.to_string(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    let body: serde_json::Value =
        response
            .json()
            .await
            .map_err(|source| RegistryError::Transport {
                method: Method::GET,
                url: url.to_string(),
                source,
            })?;
    body.get("token")
        .or_else(|| body.get("access_token"))
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or(RegistryError::Status {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            message: None,
        })
}

/// A reqwest client over a rustls configuration built from `trust`.
pub fn http_client(
    trust: trust::Trust,
    identity: Option<Identity>,
) -> Result<(Client, SeenSlot), RegistryError> {
    let (config, seen) = trust::client_config(trust, identity)?;
    let client = Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(RegistryError::Client)?;
    Ok((client, seen))
}

/// The registry's error document, or its bare status.
async fn status_error(response: Response) -> RegistryError {
    let status = response.status();
    let body: Option<serde_json::Value> = response.json().await.ok();
    let first = body
        .as_ref()
        .and_then(|b| b.get("errors"))
        .and_then(|e| e.get(0));
    let field = |name: &str| {
        first
            .and_then(|e| e.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    RegistryError::Status {
        status,
        code: field("code"),
        message: field("message"),
    }
}

/// Parses `Bearer realm="...",service="...",scope="..."`.
pub fn parse_bearer(header: &str) -> Option<Challenge> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut realm = None;
    let mut service = None;
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            value
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        match key.trim() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = parse_bearer(
            r#"Bearer realm="https://dtr:4443/auth/token",service="dtr:4443",scope="repository:a/b:pull""#,
        )
        .expect("challenge");
        assert_eq!(c.realm, "https://dtr:4443/auth/token");
        assert_eq!(c.service.as_deref(), Some("dtr:4443"));
        assert_eq!(parse_bearer("Basic realm=x"), None);
    }
}
