//! `docker_login` and `docker_image`'s `push` and `pull` against a real
//! registry: the lab's DTR simulator (the registry v2 API that stores what
//! is pushed, behind its token service) on 127.0.0.1, reached by the
//! node's own real engine. The engine trusts DTR's CA through the node's
//! private `/etc/docker/certs.d`, as step 5 would set it up.

use dtrplay_lab::Flavor;
use dtrplay_lab::apis::{self, ApiConfig, ApiServers};
use dtrplay_lab::pki::{LabPki, PkiOptions};

use super::docker::dash_image;
use super::{Lab, changed, diffs, failed, results};

const PASSWORD: &str = "dtr-Admin-pw-7341";

/// The lab's DTR on 127.0.0.1 with one public repository, `admin/dash`.
struct Registry {
    runtime: tokio::runtime::Runtime,
    servers: Option<ApiServers>,
    pki: LabPki,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let pki =
            LabPki::generate(&dir.path().join("pki"), &PkiOptions::default()).expect("the lab PKI");
        let cfg = ApiConfig {
            admin_password: PASSWORD.to_owned(),
            dtr_user_password: "user-pw-unused-1".to_owned(),
            ..ApiConfig::loopback(Flavor::Ucp1)
        };
        let servers = runtime
            .block_on(apis::start(&pki, cfg))
            .expect("DTR starts");
        dtrplay::api::tls::install_provider();
        let client = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(pki.dtr_ca().cert_pem().as_bytes()).expect("CA PEM"),
            ])
            .build()
            .expect("client");
        let created = runtime
            .block_on(
                client
                    .post(format!("{}/api/v0/repositories/admin", servers.dtr_url()))
                    .basic_auth("admin", Some(PASSWORD))
                    .json(&serde_json::json!({ "name": "dash" }))
                    .send(),
            )
            .expect("create the repository");
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
        Registry {
            runtime,
            servers: Some(servers),
            pki,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        self.servers().dtr_addr().to_string()
    }

    fn servers(&self) -> &ApiServers {
        self.servers.as_ref().expect("running")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(servers) = self.servers.take() {
            self.runtime.block_on(servers.shutdown());
        }
    }
}

fn msgs(run: &crate::harness::Run) -> Vec<String> {
    results(run)
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn logins_pushes_and_pulls_go_to_the_lab_registry_with_the_password_never_shown() {
    let lab = Lab::with_engines(1);
    let registry = Registry::start();
    let host = registry.host();
    dash_image(&lab, "node1");
    lab.sh(
        "node1",
        &format!(
            "mkdir -p /etc/docker/certs.d/{host} && cat > /etc/docker/certs.d/{host}/ca.crt <<'EOF'\n{}EOF",
            registry.pki.dtr_ca().cert_pem()
        ),
    );
    let login = |password: &str, extra: &str| {
        format!(
            r#"
        - community.docker.docker_login:
            registry_url: https://{host}
            username: admin
            password: {password}
            config_path: /srv/auth/config.json
            {extra}
          register: login
        - assert:
            that: "login.login_result == {{'serveraddress': 'https://{host}', 'username': 'admin'}}"
        "#
        )
    };
    // The nodes share this machine's home directories, so the client's
    // configuration lives in the node's private /srv, and the tasks that
    // use it say so with DOCKER_CONFIG, as the client expects.
    let config = "cat /srv/auth/config.json 2>/dev/null || echo none";

    // Check mode logs in for real but writes nothing.
    lab.play(&login(PASSWORD, ""));
    let check = lab.apply(&["--check", "--diff"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        diffs(&check).contains(&format!("+{host}: logged in as admin")),
        "{}",
        diffs(&check)
    );
    assert_eq!(lab.sh("node1", config), "none\n");

    let first = lab.apply(&["--diff"]);
    first.success();
    assert_eq!(changed(&first, "node1"), 1);
    assert_eq!(msgs(&first)[0], format!("Logged into https://{host}"));
    let stored = lab.sh("node1", config);
    assert!(stored.contains(&host), "{stored}");
    assert_eq!(lab.sh("node1", "stat -c %a /srv/auth/config.json"), "600\n");
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);
    lab.play(&login(PASSWORD, "reauthorize: true"));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 1);

    // A wrong password fails in check mode too, in the client's words, and
    // neither password is shown anywhere.
    lab.play(&login("wrong-pw-5512", ""));
    let wrong = lab.apply(&["--check", "-vv"]);
    wrong.status(2);
    assert_eq!(failed(&wrong, "node1"), 1);
    let msg = &msgs(&wrong)[0];
    assert!(msg.starts_with("docker login failed: "), "{msg}");
    for text in [&wrong.stdout, &wrong.stderr, &first.stdout, &first.stderr] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("wrong-pw-5512"), "{text}");
    }

    // Push the image into admin/dash, once.
    let push = format!(
        r#"
        - docker_image:
            name: lab/dash
            tag: "1"
            source: local
            repository: {host}/admin/dash
            push: true
          environment:
            DOCKER_CONFIG: /srv/auth
          register: pushed
        "#
    );
    lab.play(&push);
    let check = lab.apply(&["--check"]);
    check.success();
    assert_eq!(changed(&check, "node1"), 1);
    assert!(
        registry
            .servers()
            .status()
            .dtr_repositories
            .contains(&"admin/dash".to_string())
    );
    let pushed = lab.apply(&[]);
    pushed.success();
    assert_eq!(changed(&pushed, "node1"), 1);
    assert_eq!(
        msgs(&pushed),
        [format!(
            "Tagged image lab/dash:1 to {host}/admin/dash:1; Pushed image {host}/admin/dash:1"
        )]
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Pull it back into an engine that has forgotten it.
    lab.sh(
        "node1",
        &format!("docker rmi {host}/admin/dash:1 lab/dash:1 >/dev/null"),
    );
    lab.play(&format!(
        r#"
        - community.docker.docker_image:
            name: {host}/admin/dash:1
            source: pull
          register: pulled
        - assert:
            that: pulled.image.Config.Cmd == ['/bin/sleep', '1000']
        "#
    ));
    let pulled = lab.apply(&[]);
    pulled.success();
    assert_eq!(changed(&pulled, "node1"), 1);
    assert_eq!(
        msgs(&pulled)[0],
        format!("Pulled image {host}/admin/dash:1")
    );
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Logging out removes the entry; a second logout is no change.
    lab.play(&format!(
        r#"
        - docker_login:
            registry: {host}
            config_path: /srv/auth/config.json
            state: absent
        "#
    ));
    let check = lab.apply(&["--check"]);
    assert_eq!(changed(&check, "node1"), 1);
    assert!(lab.sh("node1", config).contains(&host));
    let out = lab.apply(&[]);
    out.success();
    assert_eq!(changed(&out, "node1"), 1);
    assert!(!lab.sh("node1", config).contains(&host));
    assert_eq!(changed(&lab.apply(&[]), "node1"), 0);

    // Without a password there is nothing to log in with.
    lab.play(&format!(
        r#"
        - docker_login:
            registry: {host}
            username: admin
        "#
    ));
    let missing = lab.apply(&[]);
    missing.status(2);
    assert!(
        msgs(&missing)[0].contains("`password` is missing"),
        "{:?}",
        msgs(&missing)
    );
}
