//! Host key verification for the native transport, against OpenSSH's
//! known_hosts files, with OpenSSH's rules.
//!
//! russh ships a known_hosts reader, but it compares host fields literally
//! (no wildcards or negations), splits on single spaces, treats a marker
//! line as a host named `@revoked`, and fails the whole check on one line
//! it cannot parse. A host key check must never be more permissive, and
//! should not be needlessly stricter, than the one the same user gets from
//! `ssh`, so this module implements the format itself:
//!
//! - Lines are `[marker] patterns keytype base64 [comment]`, fields
//!   separated by blanks; blank lines, comments and lines whose key cannot
//!   be parsed are skipped, as ssh skips them.
//! - Patterns are comma separated, with `*`, `?` and negation (`!`), or a
//!   hashed name (`|1|salt|HMAC-SHA1(salt, name)`). The name looked up is
//!   `host` on port 22 and `[host]:port` otherwise.
//! - A key is known when a line for the host has the same key. A line for
//!   the host with a key of the same type but different data means the key
//!   changed: that is a loud failure, never a fallback to OpenSSH. Keys of
//!   other types only mean the presented key is unknown.
//! - `@cert-authority` and `@revoked` lines for the host are outside what the
//!   native transport implements, so such a host is left to OpenSSH.
//!
//! Like ssh, the transport offers the host key algorithms already recorded
//! for the host first ([`HostKeys::algorithms`]), so a host known by its
//! ECDSA key is not asked for an Ed25519 key it is not known by.

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::hmac;
use russh::keys::{Algorithm, PublicKey};

/// The recorded keys of one host, from every known_hosts file.
#[derive(Debug, Clone, Default)]
pub struct HostKeys {
    /// The name looked up: `host` or `[host]:port`.
    name: String,
    keys: Vec<Recorded>,
}

/// One key recorded for the host.
#[derive(Debug, Clone)]
struct Recorded {
    key: PublicKey,
    file: PathBuf,
    line: usize,
}

/// The outcome of checking a presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A recorded key matches.
    Known,
    /// No key of this type is recorded for the host. `others` names the
    /// types that are recorded, if any.
    Unknown { others: Vec<String> },
    /// A different key of the same type is recorded: the host key changed,
    /// or someone is in the middle.
    Changed { file: PathBuf, line: usize },
}

/// Why known_hosts files cannot be used natively, or a key not recorded.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    /// A marker line (`@cert-authority`, `@revoked`) names the host: only
    /// OpenSSH understands them, so the host needs the system client.
    #[error(
        "{} has a {marker} line for {name} ({}:{line}), which is not supported natively",
        file.display(),
        file.display()
    )]
    Marker {
        file: PathBuf,
        line: usize,
        marker: String,
        name: String,
    },
    /// The accepted key could not be appended to the file.
    #[error("cannot add to {}: {source}", file.display())]
    Record {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The system gave no randomness for the hashed name's salt.
    #[error("cannot add to {}: no randomness for the salt", file.display())]
    NoSalt { file: PathBuf },
    /// The key has no OpenSSH text form.
    #[error("cannot add to {}: {source}", file.display())]
    Encode {
        file: PathBuf,
        source: russh::keys::ssh_key::Error,
    },
}

/// The name known_hosts files record for `host` on `port`.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    }
}

impl HostKeys {
    /// The keys recorded for `host` on `port` in `files` (user files first,
    /// then global ones). `read` gives a file's text; a missing file is
    /// empty. Errs with a reason when a marker line names the host.
    pub fn load(
        files: &[PathBuf],
        host: &str,
        port: u16,
        read: impl Fn(&Path) -> Option<String>,
    ) -> Result<HostKeys, KnownHostsError> {
        HostKeys::load_named(files, &lookup_name(host, port), read)
    }

    /// The keys recorded under `name` exactly (a `HostKeyAlias`, which ssh
    /// looks up without the port).
    pub fn load_named(
        files: &[PathBuf],
        name: &str,
        read: impl Fn(&Path) -> Option<String>,
    ) -> Result<HostKeys, KnownHostsError> {
        let name = name.to_ascii_lowercase();
        let mut keys = Vec::new();
        for file in files {
            let Some(text) = read(file) else { continue };
            for (index, line) in text.lines().enumerate() {
                let Some(entry) = parse_line(line) else {
                    continue;
                };
                if !entry_matches(entry.patterns, &name) {
                    continue;
                }
                if let Some(marker) = entry.marker {
                    return Err(KnownHostsError::Marker {
                        file: file.clone(),
                        line: index + 1,
                        marker: marker.to_string(),
                        name,
                    });
                }
                let Ok(key) = russh::keys::parse_public_key_base64(entry.key) else {
                    continue;
                };
                if key.algorithm().as_str() != entry.key_type {
                    continue;
                }
                keys.push(Recorded {
                    key,
                    file: file.clone(),
                    line: index + 1,
                });
            }
        }
        Ok(HostKeys { name, keys })
    }

    /// Adds a key accepted during this run, so that a reconnection knows it
    /// without reading the files again.
    pub fn remember(&mut self, key: PublicKey, file: PathBuf) {
        self.keys.push(Recorded { key, file, line: 0 });
    }

    /// The name that was looked up.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the key the server presented.
    pub fn verify(&self, presented: &PublicKey) -> Verdict {
        if self
            .keys
            .iter()
            .any(|r| r.key.key_data() == presented.key_data())
        {
            return Verdict::Known;
        }
        if let Some(changed) = self
            .keys
            .iter()
            .find(|r| same_type(&r.key.algorithm(), &presented.algorithm()))
        {
            return Verdict::Changed {
                file: changed.file.clone(),
                line: changed.line,
            };
        }
        let mut others: Vec<String> = self
            .keys
            .iter()
            .map(|r| r.key.algorithm().as_str().to_string())
            .collect();
        others.dedup();
        Verdict::Unknown { others }
    }

    /// `preferred` reordered so that the algorithms of recorded keys come
    /// first, as ssh orders its host key algorithms.
    pub fn algorithms(&self, preferred: &[Algorithm]) -> Vec<Algorithm> {
        let recorded = |a: &Algorithm| self.keys.iter().any(|r| same_type(&r.key.algorithm(), a));
        let mut list: Vec<Algorithm> = preferred.iter().filter(|a| recorded(a)).cloned().collect();
        list.extend(preferred.iter().filter(|a| !recorded(a)).cloned());
        list
    }
}

/// Whether two algorithms are the same key type (RSA signature hashes do
/// not make different keys).
fn same_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

/// The fields of one known_hosts line.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    marker: Option<&'a str>,
    patterns: &'a str,
    key_type: &'a str,
    key: &'a str,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = if first.starts_with('@') {
        let marker = first;
        first = fields.next()?;
        Some(marker)
    } else {
        None
    };
    Some(Line {
        marker,
        patterns: first,
        key_type: fields.next()?,
        key: fields.next()?,
    })
}

/// Whether a line's host field covers `name`: one pattern (or hashed name)
/// matches and no negated pattern does.
fn entry_matches(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hash_matches(hashed, name);
            continue;
        }
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if crate::wildcard::matches(negated, name) {
                    return false;
                }
            }
            None => matched |= crate::wildcard::matches(&pattern, name),
        }
    }
    matched
}

/// `salt|hash`, both base64: HMAC-SHA1 keyed with the salt over the name.
fn hash_matches(hashed: &str, name: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// Appends `key` for `name` to `file`, as ssh records a host it accepted
/// (`StrictHostKeyChecking accept-new` or `no`): hashed with a fresh salt
/// when `hash` (`HashKnownHosts`), the file created private if missing.
pub fn record(file: &Path, name: &str, key: &PublicKey, hash: bool) -> Result<(), KnownHostsError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let failed = |source| KnownHostsError::Record {
        file: file.to_path_buf(),
        source,
    };
    if let Some(dir) = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
    }
    let name = if hash {
        let mut salt = [0u8; 20];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt).map_err(
            |_| KnownHostsError::NoSalt {
                file: file.to_path_buf(),
            },
        )?;
        hash_name(name, &salt)
    } else {
        name.to_string()
    };
    let entry = key.to_openssh().map_err(|source| KnownHostsError::Encode {
        file: file.to_path_buf(),
        source,
    })?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)
        .map_err(failed)?;
    out.write_all(format!("{name} {entry}\n").as_bytes())
        .map_err(failed)
}

/// Hashes `name` with `salt` the way `HashKnownHosts` writes it, for tests
/// and diagnostics.
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
    let tag = hmac::sign(&key, name.as_bytes());
    format!("|1|{}|{}", engine.encode(salt), engine.encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPMrBp8NCtsWGg4SMYwZ/cVz81/dotDxcV1zs5T8B7yX";
    const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKPempD9U9hBHeqb6MfehRMQJJLyCbY9jTBKjrYxvbCb";
    const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBItARyZjViZLPGEfQ/QGWWyBom6tyxEWlkiBBl9QJKu/LnCJ29fM2FEyEwKvNHKV2jb+mYiiVjxgXL8I61wT0Ag=";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).expect("test key")
    }

    fn load(text: &str, host: &str, port: u16) -> Result<HostKeys, KnownHostsError> {
        let text = text.to_string();
        HostKeys::load(&[PathBuf::from("/kh")], host, port, move |_| {
            Some(text.clone())
        })
    }

    fn verdict(text: &str, host: &str, port: u16, presented: &str) -> Verdict {
        load(text, host, port)
            .expect("understood")
            .verify(&key(presented))
    }

    #[test]
    fn verdicts() {
        let hashed = hash_name("[10.0.0.5]:2222", b"0123456789abcdefghij");
        let cases: Vec<(String, &str, u16, &str, Verdict)> = vec![
            (
                format!("10.0.0.5 ssh-ed25519 {ED_A}\n"),
                "10.0.0.5",
                22,
                ED_A,
                Verdict::Known,
            ),
            (
                format!("[10.0.0.5]:2222 ssh-ed25519 {ED_A} c\n"),
                "10.0.0.5",
                2222,
                ED_A,
                Verdict::Known,
            ),
            // The port matters.
            (
                format!("10.0.0.5 ssh-ed25519 {ED_A}\n"),
                "10.0.0.5",
                2222,
                ED_A,
                Verdict::Unknown { others: vec![] },
            ),
            (
                format!("{hashed} ssh-ed25519 {ED_A}\n"),
                "10.0.0.5",
                2222,
                ED_A,
                Verdict::Known,
            ),
            (
                format!("*.example.com,!bad.example.com ssh-ed25519 {ED_A}\n"),
                "web.EXAMPLE.com",
                22,
                ED_A,
                Verdict::Known,
            ),
            (
                format!("*.example.com,!bad.example.com ssh-ed25519 {ED_A}\n"),
                "bad.example.com",
                22,
                ED_A,
                Verdict::Unknown { others: vec![] },
            ),
            // Blanks, tabs, comments and broken lines are skipped.
            (
                format!("# c\n\nh ssh-ed25519 notbase64\nh\tssh-ed25519\t{ED_A}\n"),
                "h",
                22,
                ED_A,
                Verdict::Known,
            ),
            // A different key of the same type: changed.
            (
                format!("other ssh-ed25519 {ED_B}\nh ssh-ed25519 {ED_B}\n"),
                "h",
                22,
                ED_A,
                Verdict::Changed {
                    file: PathBuf::from("/kh"),
                    line: 2,
                },
            ),
            // Only another type is known: unknown, and it says which.
            (
                format!("h ecdsa-sha2-nistp256 {ECDSA}\n"),
                "h",
                22,
                ED_A,
                Verdict::Unknown {
                    others: vec!["ecdsa-sha2-nistp256".into()],
                },
            ),
            // One matching line among several is enough.
            (
                format!("h ecdsa-sha2-nistp256 {ECDSA}\nh ssh-ed25519 {ED_A}\n"),
                "h",
                22,
                ED_A,
                Verdict::Known,
            ),
        ];
        for (index, (text, host, port, presented, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                verdict(&text, host, port, presented),
                expected,
                "case {index}"
            );
        }
    }

    #[test]
    fn marker_lines_for_the_host_are_not_understood() {
        let revoked = format!("@revoked h ssh-ed25519 {ED_B}\nh ssh-ed25519 {ED_A}\n");
        let reason = load(&revoked, "h", 22).expect_err("marker").to_string();
        assert!(reason.contains("@revoked"), "{reason}");
        let ca = format!("@cert-authority *.example.com ssh-ed25519 {ED_B}\n");
        assert!(load(&ca, "web.example.com", 22).is_err());
        // A marker line for other hosts does not matter.
        assert!(load(&ca, "h", 22).is_ok());
    }

    #[test]
    fn recorded_algorithms_are_offered_first() {
        let keys = load(&format!("h ecdsa-sha2-nistp256 {ECDSA}\n"), "h", 22).expect("load");
        let preferred = [
            Algorithm::Ed25519,
            Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256,
            },
        ];
        let ordered = keys.algorithms(&preferred);
        assert_eq!(ordered[0], preferred[1]);
        assert_eq!(ordered[1], preferred[0]);
    }

    #[test]
    fn missing_files_are_empty() {
        let keys = HostKeys::load(&[PathBuf::from("/nope")], "h", 22, |_| None).expect("load");
        assert_eq!(keys.verify(&key(ED_A)), Verdict::Unknown { others: vec![] });
        assert_eq!(keys.name(), "h");
    }
}
