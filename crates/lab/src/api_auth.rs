//! The simulators' accounts and how requests authenticate: Basic
//! credentials, bearer tokens, and the random tokens and IDs they hand out.

use axum::http::{HeaderMap, header};
use base64::Engine;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Admin,
    User,
}

/// The lab's two accounts, shared by UCP and DTR.
#[derive(Clone)]
pub(crate) struct Accounts {
    admin: (String, String),
    user: (String, String),
}

impl Accounts {
    pub(crate) fn new(admin: (String, String), user: (String, String)) -> Accounts {
        Accounts { admin, user }
    }

    /// The role of `name` if it is an account.
    pub(crate) fn role(&self, name: &str) -> Option<Role> {
        if name == self.admin.0 {
            Some(Role::Admin)
        } else if name == self.user.0 {
            Some(Role::User)
        } else {
            None
        }
    }

    /// The role of `name` if `password` is its password.
    pub(crate) fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let role = self.role(name)?;
        let expected = match role {
            Role::Admin => &self.admin.1,
            Role::User => &self.user.1,
        };
        (expected == password).then_some(role)
    }
}

/// The outcome of reading an `Authorization: Basic` header.
pub(crate) enum BasicAuth {
    /// No `Authorization` header at all.
    Absent,
    /// A header that is not well-formed Basic credentials.
    Malformed,
    /// A user name and password.
    Credentials { user: String, password: String },
}

pub(crate) fn basic_auth(headers: &HeaderMap) -> BasicAuth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return BasicAuth::Absent;
    };
    let Some(encoded) = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))
    }) else {
        return BasicAuth::Malformed;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        Some((user, password)) => BasicAuth::Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        },
        None => BasicAuth::Malformed,
    }
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// 32 random bytes, hex encoded: tokens, IDs and upload UUIDs.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    dtrplay_tls::provider()
        .secure_random
        .fill(&mut buf)
        .expect("the operating system's random number generator is available");
    hex::encode(buf)
}
