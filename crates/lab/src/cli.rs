//! The `dtrplay lab` command line (clap derive), which the engine's `cli.rs`
//! embeds as its `lab` subcommand. It lives with the lab so that the engine
//! needs to know nothing of the simulator but this one type.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// The `dtrplay lab` subcommands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the lab in the background and wait until every part answers.
    Up(LabUpArgs),
    /// Show each part of the lab, its address and whether it answers.
    Status(LabDirArgs),
    /// Stop exactly the processes the lab started and remove its state.
    Down(LabDownArgs),
    /// Run the lab's servers in the foreground (what `lab up` starts in the background).
    #[command(hide = true)]
    Serve(LabDirArgs),
    /// The lab nodes' stand-in for `systemctl` (restarting the Docker daemon).
    #[command(hide = true)]
    Systemctl(LabToolArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabFlavor {
    /// UCP 1.1 + DTR 2.0, the procedure's own versions.
    Ucp1,
    /// UCP 3.x / MKE + DTR 2.5+ / MSR.
    Ucp3,
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    /// How many nodes (controllers included).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// How many of the nodes are UCP controllers.
    #[arg(long, default_value_t = 1)]
    pub controllers: usize,
    /// Which UCP/DTR generation to model.
    #[arg(long, value_enum, default_value_t = LabFlavor::Ucp1)]
    pub flavor: LabFlavor,
    /// Where the lab keeps its state, keys and generated inventory.
    #[arg(long, default_value = ".lab")]
    pub dir: PathBuf,
    /// The user SSH logs in as on the nodes: a user of the nodes' own with sudo, root login refused as on production nodes, the inventory then setting `ansible_become: true`; or `root`. [default: `operator` when the lab runs as root, which gives nodes accounts of their own; otherwise the user running it]
    #[arg(long)]
    pub login_user: Option<String>,
    /// Whether sudo asks the login user for its password (shown with the lab's credentials).
    #[arg(long, value_enum, default_value_t = LabSudo::Nopasswd)]
    pub sudo: LabSudo,
    /// Every node also runs MKE 4's container runtime: a real containerd in k0s's layout (`/etc/k0s/containerd.toml`, drop-ins in `/etc/k0s/containerd.d`, socket `/run/k0s/containerd.sock`), beside its Docker engine; the nodes are then copy-on-write views of this machine (root only).
    #[arg(long)]
    pub containerd: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabSudo {
    /// `NOPASSWD: ALL`.
    Nopasswd,
    /// sudo asks for the login user's password.
    Password,
}

#[derive(Debug, Args)]
pub struct LabDirArgs {
    /// Where the lab keeps its state.
    #[arg(long, default_value = ".lab")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct LabDownArgs {
    /// Where the lab keeps its state.
    #[arg(long, default_value = ".lab")]
    pub dir: PathBuf,
    /// Keep the lab's directory (keys, logs, inventory) after stopping it.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct LabToolArgs {
    /// The arguments, exactly as the real tool would get them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}
