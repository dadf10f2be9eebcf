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
//!   the `dtrplay-lab` crate, which this crate does not depend on: the
//!   `dtrplay` binary adds `lab` as an `extra_command`.
//! - `vault` reads and writes Ansible Vault data (`dtrplay vault`).

// Public: the extension API (`task`, `params`, `tasks::Registry`,
// `run::main_with`, `report::Diff`) and the modules the integration tests and
// the fleet benchmark reach into (`api`, `cert`, `connection`, `doctor`,
// `error`, `executor`, `inventory`, `playbook`, `secret`, `source`,
// `template`, `yaml`). Everything else is the engine's own, so that changing
// it can break no code outside this crate.
pub mod api;
pub(crate) mod async_job;
pub(crate) mod bounded_read;
pub mod cert;
pub(crate) mod cli;
pub(crate) mod config;
pub mod connection;
pub(crate) mod crypt;
pub(crate) mod diff;
pub mod doctor;
pub(crate) mod env_lookups;
pub(crate) mod environment;
pub mod error;
pub(crate) mod escalation;
pub mod executor;
pub mod extra_command;
pub(crate) mod facts;
pub mod inventory;
pub(crate) mod invocation;
pub(crate) mod listing;
pub(crate) mod loop_kind;
pub(crate) mod loops;
pub(crate) mod magic_vars;
pub(crate) mod manual;
pub mod params;
pub(crate) mod plan;
pub mod playbook;
pub mod report;
pub mod run;
pub(crate) mod run_memory;
pub(crate) mod search_path;
pub mod secret;
pub(crate) mod selection;
pub(crate) mod settings;
pub mod source;
pub(crate) mod start_at;
pub(crate) mod suggest;
pub mod task;
pub mod tasks;
pub mod template;
pub(crate) mod tty;
pub(crate) mod validate;
pub(crate) mod vars;
pub(crate) mod vars_prompt;
pub(crate) mod vault;
pub(crate) mod wildcard;
pub mod yaml;
pub(crate) mod yaml_error;

use std::process::ExitCode;

/// The program without extra commands (the `dtrplay` binary adds `lab`):
/// parse the command line, run the command, map the result to an exit code.
/// Everything else lives in `run`.
pub fn main() -> ExitCode {
    run::main(std::env::args_os())
}
