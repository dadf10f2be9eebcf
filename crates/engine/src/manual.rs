//! Shell completions and the manual page, generated from the command line
//! definition in `cli.rs`, so they list exactly the commands and flags
//! dtrplay has.

use std::io::Write;

/// Writes the completion script for `shell`, for the whole command line
/// (dtrplay's commands and the binary's extra ones).
pub fn completions(mut command: clap::Command, shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut command, "dtrplay", out);
}

/// Writes the manual page (roff): the main page, then one section per
/// command with its own flags, so `man dtrplay` shows every flag.
pub fn man_page(command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("dtrplay {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        page.render_description_section(out)?;
        page.render_options_section(out)?;
    }
    Ok(())
}
