//! The `apt_key` task: an OpenPGP key that apt trusts, in a keyring file
//! of `/etc/apt/trusted.gpg.d` (or the `keyring` named), added from `data`,
//! a `file` on the host, a `url` (the host's curl, TLS verified) or a
//! `keyserver`, or removed by its `id`. Only the host's `gpg` is used, in
//! a private temporary home, never `apt-key` (deprecated, and gone from
//! Debian 13).
//!
//! The check is one script: every keyring apt reads (`/etc/apt/trusted.gpg`
//! and `trusted.gpg.d/*.gpg`/`*.asc`, or only `keyring`) listed with
//! `gpg --show-keys --with-colons`; when an `id` is given and present,
//! nothing else; otherwise the key itself, read into the temporary home,
//! listed, and sent back ASCII-armored. A key is the same key when its
//! fingerprint (or a subkey's) ends with the `id`; a given `id` must be
//! the key's, or the task fails before anything is written. The apply
//! writes the keyring atomically: a new one is the key `gpg --dearmor`ed
//! (armored when the name ends in `.asc`), an existing one gets the key
//! merged in; removing a key rewrites each keyring that holds it without
//! it, and removes a keyring that held nothing else.
//!
//! Registered as Ansible does: `id`, `key_id`, `fp` (the last 16 hex
//! digits), `short_id` (the last 8), `before` and on a change `after` (the
//! long ids of the keys of the keyrings considered).
//!
//! Differences from Ansible: a new key goes to its own file,
//! `/etc/apt/trusted.gpg.d/<long id>.gpg`, not into `/etc/apt/trusted.gpg`;
//! expired keys count as present.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::http::{self, Request};
use crate::tasks::remote::{self, shell_quote};

mod keys;

use keys::{Key, long_ids, parse_facts, parse_id};

const TRUSTED_DIR: &str = "/etc/apt/trusted.gpg.d";

/// The arguments of `apt_key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptKey {
    pub id: Option<String>,
    pub url: Option<String>,
    pub data: Option<String>,
    pub file: Option<String>,
    pub keyring: Option<String>,
    pub keyserver: Option<String>,
    pub validate_certs: bool,
    pub state: String,
}

/// The parameters of `apt_key`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "apt_key",
        vec![
            Param::new("id", Kind::Str),
            Param::new("url", Kind::Str),
            Param::new("data", Kind::Str),
            Param::new("file", Kind::Path),
            Param::new("keyring", Kind::Path),
            Param::new("keyserver", Kind::Str),
            Param::new("validate_certs", Kind::Bool).default(true),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
        ],
    )
}

/// What `apply` must do.
#[derive(Debug)]
pub enum Action {
    /// Write the armored key into this keyring.
    Add { ring: String, armor: String },
    /// Rewrite each keyring without these primary keys (remove it when
    /// nothing else is left in it).
    Remove {
        rings: Vec<(String, Vec<String>, bool)>,
    },
}

/// The action, the id it is about, and what the check registered.
#[derive(Debug)]
pub struct AptKeyDrift {
    action: Action,
    id: String,
    outcome: Outcome,
}

impl AptKey {
    fn source(&self) -> String {
        match (&self.url, &self.file, &self.keyserver) {
            (Some(url), _, _) => url.clone(),
            (_, Some(file), _) => file.clone(),
            (_, _, Some(server)) => format!("keyserver {server}"),
            _ => "data".to_string(),
        }
    }

    fn validate(&self) -> Result<Option<String>, TaskError> {
        let given = [&self.data, &self.file, &self.keyserver, &self.url]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given > 1 {
            return Err(TaskError::failed(
                "parameters are mutually exclusive: data|file|keyserver|url",
            ));
        }
        let id = self.id.as_deref().map(parse_id).transpose()?;
        if self.keyserver.is_some() && id.is_none() {
            return Err(TaskError::failed(
                "Missing key_id, required with keyserver.",
            ));
        }
        if given == 0 && id.is_none() {
            return Err(TaskError::failed(
                "one of id, data, file, keyserver or url is required",
            ));
        }
        if given == 0 && self.state == "present" {
            return Err(TaskError::failed(
                "state=present needs the key: give data, file, url or keyserver along with the id",
            ));
        }
        Ok(id)
    }

    /// The keyrings apt reads, or the one named.
    fn rings_glob(&self) -> String {
        match &self.keyring {
            Some(k) => remote::path_arg(k),
            None => format!("/etc/apt/trusted.gpg {TRUSTED_DIR}/*.gpg {TRUSTED_DIR}/*.asc"),
        }
    }

    fn prelude() -> String {
        let mut s = String::from(remote::FAIL_FN);
        s.push_str(
            "command -v gpg >/dev/null 2>&1 || fail nogpg\nexport LC_ALL=C\n\
             h=$(mktemp -d) || fail tmp\nexport GNUPGHOME=\"$h\"\n\
             trap 'gpgconf --kill all >/dev/null 2>&1; rm -rf \"$h\"' EXIT\n\
             g() { gpg --batch --no-tty --quiet \"$@\"; }\n",
        );
        s
    }

    /// Lists every keyring considered, each after a `ring=<path>` line.
    fn list_rings(&self) -> String {
        format!(
            "for f in {}; do [ -f \"$f\" ] || continue; echo \"ring=$f\"; g --show-keys --with-colons -- \"$f\" 2>/dev/null || :; done",
            self.rings_glob()
        )
    }

    fn check_script(&self, id: Option<&str>) -> String {
        let mut s = Self::prelude();
        s.push_str(&format!(
            "{} > \"$h/rings\"\ncat \"$h/rings\"\n",
            self.list_rings()
        ));
        if let (Some(id), "present") = (id, self.state.as_str()) {
            s.push_str(&format!("grep -q '^fpr:.*{id}:$' \"$h/rings\" && exit 0\n"));
        }
        if let (Some(_), "absent") = (id, self.state.as_str()) {
            s.push_str("exit 0\n");
        }
        s.push_str(&self.fetch_script(id));
        s.push_str(
            "echo material\ng --with-colons --fingerprint --list-keys\necho armor\ng --armor --export || fail export\n",
        );
        s
    }

    /// Reads the key into the temporary home, failing with `nokey`, `curl`
    /// or `recv`.
    fn fetch_script(&self, id: Option<&str>) -> String {
        let mut s = String::new();
        if let Some(data) = &self.data {
            s.push_str(&format!(
                "{} > \"$h/key\" || fail tmp\n",
                remote::printf_command(data.as_bytes())
            ));
        } else if let Some(file) = &self.file {
            s.push_str(&format!(
                "[ -f {f} ] || fail nofile\ncp -- {f} \"$h/key\" || fail nofile\n",
                f = remote::path_arg(file)
            ));
        } else if let Some(url) = &self.url {
            let request = self.request(url);
            s.push_str(http::NEED_CURL);
            s.push_str(&format!(
                "{} > \"$h/curl\" || fail tmp\ncurl -K \"$h/curl\" --fail -o \"$h/key\" || fail curl\n",
                remote::printf_command(request.config().as_bytes())
            ));
        } else if let (Some(server), Some(id)) = (&self.keyserver, id) {
            s.push_str(&format!(
                "g --keyserver {} --recv-keys {id} || fail recv\n",
                shell_quote(server)
            ));
        }
        if self.keyserver.is_none() {
            s.push_str(
                "g --import \"$h/key\" 2>\"$h/err\" || { cat \"$h/err\" >&2; fail nokey; }\n",
            );
        }
        s
    }

    fn request(&self, url: &str) -> Request {
        Request {
            url: url.to_string(),
            validate_certs: self.validate_certs,
            ca_path: None,
            client_cert: None,
            client_key: None,
            headers: serde_json::Map::new(),
            url_username: None,
            url_password: None,
            force_basic_auth: false,
            timeout: 30,
            http_agent: "ansible-httpget".to_string(),
            use_proxy: true,
        }
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failure = remote::failure(out);
        let src = self.source();
        let msg = match failure.code.as_deref() {
            Some("nogpg") => "gpg is not installed on the host (Debian: apt-get install gnupg)".to_string(),
            Some("nocurl") => http::no_curl("apt_key"),
            Some("curl") => format!("Failed to download key at {src}"),
            Some("nofile") => format!("Unable to read the key file {src} on the host"),
            Some("nokey") => format!("Unable to extract key from '{src}': it holds no OpenPGP public key"),
            Some("recv") => format!("Error fetching key from {src}"),
            Some("merge") => "the existing keyring cannot be read by gpg (is it a keybox file? apt reads only OpenPGP keyrings)".to_string(),
            Some("verify") => "gpg did not return an error, but the key is not in the keyring afterwards".to_string(),
            Some(step) => format!("apt_key could not {step}"),
            None => "apt_key failed".to_string(),
        };
        remote::with_detail(msg, &failure)
    }

    fn ids(&self, id: &str) -> Outcome {
        let fp = &id[id.len().saturating_sub(16)..];
        let short = &id[id.len().saturating_sub(8)..];
        Outcome::ok()
            .with_data("id", self.id.clone().unwrap_or_else(|| id.to_string()))
            .with_data("key_id", id)
            .with_data("fp", fp)
            .with_data("short_id", short)
    }
}

#[async_trait]
impl Task for AptKey {
    type Drift = AptKeyDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<AptKeyDrift>, TaskError> {
        let given = self.validate()?;
        if self.url.is_some()
            && let Some(w) = self
                .request(self.url.as_deref().unwrap_or_default())
                .insecure_warning()
        {
            cx.warn(w);
        }
        let out = cx.run(&self.check_script(given.as_deref()), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let facts = parse_facts(&out.stdout_text());
        let id = match (&given, facts.material.first()) {
            (Some(id), _) => id.clone(),
            (None, Some(key)) => key.fingerprint.clone(),
            (None, None) => {
                return Err(TaskError::failed(format!(
                    "Unable to extract key from '{}'",
                    self.source()
                )));
            }
        };
        if !facts.material.is_empty() && !facts.material.iter().any(|k| k.matches(&id)) {
            let got: Vec<&str> = facts
                .material
                .iter()
                .map(|k| k.fingerprint.as_str())
                .collect();
            return Err(TaskError::failed(format!(
                "the key from {} has the fingerprint {}, which is not the id {id} the task names; check the id (or the source)",
                self.source(),
                got.join(", ")
            )));
        }
        let base = self.ids(&id).with_data("before", long_ids(&facts.rings));
        let holding: Vec<&(String, Vec<Key>)> = facts
            .rings
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| k.matches(&id)))
            .collect();
        if self.state == "absent" {
            if holding.is_empty() {
                return Ok(Check::InSync(base));
            }
            let rings: Vec<(String, Vec<String>, bool)> = holding
                .iter()
                .map(|(path, keys)| {
                    let gone: Vec<String> = keys
                        .iter()
                        .filter(|k| k.matches(&id))
                        .map(|k| k.fingerprint.clone())
                        .collect();
                    let emptied = gone.len() == keys.len();
                    (path.clone(), gone, emptied)
                })
                .collect();
            let mut preview = base.clone();
            preview.changed = true;
            let paths: Vec<&str> = rings.iter().map(|(p, _, _)| p.as_str()).collect();
            preview.msg = Some(format!("would remove {id} from {}", paths.join(", ")));
            return Ok(Check::Drift {
                drift: AptKeyDrift {
                    action: Action::Remove { rings },
                    id,
                    outcome: base,
                },
                preview,
            });
        }
        let wanted: Vec<&Key> = match &given {
            Some(_) => facts.material.iter().filter(|k| k.matches(&id)).collect(),
            None => facts.material.iter().collect(),
        };
        let present = |key: &Key| {
            facts
                .rings
                .iter()
                .any(|(_, keys)| keys.iter().any(|k| k.fingerprint == key.fingerprint))
        };
        if !holding.is_empty() && given.is_some()
            || !wanted.is_empty() && wanted.iter().all(|k| present(k))
        {
            return Ok(Check::InSync(base));
        }
        let ring = match &self.keyring {
            Some(k) => k.clone(),
            None => {
                let fp = &id[id.len().saturating_sub(16)..];
                format!("{TRUSTED_DIR}/{fp}.gpg")
            }
        };
        let mut preview = base.clone();
        preview.changed = true;
        preview.msg = Some(format!("would add {id} to {ring}"));
        Ok(Check::Drift {
            drift: AptKeyDrift {
                action: Action::Add {
                    ring,
                    armor: facts.armor,
                },
                id,
                outcome: base,
            },
            preview,
        })
    }

    async fn apply(&self, cx: &Context<'_>, drift: AptKeyDrift) -> Result<Outcome, TaskError> {
        let mut s = Self::prelude();
        let export = |ring: &str| match ring.ends_with(".asc") {
            true => "g --armor --export",
            false => "g --export",
        };
        // apt reads keyrings as the unprivileged `_apt` user.
        let put = |ring: &str| {
            format!(
                "chmod 0644 \"$t\" || fail write\nmv -f -- \"$t\" {} || fail write\n",
                remote::path_arg(ring)
            )
        };
        match &drift.action {
            Action::Add { ring, armor } => {
                let r = remote::path_arg(ring);
                let dir = remote::path_arg(&remote::parent_dir(ring));
                let dearmor = match ring.ends_with(".asc") {
                    true => "cat",
                    false => "g --dearmor",
                };
                let key = remote::printf_command(armor.as_bytes());
                s.push_str(&format!(
                    "mkdir -p -- {dir} || fail mkdir\nt=$(mktemp {dir}/.dtrplay.apt_key.XXXXXXXX) || fail write\n\
                     trap 'gpgconf --kill all >/dev/null 2>&1; rm -rf \"$h\" \"$t\"' EXIT\n\
                     if [ -s {r} ]; then\n\
                     g --import -- {r} 2>/dev/null || fail merge\n\
                     {key} | g --import || fail import\n{} > \"$t\" || fail export\n\
                     else {key} | {dearmor} > \"$t\" || fail dearmor; fi\n{}",
                    export(ring),
                    put(ring),
                ));
            }
            Action::Remove { rings } => {
                for (ring, fprs, emptied) in rings {
                    let r = remote::path_arg(ring);
                    if *emptied {
                        s.push_str(&format!("rm -f -- {r} || fail remove\n"));
                        continue;
                    }
                    let dir = remote::path_arg(&remote::parent_dir(ring));
                    let list: Vec<String> = fprs.iter().map(|f| shell_quote(f)).collect();
                    // A fresh home per keyring, so that only its own keys
                    // are exported back into it.
                    s.push_str(&format!(
                        "rm -rf \"$h\"/pubring* \"$h/trustdb.gpg\"\n\
                         g --import -- {r} 2>/dev/null || fail merge\n\
                         g --yes --delete-keys {} || fail remove\n\
                         t=$(mktemp {dir}/.dtrplay.apt_key.XXXXXXXX) || fail write\n\
                         {} > \"$t\" || {{ rm -f \"$t\"; fail export; }}\n{}",
                        list.join(" "),
                        export(ring),
                        put(ring),
                    ));
                }
            }
        }
        s.push_str(&self.list_rings());
        s.push('\n');
        let out = cx.run(&s, &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let after = parse_facts(&out.stdout_text());
        let mut outcome = drift.outcome;
        outcome.changed = true;
        outcome
            .data
            .insert("after".into(), long_ids(&after.rings).into());
        let still = after
            .rings
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| k.matches(&drift.id)))
            .map(|(path, _)| path.as_str())
            .collect::<Vec<_>>();
        match &drift.action {
            Action::Add { ring, .. } => {
                if !still.contains(&ring.as_str()) {
                    return Err(TaskError::failed_with(
                        format!(
                            "gpg did not return an error, but {} is not in {ring} afterwards (check that the id is correct)",
                            drift.id
                        ),
                        outcome,
                    ));
                }
                outcome.msg = Some(format!("added {} to {ring}", drift.id));
            }
            Action::Remove { .. } => {
                if !still.is_empty() {
                    return Err(TaskError::failed_with(
                        format!(
                            "gpg did not return an error, but {} is still in {}",
                            drift.id,
                            still.join(", ")
                        ),
                        outcome,
                    ));
                }
                outcome.msg = Some(format!("removed {}", drift.id));
            }
        }
        Ok(outcome)
    }
}
