//! The lab: a local UCP + DTR + nodes rehearsal cluster (`dtrplay lab`).

pub mod apis;
pub mod daemon;
pub mod docker;
pub mod dtr;
pub mod inventory;
pub mod node;
pub mod pki;
pub mod registry;
pub mod state;
pub mod ucp;

/// Which UCP/DTR generation the lab models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// UCP 1.1 + DTR 2.0: UCP learns about DTR through `/api/config/registry`,
    /// and DTR trusts UCP through the `authBypassCA` setting.
    Ucp1,
    /// UCP 3.x / MKE + DTR 2.5+ / MSR: UCP learns about DTR through
    /// `/api/config/trustedregistry_`, and DTR trusts UCP from its installation
    /// (`dtr install --ucp-ca`); its settings API has no `authBypassCA`.
    Ucp3,
}
