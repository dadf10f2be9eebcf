//! A typed client for the DTR (MSR) API: `/ca`, `/health`, the version,
//! the settings API (where DTR 2.0 learns to trust UCP through
//! `authBypassCA`) and the repository API, per ucp-dtr-api.md §3, §5–6.
//!
//! DTR has no login endpoint: every call carries HTTP Basic credentials
//! (§7). They stay inside [`Dtr`] and are never shown.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::tls::{self, Trust};
use crate::api::{ApiError, Endpoint, Service, parse_base_url};

/// DTR's error code for a repository that does not exist.
pub const NO_SUCH_REPOSITORY: &str = "NO_SUCH_REPOSITORY";
/// DTR's error code for creating a repository that exists.
pub const REPOSITORY_EXISTS: &str = "REPOSITORY_EXISTS";
/// DTR's error code for a namespace (user or organization) that does not exist.
pub const NO_SUCH_ACCOUNT: &str = "NO_SUCH_ACCOUNT";

/// `GET /health`.
#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub healthy: bool,
    #[serde(default)]
    pub error: String,
}

/// The parts of `responses.Repository` dtrplay uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Repository {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub visibility: String,
}

/// One tag of a repository.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub digest: String,
}

/// What creating a repository did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Created(Repository),
    /// DTR answered `REPOSITORY_EXISTS`: someone (maybe another host of
    /// this run) created it first. Treated as done.
    AlreadyExists,
}

/// A DTR API client.
pub struct Dtr {
    ep: Endpoint,
    user: String,
    password: String,
}

impl fmt::Debug for Dtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dtr")
            .field("endpoint", &self.ep)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Dtr {
    /// A client for `url` with the given trust and Basic credentials.
    pub async fn connect(
        url: &str,
        trust: &Trust,
        user: &str,
        password: &str,
    ) -> Result<Dtr, ApiError> {
        let base = parse_base_url(Service::Dtr, url)?;
        let (http, _) = tls::establish(Service::Dtr, &base, trust, None).await?;
        Ok(Dtr {
            ep: Endpoint::new(Service::Dtr, base, http),
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    fn authed(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.ep
            .request(method, path)
            .basic_auth(&self.user, Some(&self.password))
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
            Err(ApiError::Status {
                status: 401,
                code,
                message,
                ..
            }) => Err(ApiError::BadCredentials {
                service: Service::Dtr,
                user: self.user.clone(),
                detail: match code {
                    Some(code) => format!("{code}: {message}"),
                    None => message,
                },
            }),
            other => other,
        }
    }

    /// `GET /ca`: DTR's TLS root CA (no authentication).
    pub async fn ca(&self) -> Result<String, ApiError> {
        let req = self.ep.request(Method::GET, "/ca");
        let resp = self
            .ep
            .call(Method::GET, "/ca", req, &[StatusCode::OK])
            .await?;
        self.ep.text(Method::GET, "/ca", resp).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ApiError> {
        let req = self.ep.request(Method::GET, "/health");
        let resp = self
            .ep
            .call(Method::GET, "/health", req, &[StatusCode::OK])
            .await?;
        self.ep.json(Method::GET, "/health", resp).await
    }

    /// `GET /api/v0/admin/version`.
    pub async fn version(&self) -> Result<String, ApiError> {
        let path = "/api/v0/admin/version";
        let req = self.authed(Method::GET, path);
        let resp = self
            .checked(Method::GET, path, req, &[StatusCode::OK])
            .await?;
        let body: Map<String, Value> = self.ep.json(Method::GET, path, resp).await?;
        Ok(body
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    /// `GET /api/v0/meta/settings` (admin only).
    pub async fn settings(&self) -> Result<Map<String, Value>, ApiError> {
        let path = "/api/v0/meta/settings";
        let req = self.authed(Method::GET, path);
        let resp = self
            .checked(Method::GET, path, req, &[StatusCode::OK])
            .await?;
        self.ep.json(Method::GET, path, resp).await
    }

    /// `POST /api/v0/meta/settings`: a partial update of only the given
    /// fields (202 Accepted).
    pub async fn update_settings(&self, fields: &Map<String, Value>) -> Result<(), ApiError> {
        let path = "/api/v0/meta/settings";
        let req = self.authed(Method::POST, path).json(fields);
        self.checked(
            Method::POST,
            path,
            req,
            &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NO_CONTENT],
        )
        .await
        .map(|_| ())
    }

    /// `GET /api/v0/repositories/{ns}/{name}`; `None` when DTR answers
    /// `NO_SUCH_REPOSITORY`.
    pub async fn repository(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Repository>, ApiError> {
        let path = format!("/api/v0/repositories/{namespace}/{name}");
        let req = self.authed(Method::GET, &path);
        match self
            .checked(Method::GET, &path, req, &[StatusCode::OK])
            .await
        {
            Ok(resp) => self.ep.json(Method::GET, &path, resp).await.map(Some),
            Err(err) if err.code() == Some(NO_SUCH_REPOSITORY) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /api/v0/repositories/{ns}`; `REPOSITORY_EXISTS` counts as done.
    pub async fn create_repository(
        &self,
        namespace: &str,
        name: &str,
        visibility: &str,
        short_description: &str,
    ) -> Result<Created, ApiError> {
        let path = format!("/api/v0/repositories/{namespace}");
        let body = serde_json::json!({
            "name": name,
            "visibility": visibility,
            "shortDescription": short_description,
        });
        let req = self.authed(Method::POST, &path).json(&body);
        match self
            .checked(
                Method::POST,
                &path,
                req,
                &[StatusCode::CREATED, StatusCode::OK],
            )
            .await
        {
            Ok(resp) => Ok(Created::Created(
                self.ep.json(Method::POST, &path, resp).await?,
            )),
            Err(err) if err.code() == Some(REPOSITORY_EXISTS) => Ok(Created::AlreadyExists),
            Err(err) => Err(err),
        }
    }

    /// `GET /api/v0/repositories/{ns}/{name}/tags`.
    pub async fn tags(&self, namespace: &str, name: &str) -> Result<Vec<Tag>, ApiError> {
        let path = format!("/api/v0/repositories/{namespace}/{name}/tags");
        let req = self.authed(Method::GET, &path);
        let resp = self
            .checked(Method::GET, &path, req, &[StatusCode::OK])
            .await?;
        self.ep.json(Method::GET, &path, resp).await
    }
}
