//! Ansible Vault: encrypted files and values, read wherever Ansible reads
//! them, and the `dtrplay vault` command that writes them.
//!
//! - `format.rs`: the text of a vault (header, hex body, vault id).
//! - `crypt.rs`: AES-256-CTR with HMAC-SHA256 and PBKDF2, Ansible's AES256.
//! - `password.rs`: where passwords come from (files, scripts, prompt).
//! - `command.rs`: `dtrplay vault encrypt|decrypt|view|encrypt_string|rekey`.
//!
//! # The passwords of a run
//!
//! The passwords are a property of the command line, like the environment,
//! and every file reader of a run needs them: vaulted playbooks and
//! `vars_files`, `group_vars`/`host_vars` files, `include_vars`, the `src:`
//! files of `copy` and `template`, and inline `!vault` values. Rather than
//! threading them through every loader, the command installs them once
//! ([`install`]) before it reads anything, and readers call
//! [`read_file`] (whole files) or [`decrypt_value`] (inline values).
//!
//! # Decrypted values are secrets
//!
//! Everything a vault decrypts is remembered ([`mark_secret`]) and masked
//! in everything dtrplay shows ([`decrypted_secrets`]), whatever variable
//! name it ends up under.

pub mod command;
pub mod crypt;
pub mod format;
pub mod password;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

pub use format::is_vault;
pub use password::{IdSpec, Password};

/// Why vault data could not be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VaultError {
    #[error("{what} is encrypted with Ansible Vault, and no vault password was given")]
    #[diagnostic(help(
        "pass --vault-password-file FILE, --vault-id LABEL@FILE or --ask-vault-pass (or set ANSIBLE_VAULT_PASSWORD_FILE)"
    ))]
    NoPassword { what: String },

    #[error("no vault password decrypts {what} (tried {tried})")]
    #[diagnostic(help(
        "check the password; a vault encrypted for another vault id needs its own --vault-id LABEL@SOURCE"
    ))]
    WrongPassword { what: String, tried: String },

    #[error("{what} is not valid vault data: {reason}")]
    #[diagnostic(help("re-create it with `dtrplay vault encrypt` or `ansible-vault encrypt`"))]
    Format {
        what: String,
        reason: format::FormatError,
    },

    #[error("{what} decrypts to data that is not UTF-8 text")]
    NotText { what: String },

    #[error("the vault password source {source_name} {reason}")]
    #[diagnostic(help(
        "a password file holds the password on its first line; an executable file prints it"
    ))]
    PasswordSource { source_name: String, reason: String },

    #[error("cannot ask for the vault password: {reason}")]
    #[diagnostic(help("give it with --vault-password-file FILE instead"))]
    Prompt { reason: String },

    #[error("{what}: {reason}")]
    Io { what: String, reason: String },

    #[error("{0}")]
    Usage(String),
}

/// The passwords of a run.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    pub passwords: Vec<Password>,
}

impl Vault {
    /// Loads every password source, in order.
    pub fn load(specs: &[IdSpec]) -> Result<Vault, VaultError> {
        let passwords = specs.iter().map(IdSpec::load).collect::<Result<_, _>>()?;
        Ok(Vault { passwords })
    }

    /// Decrypts vault text. The passwords whose label matches the vault's
    /// id are tried first, then the others, as Ansible does. `what` names
    /// the data in messages (a file, a variable).
    pub fn decrypt(&self, text: &str, what: &str) -> Result<Vec<u8>, VaultError> {
        let envelope = format::parse(text).map_err(|reason| VaultError::Format {
            what: what.to_string(),
            reason,
        })?;
        if self.passwords.is_empty() {
            return Err(VaultError::NoPassword {
                what: what.to_string(),
            });
        }
        let id = envelope.vault_id.as_deref();
        let ordered = self
            .passwords
            .iter()
            .filter(|p| Some(p.id.as_str()) == id)
            .chain(self.passwords.iter().filter(|p| Some(p.id.as_str()) != id));
        for password in ordered {
            match crypt::decrypt(
                &envelope.ciphertext,
                &envelope.hmac,
                &password.bytes,
                &envelope.salt,
            ) {
                Ok(plain) => return Ok(plain),
                Err(crypt::CryptError::Hmac) => continue,
                Err(crypt::CryptError::Padding) => {
                    return Err(VaultError::Format {
                        what: what.to_string(),
                        reason: format::FormatError::Parts,
                    });
                }
            }
        }
        Err(VaultError::WrongPassword {
            what: what.to_string(),
            tried: self
                .passwords
                .iter()
                .map(|p| format!("`{}` from {}", p.id, p.origin))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The password to encrypt with: the one labelled `id`, or the only one.
    pub fn for_encryption(&self, id: Option<&str>) -> Result<&Password, VaultError> {
        match id {
            Some(id) => self.passwords.iter().find(|p| p.id == id).ok_or_else(|| {
                VaultError::Usage(format!(
                    "no vault password is labelled `{id}`; give it with --vault-id {id}@SOURCE"
                ))
            }),
            None => match self.passwords.as_slice() {
                [one] => Ok(one),
                [] => Err(VaultError::Usage(
                    "no vault password was given: pass --vault-password-file FILE, --vault-id LABEL@SOURCE or --ask-vault-pass".into(),
                )),
                _ => Err(VaultError::Usage(
                    "several vault passwords were given: choose the one to encrypt with by --encrypt-vault-id LABEL".into(),
                )),
            },
        }
    }
}

/// Encrypts with a password, labelling the vault with its id.
pub fn encrypt(plaintext: &[u8], password: &Password) -> String {
    let salt = crypt::salt();
    let (hmac, ciphertext) = crypt::encrypt(plaintext, &password.bytes, &salt);
    format::format(Some(&password.id), &salt, &hmac, &ciphertext)
}

static INSTALLED: OnceLock<Vault> = OnceLock::new();
static DECRYPTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes `vault` the passwords of this process. The first call wins; the
/// command line calls it once, before anything is read.
pub fn install(vault: Vault) {
    let _ = INSTALLED.set(vault);
}

/// The passwords installed for this process (none until [`install`]).
pub fn installed() -> &'static Vault {
    static EMPTY: Vault = Vault {
        passwords: Vec::new(),
    };
    INSTALLED.get().unwrap_or(&EMPTY)
}

/// Reads a file, decrypting it when it is a vault. This is what every
/// reader of user files calls (`include_vars` too): a vaulted file reads
/// as its plaintext, and that plaintext is remembered as a secret.
pub fn read_file(path: &Path) -> Result<Vec<u8>, VaultError> {
    let bytes = crate::bounded_read::read_bounded(path).map_err(|e| VaultError::Io {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if !is_vault(&bytes) {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let plain = installed().decrypt(&text, &path.display().to_string())?;
    mark_secret(&String::from_utf8_lossy(&plain));
    Ok(plain)
}

/// Like [`read_file`], for text files, with the I/O error kept as such so
/// that callers that report unreadable files keep doing so. Gives the text,
/// whether it was a vault, and the offset of the first byte that was not
/// UTF-8 (replaced in the text) if there was one.
pub fn read_to_string(path: &Path) -> std::io::Result<(String, bool, Option<usize>)> {
    let bytes = crate::bounded_read::read_bounded(path)?;
    if !is_vault(&bytes) {
        // Text that is not UTF-8 is kept with its bad bytes replaced, so
        // that its reader can point at the first one (`SourceFile::invalid_utf8_at`).
        return Ok(match String::from_utf8(bytes) {
            Ok(text) => (text, false, None),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                (
                    String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    false,
                    Some(at),
                )
            }
        });
    }
    let text = String::from_utf8_lossy(&bytes);
    let plain = installed()
        .decrypt(&text, &path.display().to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let plain = String::from_utf8(plain).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            VaultError::NotText {
                what: path.display().to_string(),
            },
        )
    })?;
    Ok((plain, true, None))
}

/// Decrypts an inline `!vault` value; the plaintext is remembered as a secret.
pub fn decrypt_value(text: &str, what: &str) -> Result<String, VaultError> {
    let plain = installed().decrypt(text, what)?;
    let plain = String::from_utf8(plain).map_err(|_| VaultError::NotText {
        what: what.to_string(),
    })?;
    mark_secret(&plain);
    Ok(plain)
}

/// Remembers a decrypted value, to be masked wherever it would be shown.
/// A multi-line value (a decrypted `src:` file) is remembered line by line
/// as well, since diffs show it line by line.
pub fn mark_secret(value: &str) {
    let Ok(mut list) = DECRYPTED.lock() else {
        return;
    };
    let mut add = |s: &str| {
        let s = s.trim();
        if s.len() >= crate::secret::MIN_SECRET_LEN && !list.iter().any(|k| k == s) {
            list.push(s.to_string());
        }
    };
    add(value);
    if value.contains('\n') {
        value.lines().for_each(&mut add);
    }
}

/// Every value decrypted so far in this process.
pub fn decrypted_secrets() -> Vec<String> {
    DECRYPTED.lock().map(|l| l.clone()).unwrap_or_default()
}

/// The decrypted values as a `Secrets` that masks them, compiled once per
/// change of the list (values are decrypted at load time, and by `copy`
/// and `template` when they read a vaulted `src:`).
pub fn secrets() -> crate::secret::Secrets {
    static CACHE: Mutex<(usize, Option<crate::secret::Secrets>)> = Mutex::new((0, None));
    let values = decrypted_secrets();
    let Ok(mut cache) = CACHE.lock() else {
        return crate::secret::Secrets::new();
    };
    if cache.0 != values.len() || cache.1.is_none() {
        let mut secrets = crate::secret::Secrets::new();
        for v in &values {
            secrets.add(v);
        }
        // Compiles the set now, so that every clone shares it.
        let _ = secrets.mask("-");
        *cache = (values.len(), Some(secrets));
    }
    cache.1.clone().unwrap_or_default()
}
