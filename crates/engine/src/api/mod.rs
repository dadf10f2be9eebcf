//! Typed HTTP clients for UCP (MKE) and DTR (MSR), and what they share:
//! the error type, the error-envelope decoding, the generation ("flavor")
//! switch, and the resolution of the DTR CA that several tasks need.
//!
//! Every client verifies TLS. Which roots it trusts is decided once per
//! service (`tls::Trust`): a CA file, a SHA-256 pin bootstrapped over
//! `/ca`, or the system store. Nothing here prints; errors carry enough
//! context (service, URL, HTTP status, the API's own error code and message,
//! the issuer the server presented) for the caller to say what is wrong and
//! how to fix it. No error, `Debug` output or log ever holds a password or
//! token.

pub mod contract;
pub mod docker;
pub mod dtr;
pub mod dtr_ca;
pub mod registry;
pub mod tls;
pub mod ucp;

use std::fmt;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

/// The two services dtrplay talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Ucp,
    Dtr,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Ucp => "UCP",
            Service::Dtr => "DTR",
        })
    }
}

impl Service {
    /// The inventory variable prefix (`ucp_`, `dtr_`).
    pub fn var_prefix(self) -> &'static str {
        match self {
            Service::Ucp => "ucp",
            Service::Dtr => "dtr",
        }
    }
}

/// Which UCP/DTR generation a cluster is (ucp-dtr-api.md §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// UCP 1.x + DTR 2.0: `/api/config/registry`, DTR `authBypassCA`.
    Ucp1,
    /// UCP 3.x / MKE + DTR 2.5+ / MSR: `trustedregistry_` + config-toml;
    /// DTR trusts UCP from its installation (`--ucp-ca`).
    Ucp3,
}

impl Flavor {
    /// Parses the `ucp_flavor` variable.
    pub fn parse(text: &str) -> Option<Flavor> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ucp1" => Some(Flavor::Ucp1),
            "ucp3" => Some(Flavor::Ucp3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Ucp1 => "ucp1",
            Flavor::Ucp3 => "ucp3",
        }
    }
}

/// How long one API request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{service} at {url} refused the connection: check that it runs and that the port is right"
    )]
    Refused { service: Service, url: String },
    #[error("cannot reach {service} at {url}: {reason}")]
    Unreachable {
        service: Service,
        url: String,
        reason: String,
    },
    #[error("{service} at {url} did not answer within {}s", after.as_secs())]
    Timeout {
        service: Service,
        url: String,
        after: Duration,
    },
    #[error("TLS verification of {service} at {url} failed: {reason}{}{}", presented.as_ref().map(|p| format!("; the server presents {p}")).unwrap_or_default(), hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Tls {
        service: Service,
        url: String,
        reason: String,
        /// The certificate the server actually presents, described.
        presented: Option<String>,
        hint: Option<String>,
    },
    #[error("{service} rejected the credentials of user `{user}`: {detail}")]
    BadCredentials {
        service: Service,
        user: String,
        detail: String,
    },
    #[error("{service} answered {method} {path} with HTTP {status}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        service: Service,
        method: String,
        path: String,
        status: u16,
        /// The API's error code (`REPOSITORY_EXISTS`), when it sent one.
        code: Option<String>,
        message: String,
    },
    #[error("{service} answered {method} {path} with a body dtrplay cannot read: {reason}")]
    Decode {
        service: Service,
        method: String,
        path: String,
        reason: String,
    },
    #[error("cannot use the {service} CA file {path}: {reason}")]
    CaFile {
        service: Service,
        path: String,
        reason: String,
    },
    #[error("the {service} URL `{url}` cannot be used: {reason}")]
    Url {
        service: Service,
        url: String,
        reason: String,
    },
    #[error("cannot set up the HTTPS client for {service}: {reason}")]
    Setup { service: Service, reason: String },
    #[error("{service}'s CA does not match the pin: {reason}")]
    Pin { service: Service, reason: String },
}

impl ApiError {
    /// The API's error code, for a failure the API explained.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, for a failure the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the service could not be reached at all (as opposed to
    /// reached and refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ApiError::Refused { .. } | ApiError::Unreachable { .. } | ApiError::Timeout { .. }
        )
    }
}

/// The error envelope UCP and DTR share: `{"errors":[{"code","message"}]}`
/// (ucp-dtr-api.md §6).
#[derive(Debug, Deserialize)]
struct Envelope {
    errors: Vec<EnvelopeError>,
}

#[derive(Debug, Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The largest part of an unexpected body quoted in an error.
const BODY_QUOTE: usize = 200;

/// The code and message of an error body: the first entry of the envelope,
/// or the start of the body when it is something else.
fn decode_error_body(body: &str) -> (Option<String>, String) {
    if let Ok(envelope) = serde_json::from_str::<Envelope>(body)
        && let Some(first) = envelope.errors.into_iter().next()
    {
        let message = first.message.unwrap_or_else(|| "(no message)".into());
        return (first.code, message);
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return (None, "(empty body)".into());
    }
    let mut quoted: String = trimmed.chars().take(BODY_QUOTE).collect();
    if quoted.len() < trimmed.len() {
        quoted.push('…');
    }
    (None, quoted)
}

/// One HTTPS endpoint: a service, its base URL and a verified client.
#[derive(Clone)]
pub struct Endpoint {
    pub service: Service,
    /// `https://host[:port]`, without a trailing slash.
    pub base: reqwest::Url,
    http: reqwest::Client,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("service", &self.service)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub fn new(service: Service, base: reqwest::Url, http: reqwest::Client) -> Endpoint {
        Endpoint {
            service,
            base,
            http,
        }
    }

    /// The full URL of an API path (`/api/v0/meta/settings`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Sends a request and turns transport failures into `ApiError`s.
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, ApiError> {
        match req.send().await {
            Ok(resp) => Ok(resp),
            Err(err) => Err(tls::classify(self.service, &self.base, &err).await),
        }
    }

    /// Sends a request and requires one of `expected`; any other status
    /// becomes `ApiError::Status` with the API's code and message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        req: RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<Response, ApiError> {
        let resp = self.send(req).await?;
        if expected.contains(&resp.status()) {
            return Ok(resp);
        }
        Err(self.status_error(method, path, resp).await)
    }

    /// The error for an unexpected answer.
    pub async fn status_error(&self, method: Method, path: &str, resp: Response) -> ApiError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let (code, message) = decode_error_body(&body);
        ApiError::Status {
            service: self.service,
            method: method.to_string(),
            path: path.to_string(),
            status,
            code,
            message,
        }
    }

    /// Reads a JSON body.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        resp: Response,
    ) -> Result<T, ApiError> {
        let body = resp.bytes().await.map_err(|e| ApiError::Decode {
            service: self.service,
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
            service: self.service,
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    /// Reads a text body.
    pub async fn text(
        &self,
        method: Method,
        path: &str,
        resp: Response,
    ) -> Result<String, ApiError> {
        resp.text().await.map_err(|e| ApiError::Decode {
            service: self.service,
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Parses and checks a service URL: `https`, a host, no credentials, no
/// query. A path is dropped (UCP and DTR serve from the root).
pub fn parse_base_url(service: Service, text: &str) -> Result<reqwest::Url, ApiError> {
    let bad = |reason: &str| ApiError::Url {
        service,
        url: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = reqwest::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(bad(
            "only https:// is supported: the integration is about TLS trust",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Quoting the URL would print the credentials; the message says why.
        return Err(ApiError::Url {
            service,
            url: "(not shown: it contains credentials)".into(),
            reason: "put the user and password in the inventory variables, not in the URL".into(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    url.set_path("/");
    Ok(url)
}

/// `https://host[:port]` of a URL, lower-cased, with the default port
/// dropped: the form compared and sent to UCP.
pub fn origin(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    match url.port() {
        Some(port) if port != 443 => format!("https://{host}:{port}"),
        _ => format!("https://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_decode_the_envelope_or_quote_the_start() {
        let (code, message) = decode_error_body(
            r#"{"errors":[{"code":"NO_SUCH_REPOSITORY","message":"A repository with the given name does not exist."}]}"#,
        );
        assert_eq!(code.as_deref(), Some("NO_SUCH_REPOSITORY"));
        assert!(message.starts_with("A repository"));
        let (code, message) = decode_error_body("oops");
        assert_eq!((code, message.as_str()), (None, "oops"));
    }

    #[test]
    fn base_urls_are_https_origins_without_credentials() {
        let url = parse_base_url(Service::Dtr, "dtr.example.com:4443/x").expect("valid");
        assert_eq!(url.as_str(), "https://dtr.example.com:4443/");
        assert_eq!(origin(&url), "https://dtr.example.com:4443");
        let url = parse_base_url(Service::Dtr, "https://DTR.example.com:443").expect("valid");
        assert_eq!(origin(&url), "https://dtr.example.com");
        assert!(parse_base_url(Service::Ucp, "http://ucp").is_err());
        let err = parse_base_url(Service::Ucp, "https://admin:s3cret@ucp").expect_err("creds");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
