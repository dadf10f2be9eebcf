//! Source files kept in memory so that every diagnostic can point into them.
//!
//! Every YAML file dtrplay reads (playbooks, inventories, variable files, task
//! files) is loaded once into a `SourceFile`. Nodes parsed from it carry byte
//! spans into its text, and diagnostics carry the `SourceFile` itself, so a
//! message can always show the file, line and column of what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

/// One file's text, shared cheaply between the nodes and diagnostics that refer to it.
#[derive(Clone)]
pub struct SourceFile {
    inner: Arc<Inner>,
}

struct Inner {
    /// The path as the user gave it (or as found), used in messages.
    name: String,
    /// The path used to open the file and to resolve relative paths.
    path: PathBuf,
    text: Arc<str>,
    /// The file was Ansible Vault data; `text` is its plaintext.
    vaulted: bool,
    /// The byte offset in `text` of the first byte of the file that was
    /// not UTF-8 (replaced by U+FFFD in `text`).
    invalid_utf8_at: Option<usize>,
}

impl SourceFile {
    /// Wraps text that did not come from a file (command-line values, tests).
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceFile {
        let name = name.into();
        SourceFile {
            inner: Arc::new(Inner {
                path: PathBuf::from(&name),
                name,
                text: text.into(),
                vaulted: false,
                invalid_utf8_at: None,
            }),
        }
    }

    /// Reads a whole file (at most [`crate::bounded_read::MAX_INPUT_FILE`] bytes), decrypting it
    /// when it is Ansible Vault data (see `vault`). The error is the plain I/O error (a vault that cannot be
    /// decrypted is `InvalidData` carrying a `VaultError`); callers add the
    /// context of why they were reading it.
    pub fn read(path: &Path) -> std::io::Result<SourceFile> {
        let (text, vaulted, invalid_utf8_at) = crate::vault::read_to_string(path)?;
        Ok(SourceFile {
            inner: Arc::new(Inner {
                name: path.display().to_string(),
                path: path.to_path_buf(),
                text: text.into(),
                vaulted,
                invalid_utf8_at,
            }),
        })
    }

    /// Where the first byte that is not UTF-8 was, as a byte offset in
    /// [`SourceFile::text`] (the text before it is the file's own bytes).
    pub fn invalid_utf8_at(&self) -> Option<usize> {
        self.inner.invalid_utf8_at
    }

    /// Whether the file was decrypted from a vault: its values are secrets.
    pub fn vaulted(&self) -> bool {
        self.inner.vaulted
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The text under a span, or "" when the span does not fit (it always
    /// does for spans made by our parser).
    pub fn slice(&self, span: SourceSpan) -> &str {
        let end = span.offset() + span.len();
        self.text().get(span.offset()..end).unwrap_or("")
    }

    /// The (1-based) line and column of a byte offset, for plain-text messages.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text().get(..offset).unwrap_or(self.text());
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The form miette wants for `#[source_code]`, with the values of
    /// secret-named keys masked (`secret::redact_source`): an error's
    /// snippet shows the lines around it, which may hold a password.
    pub fn named(&self) -> NamedSource<Arc<str>> {
        let text = match crate::secret::redact_source(&self.inner.text) {
            std::borrow::Cow::Borrowed(_) => self.inner.text.clone(),
            std::borrow::Cow::Owned(redacted) => Arc::from(redacted),
        };
        NamedSource::new(self.name(), text).with_language("yaml")
    }
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = SourceFile::new("t.yml", "a: 1\nbb: 2\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(5), (2, 1));
        assert_eq!(src.line_col(7), (2, 3));
    }
}
