//! Input problems and errors shown as miette diagnostics on stderr.
//!
//! These are the only diagnostics printed outside a reporter: they come
//! before a run starts (or stop it), when there is no run to report on.

use std::io::IsTerminal;

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::error::{Error, InputError, Warning};

/// Colour on a terminal, never with `NO_COLOR` (https://no-color.org).
pub fn color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints input problems that do not stop the run as miette warnings on
/// stderr.
pub fn print_warnings(warnings: &[InputError]) {
    for warning in warnings {
        print_diagnostic(&Warning(warning));
    }
}

/// Prints an error as a miette diagnostic on stderr.
pub fn print_error(err: &Error) {
    print_diagnostic(err);
}

fn print_diagnostic(err: &dyn miette::Diagnostic) {
    let theme = if color(std::io::stderr().is_terminal()) {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    if GraphicalReportHandler::new_themed(theme)
        .render_report(&mut out, err)
        .is_err()
    {
        out = format!("error: {err}");
    }
    eprintln!("{out}");
}
