//! `dump-certs`: step 1 of the procedure, getting UCP's cluster root CA.
//!
//! By default it runs `docker run --rm -v /var/run/docker.sock:... docker/ucp
//! dump-certs --cluster --ca` over SSH on a UCP controller (the first host
//! of the group `ucp_controllers` unless `controller` names one), exactly as
//! the procedure tells a person to. With `source: api` it fetches
//! `GET <ucp_url>/ca` over verified TLS instead, which is the same CA while
//! UCP runs its default certificates.
//!
//! The output is validated before anything uses it: exactly one
//! certificate, a CA, not expired, and equal to `ucp_ca_fingerprint` when
//! that pin is set. The task changes nothing, so it always reports ok and
//! runs in check mode as well; its registered result (`pem`, `fingerprint`,
//! `subject`, `not_after`...) feeds `set-bypass-ca`.

use std::convert::Infallible;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::api::contract::{self, UcpArgs};
use crate::api::tls::Trust;
use crate::api::ucp::Ucp;
use crate::api::{Service, contract::text};
use crate::cert::{self, Cert};
use crate::connection::Connection;
use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};

/// The image of the procedure; MKE uses `mirantis/ucp:<version>`.
pub const DEFAULT_IMAGE: &str = "docker/ucp";
/// The group whose first host is the default controller.
pub const CONTROLLERS_GROUP: &str = "ucp_controllers";
/// CAs expiring within this many days get a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Where the CA is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `docker/ucp dump-certs` over SSH on a controller.
    #[default]
    Ssh,
    /// `GET <ucp_url>/ca`.
    Api,
}

/// The arguments of `dump-certs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpCerts {
    /// The controller to run on; default: the first of `ucp_controllers`.
    #[serde(default)]
    pub controller: Option<String>,
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default)]
    pub source: Source,
    /// Overrides `ucp_url` (for `source: api`).
    #[serde(default)]
    pub ucp_url: Option<String>,
    /// Overrides `ucp_ca_file` (for `source: api`).
    #[serde(default)]
    pub ucp_ca_file: Option<String>,
    /// Overrides the pin `ucp_ca_fingerprint`.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

pub fn spec() -> Spec {
    Spec::new(
        "dump-certs",
        vec![
            Param::new("controller", Kind::Str),
            Param::new("image", Kind::Str).default(DEFAULT_IMAGE),
            Param::new("source", Kind::Str)
                .choices(&["ssh", "api"])
                .default("ssh"),
            Param::new("ucp_url", Kind::Str),
            Param::new("ucp_ca_file", Kind::Path),
            Param::new("fingerprint", Kind::Fingerprint),
        ],
    )
    .run_once()
}

/// What the procedure's step 1 prints. `image` is quoted for `sh`.
pub fn dump_command(image: &str) -> String {
    format!(
        "docker run --rm -v /var/run/docker.sock:/var/run/docker.sock {} dump-certs --cluster --ca",
        shell_quote(image)
    )
}

/// Quotes a word for POSIX `sh`.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The first host of `groups[group]`, given the value of `groups`.
pub fn first_in_group(groups: &Value, group: &str) -> Option<String> {
    groups
        .get(group)?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_string)
}

#[async_trait]
impl Task for DumpCerts {
    type Drift = Infallible;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<Infallible>, TaskError> {
        let lookup = contract::context_lookup(cx);
        let pin = text(self.fingerprint.as_deref(), "ucp_ca_fingerprint", &lookup)
            .map_err(|e| TaskError::failed(e.to_string()))?;
        let (pem, origin) = match self.source {
            Source::Ssh => self.dump_over_ssh(cx).await?,
            Source::Api => self.fetch_over_api(&lookup).await?,
        };
        let what = format!("the UCP cluster CA from {origin}");
        let cert = cert::parse_ca(&pem, &what, cert::now_unix())
            .map_err(|e| TaskError::failed(e.to_string()))?;
        if let Some(pin) = pin.as_deref() {
            cert::check_pin(&cert, pin, &what).map_err(|e| TaskError::failed(e.to_string()))?;
        }
        if let Some(days) = cert::expiring_within(&cert.info, EXPIRY_WARNING_DAYS, cert::now_unix())
        {
            cx.warn(format!(
                "the UCP cluster CA {} expires in {days} days ({}); DTR's trust in UCP breaks then",
                cert.info.subject,
                cert.info.not_after_text()
            ));
        }
        Ok(Check::InSync(outcome(&cert, &origin, pin.is_some())))
    }

    async fn apply(&self, _cx: &Context<'_>, drift: Infallible) -> Result<Outcome, TaskError> {
        match drift {}
    }
}

impl DumpCerts {
    async fn dump_over_ssh(&self, cx: &Context<'_>) -> Result<(String, String), TaskError> {
        let controller = match &self.controller {
            Some(name) => name.clone(),
            None => first_in_group(&(cx.eval)("groups").unwrap_or_default(), CONTROLLERS_GROUP).ok_or_else(|| {
                TaskError::failed(format!(
                    "dump-certs needs a UCP controller: the group `{CONTROLLERS_GROUP}` is empty or missing; add the controllers to it or set `controller`"
                ))
            })?,
        };
        // The controller is the task's own host or another host of the play.
        let peer;
        let conn: &dyn Connection = if controller == cx.host {
            cx.conn
        } else {
            peer = cx.peer(&controller).ok_or_else(|| {
                TaskError::failed(format!(
                    "the controller `{controller}` is not a host of this play; dump-certs runs on it over SSH, so include it in the play's hosts"
                ))
            })?;
            peer.as_ref()
        };
        let command = dump_command(&self.image);
        let out = conn.run(&command, b"", cx.timeout).await?;
        let stdout = out.stdout_text();
        if !out.success() {
            return Err(TaskError::failed_with(
                format!(
                    "`{command}` failed on {controller} (exit {}): {}",
                    out.status,
                    explain_docker_failure(&out.stderr_text())
                ),
                Outcome::ok().with_output(&out),
            ));
        }
        let pem = cert::from_first_pem(&stdout).ok_or_else(|| {
            TaskError::failed(format!(
                "`{command}` on {controller} printed no `{}` block; is `{}` a UCP image?",
                cert::PEM_BEGIN,
                self.image
            ))
        })?;
        Ok((pem.to_string(), format!("dump-certs on {controller}")))
    }

    async fn fetch_over_api(
        &self,
        lookup: contract::Lookup<'_>,
    ) -> Result<(String, String), TaskError> {
        let fail = |e: String| TaskError::failed(e);
        let url = contract::required(self.ucp_url.as_deref(), "ucp_url", lookup)
            .map_err(|e| fail(e.to_string()))?;
        let args = UcpArgs {
            url: Some(&url),
            ca_file: self.ucp_ca_file.as_deref(),
            ..UcpArgs::default()
        };
        let ca_file = text(args.ca_file, "ucp_ca_file", lookup).map_err(|e| fail(e.to_string()))?;
        let pin = text(self.fingerprint.as_deref(), "ucp_ca_fingerprint", lookup)
            .map_err(|e| fail(e.to_string()))?;
        let trust = Trust::from_settings(Service::Ucp, ca_file.as_deref(), pin.as_deref())
            .map_err(|e| fail(e.to_string()))?;
        let ucp = Ucp::connect(&url, &trust, None)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let pem = ucp.ca().await.map_err(|e| fail(e.to_string()))?;
        Ok((pem, format!("GET {}/ca", url.trim_end_matches('/'))))
    }
}

fn outcome(cert: &Cert, origin: &str, pinned: bool) -> Outcome {
    let mut out = Outcome::ok().with_msg(format!(
        "UCP cluster CA {} (SHA-256 {}), valid until {}{}",
        cert.info.subject,
        cert.info.sha256,
        cert.info.not_after_text(),
        if pinned { ", matches the pin" } else { "" }
    ));
    for (key, value) in cert.info.to_json() {
        out.data.insert(key, value);
    }
    out.data.insert("pem".into(), cert.to_pem().into());
    out.data.insert("source".into(), origin.into());
    out
}

/// Turns the usual `docker run` failures into what to do about them.
pub fn explain_docker_failure(stderr: &str) -> String {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let lower = stderr.to_ascii_lowercase();
    let hint = if lower.contains("command not found") || lower.contains("not found: docker") {
        Some("the Docker CLI is not installed on this host; run dump-certs on a UCP controller")
    } else if lower.contains("permission denied") && lower.contains("docker") {
        Some(
            "the SSH user cannot use the Docker daemon: connect as root, add the user to the `docker` group, or use become",
        )
    } else if lower.contains("unable to find image") || lower.contains("pull access denied") {
        Some(
            "the UCP image is not on the controller and cannot be pulled; set `image` to the UCP image the cluster runs (e.g. mirantis/ucp:<version>)",
        )
    } else if lower.contains("cannot connect to the docker daemon") {
        Some("the Docker daemon on the controller is not running")
    } else {
        None
    };
    match hint {
        Some(hint) if last.is_empty() => hint.to_string(),
        Some(hint) => format!("{last} ({hint})"),
        None if last.is_empty() => "it printed nothing on stderr".to_string(),
        None => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_command_is_the_procedures() {
        assert_eq!(
            dump_command("docker/ucp"),
            "docker run --rm -v /var/run/docker.sock:/var/run/docker.sock docker/ucp dump-certs --cluster --ca"
        );
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }

    #[test]
    fn the_default_controller_is_the_first_of_its_group() {
        let groups = json!({"ucp_controllers": ["ctl2", "ctl1"]});
        assert_eq!(
            first_in_group(&groups, CONTROLLERS_GROUP).as_deref(),
            Some("ctl2")
        );
        assert_eq!(first_in_group(&groups, "nope"), None);
    }

    #[test]
    fn docker_failures_get_a_hint() {
        let text = explain_docker_failure(
            "docker: permission denied while trying to connect to the Docker daemon socket\n",
        );
        assert!(text.contains("docker` group"), "{text}");
    }
}
