//! UCP as the engines' front door: the Docker API a client bundle reaches
//! (`DOCKER_HOST=tcp://<ucp>`, `DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH=<bundle>`),
//! forwarded to the real `dockerd` of the lab's nodes, with registry
//! credentials for DTR added the way the procedure's step 6 needs them
//! ("push … without having to run `docker login`").
//!
//! The caller is authenticated by `ucp.rs` (the bundle's client certificate,
//! verified by rustls against the UCP Client Root CA, or a bearer token)
//! before anything here runs. What is forwarded where follows UCP 1.1,
//! which fronts its engines with classic Swarm (docs/lab-model.md says which
//! parts are confirmed and which inferred):
//! - `POST /images/create` (a pull) runs on every node's engine; each
//!   engine's progress lines are prefixed with its node's name, and the
//!   errors of the nodes that failed are reported together, one per line.
//! - `POST /images/{name}/tag` runs on every engine that has the image.
//! - `POST /images/{name}/push` and `GET /images/{name}/json` go to the first
//!   node whose engine has the image.
//! - Everything else goes to the first node's engine (a controller).
//!
//! Registry credentials: when a pull or push names a registry that UCP
//! knows (step 3: UCP 1.x's `/api/config/registry` URL, UCP 3.x's trusted
//! registries), UCP asks that registry's token service for a token for the
//! bundle's user, presenting its own client certificate (issued by the
//! cluster root CA with `OU=ucp`, which DTR's auth bypass accepts once step
//! 4 is done), and hands the engine the token in `X-Registry-Auth`
//! (`registrytoken`, which engines use as the bearer token as is). It
//! verifies DTR with the CA uploaded in step 3 (or accepts any certificate
//! when step 3 said `insecure`). When UCP knows no such registry, or DTR
//! refuses it a token, the client's own `X-Registry-Auth` is passed on
//! unchanged: the engine then asks DTR anonymously and is refused
//! (`denied: requested access to the resource is denied` on current engines).
//!
//! Hijacked connections (`docker attach`, `exec`, interactive `run`) are not
//! supported; the lab's engines run no containers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::UnixStream;

use crate::api_http::lock;

/// The header in which Docker clients and UCP pass registry credentials.
pub const REGISTRY_AUTH: &str = "x-registry-auth";

/// How long UCP waits for DTR's token service.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest answer of an engine that UCP reads whole (a pull's progress
/// on one node, an inspect).
const MAX_COLLECTED: usize = 16 * 1024 * 1024;

/// One node's engine, as UCP reaches it: its socket on the control machine.
#[derive(Debug, Clone)]
pub struct EngineRoute {
    /// The node's name, which prefixes its lines in merged output.
    pub name: String,
    /// The engine's unix socket.
    pub socket: PathBuf,
}

/// A registry UCP knows from step 3, and how UCP verifies it.
#[derive(Debug, Clone)]
pub(crate) struct KnownRegistry {
    /// `host[:port]`, as in image names.
    pub authority: String,
    /// The CA uploaded with it, if any.
    pub ca_pem: Option<String>,
    /// UCP 1.x's `insecure`: accept any certificate.
    pub insecure: bool,
}

/// UCP's side of the engines: where they are and UCP's own identity.
pub(crate) struct Front {
    engines: Mutex<Vec<EngineRoute>>,
    /// `host:port` DTR advertises, and where it really listens: UCP reaches
    /// DTR's name there, as the nodes do through the lab's proxy.
    dtr_host: String,
    dtr_addr: SocketAddr,
    /// UCP's client certificate and key (PEM, concatenated).
    identity_pem: Vec<u8>,
}

/// The Docker API's first path segments (after an optional `/v1.NN`).
const DOCKER_ROOTS: &[&str] = &[
    "_ping",
    "auth",
    "build",
    "commit",
    "configs",
    "containers",
    "distribution",
    "events",
    "exec",
    "images",
    "info",
    "networks",
    "nodes",
    "plugins",
    "secrets",
    "services",
    "session",
    "swarm",
    "system",
    "tasks",
    "version",
    "volumes",
];

/// The path without its `/v1.NN` version prefix.
fn unversioned(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return &rest[end..];
        }
    }
    path
}

/// Whether `path` is a Docker API path (so UCP forwards it to an engine).
pub(crate) fn is_docker_path(path: &str) -> bool {
    let rest = unversioned(path);
    let first = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    DOCKER_ROOTS.contains(&first)
}

/// What a request asks of the cluster.
#[derive(Debug, PartialEq, Eq)]
enum Operation {
    Pull { image: String },
    Tag { name: String },
    Push { name: String, tag: String },
    Inspect { name: String },
    Other,
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn operation(method: &Method, path: &str, query: &str) -> Operation {
    let path = percent_decode(unversioned(path));
    let Some(rest) = path.strip_prefix("/images/") else {
        return Operation::Other;
    };
    if *method == Method::POST && rest == "create" {
        if let Some(image) = query_value(query, "fromImage") {
            let tag = query_value(query, "tag").unwrap_or_default();
            let image = if tag.is_empty() {
                image
            } else {
                format!("{image}:{tag}")
            };
            return Operation::Pull { image };
        }
        return Operation::Other;
    }
    if *method == Method::POST
        && let Some(name) = rest.strip_suffix("/tag")
    {
        return Operation::Tag {
            name: name.to_string(),
        };
    }
    if *method == Method::POST
        && let Some(name) = rest.strip_suffix("/push")
    {
        return Operation::Push {
            name: name.to_string(),
            tag: query_value(query, "tag").unwrap_or_default(),
        };
    }
    if (*method == Method::GET || *method == Method::HEAD)
        && let Some(name) = rest.strip_suffix("/json")
    {
        return Operation::Inspect {
            name: name.to_string(),
        };
    }
    Operation::Other
}

/// The registry part of an image name (`dtr.lab.test:4443/admin/x:1` →
/// `dtr.lab.test:4443`) and the repository path without tag or digest,
/// or `None` for Docker Hub images.
pub(crate) fn registry_of(image: &str) -> Option<(String, String)> {
    let (first, rest) = image.split_once('/')?;
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return None;
    }
    let rest = rest.split('@').next().unwrap_or(rest);
    let repo = match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => rest,
    };
    Some((first.to_ascii_lowercase(), repo.to_string()))
}

/// A Docker-style error answer (`{"message": ...}`), which clients print
/// as `Error response from daemon: <message>`.
pub(crate) fn docker_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

/// Headers that belong to one connection and are never forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "authorization"
            | "content-length"
    )
}

/// Why an engine could not be asked.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("cannot reach the engine of {node} at {socket}: {source}")]
    Connect {
        node: String,
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the engine of {node} broke the connection: {source}")]
    Http { node: String, source: hyper::Error },
    #[error("cannot build the request for the engine of {node}")]
    Request { node: String },
}

impl Front {
    pub(crate) fn new(dtr_host: String, dtr_addr: SocketAddr, identity_pem: Vec<u8>) -> Front {
        Front {
            engines: Mutex::new(Vec::new()),
            dtr_host,
            dtr_addr,
            identity_pem,
        }
    }

    /// Makes UCP front these engines (after the nodes and their engines
    /// have started).
    pub(crate) fn attach(&self, engines: Vec<EngineRoute>) {
        *lock(&self.engines) = engines;
    }

    fn engines(&self) -> Vec<EngineRoute> {
        lock(&self.engines).clone()
    }

    /// Handles one Docker API request of the authenticated `user`.
    pub(crate) async fn handle(
        &self,
        user: &str,
        known: &[KnownRegistry],
        request: Request<Body>,
    ) -> Response {
        let engines = self.engines();
        let Some(first) = engines.first().cloned() else {
            return docker_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "this lab's nodes run no Docker engine, so UCP has nothing to forward to",
            );
        };
        let (parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        let query = parts.uri.query().unwrap_or("").to_string();
        let op = operation(&parts.method, parts.uri.path(), &query);
        let mut headers = parts.headers.clone();
        let image_for_auth = match &op {
            Operation::Pull { image } => Some((image.clone(), "pull")),
            Operation::Push { name, .. } => Some((name.clone(), "pull,push")),
            _ => None,
        };
        if let Some((image, actions)) = image_for_auth
            && let Some(value) = self.registry_auth(known, user, &image, actions).await
        {
            headers.insert(HeaderName::from_static(REGISTRY_AUTH), value);
        }
        let method = parts.method.clone();
        let result = match op {
            Operation::Pull { .. } => {
                return self
                    .pull_everywhere(&engines, &method, &path_and_query, &headers)
                    .await;
            }
            Operation::Tag { .. } => {
                return self
                    .tag_everywhere(&engines, &method, &path_and_query, &headers)
                    .await;
            }
            Operation::Push { name, tag } => {
                let image = if tag.is_empty() {
                    name
                } else {
                    format!("{name}:{tag}")
                };
                let engine = self.holder(&engines, &image).await.unwrap_or(first);
                send(&engine, &method, &path_and_query, &headers, body).await
            }
            Operation::Inspect { name } => match self.holder(&engines, &name).await {
                Some(engine) => send(&engine, &method, &path_and_query, &headers, body).await,
                None => send(&first, &method, &path_and_query, &headers, body).await,
            },
            Operation::Other => send(&first, &method, &path_and_query, &headers, body).await,
        };
        match result {
            Ok(response) => streamed(response),
            Err(err) => docker_error(StatusCode::BAD_GATEWAY, &err.to_string()),
        }
    }

    /// Forwards `GET /_ping` (and `HEAD`) to the first engine, so clients
    /// learn the engine's API version from UCP as they do from an engine.
    pub(crate) async fn ping(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        let first = self.engines().into_iter().next()?;
        match send(&first, method, "/_ping", headers, Body::empty()).await {
            Ok(response) => Some(streamed(response)),
            Err(err) => Some(docker_error(StatusCode::BAD_GATEWAY, &err.to_string())),
        }
    }

    /// The first engine that has `image`.
    async fn holder(&self, engines: &[EngineRoute], image: &str) -> Option<EngineRoute> {
        let path = format!("/images/{image}/json");
        for engine in engines {
            if let Ok(response) = send(
                engine,
                &Method::GET,
                &path,
                &HeaderMap::new(),
                Body::empty(),
            )
            .await
                && response.status() == StatusCode::OK
            {
                return Some(engine.clone());
            }
        }
        None
    }

    /// A pull on every engine at once, merged into one progress stream.
    async fn pull_everywhere(
        &self,
        engines: &[EngineRoute],
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Response {
        let answers = futures::future::join_all(engines.iter().map(|engine| async move {
            let answer = match send(engine, method, path, headers, Body::empty()).await {
                Ok(response) => collect(response).await,
                Err(err) => Err(err.to_string()),
            };
            (engine.name.clone(), answer)
        }))
        .await;
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for (node, answer) in answers {
            match answer {
                Err(message) => errors.push(format!("{node}: {message}")),
                Ok((status, bytes)) if !status.is_success() => {
                    errors.push(format!("{node}: {}", error_message(&bytes)));
                }
                Ok((_, bytes)) => {
                    for line in String::from_utf8_lossy(&bytes).lines() {
                        let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(line)
                        else {
                            continue;
                        };
                        if let Some(error) = message.get("error").and_then(Value::as_str) {
                            let text = message
                                .get("errorDetail")
                                .and_then(|d| d.get("message"))
                                .and_then(Value::as_str)
                                .unwrap_or(error);
                            errors.push(format!("{node}: {text}"));
                            continue;
                        }
                        if let Some(Value::String(id)) = message.get("id").cloned() {
                            message.insert("id".into(), Value::String(format!("{node}: {id}")));
                        } else if let Some(Value::String(status)) = message.get("status").cloned() {
                            message.insert(
                                "status".into(),
                                Value::String(format!("{node}: {status}")),
                            );
                        }
                        lines.push(Value::Object(message).to_string());
                    }
                }
            }
        }
        if lines.is_empty() && !errors.is_empty() {
            return docker_error(StatusCode::INTERNAL_SERVER_ERROR, &errors.join("\n"));
        }
        if !errors.is_empty() {
            let message = errors.join("\n");
            lines.push(
                json!({ "errorDetail": { "message": message }, "error": message }).to_string(),
            );
        }
        let mut text = lines.join("\r\n");
        text.push_str("\r\n");
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            text,
        )
            .into_response()
    }

    /// A tag on every engine; it succeeds when any engine had the image.
    async fn tag_everywhere(
        &self,
        engines: &[EngineRoute],
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Response {
        let mut first_failure = None;
        let mut success = None;
        for engine in engines {
            match send(engine, method, path, headers, Body::empty()).await {
                Ok(response) if response.status().is_success() => {
                    success.get_or_insert(response.status());
                }
                Ok(response) => {
                    if first_failure.is_none() {
                        first_failure = Some(collect(response).await);
                    }
                }
                Err(err) => {
                    first_failure.get_or_insert(Err(err.to_string()));
                }
            }
        }
        match (success, first_failure) {
            (Some(status), _) => status.into_response(),
            (None, Some(Ok((status, bytes)))) => docker_error(status, &error_message(&bytes)),
            (None, Some(Err(message))) => docker_error(StatusCode::BAD_GATEWAY, &message),
            (None, None) => docker_error(StatusCode::NOT_FOUND, "no engine to tag on"),
        }
    }

    /// The `X-Registry-Auth` value carrying a token for `user` on `image`'s
    /// repository, when UCP knows its registry and the registry grants one.
    async fn registry_auth(
        &self,
        known: &[KnownRegistry],
        user: &str,
        image: &str,
        actions: &str,
    ) -> Option<HeaderValue> {
        let (authority, repo) = registry_of(image)?;
        let registry = known
            .iter()
            .find(|k| k.authority.eq_ignore_ascii_case(&authority))?;
        let token = self.token(registry, user, &repo, actions).await?;
        let auth = json!({ "registrytoken": token, "serveraddress": authority });
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(auth.to_string());
        HeaderValue::from_str(&encoded).ok()
    }

    /// Asks the registry's token service (found from its `/v2/` challenge)
    /// for a token, as UCP, for `user`.
    async fn token(
        &self,
        registry: &KnownRegistry,
        user: &str,
        repo: &str,
        actions: &str,
    ) -> Option<String> {
        dtrplay_tls::install_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .no_proxy()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none());
        if registry.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else if let Some(pem) = &registry.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).ok()?;
            builder = builder.tls_certs_only(certs);
        }
        let identity = reqwest::Identity::from_pem(&self.identity_pem).ok()?;
        builder = builder.identity(identity);
        if registry.authority.eq_ignore_ascii_case(&self.dtr_host)
            && let Some((name, _)) = self.dtr_host.rsplit_once(':')
        {
            builder = builder.resolve(name, self.dtr_addr);
        }
        let client = builder.build().ok()?;
        let ping = client
            .get(format!("https://{}/v2/", registry.authority))
            .send()
            .await
            .ok()?;
        let challenge = ping
            .headers()
            .get(header::WWW_AUTHENTICATE)?
            .to_str()
            .ok()?
            .to_string();
        let params = bearer_params(&challenge)?;
        let realm = params.iter().find(|(k, _)| k == "realm")?.1.clone();
        let mut url = reqwest::Url::parse(&realm).ok()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("scope", &format!("repository:{repo}:{actions}"));
            if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
                query.append_pair("service", service);
            }
        }
        let answer = client
            .get(url)
            // UCP vouches for the user with its certificate; DTR takes the
            // identity from the user name and ignores the password.
            .basic_auth(user, Some(""))
            .send()
            .await
            .ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let body: Value = answer.json().await.ok()?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// The parameters of a `Bearer` challenge (`realm="…",service="…"`).
fn bearer_params(challenge: &str) -> Option<Vec<(String, String)>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let (value, tail) = after.split_once('"')?;
        params.push((key.trim().to_string(), value.to_string()));
        rest = tail.trim_start_matches(',').trim();
    }
    Some(params)
}

/// The message of an engine's error answer.
fn error_message(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_string())
}

/// Sends one request to an engine's socket.
async fn send(
    engine: &EngineRoute,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<hyper::Response<hyper::body::Incoming>, ForwardError> {
    let stream = UnixStream::connect(&engine.socket)
        .await
        .map_err(|source| ForwardError::Connect {
            node: engine.name.clone(),
            socket: engine.socket.clone(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ForwardError::Http {
            node: engine.name.clone(),
            source,
        })?;
    // The connection runs until the response body has been read.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .header(header::HOST, "docker")
        .body(body)
        .map_err(|_| ForwardError::Request {
            node: engine.name.clone(),
        })?;
    for (name, value) in headers {
        if !hop_by_hop(name) {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    sender
        .send_request(request)
        .await
        .map_err(|source| ForwardError::Http {
            node: engine.name.clone(),
            source,
        })
}

/// An engine's answer passed on as it streams.
fn streamed(response: hyper::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    let names: Vec<HeaderName> = parts.headers.keys().cloned().collect();
    for name in names {
        if hop_by_hop(&name) {
            parts.headers.remove(&name);
        }
    }
    Response::from_parts(parts, Body::new(body))
}

/// An engine's whole answer, bounded.
async fn collect(
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<(StatusCode, Bytes), String> {
    let status = response.status();
    let limited = http_body_util::Limited::new(response.into_body(), MAX_COLLECTED);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| format!("cannot read the engine's answer: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// The socket of a node's engine, as UCP reaches it.
pub fn route(name: &str, root: &Path) -> EngineRoute {
    EngineRoute {
        name: name.to_string(),
        socket: crate::engine::socket_path(root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_paths_are_told_from_ucps_own() {
        assert!(is_docker_path("/v1.41/images/create"));
        assert!(is_docker_path("/images/x/push"));
        assert!(is_docker_path("/version"));
        assert!(is_docker_path("/v1.51/containers/json"));
        assert!(!is_docker_path("/api/config/registry"));
        assert!(!is_docker_path("/ca"));
        assert!(!is_docker_path("/v2/"));
    }

    #[test]
    fn operations_name_their_image() {
        let post = Method::POST;
        assert_eq!(
            operation(
                &post,
                "/v1.41/images/create",
                "fromImage=dtr.lab.test%3A4443%2Fadmin%2Fhello-world&tag=1"
            ),
            Operation::Pull {
                image: "dtr.lab.test:4443/admin/hello-world:1".into()
            }
        );
        assert_eq!(
            operation(
                &post,
                "/v1.41/images/dtr.lab.test:4443/admin/hw/push",
                "tag=1"
            ),
            Operation::Push {
                name: "dtr.lab.test:4443/admin/hw".into(),
                tag: "1".into()
            }
        );
        assert_eq!(
            operation(&post, "/images/hello-world:latest/tag", "repo=a&tag=1"),
            Operation::Tag {
                name: "hello-world:latest".into()
            }
        );
        assert_eq!(
            operation(&Method::GET, "/images/hello-world/json", ""),
            Operation::Inspect {
                name: "hello-world".into()
            }
        );
        assert_eq!(
            operation(&post, "/images/create", "fromSrc=-"),
            Operation::Other
        );
    }

    #[test]
    fn registries_come_from_the_first_component() {
        assert_eq!(
            registry_of("dtr.lab.test:4443/admin/hello-world:1"),
            Some(("dtr.lab.test:4443".into(), "admin/hello-world".into()))
        );
        assert_eq!(
            registry_of("DTR.example.com/a/b@sha256:00"),
            Some(("dtr.example.com".into(), "a/b".into()))
        );
        assert_eq!(registry_of("admin/hello-world"), None);
        assert_eq!(registry_of("hello-world"), None);
    }

    #[test]
    fn bearer_challenges_are_parsed() {
        let params = bearer_params(
            "Bearer realm=\"https://dtr:1/auth/token\",service=\"dtr:1\",scope=\"repository:a/b:pull\"",
        )
        .expect("a challenge");
        assert_eq!(
            params[0],
            ("realm".into(), "https://dtr:1/auth/token".into())
        );
        assert_eq!(params[1], ("service".into(), "dtr:1".into()));
        assert_eq!(bearer_params("Basic realm=\"x\""), None);
    }
}
