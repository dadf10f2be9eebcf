//! A real HTTPS server on 127.0.0.1 for `get_url` and `uri`: axum over
//! rustls with a server certificate from the lab's PKI (its DTR CA signs
//! it, for `127.0.0.1`), so the nodes' curl verifies a real chain against a
//! CA file, and fails against the system store.
//!
//! Routes: `/files/<name>` serves the files the test publishes (changeable
//! while it runs), `/status/<code>` answers with that status, `/echo`
//! answers a JSON document describing the request, `/auth` wants HTTP
//! basic credentials `dtr:s3cret`, `/redirect` sends to `/files/hello.txt`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum_server::tls_rustls::RustlsConfig;
use dtrplay_lab::pki::{LabPki, PkiOptions};

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// The server's state: the published files and how often `/echo` was asked.
#[derive(Clone, Default)]
struct Shared {
    files: Files,
    echoes: Arc<AtomicUsize>,
}

/// The running server; stops when dropped.
pub struct Web {
    pub base: String,
    /// The CA that signed the server's certificate, as a PEM file.
    pub ca: PathBuf,
    shared: Shared,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Web {
    pub fn start() -> Web {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new()
            .prefix("dtrplay-web-")
            .tempdir()
            .expect("a temporary directory");
        let pki = LabPki::generate(&dir.path().join("pki"), &PkiOptions::default())
            .expect("the PKI is generated");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.dtr_ca().cert_pem()).expect("write the CA");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("address");
        let shared = Shared::default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (cert, key) = (
            pki.dtr_server().cert_pem().as_bytes().to_vec(),
            pki.dtr_server().key_pem().as_bytes().to_vec(),
        );
        let router = Router::new()
            .route("/files/{name}", get(file))
            .route("/status/{code}", any(status))
            .route("/echo", any(echo))
            .route("/auth", get(auth))
            .route(
                "/redirect",
                get(|| async { Redirect::to("/files/hello.txt") }),
            )
            .with_state(shared.clone());
        runtime.block_on(async {
            let tls = RustlsConfig::from_pem(cert, key).await.expect("TLS config");
            listener.set_nonblocking(true).expect("nonblocking");
            let server = axum_server::from_tcp_rustls(listener, tls).expect("server");
            tokio::spawn(server.serve(router.into_make_service()));
        });
        Web {
            base: format!("https://127.0.0.1:{}", addr.port()),
            ca,
            shared,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// Serves `bytes` at `/files/<name>` from now on.
    pub fn publish(&self, name: &str, bytes: &[u8]) {
        if let Ok(mut files) = self.shared.files.lock() {
            files.insert(name.to_string(), bytes.to_vec());
        }
    }
}

impl Web {
    /// How many requests `/echo` answered so far.
    pub fn echoes(&self) -> usize {
        self.shared.echoes.load(Ordering::SeqCst)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn file(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    let found = shared.files.lock().ok().and_then(|f| f.get(&name).cloned());
    match found {
        Some(bytes) => bytes.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn status(Path(code): Path<u16>) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (code, format!("status {}\n", code.as_u16())).into_response()
}

async fn echo(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.echoes.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let doc = serde_json::json!({
        "method": method.as_str(),
        "content_type": header("content-type"),
        "x_token": header("x-token"),
        "body": text,
        "json": json,
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        doc.to_string(),
    )
        .into_response()
}

async fn auth(headers: HeaderMap) -> Response {
    use base64::Engine;
    let wanted = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("dtr:s3cret")
    );
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == wanted => {
            ([("content-type", "application/json")], r#"{"user":"dtr"}"#).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"dtr\"")],
            "who are you?",
        )
            .into_response(),
    }
}
