//! The UCP simulator: login, client bundles, the public CA, and the two ways
//! UCP learns about DTR (UCP 1.x `/api/config/registry`, UCP 3.x / MKE
//! `/api/config/trustedregistry_` plus `config-toml`).
//!
//! It exists so the integration's steps 1 and 3 (ucp-dtr-api.md §0) run
//! against something that authenticates and validates like UCP does.
//!
//! Authentication on `/api/...`: `Authorization: Bearer <auth_token>` from
//! `/auth/login`, or a client certificate from a client bundle. Certificates
//! are verified against the UCP Client Root CA by rustls during the
//! handshake and are optional there, so anonymous TLS still reaches `/ca`,
//! `/_ping` and `/auth/login`; the certificate's CN names the user.
//!
//! Choices where the reference is silent or inferred (each is a constant):
//! - Bad credentials: 401 with code `UNAUTHORIZED` and
//!   [`LOGIN_FAILED_MESSAGE`] (suggested by ucp-dtr-api.md §10, [I]).
//! - A body that is not the expected JSON or TOML: 400 with
//!   [`BAD_REQUEST_CODE`].
//! - A non-admin changing (or reading) cluster configuration: 403 with
//!   [`FORBIDDEN_CODE`].
//! - `GET /api/config/registry` before any `POST`: 404 with
//!   [`REGISTRY_NOT_CONFIGURED_CODE`] (no source shows this GET, §2 [I]).
//!   The stored object echoes `url`, `insecure` and, when one was given, the
//!   CA under [`REGISTRY_CA_FIELD`]; an empty CA string counts as none.
//! - `DELETE /api/config/registry` is lab-only (not in the reference): it lets
//!   a rehearsal break the integration by hand. It answers 204.
//! - `trustedregistry_` takes `hostAddress` as `host[:port]` without a
//!   scheme, as in the reference's example; registering the same host again
//!   replaces its CA and keeps its `service_id`, a random ID we generate.
//! - `PUT /api/ucp/config-toml` replaces the whole document; every
//!   `[[registries]]` entry needs `host_address` and `service_id` (§2).
//! - Endpoints of the other flavor answer 404 with [`NOT_FOUND_CODE`].

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls::TlsInfo;
use rustls::ServerConfig;
use serde_json::{Map, Value, json};
use zip::write::SimpleFileOptions;

use crate::Flavor;
use crate::api_auth::{Accounts, Role, bearer_token, random_hex};
use crate::api_http::{error_response, json_response, lock, parse_json_object};
use crate::api_tls::{TlsSetupError, optional_client_ca_config, peer_chain};
use crate::pki::{LabPki, PkiError, parse_certificates};
use crate::ucp_engines::{Front, KnownRegistry, docker_error, is_docker_path};

/// The JSON field of UCP 1.x `POST /api/config/registry` that carries the
/// uploaded DTR CA. No public source names it (ucp-dtr-api.md §2, open
/// question 1: "make it a named constant in the client and simulator, and
/// mark it unverified"), so this is an unverified choice. The simulator keeps
/// its own copy rather than importing the client's, so that a client sending
/// another name finds its CA missing on read-back and its tests fail.
pub const REGISTRY_CA_FIELD: &str = "caBundle";

/// Message of a failed login (inferred, ucp-dtr-api.md §10).
pub const LOGIN_FAILED_MESSAGE: &str = "invalid username or password";
/// Code of every 401.
pub const UNAUTHORIZED_CODE: &str = "UNAUTHORIZED";
/// Message of a 401 on `/api/...` without valid credentials.
pub const AUTH_REQUIRED_MESSAGE: &str = "authentication required";
/// Code of a malformed or invalid request body.
pub const BAD_REQUEST_CODE: &str = "BAD_REQUEST";
/// Code of a 403: the caller is not an administrator.
pub const FORBIDDEN_CODE: &str = "FORBIDDEN";
/// Code of `GET /api/config/registry` when no DTR is configured.
pub const REGISTRY_NOT_CONFIGURED_CODE: &str = "REGISTRY_NOT_CONFIGURED";
/// Code of an unknown endpoint, including those of the other flavor.
pub const NOT_FOUND_CODE: &str = "NOT_FOUND";
/// Code of a known endpoint called with the wrong method.
pub const METHOD_NOT_ALLOWED_CODE: &str = "METHOD_NOT_ALLOWED";
/// Code of a failure inside the simulator.
pub const INTERNAL_ERROR_CODE: &str = "INTERNAL_ERROR";

/// Errors the UCP simulator answers with; each maps to a status and code.
#[derive(Debug, thiserror::Error)]
enum UcpError {
    #[error("{LOGIN_FAILED_MESSAGE}")]
    LoginFailed,
    #[error("{AUTH_REQUIRED_MESSAGE}")]
    Unauthenticated,
    #[error("only an administrator can read or change the cluster configuration")]
    Forbidden,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("no Docker Trusted Registry is configured")]
    RegistryNotConfigured,
    #[error("the requested resource does not exist")]
    NotFound,
    #[error("the method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("cannot issue a client certificate")]
    Pki(#[from] PkiError),
    #[error("cannot build the client bundle")]
    Zip(#[from] zip::result::ZipError),
}

impl IntoResponse for UcpError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            UcpError::LoginFailed | UcpError::Unauthenticated => {
                (StatusCode::UNAUTHORIZED, UNAUTHORIZED_CODE)
            }
            UcpError::Forbidden => (StatusCode::FORBIDDEN, FORBIDDEN_CODE),
            UcpError::BadRequest(_) => (StatusCode::BAD_REQUEST, BAD_REQUEST_CODE),
            UcpError::RegistryNotConfigured => {
                (StatusCode::NOT_FOUND, REGISTRY_NOT_CONFIGURED_CODE)
            }
            UcpError::NotFound => (StatusCode::NOT_FOUND, NOT_FOUND_CODE),
            UcpError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED_CODE),
            UcpError::Pki(_) | UcpError::Zip(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR_CODE)
            }
        };
        error_response(status, code, &self.to_string(), None)
    }
}

/// UCP 1.x's registry configuration.
#[derive(Debug, Clone)]
struct RegistryConfig {
    url: String,
    insecure: bool,
    ca_bundle: Option<String>,
}

/// One `[[registries]]` entry of UCP 3.x's configuration.
#[derive(Debug, Clone)]
struct TrustedRegistry {
    host_address: String,
    service_id: String,
    ca_bundle: Option<String>,
}

/// What changes while UCP runs.
struct UcpInner {
    /// Login tokens and the user each belongs to.
    tokens: std::collections::HashMap<String, String>,
    registry: Option<RegistryConfig>,
    registries: Vec<TrustedRegistry>,
    /// Everything of config-toml except `registries`, kept as uploaded.
    config_rest: toml::Table,
}

/// The UCP simulator's state.
pub(crate) struct UcpState {
    flavor: Flavor,
    accounts: Accounts,
    pki: LabPki,
    /// `host:port` written into `env.sh`.
    public_host: String,
    inner: Mutex<UcpInner>,
    /// The Docker API in front of the nodes' engines (`ucp_engines.rs`).
    pub(crate) front: Front,
}

/// The parts of config-toml other than registries that a fresh UCP 3.x
/// reports; a client must leave them alone when it edits registries.
const DEFAULT_CONFIG_TOML: &str = r#"
[auth]
default_new_user_role = "restrictedcontrol"
backend = "managed"

[scheduling_configuration]
enable_admin_ucp_scheduling = false
default_node_orchestrator = "swarm"
"#;

impl UcpState {
    pub(crate) fn new(
        flavor: Flavor,
        accounts: Accounts,
        pki: LabPki,
        public_host: String,
        front: Front,
    ) -> Arc<UcpState> {
        let config_rest =
            toml::from_str(DEFAULT_CONFIG_TOML).expect("the default config-toml is valid TOML");
        Arc::new(UcpState {
            flavor,
            accounts,
            pki,
            public_host,
            front,
            inner: Mutex::new(UcpInner {
                tokens: Default::default(),
                registry: None,
                registries: Vec::new(),
                config_rest,
            }),
        })
    }
}

impl UcpState {
    /// UCP 1.x: the URL of the configured DTR, if any.
    pub(crate) fn registry_url(&self) -> Option<String> {
        lock(&self.inner)
            .registry
            .as_ref()
            .map(|registry| registry.url.clone())
    }

    /// The registries UCP knows from step 3, with how it verifies them.
    pub(crate) fn known_registries(&self) -> Vec<KnownRegistry> {
        let inner = lock(&self.inner);
        let mut known = Vec::new();
        if let Some(registry) = &inner.registry
            && let Ok(url) = reqwest::Url::parse(&registry.url)
            && let Some(host) = url.host_str()
        {
            let authority = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            known.push(KnownRegistry {
                authority,
                ca_pem: registry.ca_bundle.clone(),
                insecure: registry.insecure,
            });
        }
        for registry in &inner.registries {
            known.push(KnownRegistry {
                authority: registry.host_address.clone(),
                ca_pem: registry.ca_bundle.clone(),
                insecure: false,
            });
        }
        known
    }

    /// UCP 3.x: the host addresses of the trusted registries.
    pub(crate) fn trusted_registries(&self) -> Vec<String> {
        lock(&self.inner)
            .registries
            .iter()
            .map(|registry| registry.host_address.clone())
            .collect()
    }
}

/// UCP's TLS configuration: its server certificate, and optional client
/// certificates from the client root CA.
pub(crate) fn tls_config(pki: &LabPki) -> Result<ServerConfig, TlsSetupError> {
    optional_client_ca_config(
        pki.ucp_server().cert_pem(),
        pki.ucp_server().key_pem(),
        pki.client_root_ca().cert_pem(),
    )
}

pub(crate) fn router(state: Arc<UcpState>) -> Router {
    let router = Router::new()
        .route("/_ping", get(ping))
        .route("/ca", get(ca))
        .route("/auth/login", post(login))
        .route("/api/clientbundle", get(client_bundle).post(client_bundle));
    let router = match state.flavor {
        Flavor::Ucp1 => router.route(
            "/api/config/registry",
            get(get_registry).post(set_registry).delete(delete_registry),
        ),
        Flavor::Ucp3 => router
            .route("/api/config/trustedregistry_", post(add_trusted_registry))
            .route(
                "/api/ucp/config-toml",
                get(get_config_toml).put(put_config_toml),
            ),
    };
    router
        .fallback(docker_api)
        .method_not_allowed_fallback(|| async { UcpError::MethodNotAllowed })
        .with_state(state)
}

/// UCP's health check, which is also the Docker API's: with engines behind
/// it, the first engine answers (clients read its API version there).
async fn ping(State(state): State<Arc<UcpState>>, method: Method, headers: HeaderMap) -> Response {
    match state.front.ping(&method, &headers).await {
        Some(response) => response,
        None => "OK".into_response(),
    }
}

/// Every path UCP does not serve itself: Docker API calls go to the nodes'
/// engines for an authenticated caller (`ucp_engines.rs`), the rest is 404.
async fn docker_api(
    State(state): State<Arc<UcpState>>,
    tls: Tls,
    request: axum::extract::Request,
) -> Response {
    if !is_docker_path(request.uri().path()) {
        return UcpError::NotFound.into_response();
    }
    let caller = match authenticate(&state, request.headers(), tls_info(&tls)) {
        Ok(caller) => caller,
        Err(_) => {
            return docker_error(
                StatusCode::UNAUTHORIZED,
                "authentication required: use a client bundle's certificate (DOCKER_CERT_PATH, DOCKER_TLS_VERIFY=1)",
            );
        }
    };
    let known = state.known_registries();
    state.front.handle(&caller.user, &known, request).await
}

async fn ca(State(state): State<Arc<UcpState>>) -> String {
    state.pki.cluster_root_ca().cert_pem().to_owned()
}

async fn login(State(state): State<Arc<UcpState>>, body: Bytes) -> Result<Response, UcpError> {
    const MALFORMED: &str =
        "the body must be a JSON object with string fields \"username\" and \"password\"";
    let fields = parse_json_object(&body).ok_or(UcpError::BadRequest(MALFORMED))?;
    let (Some(Value::String(user)), Some(Value::String(password))) =
        (fields.get("username"), fields.get("password"))
    else {
        return Err(UcpError::BadRequest(MALFORMED));
    };
    state
        .accounts
        .verify(user, password)
        .ok_or(UcpError::LoginFailed)?;
    let token = random_hex(32);
    let token_id = random_hex(16);
    lock(&state.inner)
        .tokens
        .insert(token.clone(), user.clone());
    Ok(json_response(
        StatusCode::OK,
        &json!({ "auth_token": token, "token_id": token_id }),
    ))
}

/// The authenticated caller of an `/api/...` request.
struct Caller {
    user: String,
    role: Role,
}

fn authenticate(
    state: &UcpState,
    headers: &HeaderMap,
    tls: Option<&TlsInfo>,
) -> Result<Caller, UcpError> {
    let user = if headers.contains_key(header::AUTHORIZATION) {
        // A request that carries a token is judged by that token alone, even
        // if its connection also has a certificate.
        let token = bearer_token(headers).ok_or(UcpError::Unauthenticated)?;
        lock(&state.inner)
            .tokens
            .get(token)
            .cloned()
            .ok_or(UcpError::Unauthenticated)?
    } else {
        // rustls has already verified the chain against the client root CA.
        let chain = peer_chain(tls);
        let leaf = chain.first().ok_or(UcpError::Unauthenticated)?;
        common_name(leaf).ok_or(UcpError::Unauthenticated)?
    };
    let role = state
        .accounts
        .role(&user)
        .ok_or(UcpError::Unauthenticated)?;
    Ok(Caller { user, role })
}

fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn require_admin(
    state: &UcpState,
    headers: &HeaderMap,
    tls: Option<&TlsInfo>,
) -> Result<Caller, UcpError> {
    let caller = authenticate(state, headers, tls)?;
    if caller.role == Role::Admin {
        Ok(caller)
    } else {
        Err(UcpError::Forbidden)
    }
}

type Tls = Option<Extension<Arc<TlsInfo>>>;

fn tls_info(tls: &Tls) -> Option<&TlsInfo> {
    tls.as_ref().map(|Extension(info)| info.as_ref())
}

async fn client_bundle(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
) -> Result<Response, UcpError> {
    let caller = authenticate(&state, &headers, tls_info(&tls))?;
    let cert = state.pki.issue_user_cert(&caller.user)?;
    let mut env = format!(
        "export DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH=$PWD\nexport DOCKER_HOST=tcp://{}\n",
        state.public_host
    );
    if state.flavor == Flavor::Ucp3 {
        env.insert_str(0, "export COMPOSE_TLS_VERSION=TLSv1_2\n");
    }
    let files: [(&str, &str, u32); 5] = [
        ("ca.pem", state.pki.cluster_root_ca().cert_pem(), 0o644),
        ("cert.pem", &cert.cert_pem, 0o644),
        ("key.pem", &cert.key_pem, 0o600),
        ("cert.pub", &cert.public_key_pem, 0o644),
        ("env.sh", &env, 0o644),
    ];
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, contents, mode) in files {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(mode);
        zip.start_file(name, options)?;
        zip.write_all(contents.as_bytes())
            .map_err(zip::result::ZipError::Io)?;
    }
    let bytes = zip.finish()?.into_inner();
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"ucp-bundle-{}.zip\"",
        caller.user
    ))
    .map_err(|_| UcpError::BadRequest("the user name cannot appear in a file name"))?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

async fn get_registry(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
) -> Result<Response, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    let registry = lock(&state.inner)
        .registry
        .clone()
        .ok_or(UcpError::RegistryNotConfigured)?;
    let mut body = Map::new();
    body.insert("url".to_owned(), Value::String(registry.url));
    body.insert("insecure".to_owned(), Value::Bool(registry.insecure));
    if let Some(ca) = registry.ca_bundle {
        body.insert(REGISTRY_CA_FIELD.to_owned(), Value::String(ca));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

async fn set_registry(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
    body: Bytes,
) -> Result<Response, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    let config = parse_registry_config(&body)?;
    lock(&state.inner).registry = Some(config);
    Ok(json_response(StatusCode::OK, &json!({})))
}

async fn delete_registry(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
) -> Result<StatusCode, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    lock(&state.inner).registry = None;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_registry_config(body: &[u8]) -> Result<RegistryConfig, UcpError> {
    let fields = parse_json_object(body).ok_or(UcpError::BadRequest(
        "the body must be a JSON object with a string field \"url\"",
    ))?;
    let Some(Value::String(url)) = fields.get("url") else {
        return Err(UcpError::BadRequest("\"url\" must be a string"));
    };
    if !is_registry_url(url) {
        return Err(UcpError::BadRequest(
            "\"url\" must be https://<host>[:port] with no path",
        ));
    }
    let insecure = match fields.get("insecure") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(insecure)) => *insecure,
        Some(_) => return Err(UcpError::BadRequest("\"insecure\" must be a boolean")),
    };
    let ca_bundle = optional_pem(fields.get(REGISTRY_CA_FIELD))
        .map_err(|()| UcpError::BadRequest("the CA must be PEM encoded certificates"))?;
    Ok(RegistryConfig {
        url: url.clone(),
        insecure,
        ca_bundle,
    })
}

fn is_registry_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    parsed.scheme() == "https"
        && parsed.host_str().is_some_and(|host| !host.is_empty())
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.path() == "/"
        && parsed.query().is_none()
        && parsed.fragment().is_none()
}

/// A CA field that may be absent, null or empty (all meaning "none"), or
/// must otherwise hold PEM certificates.
fn optional_pem(value: Option<&Value>) -> Result<Option<String>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(pem)) if pem.trim().is_empty() => Ok(None),
        Some(Value::String(pem)) => parse_certificates(pem).map(|_| Some(pem.clone())).ok_or(()),
        Some(_) => Err(()),
    }
}

async fn add_trusted_registry(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
    body: Bytes,
) -> Result<StatusCode, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    let fields = parse_json_object(&body).ok_or(UcpError::BadRequest(
        "the body must be a JSON object with \"hostAddress\" and \"caBundle\"",
    ))?;
    let Some(Value::String(host)) = fields.get("hostAddress") else {
        return Err(UcpError::BadRequest("\"hostAddress\" must be a string"));
    };
    if !is_host_address(host) {
        return Err(UcpError::BadRequest(
            "\"hostAddress\" must be <host>[:port] without a scheme or path",
        ));
    }
    let ca_bundle = optional_pem(fields.get("caBundle"))
        .map_err(|()| UcpError::BadRequest("\"caBundle\" must be PEM encoded certificates"))?;
    let mut inner = lock(&state.inner);
    match inner
        .registries
        .iter_mut()
        .find(|registry| registry.host_address == *host)
    {
        Some(existing) => existing.ca_bundle = ca_bundle,
        None => inner.registries.push(TrustedRegistry {
            host_address: host.clone(),
            service_id: random_hex(16),
            ca_bundle,
        }),
    }
    // The real endpoint answers with an empty body (ucp-dtr-api.md §2).
    Ok(StatusCode::OK)
}

fn is_host_address(host: &str) -> bool {
    !host.is_empty()
        && !host.contains("://")
        && !host.contains('/')
        && !host.chars().any(char::is_whitespace)
}

async fn get_config_toml(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
) -> Result<Response, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    let document = {
        let inner = lock(&state.inner);
        let mut document = inner.config_rest.clone();
        let registries: Vec<toml::Value> = inner
            .registries
            .iter()
            .map(|registry| {
                let mut table = toml::Table::new();
                table.insert(
                    "host_address".to_owned(),
                    registry.host_address.clone().into(),
                );
                table.insert("service_id".to_owned(), registry.service_id.clone().into());
                if let Some(ca) = &registry.ca_bundle {
                    table.insert("ca_bundle".to_owned(), ca.clone().into());
                }
                toml::Value::Table(table)
            })
            .collect();
        if !registries.is_empty() {
            document.insert("registries".to_owned(), toml::Value::Array(registries));
        }
        document
    };
    let text = toml::to_string(&document)
        .map_err(|_| UcpError::BadRequest("the stored configuration cannot be rendered"))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/toml"),
        )],
        text,
    )
        .into_response())
}

async fn put_config_toml(
    State(state): State<Arc<UcpState>>,
    headers: HeaderMap,
    tls: Tls,
    body: Bytes,
) -> Result<Response, UcpError> {
    require_admin(&state, &headers, tls_info(&tls))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| UcpError::BadRequest("the configuration must be UTF-8 TOML"))?;
    let mut document: toml::Table = toml::from_str(text)
        .map_err(|_| UcpError::BadRequest("the configuration is not valid TOML"))?;
    let registries = match document.remove("registries") {
        None => Vec::new(),
        Some(toml::Value::Array(entries)) => entries
            .iter()
            .map(parse_toml_registry)
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(UcpError::BadRequest(
                "\"registries\" must be an array of tables",
            ));
        }
    };
    let mut inner = lock(&state.inner);
    inner.registries = registries;
    inner.config_rest = document;
    Ok(json_response(StatusCode::OK, &json!({})))
}

fn parse_toml_registry(entry: &toml::Value) -> Result<TrustedRegistry, UcpError> {
    let table = entry.as_table().ok_or(UcpError::BadRequest(
        "every [[registries]] entry must be a table",
    ))?;
    let required = |key: &str| {
        table
            .get(key)
            .and_then(toml::Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let host_address = required("host_address").ok_or(UcpError::BadRequest(
        "every [[registries]] entry needs a host_address string",
    ))?;
    let service_id = required("service_id").ok_or(UcpError::BadRequest(
        "every [[registries]] entry needs a service_id string",
    ))?;
    let ca_bundle = match table.get("ca_bundle") {
        None => None,
        Some(toml::Value::String(pem)) => optional_pem(Some(&Value::String(pem.clone())))
            .map_err(|()| UcpError::BadRequest("ca_bundle must be PEM encoded certificates"))?,
        Some(_) => return Err(UcpError::BadRequest("ca_bundle must be a string")),
    };
    Ok(TrustedRegistry {
        host_address,
        service_id,
        ca_bundle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_must_be_bare_https_origins() {
        assert!(is_registry_url("https://dtr.example.com"));
        assert!(is_registry_url("https://dtr.example.com:4443/"));
        assert!(is_registry_url("https://10.0.0.5"));
        assert!(!is_registry_url("http://dtr.example.com"));
        assert!(!is_registry_url("dtr.example.com"));
        assert!(!is_registry_url("https://dtr.example.com/v2/"));
        assert!(!is_registry_url("https://user:pw@dtr.example.com"));
    }

    #[test]
    fn host_addresses_have_no_scheme_or_path() {
        assert!(is_host_address("dtr.example.com"));
        assert!(is_host_address("127.0.0.1:4443"));
        assert!(!is_host_address("https://dtr.example.com"));
        assert!(!is_host_address("dtr.example.com/x"));
        assert!(!is_host_address(""));
    }

    #[test]
    fn config_registry_bodies_are_validated() {
        let parsed = parse_registry_config(br#"{"url":"https://dtr:443","insecure":true}"#)
            .expect("valid body");
        assert_eq!(parsed.url, "https://dtr:443");
        assert!(parsed.insecure);
        assert!(parsed.ca_bundle.is_none());
        let bad_ca = json!({ "url": "https://dtr", REGISTRY_CA_FIELD: "not pem" }).to_string();
        for bad in [
            r#"{"url":"http://dtr"}"#,
            r#"{"insecure":true}"#,
            r#"{"url":"https://dtr","insecure":"yes"}"#,
            &bad_ca,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_registry_config(bad.as_bytes()),
                    Err(UcpError::BadRequest(_))
                ),
                "{bad}"
            );
        }
    }
}
