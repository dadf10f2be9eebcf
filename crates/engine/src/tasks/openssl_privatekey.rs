//! The `openssl_privatekey` task (community.crypto's name, with or without
//! the `community.crypto.` prefix): a private key file on the host, of the
//! type and size the task names, made by the host's own `openssl` (no
//! interpreter, and the key never leaves the host).
//!
//! The check is one script that reads only the key's public half
//! (`openssl pkey -pubout`, then its text form without the hex lines, and
//! the SHA-256 of its DER form) and the file's mode: the private key is
//! never printed, so it can appear in no result, diff or error. A key of
//! the wanted type and size (and curve) is kept, as community.crypto's
//! default `regenerate: full_idempotence` keeps it; only its mode is
//! corrected. The apply writes a new key with `openssl genpkey` into a
//! temporary file beside the path, created under umask 077 and given its
//! mode before a rename puts it in place.
//!
//! Keys are written as `openssl genpkey` writes them: unencrypted PKCS#8
//! PEM. Not supported: `passphrase`/`cipher`, `format`, DSA keys,
//! `return_content`, `backup`, `select_crypto_backend`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::remote::{self, parent_dir, parse_mode, path_arg, shell_quote};

/// The arguments of `openssl_privatekey`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpensslPrivatekey {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub size: i64,
    pub curve: Option<String>,
    pub mode: String,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub state: String,
    #[serde(default)]
    pub force: bool,
    pub regenerate: String,
}

/// The parameters of `openssl_privatekey`, as community.crypto names them.
pub fn spec() -> Spec {
    Spec::new(
        "openssl_privatekey",
        vec![
            Param::new("path", Kind::Path).required(),
            Param::new("type", Kind::Str)
                .choices(&["RSA", "ECC", "Ed25519", "Ed448", "X25519", "X448"])
                .default("RSA"),
            Param::new("size", Kind::Int).default(4096),
            Param::new("curve", Kind::Str).choices(&[
                "secp256r1",
                "secp384r1",
                "secp521r1",
                "secp256k1",
                "secp224r1",
                "brainpoolP256r1",
                "brainpoolP384r1",
                "brainpoolP512r1",
            ]),
            Param::new("mode", Kind::Mode).default("0600"),
            Param::new("owner", Kind::Str),
            Param::new("group", Kind::Str),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("force", Kind::Bool).default(false),
            Param::new("regenerate", Kind::Str)
                .choices(&[
                    "never",
                    "fail",
                    "partial_idempotence",
                    "full_idempotence",
                    "always",
                ])
                .default("full_idempotence"),
        ],
    )
}

/// What a key file on the host is, as read from its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kind: String,
    pub size: Option<i64>,
    pub curve: Option<String>,
    pub sha256: String,
}

/// The curve names `openssl` prints (`ASN1 OID:`), as community.crypto
/// names them.
fn curve_name(oid: &str) -> String {
    match oid {
        "prime256v1" => "secp256r1".to_string(),
        other => other.to_string(),
    }
}

/// The name `openssl genpkey` takes for a curve.
fn openssl_curve(curve: &str) -> &str {
    match curve {
        "secp256r1" => "prime256v1",
        other => other,
    }
}

/// Reads `openssl pkey -pubin -noout -text` without its indented hex lines.
pub fn key_info(text: &str, sha256: &str) -> Option<KeyInfo> {
    let bits = text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Public-Key: (")?;
        rest.split(' ').next()?.parse::<i64>().ok()
    });
    let oid = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ASN1 OID: "))
        .map(curve_name);
    let first = text.lines().next().unwrap_or_default();
    let (kind, size, curve) = if text.lines().any(|l| l.trim() == "Modulus:") {
        ("RSA", bits, None)
    } else if oid.is_some() {
        ("ECC", bits, oid)
    } else if first.starts_with("ED25519") {
        ("Ed25519", Some(256), None)
    } else if first.starts_with("ED448") {
        ("Ed448", Some(456), None)
    } else if first.starts_with("X25519") {
        ("X25519", Some(253), None)
    } else if first.starts_with("X448") {
        ("X448", Some(448), None)
    } else {
        return None;
    };
    Some(KeyInfo {
        kind: kind.to_string(),
        size,
        curve,
        sha256: sha256.to_string(),
    })
}

/// `ab:cd:...`, as community.crypto prints fingerprints.
fn colons(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// What the file holds now.
#[derive(Debug, Clone)]
enum Found {
    Absent,
    /// A file that is no key `openssl` can read without a passphrase.
    Unreadable {
        mode: String,
    },
    Key {
        info: KeyInfo,
        mode: String,
    },
}

/// What `apply` does.
#[derive(Debug)]
pub enum KeyDrift {
    Generate,
    Chmod,
    Remove,
}

/// Why an `openssl_privatekey` task cannot run.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("openssl_privatekey: type ECC needs `curve` (for example secp256r1 or secp384r1)")]
    NoCurve,
    #[error("openssl_privatekey: an RSA key's `size` must be between 1024 and 16384 bits, not {0}")]
    Size(i64),
    #[error("openssl_privatekey: `mode` {0:?} is not an octal mode such as 0600")]
    Mode(String),
    #[error(
        "the host has no `openssl` command line on its PATH; openssl_privatekey makes keys with it"
    )]
    NoOpenssl,
    #[error(
        "{path} exists but is not the key this task asks for ({found}), and `regenerate` is fail: remove it, or allow regeneration"
    )]
    WouldRegenerate { path: String, found: String },
    #[error("openssl {action} failed: {detail}")]
    Tool { action: String, detail: String },
    #[error("openssl printed something dtrplay cannot read: {0}")]
    Unreadable(String),
}

impl From<KeyError> for TaskError {
    fn from(err: KeyError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

impl OpensslPrivatekey {
    fn mode(&self) -> Result<u32, KeyError> {
        parse_mode(&self.mode).map_err(|_| KeyError::Mode(self.mode.clone()))
    }

    fn validate(&self) -> Result<(), KeyError> {
        self.mode()?;
        match self.kind.as_str() {
            "RSA" if !(1024..=16384).contains(&self.size) => Err(KeyError::Size(self.size)),
            "ECC" if self.curve.is_none() => Err(KeyError::NoCurve),
            _ => Ok(()),
        }
    }

    /// Whether a key on the host is the one the task asks for.
    fn matches(&self, info: &KeyInfo) -> bool {
        if info.kind != self.kind {
            return false;
        }
        match self.kind.as_str() {
            "RSA" => info.size == Some(self.size),
            "ECC" => info.curve == self.curve,
            _ => true,
        }
    }

    fn wanted_text(&self) -> String {
        match self.kind.as_str() {
            "RSA" => format!("type: RSA\nsize: {}\n", self.size),
            "ECC" => format!(
                "type: ECC\ncurve: {}\n",
                self.curve.as_deref().unwrap_or_default()
            ),
            other => format!("type: {other}\n"),
        }
    }

    fn describe(found: &Found) -> Option<String> {
        match found {
            Found::Absent => None,
            Found::Unreadable { mode } => {
                Some(format!("not a readable private key\nmode: {mode}\n"))
            }
            Found::Key { info, mode } => {
                let mut text = format!("type: {}\n", info.kind);
                if let Some(curve) = &info.curve {
                    text.push_str(&format!("curve: {curve}\n"));
                } else if info.kind == "RSA"
                    && let Some(size) = info.size
                {
                    text.push_str(&format!("size: {size}\n"));
                }
                text.push_str(&format!(
                    "mode: {mode}\npublic key sha256: {}\n",
                    colons(&info.sha256)
                ));
                Some(text)
            }
        }
    }

    /// The lines that print what the file at `$p` holds: `state=`,
    /// `mode=`, `sha256=` and, prefixed with `|`, the public key's text
    /// without its hex lines. Only the public half is ever printed.
    fn inspect_lines() -> &'static str {
        "if [ ! -e \"$p\" ]; then echo state=absent; else\n\
         echo state=present; printf 'mode=%s\\n' \"$(stat -c %a -- \"$p\")\"\n\
         if pub=$(openssl pkey -in \"$p\" -passin pass: -pubout 2>/dev/null); then\n\
         printf '%s\\n' \"$pub\" | openssl pkey -pubin -noout -text | grep -v '^ ' | sed 's/^/|/'\n\
         printf 'sha256=%s\\n' \"$(printf '%s\\n' \"$pub\" | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r)\"\n\
         fi; fi\n"
    }

    fn read(&self, stdout: &str) -> Result<Found, KeyError> {
        let mut state = None;
        let mut mode = String::new();
        let mut sha = None;
        let mut text = String::new();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix('|') {
                text.push_str(rest);
                text.push('\n');
            } else if let Some(v) = line.strip_prefix("state=") {
                state = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("mode=") {
                mode = format!("{:04o}", u32::from_str_radix(v.trim(), 8).unwrap_or(0));
            } else if let Some(v) = line.strip_prefix("sha256=") {
                sha = v.split_whitespace().next().map(str::to_string);
            }
        }
        match (state.as_deref(), sha) {
            (Some("absent"), _) => Ok(Found::Absent),
            (Some("present"), None) => Ok(Found::Unreadable { mode }),
            (Some("present"), Some(sha)) => match key_info(&text, &sha) {
                Some(info) => Ok(Found::Key { info, mode }),
                None => Ok(Found::Unreadable { mode }),
            },
            _ => Err(KeyError::Unreadable(stdout.to_string())),
        }
    }

    fn result(&self, found: &Found) -> Outcome {
        let mut outcome = Outcome::ok().with_data("filename", self.path.clone());
        if let Found::Key { info, .. } = found {
            outcome = outcome
                .with_data("type", info.kind.clone())
                .with_data("size", info.size.map_or(Value::Null, Value::from))
                .with_data("curve", info.curve.clone().map_or(Value::Null, Value::from))
                .with_data("fingerprint", json!({ "sha256": colons(&info.sha256) }));
        }
        outcome
    }

    fn script(&self, body: &str) -> String {
        format!(
            "{}command -v openssl >/dev/null 2>&1 || fail no-openssl\np={}\n{body}",
            remote::FAIL_FN,
            path_arg(&self.path)
        )
    }

    async fn run(&self, cx: &Context<'_>, body: &str) -> Result<Found, TaskError> {
        let out = cx.run(&self.script(body), &[]).await?;
        if !out.success() {
            let failed = remote::failure(&out);
            let err = match failed.code.as_deref() {
                Some("no-openssl") => KeyError::NoOpenssl,
                code => KeyError::Tool {
                    action: code.unwrap_or("script").to_string(),
                    detail: failed.detail.clone(),
                },
            };
            return Err(err.into());
        }
        Ok(self.read(&out.stdout_text())?)
    }

    fn generate_lines(&self) -> Result<String, KeyError> {
        let algorithm = match self.kind.as_str() {
            "RSA" => format!("-algorithm RSA -pkeyopt rsa_keygen_bits:{}", self.size),
            "ECC" => format!(
                "-algorithm EC -pkeyopt ec_paramgen_curve:{}",
                shell_quote(openssl_curve(
                    self.curve.as_deref().ok_or(KeyError::NoCurve)?
                ))
            ),
            other => other.to_uppercase(),
        };
        let mut owner = String::new();
        if let Some(user) = &self.owner {
            owner.push_str(&format!(
                "chown -- {} \"$t\" || fail chown\n",
                shell_quote(user)
            ));
        }
        if let Some(group) = &self.group {
            owner.push_str(&format!(
                "chgrp -- {} \"$t\" || fail chown\n",
                shell_quote(group)
            ));
        }
        Ok(format!(
            "d={dir}\n[ -d \"$d\" ] || fail parent\nt=\"$d/.dtrplay-key.{random:016x}\"\n\
             trap '[ -e \"$t\" ] && rm -f -- \"$t\"' EXIT\n\
             ( umask 077; openssl genpkey {algorithm} -out \"$t\" ) 2>&1 >/dev/null | grep -v '^[.+*]*$' >&2\n\
             [ -s \"$t\" ] || fail genpkey\nchmod {mode:04o} \"$t\" || fail chmod\n{owner}\
             mv -f -- \"$t\" \"$p\" || fail rename\n",
            dir = path_arg(&parent_dir(&self.path)),
            random = crate::connection::remote_shell::random_u64(),
            mode = self.mode()?,
        ))
    }
}

#[async_trait]
impl Task for OpensslPrivatekey {
    type Drift = KeyDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<KeyDrift>, TaskError> {
        self.validate()?;
        let found = self.run(cx, Self::inspect_lines()).await?;
        let before = Self::describe(&found);
        let wanted_mode = format!("{:04o}", self.mode()?);
        let (drift, after, msg) = if self.state == "absent" {
            if matches!(found, Found::Absent) {
                return Ok(Check::InSync(self.result(&found)));
            }
            (KeyDrift::Remove, None, format!("removed {}", self.path))
        } else {
            let (matches, mode) = match &found {
                Found::Absent => (false, None),
                Found::Unreadable { mode } => (false, Some(mode.clone())),
                Found::Key { info, mode } => (self.matches(info), Some(mode.clone())),
            };
            // `regenerate: never` keeps any file that is there, whatever it holds.
            let keep_any = self.regenerate == "never" && mode.is_some();
            let regenerate = self.force || self.regenerate == "always" || !(matches || keep_any);
            if regenerate && !matches && mode.is_some() && self.regenerate == "fail" {
                return Err(KeyError::WouldRegenerate {
                    path: self.path.clone(),
                    found: before
                        .unwrap_or_default()
                        .replace('\n', ", ")
                        .trim_end_matches(", ")
                        .to_string(),
                }
                .into());
            }
            if regenerate {
                let after = format!(
                    "{}mode: {wanted_mode}\npublic key sha256: (a new key)\n",
                    self.wanted_text()
                );
                (
                    KeyDrift::Generate,
                    Some(after),
                    format!("generated a {} private key in {}", self.kind, self.path),
                )
            } else if mode.as_deref() != Some(wanted_mode.as_str()) {
                let after = before.as_deref().map(|b| {
                    b.lines()
                        .map(|l| {
                            if l.starts_with("mode: ") {
                                format!("mode: {wanted_mode}")
                            } else {
                                l.to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                        + "\n"
                });
                (
                    KeyDrift::Chmod,
                    after,
                    format!("changed the mode of {} to {wanted_mode}", self.path),
                )
            } else {
                return Ok(Check::InSync(self.result(&found)));
            }
        };
        let mut preview = self.result(&found).with_msg(msg);
        preview.changed = true;
        if cx.diff {
            preview.diffs.push(Diff {
                subject: format!("private key {}", self.path),
                before,
                after,
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: KeyDrift) -> Result<Outcome, TaskError> {
        let (body, msg) = match drift {
            KeyDrift::Remove => (
                "rm -f -- \"$p\" || fail rm\n".to_string(),
                format!("removed {}", self.path),
            ),
            KeyDrift::Chmod => (
                format!("chmod {:04o} -- \"$p\" || fail chmod\n", self.mode()?),
                format!("changed the mode of {} to {:04o}", self.path, self.mode()?),
            ),
            KeyDrift::Generate => (
                self.generate_lines()?,
                format!("generated a {} private key in {}", self.kind, self.path),
            ),
        };
        let found = self
            .run(cx, &format!("{body}{}", Self::inspect_lines()))
            .await?;
        let mut outcome = self.result(&found).with_msg(msg);
        outcome.changed = true;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_texts_name_type_size_and_curve() {
        let rsa = key_info(
            "Public-Key: (2048 bit)\nModulus:\nExponent: 65537 (0x10001)\n",
            "ab",
        )
        .expect("rsa");
        assert_eq!((rsa.kind.as_str(), rsa.size), ("RSA", Some(2048)));
        let ec = key_info(
            "Public-Key: (256 bit)\npub:\nASN1 OID: prime256v1\nNIST CURVE: P-256\n",
            "ab",
        )
        .expect("ec");
        assert_eq!(ec.curve.as_deref(), Some("secp256r1"));
        let ed = key_info("ED25519 Public-Key:\npub:\n", "ab").expect("ed");
        assert_eq!(ed.kind, "Ed25519");
        assert!(key_info("garbage\n", "ab").is_none());
        assert_eq!(colons("abcd12"), "ab:cd:12");
    }
}
