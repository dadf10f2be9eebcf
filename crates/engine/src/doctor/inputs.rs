//! What doctor reads before it checks anything: the inventory's group
//! `ucp`, each node's rendered variables and become settings, and a
//! read-only connection per node, made the way `apply` makes them.
//!
//! Apart from the checks so that `diagnose` works on loaded data alone (the
//! tests hand it inputs directly), and loading can be read as one concept.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{NodeTarget, TrustSettings};
use crate::api::contract;
use crate::config::parse_extra_vars;
use crate::connection::escalate::Escalation;
use crate::connection::{ConnError, ConnectOptions};
use crate::env_lookups::UnsetEnv;
use crate::error::Error;
use crate::escalation::BecomeDefaults;
use crate::inventory::{Inventory, Pattern};
use crate::template::{Templates, Vars};
use crate::vars::RunVars;

/// Nodes to check: the hosts of group `ucp`, each with its rendered
/// variables. The inventory, template rendering and SSH connections are
/// wired in by [`crate::doctor::run`].
pub struct Inputs {
    /// Variables of the contract (from the first node, or `all`).
    pub vars: Map<String, Value>,
    pub nodes: Vec<NodeTarget>,
    /// Variables that read an unset environment variable, named before
    /// the verdicts (a missing password is usually an `export` away).
    pub unset_env: Vec<UnsetEnv>,
}

/// The group whose hosts are the UCP nodes (inventory contract).
pub const NODES_GROUP: &str = "ucp";

/// How doctor connects, from the command line and the Ansible settings
/// (`ansible.cfg`, `ANSIBLE_*`), as apply connects.
#[derive(Debug, Clone)]
pub struct Connecting {
    /// `remote_user`, `private_key_file`, `host_key_checking`.
    pub defaults: crate::config::ConnectionDefaults,
    /// `timeout`.
    pub timeout: Duration,
}

impl Default for Connecting {
    fn default() -> Connecting {
        Connecting {
            defaults: crate::config::ConnectionDefaults::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Loads what doctor needs from an inventory: the contract's variables
/// (from the first node, rendered) and a read-only connection per node of
/// group `ucp`, limited by `limit`.
pub async fn load(
    inventory_paths: &[PathBuf],
    extra_vars: &[String],
    limit: Option<&str>,
    connecting: &Connecting,
) -> Result<Inputs, Error> {
    let inventory = Inventory::load(inventory_paths).map_err(Error::from)?;
    let extra = parse_extra_vars(extra_vars)?;
    let pattern = Pattern::parse(NODES_GROUP, None).map_err(Error::from)?;
    let mut hosts = inventory.select(&pattern);
    if hosts.is_empty() {
        return Err(Error::Usage {
            message: format!("the inventory has no hosts in group `{NODES_GROUP}`"),
            help: Some(
                "put the UCP nodes in `ucp_controllers` and `ucp_workers`, children of `ucp`"
                    .into(),
            ),
        });
    }
    if let Some(limit) = limit {
        let limit = Pattern::parse(limit, None).map_err(Error::from)?;
        let allowed = inventory.select(&limit);
        hosts.retain(|h| allowed.contains(h));
    }
    let templates = Templates::new();
    // The same variables and connection settings as `apply`: the run's
    // variable model (inventory, magic and extra variables, rendered
    // lazily) and the run's connect options (control directory, retries,
    // client choice), with ansible.cfg's timeout.
    let cwd = std::env::current_dir().unwrap_or_default();
    let run_vars = RunVars::new(&inventory, &extra, &cwd, false, false);
    let options = ConnectOptions {
        connect_timeout: connecting.timeout,
        ..crate::executor::connect_options(None, crate::connection::SshClient::Auto)?
    };
    let mut contract_vars = None;
    let mut nodes = Vec::new();
    for host in hosts {
        let scope = run_vars.host(&host);
        let escalation = become_of(&templates, &scope).map_err(|message| Error::Usage {
            message: format!("cannot tell whom to read {host}'s files as: {message}"),
            help: Some("fix the host's ansible_become* variables".into()),
        })?;
        let vars =
            crate::vars::rendered(&templates, &scope, contract::VARIABLES).map_err(|message| {
                Error::Usage {
                    message: format!("cannot render the variables of {host}: {message}"),
                    help: None,
                }
            })?;
        let (certs_dir, trust) = {
            let lookup = contract::map_lookup(&vars);
            let setting = |name: &str| contract::text(None, name, &lookup).ok().flatten();
            (
                contract::certs_dir(None, &lookup)
                    .unwrap_or_else(|_| contract::DEFAULT_CERTS_DIR.to_string()),
                TrustSettings {
                    runtime: setting("container_runtime"),
                    containerd_certs_dir: setting("containerd_certs_dir"),
                    containerd_cri_dropin: setting("containerd_cri_dropin"),
                },
            )
        };
        // The connection variables rendered in the host's scope, as apply
        // renders them.
        let mut connection_vars = inventory.connection_vars(&host, &extra);
        let rendered =
            crate::inventory::render_connection_vars(&mut connection_vars, |_, value| {
                templates.render_node(value.origin(), &scope)
            });
        let target = rendered.map_err(|e| e.message.clone()).and_then(|()| {
            inventory
                .target(&host, &connection_vars)
                .map_err(|e| e.message.clone())
        });
        let conn = match target {
            Ok(target) => {
                let target = connecting.defaults.apply(target);
                // The shell doctor reads the node with is the one it opens first.
                crate::connection::connect_as(&target, &options, escalation.clone()).await
            }
            Err(message) => Err(ConnError::Connect {
                host: host.clone(),
                message,
                hint: None,
            }),
        };
        nodes.push(NodeTarget {
            name: host.clone(),
            certs_dir,
            conn,
            trust,
            escalation,
        });
        contract_vars.get_or_insert(vars);
    }
    Ok(Inputs {
        vars: contract_vars.unwrap_or_default(),
        nodes,
        unset_env: crate::env_lookups::unset(&inventory, None),
    })
}

/// Whom a host's files are read as, from its `ansible_become*` variables
/// (rendered: a password may come from a lookup). Doctor has no keywords or
/// `-b` of its own; `-e ansible_become=false` reads as the login user.
pub(super) fn become_of(templates: &Templates, scope: &Vars) -> Result<Option<Escalation>, String> {
    let var = |name: &str| -> Result<Option<Value>, String> {
        if !scope.contains(name) {
            return Ok(None);
        }
        templates
            .eval_str(name, scope)
            .map(Some)
            .map_err(|e| e.message.clone())
    };
    // No level has keywords, so nothing is rendered from a node.
    let render = |node: &crate::yaml::Node| Ok::<_, crate::error::InputError>(node.to_json());
    crate::escalation::resolve(&BecomeDefaults::default(), &[], &var, &render)
        .map_err(|e| e.message)
}
