//! DTR's registry: the Docker registry v2 API (blobs, manifests, tags) that
//! really stores what is pushed, and the token service at `/auth/token`
//! whose auth bypass is the point of the whole integration.
//!
//! Why it exists: step 6 of the procedure ("push an image") succeeds or
//! fails only because of this module. A client pushes the way `docker push`
//! does: `GET /v2/` answers 401 with a `Bearer` challenge, the client gets a
//! token from the realm, uploads blobs, then puts a manifest. Without a
//! token every registry call answers 401 `UNAUTHORIZED` "authentication
//! required", which the docker CLI prints as `unauthorized: authentication
//! required` (ucp-dtr-api.md §8).
//!
//! Token grants: Basic credentials give the user's rights (the admin: pull
//! and push everywhere; a user: pull and push in their own namespace;
//! everyone: pull on public repositories); no credentials give anonymous
//! rights (pull on public repositories). A client certificate switches to
//! the UCP auth bypass (§7): the chain must verify against the *current*
//! bypass CA, checked per request because `authBypassCA` changes at run
//! time, and the subject DN must match `\bOU=<ou>\b`; the identity is then
//! the Basic user name, with the password ignored. A certificate while the
//! bypass is off fails like a certificate that does not chain.
//!
//! Choices the reference leaves open: tokens are opaque random strings that
//! last as long as the lab ([`TOKEN_LIFETIME_SECS`] is only advertised); the
//! `service` parameter is not checked; `Location` headers are paths relative
//! to the registry; cross-repository mounts are answered with a fresh upload
//! (allowed by the distribution spec); deletes are unsupported (405).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum_server::tls::TlsInfo;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api_auth::{BasicAuth, Role, basic_auth, bearer_token, random_hex};
use crate::api_http::{error_response, json_response, lock, now_rfc3339};
use crate::api_tls::peer_chain;
use crate::dtr_state::{DtrInner, DtrState, is_repository_name};
use crate::pki::parse_certificates;
use crate::registry_store::{
    Action, RegistryStore, StoredManifest, TagRecord, TokenGrant, Upload, is_digest,
};

/// Prefix of every auth bypass failure (ucp-dtr-api.md §7).
pub const BYPASS_ERROR_PREFIX: &str = "encountered an error during ucp auth bypass: ";
/// Bypass failure: the certificate does not chain to the bypass CA.
pub const BYPASS_CERT_INVALID: &str = "failed to validate client certificate";
/// Bypass failure: the certificate chains, but its OU is not the bypass OU.
pub const BYPASS_OU_INVALID: &str = "failed to validate OU field";
/// The lifetime tokens advertise; the lab never expires them.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;
/// The largest request body (a blob chunk or a manifest) the registry takes.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST_V1: &str = "application/vnd.oci.image.manifest.v1+json";

const API_VERSION_HEADER: &str = "docker-distribution-api-version";
const CONTENT_DIGEST_HEADER: &str = "docker-content-digest";
const UPLOAD_UUID_HEADER: &str = "docker-upload-uuid";

/// Errors of the registry and token service, in the distribution format.
#[derive(Debug, thiserror::Error)]
enum RegistryError {
    #[error("authentication required")]
    Unauthorized {
        challenge: String,
        detail: Option<Value>,
    },
    #[error("{BYPASS_ERROR_PREFIX}{0}")]
    BypassFailed(&'static str),
    #[error("repository name not known to registry")]
    NameUnknown { name: String },
    #[error("invalid repository name")]
    NameInvalid,
    #[error("blob unknown to registry")]
    BlobUnknown { digest: String },
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("blob upload invalid")]
    BlobUploadInvalid,
    #[error("provided digest did not match uploaded content")]
    DigestInvalid,
    #[error("manifest unknown")]
    ManifestUnknown { reference: String },
    #[error("manifest invalid")]
    ManifestInvalid { reason: &'static str },
    #[error("blob unknown to registry")]
    ManifestBlobUnknown { digest: String },
    #[error("manifest tag did not match URI")]
    TagInvalid,
    #[error("The operation is unsupported.")]
    Unsupported,
    #[error("page not found")]
    NotFound,
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code, detail) = match &self {
            RegistryError::Unauthorized { detail, .. } => {
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail.clone())
            }
            RegistryError::BypassFailed(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", None),
            RegistryError::NameUnknown { name } => (
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                Some(json!({ "name": name })),
            ),
            RegistryError::NameInvalid => (StatusCode::BAD_REQUEST, "NAME_INVALID", None),
            RegistryError::BlobUnknown { digest } => (
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                Some(json!({ "digest": digest })),
            ),
            RegistryError::BlobUploadUnknown => {
                (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", None)
            }
            RegistryError::BlobUploadInvalid => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                None,
            ),
            RegistryError::DigestInvalid => (StatusCode::BAD_REQUEST, "DIGEST_INVALID", None),
            RegistryError::ManifestUnknown { reference } => (
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                Some(json!({ "reference": reference })),
            ),
            RegistryError::ManifestInvalid { reason } => (
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                Some(json!({ "reason": reason })),
            ),
            RegistryError::ManifestBlobUnknown { digest } => (
                StatusCode::BAD_REQUEST,
                "MANIFEST_BLOB_UNKNOWN",
                Some(json!({ "digest": digest })),
            ),
            RegistryError::TagInvalid => (StatusCode::BAD_REQUEST, "TAG_INVALID", None),
            RegistryError::Unsupported => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", None),
            RegistryError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", None),
        };
        let mut response = error_response(status, code, &message, detail);
        if let RegistryError::Unauthorized { challenge, .. } = &self
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
            .headers_mut()
            .insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
        response
    }
}

pub(crate) fn routes() -> Router<Arc<DtrState>> {
    Router::new()
        .route("/v2/", get(ping))
        .route("/v2", get(ping))
        .route(
            "/v2/{*path}",
            any(dispatch).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/auth/token", get(token))
}

/// The `WWW-Authenticate` challenge that sends a client to the token service.
fn challenge(state: &DtrState, scope: Option<(&str, Action)>, error: Option<&str>) -> String {
    let mut text = format!(
        "Bearer realm=\"https://{host}/auth/token\",service=\"{host}\"",
        host = state.dtr_host
    );
    if let Some((repo, action)) = scope {
        let actions = match action {
            Action::Pull => "pull",
            Action::Push => "pull,push",
        };
        text.push_str(&format!(",scope=\"repository:{repo}:{actions}\""));
    }
    if let Some(error) = error {
        text.push_str(&format!(",error=\"{error}\""));
    }
    text
}

async fn ping(State(state): State<Arc<DtrState>>, headers: HeaderMap) -> Response {
    let known =
        bearer_token(&headers).is_some_and(|token| lock(&state.inner).tokens.contains_key(token));
    if known {
        ok(StatusCode::OK, Vec::new(), Bytes::from_static(b"{}"))
    } else {
        RegistryError::Unauthorized {
            challenge: challenge(&state, None, None),
            detail: None,
        }
        .into_response()
    }
}

type Tls = Option<Extension<Arc<TlsInfo>>>;

async fn token(
    State(state): State<Arc<DtrState>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    tls: Tls,
) -> Result<Response, RegistryError> {
    let chain = peer_chain(tls.as_ref().map(|Extension(info)| info.as_ref()));
    let basic = basic_auth(&headers);
    let unauthorized = || RegistryError::Unauthorized {
        challenge: challenge(&state, None, None),
        detail: None,
    };
    let mut inner = lock(&state.inner);
    let subject = if chain.is_empty() {
        match basic {
            BasicAuth::Absent => None,
            BasicAuth::Malformed => return Err(unauthorized()),
            BasicAuth::Credentials { user, password } => {
                state
                    .accounts
                    .verify(&user, &password)
                    .ok_or_else(unauthorized)?;
                Some(user)
            }
        }
    } else {
        let (ca, ou) = state
            .bypass_trust(&inner)
            .ok_or(RegistryError::BypassFailed(BYPASS_CERT_INVALID))?;
        if !chains_to(&chain, &ca) {
            return Err(RegistryError::BypassFailed(BYPASS_CERT_INVALID));
        }
        if !ou_matches(&chain[0], &ou) {
            return Err(RegistryError::BypassFailed(BYPASS_OU_INVALID));
        }
        // UCP vouches for the caller; the password is not checked (§7).
        match basic {
            BasicAuth::Credentials { user, .. } if !user.is_empty() => Some(user),
            _ => None,
        }
    };

    let mut access: BTreeMap<String, BTreeSet<Action>> = BTreeMap::new();
    let scopes = params
        .iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| value.split(' '));
    for scope in scopes {
        let Some((repo, requested)) = scope
            .strip_prefix("repository:")
            .and_then(|rest| rest.rsplit_once(':'))
        else {
            continue;
        };
        let rights = rights(&state, &inner, subject.as_deref(), repo);
        let granted = access.entry(repo.to_owned()).or_default();
        for action in requested.split(',') {
            let wanted: &[Action] = match action {
                "pull" => &[Action::Pull],
                "push" => &[Action::Push],
                "*" => &[Action::Pull, Action::Push],
                _ => &[],
            };
            granted.extend(wanted.iter().filter(|a| rights.contains(a)));
        }
    }
    let token = random_hex(32);
    inner
        .tokens
        .insert(token.clone(), TokenGrant { subject, access });
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "issued_at": now_rfc3339(),
        }),
    ))
}

/// What `subject` (None: anonymous) may do to `repo`.
fn rights(state: &DtrState, inner: &DtrInner, subject: Option<&str>, repo: &str) -> Vec<Action> {
    let namespace = repo.split_once('/').map(|(ns, _)| ns).unwrap_or(repo);
    let owner = subject
        .is_some_and(|user| user == namespace || state.accounts.role(user) == Some(Role::Admin));
    if owner {
        return vec![Action::Pull, Action::Push];
    }
    let public = inner
        .repositories
        .get(repo)
        .is_some_and(|repository| repository.is_public());
    if public {
        vec![Action::Pull]
    } else {
        Vec::new()
    }
}

/// Whether the presented chain (leaf first) verifies, for client
/// authentication and now, against any certificate of `ca_pem`.
fn chains_to(chain: &[CertificateDer<'static>], ca_pem: &str) -> bool {
    let Some(cas) = parse_certificates(ca_pem) else {
        return false;
    };
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|ca| webpki::anchor_from_trusted_cert(ca).ok())
        .collect();
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let Ok(leaf) = webpki::EndEntityCert::try_from(leaf) else {
        return false;
    };
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .is_ok()
}

/// nginx's `X-Client-OU-Valid`: the subject DN matches `\bOU=<ou>\b`.
fn ou_matches(leaf: &[u8], ou: &str) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return false;
    };
    let pattern = format!(r"\bOU={}\b", regex::escape(ou));
    regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(&cert.subject().to_string()))
}

/// What a `/v2/<name>/...` path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Tags,
    UploadStart,
    Upload(String),
    Blob(String),
    Manifest(String),
}

/// Splits `<name>/<route>` into the repository name and the route.
fn parse_target(path: &str) -> Option<(&str, Target)> {
    if let Some(name) = path.strip_suffix("/tags/list") {
        return Some((name, Target::Tags));
    }
    if let Some((name, rest)) = path.rsplit_once("/blobs/uploads") {
        return match rest.trim_start_matches('/') {
            "" => Some((name, Target::UploadStart)),
            uuid if !uuid.contains('/') => Some((name, Target::Upload(uuid.to_owned()))),
            _ => None,
        };
    }
    if let Some((name, digest)) = path.rsplit_once("/blobs/") {
        return Some((name, Target::Blob(digest.to_owned())));
    }
    if let Some((name, reference)) = path.rsplit_once("/manifests/") {
        return Some((name, Target::Manifest(reference.to_owned())));
    }
    None
}

/// DTR repositories are always `<namespace>/<repository>`.
fn is_dtr_name(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(namespace, repo)| is_repository_name(namespace) && is_repository_name(repo))
}

fn is_tag(text: &str) -> bool {
    let mut chars = text.chars();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.len() <= 128
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A successful registry response with the API version header.
fn ok(status: StatusCode, headers: Vec<(HeaderName, String)>, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    let map = response.headers_mut();
    map.insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    response
}

/// The required right for a method on a target.
fn required_action(method: &Method, target: &Target) -> Result<Action, RegistryError> {
    match (method.as_str(), target) {
        ("GET" | "HEAD", Target::Tags | Target::Blob(_) | Target::Manifest(_)) => Ok(Action::Pull),
        ("POST", Target::UploadStart)
        | ("GET" | "PATCH" | "PUT" | "DELETE", Target::Upload(_))
        | ("PUT", Target::Manifest(_)) => Ok(Action::Push),
        _ => Err(RegistryError::Unsupported),
    }
}

async fn dispatch(
    State(state): State<Arc<DtrState>>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let (name, target) = parse_target(&path).ok_or(RegistryError::NotFound)?;
    if !is_dtr_name(name) {
        return Err(RegistryError::NameInvalid);
    }
    let action = required_action(&method, &target)?;
    let mut inner = lock(&state.inner);
    let unauthorized = |error: Option<&str>, detail: Option<Value>| RegistryError::Unauthorized {
        challenge: challenge(&state, Some((name, action)), error),
        detail,
    };
    let token = bearer_token(&headers).ok_or_else(|| unauthorized(None, None))?;
    let grant = inner
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| unauthorized(Some("invalid_token"), None))?;
    if !grant.allows(name, action) {
        let detail = json!([{ "Type": "repository", "Name": name, "Action": action.as_str() }]);
        return Err(unauthorized(Some("insufficient_scope"), Some(detail)));
    }
    if !inner.repositories.contains_key(name) {
        return Err(RegistryError::NameUnknown {
            name: name.to_owned(),
        });
    }
    let head = method == Method::HEAD;
    let store = &mut inner.registry;
    match target {
        Target::Tags => {
            let tags: Vec<&String> = store
                .tags
                .get(name)
                .map(|tags| tags.keys().collect())
                .unwrap_or_default();
            let body = json!({ "name": name, "tags": tags }).to_string();
            Ok(ok(
                StatusCode::OK,
                vec![(header::CONTENT_TYPE, "application/json".to_owned())],
                Bytes::from(body),
            ))
        }
        Target::UploadStart => start_upload(store, name, query.get("digest"), body),
        Target::Upload(uuid) => match method.as_str() {
            "PATCH" => patch_upload(store, name, &uuid, &headers, &body),
            "PUT" => finish_upload(store, name, &uuid, query.get("digest"), &body),
            "GET" => upload_status(store, name, &uuid),
            _ => {
                store
                    .uploads
                    .remove(&uuid)
                    .filter(|upload| upload.repo == name)
                    .ok_or(RegistryError::BlobUploadUnknown)?;
                Ok(ok(StatusCode::NO_CONTENT, Vec::new(), Bytes::new()))
            }
        },
        Target::Blob(digest) => {
            if !is_digest(&digest) {
                return Err(RegistryError::DigestInvalid);
            }
            let data = store
                .has_blob(name, &digest)
                .then(|| store.blobs.get(&digest).cloned())
                .flatten()
                .ok_or(RegistryError::BlobUnknown {
                    digest: digest.clone(),
                })?;
            Ok(content("application/octet-stream", &digest, data, head))
        }
        Target::Manifest(reference) if method == Method::PUT => {
            put_manifest(store, name, &reference, &headers, body, grant.subject)
        }
        Target::Manifest(reference) => {
            let (digest, manifest) = store
                .manifest(name, &reference)
                .ok_or(RegistryError::ManifestUnknown { reference })?;
            Ok(content(
                &manifest.media_type,
                &digest,
                manifest.body.clone(),
                head,
            ))
        }
    }
}

/// A blob or manifest response; HEAD gets the headers only.
fn content(media_type: &str, digest: &str, data: Bytes, head: bool) -> Response {
    let headers = vec![
        (header::CONTENT_TYPE, media_type.to_owned()),
        (
            HeaderName::from_static(CONTENT_DIGEST_HEADER),
            digest.to_owned(),
        ),
        (header::CONTENT_LENGTH, data.len().to_string()),
    ];
    ok(
        StatusCode::OK,
        headers,
        if head { Bytes::new() } else { data },
    )
}

fn upload_headers(name: &str, uuid: &str, len: usize) -> Vec<(HeaderName, String)> {
    vec![
        (header::LOCATION, format!("/v2/{name}/blobs/uploads/{uuid}")),
        (HeaderName::from_static(UPLOAD_UUID_HEADER), uuid.to_owned()),
        (header::RANGE, format!("0-{}", len.saturating_sub(1))),
        (header::CONTENT_LENGTH, "0".to_owned()),
    ]
}

fn blob_created(name: &str, digest: &str) -> Response {
    ok(
        StatusCode::CREATED,
        vec![
            (header::LOCATION, format!("/v2/{name}/blobs/{digest}")),
            (
                HeaderName::from_static(CONTENT_DIGEST_HEADER),
                digest.to_owned(),
            ),
            (header::CONTENT_LENGTH, "0".to_owned()),
        ],
        Bytes::new(),
    )
}

fn start_upload(
    store: &mut RegistryStore,
    name: &str,
    digest: Option<&String>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    if let Some(digest) = digest {
        // A monolithic upload in a single POST.
        if !is_digest(digest) || sha256_digest(&body) != *digest {
            return Err(RegistryError::DigestInvalid);
        }
        store.add_blob(name, digest.clone(), body);
        return Ok(blob_created(name, digest));
    }
    let uuid = random_hex(16);
    let len = body.len();
    store.uploads.insert(
        uuid.clone(),
        Upload {
            repo: name.to_owned(),
            data: body.to_vec(),
        },
    );
    Ok(ok(
        StatusCode::ACCEPTED,
        upload_headers(name, &uuid, len),
        Bytes::new(),
    ))
}

fn upload_mut<'a>(
    store: &'a mut RegistryStore,
    name: &str,
    uuid: &str,
) -> Result<&'a mut Upload, RegistryError> {
    store
        .uploads
        .get_mut(uuid)
        .filter(|upload| upload.repo == name)
        .ok_or(RegistryError::BlobUploadUnknown)
}

fn patch_upload(
    store: &mut RegistryStore,
    name: &str,
    uuid: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RegistryError> {
    let upload = upload_mut(store, name, uuid)?;
    if let Some(range) = headers.get(header::CONTENT_RANGE) {
        // A chunk must start where the upload currently ends.
        let start = range
            .to_str()
            .ok()
            .and_then(|text| text.trim_start_matches("bytes ").split_once('-'))
            .and_then(|(start, _)| start.trim().parse::<usize>().ok());
        if start != Some(upload.data.len()) {
            return Err(RegistryError::BlobUploadInvalid);
        }
    }
    upload.data.extend_from_slice(body);
    let len = upload.data.len();
    Ok(ok(
        StatusCode::ACCEPTED,
        upload_headers(name, uuid, len),
        Bytes::new(),
    ))
}

fn finish_upload(
    store: &mut RegistryStore,
    name: &str,
    uuid: &str,
    digest: Option<&String>,
    body: &[u8],
) -> Result<Response, RegistryError> {
    upload_mut(store, name, uuid)?;
    let mut upload = store
        .uploads
        .remove(uuid)
        .ok_or(RegistryError::BlobUploadUnknown)?;
    upload.data.extend_from_slice(body);
    let digest = digest
        .filter(|digest| is_digest(digest))
        .ok_or(RegistryError::DigestInvalid)?;
    if sha256_digest(&upload.data) != *digest {
        return Err(RegistryError::DigestInvalid);
    }
    store.add_blob(name, digest.clone(), Bytes::from(upload.data));
    Ok(blob_created(name, digest))
}

fn upload_status(
    store: &mut RegistryStore,
    name: &str,
    uuid: &str,
) -> Result<Response, RegistryError> {
    let len = upload_mut(store, name, uuid)?.data.len();
    Ok(ok(
        StatusCode::NO_CONTENT,
        upload_headers(name, uuid, len),
        Bytes::new(),
    ))
}

fn put_manifest(
    store: &mut RegistryStore,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Bytes,
    author: Option<String>,
) -> Result<Response, RegistryError> {
    let invalid = |reason| RegistryError::ManifestInvalid { reason };
    let manifest: Value = serde_json::from_slice(&body).map_err(|_| invalid("not JSON"))?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        });
    let in_body = manifest.get("mediaType").and_then(Value::as_str);
    let media_type = [declared.as_deref(), in_body]
        .into_iter()
        .flatten()
        .find(|media_type| [DOCKER_MANIFEST_V2, OCI_MANIFEST_V1].contains(media_type))
        .ok_or(invalid("unsupported manifest media type"))?
        .to_owned();
    if in_body.is_some_and(|in_body| in_body != media_type) {
        return Err(invalid("mediaType does not match Content-Type"));
    }
    if manifest.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let config = manifest.get("config").ok_or(invalid("config is missing"))?;
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or(invalid("layers is missing"))?;
    let mut referenced = Vec::new();
    for descriptor in std::iter::once(config).chain(layers) {
        let digest = descriptor
            .get("digest")
            .and_then(Value::as_str)
            .filter(|digest| is_digest(digest))
            .ok_or(invalid("a descriptor has no valid digest"))?;
        referenced.push(digest.to_owned());
    }
    if let Some(missing) = referenced
        .iter()
        .find(|digest| !store.has_blob(name, digest))
    {
        return Err(RegistryError::ManifestBlobUnknown {
            digest: missing.clone(),
        });
    }
    let digest = sha256_digest(&body);
    let tag = if is_digest(reference) {
        if reference != digest {
            return Err(RegistryError::DigestInvalid);
        }
        None
    } else if is_tag(reference) {
        Some(reference.to_owned())
    } else {
        return Err(RegistryError::TagInvalid);
    };
    let now = now_rfc3339();
    let config_media_type = config
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    store
        .manifests
        .entry(name.to_owned())
        .or_default()
        .entry(digest.clone())
        .or_insert_with(|| StoredManifest {
            media_type,
            config_media_type,
            body,
            created_at: now.clone(),
        });
    if let Some(tag) = tag {
        let tags = store.tags.entry(name.to_owned()).or_default();
        let created_at = tags
            .get(&tag)
            .map(|old| old.created_at.clone())
            .unwrap_or_else(|| now.clone());
        tags.insert(
            tag,
            TagRecord {
                digest: digest.clone(),
                author: author.unwrap_or_default(),
                created_at,
                updated_at: now,
            },
        );
    }
    Ok(ok(
        StatusCode::CREATED,
        vec![
            (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
            (HeaderName::from_static(CONTENT_DIGEST_HEADER), digest),
            (header::CONTENT_LENGTH, "0".to_owned()),
        ],
        Bytes::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_name_and_route() {
        assert_eq!(
            parse_target("admin/app/tags/list"),
            Some(("admin/app", Target::Tags))
        );
        assert_eq!(
            parse_target("admin/app/blobs/uploads/"),
            Some(("admin/app", Target::UploadStart))
        );
        assert_eq!(
            parse_target("admin/app/blobs/uploads/abc"),
            Some(("admin/app", Target::Upload("abc".to_owned())))
        );
        assert_eq!(
            parse_target("admin/app/blobs/sha256:00"),
            Some(("admin/app", Target::Blob("sha256:00".to_owned())))
        );
        assert_eq!(
            parse_target("admin/app/manifests/latest"),
            Some(("admin/app", Target::Manifest("latest".to_owned())))
        );
        assert_eq!(parse_target("admin/app"), None);
    }

    #[test]
    fn names_digests_and_tags_are_validated() {
        assert!(is_dtr_name("admin/hello-world"));
        assert!(!is_dtr_name("hello-world"));
        assert!(!is_dtr_name("a/b/c"));
        assert!(!is_dtr_name("Admin/app"));
        assert!(is_digest(&sha256_digest(b"x")));
        assert!(!is_digest("sha256:ABC"));
        assert!(!is_digest("sha512:00"));
        assert!(is_tag("latest"));
        assert!(is_tag("1.0_rc-2"));
        assert!(!is_tag(".hidden"));
        assert!(!is_tag(&"a".repeat(129)));
    }

    #[test]
    fn ou_matching_uses_word_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = crate::pki::LabPki::generate(dir.path(), &Default::default()).expect("generate");
        let cert = pki.issue_cluster_identity("node", "ucpx").expect("issue");
        let der = parse_certificates(&cert.cert_pem).expect("parses");
        assert!(ou_matches(&der[0], "ucpx"));
        assert!(!ou_matches(&der[0], "ucp"));
        assert!(chains_to(&der, pki.cluster_root_ca().cert_pem()));
        assert!(!chains_to(&der, pki.dtr_ca().cert_pem()));
        assert!(!chains_to(&der, "garbage"));
    }
}
