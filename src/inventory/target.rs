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
}

fn target(host: &str, vars: &IndexMap<String, VarValue>) -> Result<Target, InputError> {
    let last = |names: &[&str]| names.iter().rev().find_map(|n| vars.get(*n));
    let address = match last(&["ansible_host", "ansible_ssh_host"]) {
        Some(v) => text(v, "ansible_host")?,
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
        J::String(s) => Ok(s.clone()),
        J::Number(n) => Ok(n.to_string()),
        J::Bool(b) => Ok(b.to_string()),
        other => Err(
            InputError::at(v.origin(), format!("`{name}` must be a string"))
                .with_label(format!("found {}", json_kind(other))),
        ),
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
