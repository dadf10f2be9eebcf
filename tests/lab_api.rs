//! The lab's UCP and DTR simulators, driven over real HTTPS on 127.0.0.1
//! with reqwest and the lab's real certificates, as an outside client
//! would: this is the contract the integration tasks and the lab's docker
//! stand-in rely on.

use std::io::{Cursor, Read};

use dtrplay_lab::Flavor;
use dtrplay_lab::apis::{self, ApiConfig, ApiServers, StartError};
use dtrplay_lab::pki::{self, LabPki, PkiOptions};
use dtrplay_lab::ucp::REGISTRY_CA_FIELD;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Certificate, Client, Identity, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-secret";
const USER: &str = "alice";
const USER_PASSWORD: &str = "alice-secret";

/// A running lab: its PKI directory, certificates and servers.
struct Lab {
    _dir: tempfile::TempDir,
    pki: LabPki,
    servers: ApiServers,
}

impl Lab {
    async fn start(flavor: Flavor) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = LabPki::generate(dir.path(), &PkiOptions::default()).expect("generate PKI");
        let cfg = ApiConfig {
            admin_user: ADMIN.to_owned(),
            admin_password: ADMIN_PASSWORD.to_owned(),
            dtr_user: USER.to_owned(),
            dtr_user_password: USER_PASSWORD.to_owned(),
            organizations: vec!["engineering".to_owned()],
            ..ApiConfig::loopback(flavor)
        };
        let servers = apis::start(&pki, cfg).await.expect("start the lab APIs");
        Lab {
            _dir: dir,
            pki,
            servers,
        }
    }

    fn ucp(&self, path: &str) -> String {
        format!("{}{path}", self.servers.ucp_url())
    }

    fn dtr(&self, path: &str) -> String {
        format!("{}{path}", self.servers.dtr_url())
    }

    /// A client that trusts only UCP's cluster root CA.
    fn ucp_client(&self) -> Client {
        client(self.pki.cluster_root_ca().cert_pem(), None)
    }

    /// A client that trusts only DTR's CA.
    fn dtr_client(&self) -> Client {
        client(self.pki.dtr_ca().cert_pem(), None)
    }

    /// A DTR client presenting `cert_pem`/`key_pem`.
    fn dtr_client_with(&self, cert_pem: &str, key_pem: &str) -> Client {
        client(self.pki.dtr_ca().cert_pem(), Some((cert_pem, key_pem)))
    }

    async fn login(&self, user: &str, password: &str) -> String {
        let response = self
            .ucp_client()
            .post(self.ucp("/auth/login"))
            .body(json!({ "username": user, "password": password }).to_string())
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("login JSON");
        body["auth_token"].as_str().expect("auth_token").to_owned()
    }

    async fn admin_settings(&self) -> Value {
        let response = self
            .dtr_client()
            .get(self.dtr("/api/v0/meta/settings"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("settings request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("settings JSON")
    }

    async fn post_settings(&self, body: &str) -> Response {
        self.dtr_client()
            .post(self.dtr("/api/v0/meta/settings"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .body(body.to_owned())
            .send()
            .await
            .expect("settings request")
    }

    async fn create_repo(
        &self,
        user: &str,
        password: &str,
        namespace: &str,
        body: Value,
    ) -> Response {
        self.dtr_client()
            .post(self.dtr(&format!("/api/v0/repositories/{namespace}")))
            .basic_auth(user, Some(password))
            .json(&body)
            .send()
            .await
            .expect("create repository request")
    }

    /// Asks the token service for `scope` with Basic credentials.
    async fn token(&self, client: &Client, user: Option<(&str, &str)>, scope: &str) -> Response {
        // Scopes and host:port need no escaping in a query string.
        let url = format!(
            "/auth/token?service={}&scope={scope}",
            self.servers.dtr_host()
        );
        let mut request = client.get(self.dtr(&url));
        if let Some((user, password)) = user {
            request = request.basic_auth(user, Some(password));
        }
        request.send().await.expect("token request")
    }
}

fn client(ca_pem: &str, identity: Option<(&str, &str)>) -> Client {
    dtrplay::api::tls::install_provider();
    let ca = Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    let mut builder = Client::builder().tls_certs_only([ca]);
    if let Some((cert, key)) = identity {
        let identity = Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity PEM");
        builder = builder.identity(identity);
    }
    builder.build().expect("reqwest client")
}

/// Asserts the `{"errors":[{"code","message"}]}` envelope and returns it.
async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let body: Value = response.json().await.expect("error JSON");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    body
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

async fn token_from(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token JSON");
    assert_eq!(body["token"], body["access_token"]);
    body["token"].as_str().expect("token").to_owned()
}

/// Uploads `data` as a blob of `repo` in one POST + PUT; returns the status.
async fn upload_blob(
    lab: &Lab,
    client: &Client,
    token: &str,
    repo: &str,
    data: &[u8],
) -> StatusCode {
    let start = client
        .post(lab.dtr(&format!("/v2/{repo}/blobs/uploads/")))
        .bearer_auth(token)
        .send()
        .await
        .expect("start upload");
    if start.status() != StatusCode::ACCEPTED {
        return start.status();
    }
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(start.headers().contains_key("docker-upload-uuid"));
    let put = client
        .put(lab.dtr(&format!("{location}?digest={}", sha256(data))))
        .bearer_auth(token)
        .body(data.to_vec())
        .send()
        .await
        .expect("finish upload");
    put.status()
}

fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let descriptor = |media_type: &str, data: &[u8]| json!({ "mediaType": media_type, "size": data.len(), "digest": sha256(data) });
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": descriptor("application/vnd.docker.container.image.v1+json", config),
        "layers": layers
            .iter()
            .map(|layer| descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer))
            .collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

async fn put_manifest(
    lab: &Lab,
    client: &Client,
    token: &str,
    repo: &str,
    tag: &str,
    body: &[u8],
) -> Response {
    client
        .put(lab.dtr(&format!("/v2/{repo}/manifests/{tag}")))
        .bearer_auth(token)
        .header(
            CONTENT_TYPE,
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("put manifest")
}

#[tokio::test]
async fn ucp_login_ping_and_ca() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let ucp = lab.ucp_client();

    let ping = ucp.get(lab.ucp("/_ping")).send().await.expect("ping");
    assert_eq!(ping.status(), StatusCode::OK);
    assert_eq!(ping.text().await.expect("body"), "OK");
    let ca = ucp.get(lab.ucp("/ca")).send().await.expect("ca");
    assert_eq!(
        ca.text().await.expect("body"),
        lab.pki.cluster_root_ca().cert_pem()
    );

    // curl sends the login JSON without a Content-Type; Go clients send one.
    let token = lab.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(token.len(), 64);
    let typed = ucp
        .post(lab.ucp("/auth/login"))
        .json(&json!({ "username": USER, "password": USER_PASSWORD }))
        .send()
        .await
        .expect("login");
    let typed: Value = typed.json().await.expect("JSON");
    assert!(typed["token_id"].is_string());
    assert_ne!(typed["auth_token"], token.as_str());

    let bad = ucp
        .post(lab.ucp("/auth/login"))
        .body(json!({ "username": ADMIN, "password": "wrong" }).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let bad: Value = bad.json().await.expect("JSON");
    assert_eq!(
        bad,
        json!({"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]})
    );
    let malformed = ucp
        .post(lab.ucp("/auth/login"))
        .body("{\"username\":")
        .send()
        .await
        .expect("login");
    expect_error(malformed, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    // The API wants a token or a client certificate; a stale token fails.
    let anonymous = ucp
        .get(lab.ucp("/api/clientbundle"))
        .send()
        .await
        .expect("bundle");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let forged = ucp
        .get(lab.ucp("/api/clientbundle"))
        .bearer_auth("0".repeat(64))
        .send()
        .await
        .expect("bundle");
    expect_error(forged, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn client_bundle_is_a_zip_whose_certificate_authenticates() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let token = lab.login(USER, USER_PASSWORD).await;
    let response = lab
        .ucp_client()
        .get(lab.ucp("/api/clientbundle"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("bundle");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/zip");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"ucp-bundle-alice.zip\""
    );
    let bytes = response.bytes().await.expect("zip bytes");
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("a zip archive");
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("{name} in the bundle"))
            .read_to_string(&mut text)
            .expect("UTF-8 entry");
        text
    };
    let (ca, cert, key, public, env) = (
        read("ca.pem"),
        read("cert.pem"),
        read("key.pem"),
        read("cert.pub"),
        read("env.sh"),
    );
    assert_eq!(ca, lab.pki.cluster_root_ca().cert_pem());
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(env.contains("export DOCKER_TLS_VERIFY=1\n"));
    assert!(env.contains("export DOCKER_CERT_PATH=$PWD\n"));
    assert!(env.contains(&format!(
        "export DOCKER_HOST=tcp://{}\n",
        lab.servers.ucp_addr()
    )));

    // The bundle's cert is alice's: it reaches the API over mTLS with no
    // token, and as a non-admin she may not change the registry config.
    let mtls = client(&ca, Some((&cert, &key)));
    let again = mtls
        .post(lab.ucp("/api/clientbundle"))
        .send()
        .await
        .expect("bundle");
    assert_eq!(again.status(), StatusCode::OK);
    let again = again.bytes().await.expect("zip bytes");
    let mut second = zip::ZipArchive::new(Cursor::new(again.to_vec())).expect("zip");
    let mut second_cert = String::new();
    second
        .by_name("cert.pem")
        .expect("cert.pem")
        .read_to_string(&mut second_cert)
        .expect("UTF-8");
    assert_ne!(second_cert, cert, "every bundle has a fresh certificate");
    let denied = mtls
        .post(lab.ucp("/api/config/registry"))
        .json(&json!({ "url": "https://dtr.example.com" }))
        .send()
        .await
        .expect("config");
    expect_error(denied, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // The admin's certificate from the PKI directory is accepted as admin.
    let admin = client(
        lab.pki.cluster_root_ca().cert_pem(),
        Some((
            lab.pki.admin_client().cert_pem(),
            lab.pki.admin_client().key_pem(),
        )),
    );
    let allowed = admin
        .post(lab.ucp("/api/config/registry"))
        .json(&json!({ "url": "https://dtr.example.com" }))
        .send()
        .await
        .expect("config");
    assert_eq!(allowed.status(), StatusCode::OK);

    // A certificate from another CA does not get through UCP's handshake.
    let foreign = pki::foreign_client_cert(ADMIN, None).expect("foreign cert");
    let stranger = client(&ca, Some((&foreign.cert_pem, &foreign.key_pem)));
    let refused = stranger.get(lab.ucp("/api/config/registry")).send().await;
    assert!(refused.is_err(), "{refused:?}");
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn ucp1_registry_config_round_trip() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let token = lab.login(ADMIN, ADMIN_PASSWORD).await;
    let ucp = lab.ucp_client();
    let get = || async {
        ucp.get(lab.ucp("/api/config/registry"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get config")
    };
    let post = |body: Value| {
        let request = ucp
            .post(lab.ucp("/api/config/registry"))
            .bearer_auth(&token)
            .body(body.to_string());
        async move { request.send().await.expect("post config") }
    };

    expect_error(
        get().await,
        StatusCode::NOT_FOUND,
        "REGISTRY_NOT_CONFIGURED",
    )
    .await;
    let dtr_url = lab.servers.dtr_url();
    let dtr_ca = lab.pki.dtr_ca().cert_pem();
    let mut config = json!({ "url": dtr_url, "insecure": false });
    config[REGISTRY_CA_FIELD] = Value::String(dtr_ca.to_owned());
    let saved = post(config.clone()).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let stored: Value = get().await.json().await.expect("JSON");
    assert_eq!(stored, config);
    assert_eq!(lab.servers.status().ucp_registry_url, Some(dtr_url.clone()));

    // Invalid requests are rejected and leave the stored config alone.
    let mut bad_ca = config.clone();
    bad_ca[REGISTRY_CA_FIELD] = Value::String("not a certificate".to_owned());
    for bad in [
        json!({ "url": "http://dtr.example.com" }),
        json!({ "url": "dtr.example.com" }),
        json!({ "insecure": true }),
        bad_ca,
    ] {
        expect_error(post(bad).await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    }
    let stored: Value = get().await.json().await.expect("JSON");
    assert_eq!(stored, config);

    // A non-admin cannot read it; UCP 3 endpoints do not exist in UCP 1.
    let user = lab.login(USER, USER_PASSWORD).await;
    let denied = ucp
        .get(lab.ucp("/api/config/registry"))
        .bearer_auth(&user)
        .send()
        .await
        .expect("get");
    expect_error(denied, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    for path in ["/api/config/trustedregistry_", "/api/ucp/config-toml"] {
        let missing = ucp
            .get(lab.ucp(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        expect_error(missing, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }

    // The lab-only DELETE breaks the link by hand.
    let deleted = ucp
        .delete(lab.ucp("/api/config/registry"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_error(
        get().await,
        StatusCode::NOT_FOUND,
        "REGISTRY_NOT_CONFIGURED",
    )
    .await;
    assert_eq!(lab.servers.status().ucp_registry_url, None);
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn ucp3_trusted_registry_and_config_toml_round_trip() {
    let lab = Lab::start(Flavor::Ucp3).await;
    let token = lab.login(ADMIN, ADMIN_PASSWORD).await;
    let ucp = lab.ucp_client();
    let dtr_host = lab.servers.dtr_host().to_owned();
    let dtr_ca = lab.pki.dtr_ca().cert_pem().to_owned();

    let missing = ucp
        .get(lab.ucp("/api/config/registry"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    expect_error(missing, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let registered = ucp
        .post(lab.ucp("/api/config/trustedregistry_"))
        .bearer_auth(&token)
        .json(&json!({ "hostAddress": dtr_host, "caBundle": dtr_ca }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::OK);
    assert_eq!(registered.text().await.expect("body"), "");
    let bad = ucp
        .post(lab.ucp("/api/config/trustedregistry_"))
        .bearer_auth(&token)
        .json(&json!({ "hostAddress": dtr_host, "caBundle": "junk" }))
        .send()
        .await
        .expect("register");
    expect_error(bad, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let get_toml = || async {
        let response = ucp
            .get(lab.ucp("/api/ucp/config-toml"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("config-toml");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/toml");
        let text = response.text().await.expect("TOML text");
        text.parse::<toml::Table>().expect("valid TOML")
    };
    let config = get_toml().await;
    let registries = config["registries"].as_array().expect("[[registries]]");
    assert_eq!(registries.len(), 1);
    assert_eq!(
        registries[0]["host_address"].as_str(),
        Some(dtr_host.as_str())
    );
    assert_eq!(registries[0]["ca_bundle"].as_str(), Some(dtr_ca.as_str()));
    assert!(
        !registries[0]["service_id"]
            .as_str()
            .expect("service_id")
            .is_empty()
    );
    assert!(
        config.contains_key("auth"),
        "other sections are reported too"
    );
    assert_eq!(
        lab.servers.status().ucp_trusted_registries,
        vec![dtr_host.clone()]
    );
    let wrong_method = ucp
        .get(lab.ucp("/api/config/trustedregistry_"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    expect_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // Removing the registry: PUT the document back without it.
    let mut without = config.clone();
    without.remove("registries");
    let put = ucp
        .put(lab.ucp("/api/ucp/config-toml"))
        .bearer_auth(&token)
        .body(toml::to_string(&without).expect("TOML"))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::OK);
    let after = get_toml().await;
    assert!(!after.contains_key("registries"), "{after}");
    assert!(lab.servers.status().ucp_trusted_registries.is_empty());
    assert_eq!(after["auth"], config["auth"]);

    let invalid = ucp
        .put(lab.ucp("/api/ucp/config-toml"))
        .bearer_auth(&token)
        .body("[[registries]]\nhost_address = 1\n")
        .send()
        .await
        .expect("put");
    expect_error(invalid, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let user = lab.login(USER, USER_PASSWORD).await;
    let denied = ucp
        .get(lab.ucp("/api/ucp/config-toml"))
        .bearer_auth(&user)
        .send()
        .await
        .expect("get");
    expect_error(denied, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn dtr_public_endpoints_and_settings() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let dtr = lab.dtr_client();
    let ca = dtr.get(lab.dtr("/ca")).send().await.expect("ca");
    assert_eq!(ca.text().await.expect("body"), lab.pki.dtr_ca().cert_pem());
    let health: Value = dtr
        .get(lab.dtr("/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health, json!({"error": "", "healthy": true}));
    let ping = dtr.get(lab.dtr("/_ping")).send().await.expect("ping");
    assert_eq!(ping.status(), StatusCode::OK);
    let version: Value = dtr
        .get(lab.dtr("/api/v0/admin/version"))
        .basic_auth(USER, Some(USER_PASSWORD))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("JSON");
    assert!(
        version["version"]
            .as_str()
            .expect("version")
            .starts_with("2.0.")
    );

    let anonymous = dtr
        .get(lab.dtr("/api/v0/meta/settings"))
        .send()
        .await
        .expect("get");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED").await;
    let wrong = dtr
        .get(lab.dtr("/api/v0/meta/settings"))
        .basic_auth(ADMIN, Some("wrong"))
        .send()
        .await
        .expect("get");
    expect_error(wrong, StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED").await;
    for request in [
        dtr.get(lab.dtr("/api/v0/meta/settings")),
        dtr.post(lab.dtr("/api/v0/meta/settings")).body("{}"),
    ] {
        let denied = request
            .basic_auth(USER, Some(USER_PASSWORD))
            .send()
            .await
            .expect("settings");
        expect_error(denied, StatusCode::FORBIDDEN, "NOT_AUTHORIZED").await;
    }

    let initial = lab.admin_settings().await;
    assert_eq!(initial["authBypassCA"], "");
    assert_eq!(initial["authBypassOU"], "ucp");
    assert_eq!(initial["webTLSCA"], lab.pki.dtr_ca().cert_pem());
    assert_eq!(initial["webTLSCert"], lab.pki.dtr_server().cert_pem());
    assert_eq!(initial["dtrHost"], lab.servers.dtr_host());
    assert!(initial.get("webTLSKey").is_none());

    // A partial update changes only what it names.
    let cluster_ca = lab.pki.cluster_root_ca().cert_pem();
    let accepted = lab
        .post_settings(&json!({ "authBypassCA": cluster_ca }).to_string())
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let updated = lab.admin_settings().await;
    let mut expected = initial.clone();
    expected["authBypassCA"] = Value::String(cluster_ca.to_owned());
    assert_eq!(updated, expected);

    // Malformed and invalid requests change nothing.
    let not_pem = json!({ "authBypassCA": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "disableUpgrades": true });
    for body in [
        "{\"authBypassCA\": ".to_owned(),
        not_pem.to_string(),
        json!({ "authBypassCA": "just text" }).to_string(),
        json!({ "disableUpgrades": "yes" }).to_string(),
    ] {
        let rejected = expect_error(
            lab.post_settings(&body).await,
            StatusCode::BAD_REQUEST,
            "INVALID_SETTINGS",
        )
        .await;
        assert_eq!(
            rejected["errors"][0]["message"],
            "The submitted settings change request contains invalid values."
        );
    }
    assert_eq!(lab.admin_settings().await, expected);

    // Re-sending the served key is accepted and still never echoed.
    let key = lab.pki.dtr_server().key_pem();
    let accepted = lab
        .post_settings(&json!({ "webTLSKey": key }).to_string())
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let text = lab
        .dtr_client()
        .get(lab.dtr("/api/v0/meta/settings"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        !text.contains("webTLSKey") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    // A key that does not match the certificate is refused.
    let other_key = pki::foreign_client_cert("x", None).expect("cert").key_pem;
    expect_error(
        lab.post_settings(&json!({ "webTLSKey": other_key }).to_string())
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_SETTINGS",
    )
    .await;
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn dtr_repositories() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let created = lab
        .create_repo(
            ADMIN,
            ADMIN_PASSWORD,
            ADMIN,
            json!({ "name": "hello-world" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("JSON");
    assert_eq!(created["namespace"], ADMIN);
    assert_eq!(created["name"], "hello-world");
    assert_eq!(created["namespaceType"], "user");
    assert_eq!(created["visibility"], "public");

    let again = lab
        .create_repo(
            ADMIN,
            ADMIN_PASSWORD,
            ADMIN,
            json!({ "name": "hello-world" }),
        )
        .await;
    let again = expect_error(again, StatusCode::BAD_REQUEST, "REPOSITORY_EXISTS").await;
    assert_eq!(
        again["errors"][0]["message"],
        "A repository with the same name already exists."
    );
    expect_error(
        lab.create_repo(ADMIN, ADMIN_PASSWORD, "nobody", json!({ "name": "x" }))
            .await,
        StatusCode::NOT_FOUND,
        "NO_SUCH_ACCOUNT",
    )
    .await;
    expect_error(
        lab.create_repo(
            ADMIN,
            ADMIN_PASSWORD,
            ADMIN,
            json!({ "name": "x", "visibility": "secret" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_REPOSITORY_VISIBILITY",
    )
    .await;
    // A user owns only their namespace; the admin may use any, orgs too.
    expect_error(
        lab.create_repo(USER, USER_PASSWORD, ADMIN, json!({ "name": "mine" }))
            .await,
        StatusCode::FORBIDDEN,
        "NOT_AUTHORIZED",
    )
    .await;
    let own = lab
        .create_repo(
            USER,
            USER_PASSWORD,
            USER,
            json!({ "name": "private-app", "visibility": "private" }),
        )
        .await;
    assert_eq!(own.status(), StatusCode::CREATED);
    let org = lab
        .create_repo(
            ADMIN,
            ADMIN_PASSWORD,
            "engineering",
            json!({ "name": "tools" }),
        )
        .await;
    let org: Value = org.json().await.expect("JSON");
    assert_eq!(org["namespaceType"], "organization");

    let dtr = lab.dtr_client();
    let get = |user: &'static str, password: &'static str, path: &str| {
        dtr.get(lab.dtr(&format!("/api/v0/repositories/{path}")))
            .basic_auth(user, Some(password))
            .send()
    };
    let missing = get(ADMIN, ADMIN_PASSWORD, "admin/missing")
        .await
        .expect("get");
    let missing = expect_error(missing, StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY").await;
    assert_eq!(
        missing["errors"][0]["message"],
        "A repository with the given name does not exist."
    );
    let fetched: Value = get(USER, USER_PASSWORD, "admin/hello-world")
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(fetched, created);
    // alice's private repository is visible to her and the admin only.
    let listed: Value = get(ADMIN, ADMIN_PASSWORD, USER)
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed["repositories"][0]["name"], "private-app");

    let patched = dtr
        .patch(lab.dtr("/api/v0/repositories/admin/hello-world"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .json(&json!({ "visibility": "private", "shortDescription": "hi" }))
        .send()
        .await
        .expect("patch");
    let patched: Value = patched.json().await.expect("JSON");
    assert_eq!(patched["visibility"], "private");
    assert_eq!(patched["shortDescription"], "hi");
    let hidden = get(USER, USER_PASSWORD, "admin/hello-world")
        .await
        .expect("get");
    expect_error(hidden, StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY").await;

    for _ in 0..2 {
        let deleted = dtr
            .delete(lab.dtr("/api/v0/repositories/admin/hello-world"))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    let gone = get(ADMIN, ADMIN_PASSWORD, "admin/hello-world")
        .await
        .expect("get");
    expect_error(gone, StatusCode::NOT_FOUND, "NO_SUCH_REPOSITORY").await;
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn registry_push_and_pull_round_trip() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let created = lab
        .create_repo(USER, USER_PASSWORD, USER, json!({ "name": "app" }))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let dtr = lab.dtr_client();
    let host = lab.servers.dtr_host();

    // Without a token: 401 and the challenge that leads to the token service.
    let ping = dtr.get(lab.dtr("/v2/")).send().await.expect("ping");
    assert_eq!(ping.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        ping.headers()[WWW_AUTHENTICATE],
        format!("Bearer realm=\"https://{host}/auth/token\",service=\"{host}\"").as_str()
    );
    let anonymous_push = dtr
        .post(lab.dtr("/v2/alice/app/blobs/uploads/"))
        .send()
        .await
        .expect("push");
    assert_eq!(anonymous_push.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous_push.headers()[WWW_AUTHENTICATE]
            .to_str()
            .expect("header")
            .ends_with("scope=\"repository:alice/app:pull,push\"")
    );
    let body: Value = anonymous_push.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(body["errors"][0]["message"], "authentication required");

    let bad_password = lab
        .token(
            &dtr,
            Some((USER, "wrong")),
            "repository:alice/app:pull,push",
        )
        .await;
    expect_error(bad_password, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let token = token_from(
        lab.token(
            &dtr,
            Some((USER, USER_PASSWORD)),
            "repository:alice/app:pull,push",
        )
        .await,
    )
    .await;
    let ping = dtr
        .get(lab.dtr("/v2/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), StatusCode::OK);

    // The config goes up in one POST with the digest...
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let single = dtr
        .post(lab.dtr(&format!(
            "/v2/alice/app/blobs/uploads/?digest={}",
            sha256(config)
        )))
        .bearer_auth(&token)
        .body(config.to_vec())
        .send()
        .await
        .expect("monolithic upload");
    assert_eq!(single.status(), StatusCode::CREATED);
    assert_eq!(
        single.headers()["docker-content-digest"],
        sha256(config).as_str()
    );
    // ...and the layer in two PATCH chunks and a final PUT.
    let layer: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let start = dtr
        .post(lab.dtr("/v2/alice/app/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::ACCEPTED);
    let mut location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    for (from, chunk) in [(0, &layer[..6000]), (6000, &layer[6000..])] {
        let patched = dtr
            .patch(lab.dtr(&location))
            .bearer_auth(&token)
            .header(
                "content-range",
                format!("{from}-{}", from + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch");
        assert_eq!(patched.status(), StatusCode::ACCEPTED);
        assert_eq!(
            patched.headers()["range"],
            format!("0-{}", from + chunk.len() - 1).as_str()
        );
        location = patched.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
    }
    let wrong_digest = dtr
        .put(lab.dtr(&format!("{location}?digest={}", sha256(b"something else"))))
        .bearer_auth(&token)
        .send()
        .await
        .expect("put");
    expect_error(wrong_digest, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    assert_eq!(
        upload_blob(&lab, &dtr, &token, "alice/app", &layer).await,
        StatusCode::CREATED
    );

    // A manifest naming a blob that was never pushed is refused.
    let dangling = manifest(config, &[b"never pushed"]);
    let refused = put_manifest(&lab, &dtr, &token, "alice/app", "broken", &dangling).await;
    let refused = expect_error(refused, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    assert_eq!(
        refused["errors"][0]["detail"]["digest"],
        sha256(b"never pushed")
    );

    let image = manifest(config, &[&layer]);
    let pushed = put_manifest(&lab, &dtr, &token, "alice/app", "1.0", &image).await;
    assert_eq!(pushed.status(), StatusCode::CREATED);
    assert_eq!(
        pushed.headers()["docker-content-digest"],
        sha256(&image).as_str()
    );

    // Pull it back with a pull-only anonymous token: the repo is public.
    let pull = token_from(
        lab.token(&dtr, None, "repository:alice/app:pull,push")
            .await,
    )
    .await;
    let fetched = dtr
        .get(lab.dtr("/v2/alice/app/manifests/1.0"))
        .bearer_auth(&pull)
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("get manifest");
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.headers()[CONTENT_TYPE],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let digest = fetched.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();
    let body = fetched.bytes().await.expect("manifest bytes");
    assert_eq!(sha256(&body), digest);
    let parsed: Value = serde_json::from_slice(&body).expect("manifest JSON");
    let layer_digest = parsed["layers"][0]["digest"]
        .as_str()
        .expect("layer digest");
    let blob = dtr
        .get(lab.dtr(&format!("/v2/alice/app/blobs/{layer_digest}")))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("get blob")
        .bytes()
        .await
        .expect("blob bytes");
    assert_eq!(sha256(&blob), layer_digest);
    assert_eq!(blob.as_ref(), layer.as_slice());
    let head = dtr
        .head(lab.dtr(&format!("/v2/alice/app/blobs/{layer_digest}")))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("head blob");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"],
        layer.len().to_string().as_str()
    );
    let by_digest = dtr
        .head(lab.dtr(&format!("/v2/alice/app/manifests/{digest}")))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("head manifest");
    assert_eq!(by_digest.status(), StatusCode::OK);
    // The anonymous token only pulls.
    assert_eq!(
        upload_blob(&lab, &dtr, &pull, "alice/app", b"x").await,
        StatusCode::UNAUTHORIZED
    );

    let tags: Value = dtr
        .get(lab.dtr("/v2/alice/app/tags/list"))
        .bearer_auth(&pull)
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("JSON");
    assert_eq!(tags, json!({ "name": "alice/app", "tags": ["1.0"] }));
    let dtr_tags: Value = dtr
        .get(lab.dtr("/api/v0/repositories/alice/app/tags"))
        .basic_auth(USER, Some(USER_PASSWORD))
        .send()
        .await
        .expect("DTR tags")
        .json()
        .await
        .expect("JSON");
    assert_eq!(dtr_tags[0]["name"], "1.0");
    assert_eq!(dtr_tags[0]["digest"], digest.as_str());
    assert_eq!(dtr_tags[0]["author"], USER);
    assert!(dtr_tags[0]["updatedAt"].is_string());
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn push_to_a_repository_dtr_does_not_have_is_name_unknown() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let dtr = lab.dtr_client();
    let token = token_from(
        lab.token(
            &dtr,
            Some((USER, USER_PASSWORD)),
            "repository:alice/nothing:pull,push",
        )
        .await,
    )
    .await;
    let response = dtr
        .post(lab.dtr("/v2/alice/nothing/blobs/uploads/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("push");
    expect_error(response, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    // alice has no rights in the admin's namespace at all.
    let foreign = token_from(
        lab.token(
            &dtr,
            Some((USER, USER_PASSWORD)),
            "repository:admin/nothing:pull,push",
        )
        .await,
    )
    .await;
    assert_eq!(
        upload_blob(&lab, &dtr, &foreign, "admin/nothing", b"x").await,
        StatusCode::UNAUTHORIZED
    );
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn auth_bypass_follows_the_current_bypass_ca_and_ou() {
    let lab = Lab::start(Flavor::Ucp1).await;
    let created = lab
        .create_repo(
            USER,
            USER_PASSWORD,
            USER,
            json!({ "name": "app", "visibility": "private" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (node_cert, node_key) = lab
        .pki
        .issue_node_identity("node-1")
        .expect("node identity");
    let node = lab.dtr_client_with(&node_cert, &node_key);
    let scope = "repository:alice/app:pull,push";
    // UCP vouches for the user; the password it sends is not checked.
    let as_alice = Some((USER, "not-her-password"));
    let bypass_error =
        |detail: &str| format!("encountered an error during ucp auth bypass: {detail}");

    // Before step 4 of the procedure, DTR does not trust UCP's certificate.
    assert!(!lab.servers.status().dtr_trusts_ucp);
    let refused = expect_error(
        lab.token(&node, as_alice, scope).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(
        refused["errors"][0]["message"],
        bypass_error("failed to validate client certificate")
    );

    let accepted = lab
        .post_settings(&json!({ "authBypassCA": lab.pki.cluster_root_ca().cert_pem() }).to_string())
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(lab.servers.status().dtr_trusts_ucp);
    let token = token_from(lab.token(&node, as_alice, scope).await).await;
    assert_eq!(
        upload_blob(&lab, &node, &token, "alice/app", b"layer").await,
        StatusCode::CREATED
    );

    // A certificate from any other CA is refused.
    let foreign = pki::foreign_client_cert("node-1", Some("ucp")).expect("foreign");
    let stranger = lab.dtr_client_with(&foreign.cert_pem, &foreign.key_pem);
    let refused = expect_error(
        lab.token(&stranger, as_alice, scope).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(
        refused["errors"][0]["message"],
        bypass_error("failed to validate client certificate")
    );
    // A trusted certificate with the wrong OU is refused for its OU.
    let wrong_ou = lab
        .pki
        .issue_cluster_identity("node-2", "engineering")
        .expect("issue");
    let wrong = lab.dtr_client_with(&wrong_ou.cert_pem, &wrong_ou.key_pem);
    let refused = expect_error(
        lab.token(&wrong, as_alice, scope).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(
        refused["errors"][0]["message"],
        bypass_error("failed to validate OU field")
    );
    // Changing the OU setting makes that certificate acceptable.
    let accepted = lab
        .post_settings(&json!({ "authBypassOU": "engineering" }).to_string())
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    token_from(lab.token(&wrong, as_alice, scope).await).await;

    // Unsetting the CA at run time takes effect on the next request, even
    // on a connection that was accepted before.
    let unset = lab
        .post_settings(&json!({ "authBypassCA": "" }).to_string())
        .await;
    assert_eq!(unset.status(), StatusCode::ACCEPTED);
    assert!(!lab.servers.status().dtr_trusts_ucp);
    let refused = expect_error(
        lab.token(&node, as_alice, scope).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert_eq!(
        refused["errors"][0]["message"],
        bypass_error("failed to validate client certificate")
    );
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn ucp3_dtr_trusts_ucp_from_installation() {
    let lab = Lab::start(Flavor::Ucp3).await;
    let created = lab
        .create_repo(USER, USER_PASSWORD, USER, json!({ "name": "app" }))
        .await;
    let created: Value = created.json().await.expect("JSON");
    assert_eq!(created["scanOnPush"], false);
    let (cert, key) = lab
        .pki
        .issue_node_identity("node-1")
        .expect("node identity");
    let node = lab.dtr_client_with(&cert, &key);
    let status = lab.servers.status();
    assert!(status.dtr_trusts_ucp);
    assert_eq!(status.dtr_repositories, vec!["alice/app".to_owned()]);
    let token = token_from(
        lab.token(&node, Some((USER, "")), "repository:alice/app:pull,push")
            .await,
    )
    .await;
    assert_eq!(
        upload_blob(&lab, &node, &token, "alice/app", b"layer").await,
        StatusCode::CREATED
    );

    let settings = lab.admin_settings().await;
    assert!(settings.get("authBypassCA").is_none(), "{settings}");
    assert!(settings.get("authBypassOU").is_none(), "{settings}");
    assert!(settings.get("webTLSKey").is_none(), "{settings}");
    for body in [
        json!({ "authBypassCA": lab.pki.cluster_root_ca().cert_pem() }),
        json!({ "authBypassOU": "ucp" }),
    ] {
        expect_error(
            lab.post_settings(&body.to_string()).await,
            StatusCode::BAD_REQUEST,
            "INVALID_SETTINGS",
        )
        .await;
    }
    assert_eq!(lab.admin_settings().await, settings);
    let version: Value = lab
        .dtr_client()
        .get(lab.dtr("/api/v0/admin/version"))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("JSON");
    assert!(
        version["version"]
            .as_str()
            .expect("version")
            .starts_with("2.9.")
    );
    lab.servers.shutdown().await;
}

#[tokio::test]
async fn start_refuses_unsafe_configs_and_shutdown_frees_the_ports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = LabPki::generate(dir.path(), &PkiOptions::default()).expect("generate");
    let good = ApiConfig {
        admin_password: ADMIN_PASSWORD.to_owned(),
        dtr_user_password: USER_PASSWORD.to_owned(),
        ..ApiConfig::loopback(Flavor::Ucp1)
    };
    let public = ApiConfig {
        ucp_bind: "0.0.0.0:0".parse().expect("address"),
        ..good.clone()
    };
    assert!(matches!(
        apis::start(&pki, public).await,
        Err(StartError::NotLoopback { .. })
    ));
    let no_password = ApiConfig {
        admin_password: String::new(),
        ..good.clone()
    };
    assert!(matches!(
        apis::start(&pki, no_password).await,
        Err(StartError::Config { .. })
    ));
    assert!(!format!("{good:?}").contains(ADMIN_PASSWORD));

    let servers = apis::start(&pki, good).await.expect("start");
    let (ucp, dtr) = (servers.ucp_addr(), servers.dtr_addr());
    assert!(ucp.ip().is_loopback() && ucp.port() != 0);
    servers.shutdown().await;
    for addr in [ucp, dtr] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still open"
        );
    }
}
