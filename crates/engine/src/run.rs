//! Runs one command: the glue between the command line and the engine.
//!
//! `main` builds the runtime, parses the arguments and maps the outcome to an
//! exit code; each command is a small function here that loads its inputs,
//! validates them, and calls into the engine. Errors are printed here, once,
//! as miette diagnostics.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::FromArgMatches;

use crate::cli::{Cli, Command, DoctorArgs, InventoryArgs, OutputFormat, RunArgs, ValidateArgs};
use crate::config::{RunConfig, parse_extra_vars};
use crate::error::{Error, ExitStatus};
use crate::extra_command::ExtraCommand;
use crate::listing::Wanted;
use crate::report::diagnostics::{color, print_error};
use crate::report::file::FileReport;
use crate::report::human::HumanReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::{Event, Reporter, Tee};
use crate::settings::{Key, Settings};
use crate::tasks::Registry;
use crate::{executor, validate};

pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    main_with(args, |_| {})
}

/// The program with extra task types: `extend` adds them to the built-ins
/// before anything is loaded, so they are validated, planned and run like
/// built-ins, in every command. This is how a Rust task is shipped: a
/// binary whose `main` is one call of this (see docs/custom-tasks.md and
/// examples/rust-task).
pub fn main_with(
    args: impl IntoIterator<Item = OsString>,
    extend: impl FnOnce(&mut Registry),
) -> ExitCode {
    main_with_commands(args, extend, Vec::new())
}

/// The program with extra task types and extra commands: the `dtrplay`
/// binary is this with `lab` (src/main.rs).
pub fn main_with_commands(
    args: impl IntoIterator<Item = OsString>,
    extend: impl FnOnce(&mut Registry),
    extra: Vec<ExtraCommand>,
) -> ExitCode {
    let mut base = Registry::builtins();
    extend(&mut base);
    let mut command_line = crate::extra_command::command_line(&extra);
    let parsed = command_line
        .try_get_matches_from_mut(args)
        .and_then(|matches| {
            let ours = matches
                .subcommand_name()
                .is_some_and(|name| !extra.iter().any(|x| x.name() == name));
            let cli = if ours {
                Some(Cli::from_arg_matches(&matches)?)
            } else {
                None
            };
            Ok((matches, cli))
        });
    let (matches, cli) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            // --help and --version are successes; a bad command line is
            // invalid input, like any other.
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitStatus::Invalid.into(),
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitStatus::Internal.into();
        }
    };
    let outcome = runtime.block_on(async {
        match cli {
            Some(cli) => command(cli.command, &base, command_line).await,
            // An extra command: ansible.cfg and the vault have nothing to
            // say to it, as to `lab down` with a broken ansible.cfg.
            None => match crate::extra_command::run(extra, &matches).await {
                Some(outcome) => outcome,
                None => Err(Error::usage("no such command")),
            },
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            let e = vault_cause(e);
            print_error(&e);
            e.exit_status().into()
        }
    }
}

/// A file that could not be read because its vault could not be decrypted
/// is reported as the vault problem it is, with the vault's help.
fn vault_cause(err: Error) -> Error {
    match err {
        Error::Read { path, source } => {
            let kind = source.kind();
            match source
                .into_inner()
                .map(|b| b.downcast::<crate::vault::VaultError>())
            {
                Some(Ok(vault)) => Error::Vault(*vault),
                Some(Err(other)) => Error::Read {
                    path,
                    source: std::io::Error::new(kind, other),
                },
                None => Error::Read {
                    path,
                    source: std::io::Error::from(kind),
                },
            }
        }
        other => other,
    }
}

/// Loads the vault passwords of a command line and makes them the
/// process's, before any file is read.
fn install_vault(args: &crate::cli::VaultArgs, settings: &Settings) -> Result<(), Error> {
    let mut files = args.vault_password_file.clone();
    if files.is_empty()
        && args.vault_id.is_empty()
        && !args.ask_vault_pass
        && let Some(file) = settings.path(Key::VaultPasswordFile)
    {
        files.push(file);
    }
    let specs = crate::vault::command::specs(&args.vault_id, &files, args.ask_vault_pass);
    crate::vault::install(crate::vault::Vault::load(&specs)?);
    Ok(())
}

async fn command(
    command: Command,
    base: &Registry,
    command_line: clap::Command,
) -> Result<ExitCode, Error> {
    // The vault commands are dtrplay's own: ansible.cfg has nothing to say
    // to them, nor to the completions and the manual.
    let settings = match &command {
        Command::Vault(_) | Command::Completions(_) | Command::Man => Settings::default(),
        _ => Settings::load()?,
    };
    match &command {
        Command::Apply(a) | Command::Plan(a) => install_vault(&a.vault, &settings)?,
        Command::Validate(a) => install_vault(&a.vault, &settings)?,
        Command::Doctor(a) => install_vault(&a.vault, &settings)?,
        _ => {}
    }
    match command {
        Command::Apply(args) => apply(&args, false, base, &settings).await,
        Command::Plan(args) => apply(&args, true, base, &settings).await,
        Command::Validate(args) => validate_cmd(&args, base, &settings),
        Command::Inventory(args) => inventory_cmd(&args),
        Command::Doctor(args) => doctor_cmd(&args, &settings).await,
        Command::Vault(cmd) => vault_cmd(cmd),
        Command::Completions(args) => {
            crate::manual::completions(command_line, args.shell, &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            crate::manual::man_page(command_line, &mut std::io::stdout()).map_err(|source| {
                Error::Io {
                    context: "writing the manual page to standard output".into(),
                    source,
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn apply(
    args: &RunArgs,
    plan: bool,
    base: &Registry,
    settings: &Settings,
) -> Result<ExitCode, Error> {
    if args.ask_pass {
        return Err(Error::Usage {
            message: "-k/--ask-pass: password SSH logins are not offered".into(),
            help: Some("dtrplay logs in with SSH keys: set ansible_ssh_private_key_file (or private_key_file in ansible.cfg), or load the key into ssh-agent; `ssh-copy-id user@host` installs a key on a host".into()),
        });
    }
    let base = with_ansible(base, &args.ansible, &args.playbook);
    if args.syntax_check {
        let loaded = validate::load(
            &base,
            &args.playbook,
            &args.inventory,
            &parse_extra_vars(&args.extra_vars)?,
            &args.task_path,
            &crate::playbook::role::roles_path(&args.roles_path, settings),
        )?;
        println!("\nplaybook: {}", loaded.playbook.src.name());
        return Ok(ExitCode::SUCCESS);
    }
    if args.step && !crate::tty::available() {
        return Err(Error::Usage {
            message: "--step asks before each task, and this run has no terminal to ask on".into(),
            help: Some("run it from a terminal, or choose the tasks with --tags, --skip-tags or --start-at-task".into()),
        });
    }
    let mut cfg = RunConfig::from_args(args, plan, settings)?;
    let loaded = validate::load(
        &base,
        &cfg.playbook,
        &cfg.inventory,
        &cfg.extra_vars,
        &cfg.task_path,
        &cfg.roles_path,
    )?;
    let selection = crate::selection::check(&cfg, &loaded.playbook, &loaded.inventory);
    if !selection.is_empty() {
        return Err(Error::from(selection));
    }
    if let Some(wanted) = &cfg.start_at_task {
        crate::start_at::check(wanted, &loaded.playbook)?;
    }
    let wanted = Wanted {
        hosts: args.list_hosts,
        tasks: args.list_tasks,
        tags: args.list_tags,
    };
    if wanted.any() {
        print!(
            "{}",
            crate::listing::render(wanted, &cfg, &loaded.playbook, &loaded.inventory)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    // The plays' questions, once each, before any host is contacted.
    let mut loaded = loaded;
    for play in &mut loaded.playbook.plays {
        play.answers = crate::vars_prompt::ask(&play.prompts, &cfg.extra_vars)?;
    }
    if cfg.ask_become_pass {
        // Asked once for the whole run, after validation (a playbook with
        // errors asks nothing) and before any host is contacted.
        let password =
            crate::tty::ask_secret("BECOME password: ", "become password").map_err(|e| {
                Error::Usage {
                message: e.to_string(),
                help: Some(
                    "-K needs a terminal; give the password with --become-password-file instead"
                        .into(),
                ),
            }
            })?;
        cfg.escalation.password = Some(password);
    }
    let mut reporter = reporters(
        cfg.output,
        &cfg.reports,
        cfg.verbose,
        cfg.no_color,
        cfg.diff,
    )?;
    for note in &settings.notes {
        reporter.report(&Event::Notice {
            message: note.clone(),
        });
    }
    if let Some(message) = cfg.connection.warning() {
        reporter.report(&Event::Warning {
            host: None,
            message,
        });
    }
    for unset in crate::env_lookups::unset(&loaded.inventory, Some(&loaded.playbook)) {
        reporter.report(&Event::Warning {
            host: None,
            message: unset.message(),
        });
    }
    let summary = executor::run(
        &cfg,
        &loaded.playbook,
        &loaded.inventory,
        &loaded.registry,
        reporter.as_mut(),
        ctrl_c(),
    )
    .await?;
    Ok(summary.exit_status().into())
}

/// The registry with ansible-core's modules behind it, as the command
/// line (or `DTRPLAY_ANSIBLE_PYTHON`) chooses (see `tasks::ansible`).
fn with_ansible(
    base: &Registry,
    args: &crate::cli::AnsibleArgs,
    playbook: &std::path::Path,
) -> Registry {
    let choice = crate::tasks::ansible::Choice::from_arg(args.ansible_python.as_deref());
    let dir = playbook.parent().unwrap_or(std::path::Path::new("."));
    let mut registry = base.clone();
    registry.set_fallback(crate::tasks::ansible::AnsibleCore::new(choice, dir));
    registry
}

/// Completes at the first Ctrl-C (SIGINT), after which a second one ends
/// the process at once, for a user who does not want to wait for the
/// remote scripts to be stopped and the connections closed.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // Without a way to listen, Ctrl-C keeps its default effect.
        std::future::pending::<()>().await;
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted twice: quitting without closing the connections");
            std::process::exit(ExitStatus::Interrupted as i32);
        }
    });
}

fn validate_cmd(
    args: &ValidateArgs,
    base: &Registry,
    settings: &Settings,
) -> Result<ExitCode, Error> {
    let extra = parse_extra_vars(&args.extra_vars)?;
    let base = with_ansible(base, &args.ansible, &args.playbook);
    let loaded = validate::load(
        &base,
        &args.playbook,
        &args.inventory,
        &extra,
        &args.task_path,
        &crate::playbook::role::roles_path(&args.roles_path, settings),
    )?;
    let tasks: usize = loaded
        .playbook
        .plays
        .iter()
        .map(|p| p.all_tasks().len() + p.handlers.len())
        .sum();
    println!(
        "{}: valid ({} play{}, {} task{}{})",
        loaded.playbook.src.name(),
        loaded.playbook.plays.len(),
        plural(loaded.playbook.plays.len()),
        tasks,
        plural(tasks),
        if args.inventory.is_empty() {
            String::new()
        } else {
            let hosts = loaded.inventory.hosts().count();
            format!(", {hosts} host{}", plural(hosts))
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn vault_cmd(cmd: crate::cli::VaultCommand) -> Result<ExitCode, Error> {
    use crate::cli::VaultCommand as V;
    use crate::vault::command::{Action, run, specs};
    let (action, vault, encrypt_id) = match cmd {
        V::Encrypt(a) => (
            Action::Encrypt {
                files: a.files,
                output: a.output,
            },
            a.vault,
            a.encrypt_vault_id,
        ),
        V::Decrypt(a) => (
            Action::Decrypt {
                files: a.files,
                output: a.output,
            },
            a.vault,
            None,
        ),
        V::View(a) => (Action::View { files: a.files }, a.vault, None),
        V::EncryptString(a) => (
            Action::EncryptString {
                strings: a.strings,
                names: a.name,
                stdin_name: a.stdin_name,
                output: a.output,
            },
            a.vault,
            a.encrypt_vault_id,
        ),
        V::Rekey(a) => {
            let new = match (a.new_vault_id, a.new_vault_password_file) {
                (Some(id), _) => Some(crate::vault::IdSpec::parse(&id)),
                (None, Some(file)) => Some(crate::vault::IdSpec {
                    label: crate::vault::password::DEFAULT_ID.into(),
                    source: crate::vault::password::Source::File(file),
                }),
                (None, None) => None,
            };
            (
                Action::Rekey {
                    files: a.files,
                    new,
                },
                a.vault,
                None,
            )
        }
    };
    let specs = specs(
        &vault.vault_id,
        &vault.vault_password_file,
        vault.ask_vault_pass,
    );
    run(&action, &specs, encrypt_id.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

fn inventory_cmd(args: &InventoryArgs) -> Result<ExitCode, Error> {
    let text = crate::inventory::cli_output(&args.inventory, args.host.as_deref())?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn doctor_cmd(args: &DoctorArgs, settings: &Settings) -> Result<ExitCode, Error> {
    use crate::cli::DoctorOutput;
    // The inventory and connection settings are found as apply finds them.
    let inventory = crate::config::inventory_sources(&args.inventory, settings)?;
    let connecting = crate::doctor::Connecting {
        defaults: crate::config::ConnectionDefaults::from_settings(None, settings),
        timeout: std::time::Duration::from_secs(settings.count(Key::Timeout).unwrap_or(10)),
    };
    let output = match args.output {
        DoctorOutput::Human => OutputFormat::Human,
        DoctorOutput::Json => OutputFormat::Json,
        DoctorOutput::Junit => OutputFormat::Junit,
    };
    let mut reporter = reporters(output, &args.report, args.verbose, false, false)?;
    for note in &settings.notes {
        reporter.report(&Event::Notice {
            message: note.clone(),
        });
    }
    let status = crate::doctor::run(
        &inventory,
        &args.extra_vars,
        args.limit.as_deref(),
        &connecting,
        reporter.as_mut(),
    )
    .await?;
    Ok(status.into())
}

/// The reporter on standard output that `--output` asks for, with the
/// report files of `--report` beside it (apply and doctor alike).
fn reporters(
    output: OutputFormat,
    reports: &[std::path::PathBuf],
    verbose: u8,
    no_color: bool,
    diff: bool,
) -> Result<Box<dyn Reporter>, Error> {
    let mut reporter: Box<dyn Reporter> = match output {
        OutputFormat::Json => Box::new(JsonReporter::new(std::io::stdout())),
        OutputFormat::Junit => Box::new(JunitReporter::new(std::io::stdout())),
        OutputFormat::Human => Box::new(HumanReporter::new(
            std::io::stdout(),
            color(std::io::stdout().is_terminal()) && !no_color,
            std::io::stderr().is_terminal(),
            verbose,
            diff,
        )),
    };
    if !reports.is_empty() {
        let mut all = vec![reporter];
        for path in reports {
            all.push(Box::new(FileReport::new(path)?));
        }
        reporter = Box::new(Tee(all));
    }
    Ok(reporter)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
