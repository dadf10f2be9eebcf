//! The benchmark's scenario and the files every tool gets for it.
//!
//! The scenario is step 5 of the UCP/DTR procedure, reduced to its three
//! operations: ensure `/etc/docker/certs.d/dtr.example.com/` (0755), install
//! the CA as `ca.crt` (0644), and run a verification command that prints its
//! sha256. It is written once as an Ansible playbook (run by dtrplay and
//! Ansible alike) and once as a pyinfra deploy.
//!
//! All tools get the same ssh client configuration: one generated
//! `ssh_config` per key exchange, passed to OpenSSH with `-F` (dtrplay and
//! Ansible through `ansible_ssh_common_args`, the floor directly) and to
//! pyinfra as its `ssh_config_file`, with the host, port, user, key and
//! known_hosts also given explicitly because paramiko reads only part of
//! ssh_config. Paramiko never offers OpenSSH's post-quantum key exchange,
//! so pyinfra always negotiates curve25519.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dtrplay_lab::node::{Fleet, Node};

/// The directory the scenario manages on every node.
pub const CERT_DIR: &str = "/etc/docker/certs.d/dtr.example.com";

/// The CA file the scenario installs.
pub const CERT_FILE: &str = "/etc/docker/certs.d/dtr.example.com/ca.crt";

/// A key exchange configuration given to every tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kex {
    /// `KexAlgorithms curve25519-sha256`: what paramiko negotiates too.
    Curve25519,
    /// OpenSSH's own preference (post-quantum `sntrup761x25519` on 9.x).
    Default,
}

impl FromStr for Kex {
    type Err = String;

    fn from_str(s: &str) -> Result<Kex, String> {
        match s {
            "curve25519" => Ok(Kex::Curve25519),
            "default" => Ok(Kex::Default),
            other => Err(format!(
                "unknown key exchange `{other}`: use curve25519 or default"
            )),
        }
    }
}

impl fmt::Display for Kex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kex::Curve25519 => "curve25519",
            Kex::Default => "default",
        })
    }
}

/// How the tools reach root on the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    /// SSH logs in as root.
    Root,
    /// SSH logs in as `operator`, a user of the nodes' own (`lab::users`,
    /// root login refused), and every tool becomes root with NOPASSWD sudo:
    /// dtrplay and Ansible with `ansible_become: true`, pyinfra with
    /// `_sudo=True` on each operation.
    Become,
}

impl FromStr for Login {
    type Err = String;

    fn from_str(s: &str) -> Result<Login, String> {
        match s {
            "root" => Ok(Login::Root),
            "become" => Ok(Login::Become),
            other => Err(format!("unknown login `{other}`: use root or become")),
        }
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Login::Root => "root",
            Login::Become => "become",
        })
    }
}

/// How the inventory gives dtrplay and Ansible the ssh client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommonArgs {
    /// `ansible_ssh_common_args: -F <the generated ssh_config>`.
    Config,
    /// The settings as `-o` options, the way people write them in an
    /// inventory: `UserKnownHostsFile`, `StrictHostKeyChecking`,
    /// `HostKeyAlgorithms` and `KexAlgorithms` (issue 17).
    Options,
}

impl FromStr for CommonArgs {
    type Err = String;

    fn from_str(s: &str) -> Result<CommonArgs, String> {
        match s {
            "config" => Ok(CommonArgs::Config),
            "options" => Ok(CommonArgs::Options),
            other => Err(format!(
                "unknown common args style `{other}`: use config or options"
            )),
        }
    }
}

impl fmt::Display for CommonArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommonArgs::Config => "config",
            CommonArgs::Options => "options",
        })
    }
}

/// The files shared by every fleet size: playbook, CA, pyinfra deploys.
pub struct Scenario {
    pub dir: PathBuf,
    pub playbook: PathBuf,
    /// The pyinfra deploy for root logins.
    pub deploy: PathBuf,
    /// The same deploy with `_sudo=True` on each operation.
    pub deploy_sudo: PathBuf,
    pub ca: Vec<u8>,
}

impl Scenario {
    /// Writes the scenario under `dir`, with a freshly generated CA. With
    /// `facts`, every tool first reads the host's facts: the playbook says
    /// `gather_facts: true` (Ansible's default subset, dtrplay's), and the
    /// pyinfra deploys read the facts of the same kinds.
    pub fn write(dir: &Path, facts: bool) -> Result<Scenario, String> {
        let files = dir.join("files");
        fs::create_dir_all(&files)
            .map_err(|e| format!("cannot create {}: {e}", files.display()))?;
        let ca = generate_ca()?;
        write(&files.join("ca.crt"), &ca)?;
        let playbook = dir.join("playbook.yml");
        let gather = if facts { "true" } else { "false" };
        write(
            &playbook,
            PLAYBOOK
                .replace("gather_facts: false", &format!("gather_facts: {gather}"))
                .as_bytes(),
        )?;
        let deploy = dir.join("deploy.py");
        let deploy_text = DEPLOY
            .replace("@CA@", &files.join("ca.crt").display().to_string())
            .replace("@FACTS@\n", if facts { PYINFRA_FACTS } else { "" });
        write(&deploy, deploy_text.replace("@SUDO@", "").as_bytes())?;
        let deploy_sudo = dir.join("deploy_sudo.py");
        write(
            &deploy_sudo,
            deploy_text
                .replace("@SUDO@", "\n    _sudo=True,")
                .as_bytes(),
        )?;
        Ok(Scenario {
            dir: dir.to_path_buf(),
            playbook,
            deploy,
            deploy_sudo,
            ca,
        })
    }
}

/// The playbook run by dtrplay and by Ansible. `copy` finds `ca.crt` in the
/// `files/` directory beside it, in both.
const PLAYBOOK: &str = r#"# The fleet benchmark's scenario (benches/fleet): step 5 of the UCP/DTR
# procedure on every node.
- name: Trust DTR's CA on every node
  hosts: all
  gather_facts: false
  tasks:
    - name: certs.d directory for DTR
      file:
        path: /etc/docker/certs.d/dtr.example.com
        state: directory
        mode: '0755'
    - name: DTR's CA
      copy:
        src: ca.crt
        dest: /etc/docker/certs.d/dtr.example.com/ca.crt
        mode: '0644'
    - name: Verify the CA
      command: sha256sum /etc/docker/certs.d/dtr.example.com/ca.crt
      changed_when: false
"#;

/// The same scenario as a pyinfra deploy.
const DEPLOY: &str = r#"# The fleet benchmark's scenario (benches/fleet) for pyinfra.
from pyinfra.operations import files, server
@FACTS@

files.directory(
    name="certs.d directory for DTR",
    path="/etc/docker/certs.d/dtr.example.com",
    mode="755",@SUDO@
)
files.put(
    name="DTR's CA",
    src="@CA@",
    dest="/etc/docker/certs.d/dtr.example.com/ca.crt",
    mode="644",@SUDO@
)
server.shell(
    name="Verify the CA",
    commands=["sha256sum /etc/docker/certs.d/dtr.example.com/ca.crt"],@SUDO@
)
"#;

/// What the pyinfra deploys read first with `--facts`: the facts behind
/// Ansible's default subset that pyinfra has (host name, kernel, machine,
/// distribution, users' home, network addresses), each one command on the
/// host as pyinfra gathers them.
const PYINFRA_FACTS: &str = r#"from pyinfra import host
from pyinfra.facts.server import Arch, Home, Hostname, Kernel, LinuxDistribution, Os
from pyinfra.facts.hardware import Ipv4Addrs, Memory

for fact in (Arch, Home, Hostname, Kernel, LinuxDistribution, Os, Ipv4Addrs, Memory):
    host.get_fact(fact)
"#;

/// A self-signed CA certificate in PEM, the kind of file the scenario
/// installs (about 600 bytes).
fn generate_ca() -> Result<Vec<u8>, String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "dtrplay fleet benchmark CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the CA: {e}"))?;
    Ok(cert.pem().into_bytes())
}

/// The per-fleet files for one key exchange.
pub struct FleetFiles {
    pub ssh_config: PathBuf,
    pub inventory: PathBuf,
    pub pyinfra_inventory: PathBuf,
}

/// Writes the `ssh_config`, the YAML inventory (dtrplay and Ansible) and the
/// pyinfra inventory for `fleet` and `kex` into `dir`.
pub fn fleet_files(
    fleet: &Fleet,
    kex: Kex,
    login: Login,
    style: CommonArgs,
    fronts: Option<&HashMap<SocketAddr, SocketAddr>>,
    dir: &Path,
) -> Result<FleetFiles, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let nodes = fleet.nodes();
    let reach = Reach::new(fleet, fronts, dir)?;
    let reach = &reach;
    let ssh_config = dir.join(format!("ssh_config-{kex}"));
    write(&ssh_config, render_ssh_config(fleet, kex, reach).as_bytes())?;
    let inventory = dir.join(format!("inventory-{kex}.yml"));
    write(
        &inventory,
        render_inventory(reach, nodes, &ssh_config, login, style, kex).as_bytes(),
    )?;
    let pyinfra_inventory = dir.join(format!("pyinfra_inventory_{kex}.py"));
    write(
        &pyinfra_inventory,
        render_pyinfra_inventory(fleet, reach, &ssh_config, login).as_bytes(),
    )?;
    Ok(FleetFiles {
        ssh_config,
        inventory,
        pyinfra_inventory,
    })
}

/// Where the tools reach each node: its sshd, or its delay proxy
/// (`delay.rs`), with a known_hosts file that names the address they use.
struct Reach<'a> {
    fronts: Option<&'a HashMap<SocketAddr, SocketAddr>>,
    known_hosts: PathBuf,
}

impl<'a> Reach<'a> {
    fn new(
        fleet: &Fleet,
        fronts: Option<&'a HashMap<SocketAddr, SocketAddr>>,
        dir: &Path,
    ) -> Result<Reach<'a>, String> {
        let Some(fronts) = fronts else {
            return Ok(Reach {
                fronts: None,
                known_hosts: fleet.known_hosts_path().to_path_buf(),
            });
        };
        // The same keys under the proxies' ports: the host key is the
        // node's, the port the one ssh connects to.
        let mut text = fs::read_to_string(fleet.known_hosts_path())
            .map_err(|e| format!("cannot read the fleet's known_hosts: {e}"))?;
        for (node, front) in fronts {
            text = text.replace(
                &format!("[{}]:{} ", node.ip(), node.port()),
                &format!("[{}]:{} ", front.ip(), front.port()),
            );
        }
        let known_hosts = dir.join("known_hosts-delay");
        write(&known_hosts, text.as_bytes())?;
        Ok(Reach {
            fronts: Some(fronts),
            known_hosts,
        })
    }

    fn port(&self, node: &Node) -> u16 {
        let sshd = SocketAddr::new(node.host, node.port);
        self.fronts
            .and_then(|fronts| fronts.get(&sshd))
            .map_or(node.port, |front| front.port())
    }
}

fn render_ssh_config(fleet: &Fleet, kex: Kex, reach: &Reach) -> String {
    let mut out = format!(
        "# Written by the fleet benchmark: the one ssh client configuration every tool gets ({kex} key exchange).\n"
    );
    for node in fleet.nodes() {
        out.push_str(&format!(
            "\nHost {name} {host}\n  HostName {host}\n  Port {port}\n  User {user}\n",
            name = node.name,
            host = node.host,
            port = reach.port(node),
            user = node.user,
        ));
    }
    out.push_str(&format!(
        concat!(
            "\nHost *\n",
            "  IdentityFile {key}\n",
            "  IdentitiesOnly yes\n",
            "  UserKnownHostsFile {known_hosts}\n",
            "  GlobalKnownHostsFile /dev/null\n",
            "  StrictHostKeyChecking yes\n",
            "  CheckHostIP no\n",
            "  BatchMode yes\n",
            "  LogLevel ERROR\n",
        ),
        key = fleet.private_key_path().display(),
        known_hosts = reach.known_hosts.display(),
    ));
    if kex == Kex::Curve25519 {
        out.push_str("  KexAlgorithms curve25519-sha256\n");
    }
    out
}

fn render_inventory(
    reach: &Reach,
    nodes: &[Node],
    ssh_config: &Path,
    login: Login,
    style: CommonArgs,
    kex: Kex,
) -> String {
    let mut out = String::from("# Written by the fleet benchmark.\nall:\n  hosts:\n");
    for node in nodes {
        out.push_str(&format!(
            "    {name}:\n      ansible_host: {host}\n      ansible_port: {port}\n      ansible_user: {user}\n      ansible_ssh_private_key_file: {key}\n",
            name = node.name,
            host = node.host,
            port = reach.port(node),
            user = node.user,
            key = node.private_key().display(),
        ));
    }
    let common = match style {
        CommonArgs::Config => format!("-F {}", ssh_config.display()),
        CommonArgs::Options => {
            let mut args = format!(
                "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519",
                reach.known_hosts.display()
            );
            if kex == Kex::Curve25519 {
                args.push_str(" -o KexAlgorithms=curve25519-sha256");
            }
            args
        }
    };
    out.push_str(&format!(
        "  vars:\n    ansible_ssh_common_args: \"{common}\"\n"
    ));
    if login == Login::Become {
        out.push_str("    ansible_become: true\n");
    }
    out
}

fn render_pyinfra_inventory(
    fleet: &Fleet,
    reach: &Reach,
    ssh_config: &Path,
    login: Login,
) -> String {
    let mut out = String::from("# Written by the fleet benchmark.\nhosts = [\n");
    // With `_sudo`, pyinfra uploads to its temporary directory as the login
    // user, then copies with sudo, under a name derived from the content.
    // Lab nodes share the machine's /tmp (a real node has its own), so
    // concurrent uploads to the same name would race; each node's private
    // home stands in for its /tmp.
    let temp_dir = match login {
        Login::Root => String::new(),
        Login::Become => "\"_temp_dir\": \"/home/operator\", ".to_string(),
    };
    for node in fleet.nodes() {
        out.push_str(&format!(
            concat!(
                "    (\"{name}\", {{\"ssh_hostname\": \"{host}\", \"ssh_port\": {port}, ",
                "\"ssh_user\": \"{user}\", \"ssh_key\": \"{key}\", ",
                "\"ssh_known_hosts_file\": \"{known_hosts}\", ",
                "\"ssh_strict_host_key_checking\": \"yes\", ",
                "\"ssh_config_file\": \"{config}\", ",
                "{temp_dir}\"ssh_allow_agent\": False, \"ssh_look_for_keys\": False}}),\n"
            ),
            temp_dir = temp_dir,
            name = node.name,
            host = node.host,
            port = reach.port(node),
            user = node.user,
            key = node.private_key().display(),
            known_hosts = reach.known_hosts.display(),
            config = ssh_config.display(),
        ));
    }
    out.push_str("]\n");
    out
}

/// Removes what the scenario creates from every node, so that the next run
/// has changes to make.
pub fn reset(fleet: &Fleet) -> Result<(), String> {
    for node in fleet.nodes() {
        let dir = node.path(CERT_DIR);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", dir.display())),
        }
    }
    Ok(())
}

/// Checks every node's directory and CA file, from the control side.
/// Returns the problems found (empty when every node is right).
pub fn verify(fleet: &Fleet, ca: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    for node in fleet.nodes() {
        let dir = node.path(CERT_DIR);
        let file = node.path(CERT_FILE);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() && m.permissions().mode() & 0o7777 == 0o755 => {}
            Ok(m) => problems.push(format!(
                "{}: {} has mode {:o}",
                node.name,
                CERT_DIR,
                m.permissions().mode() & 0o7777
            )),
            Err(e) => problems.push(format!("{}: {CERT_DIR}: {e}", node.name)),
        }
        match (fs::metadata(&file), fs::read(&file)) {
            (Ok(m), Ok(bytes)) => {
                // Written as root, also when the login user is not root.
                if m.uid() != 0 {
                    problems.push(format!(
                        "{}: {CERT_FILE} belongs to uid {}, not root",
                        node.name,
                        m.uid()
                    ));
                }
                if bytes != ca {
                    problems.push(format!("{}: {CERT_FILE} has other content", node.name));
                }
                if m.permissions().mode() & 0o7777 != 0o644 {
                    problems.push(format!(
                        "{}: {CERT_FILE} has mode {:o}",
                        node.name,
                        m.permissions().mode() & 0o7777
                    ));
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("{}: {CERT_FILE}: {e}", node.name));
            }
        }
    }
    problems
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
