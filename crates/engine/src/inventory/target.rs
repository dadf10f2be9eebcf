//! From a host's variables to how to reach it (`connection::Target`).
//!
//! The connection variables are ordinary inventory variables; this is the
//! one place that reads them, with Ansible's names and aliases
//! (`ansible_host`/`ansible_ssh_host`, …; when both are set the alias wins,
//! as in Ansible's ssh plugin) and Ansible's rules: the address defaults to
//! the inventory name, `ansible_ssh_common_args` and
//! `ansible_ssh_extra_args` are split like a shell command line, and a
//! relative `ansible_ssh_private_key_file` is relative to the current
//! directory. A bad value is an error pointing at where it was written.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value as J;

use super::{Inventory, VarValue, shlex};
use crate::connection::{SshClient, Target, Transport};
use crate::error::InputError;
use crate::source::SourceFile;
use crate::yaml::Node;
use miette::SourceSpan;

impl Inventory {
    /// The target for `host`, from its (already templated) variables, such
    /// as those `host_vars` returns after rendering.
    pub fn target(
        &self,
        host: &str,
        vars: &IndexMap<String, VarValue>,
    ) -> Result<Target, InputError> {
        target(host, vars)
    }

    /// The variables a host is reached with: its own, with the extra
    /// variables (`-e`) laid over them, as Ansible gives `-e
    /// ansible_user=...` the highest precedence for connecting too. An
    /// extra variable points at a source named after the command line, so
    /// that a bad value (`-e ansible_port=x`) says where it came from.
    pub fn connection_vars(
        &self,
        host: &str,
        extra: &serde_json::Map<String, J>,
    ) -> IndexMap<String, VarValue> {
        let mut vars = self.host_vars(host);
        for (name, value) in extra {
            let text = format!("-e {name}={value}");
            let src = SourceFile::new("the command line", text.as_str());
            let start = name.len() + 4;
            let span = SourceSpan::from((start, text.len() - start));
            let node = Node::from_json(value, span, &src);
            vars.insert(name.clone(), VarValue::new(value.clone(), node));
        }
        vars
    }
}

/// The variables `target` reads. Ansible renders these before it
/// connects, so they may be templates over the host's other variables.
const CONNECTION_VARS: [&str; 14] = [
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_private_key_file",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_connection",
    "dtrplay_ssh_client",
];

/// Whether a connection variable is written as a template.
fn is_templated(name: &str, value: &VarValue) -> bool {
    CONNECTION_VARS.contains(&name)
        && matches!(value.value(), J::String(s) if crate::yaml::is_template(s))
}

/// Replaces each templated connection variable with what `render` makes
/// of it (the host's other variables are in scope, as in Ansible),
/// keeping where it was written, so that a bad result still points there.
pub fn render_connection_vars<E>(
    vars: &mut IndexMap<String, VarValue>,
    mut render: impl FnMut(&str, &VarValue) -> Result<J, E>,
) -> Result<(), E> {
    for (name, value) in vars.iter_mut() {
        if is_templated(name, value) {
            *value = VarValue::new(render(name, value)?, value.origin().clone());
        }
    }
    Ok(())
}

/// The connection variables without the templated ones, which only a run
/// can render: `validate` checks what is written literally and leaves the
/// rest to the run, which checks the rendered value the same way.
pub fn literal_connection_vars(mut vars: IndexMap<String, VarValue>) -> IndexMap<String, VarValue> {
    vars.retain(|name, value| !is_templated(name, value));
    vars
}

fn target(host: &str, vars: &IndexMap<String, VarValue>) -> Result<Target, InputError> {
    let last = |names: &[&str]| names.iter().rev().find_map(|n| vars.get(*n));
    let address = match last(&["ansible_host", "ansible_ssh_host"]) {
        Some(v) => address(v)?,
        None => host.to_string(),
    };
    let port = last(&["ansible_port", "ansible_ssh_port"])
        .map(port)
        .transpose()?;
    let user = last(&["ansible_user", "ansible_ssh_user"])
        .map(|v| text(v, "ansible_user"))
        .transpose()?;
    let key_file = last(&["ansible_private_key_file", "ansible_ssh_private_key_file"])
        .map(|v| text(v, "ansible_ssh_private_key_file").map(|p| key_path(&p)))
        .transpose()?;
    let mut ssh_args = Vec::new();
    for name in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(v) = vars.get(name) {
            ssh_args.extend(words(v, name)?);
        }
    }
    if let Some(v) = last(&["ansible_host_key_checking", "ansible_ssh_host_key_checking"]) {
        let on = match v.value() {
            J::Bool(b) => Some(*b),
            J::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Some(true),
                "false" | "no" | "off" | "0" => Some(false),
                _ => None,
            },
            J::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
            _ => None,
        };
        match on {
            // As ansible.cfg's host_key_checking (config.rs), after the
            // host's own arguments, so that their StrictHostKeyChecking
            // wins: ssh keeps the first value.
            Some(false) => {
                ssh_args.extend(["-o".to_string(), "StrictHostKeyChecking=no".to_string()])
            }
            Some(true) => {}
            None => {
                return Err(InputError::at(
                    v.origin(),
                    "`ansible_host_key_checking` must be a boolean",
                )
                .with_label(format!("found {}", v.value()))
                .with_help("write true (check host keys against known_hosts) or false"));
            }
        }
    }
    let transport = match vars.get("ansible_connection") {
        None => Transport::Ssh,
        Some(v) => match text(v, "ansible_connection")?.as_str() {
            "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh" => Transport::Ssh,
            "local" | "ansible.builtin.local" => Transport::Local,
            other => {
                return Err(InputError::at(
                    v.origin(),
                    format!("connection type `{other}` is not supported"),
                )
                .with_label("expected `ssh` or `local`")
                .with_help(
                    "dtrplay reaches hosts over SSH, or runs on this machine with `local`",
                ));
            }
        },
    };
    let ssh_client = match vars.get("dtrplay_ssh_client") {
        None => None,
        Some(v) => {
            let value = text(v, "dtrplay_ssh_client")?;
            Some(SshClient::parse(&value).ok_or_else(|| {
                InputError::at(
                    v.origin(),
                    format!("`dtrplay_ssh_client` cannot be `{value}`"),
                )
                .with_label("expected `auto`, `native` or `openssh`")
                .with_help("`auto` uses the built-in SSH client where it understands the host's ssh configuration, and the system `ssh` elsewhere")
            })?)
        }
    };
    Ok(Target {
        name: host.to_string(),
        address,
        port,
        user,
        key_file,
        ssh_args,
        transport,
        ssh_client,
    })
}

/// A scalar variable as text (Ansible stringifies numbers here too).
fn text(v: &VarValue, name: &str) -> Result<String, InputError> {
    match v.value() {
        // Templates are rendered before this (`render_connection_vars`);
        // one that is still here would reach ssh as its literal text.
        J::String(s) if crate::yaml::is_template(s) => Err(InputError::at(
            v.origin(),
            format!("`{name}` is still a template after rendering"),
        )
        .with_label("templated")
        .with_help("make the template render to the value itself (a name, an address, a number)")),
        J::String(s) => Ok(s.clone()),
        J::Number(n) => Ok(n.to_string()),
        J::Bool(b) => Ok(b.to_string()),
        other => Err(
            InputError::at(v.origin(), format!("`{name}` must be a string"))
                .with_label(format!("found {}", json_kind(other))),
        ),
    }
}

/// `ansible_host`: a host name or an address, which ssh is given as one
/// argument. Whitespace, a leading `-` (which ssh would read as an option)
/// and punctuation no name or address has are refused where written.
fn address(v: &VarValue) -> Result<String, InputError> {
    let text = text(v, "ansible_host")?;
    let allowed =
        |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%' | '[' | ']');
    let problem = if text.is_empty() {
        Some("it is empty".to_string())
    } else if text.starts_with('-') {
        Some("it starts with `-`, which ssh would read as an option".to_string())
    } else {
        text.chars()
            .find(|&c| !allowed(c))
            .map(|c| format!("it contains {c:?}"))
    };
    match problem {
        None => Ok(text),
        Some(why) => Err(InputError::at(
            v.origin(),
            format!("`ansible_host` must be a host name or an address: {why}"),
        )
        .with_label(format!("found {:?}", text))
        .with_help("write a DNS name (`ucp1.example.com`), an IPv4 address (`10.0.0.5`) or an IPv6 address (`fd00::5`)")),
    }
}

fn port(v: &VarValue) -> Result<u16, InputError> {
    let parsed = match v.value() {
        J::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        J::String(s) => s.trim().parse::<u16>().ok(),
        _ => None,
    };
    parsed.filter(|&p| p != 0).ok_or_else(|| {
        InputError::at(v.origin(), "`ansible_port` must be a port number")
            .with_label(format!(
                "expected a number from 1 to 65535, found {}",
                v.value()
            ))
            .with_help("SSH listens on port 22 unless configured otherwise")
    })
}

fn words(v: &VarValue, name: &str) -> Result<Vec<String>, InputError> {
    let line = text(v, name)?;
    let words = shlex::split(&line, false).map_err(|err| {
        InputError::at(
            v.origin(),
            format!("cannot split `{name}` into arguments: {err}"),
        )
        .with_label("unbalanced quotes")
        .with_help("close the quote, or escape it with a backslash")
    })?;
    Ok(words
        .into_iter()
        .map(|w| w.text.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect())
}

/// Expands `~/` and makes a relative path absolute from the current
/// directory, where Ansible resolves it.
fn key_path(text: &str) -> PathBuf {
    let expanded = match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    };
    if expanded.is_absolute() {
        return expanded;
    }
    std::env::current_dir().map_or(expanded.clone(), |cwd| cwd.join(&expanded))
}

fn json_kind(value: &J) -> &'static str {
    match value {
        J::Null => "nothing (null)",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "a list",
        J::Object(_) => "a mapping",
    }
}
