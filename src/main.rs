//! The `dtrplay` binary: the engine's command line with the lab added as
//! `dtrplay lab`. The engine (crates/engine) does not depend on the lab;
//! this is the one place where the two meet.

use std::process::ExitCode;

use clap::{FromArgMatches, Subcommand};
use dtrplay::extra_command::ExtraCommand;
use dtrplay_lab::cli::LabCommand;

fn main() -> ExitCode {
    dtrplay::run::main_with_commands(std::env::args_os(), |_| {}, vec![lab()])
}

/// `dtrplay lab ...`: parsed by the lab's own clap definition, run by the lab.
fn lab() -> ExtraCommand {
    // The about text is set after the lab's subcommands are added, which
    // would otherwise replace it with the enum's own doc comment.
    let command = LabCommand::augment_subcommands(clap::Command::new("lab"))
        .about("Run a local UCP + DTR + nodes rehearsal cluster")
        .subcommand_required(true)
        .arg_required_else_help(true);
    ExtraCommand::new(command, |matches| {
        Box::pin(async move {
            let cmd = LabCommand::from_arg_matches(&matches)?;
            Ok(dtrplay_lab::run(cmd).await?)
        })
    })
}
