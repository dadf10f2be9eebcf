//! A whole lab in one process: PKI, UCP and DTR simulators, and a fleet of
//! sshd nodes with their engine state, wrapper scripts and inventory.
//!
//! `lab serve` runs one of these until it is signalled; tests start one
//! directly to get a real cluster without a background process. Everything
//! is in the lab directory: `pki/`, `bin/` (the `systemctl` wrapper on the
//! nodes' PATH), the fleet's keys and `ssh_config`,
//! `nodes/<name>/` and `inventory.yml`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::apis::{self, ApiConfig, ApiServers};
use crate::containerd::Containerds;
use crate::docker::{self, ControllerCerts, NodeInfo};
use crate::engine::{self, EngineOptions, Engines};
use crate::inventory::{self, InventoryInput};
use crate::node::{Fleet, FleetOptions, Isolation, Node};
use crate::pki::{self, LabPki, PkiOptions};
use crate::proxy::{self, Proxy};
use crate::state::{Endpoint, LabConfig, LabState, NodeRecord, Role, STATE_VERSION};
use crate::{Flavor, LabError};
use crate::{test_image, ucp_engines, ucp_image};

/// What to start.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab directory; created if missing.
    pub dir: PathBuf,
    /// Shape and accounts.
    pub config: LabConfig,
    /// The dtrplay executable the nodes' `docker` and `systemctl` wrappers
    /// run (`std::env::current_exe()` in `lab serve`,
    /// `env!("CARGO_BIN_EXE_dtrplay")` in tests).
    pub dtrplay: PathBuf,
    /// How the nodes' filesystems are separated.
    pub isolation: Isolation,
    /// Whether every node gets a real Docker engine (`engine.rs`). Without
    /// one (no root, no dockerd), [`Lab::engine_warning`] says so.
    pub engines: bool,
    /// Whether UCP and DTR are reached by their lab names (`ucp.lab.test`,
    /// `dtr.lab.test`) through the lab's CONNECT proxy (`proxy.rs`), so that
    /// engines verify DTR's certificate; otherwise by `127.0.0.1`, which
    /// real engines never verify.
    pub names: bool,
}

impl LabOptions {
    /// A lab of `nodes` nodes, the first `controllers` of them controllers,
    /// with fresh passwords.
    pub fn new(
        dir: impl Into<PathBuf>,
        flavor: Flavor,
        nodes: usize,
        controllers: usize,
        dtrplay: impl Into<PathBuf>,
    ) -> LabOptions {
        LabOptions {
            dir: dir.into(),
            config: LabConfig::new(flavor, nodes, controllers),
            dtrplay: dtrplay.into(),
            isolation: Isolation::Auto,
            engines: true,
            names: true,
        }
    }
}

/// A running lab. Dropping it stops the nodes; [`Lab::stop`] also waits for
/// the API servers to close their sockets.
pub struct Lab {
    dir: PathBuf,
    config: LabConfig,
    pki: LabPki,
    apis: Option<ApiServers>,
    proxy: Option<Proxy>,
    fleet: Fleet,
    engines: Option<Engines>,
    containerds: Option<Containerds>,
    engine_warning: Option<String>,
    roles: Vec<Role>,
    inventory: PathBuf,
}

impl std::fmt::Debug for Lab {
    // The config holds passwords; they stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("dir", &self.dir)
            .field("flavor", &self.config.flavor)
            .field("nodes", &self.fleet.nodes())
            .finish_non_exhaustive()
    }
}

/// Checks the shape of a lab.
pub fn check_shape(nodes: usize, controllers: usize) -> Result<(), LabError> {
    if nodes == 0 || nodes > 254 || controllers == 0 || controllers > nodes {
        return Err(LabError::Shape { nodes, controllers });
    }
    Ok(())
}

impl Lab {
    /// Starts everything and waits until every node answers.
    pub async fn start(opts: &LabOptions) -> Result<Lab, LabError> {
        let config = opts.config.clone();
        check_shape(config.nodes, config.controllers)?;
        fs::create_dir_all(&opts.dir).map_err(|source| LabError::Io {
            action: "create",
            path: opts.dir.clone(),
            source,
        })?;
        let dir = fs::canonicalize(&opts.dir).map_err(|source| LabError::Io {
            action: "resolve",
            path: opts.dir.clone(),
            source,
        })?;

        let pki_dir = dir.join("pki");
        let pki = if pki_dir.join(pki::CLUSTER_CA_FILE).exists() {
            LabPki::load(&pki_dir)?
        } else {
            let options = PkiOptions {
                admin_user: config.admin_user.clone(),
                ucp_hosts: vec![proxy::UCP_NAME.to_string()],
                dtr_hosts: vec![proxy::DTR_NAME.to_string()],
            };
            LabPki::generate(&pki_dir, &options)?
        };

        let mut api_config = ApiConfig::loopback(config.flavor);
        api_config.admin_user = config.admin_user.clone();
        api_config.admin_password = config.admin_password.clone();
        api_config.dtr_user = config.user.clone();
        api_config.dtr_user_password = config.user_password.clone();
        if opts.names {
            api_config.ucp_name = Some(proxy::UCP_NAME.to_string());
            api_config.dtr_name = Some(proxy::DTR_NAME.to_string());
        }
        let apis = apis::start(&pki, api_config).await?;
        let proxy = match opts.names {
            true => Some(
                Proxy::start(apis.routes())
                    .await
                    .map_err(|source| LabError::Io {
                        action: "start the lab proxy on",
                        path: PathBuf::from("127.0.0.1"),
                        source,
                    })?,
            ),
            false => None,
        };
        let https_proxy = proxy.as_ref().map(Proxy::url);
        write_env(&dir, https_proxy.as_deref())?;

        let bin = dir.join("bin");
        // `systemctl` is the lab's stand-in on every node; `docker` is the
        // real client, so the wrapper of a lab directory kept from before the
        // Docker stand-in went is removed.
        write_wrappers(&bin, &["systemctl"], &opts.dtrplay, https_proxy.as_deref())?;
        let stale = bin.join("docker");
        if stale.exists() {
            fs::remove_file(&stale).map_err(|source| LabError::Io {
                action: "remove",
                path: stale.clone(),
                source,
            })?;
        }

        let mut fleet_options = FleetOptions::new(&dir, config.nodes);
        fleet_options.path_prepend = vec![bin.clone()];
        fleet_options.isolation = opts.isolation;
        fleet_options.users = config.login.users();
        // k0s's /etc/k0s must be the node's own: MKE 4 nodes are
        // copy-on-write, so nothing is written to this machine's /etc.
        fleet_options.copy_on_write = config.containerd;
        let fleet = tokio::task::spawn_blocking(move || Fleet::start(&fleet_options))
            .await
            .map_err(|e| LabError::Task(e.to_string()))??;

        // The engines start in the nodes' mount namespaces, so after the
        // fleet; a lab that cannot have them says why, loudly.
        let mut engine_warning = None;
        let wanted = opts.engines && fleet.nodes().iter().all(|n| n.isolated);
        let engines = match engine::available() {
            Ok(()) if wanted => {
                let nodes = fleet.nodes().to_vec();
                let options = EngineOptions {
                    https_proxy: https_proxy.clone(),
                    ..EngineOptions::default()
                };
                Some(
                    tokio::task::spawn_blocking(move || Engines::start(&nodes, &options))
                        .await
                        .map_err(|e| LabError::Task(e.to_string()))??,
                )
            }
            Ok(()) if !opts.engines => None,
            Ok(()) => {
                engine_warning = Some(
                    "the lab's nodes have no private filesystem view (not root), so they run no Docker engine"
                        .to_string(),
                );
                None
            }
            Err(err) => {
                engine_warning = Some(err.to_string());
                None
            }
        };

        // Each engine gets the procedure's test image, and UCP fronts the
        // engines from now on (client bundles reach them through UCP).
        if engines.is_some() {
            let routes: Vec<_> = fleet
                .nodes()
                .iter()
                .map(|n| ucp_engines::route(&n.name, &n.root))
                .collect();
            let sockets: Vec<PathBuf> = routes.iter().map(|r| r.socket.clone()).collect();
            tokio::task::spawn_blocking(move || {
                sockets
                    .iter()
                    .try_for_each(|socket| test_image::import(socket))
            })
            .await
            .map_err(|e| LabError::Task(e.to_string()))??;
            apis.attach_engines(routes);
        }

        // MKE 4's runtime beside the engine, when asked for.
        let containerds = match config.containerd {
            true => {
                let nodes = fleet.nodes().to_vec();
                let proxy = https_proxy.clone();
                Some(
                    tokio::task::spawn_blocking(move || {
                        Containerds::start(&nodes, proxy.as_deref(), Duration::from_secs(60))
                    })
                    .await
                    .map_err(|e| LabError::Task(e.to_string()))??,
                )
            }
            false => None,
        };

        let roles: Vec<Role> = (0..config.nodes).map(|i| config.role(i)).collect();
        let controller_certs = ControllerCerts {
            cluster_ca_pem: pki.cluster_root_ca().cert_pem().to_string(),
            cluster_cert_pem: pki.ucp_server().cert_pem().to_string(),
            public_ca_pem: pki.cluster_root_ca().cert_pem().to_string(),
            public_cert_pem: pki.ucp_server().cert_pem().to_string(),
        };
        for (node, role) in fleet.nodes().iter().zip(&roles) {
            let info = NodeInfo {
                name: node.name.clone(),
                role: *role,
                flavor: config.flavor,
                ucp_url: apis.ucp_url(),
            };
            docker::install(&node.root, &info)?;
        }
        if engines.is_some() {
            // Step 1's `docker run … docker/ucp dump-certs` runs on the real
            // engines: every node gets the image, controllers with UCP's
            // certificates in it.
            let images: Vec<(PathBuf, String, Option<ControllerCerts>)> = fleet
                .nodes()
                .iter()
                .zip(&roles)
                .map(|(node, role)| {
                    (
                        engine::socket_path(&node.root),
                        node.name.clone(),
                        (*role == Role::Controller).then(|| controller_certs.clone()),
                    )
                })
                .collect();
            tokio::task::spawn_blocking(move || {
                images.iter().try_for_each(|(socket, name, certs)| {
                    ucp_image::import(socket, name, certs.as_ref())
                })
            })
            .await
            .map_err(|e| LabError::Task(e.to_string()))??;
        }

        let pairs: Vec<(Node, Role)> = fleet
            .nodes()
            .iter()
            .cloned()
            .zip(roles.iter().copied())
            .collect();
        let ucp_ca_file = pki_dir.join(pki::CLUSTER_CA_FILE);
        let dtr_ca_file = pki_dir.join(pki::DTR_CA_FILE);
        let inventory = inventory::write(&InventoryInput {
            dir: &dir,
            nodes: &pairs,
            config: &config,
            ucp_url: &apis.ucp_url(),
            dtr_url: &apis.dtr_url(),
            dtr_host: apis.dtr_host(),
            ucp_ca_file: &ucp_ca_file,
            dtr_ca_file: &dtr_ca_file,
        })?;
        Ok(Lab {
            dir,
            config,
            pki,
            apis: Some(apis),
            proxy,
            fleet,
            engines,
            containerds,
            engine_warning,
            roles,
            inventory,
        })
    }

    /// The lab directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab's shape and accounts (passwords included).
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The lab's certificates.
    pub fn pki(&self) -> &LabPki {
        &self.pki
    }

    /// The node fleet.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// The node fleet, to stop and start nodes.
    pub fn fleet_mut(&mut self) -> &mut Fleet {
        &mut self.fleet
    }

    /// Why the nodes run no real Docker engine, when they do not.
    pub fn engine_warning(&self) -> Option<&str> {
        self.engine_warning.as_deref()
    }

    /// Whether every node runs its own real dockerd.
    pub fn has_engines(&self) -> bool {
        self.engines.is_some()
    }

    /// The pid of each node's dockerd, by node name.
    pub fn engine_pids(&self) -> Vec<(String, u32)> {
        self.engines.as_ref().map(Engines::pids).unwrap_or_default()
    }

    /// The pid of each node's k0s-style containerd, by node name.
    pub fn containerd_pids(&self) -> Vec<(String, u32)> {
        self.containerds
            .as_ref()
            .map(Containerds::pids)
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>` of the lab's CONNECT proxy, the
    /// `HTTPS_PROXY` that reaches UCP and DTR by their lab names.
    pub fn https_proxy(&self) -> Option<String> {
        self.proxy.as_ref().map(Proxy::url)
    }

    /// The nodes, in order.
    pub fn nodes(&self) -> &[Node] {
        self.fleet.nodes()
    }

    /// The role of the node named `name`, if there is one.
    pub fn role(&self, name: &str) -> Option<Role> {
        let index = self.fleet.nodes().iter().position(|n| n.name == name)?;
        self.roles.get(index).copied()
    }

    /// The generated inventory.
    pub fn inventory_path(&self) -> &Path {
        &self.inventory
    }

    /// `https://host:port` of UCP.
    pub fn ucp_url(&self) -> String {
        self.apis
            .as_ref()
            .map(ApiServers::ucp_url)
            .unwrap_or_default()
    }

    /// `https://host:port` of DTR.
    pub fn dtr_url(&self) -> String {
        self.apis
            .as_ref()
            .map(ApiServers::dtr_url)
            .unwrap_or_default()
    }

    /// `host:port` of DTR: the registry part of image names and the name of
    /// the `certs.d` directory.
    pub fn dtr_host(&self) -> String {
        self.apis
            .as_ref()
            .map(|a| a.dtr_host().to_string())
            .unwrap_or_default()
    }

    /// What `lab.json` records for this lab, served by `serve_pid`.
    pub fn state(&self, serve_pid: u32, started_at: u64) -> LabState {
        let endpoint = |url: String, addr, host: &str| Endpoint {
            url,
            addr,
            host: host.to_string(),
        };
        let (ucp, dtr) = match &self.apis {
            Some(apis) => (
                endpoint(apis.ucp_url(), apis.ucp_addr(), apis.ucp_host()),
                endpoint(apis.dtr_url(), apis.dtr_addr(), apis.dtr_host()),
            ),
            None => {
                let none = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                (
                    endpoint(String::new(), none, ""),
                    endpoint(String::new(), none, ""),
                )
            }
        };
        LabState {
            version: STATE_VERSION,
            dir: self.dir.clone(),
            flavor: self.config.flavor,
            serve_pid,
            started_at,
            ucp,
            dtr,
            nodes: self
                .fleet
                .nodes()
                .iter()
                .zip(&self.roles)
                .map(|(n, role)| NodeRecord {
                    name: n.name.clone(),
                    role: *role,
                    host: n.host,
                    port: n.port,
                    pid: n.pid,
                    root: n.root.clone(),
                    engine_pid: self
                        .engine_pids()
                        .into_iter()
                        .find(|(name, _)| *name == n.name)
                        .map(|(_, pid)| pid),
                    containerd_pid: self
                        .containerd_pids()
                        .into_iter()
                        .find(|(name, _)| *name == n.name)
                        .map(|(_, pid)| pid),
                })
                .collect(),
            inventory: self.inventory.clone(),
            ssh_config: self.fleet.ssh_config_path().to_path_buf(),
            ucp_ca_file: self.dir.join("pki").join(pki::CLUSTER_CA_FILE),
            dtr_ca_file: self.dir.join("pki").join(pki::DTR_CA_FILE),
            engine_warning: self.engine_warning.clone(),
            https_proxy: self.https_proxy(),
        }
    }

    /// Stops the nodes and the API servers, and waits until their sockets
    /// are closed.
    pub async fn stop(mut self) -> Result<(), LabError> {
        if let Some(apis) = self.apis.take() {
            apis.shutdown().await;
        }
        if let Some(proxy) = self.proxy.take() {
            proxy.stop();
        }
        if let Some(containerds) = self.containerds.take() {
            tokio::task::spawn_blocking(move || containerds.stop())
                .await
                .map_err(|e| LabError::Task(e.to_string()))??;
        }
        if let Some(engines) = self.engines.take() {
            tokio::task::spawn_blocking(move || engines.stop())
                .await
                .map_err(|e| LabError::Task(e.to_string()))??;
        }
        let fleet = self.fleet;
        tokio::task::spawn_blocking(move || fleet.stop())
            .await
            .map_err(|e| LabError::Task(e.to_string()))??;
        Ok(())
    }
}

/// Writes `env.sh`, which points a shell's HTTPS clients (dtrplay's API
/// clients, curl, a docker client) at the lab's proxy, so that the lab's
/// names work there: `. <lab>/env.sh`.
fn write_env(dir: &Path, https_proxy: Option<&str>) -> Result<(), LabError> {
    let path = dir.join("env.sh");
    let text = match https_proxy {
        Some(url) => format!(
            "# Written by dtrplay: reach this lab's UCP and DTR by their names.\nexport HTTPS_PROXY={url}\n"
        ),
        None => "# Written by dtrplay: this lab uses no names and needs no proxy.\n".to_string(),
    };
    fs::write(&path, text).map_err(|source| LabError::Io {
        action: "write",
        path,
        source,
    })
}

/// Writes `bin/<tool>` for each of `tools`, which run the lab's stand-ins.
fn write_wrappers(
    bin: &Path,
    tools: &[&str],
    dtrplay: &Path,
    https_proxy: Option<&str>,
) -> Result<(), LabError> {
    fs::create_dir_all(bin).map_err(|source| LabError::Io {
        action: "create",
        path: bin.to_path_buf(),
        source,
    })?;
    let exe = dtrplay.display().to_string().replace('\'', "'\\''");
    for tool in tools {
        let path = bin.join(tool);
        let proxy = match https_proxy {
            Some(url) => format!("HTTPS_PROXY='{url}' "),
            None => String::new(),
        };
        let script = format!(
            "#!/bin/sh\n# The dtrplay lab's stand-in for `{tool}` on its nodes.\n{proxy}exec '{exe}' lab {tool} \"$@\"\n"
        );
        fs::write(&path, script).map_err(|source| LabError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(|source| {
            LabError::Io {
                action: "chmod",
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}
