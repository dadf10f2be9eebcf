//! A typed client for the UCP (MKE) API.

/// The JSON field of UCP 1.x `POST /api/config/registry` that carries the
/// uploaded DTR CA. No public source names it (ucp-dtr-api.md §2 and open
/// question 1), so this is our choice; the client and the lab simulator both
/// use this one constant.
pub const REGISTRY_CA_FIELD: &str = "caBundle";
