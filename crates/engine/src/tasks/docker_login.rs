//! The `docker_login` task (community.docker's name, with or without the
//! `community.docker.` prefix): the host's Docker client configuration
//! holds credentials for a registry (`state: present`), or none
//! (`state: absent`, a logout), through the host's `docker` command line.
//!
//! The password is a secret: it reaches the host only on the script's
//! standard input and goes to `docker login --password-stdin` through the
//! shell's `printf` builtin, so it is never on any command line. As in
//! community.docker, the check logs in for real (into a throwaway
//! configuration directory, so the check changes nothing): wrong
//! credentials fail in check mode too. The stored entry is then compared
//! with the one the credentials make; only a difference (or `reauthorize`)
//! writes the configuration. The apply logs in with a private copy of the
//! configuration beside the real one and renames it into place, so the
//! file is replaced atomically and the client's own rules (credential
//! stores included) decide what it holds. A logout works the same way with
//! `docker logout`.
//!
//! The configuration is read only after the login succeeded, at the end of
//! the check's script, so a failure's registered output never holds its
//! stored credentials. Entries are matched by host name as the client
//! matches them (`https://registry:5000/v2/` and `registry:5000` are the
//! same registry). Credentials kept in a credential store or helper cannot
//! be read without the helper, so such a registry is logged into on every
//! run. Not supported: TLS and API-version connection options.

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::docker_cli::{self, DockerError, shell_env};
use crate::tasks::remote::{parent_dir, path_arg, shell_quote};

/// Docker Hub's address, as the client stores it.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The arguments of `docker_login`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerLogin {
    pub registry_url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub reauthorize: bool,
    pub config_path: String,
    pub state: String,
    pub docker_host: Option<String>,
    #[serde(default)]
    pub debug: bool,
}

/// The parameters of `docker_login`, as community.docker names them.
pub fn spec() -> Spec {
    Spec::new(
        "docker_login",
        vec![
            Param::new("registry_url", Kind::Str)
                .default(DOCKER_HUB)
                .aliases(&["registry", "url"]),
            Param::new("username", Kind::Str),
            Param::new("password", Kind::Str).secret(),
            Param::new("email", Kind::Str),
            Param::new("reauthorize", Kind::Bool)
                .default(false)
                .aliases(&["reauth"]),
            Param::new("config_path", Kind::Path)
                .default("~/.docker/config.json")
                .aliases(&["dockercfg_path"]),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("docker_host", Kind::Str).aliases(&["docker_url"]),
            Param::new("debug", Kind::Bool).default(false),
        ],
    )
}

/// What `apply` does.
#[derive(Debug)]
pub enum LoginDrift {
    Login,
    Logout,
}

/// The host name a registry address stands for, as the docker client
/// compares configuration entries: without scheme and path; Docker Hub's
/// names are one.
pub fn hostname(address: &str) -> String {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_string(),
        other => other.to_string(),
    }
}

/// What the configuration says about one registry.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    /// No entry.
    Nothing,
    /// An entry with this `auth` (base64 of `user:password`).
    Auth(String),
    /// The credentials are kept by a helper dtrplay cannot ask.
    Helper(String),
}

fn stored(config: Option<&Value>, host: &str) -> Stored {
    let Some(config) = config else {
        return Stored::Nothing;
    };
    if let Some(helper) = config["credHelpers"].get(host).and_then(Value::as_str) {
        return Stored::Helper(helper.to_string());
    }
    let entry = config["auths"]
        .as_object()
        .and_then(|auths| auths.iter().find(|(key, _)| hostname(key) == host));
    match (entry, config["credsStore"].as_str()) {
        (Some(_), Some(store)) => Stored::Helper(store.to_string()),
        (Some((_, entry)), None) => match entry["auth"].as_str() {
            Some(auth) if !auth.is_empty() => Stored::Auth(auth.to_string()),
            _ => Stored::Nothing,
        },
        (None, _) => Stored::Nothing,
    }
}

/// The user name an `auth` entry holds (the password is never decoded
/// for display).
fn stored_user(auth: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.split_once(':').map(|(user, _)| user.to_string())
}

impl DockerLogin {
    fn prefix(&self) -> String {
        shell_env(self.docker_host.as_deref())
    }

    /// The configuration file as a script word (`~/` is the login's home).
    fn config_word(path: &str) -> String {
        match path.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
            None => path_arg(path),
        }
    }

    fn credentials(&self) -> Result<(&str, &str), DockerError> {
        match (&self.username, &self.password) {
            (Some(user), Some(password)) if !user.is_empty() => Ok((user, password)),
            _ => Err(DockerError::Refused(
                "docker_login: state is present but `username` or `password` is missing: both are needed to log in".to_string(),
            )),
        }
    }

    /// The lines that log in (`docker login`) or out with a configuration
    /// directory `$t`; the password is the script's first line of input.
    fn client_line(&self, login: bool) -> String {
        let registry = shell_quote(&self.registry_url);
        if login {
            let user = shell_quote(self.username.as_deref().unwrap_or_default());
            format!(
                "IFS= read -r pw\nprintf '%s\\n' \"$pw\" | DOCKER_CONFIG=\"$t\" docker login --username {user} --password-stdin {registry} >&2; s=$?\n"
            )
        } else {
            format!("DOCKER_CONFIG=\"$t\" docker logout {registry} >&2; s=$?\n")
        }
    }

    fn check_body(&self) -> String {
        let mut body = self.prefix();
        if self.state == "present" {
            // A throwaway configuration: the check only proves that the
            // registry takes the credentials.
            body.push_str("t=$(mktemp -d) || fail mktemp\n");
            body.push_str(&self.client_line(true));
            body.push_str("rm -rf \"$t\"\n[ \"$s\" = 0 ] || fail login\n");
        }
        body.push_str(&format!(
            "c={}\nif [ -f \"$c\" ]; then printf '@config '; tr -d '\\n\\r' < \"$c\" || fail read; echo; else echo '@config null'; fi\n",
            Self::config_word(&self.config_path)
        ));
        body
    }

    fn apply_body(&self, drift: &LoginDrift) -> String {
        let parent = parent_dir(&self.config_path);
        let dir = if parent == "~" {
            "\"$HOME\"".to_string()
        } else {
            Self::config_word(&parent)
        };
        let mut body = self.prefix();
        body.push_str(&format!(
            "c={}\nd={dir}\nmkdir -p -m 700 \"$d\" || fail mkdir\n\
             t=$(mktemp -d \"$d/.dtrplay-docker-login.XXXXXX\") || fail mktemp\n\
             if [ -f \"$c\" ]; then cp -p \"$c\" \"$t/config.json\" || {{ rm -rf \"$t\"; fail copy; }}; fi\n",
            Self::config_word(&self.config_path)
        ));
        let login = matches!(drift, LoginDrift::Login);
        body.push_str(&self.client_line(login));
        let action = if login { "login" } else { "logout" };
        body.push_str(&format!(
            "if [ \"$s\" = 0 ] && [ -f \"$t/config.json\" ]; then mv -f \"$t/config.json\" \"$c\"; s=$?; fi\n\
             rm -rf \"$t\"\n[ \"$s\" = 0 ] || fail {action}\n"
        ));
        body
    }

    fn result(&self) -> Outcome {
        let mut outcome = Outcome::ok();
        if self.state == "present" {
            outcome = outcome.with_data(
                "login_result",
                json!({
                    "serveraddress": self.registry_url,
                    "username": self.username.as_deref().unwrap_or_default(),
                }),
            );
        }
        outcome
    }

    fn stdin(&self) -> Vec<u8> {
        match (&self.state[..], &self.password) {
            ("present", Some(password)) => format!("{password}\n").into_bytes(),
            _ => Vec::new(),
        }
    }

    fn describe(&self, stored: &Stored, host: &str) -> String {
        match stored {
            Stored::Nothing => format!("{host}: not logged in\n"),
            Stored::Auth(auth) => match stored_user(auth) {
                Some(user) => format!("{host}: logged in as {user}\n"),
                None => format!("{host}: an unreadable entry\n"),
            },
            Stored::Helper(helper) => {
                format!("{host}: credentials kept by docker-credential-{helper}\n")
            }
        }
    }
}

#[async_trait]
impl Task for DockerLogin {
    type Drift = LoginDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<LoginDrift>, TaskError> {
        if self.registry_url.is_empty() || self.registry_url.starts_with('-') {
            return Err(DockerError::Refused(format!(
                "{:?} is not a registry address: give its host (and port), such as registry.example.com:5000",
                self.registry_url
            ))
            .into());
        }
        let wanted = if self.state == "present" {
            let (user, password) = self.credentials()?;
            docker_cli::check_name("user", user)?;
            if password.contains('\n') {
                return Err(DockerError::Refused(
                    "docker_login: the password has a line break, which `docker login --password-stdin` cannot take".to_string(),
                )
                .into());
            }
            Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        } else {
            None
        };
        let out = cx
            .run(&docker_cli::script(&self.check_body()), &self.stdin())
            .await?;
        if !out.success() {
            return Err(docker_cli::failure(&out).with_output(&out));
        }
        let mut inspected = docker_cli::parse(&out.stdout_text())?;
        let config = inspected.take("config")?;
        let host = hostname(&self.registry_url);
        let have = stored(config.as_ref(), &host);
        let (drift, after) = match &wanted {
            Some(auth) => {
                let same = have == Stored::Auth(auth.clone());
                if same && !self.reauthorize {
                    return Ok(Check::InSync(self.result()));
                }
                let user = self.username.as_deref().unwrap_or_default();
                let after = if same
                    || matches!(&have, Stored::Auth(a) if stored_user(a).as_deref() == Some(user))
                {
                    format!("{host}: logged in as {user} (credentials ********, written again)\n")
                } else {
                    format!("{host}: logged in as {user}\n")
                };
                (LoginDrift::Login, after)
            }
            None => {
                if have == Stored::Nothing {
                    return Ok(Check::InSync(self.result()));
                }
                (LoginDrift::Logout, format!("{host}: not logged in\n"))
            }
        };
        let msg = match drift {
            LoginDrift::Login => format!("Logged into {}", self.registry_url),
            LoginDrift::Logout => format!("Logged out of {}", self.registry_url),
        };
        let mut preview = self.result().with_msg(msg.clone());
        preview.changed = true;
        preview = preview.with_data("actions", vec![msg]);
        if cx.diff {
            preview.diffs.push(Diff {
                subject: format!("docker credentials in {}", self.config_path),
                before: Some(self.describe(&have, &host)),
                after: Some(after),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: LoginDrift) -> Result<Outcome, TaskError> {
        let out = cx
            .run(&docker_cli::script(&self.apply_body(&drift)), &self.stdin())
            .await?;
        if !out.success() {
            return Err(docker_cli::failure(&out).with_output(&out));
        }
        let msg = match drift {
            LoginDrift::Login => format!("Logged into {}", self.registry_url),
            LoginDrift::Logout => format!("Logged out of {}", self.registry_url),
        };
        let mut outcome = self.result().with_msg(msg.clone());
        outcome.changed = true;
        Ok(outcome.with_data("actions", vec![msg]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_matched_by_host_name() {
        assert_eq!(hostname("https://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(hostname("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(hostname(DOCKER_HUB), "index.docker.io");
        assert_eq!(hostname("docker.io"), "index.docker.io");
    }

    #[test]
    fn stored_entries_are_read_as_the_client_writes_them() {
        let config = json!({"auths": {"https://127.0.0.1:5000": {"auth": "YWRtaW46cHc="}}});
        assert_eq!(
            stored(Some(&config), "127.0.0.1:5000"),
            Stored::Auth("YWRtaW46cHc=".into())
        );
        assert_eq!(stored(Some(&config), "other:1"), Stored::Nothing);
        assert_eq!(stored_user("YWRtaW46cHc=").as_deref(), Some("admin"));
        let helper = json!({"auths": {"r:1": {}}, "credsStore": "pass"});
        assert_eq!(stored(Some(&helper), "r:1"), Stored::Helper("pass".into()));
        assert_eq!(stored(None, "r:1"), Stored::Nothing);
    }
}
