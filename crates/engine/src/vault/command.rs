//! `dtrplay vault`: Ansible's `ansible-vault` for the files and values
//! dtrplay reads, with the same subcommands and output, so each tool reads
//! what the other writes.
//!
//! Files are changed in place (atomically, keeping their mode) unless
//! `--output` names another file; no file, or `-`, means standard input to
//! standard output. Plaintext is never written anywhere but where asked.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::password::{DEFAULT_ID, IdSpec, Password, Source};
use super::{Vault, VaultError, encrypt, is_vault};

/// What `dtrplay vault` was asked to do.
#[derive(Debug, Clone)]
pub enum Action {
    Encrypt {
        files: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    Decrypt {
        files: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    View {
        files: Vec<PathBuf>,
    },
    EncryptString {
        strings: Vec<String>,
        names: Vec<String>,
        stdin_name: Option<String>,
        output: Option<PathBuf>,
    },
    Rekey {
        files: Vec<PathBuf>,
        new: Option<IdSpec>,
    },
}

/// Runs one `dtrplay vault` action with the given password sources.
/// `encrypt_id` picks the password to encrypt with when there are several.
pub fn run(action: &Action, specs: &[IdSpec], encrypt_id: Option<&str>) -> Result<(), VaultError> {
    let mut vault = Vault::load(specs)?;
    let encrypting = matches!(
        action,
        Action::Encrypt { .. } | Action::EncryptString { .. }
    );
    if encrypting && vault.passwords.is_empty() {
        vault.passwords.push(new_password(DEFAULT_ID)?);
    }
    match action {
        Action::Encrypt { files, output } => {
            let password = vault.for_encryption(encrypt_id)?;
            for (input, out) in targets(files, output.as_deref())? {
                let plain = read_input(input.as_deref())?;
                if is_vault(&plain) {
                    return Err(VaultError::Usage(format!(
                        "{} is already encrypted",
                        name(input.as_deref())
                    )));
                }
                write_output(out.as_deref(), encrypt(&plain, password).as_bytes())?;
            }
            done("Encryption successful");
        }
        Action::Decrypt { files, output } => {
            for (input, out) in targets(files, output.as_deref())? {
                let plain = decrypt_input(&vault, input.as_deref())?;
                write_output(out.as_deref(), &plain)?;
            }
            done("Decryption successful");
        }
        Action::View { files } => {
            if files.is_empty() {
                return Err(VaultError::Usage("name the file(s) to view".into()));
            }
            let mut stdout = std::io::stdout().lock();
            for file in files {
                let plain = decrypt_input(&vault, Some(file))?;
                let _ = stdout.write_all(&plain);
            }
        }
        Action::EncryptString {
            strings,
            names,
            stdin_name,
            output,
        } => {
            let password = vault.for_encryption(encrypt_id)?;
            let mut items: Vec<(Option<String>, Vec<u8>)> = Vec::new();
            let from_stdin = strings.is_empty() || strings.iter().any(|s| s == "-");
            for (i, s) in strings.iter().filter(|s| *s != "-").enumerate() {
                items.push((names.get(i).cloned(), s.as_bytes().to_vec()));
            }
            if from_stdin {
                if std::io::stdin().is_terminal() {
                    eprintln!(
                        "Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)"
                    );
                }
                let plain = read_input(None)?;
                if plain.is_empty() {
                    return Err(VaultError::Usage("stdin was empty, not encrypting".into()));
                }
                items.push((stdin_name.clone(), plain));
            }
            let mut out = String::new();
            for (name, plain) in &items {
                out.push_str(&yaml_value(name.as_deref(), &encrypt(plain, password)));
                out.push('\n');
            }
            write_output(output.as_deref().or(Some(Path::new("-"))), out.as_bytes())?;
            done("Encryption successful");
        }
        Action::Rekey { files, new } => {
            if files.is_empty() {
                return Err(VaultError::Usage("name the file(s) to rekey".into()));
            }
            let new = match new {
                Some(spec) => spec.load()?,
                None => new_password(DEFAULT_ID)?,
            };
            for file in files {
                let plain = decrypt_input(&vault, Some(file))?;
                write_output(Some(file), encrypt(&plain, &new).as_bytes())?;
            }
            done("Rekey successful");
        }
    }
    Ok(())
}

/// `name: !vault |` and the vault indented by ten spaces, as
/// `ansible-vault encrypt_string` prints it.
pub fn yaml_value(name: Option<&str>, vault_text: &str) -> String {
    let mut out = match name {
        Some(name) => format!("{name}: !vault |"),
        None => "!vault |".to_string(),
    };
    for line in vault_text.lines() {
        out.push_str("\n          ");
        out.push_str(line);
    }
    out
}

/// Asks for a new password twice, as ansible-vault does when none is given.
fn new_password(id: &str) -> Result<Password, VaultError> {
    let first = super::password::prompt_password("New Vault password: ")?;
    let second = super::password::prompt_password("Confirm New Vault password: ")?;
    if first != second {
        return Err(VaultError::Prompt {
            reason: "the passwords do not match".into(),
        });
    }
    Ok(Password {
        id: id.to_string(),
        bytes: first,
        origin: "the prompt".into(),
    })
}

fn done(message: &str) {
    if std::io::stdout().is_terminal() {
        eprintln!("{message}");
    }
}

/// Pairs of (input, output): each file in place, or one file to `--output`,
/// or standard input to standard output (or `--output`).
#[allow(clippy::type_complexity)]
fn targets(
    files: &[PathBuf],
    output: Option<&Path>,
) -> Result<Vec<(Option<PathBuf>, Option<PathBuf>)>, VaultError> {
    let stdin = |p: &PathBuf| p.as_os_str() == "-";
    if files.is_empty() || (files.len() == 1 && stdin(&files[0])) {
        return Ok(vec![(None, Some(output.unwrap_or(Path::new("-")).into()))]);
    }
    if output.is_some() && files.len() > 1 {
        return Err(VaultError::Usage(
            "--output takes one input file, not several".into(),
        ));
    }
    Ok(files
        .iter()
        .map(|f| {
            let out = output.map(Path::to_path_buf).unwrap_or_else(|| f.clone());
            (Some(f.clone()), Some(out))
        })
        .collect())
}

fn name(input: Option<&Path>) -> String {
    input.map_or("standard input".into(), |p| p.display().to_string())
}

fn read_input(input: Option<&Path>) -> Result<Vec<u8>, VaultError> {
    match input {
        Some(path) => std::fs::read(path).map_err(|e| VaultError::Io {
            what: path.display().to_string(),
            reason: e.to_string(),
        }),
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| VaultError::Io {
                    what: "standard input".into(),
                    reason: e.to_string(),
                })?;
            Ok(buf)
        }
    }
}

fn decrypt_input(vault: &Vault, input: Option<&Path>) -> Result<Vec<u8>, VaultError> {
    let data = read_input(input)?;
    if !is_vault(&data) {
        return Err(VaultError::Usage(format!(
            "{} is not encrypted with Ansible Vault",
            name(input)
        )));
    }
    vault.decrypt(&String::from_utf8_lossy(&data), &name(input))
}

/// Writes to a file atomically (an exclusively created temporary file with
/// an unpredictable name beside it, synced, then renamed), keeping an
/// existing file's mode and giving a new one 0600; `-` is standard output.
fn write_output(out: Option<&Path>, data: &[u8]) -> Result<(), VaultError> {
    let path = match out {
        Some(p) if p.as_os_str() != "-" => p,
        _ => {
            let mut stdout = std::io::stdout().lock();
            return stdout
                .write_all(data)
                .and_then(|()| stdout.flush())
                .map_err(|e| VaultError::Io {
                    what: "standard output".into(),
                    reason: e.to_string(),
                });
        }
    };
    let io = |e: std::io::Error| VaultError::Io {
        what: path.display().to_string(),
        reason: e.to_string(),
    };
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    dtrplay_local_file::write_atomic(path, data, mode).map_err(io)
}

/// The password sources of a command line: `--vault-id` in order, then
/// `--vault-password-file` (and `ANSIBLE_VAULT_PASSWORD_FILE`), then
/// `--ask-vault-pass`.
pub fn specs(ids: &[String], files: &[PathBuf], ask: bool) -> Vec<IdSpec> {
    let mut out: Vec<IdSpec> = ids.iter().map(|s| IdSpec::parse(s)).collect();
    for file in files {
        out.push(IdSpec {
            label: DEFAULT_ID.into(),
            source: Source::File(file.clone()),
        });
    }
    if ask && !out.iter().any(|s| s.source == Source::Prompt) {
        out.push(IdSpec {
            label: DEFAULT_ID.into(),
            source: Source::Prompt,
        });
    }
    out
}
