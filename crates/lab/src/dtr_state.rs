//! The DTR simulator's state: its settings, repositories, accounts and the
//! registry's store, shared by DTR's API (`dtr.rs`) and the registry
//! (`registry.rs`), which both sit above it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum_server::tls_rustls::RustlsConfig;

use crate::Flavor;
use crate::api_auth::{Accounts, random_hex};
use crate::api_http::lock;
use crate::pki::{LabPki, parse_certificates};
use crate::registry_store::{RegistryStore, TokenGrant};

/// DTR's `DefaultAuthBypassOU` (ucp-dtr-api.md §5).
pub const DEFAULT_AUTH_BYPASS_OU: &str = "ucp";

/// DTR's settings, the union of both flavors' fields.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) dtr_host: String,
    pub(crate) auth_bypass_ca: String,
    pub(crate) auth_bypass_ou: String,
    pub(crate) disable_upgrades: bool,
    pub(crate) report_analytics: bool,
    pub(crate) anonymize_analytics: bool,
    pub(crate) release_channel: String,
    pub(crate) web_tls_cert: String,
    pub(crate) web_tls_key: String,
    pub(crate) web_tls_ca: String,
    pub(crate) gc_mode: String,
    pub(crate) disable_backup_warning: bool,
    pub(crate) job_history_to_keep: i64,
    pub(crate) sso: bool,
}

/// A repository as DTR's `responses.Repository` describes it.
#[derive(Debug, Clone)]
pub(crate) struct Repository {
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) short_description: String,
    pub(crate) long_description: String,
    pub(crate) visibility: String,
}

impl Repository {
    pub(crate) fn is_public(&self) -> bool {
        self.visibility == "public"
    }
}

/// What changes while DTR runs.
pub(crate) struct DtrInner {
    pub(crate) settings: Settings,
    /// Repositories by `namespace/name`.
    pub(crate) repositories: BTreeMap<String, Repository>,
    pub(crate) registry: RegistryStore,
    /// Registry bearer tokens and what each grants.
    pub(crate) tokens: std::collections::HashMap<String, TokenGrant>,
}

/// What [`DtrState::new`] needs.
pub(crate) struct DtrSetup<'a> {
    pub(crate) flavor: Flavor,
    pub(crate) accounts: Accounts,
    pub(crate) organizations: Vec<String>,
    pub(crate) dtr_host: String,
    pub(crate) https_port: u16,
    pub(crate) pki: &'a LabPki,
    /// The live TLS configuration, replaced when `webTLSCert` changes.
    pub(crate) tls: RustlsConfig,
}

/// The DTR simulator's state, shared with the registry.
pub(crate) struct DtrState {
    pub(crate) flavor: Flavor,
    pub(crate) accounts: Accounts,
    pub(crate) organizations: Vec<String>,
    /// `host:port` of the token realm and service.
    pub(crate) dtr_host: String,
    pub(crate) https_port: u16,
    pub(crate) replica_id: String,
    /// UCP's cluster root CA: the bypass CA preset at install time in the
    /// `Ucp3` flavor.
    pub(crate) install_ucp_ca: String,
    pub(crate) tls: RustlsConfig,
    pub(crate) inner: Mutex<DtrInner>,
}

impl DtrState {
    pub(crate) fn new(setup: DtrSetup<'_>) -> Arc<DtrState> {
        let settings = Settings {
            dtr_host: setup.dtr_host.clone(),
            auth_bypass_ca: String::new(),
            auth_bypass_ou: DEFAULT_AUTH_BYPASS_OU.to_owned(),
            disable_upgrades: false,
            report_analytics: false,
            anonymize_analytics: false,
            release_channel: "stable".to_owned(),
            web_tls_cert: setup.pki.dtr_server().cert_pem().to_owned(),
            web_tls_key: setup.pki.dtr_server().key_pem().to_owned(),
            web_tls_ca: setup.pki.dtr_ca().cert_pem().to_owned(),
            gc_mode: String::new(),
            disable_backup_warning: false,
            job_history_to_keep: 10,
            sso: false,
        };
        Arc::new(DtrState {
            flavor: setup.flavor,
            accounts: setup.accounts,
            organizations: setup.organizations,
            dtr_host: setup.dtr_host,
            https_port: setup.https_port,
            replica_id: random_hex(6),
            install_ucp_ca: setup.pki.cluster_root_ca().cert_pem().to_owned(),
            tls: setup.tls,
            inner: Mutex::new(DtrInner {
                settings,
                repositories: BTreeMap::new(),
                registry: RegistryStore::default(),
                tokens: Default::default(),
            }),
        })
    }

    /// The CA and OU that the auth bypass currently trusts, or `None` while
    /// it is off.
    pub(crate) fn bypass_trust(&self, inner: &DtrInner) -> Option<(String, String)> {
        match self.flavor {
            Flavor::Ucp1 => {
                let settings = &inner.settings;
                (!settings.auth_bypass_ca.is_empty()).then(|| {
                    (
                        settings.auth_bypass_ca.clone(),
                        settings.auth_bypass_ou.clone(),
                    )
                })
            }
            Flavor::Ucp3 => Some((
                self.install_ucp_ca.clone(),
                DEFAULT_AUTH_BYPASS_OU.to_owned(),
            )),
        }
    }

    /// Whether the auth bypass currently trusts certificates issued by the
    /// CA in `ca_pem` (UCP's cluster root CA, in practice).
    pub(crate) fn trusts(&self, ca_pem: &str) -> bool {
        let Some(wanted) = parse_certificates(ca_pem) else {
            return false;
        };
        let inner = lock(&self.inner);
        self.bypass_trust(&inner)
            .and_then(|(trusted, _)| parse_certificates(&trusted))
            .is_some_and(|trusted| wanted.iter().all(|cert| trusted.contains(cert)))
    }

    /// The repositories DTR has, as `namespace/name`.
    pub(crate) fn repository_names(&self) -> Vec<String> {
        lock(&self.inner).repositories.keys().cloned().collect()
    }

    /// Whether `name` is a user or an organization.
    pub(crate) fn account_exists(&self, name: &str) -> bool {
        self.accounts.role(name).is_some() || self.organizations.iter().any(|org| org == name)
    }
}

/// A repository name the registry accepts: lowercase alphanumerics joined
/// by single separators (distribution's path-component grammar).
pub(crate) fn is_repository_name(name: &str) -> bool {
    let valid = regex::Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
        .expect("the repository name pattern is a valid regex");
    name.len() <= 255 && valid.is_match(name)
}
