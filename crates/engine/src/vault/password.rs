//! Where vault passwords come from, as Ansible takes them: `--vault-id
//! label@source` (several), `--vault-password-file FILE` and the
//! `ANSIBLE_VAULT_PASSWORD_FILE` variable (label `default`), and
//! `--ask-vault-pass` (a prompt, label `default`).
//!
//! A source is `prompt`, a plain file (its content stripped of surrounding
//! whitespace), or an executable file: a script whose standard output,
//! stripped of trailing line breaks, is the password. A script named
//! `*-client` or `*-client.<ext>` is a client script and is asked for its
//! label: it runs with `--vault-id <label>`. Every password is loaded once,
//! when the command starts, before any file is read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::VaultError;

/// The label of a password given without one.
pub const DEFAULT_ID: &str = "default";

/// A password and where it came from (for messages; never the password).
#[derive(Clone)]
pub struct Password {
    pub id: String,
    pub bytes: Vec<u8>,
    pub origin: String,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password({} from {})", self.id, self.origin)
    }
}

/// One `--vault-id` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSpec {
    pub label: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Prompt,
    File(PathBuf),
}

impl IdSpec {
    /// Parses `label@source` or `source` (label `default`); the source
    /// `prompt` asks on the terminal.
    pub fn parse(text: &str) -> IdSpec {
        let (label, source) = match text.split_once('@') {
            Some((label, source)) if !label.is_empty() => (label, source),
            Some((_, source)) => (DEFAULT_ID, source),
            None => (DEFAULT_ID, text),
        };
        let source = match source {
            "prompt" | "prompt_ask_vault_pass" => Source::Prompt,
            path => Source::File(PathBuf::from(path)),
        };
        IdSpec {
            label: label.to_string(),
            source,
        }
    }

    /// Loads the password.
    pub fn load(&self) -> Result<Password, VaultError> {
        match &self.source {
            Source::Prompt => {
                let prompt = if self.label == DEFAULT_ID {
                    "Vault password: ".to_string()
                } else {
                    format!("Vault password ({}): ", self.label)
                };
                Ok(Password {
                    id: self.label.clone(),
                    bytes: prompt_password(&prompt)?,
                    origin: "the prompt".into(),
                })
            }
            Source::File(path) => Ok(Password {
                id: self.label.clone(),
                bytes: from_file(path, &self.label)?,
                origin: path.display().to_string(),
            }),
        }
    }
}

fn from_file(path: &Path, label: &str) -> Result<Vec<u8>, VaultError> {
    let fail = |reason: String| VaultError::PasswordSource {
        source_name: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    if meta.is_dir() {
        return Err(fail("is a directory, not a file".into()));
    }
    let password = if meta.permissions().mode() & 0o111 != 0 {
        // A bare name is a file here, not a program to look up on PATH.
        let mut command = Command::new(if path.is_relative() {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        });
        if is_client_script(path) {
            command.args(["--vault-id", label]);
        }
        let output = command
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| fail(format!("is executable but cannot be run: {e}")))?;
        if !output.status.success() {
            return Err(fail(format!(
                "is a password script and it failed ({})",
                output.status
            )));
        }
        let mut out = output.stdout;
        while out.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            out.pop();
        }
        while out.first().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            out.remove(0);
        }
        out
    } else {
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
        bytes.trim_ascii().to_vec()
    };
    if password.is_empty() {
        return Err(fail("gives an empty password".into()));
    }
    Ok(password)
}

/// Ansible's rule: a script named `*-client` (any extension) is a client.
fn is_client_script(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"))
        || path
            .file_name()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s.ends_with("-client"))
}

/// Asks on the terminal, without echo, as `-K` does (`tty::ask_secret`).
pub fn prompt_password(prompt: &str) -> Result<Vec<u8>, VaultError> {
    let line =
        crate::tty::ask_secret(prompt, "vault password").map_err(|e| VaultError::Prompt {
            reason: match e {
                crate::tty::AskError::NoTerminal { source, .. } => {
                    format!("there is no terminal to ask on ({source})")
                }
                crate::tty::AskError::Read { source, .. } => {
                    format!("the terminal could not be read ({source})")
                }
            },
        })?;
    let password = line.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
    if password.is_empty() {
        return Err(VaultError::Prompt {
            reason: "the password is empty".into(),
        });
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_id_forms() {
        assert_eq!(
            IdSpec::parse("prod@pass.txt"),
            IdSpec {
                label: "prod".into(),
                source: Source::File("pass.txt".into())
            }
        );
        assert_eq!(IdSpec::parse("pass.txt").label, "default");
        assert_eq!(IdSpec::parse("dev@prompt").source, Source::Prompt);
        assert!(is_client_script(Path::new("/x/keyring-client.py")));
        assert!(is_client_script(Path::new("keyring-client")));
        assert!(!is_client_script(Path::new("pass.sh")));
    }
}
