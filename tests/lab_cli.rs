//! `dtrplay lab up|status|down`: a background lab that answers, is reported
//! once, and leaves nothing behind; two labs side by side.

use std::error::Error;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dtrplay_lab::daemon::process;
use dtrplay_lab::state::LabState;
use serde_json::Value;

type TestResult = Result<(), Box<dyn Error>>;

fn dtrplay(args: &[&str], dir: &Path) -> Result<Output, Box<dyn Error>> {
    Ok(Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()?)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Takes a lab down when the test ends, even on failure, so that no
/// background process outlives the test.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = dtrplay(&["lab", "down"], &self.0);
    }
}

fn state(dir: &Path) -> Result<LabState, Box<dyn Error>> {
    Ok(serde_json::from_slice(&std::fs::read(
        dir.join("lab.json"),
    )?)?)
}

fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).is_ok()
}

/// Every process that still belongs to the lab in `dir`: its command line
/// names the lab directory (sshd, dockerd's `--data-root`, containerd's
/// `--root`, `lab serve`), or its mount namespace holds a mount from it (a
/// node's private binds and overlays), however it is named.
fn leftovers(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let mounts = std::fs::read_to_string(entry.path().join("mountinfo")).unwrap_or_default();
        if cmdline.contains(&needle) || mounts.contains(&needle) {
            found.push(format!("{pid}: {}", cmdline.trim()));
        }
    }
    found
}

/// The port of the lab's CONNECT proxy, from its recorded `HTTPS_PROXY`.
fn proxy_addr(state: &LabState) -> Option<SocketAddr> {
    state
        .https_proxy
        .as_deref()?
        .strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

#[test]
fn up_status_up_again_and_down() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("lab");
    let _guard = Down(dir.clone());

    let out = dtrplay(&["lab", "up", "--nodes", "3", "--controllers", "1"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    let dir = dir.canonicalize()?;
    let inventory = dir.join("inventory.yml");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("The lab is up in {}.\n", dir.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "dtrplay apply playbooks/integrate.yml -i {}\n",
            inventory.display()
        )),
        "{text}"
    );

    // By default the nodes are reached as production nodes are: a login
    // user of their own, root through sudo.
    assert!(
        text.contains(
            "Nodes: SSH logs in as operator (root login refused); sudo needs no password."
        ),
        "{text}"
    );
    let out = dtrplay(&["lab", "status"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for part in ["ucp", "dtr", "node1", "node2", "node3"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(part) && l.contains(" up ")),
            "{part}: {text}"
        );
    }

    let recorded = state(&dir)?;
    let out = dtrplay(&["lab", "up"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).starts_with(&format!(
            "A lab is already running in {} (lab serve pid {}).",
            dir.display(),
            recorded.serve_pid
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(state(&dir)?.serve_pid, recorded.serve_pid);

    // Asking for another flavor while this lab runs fails, instead of
    // going on with the running lab as if it were the one asked for.
    let out = dtrplay(&["lab", "up", "--flavor", "ucp3"], &dir)?;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    // The message is wrapped to the terminal's width: compare its words.
    let err = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains(&format!(
            "a lab is already running in {} (lab serve pid {}) as ucp1 with 3 node(s), 1 controller(s), not ucp3 with 3 node(s), 1 controller(s): stop it first with `dtrplay lab down --dir {}`",
            dir.display(),
            recorded.serve_pid,
            dir.display()
        )),
        "{err}"
    );
    assert_eq!(state(&dir)?.serve_pid, recorded.serve_pid);

    // The inventory is Ansible YAML with the two groups under `ucp`.
    let yaml: Value = serde_saphyr::from_str(&std::fs::read_to_string(&inventory)?)?;
    let ucp = &yaml["all"]["children"]["ucp"];
    let controllers = ucp["children"]["ucp_controllers"]["hosts"]
        .as_object()
        .ok_or("no controllers")?;
    let workers = ucp["children"]["ucp_workers"]["hosts"]
        .as_object()
        .ok_or("no workers")?;
    assert_eq!(controllers.keys().collect::<Vec<_>>(), ["node1"]);
    assert_eq!(workers.keys().collect::<Vec<_>>(), ["node2", "node3"]);
    assert_eq!(controllers["node1"]["ansible_user"], "operator");
    assert_eq!(controllers["node1"]["ansible_become"], true);
    assert_eq!(controllers["node1"]["ansible_port"], recorded.nodes[0].port);
    let vars = &ucp["vars"];
    assert_eq!(vars["ucp_url"], Value::from(recorded.ucp.url.clone()));
    assert_eq!(vars["dtr_url"], Value::from(recorded.dtr.url.clone()));
    assert_eq!(vars["docker_certs_dir"], "/etc/docker/certs.d");
    assert_eq!(vars["push_test_repo"], "admin/hello-world");
    assert!(vars["ucp_password"].as_str().is_some_and(|p| p.len() >= 16));
    assert!(Path::new(vars["dtr_ca_file"].as_str().ok_or("dtr_ca_file")?).is_file());

    // The nodes answer over ssh with the lab's config; `docker` there is
    // the real engine, holding the lab's hello-world, and `systemctl` the
    // lab's stand-in, both reached with sudo (the engine's socket is
    // root's, as on a production node).
    let out = Command::new("ssh")
        .arg("-F")
        .arg(dir.join("ssh_config"))
        .args([
            "node2",
            "id -un; sudo docker images --filter reference=hello-world --format '{{.Repository}}:{{.Tag}}'; sudo systemctl is-active docker; docker info >/dev/null 2>&1 || echo no engine without sudo",
        ])
        .output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "operator\nhello-world:latest\nactive\nno engine without sudo\n"
    );

    let out = dtrplay(&["lab", "down"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    assert!(!dir.exists());
    let mut pids = vec![recorded.serve_pid];
    pids.extend(recorded.nodes.iter().map(|n| n.pid));
    // Every node ran its own real dockerd, and none is left.
    let engines: Vec<u32> = recorded.nodes.iter().filter_map(|n| n.engine_pid).collect();
    assert_eq!(engines.len(), 3, "{:?}", recorded.nodes);
    pids.extend(engines);
    for pid in pids {
        assert!(!process::is_alive(pid), "pid {pid} is still alive");
    }
    let mut addresses = vec![recorded.ucp.addr, recorded.dtr.addr];
    addresses.extend(recorded.nodes.iter().map(|n| n.address()));
    addresses.extend(proxy_addr(&recorded));
    assert_eq!(addresses.len(), 6, "the proxy is recorded");
    for addr in addresses {
        assert!(!listening(addr), "{addr} still listens");
    }
    // No dockerd, containerd, sshd or mount namespace of the lab is left.
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    let out = dtrplay(&["lab", "status"], &dir)?;
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

#[test]
fn two_labs_side_by_side() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let _guards = (Down(a.clone()), Down(b.clone()));

    // One lab reached as root, as root fleets are, also running MKE 4's
    // containerd on its copy-on-write node.
    let out = dtrplay(
        &[
            "lab",
            "up",
            "--nodes",
            "1",
            "--login-user",
            "root",
            "--containerd",
        ],
        &a,
    )?;
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("Nodes: SSH logs in as root."),
        "{out:?}"
    );
    let out = dtrplay(&["lab", "up", "--nodes", "2", "--flavor", "ucp3"], &b)?;
    assert!(out.status.success(), "{out:?}");
    let inventory = std::fs::read_to_string(a.join("inventory.yml"))?;
    assert!(inventory.contains("ansible_user: \"root\""), "{inventory}");
    assert!(!inventory.contains("ansible_become"), "{inventory}");
    // Asking the running lab for another login user fails, as another
    // flavor does.
    let out = dtrplay(&["lab", "up", "--nodes", "1", "--containerd"], &a)?;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        err.contains("as nodes reached as root, not nodes reached as operator"),
        "{err}"
    );
    let (sa, sb) = (state(&a)?, state(&b)?);
    assert_ne!(sa.serve_pid, sb.serve_pid);
    assert_ne!(sa.ucp.addr, sb.ucp.addr);
    assert_ne!(sa.nodes[0].address(), sb.nodes[0].address());
    assert!(dtrplay(&["lab", "status"], &a)?.status.success());
    assert!(dtrplay(&["lab", "status"], &b)?.status.success());

    // Taking one down leaves the other running.
    let out = dtrplay(&["lab", "down", "--keep"], &a)?;
    assert!(out.status.success(), "{out:?}");
    assert!(a.join("inventory.yml").exists());
    assert!(!a.join("lab.json").exists());
    assert!(!listening(sa.nodes[0].address()));
    assert!(dtrplay(&["lab", "status"], &b)?.status.success());
    let a_pids: Vec<u32> = sa.nodes.iter().filter_map(|n| n.containerd_pid).collect();
    assert_eq!(a_pids.len(), 1, "{:?}", sa.nodes);
    assert!(
        !process::is_alive(a_pids[0]),
        "a's containerd is still alive"
    );
    let a_dir = a.canonicalize()?;
    assert_eq!(leftovers(&a_dir), Vec::<String>::new());
    // b's dockerds, sshds and namespaces still run.
    let b_dir = b.canonicalize()?;
    assert!(leftovers(&b_dir).len() >= 5, "{:?}", leftovers(&b_dir));
    assert!(sb.nodes.iter().all(|n| n.containerd_pid.is_none()));

    let out = dtrplay(&["lab", "down"], &b)?;
    assert!(out.status.success(), "{out:?}");
    assert!(!listening(sb.dtr.addr));
    assert!(!process::is_alive(sb.serve_pid));
    for addr in [proxy_addr(&sa), proxy_addr(&sb)].into_iter().flatten() {
        assert!(!listening(addr), "{addr} still listens");
    }
    assert_eq!(leftovers(&b_dir), Vec::<String>::new());
    Ok(())
}

#[test]
fn down_refuses_a_directory_that_is_not_a_lab() -> TestResult {
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("precious"), "data")?;
    let out = dtrplay(&["lab", "down"], tmp.path())?;
    assert!(!out.status.success());
    assert!(tmp.path().join("precious").exists());
    Ok(())
}

/// `dtrplay` in the working tree, with the lab's proxy, as `./scripts/demo`
/// runs it after `. <lab>/env.sh`.
fn dtrplay_on(lab: &Path, args: &[&str]) -> Result<Output, Box<dyn Error>> {
    let proxy = state(lab)?.https_proxy.ok_or("the lab has no proxy")?;
    Ok(Command::new(env!("CARGO_BIN_EXE_dtrplay"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HTTPS_PROXY", proxy)
        .env("NO_COLOR", "1")
        .output()?)
}

/// A host's name, `changed` and `failed` in a run's recap.
type HostCounts = (String, u64, u64);

/// Every host's counts in a JSON run's recap.
fn recap(output: &Output) -> Result<Vec<HostCounts>, Box<dyn Error>> {
    let text = stdout(output);
    let recap = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|e| e["event"] == "recap")
        .ok_or_else(|| format!("no recap in {text}"))?;
    let hosts = recap["hosts"].as_object().ok_or("no hosts")?;
    Ok(hosts
        .iter()
        .map(|(name, h)| {
            let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
            (name.clone(), n("changed"), n("failed"))
        })
        .collect())
}

/// What `./scripts/demo` does, on a default lab: the nodes are reached as
/// a user of their own and root through sudo, `playbooks/integrate.yml`
/// applies (the files it writes are root's), a second apply changes
/// nothing, and doctor passes, reading the nodes' files through sudo too.
/// With `--sudo password` the inventory carries the password, never shown.
#[test]
fn the_integration_runs_as_a_non_root_user_with_sudo() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("lab");
    let _guard = Down(dir.clone());
    let out = dtrplay(&["lab", "up", "--nodes", "2"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    let dir = dir.canonicalize()?;
    let inventory = dir.join("inventory.yml");
    let inventory = inventory.to_str().ok_or("path")?;
    let apply = [
        "apply",
        "playbooks/integrate.yml",
        "-i",
        inventory,
        "--output",
        "json",
    ];

    let first = dtrplay_on(&dir, &apply)?;
    assert!(first.status.success(), "{first:?}");
    let hosts = recap(&first)?;
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    for (host, changed, failed) in &hosts {
        assert!(*changed > 0 && *failed == 0, "{host}: {hosts:?}");
    }
    let certs = dir.join("nodes/node2/fs/etc/docker/certs.d");
    let registry = std::fs::read_dir(&certs)?
        .next()
        .ok_or("no registry directory in certs.d")??
        .path();
    let ca = registry.join("ca.crt");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&ca)?.uid(), 0, "written as root");

    let again = dtrplay_on(&dir, &apply)?;
    assert!(again.status.success(), "{again:?}");
    for (host, changed, failed) in recap(&again)? {
        assert_eq!((changed, failed), (0, 0), "{host}: {}", stdout(&again));
    }

    // Doctor reads each node's ca.crt as root, through sudo: even one the
    // login user may not read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o600))?;
    let doctor = dtrplay_on(&dir, &["doctor", "-i", inventory])?;
    assert!(doctor.status.success(), "{doctor:?}");
    assert!(
        stdout(&doctor).contains("every trust link holds on every node"),
        "{doctor:?}"
    );
    let as_login = dtrplay_on(
        &dir,
        &["doctor", "-i", inventory, "-e", "ansible_become=false"],
    )?;
    assert!(!as_login.status.success(), "{as_login:?}");
    assert!(
        stdout(&as_login).contains("ca.crt cannot be read"),
        "{as_login:?}"
    );
    assert!(
        stdout(&as_login).contains("ansible_become: true"),
        "{as_login:?}"
    );

    // sudo that asks for the password: the inventory gives it.
    let out = dtrplay(&["lab", "down"], &dir)?;
    assert!(out.status.success(), "{out:?}");
    let out = dtrplay(
        &[
            "lab", "up", "--nodes", "1", "--flavor", "ucp3", "--sudo", "password",
        ],
        &dir,
    )?;
    assert!(out.status.success(), "{out:?}");
    let config: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
    let password = config["login"]["password"]
        .as_str()
        .ok_or("no password")?
        .to_string();
    assert!(stdout(&out).contains(&format!("sudo asks for operator's password: {password}")));
    let run = dtrplay_on(&dir, &apply)?;
    assert!(run.status.success(), "{run:?}");
    let doctor = dtrplay_on(&dir, &["doctor", "-i", inventory])?;
    assert!(doctor.status.success(), "{doctor:?}");
    for output in [&run, &doctor] {
        assert!(
            !stdout(output).contains(&password),
            "the password was shown"
        );
        assert!(!String::from_utf8_lossy(&output.stderr).contains(&password));
    }
    Ok(())
}
