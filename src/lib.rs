//! dtrplay: a playbook runner that makes "Integrate UCP with Docker Trusted
//! Registry" a single, safe, repeatable command.
//!
//! # Layout
//!
//! Data flows through the modules in this order:
//!
//! - `cli` parses the command line; `config` resolves it (extra variables,
//!   tag filters) so that nothing downstream sees clap.
//! - `yaml` parses every input file into spanned nodes; `playbook` and
//!   `inventory` lower them into typed models, reporting `error::InputError`s
//!   that point at file, line and column.
//! - `validate` checks everything that needs no connection: modules and their
//!   arguments (`params`, `tasks`), host patterns, undefined variables.
//! - `template` renders Jinja with Ansible's filters; `vars` layers variables.
//! - `executor` runs plays over hosts in parallel through `connection`s, one
//!   `invocation` per task and host, each task a `task::Task` (check, then
//!   apply). `api` and `cert` serve the UCP/DTR tasks.
//! - `report` turns the executor's events into human or JSON output.
//! - `doctor` checks the trust links of a real (or lab) cluster. The lab
//!   itself (a local UCP + DTR + nodes cluster for rehearsals and tests) is
//!   the `dtrplay-lab` crate; `run` only hands it the `lab` subcommand.
//! - `vault` reads and writes Ansible Vault data (`dtrplay vault`).

pub mod api;
pub mod async_job;
pub mod cert;
pub mod cli;
pub mod config;
pub mod connection;
pub mod crypt;
pub mod diff;
pub mod doctor;
pub mod env_lookups;
pub mod environment;
pub mod error;
pub mod escalation;
pub mod executor;
pub mod facts;
pub mod inventory;
pub mod invocation;
pub mod listing;
pub mod loops;
pub mod magic_vars;
pub mod manual;
pub mod params;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod run;
pub mod run_memory;
pub mod search_path;
pub mod secret;
pub mod selection;
pub mod settings;
pub mod source;
pub mod start_at;
pub mod suggest;
pub mod task;
pub mod tasks;
pub mod template;
pub mod tty;
pub mod validate;
pub mod vars;
pub mod vars_prompt;
pub mod vault;
pub mod yaml;
pub mod yaml_error;

use std::process::ExitCode;

/// The program: parse the command line, run the command, map the result to
/// an exit code. Everything else lives in `run`.
pub fn main() -> ExitCode {
    run::main(std::env::args_os())
}
