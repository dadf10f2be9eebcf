//! The five integration tasks against the lab's UCP and DTR simulators over
//! real HTTPS on 127.0.0.1, both flavors, driven at the task level: each
//! test builds the task from its arguments through the built-in registry
//! (as the loader does), builds a `task::Context` with a real local shell
//! as the host, and runs check, then apply.
//!
//! What they pin down: every step is idempotent (a second run changes
//! nothing), diffs describe certificates instead of showing base64, and
//! wrong credentials, an unreachable DTR, a bad PEM or a pin mismatch stop
//! the task before anything changes, with a message that says why.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dtrplay::api::tls::Trust;
use dtrplay::api::ucp::Ucp;
use dtrplay::connection::local::LocalConnection;
use dtrplay::connection::{ConnError, Connection, Output};
use dtrplay::task::{Check, Context, Outcome, TaskError};
use dtrplay::tasks::Registry;
use dtrplay_lab::Flavor;
use dtrplay_lab::apis::{self, ApiConfig, ApiServers};
use dtrplay_lab::pki::{LabPki, PkiOptions};
use serde_json::{Map, Value, json};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-secret-pw";
const USER: &str = "alice";
const USER_PASSWORD: &str = "alice-secret-pw";

/// A running lab API pair with its PKI, and the inventory variables that
/// describe it.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub pki: LabPki,
    pub servers: ApiServers,
}

impl Lab {
    pub async fn start(flavor: Flavor) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = LabPki::generate(&dir.path().join("pki"), &PkiOptions::default())
            .expect("generate the lab PKI");
        let cfg = ApiConfig {
            admin_user: ADMIN.to_owned(),
            admin_password: ADMIN_PASSWORD.to_owned(),
            dtr_user: USER.to_owned(),
            dtr_user_password: USER_PASSWORD.to_owned(),
            ..ApiConfig::loopback(flavor)
        };
        let servers = apis::start(&pki, cfg).await.expect("start the lab APIs");
        Lab { dir, pki, servers }
    }

    /// The inventory contract's variables for this lab.
    pub fn vars(&self) -> Map<String, Value> {
        let certs = self.dir.path().join("certs.d");
        let vars = json!({
            "inventory_hostname": "node1",
            "groups": {"ucp_controllers": ["node1"], "ucp_workers": ["node2"], "ucp": ["node1", "node2"]},
            "ucp_url": self.servers.ucp_url(),
            "ucp_username": ADMIN,
            "ucp_password": ADMIN_PASSWORD,
            "ucp_ca_file": self.pki.cluster_root_ca().cert_path(),
            "dtr_url": self.servers.dtr_url(),
            "dtr_username": ADMIN,
            "dtr_password": ADMIN_PASSWORD,
            "dtr_ca_file": self.pki.dtr_ca().cert_path(),
            "docker_certs_dir": certs,
        });
        match vars {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    pub fn ca_crt(&self) -> PathBuf {
        self.certs_dir()
            .join(self.servers.dtr_addr().to_string())
            .join("ca.crt")
    }

    pub fn dtr_ca_pem(&self) -> String {
        self.pki.dtr_ca().cert_pem().to_owned()
    }

    pub fn ucp_ca_pem(&self) -> String {
        self.pki.cluster_root_ca().cert_pem().to_owned()
    }

    /// A UCP client logged in as the admin, to read what UCP holds.
    pub async fn ucp(&self) -> Ucp {
        let trust = Trust::Ca(self.ucp_ca_pem());
        let mut ucp = Ucp::connect(&self.servers.ucp_url(), &trust, None)
            .await
            .expect("connect to UCP");
        ucp.login(ADMIN, ADMIN_PASSWORD).await.expect("login");
        ucp
    }
}

/// A local shell whose `PATH` starts with a directory of stand-in tools, so
/// a task's remote script runs the fake `docker` of the test.
pub struct ShellWithTools {
    inner: LocalConnection,
    bin: PathBuf,
}

impl ShellWithTools {
    pub fn new(name: &str, bin: &Path) -> ShellWithTools {
        ShellWithTools {
            inner: LocalConnection::new(name),
            bin: bin.to_path_buf(),
        }
    }
}

#[async_trait]
impl Connection for ShellWithTools {
    async fn run(
        &self,
        script: &str,
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<Output, ConnError> {
        let script = format!(
            "PATH='{}':\"$PATH\"; export PATH\n{script}",
            self.bin.display()
        );
        self.inner.run(&script, stdin, timeout).await
    }

    async fn close(&self) {}
}

/// Writes an executable stand-in `docker` script into `dir`.
pub fn fake_docker(dir: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("bin dir");
    let path = dir.join("docker");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write docker");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir.to_path_buf()
}

/// How a task run ended.
#[derive(Debug)]
pub struct Run {
    /// The check's verdict: true when it found drift.
    pub drift: bool,
    /// The preview (check) or the apply's outcome.
    pub outcome: Outcome,
    pub warnings: Vec<String>,
}

/// Builds a task from its arguments through the registry (coercion,
/// defaults, `deny_unknown_fields`), and runs it on `conn` as host `host`.
pub async fn run_task(
    module: &str,
    args: Value,
    vars: &Map<String, Value>,
    conn: &dyn Connection,
    check_mode: bool,
) -> Result<Run, TaskError> {
    run_task_with_peers(module, args, vars, conn, &[], check_mode).await
}

/// [`run_task`] with other hosts of the play reachable through `peers`.
pub async fn run_task_with_peers(
    module: &str,
    args: Value,
    vars: &Map<String, Value>,
    conn: &dyn Connection,
    peer_list: &[(String, Arc<dyn Connection>)],
    check_mode: bool,
) -> Result<Run, TaskError> {
    let registry = Registry::builtins();
    let entry = registry.get(module).expect("a built-in task");
    let args = match args {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let coerced = entry.spec.coerce(&args).map_err(TaskError::failed)?;
    let task = (entry.build)(coerced).map_err(TaskError::failed)?;
    let eval = |name: &str| -> Result<Value, String> {
        vars.get(name)
            .cloned()
            .ok_or_else(|| format!("`{name}` is undefined"))
    };
    let peers = |name: &str| -> Option<Arc<dyn Connection>> {
        peer_list
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| Arc::clone(c))
    };
    let host = vars
        .get("inventory_hostname")
        .and_then(Value::as_str)
        .unwrap_or("node1");
    let cx = Context::new(
        host,
        conn,
        check_mode,
        true,
        Duration::from_secs(60),
        vars,
        &eval,
        &peers,
    );
    let result = match task.check_dyn(&cx).await? {
        Check::InSync(outcome) => Run {
            drift: false,
            outcome,
            warnings: Vec::new(),
        },
        Check::Drift { preview, .. } if check_mode => Run {
            drift: true,
            outcome: preview,
            warnings: Vec::new(),
        },
        Check::Drift { drift, .. } => Run {
            drift: true,
            outcome: task.apply_dyn(&cx, drift).await?,
            warnings: Vec::new(),
        },
    };
    Ok(Run {
        warnings: cx.take_warnings(),
        ..result
    })
}

pub fn local() -> LocalConnection {
    LocalConnection::new("node1")
}

fn failure(result: Result<Run, TaskError>) -> String {
    match result {
        Ok(run) => panic!("expected a failure, got {run:?}"),
        Err(err) => err.to_string(),
    }
}

fn set(vars: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    vars.insert(key.to_string(), value.into());
}

#[tokio::test]
async fn upload_ca_configures_ucp1_once_and_shows_certificates() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();

    let plan = run_task("upload-ca", json!({}), &vars, &local(), true)
        .await
        .expect("check");
    assert!(plan.drift);
    let ca_diff = plan
        .outcome
        .diffs
        .iter()
        .find(|d| d.subject.starts_with("UCP's CA for DTR"))
        .expect("a CA diff");
    let after = ca_diff.after.as_deref().unwrap_or("");
    assert!(after.contains("subject:     CN=DTR CA"), "{after}");
    assert!(!after.contains("BEGIN CERTIFICATE"), "{after}");
    assert_eq!(
        lab.servers.status().ucp_registry_url,
        None,
        "check mode changed UCP"
    );

    let applied = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("apply");
    assert!(applied.outcome.changed);
    let config = lab
        .ucp()
        .await
        .registry_config()
        .await
        .expect("read back")
        .expect("configured");
    assert!(!config.insecure);
    assert!(dtrplay::cert::same_certificates(
        config.ca.as_deref().unwrap_or(""),
        &lab.dtr_ca_pem()
    ));
    assert_eq!(config.url, lab.servers.dtr_url());

    let again = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("second run");
    assert!(!again.drift, "{again:?}");
    assert!(!again.outcome.changed);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
}

#[tokio::test]
async fn upload_ca_registers_a_trusted_registry_on_ucp3() {
    let lab = Lab::start(Flavor::Ucp3).await;
    let vars = lab.vars();
    let applied = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("apply");
    assert!(applied.outcome.changed);
    assert_eq!(
        applied.outcome.data.get("flavor").and_then(Value::as_str),
        Some("ucp3")
    );
    let registries = lab
        .ucp()
        .await
        .trusted_registries()
        .await
        .expect("config-toml");
    assert_eq!(registries.len(), 1);
    assert_eq!(
        registries[0].host_address,
        lab.servers.dtr_addr().to_string()
    );
    let again = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("second run");
    assert!(!again.drift && !again.outcome.changed, "{again:?}");
}

#[tokio::test]
async fn insecure_is_only_sent_when_asked_and_warns_about_mitm() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    let run = run_task(
        "upload-ca",
        json!({"insecure": true}),
        &vars,
        &local(),
        false,
    )
    .await
    .expect("apply");
    assert!(
        run.warnings.iter().any(|w| w.contains("man-in-the-middle")),
        "{:?}",
        run.warnings
    );
    let config = lab.ucp().await.registry_config().await.expect("read");
    assert!(config.is_some_and(|c| c.insecure));
    // Back to the safe default: a change, and no warning.
    let run = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("apply");
    assert!(run.outcome.changed && run.warnings.is_empty(), "{run:?}");
}

#[tokio::test]
async fn wrong_ucp_credentials_stop_before_any_change() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    set(&mut vars, "ucp_password", "not-the-password");
    let msg = failure(run_task("upload-ca", json!({}), &vars, &local(), false).await);
    assert!(
        msg.contains("rejected the credentials of user `admin`"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-password"), "{msg}");
    assert_eq!(lab.servers.status().ucp_registry_url, None);
}

#[tokio::test]
async fn wrong_dtr_credentials_stop_set_bypass_ca() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    set(&mut vars, "dtr_password", "wrong-dtr-pw");
    let args = json!({"ca": lab.ucp_ca_pem()});
    let msg = failure(run_task("set-bypass-ca", args, &vars, &local(), false).await);
    assert!(msg.contains("DTR rejected the credentials"), "{msg}");
    assert!(!msg.contains("wrong-dtr-pw"), "{msg}");
    assert!(!lab.servers.status().dtr_trusts_ucp);
}

#[tokio::test]
async fn an_unreachable_dtr_stops_upload_ca() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    set(&mut vars, "dtr_url", format!("https://127.0.0.1:{port}"));
    let msg = failure(run_task("upload-ca", json!({}), &vars, &local(), false).await);
    assert!(msg.contains("step 2") && msg.contains("refused"), "{msg}");
    assert_eq!(lab.servers.status().ucp_registry_url, None);
}

#[tokio::test]
async fn a_pin_mismatch_stops_before_anything_changes() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    set(&mut vars, "dtr_ca_fingerprint", "AB".repeat(32));
    let msg = failure(run_task("upload-ca", json!({}), &vars, &local(), false).await);
    assert!(msg.contains("pinned fingerprint"), "{msg}");
    assert_eq!(lab.servers.status().ucp_registry_url, None);

    // The UCP pin guards the cluster CA as dump-certs reads it.
    let mut vars = lab.vars();
    set(&mut vars, "ucp_ca_fingerprint", "cd".repeat(32));
    let msg = failure(
        run_task(
            "dump-certs",
            json!({"source": "api"}),
            &vars,
            &local(),
            false,
        )
        .await,
    );
    assert!(msg.contains("pin"), "{msg}");
}

#[tokio::test]
async fn a_correct_pin_replaces_the_ca_file() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    let ca = dtrplay::cert::parse_pem(&lab.dtr_ca_pem(), "DTR CA").expect("pem");
    vars.remove("dtr_ca_file");
    set(
        &mut vars,
        "dtr_ca_fingerprint",
        ca[0].info.sha256.replace(':', "").to_lowercase(),
    );
    let run = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("apply with a pin");
    assert!(run.outcome.changed);
}

#[tokio::test]
async fn an_untrusted_dtr_without_ca_or_pin_says_how_to_pin_it() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    vars.remove("dtr_ca_file");
    let msg = failure(run_task("copy-ca-crt", json!({}), &vars, &local(), true).await);
    let ca = dtrplay::cert::parse_pem(&lab.dtr_ca_pem(), "DTR CA").expect("pem");
    assert!(msg.contains("unknown authority"), "{msg}");
    assert!(msg.contains(&ca[0].info.sha256), "{msg}");
    assert!(msg.contains("dtr_ca_fingerprint"), "{msg}");
}

#[tokio::test]
async fn set_bypass_ca_trusts_the_dumped_ca_once() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    let dumped = run_task(
        "dump-certs",
        json!({"source": "api"}),
        &vars,
        &local(),
        true,
    )
    .await
    .expect("dump-certs over the API");
    assert!(!dumped.outcome.changed);
    let pem = dumped
        .outcome
        .data
        .get("pem")
        .and_then(Value::as_str)
        .expect("registered pem")
        .to_string();
    assert_eq!(
        dumped.outcome.data.get("subject").and_then(Value::as_str),
        Some("CN=UCP Cluster Root CA")
    );

    let plan = run_task("set-bypass-ca", json!({"ca": pem}), &vars, &local(), true)
        .await
        .expect("check");
    assert!(plan.drift);
    let diff = &plan.outcome.diffs[0];
    assert!(diff.subject.contains("authBypassCA"));
    assert_eq!(diff.before, None);
    assert!(!lab.servers.status().dtr_trusts_ucp);

    let applied = run_task("set-bypass-ca", json!({"ca": pem}), &vars, &local(), false)
        .await
        .expect("apply");
    assert!(applied.outcome.changed);
    assert!(lab.servers.status().dtr_trusts_ucp);

    // Same CA with other whitespace: no change.
    let crlf = pem.replace('\n', "\r\n");
    let again = run_task("set-bypass-ca", json!({"ca": crlf}), &vars, &local(), false)
        .await
        .expect("second run");
    assert!(!again.drift && !again.outcome.changed, "{again:?}");
}

#[tokio::test]
async fn set_bypass_ca_on_ucp3_explains_install_time_trust() {
    let lab = Lab::start(Flavor::Ucp3).await;
    let vars = lab.vars();
    let run = run_task(
        "set-bypass-ca",
        json!({"ca": lab.ucp_ca_pem()}),
        &vars,
        &local(),
        false,
    )
    .await
    .expect("ok on ucp3");
    assert!(!run.outcome.changed);
    let msg = run.outcome.msg.unwrap_or_default();
    assert!(msg.contains("--ucp-ca"), "{msg}");
}

#[tokio::test]
async fn bad_pems_are_refused_before_dtr_is_contacted() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    // DTR is unreachable: a message about it would mean DTR was contacted.
    set(&mut vars, "dtr_url", "https://127.0.0.1:1");
    let msg = failure(
        run_task(
            "set-bypass-ca",
            json!({"ca": "not a certificate"}),
            &vars,
            &local(),
            false,
        )
        .await,
    );
    assert!(msg.contains("no `-----BEGIN CERTIFICATE-----`"), "{msg}");

    let leaf = lab.pki.dtr_server().cert_pem().to_owned();
    let msg = failure(run_task("set-bypass-ca", json!({"ca": leaf}), &vars, &local(), false).await);
    assert!(msg.contains("is not a CA certificate"), "{msg}");
}

#[tokio::test]
async fn copy_ca_crt_writes_atomically_with_the_right_modes() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    let path = lab.ca_crt();

    let plan = run_task("copy-ca-crt", json!({}), &vars, &local(), true)
        .await
        .expect("check");
    assert!(plan.drift);
    assert_eq!(plan.outcome.diffs[0].before, None);
    assert!(!path.exists(), "check mode wrote the file");

    let applied = run_task("copy-ca-crt", json!({}), &vars, &local(), false)
        .await
        .expect("apply");
    assert!(applied.outcome.changed);
    let meta = std::fs::metadata(&path).expect("ca.crt exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let dir = path.parent().expect("dir");
    let dir_mode = std::fs::metadata(dir).expect("dir").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o755);
    let written = std::fs::read_to_string(&path).expect("read");
    assert!(dtrplay::cert::same_certificates(
        &written,
        &lab.dtr_ca_pem()
    ));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "ca.crt")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let again = run_task("copy-ca-crt", json!({}), &vars, &local(), false)
        .await
        .expect("second run");
    assert!(!again.drift && !again.outcome.changed);

    // A wrong CA is replaced, and the diff describes both certificates.
    std::fs::write(&path, lab.ucp_ca_pem()).expect("overwrite");
    let fixed = run_task("copy-ca-crt", json!({}), &vars, &local(), false)
        .await
        .expect("replace");
    let diff = &fixed.outcome.diffs[0];
    assert!(
        diff.before
            .as_deref()
            .is_some_and(|b| b.contains("UCP Cluster Root CA"))
    );
    assert!(diff.after.as_deref().is_some_and(|a| a.contains("DTR CA")));

    // The same CA with a wrong mode is a mode change only.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let moded = run_task("copy-ca-crt", json!({}), &vars, &local(), false)
        .await
        .expect("mode");
    assert!(moded.outcome.changed);
    assert!(
        moded
            .outcome
            .diffs
            .iter()
            .all(|d| d.subject.starts_with("mode of"))
    );
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[tokio::test]
async fn dump_certs_over_ssh_skips_log_lines_and_validates() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    let bin = lab.dir.path().join("bin");
    let ca = lab.pki.cluster_root_ca().cert_path().display().to_string();
    fake_docker(
        &bin,
        &format!(
            "echo 'time=\"2024\" level=info msg=\"dumping certs\"'\ncase \"$*\" in *'dump-certs --cluster --ca'*) cat '{ca}';; *) exit 9;; esac"
        ),
    );
    let node = ShellWithTools::new("node1", &bin);
    let run = run_task("dump-certs", json!({}), &vars, &node, true)
        .await
        .expect("dump-certs");
    assert!(!run.outcome.changed);
    assert_eq!(
        run.outcome.data.get("subject").and_then(Value::as_str),
        Some("CN=UCP Cluster Root CA")
    );
    assert!(run.outcome.data.contains_key("fingerprint"));
    assert!(run.outcome.data.contains_key("not_after"));

    // A server certificate is not the cluster CA.
    let leaf = lab.pki.ucp_server().cert_path().display().to_string();
    fake_docker(&bin, &format!("cat '{leaf}'"));
    let msg = failure(run_task("dump-certs", json!({}), &vars, &node, true).await);
    assert!(msg.contains("is not a CA certificate"), "{msg}");

    // A docker that cannot reach its daemon is explained.
    fake_docker(
        &bin,
        "echo 'docker: permission denied while trying to connect to the Docker daemon socket' >&2; exit 1",
    );
    let msg = failure(run_task("dump-certs", json!({}), &vars, &node, true).await);
    assert!(msg.contains("docker` group"), "{msg}");
}

#[tokio::test]
async fn arguments_are_typed_and_unknown_ones_refused() {
    let registry = Registry::builtins();
    let entry = registry.get("copy-ca-crt").expect("built-in");
    let args = json!({"dtr_urll": "x"});
    let err = entry
        .spec
        .coerce(args.as_object().expect("object"))
        .expect_err("unknown argument");
    assert!(err.contains("unknown argument `dtr_urll`"), "{err}");
    let spec = dtrplay::tasks::upload_ca::spec();
    assert!(spec.on_control && spec.run_once);
    assert!(spec.secret_params().any(|p| p == "ucp_password"));
    assert!(dtrplay::tasks::dump_certs::spec().run_once);
    assert!(!dtrplay::tasks::copy_ca_crt::spec().run_once);
}

#[test]
fn the_integration_playbook_loads_with_every_task_checked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/integrate.yml");
    let playbook = dtrplay::playbook::parse::load(&path, &Registry::builtins(), &[])
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    assert_eq!(playbook.plays.len(), 1);
    let modules: Vec<&str> = playbook.plays[0]
        .all_tasks()
        .into_iter()
        .map(|t| t.module.as_str())
        .collect();
    assert_eq!(
        modules,
        [
            "dump-certs",
            "upload-ca",
            "set-bypass-ca",
            "copy-ca-crt",
            "push-test"
        ]
    );
}

#[tokio::test]
async fn passwords_may_be_templates_rendered_through_the_evaluator() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let mut vars = lab.vars();
    // What `ucp_password: "{{ lookup('env', 'UCP_PASSWORD') }}"` looks like
    // to a task whose evaluator hands variables back unrendered.
    set(&mut vars, "ucp_password", "{{ vault_ucp_password }}");
    set(&mut vars, "vault_ucp_password", ADMIN_PASSWORD);
    let run = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("the templated password works");
    assert!(run.outcome.changed);
}

#[tokio::test]
async fn a_served_ca_that_the_server_certificate_does_not_chain_to_is_refused() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let vars = lab.vars();
    // DTR now serves UCP's CA at /ca, while its certificate is still issued
    // by DTR's own CA: copying what /ca says would break every node.
    let dtr = dtrplay::api::dtr::Dtr::connect(
        &lab.servers.dtr_url(),
        &Trust::Ca(lab.dtr_ca_pem()),
        ADMIN,
        ADMIN_PASSWORD,
    )
    .await
    .expect("connect");
    let mut fields = Map::new();
    fields.insert("webTLSCA".into(), lab.ucp_ca_pem().into());
    dtr.update_settings(&fields).await.expect("change webTLSCA");
    let msg = failure(run_task("copy-ca-crt", json!({}), &vars, &local(), false).await);
    assert!(
        msg.contains("does not chain to the CA it serves at /ca"),
        "{msg}"
    );
    assert!(!lab.ca_crt().exists());
}

#[tokio::test]
async fn a_client_bundle_replaces_the_ucp_password() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let bundle = lab.dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    let admin = lab.pki.admin_client();
    std::fs::write(bundle.join("cert.pem"), admin.cert_pem()).expect("cert.pem");
    std::fs::write(bundle.join("key.pem"), admin.key_pem()).expect("key.pem");
    let mut vars = lab.vars();
    vars.remove("ucp_password");
    set(&mut vars, "ucp_client_bundle", bundle.display().to_string());
    let run = run_task("upload-ca", json!({}), &vars, &local(), false)
        .await
        .expect("upload-ca with a client bundle");
    assert!(run.outcome.changed);
    assert_eq!(
        lab.servers.status().ucp_registry_url,
        Some(lab.servers.dtr_url())
    );
}
