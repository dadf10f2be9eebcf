//! Asking the person at the terminal: for a secret (`-K`, once per run), or
//! whether to run the next task (`--step`).
//!
//! The question and the answer go through the controlling terminal
//! (`/dev/tty`), never standard input or output, so a run whose output is
//! piped or redirected still asks, and nothing of the answer reaches a log.
//! Echo is off while the answer is typed and restored afterwards, whatever
//! happens.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg};

/// The longest answer read; a password is far shorter.
const MAX_ANSWER: u64 = 64 * 1024;

/// Why no answer could be had.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("cannot open the terminal to ask for the {what}: {source}")]
    NoTerminal {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot read the {what} from the terminal: {source}")]
    Read {
        what: String,
        source: std::io::Error,
    },
}

/// Prints `prompt` on the terminal and reads one line with echo off. The
/// line's end is not part of the answer.
pub fn ask_secret(prompt: &str, what: &str) -> Result<String, AskError> {
    ask_line(prompt, what, false)
}

/// Prints `prompt` on the terminal and reads one line as typed (`--step`).
pub fn ask(prompt: &str, what: &str) -> Result<String, AskError> {
    ask_line(prompt, what, true)
}

/// Writes a line on the terminal, if there is one (a notice between two
/// questions); nothing else can be done when it cannot be written.
pub fn say(text: &str) {
    if let Ok(mut tty) = OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(text.as_bytes());
    }
}

/// Whether this process has a terminal to ask on.
pub fn available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

fn ask_line(prompt: &str, what: &str, echo: bool) -> Result<String, AskError> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|source| AskError::NoTerminal {
            what: what.to_string(),
            source,
        })?;
    let saved = if echo {
        None
    } else {
        termios::tcgetattr(&tty).ok()
    };
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        let _ = termios::tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet);
    }
    let read = (|| {
        let mut out = &tty;
        out.write_all(prompt.as_bytes())?;
        out.flush()?;
        let mut line = String::new();
        BufReader::new((&tty).take(MAX_ANSWER)).read_line(&mut line)?;
        Ok::<String, std::io::Error>(line)
    })();
    if let Some(saved) = &saved {
        let _ = termios::tcsetattr(&tty, SetArg::TCSANOW, saved);
    }
    let line = read.map_err(|source| AskError::Read {
        what: what.to_string(),
        source,
    })?;
    Ok(line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line)
        .to_string())
}
