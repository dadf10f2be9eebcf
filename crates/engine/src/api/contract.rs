//! The inventory contract of the integration: which variables describe UCP,
//! DTR and the nodes, their defaults, and how a task argument falls back to
//! its variable. The five integration tasks and `doctor` read their settings
//! only through here, so the contract is written down once.
//!
//! | variable | meaning |
//! |---|---|
//! | `ucp_url`, `ucp_username`, `ucp_password` | UCP API and an admin account |
//! | `dtr_url`, `dtr_username`, `dtr_password` | DTR API and an admin account |
//! | `ucp_ca_file`, `dtr_ca_file` | CA to verify each API's TLS with (default: system store) |
//! | `ucp_ca_fingerprint`, `dtr_ca_fingerprint` | SHA-256 pins of the two CAs |
//! | `docker_certs_dir` | default `/etc/docker/certs.d` |
//! | `push_test_repo` | default `<dtr_username>/hello-world` |
//! | `ucp_flavor` | `ucp1` or `ucp3`; detected when absent |
//! | `ucp_client_bundle` | optional unzipped client bundle directory: UCP calls authenticate with its certificate instead of a password |
//!
//! Lookups go through a closure so that tasks (host variables, rendered by
//! the executor's evaluator) and `doctor` (inventory variables) share it.

use serde_json::Value;

use crate::api::tls::{ClientIdentity, Trust};
use crate::api::{ApiError, Flavor, Service};

/// Every variable of the contract.
pub const VARIABLES: &[&str] = &[
    "ucp_url",
    "ucp_username",
    "ucp_password",
    "ucp_ca_file",
    "ucp_ca_fingerprint",
    "ucp_client_bundle",
    "ucp_flavor",
    "dtr_url",
    "dtr_username",
    "dtr_password",
    "dtr_ca_file",
    "dtr_ca_fingerprint",
    "docker_certs_dir",
    "container_runtime",
    "containerd_certs_dir",
    "containerd_cri_dropin",
    "push_test_repo",
];

/// The default of `docker_certs_dir`.
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

/// Looks a variable up, rendered; `Err` carries why rendering failed.
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Result<Option<Value>, String> + Sync);

/// Why the settings are incomplete or invalid.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "`{name}` is not set: give it as a task argument or set the inventory variable `{name}`"
    )]
    Missing { name: String },
    #[error("`{name}` must be a string")]
    NotText { name: String },
    #[error("cannot evaluate the variable `{name}`: {reason}")]
    Eval { name: String, reason: String },
    #[error("`ucp_flavor` must be `ucp1` or `ucp3`, not `{value}`")]
    Flavor { value: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A text setting: the task's argument if given, else the variable.
pub fn text(
    arg: Option<&str>,
    name: &str,
    lookup: Lookup<'_>,
) -> Result<Option<String>, SettingsError> {
    if let Some(arg) = arg.filter(|a| !a.trim().is_empty()) {
        return Ok(Some(arg.to_string()));
    }
    match lookup(name) {
        Ok(None) | Ok(Some(Value::Null)) => Ok(None),
        Ok(Some(Value::String(s))) if s.trim().is_empty() => Ok(None),
        Ok(Some(Value::String(s))) => Ok(Some(s)),
        Ok(Some(Value::Number(n))) => Ok(Some(n.to_string())),
        Ok(Some(_)) => Err(SettingsError::NotText { name: name.into() }),
        Err(reason) => Err(SettingsError::Eval {
            name: name.into(),
            reason,
        }),
    }
}

/// A required text setting.
pub fn required(
    arg: Option<&str>,
    name: &str,
    lookup: Lookup<'_>,
) -> Result<String, SettingsError> {
    text(arg, name, lookup)?.ok_or_else(|| SettingsError::Missing { name: name.into() })
}

/// How to reach and authenticate to UCP.
#[derive(Clone)]
pub struct UcpAccess {
    pub url: String,
    pub trust: Trust,
    pub auth: UcpAuth,
}

/// How dtrplay authenticates to UCP.
#[derive(Clone)]
pub enum UcpAuth {
    Password { user: String, password: String },
    Bundle(ClientIdentity),
}

impl std::fmt::Debug for UcpAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UcpAccess")
            .field("url", &self.url)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// Task arguments that override the UCP variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct UcpArgs<'a> {
    pub url: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub ca_file: Option<&'a str>,
}

impl UcpAccess {
    pub fn resolve(args: UcpArgs<'_>, lookup: Lookup<'_>) -> Result<UcpAccess, SettingsError> {
        let url = required(args.url, "ucp_url", lookup)?;
        let ca_file = text(args.ca_file, "ucp_ca_file", lookup)?;
        let pin = text(None, "ucp_ca_fingerprint", lookup)?;
        let trust = Trust::from_settings(Service::Ucp, ca_file.as_deref(), pin.as_deref())?;
        let password = text(args.password, "ucp_password", lookup)?;
        let bundle = text(None, "ucp_client_bundle", lookup)?;
        let auth = match (password, bundle) {
            (Some(password), _) => UcpAuth::Password {
                user: required(args.username, "ucp_username", lookup)?,
                password,
            },
            (None, Some(dir)) => UcpAuth::Bundle(ClientIdentity::from_bundle_dir(
                Service::Ucp,
                std::path::Path::new(&dir),
            )?),
            (None, None) => {
                return Err(SettingsError::Missing {
                    name: "ucp_password".into(),
                });
            }
        };
        Ok(UcpAccess { url, trust, auth })
    }

    /// Connects and authenticates.
    pub async fn connect(&self) -> Result<crate::api::ucp::Ucp, ApiError> {
        match &self.auth {
            UcpAuth::Password { user, password } => {
                let mut ucp = crate::api::ucp::Ucp::connect(&self.url, &self.trust, None).await?;
                ucp.login(user, password).await?;
                Ok(ucp)
            }
            UcpAuth::Bundle(identity) => {
                crate::api::ucp::Ucp::connect(&self.url, &self.trust, Some(identity)).await
            }
        }
    }
}

/// How to reach and authenticate to DTR.
#[derive(Clone)]
pub struct DtrAccess {
    pub url: String,
    pub ca_file: Option<String>,
    pub pin: Option<String>,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for DtrAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtrAccess")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("pin", &self.pin)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Task arguments that override the DTR variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct DtrArgs<'a> {
    pub url: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub ca_file: Option<&'a str>,
}

impl DtrAccess {
    /// DTR settings; credentials are needed only when `with_credentials`.
    pub fn resolve(
        args: DtrArgs<'_>,
        lookup: Lookup<'_>,
        with_credentials: bool,
    ) -> Result<DtrAccess, SettingsError> {
        let url = required(args.url, "dtr_url", lookup)?;
        let ca_file = text(args.ca_file, "dtr_ca_file", lookup)?;
        let pin = text(None, "dtr_ca_fingerprint", lookup)?;
        let (user, password) = if with_credentials {
            (
                required(args.username, "dtr_username", lookup)?,
                required(args.password, "dtr_password", lookup)?,
            )
        } else {
            (
                text(args.username, "dtr_username", lookup)?.unwrap_or_default(),
                text(args.password, "dtr_password", lookup)?.unwrap_or_default(),
            )
        };
        Ok(DtrAccess {
            url,
            ca_file,
            pin,
            user,
            password,
        })
    }

    pub fn trust(&self) -> Result<Trust, ApiError> {
        Trust::from_settings(Service::Dtr, self.ca_file.as_deref(), self.pin.as_deref())
    }

    /// Where the DTR CA comes from (step 2).
    pub fn ca_source(&self) -> crate::api::dtr_ca::DtrCaSource {
        crate::api::dtr_ca::DtrCaSource {
            url: self.url.clone(),
            ca_file: self.ca_file.clone(),
            pin: self.pin.clone(),
            credentials: (!self.user.is_empty() && !self.password.is_empty())
                .then(|| (self.user.clone(), self.password.clone())),
        }
    }

    pub async fn connect(&self) -> Result<crate::api::dtr::Dtr, ApiError> {
        crate::api::dtr::Dtr::connect(&self.url, &self.trust()?, &self.user, &self.password).await
    }
}

/// `ucp_flavor`, when set.
pub fn flavor(arg: Option<&str>, lookup: Lookup<'_>) -> Result<Option<Flavor>, SettingsError> {
    match text(arg, "ucp_flavor", lookup)? {
        None => Ok(None),
        Some(value) => Flavor::parse(&value)
            .map(Some)
            .ok_or(SettingsError::Flavor { value }),
    }
}

/// `docker_certs_dir`, defaulted.
pub fn certs_dir(arg: Option<&str>, lookup: Lookup<'_>) -> Result<String, SettingsError> {
    Ok(text(arg, "docker_certs_dir", lookup)?.unwrap_or_else(|| DEFAULT_CERTS_DIR.to_string()))
}

/// `push_test_repo`, defaulted to `<dtr_username>/hello-world`.
pub fn push_test_repo(arg: Option<&str>, lookup: Lookup<'_>) -> Result<String, SettingsError> {
    if let Some(repo) = text(arg, "push_test_repo", lookup)? {
        return Ok(repo);
    }
    let user = required(None, "dtr_username", lookup)?;
    Ok(format!("{user}/hello-world"))
}

/// A lookup over a task's host variables. A variable whose value is still a
/// template (`"{{ lookup('env', 'DTR_PASSWORD') }}"`) is rendered through
/// the executor's evaluator, so secrets kept out of the inventory work.
pub fn context_lookup<'a>(
    cx: &'a crate::task::Context<'_>,
) -> impl Fn(&str) -> Result<Option<Value>, String> + Sync + 'a {
    move |name: &str| match cx.var(name) {
        None => Ok(None),
        Some(Value::String(s)) if is_template(s) => {
            let mut value = (cx.eval)(name)?;
            // An evaluator that does not render variables lazily hands the
            // template back; a whole-value `{{ expr }}` is then evaluated
            // here, a few levels deep at most.
            for _ in 0..4 {
                let Value::String(text) = &value else { break };
                if !is_template(text) {
                    break;
                }
                let Some(expr) = whole_expression(text) else {
                    return Err("its value is a template that mixes text and expressions; write it as one `{{ ... }}` expression".to_string());
                };
                value = (cx.eval)(expr)?;
            }
            Ok(Some(value))
        }
        Some(value) => Ok(Some(value.clone())),
    }
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// `expr` of a value that is exactly `{{ expr }}`.
fn whole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// A lookup over a plain map of already rendered variables.
pub fn map_lookup(
    vars: &serde_json::Map<String, Value>,
) -> impl Fn(&str) -> Result<Option<Value>, String> + Sync + '_ {
    move |name: &str| Ok(vars.get(name).cloned())
}
