//! Commands that a binary adds to dtrplay's own.
//!
//! The engine knows nothing of the lab: the `dtrplay` binary adds `lab`
//! (from the `dtrplay-lab` crate) as an extra command, so the engine builds
//! without the lab's servers and PKI. An extra command is a clap
//! subcommand and the function that runs it; it is parsed, listed in
//! `--help`, the completions and the manual page like any built-in command,
//! and its errors are reported and mapped to an exit code the same way.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

/// What an extra command's run returns: its exit code, or the error to
/// report (which exits with the internal-error status).
pub type CommandResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;

/// The future an extra command's run returns; it runs on dtrplay's runtime.
pub type CommandFuture = Pin<Box<dyn Future<Output = CommandResult> + Send>>;

type Runner = Box<dyn FnOnce(clap::ArgMatches) -> CommandFuture>;

/// One command a binary adds: its clap definition and how to run it.
pub struct ExtraCommand {
    pub(crate) command: clap::Command,
    pub(crate) run: Runner,
}

impl ExtraCommand {
    /// A command named by `command` (its `get_name()`), run with the
    /// arguments clap matched for it.
    pub fn new(
        command: clap::Command,
        run: impl FnOnce(clap::ArgMatches) -> CommandFuture + 'static,
    ) -> ExtraCommand {
        ExtraCommand {
            command,
            run: Box::new(run),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.command.get_name()
    }
}

/// The full command line definition: dtrplay's own commands and the extra
/// ones, in that order.
pub(crate) fn command_line(extra: &[ExtraCommand]) -> clap::Command {
    use clap::CommandFactory;
    extra.iter().fold(crate::cli::Cli::command(), |cli, x| {
        cli.subcommand(x.command.clone())
    })
}

/// Runs the extra command that `matches` names, if it names one.
pub(crate) async fn run(
    extra: Vec<ExtraCommand>,
    matches: &clap::ArgMatches,
) -> Option<Result<ExitCode, crate::error::Error>> {
    let (name, sub) = matches.subcommand()?;
    let x = extra.into_iter().find(|x| x.name() == name)?;
    let name = name.to_string();
    Some(
        (x.run)(sub.clone())
            .await
            .map_err(|source| crate::error::Error::Command { name, source }),
    )
}
