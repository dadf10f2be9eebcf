//! The DTR simulator: `/ca`, health, version, the settings API (where DTR
//! 2.0 learns to trust UCP through `authBypassCA`) and the repository API.
//! The registry v2 API and the token service that DTR also serves live in
//! [`crate::registry`]; both share [`DtrState`].
//!
//! It exists so steps 2, 4 and 6 of the integration (ucp-dtr-api.md §0) run
//! against something that authenticates, validates and remembers like DTR.
//!
//! The API uses HTTP Basic auth (§7) with the lab's two accounts; the error
//! envelope is `{"errors":[{"code","message"}]}` without `detail` (§6).
//!
//! Flavors:
//! - `Ucp1` (DTR 2.0): the settings have `authBypassCA`/`authBypassOU`; the
//!   bypass is on while `authBypassCA` is non-empty.
//! - `Ucp3` (DTR 2.5+ / MSR): the settings API has no bypass fields and a
//!   request that sends them is rejected; DTR trusts UCP's cluster root CA
//!   with OU [`DEFAULT_AUTH_BYPASS_OU`] from installation (`--ucp-ca`).
//!
//! Choices where the reference is silent or inferred (each is a constant):
//! - The messages of `NOT_AUTHENTICATED` and `NOT_AUTHORIZED`, and the codes
//!   for a malformed body ([`INVALID_JSON_CODE`]) and a bad repository name
//!   ([`INVALID_REPOSITORY_NAME_CODE`]).
//! - The initial `authBypassOU` is `ucp`; setting it to "" restores `ucp`
//!   ("Leave blank if used with UCP", §5).
//! - Unknown settings fields are ignored, as Go's JSON decoding does, except
//!   the bypass fields in the `Ucp3` flavor.
//! - `webTLSCert`/`webTLSKey` really replace the served certificate; a pair
//!   that does not match is rejected as invalid settings.
//! - Repositories default to [`DEFAULT_VISIBILITY`]. Any authenticated user
//!   can read public repositories; a private repository is visible only to
//!   its namespace owner and the admin, and looks missing to others. Listing
//!   is not paged.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};

use crate::Flavor;
use crate::api_auth::{BasicAuth, Role, basic_auth, random_hex};
use crate::api_http::{error_response, json_response, lock, parse_json_object};
use crate::api_tls::dtr_tls_config;
pub use crate::dtr_state::DEFAULT_AUTH_BYPASS_OU;
pub(crate) use crate::dtr_state::{
    DtrInner, DtrSetup, DtrState, Repository, Settings, is_repository_name,
};
use crate::pki::parse_certificates;
use crate::registry;

/// What `GET /api/v0/admin/version` reports in the `Ucp1` flavor (DTR 2.0).
pub const DTR_VERSION_UCP1: &str = "2.0.3";
/// What `GET /api/v0/admin/version` reports in the `Ucp3` flavor (MSR 2.9).
pub const DTR_VERSION_UCP3: &str = "2.9.16";
/// The visibility of a repository created without one.
pub const DEFAULT_VISIBILITY: &str = "public";
/// Code of a request body that is not the JSON object expected.
pub const INVALID_JSON_CODE: &str = "INVALID_JSON";
/// Code of a repository name that the registry could not store.
pub const INVALID_REPOSITORY_NAME_CODE: &str = "INVALID_REPOSITORY_NAME";
/// Message of `INVALID_SETTINGS` (ucp-dtr-api.md §5, DTR 2.4 swagger).
pub const INVALID_SETTINGS_MESSAGE: &str =
    "The submitted settings change request contains invalid values.";

/// Errors of the DTR API; each has the code and message of ucp-dtr-api.md §6.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DtrError {
    #[error("The client is not authenticated.")]
    NotAuthenticated,
    #[error("The client is not authorized.")]
    NotAuthorized,
    #[error("{INVALID_SETTINGS_MESSAGE}")]
    InvalidSettings,
    #[error("The request body is not valid JSON of the expected shape.")]
    InvalidJson,
    #[error("A repository with the same name already exists.")]
    RepositoryExists,
    #[error("An account with the given name does not exist.")]
    NoSuchAccount,
    #[error("A repository with the given name does not exist.")]
    NoSuchRepository,
    #[error("The repository visibility must be \"public\" or \"private\".")]
    InvalidVisibility,
    #[error("The repository name is invalid.")]
    InvalidRepositoryName,
    #[error("The requested resource does not exist.")]
    NotFound,
    #[error("The method is not allowed on this resource.")]
    MethodNotAllowed,
}

impl DtrError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            DtrError::NotAuthenticated => (StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED"),
            DtrError::NotAuthorized => (StatusCode::FORBIDDEN, "NOT_AUTHORIZED"),
            DtrError::InvalidSettings => (StatusCode::BAD_REQUEST, "INVALID_SETTINGS"),
            DtrError::InvalidJson => (StatusCode::BAD_REQUEST, INVALID_JSON_CODE),
            DtrError::RepositoryExists => (StatusCode::BAD_REQUEST, "REPOSITORY_EXISTS"),
            DtrError::NoSuchAccount => (StatusCode::NOT_FOUND, "NO_SUCH_ACCOUNT"),
            DtrError::NoSuchRepository => (StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY"),
            DtrError::InvalidVisibility => {
                (StatusCode::BAD_REQUEST, "INVALID_REPOSITORY_VISIBILITY")
            }
            DtrError::InvalidRepositoryName => {
                (StatusCode::BAD_REQUEST, INVALID_REPOSITORY_NAME_CODE)
            }
            DtrError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            DtrError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
        }
    }
}

impl IntoResponse for DtrError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        error_response(status, code, &self.to_string(), None)
    }
}

pub(crate) fn router(state: Arc<DtrState>) -> Router {
    Router::new()
        .route("/ca", get(ca))
        .route("/_ping", get(|| async { "OK" }))
        .route(
            "/health",
            get(|| async { json_response(StatusCode::OK, &json!({"error": "", "healthy": true})) }),
        )
        .route("/api/v0/admin/version", get(version))
        .route(
            "/api/v0/meta/settings",
            get(get_settings).post(post_settings),
        )
        .route(
            "/api/v0/repositories/{namespace}",
            get(list_repositories).post(create_repository),
        )
        .route(
            "/api/v0/repositories/{namespace}/{name}",
            get(get_repository)
                .patch(update_repository)
                .delete(delete_repository),
        )
        .route(
            "/api/v0/repositories/{namespace}/{name}/tags",
            get(list_tags),
        )
        .merge(registry::routes())
        .fallback(|| async { DtrError::NotFound })
        .method_not_allowed_fallback(|| async { DtrError::MethodNotAllowed })
        .with_state(state)
}

/// The authenticated caller of an API request.
struct Caller {
    user: String,
    role: Role,
}

fn authenticate(state: &DtrState, headers: &HeaderMap) -> Result<Caller, DtrError> {
    match basic_auth(headers) {
        BasicAuth::Credentials { user, password } => {
            let role = state
                .accounts
                .verify(&user, &password)
                .ok_or(DtrError::NotAuthenticated)?;
            Ok(Caller { user, role })
        }
        BasicAuth::Absent | BasicAuth::Malformed => Err(DtrError::NotAuthenticated),
    }
}

fn authenticate_admin(state: &DtrState, headers: &HeaderMap) -> Result<Caller, DtrError> {
    let caller = authenticate(state, headers)?;
    if caller.role == Role::Admin {
        Ok(caller)
    } else {
        Err(DtrError::NotAuthorized)
    }
}

async fn ca(State(state): State<Arc<DtrState>>) -> String {
    lock(&state.inner).settings.web_tls_ca.clone()
}

async fn version(
    State(state): State<Arc<DtrState>>,
    headers: HeaderMap,
) -> Result<Response, DtrError> {
    authenticate(&state, &headers)?;
    let version = match state.flavor {
        Flavor::Ucp1 => DTR_VERSION_UCP1,
        Flavor::Ucp3 => DTR_VERSION_UCP3,
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "version": version }),
    ))
}

async fn get_settings(
    State(state): State<Arc<DtrState>>,
    headers: HeaderMap,
) -> Result<Response, DtrError> {
    authenticate_admin(&state, &headers)?;
    let settings = lock(&state.inner).settings.clone();
    Ok(json_response(
        StatusCode::OK,
        &settings_response(&state, &settings),
    ))
}

/// `responses.Settings` of the flavor; `webTLSKey` is never part of it.
fn settings_response(state: &DtrState, s: &Settings) -> Value {
    let replicas = json!({
        state.replica_id.clone(): {
            "HTTPPort": 80,
            "HTTPSPort": state.https_port,
            "node": "dtr-node",
        }
    });
    let mut body = json!({
        "dtrHost": s.dtr_host,
        "replicaSettings": replicas,
        "httpProxy": "",
        "httpsProxy": "",
        "noProxy": "",
        "disableUpgrades": s.disable_upgrades,
        "reportAnalytics": s.report_analytics,
        "anonymizeAnalytics": s.anonymize_analytics,
        "logProtocol": "internal",
        "logHost": "",
        "logLevel": "INFO",
        "webTLSCert": s.web_tls_cert,
        "webTLSCA": s.web_tls_ca,
        "replicaID": state.replica_id,
        "gcMode": s.gc_mode,
    });
    let extra = match state.flavor {
        Flavor::Ucp1 => json!({
            "authBypassCA": s.auth_bypass_ca,
            "authBypassOU": s.auth_bypass_ou,
            "releaseChannel": s.release_channel,
            "etcdHeartbeatInterval": 500,
            "etcdElectionTimeout": 5000,
            "etcdSnapshotCount": 10000,
        }),
        Flavor::Ucp3 => json!({
            "disableBackupWarning": s.disable_backup_warning,
            "jobHistoryToKeep": s.job_history_to_keep,
            "scanningEnabled": false,
            "scanningSyncOnline": false,
            "sso": s.sso,
        }),
    };
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

async fn post_settings(
    State(state): State<Arc<DtrState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, DtrError> {
    authenticate_admin(&state, &headers)?;
    let fields = parse_json_object(&body).ok_or(DtrError::InvalidSettings)?;
    let mut inner = lock(&state.inner);
    let mut updated = inner.settings.clone();
    apply_settings(state.flavor, &fields, &mut updated).map_err(|()| DtrError::InvalidSettings)?;
    let tls_changed = updated.web_tls_cert != inner.settings.web_tls_cert
        || updated.web_tls_key != inner.settings.web_tls_key;
    if tls_changed {
        let config = dtr_tls_config(&updated.web_tls_cert, &updated.web_tls_key)
            .map_err(|_| DtrError::InvalidSettings)?;
        state.tls.reload_from_config(Arc::new(config));
    }
    inner.settings = updated;
    Ok(StatusCode::ACCEPTED)
}

/// Applies the supplied fields of a `forms.Settings` to `settings`; any
/// invalid value rejects the whole request.
fn apply_settings(
    flavor: Flavor,
    fields: &Map<String, Value>,
    settings: &mut Settings,
) -> Result<(), ()> {
    for (key, value) in fields {
        match (flavor, key.as_str()) {
            (_, "dtrHost") => {
                let host = string(value)?;
                if host.is_empty()
                    || host.contains("://")
                    || host.contains('/')
                    || host.chars().any(char::is_whitespace)
                {
                    return Err(());
                }
                settings.dtr_host = host;
            }
            (Flavor::Ucp1, "authBypassCA") => {
                let pem = string(value)?;
                if !pem.trim().is_empty() && !is_anchor_bundle(&pem) {
                    return Err(());
                }
                settings.auth_bypass_ca = if pem.trim().is_empty() {
                    String::new()
                } else {
                    pem
                };
            }
            (Flavor::Ucp1, "authBypassOU") => {
                let ou = string(value)?;
                if ou.chars().any(char::is_control) {
                    return Err(());
                }
                settings.auth_bypass_ou = if ou.is_empty() {
                    DEFAULT_AUTH_BYPASS_OU.to_owned()
                } else {
                    ou
                };
            }
            (Flavor::Ucp3, "authBypassCA" | "authBypassOU") => return Err(()),
            (_, "disableUpgrades") => settings.disable_upgrades = boolean(value)?,
            (_, "reportAnalytics") => settings.report_analytics = boolean(value)?,
            (_, "anonymizeAnalytics") => settings.anonymize_analytics = boolean(value)?,
            (Flavor::Ucp1, "releaseChannel") => settings.release_channel = string(value)?,
            (_, "gcMode") => settings.gc_mode = string(value)?,
            (_, "webTLSCert") => {
                let pem = string(value)?;
                parse_certificates(&pem).ok_or(())?;
                settings.web_tls_cert = pem;
            }
            (_, "webTLSKey") => {
                let pem = string(value)?;
                PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| ())?;
                settings.web_tls_key = pem;
            }
            (_, "webTLSCA") => {
                let pem = string(value)?;
                parse_certificates(&pem).ok_or(())?;
                settings.web_tls_ca = pem;
            }
            (Flavor::Ucp3, "disableBackupWarning") => {
                settings.disable_backup_warning = boolean(value)?;
            }
            (Flavor::Ucp3, "jobHistoryToKeep") => {
                settings.job_history_to_keep = value.as_i64().filter(|n| *n >= 0).ok_or(())?;
            }
            (Flavor::Ucp3, "sso") => settings.sso = boolean(value)?,
            // Go's JSON decoding ignores fields the form does not have.
            _ => {}
        }
    }
    Ok(())
}

fn string(value: &Value) -> Result<String, ()> {
    value.as_str().map(str::to_owned).ok_or(())
}

fn boolean(value: &Value) -> Result<bool, ()> {
    value.as_bool().ok_or(())
}

/// Whether `pem` holds certificates that can all serve as trust anchors.
fn is_anchor_bundle(pem: &str) -> bool {
    parse_certificates(pem).is_some_and(|certs| {
        certs
            .iter()
            .all(|der| webpki::anchor_from_trusted_cert(der).is_ok())
    })
}

fn repository_json(state: &DtrState, repo: &Repository) -> Value {
    let namespace_type = if state.accounts.role(&repo.namespace).is_some() {
        "user"
    } else {
        "organization"
    };
    let mut body = json!({
        "id": repo.id,
        "namespace": repo.namespace,
        "namespaceType": namespace_type,
        "name": repo.name,
        "shortDescription": repo.short_description,
        "visibility": repo.visibility,
    });
    if !repo.long_description.is_empty() {
        body["longDescription"] = Value::String(repo.long_description.clone());
    }
    if state.flavor == Flavor::Ucp3 {
        body["scanOnPush"] = Value::Bool(false);
        body["immutableTags"] = Value::Bool(false);
        body["enableManifestLists"] = Value::Bool(false);
    }
    body
}

/// Whether `caller` may see `repo` (see the module docs).
fn can_read(caller: &Caller, repo: &Repository) -> bool {
    repo.is_public() || caller.role == Role::Admin || caller.user == repo.namespace
}

/// Whether `caller` may create, change or delete repositories in `namespace`.
fn can_write(caller: &Caller, namespace: &str) -> bool {
    caller.role == Role::Admin || caller.user == namespace
}

fn visibility(value: Option<&Value>) -> Result<Option<String>, DtrError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) if v == "public" || v == "private" => Ok(Some(v.clone())),
        Some(_) => Err(DtrError::InvalidVisibility),
    }
}

fn description(value: Option<&Value>) -> Result<Option<String>, DtrError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(DtrError::InvalidJson),
    }
}

async fn create_repository(
    State(state): State<Arc<DtrState>>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DtrError> {
    let caller = authenticate(&state, &headers)?;
    if !state.account_exists(&namespace) {
        return Err(DtrError::NoSuchAccount);
    }
    if !can_write(&caller, &namespace) {
        return Err(DtrError::NotAuthorized);
    }
    let fields = parse_json_object(&body).ok_or(DtrError::InvalidJson)?;
    let Some(Value::String(name)) = fields.get("name") else {
        return Err(DtrError::InvalidRepositoryName);
    };
    if !is_repository_name(name) {
        return Err(DtrError::InvalidRepositoryName);
    }
    let repo = Repository {
        id: random_hex(16),
        namespace: namespace.clone(),
        name: name.clone(),
        short_description: description(fields.get("shortDescription"))?.unwrap_or_default(),
        long_description: description(fields.get("longDescription"))?.unwrap_or_default(),
        visibility: visibility(fields.get("visibility"))?
            .unwrap_or_else(|| DEFAULT_VISIBILITY.to_owned()),
    };
    let mut inner = lock(&state.inner);
    let key = format!("{namespace}/{name}");
    if inner.repositories.contains_key(&key) {
        return Err(DtrError::RepositoryExists);
    }
    let body = repository_json(&state, &repo);
    inner.repositories.insert(key, repo);
    Ok(json_response(StatusCode::CREATED, &body))
}

async fn list_repositories(
    State(state): State<Arc<DtrState>>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, DtrError> {
    let caller = authenticate(&state, &headers)?;
    if !state.account_exists(&namespace) {
        return Err(DtrError::NoSuchAccount);
    }
    let inner = lock(&state.inner);
    let repositories: Vec<Value> = inner
        .repositories
        .values()
        .filter(|repo| repo.namespace == namespace && can_read(&caller, repo))
        .map(|repo| repository_json(&state, repo))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "repositories": repositories }),
    ))
}

/// Looks up a repository the caller may read.
fn readable(
    state: &DtrState,
    inner: &DtrInner,
    caller: &Caller,
    namespace: &str,
    name: &str,
) -> Result<Repository, DtrError> {
    inner
        .repositories
        .get(&format!("{namespace}/{name}"))
        .filter(|repo| can_read(caller, repo))
        .cloned()
        .ok_or_else(|| {
            if state.account_exists(namespace) {
                DtrError::NoSuchRepository
            } else {
                DtrError::NoSuchAccount
            }
        })
}

async fn get_repository(
    State(state): State<Arc<DtrState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, DtrError> {
    let caller = authenticate(&state, &headers)?;
    let repo = readable(&state, &lock(&state.inner), &caller, &namespace, &name)?;
    Ok(json_response(
        StatusCode::OK,
        &repository_json(&state, &repo),
    ))
}

async fn update_repository(
    State(state): State<Arc<DtrState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DtrError> {
    let caller = authenticate(&state, &headers)?;
    let mut inner = lock(&state.inner);
    readable(&state, &inner, &caller, &namespace, &name)?;
    if !can_write(&caller, &namespace) {
        return Err(DtrError::NotAuthorized);
    }
    let fields = parse_json_object(&body).ok_or(DtrError::InvalidJson)?;
    let new_visibility = visibility(fields.get("visibility"))?;
    let short = description(fields.get("shortDescription"))?;
    let long = description(fields.get("longDescription"))?;
    let repo = inner
        .repositories
        .get_mut(&format!("{namespace}/{name}"))
        .ok_or(DtrError::NoSuchRepository)?;
    if let Some(v) = new_visibility {
        repo.visibility = v;
    }
    if let Some(text) = short {
        repo.short_description = text;
    }
    if let Some(text) = long {
        repo.long_description = text;
    }
    let body = repository_json(&state, repo);
    Ok(json_response(StatusCode::OK, &body))
}

async fn delete_repository(
    State(state): State<Arc<DtrState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, DtrError> {
    let caller = authenticate(&state, &headers)?;
    if !can_write(&caller, &namespace) {
        return Err(DtrError::NotAuthorized);
    }
    let key = format!("{namespace}/{name}");
    let mut inner = lock(&state.inner);
    inner.repositories.remove(&key);
    inner.registry.forget_repository(&key);
    // DTR answers 204 whether or not the repository existed (§6).
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tags(
    State(state): State<Arc<DtrState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, DtrError> {
    let caller = authenticate(&state, &headers)?;
    let inner = lock(&state.inner);
    readable(&state, &inner, &caller, &namespace, &name)?;
    let tags = inner.registry.tag_details(&format!("{namespace}/{name}"));
    Ok(json_response(StatusCode::OK, &Value::Array(tags)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            dtr_host: "dtr:443".to_owned(),
            auth_bypass_ca: String::new(),
            auth_bypass_ou: DEFAULT_AUTH_BYPASS_OU.to_owned(),
            disable_upgrades: false,
            report_analytics: false,
            anonymize_analytics: false,
            release_channel: "stable".to_owned(),
            web_tls_cert: String::new(),
            web_tls_key: String::new(),
            web_tls_ca: String::new(),
            gc_mode: String::new(),
            disable_backup_warning: false,
            job_history_to_keep: 10,
            sso: false,
        }
    }

    fn apply(flavor: Flavor, body: Value, settings: &mut Settings) -> Result<(), ()> {
        let Value::Object(fields) = body else {
            panic!("test bodies are objects");
        };
        apply_settings(flavor, &fields, settings)
    }

    #[test]
    fn settings_updates_are_partial_and_typed() {
        let mut s = settings();
        apply(
            Flavor::Ucp1,
            json!({"disableUpgrades": true, "unknown": 1}),
            &mut s,
        )
        .expect("valid update");
        assert!(s.disable_upgrades);
        assert_eq!(s.dtr_host, "dtr:443");
        assert!(apply(Flavor::Ucp1, json!({"disableUpgrades": "yes"}), &mut s).is_err());
        assert!(apply(Flavor::Ucp1, json!({"authBypassCA": "nope"}), &mut s).is_err());
        assert!(apply(Flavor::Ucp1, json!({"dtrHost": "https://dtr"}), &mut s).is_err());
        apply(Flavor::Ucp1, json!({"authBypassOU": ""}), &mut s).expect("blank OU");
        assert_eq!(s.auth_bypass_ou, DEFAULT_AUTH_BYPASS_OU);
    }

    #[test]
    fn ucp3_settings_have_no_bypass_fields() {
        let mut s = settings();
        assert!(apply(Flavor::Ucp3, json!({"authBypassOU": "ucp"}), &mut s).is_err());
        assert!(apply(Flavor::Ucp3, json!({"authBypassCA": ""}), &mut s).is_err());
        apply(Flavor::Ucp3, json!({"jobHistoryToKeep": 3}), &mut s).expect("valid");
        assert_eq!(s.job_history_to_keep, 3);
    }

    #[test]
    fn repository_names_follow_the_registry_grammar() {
        for good in ["hello-world", "a", "web_app", "v1.2", "a__b"] {
            assert!(is_repository_name(good), "{good}");
        }
        for bad in ["Hello", "", "-a", "a-", "a/b", "a..b", "a b"] {
            assert!(!is_repository_name(bad), "{bad}");
        }
    }
}
