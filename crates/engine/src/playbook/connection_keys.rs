//! The play keywords that say how hosts are reached: `remote_user`, `port`
//! and `connection`.
//!
//! Ansible's precedence holds: a host's own connection variables
//! (`ansible_user`, `ansible_port`, `ansible_connection`) win over the
//! play's keywords, which win over the command line (`-u`) and the
//! settings (`remote_user` in ansible.cfg). The values may be templates,
//! rendered per host when the play opens its connections. A host whose
//! connection differs between two plays (another user, port or transport)
//! gets a connection of its own for each.

use serde_json::Value;

use crate::connection::{Target, Transport};
use crate::error::InputError;
use crate::yaml::Node;

/// A play's `remote_user`, `port` and `connection`, as written.
#[derive(Debug, Clone, Default)]
pub struct ConnectionKeys {
    pub remote_user: Option<Node>,
    pub port: Option<Node>,
    pub connection: Option<Node>,
}

/// The names `connection` accepts, with the transport each one means.
pub fn transport(name: &str) -> Option<Transport> {
    match name.trim() {
        "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh" => {
            Some(Transport::Ssh)
        }
        "local" | "ansible.builtin.local" => Some(Transport::Local),
        _ => None,
    }
}

impl ConnectionKeys {
    /// Takes `key: value` if it is one of these keywords, checking what
    /// can be checked before any host is known; returns whether it was.
    pub fn take(&mut self, key: &Node, value: &Node, errors: &mut Vec<InputError>) -> bool {
        let slot = match key.key() {
            "remote_user" => &mut self.remote_user,
            "port" => &mut self.port,
            "connection" => &mut self.connection,
            _ => return false,
        };
        if !value.has_template() {
            let json = value.to_json();
            let error = match key.key() {
                "port" => port(&json).is_none().then(|| {
                    InputError::at(value, "`port` must be a port number")
                        .with_label("expected a number from 1 to 65535")
                }),
                "connection" => json.as_str().and_then(transport).is_none().then(|| {
                    InputError::at(value, format!("connection type {json} is not supported"))
                        .with_label("expected `ssh` or `local`")
                        .with_help(
                            "dtrplay reaches hosts over SSH, or runs on this machine with `local`",
                        )
                }),
                _ => (!json.is_string()).then(|| {
                    InputError::at(value, "`remote_user` must be a user name")
                        .with_label("expected a string")
                }),
            };
            errors.extend(error);
        }
        *slot = Some(value.clone());
        true
    }

    /// Fills in what the host's own variables (`has`: whether the host
    /// sets a variable) left to the play, with the values rendered by
    /// `render`.
    pub fn apply(
        &self,
        mut target: Target,
        has: &dyn Fn(&[&str]) -> bool,
        render: &dyn Fn(&Node) -> Result<Value, InputError>,
    ) -> Result<Target, KeywordError> {
        if let Some(node) = &self.remote_user
            && !has(&["ansible_user", "ansible_ssh_user"])
        {
            let user = render(node)?;
            target.user = Some(text(&user));
        }
        if let Some(node) = &self.port
            && !has(&["ansible_port", "ansible_ssh_port"])
        {
            let value = render(node)?;
            target.port = Some(port(&value).ok_or_else(|| KeywordError::Port(text(&value)))?);
        }
        if let Some(node) = &self.connection
            && !has(&["ansible_connection"])
        {
            let value = text(&render(node)?);
            target.transport =
                transport(&value).ok_or_else(|| KeywordError::Transport(value.clone()))?;
        }
        Ok(target)
    }
}

/// Why a play's connection keyword cannot be used for a host.
#[derive(Debug, thiserror::Error)]
pub enum KeywordError {
    /// Rendering the keyword's value failed.
    #[error(transparent)]
    Render(#[from] InputError),
    /// `port` rendered to something that is not a port (the value shown).
    #[error("`port` must be a port number, not {0}")]
    Port(String),
    /// `connection` names a transport dtrplay does not have.
    #[error("connection type `{0}` is not supported")]
    Transport(String),
}

fn port(value: &Value) -> Option<u16> {
    let n = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p > 0)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}
