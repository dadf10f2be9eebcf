//! HTTP requests made from the host, shared by `get_url` and `uri`: the
//! host's own `curl`, driven by a configuration file (`curl -K`) that the
//! script writes with the `printf` builtin into a private temporary file.
//! Passwords, headers and bodies therefore never appear on a command line
//! (where `ps` would show them), and no interpreter is needed on the host.
//!
//! TLS is verified by default, against the host's trust store or the
//! `ca_path` file; `validate_certs: false` is the explicit opt-out, and the
//! task warns when it is used.

use serde::Deserialize;

use crate::params::{Kind, Param};
use crate::tasks::remote::printf_command;

/// The connection arguments `get_url` and `uri` share, as Ansible names them.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub url: String,
    #[serde(default = "yes")]
    pub validate_certs: bool,
    pub ca_path: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    #[serde(default)]
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub url_username: Option<String>,
    pub url_password: Option<String>,
    #[serde(default)]
    pub force_basic_auth: bool,
    pub timeout: i64,
    pub http_agent: String,
    #[serde(default = "yes")]
    pub use_proxy: bool,
}

fn yes() -> bool {
    true
}

/// The parameters behind [`Request`], with the timeout default of the task.
pub fn params(timeout: i64) -> Vec<Param> {
    vec![
        Param::new("url", Kind::Str).required(),
        Param::new("validate_certs", Kind::Bool).default(true),
        Param::new("ca_path", Kind::Path),
        Param::new("client_cert", Kind::Path),
        Param::new("client_key", Kind::Path),
        Param::new("headers", Kind::Dict),
        Param::new("url_username", Kind::Str).aliases(&["user", "username"]),
        Param::new("url_password", Kind::Str)
            .aliases(&["password"])
            .secret(),
        Param::new("force_basic_auth", Kind::Bool).default(false),
        Param::new("timeout", Kind::Int).default(timeout),
        Param::new("http_agent", Kind::Str).default("ansible-httpget"),
        Param::new("use_proxy", Kind::Bool).default(true),
    ]
}

/// A value in curl's configuration syntax: double-quoted, with `\` and `"`
/// escaped and control characters written as escapes.
pub fn config_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The URL scheme, lowercased, when it is one the task handles.
pub fn scheme_ok(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|s| lower.starts_with(s))
}

impl Request {
    /// The curl configuration lines for this request (without the output
    /// and the write-out, which each task adds), following redirects.
    pub fn config(&self) -> String {
        self.config_following(true)
    }

    /// The same, saying whether redirects are followed.
    pub fn config_following(&self, follow: bool) -> String {
        let mut c = String::new();
        c.push_str(&format!("url = {}\n", config_quote(&self.url)));
        c.push_str("silent\nshow-error\n");
        if follow {
            c.push_str("location\n");
        }
        c.push_str(&format!("max-time = {}\n", self.timeout.max(1)));
        c.push_str(&format!(
            "user-agent = {}\n",
            config_quote(&self.http_agent)
        ));
        if !self.validate_certs {
            c.push_str("insecure\n");
        }
        if let Some(ca) = &self.ca_path {
            c.push_str(&format!("cacert = {}\n", config_quote(ca)));
        }
        if let Some(cert) = &self.client_cert {
            c.push_str(&format!("cert = {}\n", config_quote(cert)));
        }
        if let Some(key) = &self.client_key {
            c.push_str(&format!("key = {}\n", config_quote(key)));
        }
        if !self.use_proxy {
            c.push_str("noproxy = \"*\"\n");
        }
        if let Some(user) = &self.url_username {
            let pass = self.url_password.as_deref().unwrap_or_default();
            c.push_str(&format!(
                "user = {}\n",
                config_quote(&format!("{user}:{pass}"))
            ));
            // curl sends credentials only after a 401 challenge unless told
            // otherwise; `basic` sends them at once, as force_basic_auth asks.
            c.push_str(if self.force_basic_auth {
                "basic\n"
            } else {
                "anyauth\n"
            });
        }
        for (name, value) in &self.headers {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            c.push_str(&format!(
                "header = {}\n",
                config_quote(&format!("{name}: {text}"))
            ));
        }
        c
    }

    /// A warning to show when certificate checks are off.
    pub fn insecure_warning(&self) -> Option<String> {
        (!self.validate_certs && self.url.to_ascii_lowercase().starts_with("https:")).then(|| {
            format!(
                "validate_certs is false: the certificate of {} is not verified",
                self.url
            )
        })
    }
}

/// Script lines that write `config` to a private temporary file named by
/// `$cfg` (removed on exit), failing with code `tmp` when that is impossible.
pub fn write_config(config: &str) -> String {
    format!(
        "cfg=$(umask 077; mktemp) || fail tmp\ntrap 'rm -f \"$cfg\"' EXIT\n{} > \"$cfg\" || fail tmp\n",
        printf_command(config.as_bytes())
    )
}

/// Script lines that fail with `nocurl` when curl is missing.
pub const NEED_CURL: &str = "command -v curl >/dev/null 2>&1 || fail nocurl\n";

/// The message for a host without curl.
pub fn no_curl(module: &str) -> String {
    format!(
        "{module} needs curl on the host (dtrplay runs no Python there); install curl, e.g. with the apt module"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted_for_curl() {
        assert_eq!(config_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(config_quote("x\ny"), r#""x\ny""#);
    }
}
