//! Starting and stopping the lab's UCP and DTR HTTPS simulators, and the
//! plumbing both share: TLS set-up, accounts, error envelopes and tokens.
//!
//! [`start`] is the one entry point the rest of dtrplay calls: it binds both
//! servers on the loopback addresses of an [`ApiConfig`], serves them in the
//! background, and returns [`ApiServers`] with the bound addresses (port 0 is
//! allowed) and a `shutdown`. State lives only in memory, so a restarted lab
//! starts from a fresh, unintegrated cluster.
//!
//! Both servers refuse non-loopback addresses: the lab's accounts and keys
//! are rehearsal material and must never be reachable from another machine.
//! Nothing here logs; in particular no password, key or token is ever
//! printed.
//!
//! TLS is served by axum-server over rustls, which hands every request the
//! peer's certificate chain (`TlsInfo`). UCP verifies client certificates
//! against its client root CA at the TLS layer (client bundles). DTR only
//! asks for a certificate and accepts any at the TLS layer, like nginx's
//! `ssl_verify_client optional_no_ca`, because its auth bypass checks the
//! chain per request against an `authBypassCA` setting that can change at
//! run time (ucp-dtr-api.md §7).

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::Flavor;
use crate::api_auth::Accounts;
pub use crate::api_tls::TlsSetupError;
use crate::api_tls::dtr_tls_config;
use crate::pki::LabPki;
use crate::{dtr, ucp, ucp_engines};

/// How the lab's API servers are set up.
#[derive(Clone)]
pub struct ApiConfig {
    /// Which UCP/DTR generation to simulate.
    pub flavor: Flavor,
    /// Where UCP listens; must be a loopback address (port 0 picks one).
    pub ucp_bind: SocketAddr,
    /// Where DTR listens; must be a loopback address (port 0 picks one).
    pub dtr_bind: SocketAddr,
    /// The administrator of both UCP and DTR (DTR 2.0 shares UCP's users).
    pub admin_user: String,
    /// The administrator's password.
    pub admin_password: String,
    /// A second, non-admin user of both UCP and DTR.
    pub dtr_user: String,
    /// The non-admin user's password.
    pub dtr_user_password: String,
    /// DTR organizations: namespaces that exist but belong to no user, so
    /// only the admin can create repositories in them.
    pub organizations: Vec<String>,
    /// The `host:port` clients use to reach UCP, written into a client
    /// bundle's `env.sh`; defaults to the bound address.
    pub ucp_host: Option<String>,
    /// The `host:port` clients use to reach DTR: the default `dtrHost`
    /// setting and the token realm and service; defaults to the bound address.
    /// DTR's certificate must be valid for it (see `PkiOptions::dtr_hosts`).
    pub dtr_host: Option<String>,
    /// A host name clients use for UCP instead of its address; the bound
    /// port is appended (`ucp.lab.test:<port>`). Ignored when `ucp_host`
    /// is set.
    pub ucp_name: Option<String>,
    /// The same for DTR (`dtr.lab.test:<port>`): what engines see in image
    /// names and `certs.d`. Ignored when `dtr_host` is set.
    pub dtr_name: Option<String>,
}

impl ApiConfig {
    /// A configuration on `127.0.0.1` with ephemeral ports and the users
    /// `admin` and `user`. Passwords are left empty on purpose: [`start`]
    /// refuses empty passwords, so the caller must choose them.
    pub fn loopback(flavor: Flavor) -> ApiConfig {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        ApiConfig {
            flavor,
            ucp_bind: any_port,
            dtr_bind: any_port,
            admin_user: "admin".to_owned(),
            admin_password: String::new(),
            dtr_user: "user".to_owned(),
            dtr_user_password: String::new(),
            organizations: Vec::new(),
            ucp_host: None,
            dtr_host: None,
            ucp_name: None,
            dtr_name: None,
        }
    }
}

impl fmt::Debug for ApiConfig {
    // Passwords are left out so that a debug print can never leak them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("flavor", &self.flavor)
            .field("ucp_bind", &self.ucp_bind)
            .field("dtr_bind", &self.dtr_bind)
            .field("admin_user", &self.admin_user)
            .field("dtr_user", &self.dtr_user)
            .field("organizations", &self.organizations)
            .field("ucp_host", &self.ucp_host)
            .field("dtr_host", &self.dtr_host)
            .finish_non_exhaustive()
    }
}

/// Why the lab's API servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A bind address is not loopback.
    #[error(
        "refusing to serve the lab {server} API on {addr}: only loopback addresses are allowed"
    )]
    NotLoopback {
        server: &'static str,
        addr: SocketAddr,
    },
    /// The configuration is incomplete or inconsistent.
    #[error("invalid lab API configuration: {reason}")]
    Config { reason: String },
    /// The listening socket could not be opened.
    #[error("cannot listen for the lab {server} API on {addr}")]
    Bind {
        server: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The PKI's material could not be turned into a TLS configuration.
    #[error("cannot set up TLS for the lab {server} API")]
    Tls {
        server: &'static str,
        #[source]
        source: TlsSetupError,
    },
}

/// The running UCP and DTR simulators. Dropping this without calling
/// [`ApiServers::shutdown`] still stops both servers, just without waiting.
pub struct ApiServers {
    flavor: Flavor,
    ucp: RunningServer,
    dtr: RunningServer,
    ucp_host: String,
    dtr_host: String,
    ucp_state: Arc<ucp::UcpState>,
    dtr_state: Arc<dtr::DtrState>,
    /// UCP's cluster root CA, to tell whether DTR trusts UCP.
    ucp_ca: String,
}

/// How far the integration has got, as the simulators see it; for
/// `dtrplay lab status` and for tests that check the cluster, not the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationStatus {
    /// UCP 1.x: the URL of the DTR configured in UCP (`/api/config/registry`).
    pub ucp_registry_url: Option<String>,
    /// UCP 3.x: the host addresses of UCP's trusted registries.
    pub ucp_trusted_registries: Vec<String>,
    /// Whether DTR's auth bypass trusts UCP's cluster root CA right now.
    pub dtr_trusts_ucp: bool,
    /// DTR's repositories, as `namespace/name`.
    pub dtr_repositories: Vec<String>,
}

impl fmt::Debug for ApiServers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiServers")
            .field("flavor", &self.flavor)
            .field("ucp_addr", &self.ucp.addr)
            .field("dtr_addr", &self.dtr.addr)
            .finish_non_exhaustive()
    }
}

impl ApiServers {
    /// The simulated generation.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The address UCP is bound to.
    pub fn ucp_addr(&self) -> SocketAddr {
        self.ucp.addr
    }

    /// The address DTR is bound to.
    pub fn dtr_addr(&self) -> SocketAddr {
        self.dtr.addr
    }

    /// `https://<bound address>` of UCP.
    pub fn ucp_url(&self) -> String {
        format!("https://{}", self.ucp_host)
    }

    /// `https://<bound address>` of DTR.
    pub fn dtr_url(&self) -> String {
        format!("https://{}", self.dtr_host)
    }

    /// Where each advertised `host:port` really listens, for the lab's
    /// CONNECT proxy (only names; addresses need no proxy).
    pub fn routes(&self) -> std::collections::HashMap<String, SocketAddr> {
        let mut routes = std::collections::HashMap::new();
        for (host, addr) in [
            (&self.ucp_host, self.ucp.addr),
            (&self.dtr_host, self.dtr.addr),
        ] {
            if host.parse::<SocketAddr>().is_err() {
                routes.insert(host.clone(), addr);
            }
        }
        routes
    }

    /// The `host:port` UCP advertises (`ApiConfig::ucp_host` or the bound address).
    pub fn ucp_host(&self) -> &str {
        &self.ucp_host
    }

    /// The `host:port` DTR advertises (`ApiConfig::dtr_host` or the bound
    /// address): the registry part of image names and the `certs.d` directory.
    pub fn dtr_host(&self) -> &str {
        &self.dtr_host
    }

    /// Puts UCP in front of these engines: Docker API calls through a client
    /// bundle reach them from now on.
    pub fn attach_engines(&self, engines: Vec<ucp_engines::EngineRoute>) {
        self.ucp_state.front.attach(engines);
    }

    /// A snapshot of the integration state held by the simulators.
    pub fn status(&self) -> IntegrationStatus {
        IntegrationStatus {
            ucp_registry_url: self.ucp_state.registry_url(),
            ucp_trusted_registries: self.ucp_state.trusted_registries(),
            dtr_trusts_ucp: self.dtr_state.trusts(&self.ucp_ca),
            dtr_repositories: self.dtr_state.repository_names(),
        }
    }

    /// Stops both servers and waits until their sockets are closed.
    pub async fn shutdown(self) {
        tokio::join!(self.ucp.stop(), self.dtr.stop());
    }
}

/// The common name of UCP's own client certificate.
pub const UCP_IDENTITY_CN: &str = "ucp-controller";

/// Starts the UCP and DTR simulators for `pki` as `cfg` describes.
pub async fn start(pki: &LabPki, cfg: ApiConfig) -> Result<ApiServers, StartError> {
    for (server, addr) in [("UCP", cfg.ucp_bind), ("DTR", cfg.dtr_bind)] {
        if !addr.ip().is_loopback() {
            return Err(StartError::NotLoopback { server, addr });
        }
    }
    let accounts = accounts(&cfg)?;

    let ucp_listener = bind("UCP", cfg.ucp_bind)?;
    let dtr_listener = bind("DTR", cfg.dtr_bind)?;
    let ucp_addr = local_addr("UCP", cfg.ucp_bind, &ucp_listener)?;
    let dtr_addr = local_addr("DTR", cfg.dtr_bind, &dtr_listener)?;
    let host = |fixed: &Option<String>, name: &Option<String>, addr: SocketAddr| {
        fixed.clone().unwrap_or_else(|| match name {
            Some(name) => format!("{name}:{}", addr.port()),
            None => addr.to_string(),
        })
    };
    let ucp_host = host(&cfg.ucp_host, &cfg.ucp_name, ucp_addr);
    let dtr_host = host(&cfg.dtr_host, &cfg.dtr_name, dtr_addr);

    let ucp_tls = ucp::tls_config(pki).map_err(|source| StartError::Tls {
        server: "UCP",
        source,
    })?;
    let dtr_tls = dtr_tls_config(pki.dtr_server().cert_pem(), pki.dtr_server().key_pem()).map_err(
        |source| StartError::Tls {
            server: "DTR",
            source,
        },
    )?;
    let dtr_rustls = RustlsConfig::from_config(Arc::new(dtr_tls));

    // UCP's own client certificate, which DTR's auth bypass accepts once it
    // trusts the cluster root CA (step 4): what UCP presents to get tokens
    // for the engines behind it (`ucp_engines.rs`).
    let identity = pki
        .issue_cluster_identity(UCP_IDENTITY_CN, crate::pki::NODE_IDENTITY_OU)
        .map_err(|e| StartError::Config {
            reason: format!("cannot issue UCP's client certificate: {e}"),
        })?;
    let front = ucp_engines::Front::new(
        dtr_host.clone(),
        dtr_addr,
        format!("{}\n{}", identity.cert_pem, identity.key_pem).into_bytes(),
    );
    let ucp_state = ucp::UcpState::new(
        cfg.flavor,
        accounts.clone(),
        pki.clone(),
        ucp_host.clone(),
        front,
    );
    let ucp_router = ucp::router(Arc::clone(&ucp_state));
    let dtr_state = dtr::DtrState::new(dtr::DtrSetup {
        flavor: cfg.flavor,
        accounts,
        organizations: cfg.organizations.clone(),
        dtr_host: dtr_host.clone(),
        https_port: dtr_addr.port(),
        pki,
        tls: dtr_rustls.clone(),
    });
    let dtr_router = dtr::router(Arc::clone(&dtr_state));

    let ucp = serve(
        ucp_listener,
        RustlsConfig::from_config(Arc::new(ucp_tls)),
        ucp_router,
    )
    .map_err(|source| StartError::Bind {
        server: "UCP",
        addr: ucp_addr,
        source,
    })?;
    let dtr = match serve(dtr_listener, dtr_rustls, dtr_router) {
        Ok(dtr) => dtr,
        Err(source) => {
            ucp.stop().await;
            return Err(StartError::Bind {
                server: "DTR",
                addr: dtr_addr,
                source,
            });
        }
    };
    Ok(ApiServers {
        flavor: cfg.flavor,
        ucp,
        dtr,
        ucp_host,
        dtr_host,
        ucp_state,
        dtr_state,
        ucp_ca: pki.cluster_root_ca().cert_pem().to_owned(),
    })
}

fn bind(server: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).map_err(|source| StartError::Bind {
        server,
        addr,
        source,
    })
}

fn local_addr(
    server: &'static str,
    addr: SocketAddr,
    listener: &TcpListener,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        server,
        addr,
        source,
    })
}

/// One server running in a background task.
struct RunningServer {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: JoinHandle<io::Result<()>>,
}

/// How long open connections get to finish when the lab stops.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

fn serve(listener: TcpListener, tls: RustlsConfig, router: Router) -> io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle.clone());
    let task = tokio::spawn(server.serve(router.into_make_service()));
    Ok(RunningServer { addr, handle, task })
}

impl RunningServer {
    async fn stop(mut self) {
        // The handle's notification reaches only a server that is already
        // waiting for it, so a server that has not been polled yet would
        // miss a single request; asking again until the task ends closes
        // that race. The task is aborted if it still runs after the grace.
        for _ in 0..40 {
            self.handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
            if tokio::time::timeout(Duration::from_millis(50), &mut self.task)
                .await
                .is_ok()
            {
                return;
            }
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningServer {
    // A lab dropped on an error path must not leave servers running; after
    // `stop` this is a no-op on a finished task.
    fn drop(&mut self) {
        self.handle.shutdown();
        self.task.abort();
    }
}

/// The lab's accounts from its configuration, which must name two
/// different users with passwords.
fn accounts(cfg: &ApiConfig) -> Result<Accounts, StartError> {
    let config = |reason: &str| StartError::Config {
        reason: reason.to_owned(),
    };
    if cfg.admin_user.is_empty() || cfg.dtr_user.is_empty() {
        return Err(config("user names must not be empty"));
    }
    if cfg.admin_user == cfg.dtr_user {
        return Err(config("the admin and the non-admin user must differ"));
    }
    if cfg.admin_password.is_empty() || cfg.dtr_user_password.is_empty() {
        return Err(config("passwords must not be empty"));
    }
    Ok(Accounts::new(
        (cfg.admin_user.clone(), cfg.admin_password.clone()),
        (cfg.dtr_user.clone(), cfg.dtr_user_password.clone()),
    ))
}
