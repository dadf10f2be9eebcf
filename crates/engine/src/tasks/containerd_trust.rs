//! Step 5 for containerd: the `hosts.toml` that makes containerd trust
//! DTR's CA, and the CRI drop-in that points containerd's CRI plugin at the
//! hosts directory (`node_runtime.rs` says where each lives).
//!
//! `copy-ca-crt` writes three files for a containerd node:
//! `<certs.d>/<host[:port]>/ca.crt` (DTR's CA, as for Docker),
//! `<certs.d>/<host[:port]>/hosts.toml` naming it, and the drop-in. What is
//! on the node is judged by meaning, not bytes: a `hosts.toml` written by
//! hand that already trusts the same CA file for DTR, or a drop-in that
//! already sets the same `config_path`, is left alone.
//!
//! containerd reads the hosts directory on every pull (no restart), and
//! looks for `<host>_<port>_`, then `<host>:<port>`, then `_default`; the
//! files go to `<host>:<port>`, the name Docker uses too. The drop-in is
//! read when containerd starts.

use toml::Value;

use crate::tasks::node_runtime::Containerd;

/// The `hosts.toml` that trusts `ca_path` for `registry_host`.
///
/// containerd tries the `[host]` entries first and then `server`, whose
/// TLS settings are the top-level keys; both name the CA, or a pull that
/// DTR refuses on the first would end with a misleading x509 error from
/// the second.
pub fn hosts_toml(registry_host: &str, ca_path: &str) -> String {
    format!(
        "# Written by dtrplay (copy-ca-crt, step 5): containerd trusts DTR's CA for {host}.\n\
         server = \"https://{host}\"\n\
         ca = \"{ca}\"\n\
         \n\
         [host.\"https://{host}\"]\n\
         \x20 capabilities = [\"pull\", \"resolve\"]\n\
         \x20 ca = \"{ca}\"\n",
        host = toml_escape(registry_host),
        ca = toml_escape(ca_path),
    )
}

/// The CRI drop-in that sets `config_path` to `certs_dir` for `containerd`.
pub fn dropin(containerd: &Containerd, certs_dir: &str) -> String {
    format!(
        "# Written by dtrplay (copy-ca-crt, step 5): containerd's CRI plugin reads registry hosts from {dir}.\n\
         version = {version}\n\
         \n\
         [plugins.\"{plugin}\".registry]\n\
         \x20 config_path = \"{dir}\"\n",
        dir = toml_escape(certs_dir),
        version = containerd.config_version(),
        plugin = containerd.cri_plugin(),
    )
}

fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Why a node's step-5 file does not make containerd (or Docker) trust
/// DTR, as a clause: "it has no …", for diffs and doctor's causes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("it is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("it has no [host.\"{key}\"] section")]
    NoHost { key: String },
    #[error("[host.\"{key}\"] names no ca")]
    NoCa { key: String },
    #[error("[host.\"{key}\"] names ca {cas:?}, not {ca_path}")]
    OtherCa {
        key: String,
        cas: Vec<String>,
        ca_path: String,
    },
    #[error(
        "[host.\"{key}\"] lacks the `{capability}` capability, so containerd cannot pull from DTR"
    )]
    Capability {
        key: String,
        capability: &'static str,
    },
    #[error("it sets config_path = \"{path}\" for {plugin}, not {certs_dir}")]
    OtherConfigPath {
        path: String,
        plugin: &'static str,
        certs_dir: String,
    },
    #[error(
        "it sets no [plugins.\"{plugin}\".registry] config_path (containerd {version} names the CRI plugin so)"
    )]
    NoConfigPath {
        plugin: &'static str,
        version: String,
    },
    /// Docker's `ca.crt` holds a certificate other than DTR's CA.
    #[error("it holds another certificate")]
    OtherCertificate,
}

/// Whether `text` (a node's `hosts.toml` in `dir`) trusts `ca_path` for
/// `registry_host`; `Err` says what is wrong, for diffs and doctor.
pub fn hosts_toml_trusts(
    text: &str,
    dir: &str,
    registry_host: &str,
    ca_path: &str,
) -> Result<(), Untrusted> {
    let doc: Value = toml::from_str(text)?;
    let key = format!("https://{registry_host}");
    // A file with only `server` and a top-level `ca` trusts DTR too.
    let host = match doc.get("host").and_then(|h| h.get(&key)) {
        Some(host) => host,
        None if doc.get("server").and_then(Value::as_str) == Some(key.as_str()) => &doc,
        None => return Err(Untrusted::NoHost { key }),
    };
    // `ca` is a path or a list of paths; relative ones resolve against the
    // hosts.toml's directory, as containerd resolves them.
    let cas: Vec<String> = match host.get("ca") {
        Some(Value::String(path)) => vec![path.clone()],
        Some(Value::Array(paths)) => paths
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let absolute = |path: &str| {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", dir.trim_end_matches('/'))
        }
    };
    if !cas.iter().any(|p| absolute(p) == ca_path) {
        return Err(match cas.is_empty() {
            true => Untrusted::NoCa { key },
            false => Untrusted::OtherCa {
                key,
                cas,
                ca_path: ca_path.to_string(),
            },
        });
    }
    // Without `capabilities`, containerd allows everything; with them,
    // pulling needs both of these.
    if let Some(Value::Array(caps)) = host.get("capabilities") {
        for needed in ["pull", "resolve"] {
            if !caps.iter().any(|c| c.as_str() == Some(needed)) {
                return Err(Untrusted::Capability {
                    key,
                    capability: needed,
                });
            }
        }
    }
    Ok(())
}

/// The `config_path` that a drop-in (or `containerd config dump`'s output)
/// sets for `containerd`'s CRI plugin.
pub fn config_path(text: &str, containerd: &Containerd) -> Result<Option<String>, Untrusted> {
    let doc: Value = toml::from_str(text)?;
    Ok(doc
        .get("plugins")
        .and_then(|p| p.get(containerd.cri_plugin()))
        .and_then(|p| p.get("registry"))
        .and_then(|r| r.get("config_path"))
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// Whether a drop-in sets `config_path` to `certs_dir`; `Err` says why not.
pub fn dropin_sets(text: &str, containerd: &Containerd, certs_dir: &str) -> Result<(), Untrusted> {
    let plugin = containerd.cri_plugin();
    match config_path(text, containerd)? {
        Some(path) if same_dir(&path, certs_dir) => Ok(()),
        Some(path) => Err(Untrusted::OtherConfigPath {
            path,
            plugin,
            certs_dir: certs_dir.to_string(),
        }),
        None => Err(Untrusted::NoConfigPath {
            plugin,
            version: containerd.version.clone(),
        }),
    }
}

fn same_dir(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The read-only `containerd config dump` of the node's main configuration,
/// which shows whether containerd actually imports the drop-in.
pub fn config_dump_script(containerd: &Containerd) -> String {
    format!(
        "exec {} --config {} config dump\n",
        crate::tasks::dump_certs::shell_quote(&containerd.binary),
        crate::tasks::dump_certs::shell_quote(containerd.main_config()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::node_runtime::Layout;

    fn containerd(major: u32) -> Containerd {
        Containerd {
            layout: Layout::K0s,
            binary: "/usr/bin/containerd".into(),
            version: format!("{major}.0.0"),
            major,
        }
    }

    #[test]
    fn what_is_written_is_what_is_recognised() {
        let dir = "/etc/k0s/containerd.d/certs.d/dtr.lab.test:4443";
        let ca = format!("{dir}/ca.crt");
        let text = hosts_toml("dtr.lab.test:4443", &ca);
        assert_eq!(
            hosts_toml_trusts(&text, dir, "dtr.lab.test:4443", &ca),
            Ok(())
        );
        assert!(hosts_toml_trusts(&text, dir, "other:1", &ca).is_err());
        // A hand-written file with a relative path and no capabilities.
        let hand = "[host.\"https://dtr.lab.test:4443\"]\nca = \"ca.crt\"\n";
        assert_eq!(
            hosts_toml_trusts(hand, dir, "dtr.lab.test:4443", &ca),
            Ok(())
        );
        let push_only =
            "[host.\"https://dtr.lab.test:4443\"]\nca = \"ca.crt\"\ncapabilities = [\"push\"]\n";
        assert!(hosts_toml_trusts(push_only, dir, "dtr.lab.test:4443", &ca).is_err());
        for major in [1, 2] {
            let c = containerd(major);
            let d = dropin(&c, "/etc/k0s/containerd.d/certs.d");
            assert_eq!(
                dropin_sets(&d, &c, "/etc/k0s/containerd.d/certs.d/"),
                Ok(())
            );
            let other = containerd(3 - major);
            assert!(dropin_sets(&d, &other, "/etc/k0s/containerd.d/certs.d").is_err());
        }
        assert!(dropin(&containerd(2), "/x").contains("version = 3\n"));
        assert!(dropin(&containerd(1), "/x").contains("io.containerd.grpc.v1.cri"));
    }
}
