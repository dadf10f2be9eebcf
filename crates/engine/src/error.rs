//! Errors, and the one place that decides exit codes.
//!
//! Problems in the user's input are `InputError`s: each names a file and a
//! byte span, what was expected and how to fix it, and renders as a miette
//! diagnostic with the offending text underlined. Validation collects all of
//! them before any host is contacted (`Error::Invalid`), so a user fixes a
//! playbook in one round instead of one error per run.
//!
//! Failures while running (a task failing on a host, a host unreachable) are
//! not errors at all: they are events and counts in the run's summary, and the
//! exit code comes from that summary (`ExitStatus`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::source::SourceFile;

/// Exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything ran, nothing failed, every host was reached.
    Success = 0,
    /// At least one task failed on at least one host.
    TaskFailed = 2,
    /// At least one host could not be reached (and no task failed).
    Unreachable = 3,
    /// The input (command line, playbook, inventory, variables) is invalid;
    /// nothing was run.
    Invalid = 4,
    /// dtrplay itself could not do its work (an I/O error on the control
    /// machine, the lab failing to start).
    Internal = 5,
    /// `doctor` found a broken trust link.
    Unhealthy = 6,
    /// The run was interrupted (Ctrl-C), as shells report SIGINT.
    Interrupted = 130,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

/// A problem with something the user wrote, pointing at where they wrote it.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct InputError {
    /// What is wrong, in one sentence without a trailing period.
    pub message: String,
    #[source_code]
    pub src: NamedSource<Arc<str>>,
    /// Where it is wrong.
    #[label("{label}")]
    pub span: SourceSpan,
    /// A few words shown under the underline: usually what was expected.
    pub label: String,
    /// How to fix it ("did you mean `when`?").
    #[help]
    pub help: Option<String>,
}

impl InputError {
    pub fn new(src: &SourceFile, span: SourceSpan, message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
            src: src.named(),
            span,
            label: "here".to_string(),
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> InputError {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> InputError {
        self.help = Some(help.into());
        self
    }

    pub fn with_maybe_help(mut self, help: Option<String>) -> InputError {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// "file:line:column", for plain-text contexts such as JSON events.
    pub fn location(&self) -> String {
        let text = self.src.inner().as_ref();
        let offset = self.span.offset().min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.src.name())
    }
}

/// Errors about a source file as a whole live here rather than in
/// `source.rs`, so that the source layer does not depend on the error layer.
impl SourceFile {
    /// The input error for a file that is not UTF-8 text, at its first bad
    /// byte; readers check it before they read the text.
    pub fn utf8_error(&self) -> Option<InputError> {
        let at = self.invalid_utf8_at()?;
        Some(
            InputError::new(
                self,
                SourceSpan::from((at, 1)),
                format!("{} is not valid UTF-8 text", self.name()),
            )
            .with_label("this byte is not UTF-8")
            .with_help("save the file as UTF-8 (Ansible reads its files as UTF-8 too)"),
        )
    }
}

/// An input problem that does not stop the run, rendered as a warning.
#[derive(Debug)]
pub struct Warning<'a>(pub &'a InputError);

impl std::fmt::Display for Warning<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Warning<'_> {}

impl Diagnostic for Warning<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// Everything that stops dtrplay before or outside a run.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    #[error("could not read {}", path.display())]
    #[diagnostic(help("check that the path exists and is readable"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Input(Box<InputError>),

    /// Several input problems, all reported at once.
    #[error("found {} problem{} in the input; nothing was run", errors.len(), if errors.len() == 1 { "" } else { "s" })]
    Invalid {
        #[related]
        errors: Vec<InputError>,
    },

    /// A bad command-line value that has no file to point into.
    #[error("{message}")]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// An extra command (`dtrplay lab`) failed.
    #[error("the {name} failed: {source}")]
    Command {
        name: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Vault data that cannot be decrypted, or a password that cannot be had.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Vault(#[from] crate::vault::VaultError),
}

impl Error {
    /// The exit status for an error that stopped the program.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Read { .. }
            | Error::Input(_)
            | Error::Invalid { .. }
            | Error::Usage { .. }
            | Error::Vault(_) => ExitStatus::Invalid,
            Error::Io { .. } | Error::Command { .. } => ExitStatus::Internal,
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            help: None,
        }
    }
}

impl From<InputError> for Error {
    fn from(err: InputError) -> Error {
        Error::Input(Box::new(err))
    }
}

impl From<Vec<InputError>> for Error {
    fn from(mut errors: Vec<InputError>) -> Error {
        if errors.len() == 1 {
            Error::Input(Box::new(errors.remove(0)))
        } else {
            Error::Invalid { errors }
        }
    }
}
