//! `--report FILE`: a report written to a file besides the output on the
//! terminal, in the format its name asks for.
//!
//! `run.html` gets the HTML page, `run.xml` JUnit XML, `run.json` or
//! `run.jsonl` JSON Lines. The file is written once, when the run's last event
//! (apply's recap, doctor's summary) arrives, atomically and with mode 0644 (reports hold no secret: events
//! are masked before any reporter sees them), so a CI job or a browser that
//! opens it never sees half a report, and a run that dies early leaves the
//! previous report as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::html::HtmlReporter;
use super::json::JsonReporter;
use super::junit::JunitReporter;
use super::{Event, Reporter};
use crate::error::Error;

/// The formats a report file can have, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Junit,
    Json,
}

impl Format {
    /// The format a path's extension names, or a usage error that lists them.
    pub fn of(path: &Path) -> Result<Format, Error> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("html" | "htm") => Ok(Format::Html),
            Some("xml") => Ok(Format::Junit),
            Some("json" | "jsonl") => Ok(Format::Json),
            _ => Err(Error::Usage {
                message: format!(
                    "--report {}: the file name does not say which format to write",
                    path.display()
                ),
                help: Some(
                    "end it in .html (a page for people), .xml (JUnit, for CI systems) or \
                     .json/.jsonl (JSON Lines)"
                        .into(),
                ),
            }),
        }
    }
}

/// A report file: a reporter writing into memory, saved when the run ends.
pub struct FileReport {
    path: PathBuf,
    inner: Box<dyn Reporter>,
    buffer: Buffer,
}

impl FileReport {
    pub fn new(path: &Path) -> Result<FileReport, Error> {
        let buffer = Buffer::default();
        let inner: Box<dyn Reporter> = match Format::of(path)? {
            Format::Html => Box::new(HtmlReporter::new(buffer.clone())),
            Format::Junit => Box::new(JunitReporter::new(buffer.clone())),
            Format::Json => Box::new(JsonReporter::new(buffer.clone())),
        };
        Ok(FileReport {
            path: path.to_path_buf(),
            inner,
            buffer,
        })
    }
}

impl Reporter for FileReport {
    fn report(&mut self, event: &Event) {
        self.inner.report(event);
        if event.ends_run() {
            let bytes = self.buffer.take();
            if let Err(e) = dtrplay_local_file::write_atomic(&self.path, &bytes, 0o644) {
                // The run is over and its outcome is already decided; a
                // report that cannot be saved is said on stderr rather
                // than changing the exit code the hosts' results gave.
                eprintln!(
                    "warning: could not write the report {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

/// Bytes shared between a report file and the reporter writing into it.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
