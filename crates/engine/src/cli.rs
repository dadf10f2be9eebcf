//! The command line as the user types it, parsed with clap.
//!
//! These types are the raw form ("LowArgs"): paths are not resolved and
//! nothing is validated beyond what clap does. `config.rs` turns them into the
//! engine's `Config`; no other module imports clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A fast, safe playbook runner that integrates UCP with Docker Trusted Registry.
#[derive(Debug, Parser)]
// The about text is the product's, not the engine crate's description.
#[command(
    name = "dtrplay",
    version,
    about = "A fast, safe playbook runner that integrates UCP with Docker Trusted Registry",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook against an inventory.
    Apply(RunArgs),
    /// Show what `apply` would change, with diffs, changing nothing (`apply --check --diff`).
    // `plan` always checks and diffs, so its help leaves those flags out
    // (they are still accepted, as harmless, for scripts that pass them).
    #[command(mut_arg("check", |a| a.hide(true)), mut_arg("diff", |a| a.hide(true)))]
    Plan(RunArgs),
    /// Check a playbook (and inventory) without contacting any host.
    Validate(ValidateArgs),
    /// Print an inventory the way `ansible-inventory --list` does.
    Inventory(InventoryArgs),
    /// Check the three UCP/DTR trust links without changing anything.
    Doctor(DoctorArgs),
    /// Encrypt, decrypt, view and rekey Ansible Vault files and values.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Print a shell completion script (`source <(dtrplay completions bash)`).
    Completions(CompletionsArgs),
    /// Print the manual page, in roff (`dtrplay man | man -l -`).
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments shared by `apply` and `plan`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook file.
    pub playbook: PathBuf,
    /// The inventory: a YAML or INI file, or a directory of them [default: ANSIBLE_INVENTORY, `inventory` in ansible.cfg, /etc/ansible/hosts].
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Only compute what would change; change nothing on any host.
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show unified diffs of what changes (or would change).
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// Further limit the hosts with a pattern (`web:&prod:!web3`).
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    /// Only run tasks (and plays) tagged with one of these tags.
    #[arg(short = 't', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks tagged with one of these tags.
    #[arg(long, value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Extra variables, `key=value` or `@file.yml`; they override every other source.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// How many hosts are worked on at once [default: 50, or `forks` in ansible.cfg, or ANSIBLE_FORKS].
    #[arg(short = 'f', long)]
    pub forks: Option<usize>,
    /// Connect as this user where the inventory sets no `ansible_user` [default: `remote_user` in ansible.cfg, or ANSIBLE_REMOTE_USER].
    #[arg(short = 'u', long = "user", value_name = "REMOTE_USER")]
    pub user: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Also write a report of the run to this file when it ends: `.html` (a page with a timeline
    /// and diffs), `.xml` (JUnit) or `.json` (JSON Lines). May be given more than once.
    #[arg(long, value_name = "FILE")]
    pub report: Vec<PathBuf>,
    /// More output (`-v` shows task output, `-vv` shows remote scripts).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// More directories to find custom tasks in (besides `tasks/` and `library/` beside the playbook).
    #[arg(long = "task-path")]
    pub task_path: Vec<PathBuf>,
    /// More directories to find roles in, after `roles/` beside the playbook (`ANSIBLE_ROLES_PATH` adds more).
    #[arg(long = "roles-path", value_delimiter = ':')]
    pub roles_path: Vec<PathBuf>,
    /// Keep SSH connections open for this many seconds after the run, so the next run starts warm:
    /// it opens its sessions on them directly, without a handshake or an ssh process per host.
    #[arg(long, value_name = "SECONDS")]
    pub ssh_persist: Option<u64>,
    /// Which SSH client to use: the built-in one where it understands the host's ssh configuration (`auto`), only the built-in one (`native`), or the system `ssh` (`openssh`). The inventory variable `dtrplay_ssh_client` overrides it per host.
    #[arg(long, value_enum, default_value_t = SshClientArg::Auto)]
    pub ssh_client: SshClientArg,
    /// Run tasks as another user (root by default) with sudo, unless the playbook or inventory says otherwise.
    #[arg(short = 'b', long = "become")]
    pub escalate: bool,
    /// The user to become (default root).
    #[arg(long = "become-user", value_name = "USER")]
    pub become_user: Option<String>,
    /// How to become it.
    #[arg(long = "become-method", value_enum, value_name = "METHOD")]
    pub become_method: Option<BecomeMethodArg>,
    /// Ask for the become password once, on the terminal, before the run.
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        conflicts_with = "become_password_file"
    )]
    pub ask_become_pass: bool,
    /// Read the become password from this file (its first line).
    #[arg(long = "become-password-file", value_name = "FILE")]
    pub become_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Check the playbook's syntax and exit, as `validate` does (`ansible-playbook --syntax-check`).
    #[arg(long)]
    pub syntax_check: bool,
    /// List the hosts each play would run on, and exit.
    #[arg(long)]
    pub list_hosts: bool,
    /// List the tasks each play would run (after --tags/--skip-tags), and exit.
    #[arg(long)]
    pub list_tasks: bool,
    /// List every tag of each play's tasks, and exit.
    #[arg(long)]
    pub list_tags: bool,
    /// Start at the first task with this name (`role : name` and `*` wildcards work too).
    #[arg(long, value_name = "TASK_NAME")]
    pub start_at_task: Option<String>,
    /// Ask before each task whether to run it: (N)o, (y)es, or (c)ontinue without asking. Needs a terminal.
    #[arg(long)]
    pub step: bool,
    /// Ask for a password for SSH logins: refused, dtrplay logs in with keys.
    #[arg(short = 'k', long, hide = true)]
    pub ask_pass: bool,
    #[command(flatten)]
    pub ansible: AnsibleArgs,
}

/// Where ansible-core is, for modules dtrplay does not implement.
#[derive(Debug, Args)]
pub struct AnsibleArgs {
    /// The Python that has ansible-core, which runs every module dtrplay does not implement
    /// (default: the Python of `ansible` on PATH; `none` turns this off).
    #[arg(long, value_name = "PYTHON", env = "DTRPLAY_ANSIBLE_PYTHON")]
    pub ansible_python: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BecomeMethodArg {
    Sudo,
    Su,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SshClientArg {
    /// The built-in client, or the system `ssh` when the host needs it.
    Auto,
    /// The built-in client only.
    Native,
    /// The system `ssh` binary.
    Openssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people, coloured on a terminal.
    Human,
    /// JSON Lines: one event per line.
    Json,
    /// JUnit XML at the end of the run: one test case per host and task, for CI systems.
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorOutput {
    /// Lines for people, coloured on a terminal.
    Human,
    /// JSON Lines: one event per line.
    Json,
    /// JUnit XML at the end of the run: one test case per check, for CI systems.
    Junit,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The playbook file.
    pub playbook: PathBuf,
    /// The inventory, to check host patterns and variables as well.
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Extra variables, `key=value` or `@file.yml`.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// More directories to find custom tasks in.
    #[arg(long = "task-path")]
    pub task_path: Vec<PathBuf>,
    #[command(flatten)]
    pub vault: VaultArgs,
    /// More directories to find roles in (`ANSIBLE_ROLES_PATH` adds more).
    #[arg(long = "roles-path", value_delimiter = ':')]
    pub roles_path: Vec<PathBuf>,
    #[command(flatten)]
    pub ansible: AnsibleArgs,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The inventory: a YAML or INI file, or a directory of them.
    #[arg(short = 'i', long = "inventory", required = true)]
    pub inventory: Vec<PathBuf>,
    /// Print every group and host as JSON (what happens without `--host` too).
    #[arg(long)]
    pub list: bool,
    /// Print one host's variables as JSON.
    #[arg(long, conflicts_with = "list")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The inventory that describes UCP, DTR and the nodes (default:
    /// `ANSIBLE_INVENTORY`, ansible.cfg's `inventory`, /etc/ansible/hosts).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Extra variables, `key=value` or `@file.yml`.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DoctorOutput::Human)]
    pub output: DoctorOutput,
    /// Also write a report of the checks to this file when they end: `.html` (a page),
    /// `.xml` (JUnit) or `.json` (JSON Lines). May be given more than once.
    #[arg(long, value_name = "FILE")]
    pub report: Vec<PathBuf>,
    /// Further limit the nodes checked.
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    /// Also say which UCP and DTR were checked and how each node was reached.
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub vault: VaultArgs,
}

/// Where vault passwords come from, as in Ansible.
#[derive(Debug, Clone, Args, Default)]
pub struct VaultArgs {
    /// A vault password as `label@source`: a file, an executable that prints it, or `prompt`.
    #[arg(long = "vault-id", value_name = "LABEL@SOURCE")]
    pub vault_id: Vec<String>,
    /// A file holding the vault password (or an executable that prints it).
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        env = "ANSIBLE_VAULT_PASSWORD_FILE",
        value_delimiter = ','
    )]
    pub vault_password_file: Vec<PathBuf>,
    /// Ask for the vault password on the terminal.
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        visible_alias = "ask-vault-password"
    )]
    pub ask_vault_pass: bool,
}

/// `dtrplay vault`, with ansible-vault's subcommands.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Encrypt files in place (or standard input to standard output).
    Encrypt(VaultFileArgs),
    /// Decrypt files in place (or standard input to standard output).
    Decrypt(VaultFileArgs),
    /// Print the plaintext of vaulted files.
    View(VaultFileArgs),
    /// Encrypt values for a YAML file (`name: !vault |`).
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString(VaultStringArgs),
    /// Encrypt files again with a new password.
    Rekey(VaultRekeyArgs),
}

#[derive(Debug, Args)]
pub struct VaultFileArgs {
    /// The files; none, or `-`, means standard input.
    pub files: Vec<PathBuf>,
    /// Write here instead of in place (`-` is standard output).
    #[arg(long = "output")]
    pub output: Option<PathBuf>,
    /// The label of the password to encrypt with, when several are given.
    #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(Debug, Args)]
pub struct VaultStringArgs {
    /// The values to encrypt; none, or `-`, reads one from standard input.
    pub strings: Vec<String>,
    /// The variable name of each value, in order.
    #[arg(short = 'n', long = "name")]
    pub name: Vec<String>,
    /// The variable name of the value read from standard input.
    #[arg(long = "stdin-name")]
    pub stdin_name: Option<String>,
    /// Write here instead of standard output.
    #[arg(long = "output")]
    pub output: Option<PathBuf>,
    /// The label of the password to encrypt with, when several are given.
    #[arg(long = "encrypt-vault-id", value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
    #[command(flatten)]
    pub vault: VaultArgs,
}

#[derive(Debug, Args)]
pub struct VaultRekeyArgs {
    /// The files to encrypt again.
    pub files: Vec<PathBuf>,
    /// The new password's file (or executable).
    #[arg(long = "new-vault-password-file")]
    pub new_vault_password_file: Option<PathBuf>,
    /// The new password as `label@source`.
    #[arg(long = "new-vault-id", value_name = "LABEL@SOURCE")]
    pub new_vault_id: Option<String>,
    #[command(flatten)]
    pub vault: VaultArgs,
}
