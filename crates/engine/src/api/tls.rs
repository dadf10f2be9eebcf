//! TLS for the API clients: which roots to trust, building verified
//! reqwest clients, turning TLS failures into explanations, and reading the
//! certificate chain a server actually presents.
//!
//! Verification is on by default everywhere. The one unverified request
//! dtrplay makes is the bootstrap of a pinned CA ([`Trust::Pinned`]): it
//! fetches `GET /ca` without credentials, accepts the answer only if its
//! SHA-256 matches the pin the user wrote in the inventory, and from then on
//! verifies every connection against that CA. Turning verification off
//! altogether ([`Trust::Insecure`]) is an explicit opt-in the caller must
//! warn about.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Certificate, Client, Identity, Url};
use rustls::{ClientConfig, ClientConnection};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::api::{ApiError, REQUEST_TIMEOUT, Service};
use crate::cert;
use dtrplay_tls::AnyChain;

/// Which roots a client trusts.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system trust store (rustls platform verifier).
    System,
    /// Only this CA (PEM): from `ucp_ca_file` / `dtr_ca_file`.
    Ca(String),
    /// The CA the service serves at `/ca`, accepted only if its SHA-256
    /// matches this pin (`ucp_ca_fingerprint` / `dtr_ca_fingerprint`).
    Pinned(String),
    /// No verification at all. The caller must warn.
    Insecure,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::System => f.write_str("System"),
            Trust::Ca(pem) => write!(f, "Ca({})", describe_short(pem)),
            Trust::Pinned(pin) => write!(f, "Pinned({pin})"),
            Trust::Insecure => f.write_str("Insecure"),
        }
    }
}

fn describe_short(pem: &str) -> String {
    cert::parse_pem(pem, "CA")
        .ok()
        .and_then(|c| c.first().map(|c| c.info.subject.clone()))
        .unwrap_or_else(|| "unparsed".into())
}

impl Trust {
    /// The trust a service's inventory variables ask for: a CA file wins,
    /// then a pin, then the system store.
    pub fn from_settings(
        service: Service,
        ca_file: Option<&str>,
        pin: Option<&str>,
    ) -> Result<Trust, ApiError> {
        if let Some(path) = ca_file.filter(|p| !p.trim().is_empty()) {
            return read_ca_file(service, Path::new(path.trim())).map(Trust::Ca);
        }
        if let Some(pin) = pin.filter(|p| !p.trim().is_empty()) {
            let pin = cert::normalize_pin(pin).map_err(|e| ApiError::Pin {
                service,
                reason: e.to_string(),
            })?;
            return Ok(Trust::Pinned(pin));
        }
        Ok(Trust::System)
    }
}

/// A client certificate and key (a UCP client bundle's `cert.pem` and
/// `key.pem`). The key is never shown.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(..)")
    }
}

impl ClientIdentity {
    /// Reads `cert.pem` and `key.pem` from an unzipped client bundle.
    pub fn from_bundle_dir(service: Service, dir: &Path) -> Result<ClientIdentity, ApiError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| ApiError::Setup {
                service,
                reason: format!(
                    "cannot read {} of the client bundle: {e}",
                    dir.join(name).display()
                ),
            })
        };
        let mut pem = read("cert.pem")?;
        pem.push(b'\n');
        pem.extend(read("key.pem")?);
        Ok(ClientIdentity { pem })
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> ClientIdentity {
        ClientIdentity {
            pem: format!("{cert_pem}\n{key_pem}").into_bytes(),
        }
    }
}

/// Reads a CA file, which must hold at least one certificate and no key.
pub fn read_ca_file(service: Service, path: &Path) -> Result<String, ApiError> {
    let text = std::fs::read_to_string(path).map_err(|e| ApiError::CaFile {
        service,
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    cert::parse_pem(&text, "the file").map_err(|e| ApiError::CaFile {
        service,
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(text)
}

// The crypto provider is shared with the lab (the `dtrplay-tls` crate), so
// both ends of a lab connection use the same one.
pub use dtrplay_tls::{install_provider, provider};

/// Builds a client with the given trust (which must not be `Pinned`: pins
/// are resolved to a CA by [`establish`] first).
pub fn client(
    service: Service,
    trust: &Trust,
    identity: Option<&ClientIdentity>,
) -> Result<Client, ApiError> {
    let setup = |reason: String| ApiError::Setup { service, reason };
    install_provider();
    let mut builder = Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .https_only(true)
        // Credentials must never follow a redirect to another place.
        .redirect(reqwest::redirect::Policy::none());
    match trust {
        Trust::System => {}
        Trust::Ca(pem) => {
            let certs = Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| setup(format!("the CA is not usable: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        Trust::Insecure => builder = builder.tls_danger_accept_invalid_certs(true),
        Trust::Pinned(_) => {
            return Err(setup("a pinned CA must be fetched before use".into()));
        }
    }
    if let Some(identity) = identity {
        let identity = Identity::from_pem(&identity.pem)
            .map_err(|_| setup("the client bundle's cert.pem/key.pem cannot be used".into()))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| setup(e.to_string()))
}

/// Resolves a trust to a verified client: a pin is bootstrapped over
/// `GET <base>/ca` (no credentials are sent), checked against the pin, and
/// then used as the only root. Returns the client and the CA PEM it trusts
/// (when it trusts a specific one).
pub async fn establish(
    service: Service,
    base: &Url,
    trust: &Trust,
    identity: Option<&ClientIdentity>,
) -> Result<(Client, Option<String>), ApiError> {
    match trust {
        Trust::Pinned(pin) => {
            let ca = fetch_pinned_ca(service, base, pin).await?;
            let resolved = Trust::Ca(ca.clone());
            Ok((client(service, &resolved, identity)?, Some(ca)))
        }
        Trust::Ca(pem) => Ok((client(service, trust, identity)?, Some(pem.clone()))),
        Trust::System | Trust::Insecure => Ok((client(service, trust, identity)?, None)),
    }
}

/// Fetches `/ca` without verification and keeps it only if it matches the
/// pin and the server's own chain verifies against it.
async fn fetch_pinned_ca(service: Service, base: &Url, pin: &str) -> Result<String, ApiError> {
    let bootstrap = client(service, &Trust::Insecure, None)?;
    let url = format!("{}ca", base.as_str());
    let resp = match bootstrap.get(&url).send().await {
        Ok(resp) => resp,
        Err(err) => return Err(classify(service, base, &err).await),
    };
    if !resp.status().is_success() {
        return Err(ApiError::Pin {
            service,
            reason: format!("GET {url} answered HTTP {}", resp.status().as_u16()),
        });
    }
    let pem = resp.text().await.map_err(|e| ApiError::Pin {
        service,
        reason: format!("cannot read GET {url}: {e}"),
    })?;
    let what = format!("the CA {service} serves at /ca");
    let certs = cert::parse_pem(&pem, &what).map_err(|e| ApiError::Pin {
        service,
        reason: e.to_string(),
    })?;
    let pinned = certs
        .iter()
        .find(|c| cert::check_pin(c, pin, &what).is_ok())
        .ok_or_else(|| ApiError::Pin {
            service,
            reason: format!(
                "{what} has SHA-256 fingerprint {}, but the pin is {pin}",
                certs
                    .iter()
                    .map(|c| c.info.sha256.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    // The pin proves the CA; the chain check proves this server is the one
    // that CA vouches for, before any credentials are sent to it.
    let chain = presented_chain(service, base).await?;
    let (leaf, intermediates) = chain.split_first().ok_or_else(|| ApiError::Pin {
        service,
        reason: "the server presented no certificate".into(),
    })?;
    cert::verify_chain(
        leaf,
        intermediates,
        std::slice::from_ref(&pinned.der),
        UnixTime::now(),
    )
    .map_err(|why| ApiError::Pin {
        service,
        reason: format!("the server's certificate does not chain to the pinned CA: {why}"),
    })?;
    Ok(pinned.to_pem())
}

/// Explains a reqwest failure: refused, unreachable, timed out, or TLS
/// verification failed (with the certificate the server presents).
pub async fn classify(service: Service, base: &Url, err: &reqwest::Error) -> ApiError {
    let url = base.as_str().trim_end_matches('/').to_string();
    if err.is_timeout() {
        return ApiError::Timeout {
            service,
            url,
            after: REQUEST_TIMEOUT,
        };
    }
    // The rustls error is found by type where the layers in between keep
    // it; some wrap it in their own boxed error, so its text is the fallback.
    let text = chain_text(err);
    let tls = find_rustls_error(err).map(|e| tls_reason(&e)).or_else(|| {
        text.split_once("invalid peer certificate: ")
            .map(|(_, rest)| tls_reason_text(rest))
    });
    if let Some(reason) = tls {
        let presented = presented_chain(service, base)
            .await
            .ok()
            .and_then(|chain| chain.first().and_then(|der| cert::info(der).ok()))
            .map(|i| format!("a certificate for {} issued by {}", i.subject, i.issuer));
        let hint = format!(
            "set {0}_ca_file to the CA that issued it, or {0}_ca_fingerprint to the SHA-256 of {1}'s CA",
            service.var_prefix(),
            service
        );
        return ApiError::Tls {
            service,
            url,
            reason,
            presented,
            hint: Some(hint),
        };
    }
    if let Some(io) = find_io_error(err) {
        if io == io::ErrorKind::ConnectionRefused {
            return ApiError::Refused { service, url };
        }
        if io == io::ErrorKind::TimedOut {
            return ApiError::Timeout {
                service,
                url,
                after: REQUEST_TIMEOUT,
            };
        }
    }
    ApiError::Unreachable {
        service,
        url,
        reason: text,
    }
}

/// The reason for a rustls certificate error known only by its text.
fn tls_reason_text(text: &str) -> String {
    let first = text.split([':', ',', ')']).next().unwrap_or(text).trim();
    match first {
        "UnknownIssuer" => "the server's certificate is signed by an unknown authority".into(),
        "NotValidForName" | "NotValidForNameContext" => {
            "the server's certificate is not valid for this host name".into()
        }
        "Expired" | "ExpiredContext" => "the server's certificate has expired".into(),
        _ => format!("invalid peer certificate: {text}"),
    }
}

fn tls_reason(err: &rustls::Error) -> String {
    use rustls::CertificateError;
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is signed by an unknown authority".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "the server's certificate is not valid for this host name".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired)
        | rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        other => other.to_string(),
    }
}

/// The rustls error somewhere in a reqwest error's causes.
fn find_rustls_error(err: &reqwest::Error) -> Option<rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls.clone());
        }
        source = e.source();
    }
    None
}

fn find_io_error(err: &reqwest::Error) -> Option<io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

/// The error and its causes on one line.
fn chain_text(err: &reqwest::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// How long the chain-reading handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the host and port of `base` and returns the certificate
/// chain the server presents, leaf first, without judging it. Only a TLS
/// handshake happens: nothing is sent to the server.
pub async fn presented_chain(
    service: Service,
    base: &Url,
) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let url = base.as_str().trim_end_matches('/').to_string();
    let unreachable = |reason: String| ApiError::Unreachable {
        service,
        url: url.clone(),
        reason,
    };
    // IPv6 hosts come bracketed (`[::1]`); names and sockets want them bare.
    let host = match base.host_str() {
        Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => return Err(unreachable("the URL has no host".into())),
    };
    let port = base.port_or_known_default().unwrap_or(443);
    let joined = tokio::task::spawn_blocking(move || handshake(&host, port))
        .await
        .map_err(|e| unreachable(format!("the handshake task failed: {e}")))?;
    joined.map_err(|e| match e.kind() {
        io::ErrorKind::ConnectionRefused => ApiError::Refused {
            service,
            url: url.clone(),
        },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ApiError::Timeout {
            service,
            url: url.clone(),
            after: HANDSHAKE_TIMEOUT,
        },
        _ => unreachable(e.to_string()),
    })
}

fn handshake(host: &str, port: u16) -> io::Result<Vec<CertificateDer<'static>>> {
    let other = |e: rustls::Error| io::Error::other(e.to_string());
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a valid server name"))?;
    // Any chain is accepted here; it is judged afterwards, against the CA
    // in question. The handshake signature is still verified.
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .dangerous()
        .with_custom_certificate_verifier(AnyChain::new())
        .with_no_client_auth();
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(other)?;
    let mut sock = connect(host, port)?;
    sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    sock.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let chain = conn
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    conn.send_close_notify();
    // The server may already have closed; the chain is what matters.
    let _ = conn.complete_io(&mut sock);
    Ok(chain)
}

/// The `HTTPS_PROXY` (or `https_proxy`) that applies to `host`, as
/// `host:port`, honouring `NO_PROXY` the way reqwest (and so every other
/// request of dtrplay) does for the common forms: `*`, exact names, and
/// domain suffixes with or without a leading dot.
fn https_proxy_for(host: &str) -> Option<String> {
    let var = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let proxy = var(["HTTPS_PROXY", "https_proxy"])?;
    if let Some(no) = var(["NO_PROXY", "no_proxy"]) {
        let host = host.to_ascii_lowercase();
        for entry in no.split(',').map(|e| e.trim().to_ascii_lowercase()) {
            let domain = entry.trim_start_matches('.');
            if entry == "*" || host == domain || host.ends_with(&format!(".{domain}")) {
                return None;
            }
        }
    }
    let rest = proxy.strip_prefix("http://").unwrap_or(&proxy);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.contains(':') {
        Some(authority.to_string())
    } else {
        Some(format!("{authority}:80"))
    }
}

/// A TCP connection to `host:port`, through the `HTTPS_PROXY` tunnel
/// (`CONNECT`) when one applies, as for the API requests themselves.
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let Some(proxy) = https_proxy_for(host) else {
        return connect_direct(host, port);
    };
    let (proxy_host, proxy_port) = proxy
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "HTTPS_PROXY is not host:port")
        })?;
    let mut sock = connect_direct(proxy_host, proxy_port)?;
    sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    sock.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())?;
    // Byte by byte up to the blank line, so nothing of the tunnel is read.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || sock.read(&mut byte)? == 0 {
            return Err(io::Error::other("the HTTPS proxy closed the connection"));
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head);
    let line = status.lines().next().unwrap_or_default();
    if line.split(' ').nth(1) != Some("200") {
        return Err(io::Error::other(format!(
            "the HTTPS proxy {proxy} refused the tunnel to {target}: {line}"
        )));
    }
    Ok(sock)
}

fn connect_direct(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name resolves to nothing");
    let mut sock = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    sock.ok_or(last)
}
