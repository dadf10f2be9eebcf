//! The `rpm_key` task (ansible.builtin's): an OpenPGP public key imported
//! into the host's RPM database, or removed from it, with the host's own
//! `rpm` and `gpg`.
//!
//! The check is one script. The key comes from a URL (fetched with the
//! host's curl, TLS verified unless `validate_certs: false`), a file on the
//! host, or is named by its key id. `gpg --show-keys`, run with a private
//! temporary `GNUPGHOME` so that no keyring of the host's users is read or
//! created, reads the key's id and fingerprints from the file, and the key
//! ids already imported from the armored keys `rpm` keeps as the
//! descriptions of its `gpg-pubkey` entries. A key counts as imported when
//! the wanted id is part of an imported key's long id, as in Ansible, so a
//! short (8-digit) id finds its key too. The apply runs `rpm --import`
//! (a downloaded key travels back to the host on standard input, so the key
//! imported is the one whose fingerprint was checked) or
//! `rpm --erase --allmatches gpg-pubkey-<short id>`.
//!
//! Differences from Ansible: the diff (Ansible has none) lists the key ids
//! imported before and after.

use async_trait::async_trait;
use serde::Deserialize;

use crate::params::{Kind, Param, Spec};
use crate::report::Diff;
use crate::task::{Check, Context, Outcome, Task, TaskError};
use crate::tasks::http::{self, config_quote};
use crate::tasks::remote::{self, ProbeError, Report, path_arg, printf_command};

/// The arguments of `rpm_key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpmKey {
    pub key: String,
    pub state: String,
    pub fingerprint: Option<Vec<String>>,
    pub validate_certs: bool,
}

/// The parameters of `rpm_key`, as Ansible names them.
pub fn spec() -> Spec {
    Spec::new(
        "rpm_key",
        vec![
            Param::new("key", Kind::Str).required(),
            Param::new("state", Kind::Str)
                .choices(&["present", "absent"])
                .default("present"),
            Param::new("fingerprint", Kind::List),
            Param::new("validate_certs", Kind::Bool).default(true),
        ],
    )
}

/// Where the key comes from, in the order Ansible tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Url(String),
    /// A key id (with or without `0x`), upper-cased.
    KeyId(String),
    File(String),
}

/// Tells a URL, a key id and a path apart as Ansible does: anything with
/// `://` is a URL; anything that starts with eight hex digits (after an
/// optional `0x`) is a key id; the rest is a path on the host.
pub fn source(key: &str) -> Source {
    if key.contains("://") {
        return Source::Url(key.to_string());
    }
    let digits = key
        .strip_prefix("0x")
        .or_else(|| key.strip_prefix("0X"))
        .unwrap_or(key);
    if digits.len() >= 8 && digits.as_bytes()[..8].iter().all(u8::is_ascii_hexdigit) {
        return Source::KeyId(normalize(key));
    }
    Source::File(key.to_string())
}

/// A key id without blanks around it, upper-cased, without `0x`.
fn normalize(keyid: &str) -> String {
    let id = keyid.trim().to_uppercase();
    id.strip_prefix("0X").map(str::to_string).unwrap_or(id)
}

/// What the check script found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The long id of the key file's first primary key.
    pub file_keyid: Option<String>,
    /// Every fingerprint in the key file (primary keys and subkeys).
    pub file_fingerprints: Vec<String>,
    /// The long ids of the keys in the RPM database.
    pub imported: Vec<String>,
    /// A downloaded key's armored text.
    pub content: Option<Vec<u8>>,
}

/// What `apply` does.
#[derive(Debug)]
pub enum KeyDrift {
    /// Import the file on the host, or these downloaded bytes.
    Import(Option<Vec<u8>>),
    /// Erase every `gpg-pubkey` entry of this key id.
    Erase(String),
}

/// Why an `rpm_key` task cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RpmKeyError {
    #[error("rpm_key needs `rpm` on the host; install it (Debian: apt-get install rpm)")]
    NoRpm,
    #[error("rpm_key needs `gpg` (or `gpg2`) on the host to read keys; install gnupg")]
    NoGpg,
    #[error("rpm_key fetches keys with curl on the host; install curl")]
    NoCurl,
    #[error("Not a valid key {0}")]
    NotValid(String),
    #[error("failed to fetch key at {url} , error was: {detail}")]
    Fetch { url: String, detail: String },
    #[error("Not a public key: {0}")]
    NotPublicKey(String),
    #[error("When importing a key, a valid file must be given")]
    NeedFile,
    #[error(
        "The specified fingerprint, '{wanted}', does not match any key fingerprints in '{found}'"
    )]
    Fingerprint { wanted: String, found: String },
    #[error("{action} failed: {detail}")]
    Tool { action: String, detail: String },
    #[error("the rpm_key script printed something dtrplay cannot read: {0}")]
    Unreadable(String),
}

impl From<RpmKeyError> for TaskError {
    fn from(err: RpmKeyError) -> TaskError {
        TaskError::failed(err.to_string())
    }
}

/// A set of strings as Python prints one: `{'A', 'B'}`.
fn python_set(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

/// The gpg call that lists keys as colon-separated records.
const GPG_SHOW: &str = "\"$G\" --batch --no-tty --with-colons --fixed-list-mode --show-keys";

impl RpmKey {
    /// The wanted fingerprints, without blanks, upper-cased, each once.
    fn fingerprints(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.fingerprint.iter().flatten() {
            let f = f.replace(' ', "").to_uppercase();
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// The start of every script: the tools, and a private gpg home (and
    /// working directory) that is removed on exit.
    fn prelude() -> String {
        format!(
            "{}export LC_ALL=C\n\
             command -v rpm >/dev/null 2>&1 || fail norpm\n\
             if command -v gpg >/dev/null 2>&1; then G=gpg; \
             elif command -v gpg2 >/dev/null 2>&1; then G=gpg2; else fail nogpg; fi\n\
             h=$(umask 077; mktemp -d) || fail tmp\ntrap 'rm -rf \"$h\"' EXIT\n\
             export GNUPGHOME=\"$h\"\n",
            remote::FAIL_FN
        )
    }

    /// The lines that print `imported=` with the long ids of the keys in
    /// the RPM database, comma-separated.
    fn imported_lines() -> String {
        format!(
            "if rpm -q gpg-pubkey >/dev/null 2>&1; then\n\
             rpm -q gpg-pubkey --qf '%{{description}}\\n' > \"$h/db\" || fail rpmq\n\
             {GPG_SHOW} \"$h/db\" 2>\"$h/err\" > \"$h/dbkeys\" || {{ cat \"$h/err\" >&2; fail gpgdb; }}\n\
             awk -F: '$1==\"pub\"{{k=k (k?\",\":\"\") $5}} END{{print \"imported=\" k}}' \"$h/dbkeys\"\n\
             else echo imported=; fi\n"
        )
    }

    fn check_script(&self, source: &Source) -> String {
        let mut s = Self::prelude();
        match source {
            Source::Url(url) => {
                let mut config = format!(
                    "url = {}\nsilent\nshow-error\nlocation\nmax-time = 30\n",
                    config_quote(url)
                );
                if !self.validate_certs {
                    config.push_str("insecure\n");
                }
                s.push_str(http::NEED_CURL);
                s.push_str(&format!(
                    "{} > \"$h/curl\" || fail tmp\nkf=\"$h/key\"\n\
                     code=$(curl -K \"$h/curl\" -o \"$kf\" -w '%{{http_code}}' 2>\"$h/err\") || {{ cat \"$h/err\" >&2; fail fetch; }}\n\
                     case $code in 200|000) ;; *) echo \"HTTP Error $code\" >&2; fail fetch;; esac\n\
                     grep -q -e '-----BEGIN PGP PUBLIC KEY BLOCK-----' \"$kf\" && \
                     grep -q -e '-----END PGP PUBLIC KEY BLOCK-----' \"$kf\" || fail notpubkey\n",
                    printf_command(config.as_bytes())
                ));
            }
            Source::File(path) => {
                s.push_str(&format!(
                    "kf={}\n[ -f \"$kf\" ] || fail notvalid\n",
                    path_arg(path)
                ));
            }
            Source::KeyId(_) => s.push_str("kf=\n"),
        }
        s.push_str(&format!(
            "if [ -n \"$kf\" ]; then\n\
             {GPG_SHOW} -- \"$kf\" 2>\"$h/err\" > \"$h/keys\" || {{ cat \"$h/err\" >&2; fail gpgkey; }}\n\
             awk -F: '$1==\"pub\"&&p==\"\"{{p=$5}} $1==\"fpr\"{{f=f (f?\",\":\"\") $10}} END{{print \"file_keyid=\" p; print \"file_fpr=\" f}}' \"$h/keys\"\n\
             fi\n"
        ));
        s.push_str(&Self::imported_lines());
        if matches!(source, Source::Url(_)) {
            s.push_str("echo content\ncat -- \"$kf\"\n");
        }
        s
    }

    fn failure(&self, out: &crate::connection::Output) -> TaskError {
        let failed = remote::failure(out);
        let err = match failed.code.as_deref() {
            Some("norpm") => RpmKeyError::NoRpm,
            Some("nogpg") => RpmKeyError::NoGpg,
            Some("nocurl") => RpmKeyError::NoCurl,
            Some("notvalid") => RpmKeyError::NotValid(self.key.clone()),
            Some("fetch") => RpmKeyError::Fetch {
                url: self.key.clone(),
                detail: failed.detail.clone(),
            },
            Some("notpubkey") => RpmKeyError::NotPublicKey(self.key.clone()),
            code => RpmKeyError::Tool {
                action: match code {
                    Some("gpgkey") => format!("gpg --show-keys {}", self.key),
                    Some("gpgdb") | Some("rpmq") => {
                        "reading the keys in the RPM database".to_string()
                    }
                    Some("import") => format!("rpm --import {}", self.key),
                    Some("erase") => "rpm --erase".to_string(),
                    Some(other) => other.to_string(),
                    None => "the rpm_key script".to_string(),
                },
                detail: failed.detail.clone(),
            },
        };
        err.into()
    }

    fn parse(stdout: &[u8]) -> Result<Found, RpmKeyError> {
        let unreadable = |e: ProbeError| RpmKeyError::Unreadable(e.to_string());
        let mut report = Report::parse(stdout).map_err(unreadable)?;
        let list = |v: Option<String>| -> Vec<String> {
            v.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_uppercase)
                .collect()
        };
        let found = Found {
            file_keyid: report
                .take("file_keyid")
                .filter(|k| !k.is_empty())
                .map(|k| k.to_uppercase()),
            file_fingerprints: list(report.take("file_fpr")),
            imported: list(report.take("imported")),
            content: report.take_content(),
        };
        report.finish().map_err(unreadable)?;
        Ok(found)
    }

    /// Compares what the host has with what the task asks for.
    pub fn decide(&self, source: &Source, found: &Found) -> Result<Option<KeyDrift>, RpmKeyError> {
        let keyid = match source {
            Source::KeyId(id) => id.clone(),
            _ => normalize(found.file_keyid.as_deref().ok_or_else(|| {
                RpmKeyError::Unreadable("gpg found no public key in the key file".to_string())
            })?),
        };
        let imported = found.imported.iter().any(|id| id.contains(&keyid));
        if self.state == "absent" {
            return Ok(imported.then_some(KeyDrift::Erase(keyid)));
        }
        if imported {
            return Ok(None);
        }
        if matches!(source, Source::KeyId(_)) {
            return Err(RpmKeyError::NeedFile);
        }
        let wanted = self.fingerprints();
        if !wanted.is_empty() && !wanted.iter().all(|f| found.file_fingerprints.contains(f)) {
            return Err(RpmKeyError::Fingerprint {
                wanted: python_set(&wanted),
                found: python_set(&found.file_fingerprints),
            });
        }
        Ok(Some(KeyDrift::Import(found.content.clone())))
    }

    fn apply_script(&self, drift: &KeyDrift) -> String {
        let mut s = Self::prelude();
        match drift {
            KeyDrift::Import(Some(_)) => {
                s.push_str("cat > \"$h/key\" || fail tmp\nrpm --import \"$h/key\" || fail import\n")
            }
            KeyDrift::Import(None) => s.push_str(&format!(
                "rpm --import {} || fail import\n",
                path_arg(&self.key)
            )),
            KeyDrift::Erase(keyid) => {
                let short = keyid[keyid.len().saturating_sub(8)..].to_lowercase();
                s.push_str(&format!(
                    "rpm --erase --allmatches {} || fail erase\n",
                    remote::shell_quote(&format!("gpg-pubkey-{short}"))
                ));
            }
        }
        s.push_str(&Self::imported_lines());
        s
    }
}

fn listing(ids: &[String]) -> String {
    ids.iter().map(|id| format!("{id}\n")).collect()
}

#[async_trait]
impl Task for RpmKey {
    type Drift = KeyDrift;

    async fn check(&self, cx: &Context<'_>) -> Result<Check<KeyDrift>, TaskError> {
        let source = source(&self.key);
        if let Source::Url(url) = &source {
            if !http::scheme_ok(url) {
                return Err(TaskError::failed(format!(
                    "key {url:?} is not an http, https, ftp or file URL"
                )));
            }
            if !self.validate_certs && url.to_ascii_lowercase().starts_with("https:") {
                cx.warn(format!(
                    "validate_certs is false: the certificate of {url} is not verified"
                ));
            }
        }
        let out = cx.run(&self.check_script(&source), &[]).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let found = Self::parse(&out.stdout)?;
        let Some(drift) = self.decide(&source, &found)? else {
            return Ok(Check::InSync(Outcome::ok()));
        };
        let (msg, after) = match &drift {
            KeyDrift::Import(_) => {
                let mut after = found.imported.clone();
                after.extend(found.file_keyid.clone());
                (format!("imported the key {}", self.key), after)
            }
            KeyDrift::Erase(keyid) => (
                format!("removed the key {}", self.key),
                found
                    .imported
                    .iter()
                    .filter(|id| !id.contains(keyid.as_str()))
                    .cloned()
                    .collect(),
            ),
        };
        let mut preview = Outcome::ok().with_msg(msg);
        preview.changed = true;
        if cx.diff {
            preview.diffs.push(Diff {
                subject: "rpm keys (gpg-pubkey)".to_string(),
                before: Some(listing(&found.imported)),
                after: Some(listing(&after)),
            });
        }
        Ok(Check::Drift { drift, preview })
    }

    async fn apply(&self, cx: &Context<'_>, drift: KeyDrift) -> Result<Outcome, TaskError> {
        let stdin = match &drift {
            KeyDrift::Import(Some(content)) => content.clone(),
            _ => Vec::new(),
        };
        let out = cx.run(&self.apply_script(&drift), &stdin).await?;
        if !out.success() {
            return Err(self.failure(&out));
        }
        let msg = match drift {
            KeyDrift::Import(_) => format!("imported the key {}", self.key),
            KeyDrift::Erase(_) => format!("removed the key {}", self.key),
        };
        Ok(Outcome::changed(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: &str, fingerprint: Option<Vec<&str>>) -> RpmKey {
        RpmKey {
            key: "/k.asc".into(),
            state: state.into(),
            fingerprint: fingerprint.map(|f| f.into_iter().map(str::to_string).collect()),
            validate_certs: true,
        }
    }

    #[test]
    fn keys_are_urls_ids_or_paths_as_ansible_tells_them_apart() {
        assert_eq!(
            source("https://x/RPM-GPG-KEY"),
            Source::Url("https://x/RPM-GPG-KEY".into())
        );
        assert_eq!(source("0xdeadbeef"), Source::KeyId("DEADBEEF".into()));
        assert_eq!(source("9fee755c"), Source::KeyId("9FEE755C".into()));
        assert_eq!(source("/etc/pki/key"), Source::File("/etc/pki/key".into()));
        assert_eq!(source("deadbee"), Source::File("deadbee".into()));
    }

    #[test]
    fn a_short_id_finds_its_key_and_fingerprints_must_all_match() {
        let found = Found {
            file_keyid: Some("0B3845259FEE755C".into()),
            file_fingerprints: vec!["5848EA0B837F97938664146D0B3845259FEE755C".into()],
            imported: vec!["0B3845259FEE755C".into()],
            content: None,
        };
        let short = Source::KeyId("9FEE755C".into());
        assert!(matches!(
            task("absent", None).decide(&short, &found),
            Ok(Some(KeyDrift::Erase(_)))
        ));
        let file = Source::File("/k.asc".into());
        assert!(matches!(
            task("present", None).decide(&file, &found),
            Ok(None)
        ));
        let fresh = Found {
            imported: Vec::new(),
            ..found
        };
        let spaced = "5848 EA0B 837F 9793 8664  146D 0B38 4525 9FEE 755C";
        assert!(matches!(
            task("present", Some(vec![spaced])).decide(&file, &fresh),
            Ok(Some(KeyDrift::Import(None)))
        ));
        let wrong = task("present", Some(vec!["AAAA"])).decide(&file, &fresh);
        assert_eq!(
            wrong.err().map(|e| e.to_string()).as_deref(),
            Some(
                "The specified fingerprint, '{'AAAA'}', does not match any key fingerprints in '{'5848EA0B837F97938664146D0B3845259FEE755C'}'"
            )
        );
        assert!(matches!(
            task("present", None).decide(&short, &fresh),
            Err(RpmKeyError::NeedFile)
        ));
    }
}
