//! The Docker API as a UCP client bundle reaches it: what `docker` does with
//! `DOCKER_HOST=tcp://<ucp>`, `DOCKER_TLS_VERIFY=1` and
//! `DOCKER_CERT_PATH=<bundle>`. UCP authenticates the bundle's certificate
//! and forwards the calls to the cluster's engines (ucp-dtr-api.md §1,
//! the procedure's step 6).
//!
//! Only what step 6 needs: inspect, pull, tag and push. Pulls and pushes
//! answer with a stream of JSON messages; [`Progress`] turns it into the
//! lines the docker CLI prints, so that the engines' own failure texts
//! (`tasks/push_failure.rs`) are what callers see and classify. The paths
//! carry no API version, which every engine accepts (its own version).

use base64::Engine as _;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::api::tls::{self, ClientIdentity, Trust};
use crate::api::{ApiError, Endpoint, Service, parse_base_url};

/// The `X-Registry-Auth` header of a client that ran no `docker login`:
/// empty credentials, as the docker CLI sends them.
fn no_credentials() -> String {
    base64::engine::general_purpose::URL_SAFE.encode("{}")
}

/// The output of a pull or a push, as the docker CLI prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Every status line, then the error if there was one.
    pub text: String,
    /// The error that ended it, as the engine (or UCP) worded it.
    pub error: Option<String>,
}

impl Progress {
    /// Whether it ended without an error.
    pub fn success(&self) -> bool {
        self.error.is_none()
    }

    /// Reads a stream of JSON messages (one per line).
    pub fn parse(body: &str) -> Progress {
        let mut lines = Vec::new();
        let mut error = None;
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Ok(Value::Object(message)) = serde_json::from_str::<Value>(line) else {
                lines.push(line.to_string());
                continue;
            };
            if let Some(text) = message
                .get("errorDetail")
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .or_else(|| message.get("error").and_then(Value::as_str))
            {
                error = Some(text.to_string());
                lines.push(text.to_string());
                continue;
            }
            let status = message.get("status").and_then(Value::as_str).unwrap_or("");
            if status.is_empty() {
                continue;
            }
            match message.get("id").and_then(Value::as_str) {
                Some(id) => lines.push(format!("{id}: {status}")),
                None => lines.push(status.to_string()),
            }
        }
        let mut text = lines.join("\n");
        text.push('\n');
        Progress { text, error }
    }

    /// An error answer of the whole request (`{"message": ...}`), worded
    /// as the docker CLI prints it.
    fn refused(body: &str) -> Progress {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| body.trim().to_string());
        let text = format!("Error response from daemon: {message}");
        Progress {
            text: format!("{text}\n"),
            error: Some(text),
        }
    }
}

/// A Docker API client authenticated by a client bundle.
#[derive(Debug)]
pub struct DockerApi {
    ep: Endpoint,
    /// The endpoint's client, for requests whose query is built here.
    http: reqwest::Client,
}

impl DockerApi {
    /// A client for the Docker API UCP serves at `ucp_url`, verified with
    /// `trust`, authenticating with the bundle's certificate.
    pub async fn connect(
        ucp_url: &str,
        trust: &Trust,
        identity: &ClientIdentity,
    ) -> Result<DockerApi, ApiError> {
        let base = parse_base_url(Service::Ucp, ucp_url)?;
        let (http, _) = tls::establish(Service::Ucp, &base, trust, Some(identity)).await?;
        Ok(DockerApi {
            ep: Endpoint::new(Service::Ucp, base, http.clone()),
            http,
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url = self
            .ep
            .url(path)
            .parse::<Url>()
            .map_err(|e| ApiError::Url {
                service: Service::Ucp,
                url: path.to_string(),
                reason: e.to_string(),
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }

    /// Whether an engine behind UCP has `image` (`GET /images/{image}/json`).
    pub async fn has_image(&self, image: &str) -> Result<bool, ApiError> {
        let path = format!("/images/{image}/json");
        let url = self.url(&path, &[])?;
        let resp = self.ep.send(self.http.request(Method::GET, url)).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.ep.status_error(Method::GET, &path, resp).await),
        }
    }

    /// `docker pull <image>` (`POST /images/create?fromImage=…&tag=…`).
    pub async fn pull(&self, image: &str) -> Result<Progress, ApiError> {
        let (name, tag) = split_tag(image);
        let url = self.url("/images/create", &[("fromImage", name), ("tag", tag)])?;
        self.stream("/images/create", url).await
    }

    /// `docker tag <source> <repo>:<tag>` (`POST /images/{source}/tag`).
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<Progress, ApiError> {
        let path = format!("/images/{source}/tag");
        let url = self.url(&path, &[("repo", repo), ("tag", tag)])?;
        let resp = self.ep.send(self.http.request(Method::POST, url)).await?;
        if resp.status().is_success() {
            return Ok(Progress::default());
        }
        let body = resp.text().await.unwrap_or_default();
        Ok(Progress::refused(&body))
    }

    /// `docker push <repo>:<tag>` (`POST /images/{repo}/push?tag=…`), with
    /// no credentials of its own: whatever the engine gets, UCP gave it.
    pub async fn push(&self, repo: &str, tag: &str) -> Result<Progress, ApiError> {
        let path = format!("/images/{repo}/push");
        let url = self.url(&path, &[("tag", tag)])?;
        self.stream(&path, url).await
    }

    async fn stream(&self, path: &str, url: Url) -> Result<Progress, ApiError> {
        let req = self
            .http
            .request(Method::POST, url)
            .header("X-Registry-Auth", no_credentials());
        let resp = self.ep.send(req).await?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| ApiError::Decode {
            service: Service::Ucp,
            method: "POST".into(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if status.is_success() {
            Ok(Progress::parse(&body))
        } else {
            Ok(Progress::refused(&body))
        }
    }
}

/// `name:tag` split at the tag (`dtr:4443/a/b:1` → `dtr:4443/a/b`, `1`);
/// the tag is `latest` when there is none.
pub fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_output_reads_as_the_cli_prints_it() {
        let body = concat!(
            "{\"status\":\"The push refers to repository [dtr.lab.test:4443/admin/hello-world]\"}\n",
            "{\"status\":\"Preparing\",\"progressDetail\":{},\"id\":\"7871fbcb5231\"}\n",
            "{\"errorDetail\":{\"message\":\"denied: requested access to the resource is denied\"},\"error\":\"denied: requested access to the resource is denied\"}\n",
        );
        let progress = Progress::parse(body);
        assert_eq!(
            progress.text,
            "The push refers to repository [dtr.lab.test:4443/admin/hello-world]\n7871fbcb5231: Preparing\ndenied: requested access to the resource is denied\n"
        );
        assert_eq!(
            progress.error.as_deref(),
            Some("denied: requested access to the resource is denied")
        );
        let refused = Progress::refused("{\"message\":\"No such image: x\"}");
        assert_eq!(
            refused.error.as_deref(),
            Some("Error response from daemon: No such image: x")
        );
    }

    #[test]
    fn tags_are_split_after_the_registry_port() {
        assert_eq!(split_tag("dtr:4443/a/b:1"), ("dtr:4443/a/b", "1"));
        assert_eq!(split_tag("dtr:4443/a/b"), ("dtr:4443/a/b", "latest"));
        assert_eq!(split_tag("hello-world"), ("hello-world", "latest"));
    }
}
